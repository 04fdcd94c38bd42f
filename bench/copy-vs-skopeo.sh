#!/usr/bin/env bash
# Copy speed of `portcullis copy` against `skopeo copy`, and the server's memory while it
# promotes an image with a 1 GiB layer.
#
# Timings: a 100 MiB, 5-layer image in a local docker-registry is copied by each tool to a
# fresh repository in its own fresh registry (so neither can mount or reuse a blob it saw
# before), then re-copied to the same place (a no-op: everything is already there). Each
# figure is the median of BENCH_RUNS (default 3) runs. Targets: full <= 0.7x skopeo,
# no-op <= 0.3x skopeo.
# Memory: a release `portcullis serve` promotes a signed image with one 1 GiB layer through
# the API (request + two approvals); VmRSS/VmHWM are sampled until it is promoted and the peak
# above the idle RSS is printed (target <= 64 MiB).
#
# Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust), /usr/bin/docker-registry,
# curl and jq; installs skopeo with apt-get if missing. Never uses ports 5000-5003.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${BENCH_RUNS:-3}
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
DB=portcullis_bench_$$
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ! command -v skopeo >/dev/null; then
    apt-get update -qq && apt-get install -y -qq skopeo >/dev/null
fi
cargo build --release -q -p portcullis-server -p portcullis-testkit
PORTCULLIS=${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis
TESTKIT=${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis-testkit

free_port() {
    python3 - <<'EOF'
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if not 5000 <= p <= 5003:
        print(p); break
EOF
}

# start_registry NAME: starts a throw-away registry, sets REG to its host:port.
start_registry() {
    local dir=$WORK/$1 port
    port=$(free_port)
    mkdir -p "$dir/storage"
    printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$dir/storage" "$port" >"$dir/config.yml"
    /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    PIDS+=($!)
    until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.05; done
    REG=127.0.0.1:$port
}

# write_config FILE LISTEN_PORT SRC DEST: a config with both registries and a route.
write_config() {
    cat >"$1" <<EOF
listen: 127.0.0.1:$2
database_url: $PG/$DB
policy_dir: $ROOT/policies
registries:
  "$3": { insecure: true }
  "$4": { insecure: true }
routes:
  - { name: staging-to-prod, from: "$3/", to: "$4/" }
trust:
  keys: [{ id: release-key, public_key_file: $WORK/keys/cosign.pub }]
gate:
  signing_key_file: $WORK/keys/gate.key
audit:
  checkpoint_dir: $WORK/witness
EOF
    [ -f "$WORK/keys/gate.key" ] || "$PORTCULLIS" keys generate --out "$WORK/keys/gate.key" >/dev/null
}

seconds() { date +%s.%N; }
elapsed() { echo "$(seconds) - $1" | bc; }
median() { sort -g | sed -n "$(((RUNS + 1) / 2))p"; }
ratio() { echo "scale=3; $1 / $2" | bc; }

export COSIGN_PASSWORD=""
"$TESTKIT" keygen --out "$WORK/keys" >/dev/null
start_registry source
SRC=$REG
DIGEST=$("$TESTKIT" push-image --registry "$SRC" --repo bench/app --tag v1 --layers 5 --layer-size $((20 * 1024 * 1024)))
echo "source image: $SRC/bench/app@$DIGEST (5 layers x 20 MiB)"

: >"$WORK/skopeo-full" >"$WORK/skopeo-noop" >"$WORK/portcullis-full" >"$WORK/portcullis-noop"
for run in $(seq "$RUNS"); do
    start_registry "skopeo-dest-$run"
    SK=$REG
    start_registry "portcullis-dest-$run"
    PC=$REG
    write_config "$WORK/copy-$run.yaml" 0 "$SRC" "$PC"
    for pass in full noop; do
        t=$(seconds)
        skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
            "docker://$SRC/bench/app@$DIGEST" "docker://$SK/bench/app:v1" >/dev/null
        elapsed "$t" >>"$WORK/skopeo-$pass"
        t=$(seconds)
        RUST_LOG=warn "$PORTCULLIS" --config "$WORK/copy-$run.yaml" copy \
            "$SRC/bench/app@$DIGEST" "$PC/bench/app:v1" >"$WORK/report-$run-$pass.json"
        elapsed "$t" >>"$WORK/portcullis-$pass"
    done
    echo "run $run: skopeo full $(sed -n "${run}p" "$WORK/skopeo-full")s noop $(sed -n "${run}p" "$WORK/skopeo-noop")s;" \
        "portcullis full $(sed -n "${run}p" "$WORK/portcullis-full")s noop $(sed -n "${run}p" "$WORK/portcullis-noop")s"
    [ "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$PC/bench/app:v1")" = "$DIGEST" ]
done
echo "portcullis no-op report: $(jq -c . "$WORK/report-$RUNS-noop.json")"
SF=$(median <"$WORK/skopeo-full"); PF=$(median <"$WORK/portcullis-full")
SN=$(median <"$WORK/skopeo-noop"); PN=$(median <"$WORK/portcullis-noop")
echo "median of $RUNS: full copy  skopeo ${SF}s  portcullis ${PF}s  ratio $(ratio "$PF" "$SF") (target <= 0.7)"
echo "median of $RUNS: no-op copy skopeo ${SN}s  portcullis ${PN}s  ratio $(ratio "$PN" "$SN") (target <= 0.3)"

# Memory while promoting a 1 GiB layer through the API.
start_registry prod
PROD=$REG
BIG=$("$TESTKIT" push-image --registry "$SRC" --repo bench/big --tag v1 --layers 1 --layer-size $((1024 * 1024 * 1024)))
"$TESTKIT" sign --registry "$SRC" --repo bench/big --digest "$BIG" --key "$WORK/keys/cosign.key" >/dev/null
PORT=$(free_port)
write_config "$WORK/serve.yaml" "$PORT" "$SRC" "$PROD"
RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" serve 2>"$WORK/serve.log" &
SERVER=$!
PIDS+=("$SERVER")
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.1; done
token() { RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" token create "$@"; }
CI=$(token --subject ci-pipeline --role ci)
ALICE=$(token --subject alice --role approver --group release-approvers)
BOB=$(token --subject bob --role approver --group release-approvers)
sleep 2
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER/status"; }
IDLE=$(status_kib VmRSS)
api() { curl -sf -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "${@:2}"; }
BODY=$(jq -nc --arg src "$SRC/bench/big@$BIG" '{source: $src, route: "staging-to-prod", tag: "v1",
    evidence: [{format: "trivy-json", document: {SchemaVersion: 2, ArtifactName: "big", Results: []}}]}')
ID=$(api "$CI" -X POST --data "$BODY" "http://127.0.0.1:$PORT/v1/promotions" | jq -r .id)
for who in "$ALICE" "$BOB"; do
    api "$who" -X POST --data '{"verdict": "approve", "comment": "bench"}' \
        "http://127.0.0.1:$PORT/v1/promotions/$ID/approvals" >/dev/null
done
PEAK=$IDLE
t=$(seconds)
while :; do
    rss=$(status_kib VmRSS)
    [ "$rss" -gt "$PEAK" ] && PEAK=$rss
    state=$(api "$CI" "http://127.0.0.1:$PORT/v1/promotions/$ID" | jq -r .state)
    [ "$state" != "promoting" ] && break
    sleep 0.1
done
TOOK=$(elapsed "$t")
HWM=$(status_kib VmHWM)
echo "promotion of 1 GiB layer: state $state after ${TOOK}s (after approvals)"
echo "idle RSS $((IDLE / 1024)) MiB; sampled peak RSS $((PEAK / 1024)) MiB; VmHWM $((HWM / 1024)) MiB"
echo "peak RSS above idle: $(((PEAK - IDLE) / 1024)) MiB sampled, $(((HWM - IDLE) / 1024)) MiB by VmHWM (target <= 64)"
[ "$state" = promoted ]
