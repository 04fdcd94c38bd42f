#!/usr/bin/env bash
# Copy speed of `portcullis copy` against `skopeo copy`, and the server's memory while it
# promotes an image with a 1 GiB layer.
#
# Timings: a 100 MiB, 5-layer image in a local docker-registry is copied by each tool to a
# fresh repository in its own fresh registry (so neither can mount or reuse a blob it saw
# before), then re-copied to the same place (a no-op: everything is already there). Each
# figure is the median of BENCH_RUNS (default 3) runs. Targets: full <= 0.7x skopeo,
# no-op <= 0.3x skopeo.
# End to end: the same image promoted through the API of a release `portcullis serve` (request,
# one approval, then the timed last approval) to a fresh registry per run, from the last
# approval's POST until GET shows `promoted` (one process on one keep-alive connection
# waiting with the long-poll GET, or polling every BENCH_POLL_MS ms if set:
# bench/approve-and-wait.py; the span to the
# promotion's own updated_at and the approval POST's own time are printed too), against `skopeo copy` of the same image to another fresh
# registry in the same run; then a re-promotion of the same digest and tag (a no-op copy)
# against skopeo's re-copy. Targets: <= 0.7x and <= 0.3x skopeo.
# Memory: the same server promotes a signed image with one 1 GiB layer through the API
# (request + two approvals); VmRSS/VmHWM are sampled until it is promoted and the peak above
# the RSS before it is printed (target <= 64 MiB; the idle figure now follows the e2e runs).
# PORTCULLIS_LOG=info also prints the server's own timings of each copy job. COPY_ATTEST=false
# turns the promotion attestation off (the copy alone against skopeo's; default on).
# BENCH_PARTS picks what runs: any of `engine e2e memory` (default all three).
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
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/api.sh
source "$ROOT/bench/api.sh"
need_skopeo

# write_config FILE LISTEN_PORT SRC DEST...: a config with the registries and one route per
# destination (staging-to-prod-1, -2, …).
write_config() {
    local file=$1 port=$2 src=$3 n=0 dest
    shift 3
    {
        printf 'listen: 127.0.0.1:%s\ndatabase_url: %s\npolicy_dir: %s\nregistries:\n' "$port" "$PG/$DB" "$ROOT/policies"
        printf '  "%s": { insecure: true }\n' "$src" "$@"
        printf 'routes:\n'
        for dest in "$@"; do
            n=$((n + 1))
            printf '  - { name: staging-to-prod-%s, from: "%s/", to: "%s/" }\n' "$n" "$src" "$dest"
        done
        printf 'trust:\n  keys: [{ id: release-key, public_key_file: %s }]\n' "$WORK/keys/cosign.pub"
        # COPY_ATTEST=false compares the copy alone with skopeo's (which signs nothing);
        # the default attaches the promotion attestation, as the product does.
        printf 'copy:\n  attest: %s\n' "${COPY_ATTEST:-true}"
        gate_yaml
    } >"$file"
}

PARTS=" ${BENCH_PARTS:-engine e2e memory} "
part() { [[ $PARTS == *" $1 "* ]]; }


export COSIGN_PASSWORD=""
"$TESTKIT" keygen --out "$WORK/keys" >/dev/null
start_registry source
SRC=$REG
DIGEST=$("$TESTKIT" push-image --registry "$SRC" --repo bench/app --tag v1 --layers 5 --layer-size $((20 * 1024 * 1024)))
echo "source image: $SRC/bench/app@$DIGEST (5 layers x 20 MiB)"

if part engine; then
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
fi

# End to end through the API: one server, one fresh destination registry (and route) per run.
E2E_DESTS=()
SK_DESTS=()
for run in $(seq "$RUNS"); do
    start_registry "e2e-dest-$run"
    E2E_DESTS+=("$REG")
    start_registry "e2e-skopeo-$run"
    SK_DESTS+=("$REG")
done
start_registry prod
PROD=$REG
"$TESTKIT" sign --registry "$SRC" --repo bench/app --digest "$DIGEST" --key "$WORK/keys/cosign.key" >/dev/null
PORT=$(free_port)
CONFIG=$WORK/serve.yaml
write_config "$CONFIG" "$PORT" "$SRC" "${E2E_DESTS[@]}" "$PROD"
serve_portcullis "$CONFIG" "$PORT"
SERVER=${PIDS[-1]}
CI=$(token --subject ci-pipeline --role ci)
ALICE=$(token --subject alice --role approver --group release-approvers)
BOB=$(token --subject bob --role approver --group release-approvers)
if part e2e; then
: >"$WORK/e2e-skopeo-full" >"$WORK/e2e-skopeo-noop" >"$WORK/e2e-full" >"$WORK/e2e-noop"
: >"$WORK/e2e-full-server" >"$WORK/e2e-noop-server" >"$WORK/e2e-full-approve" >"$WORK/e2e-noop-approve"
for run in $(seq "$RUNS"); do
    SK=${SK_DESTS[$((run - 1))]}
    for pass in full noop; do
        t=$(seconds)
        skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
            "docker://$SRC/bench/app@$DIGEST" "docker://$SK/bench/app:v1" >/dev/null
        elapsed "$t" >>"$WORK/e2e-skopeo-$pass"
        ID=$(request_promotion "$CI" "$SRC/bench/app@$DIGEST" "staging-to-prod-$run" v1)
        approve "$ALICE" "$ID"
        promote_timed "$ID" >>"$WORK/e2e-$pass"
        echo "$SERVER_SECS" >>"$WORK/e2e-$pass-server"
        echo "$APPROVE_SECS" >>"$WORK/e2e-$pass-approve"
    done
    echo "run $run end to end: skopeo full $(sed -n "${run}p" "$WORK/e2e-skopeo-full")s noop $(sed -n "${run}p" "$WORK/e2e-skopeo-noop")s;" \
        "portcullis approval->promoted full $(sed -n "${run}p" "$WORK/e2e-full")s noop $(sed -n "${run}p" "$WORK/e2e-noop")s" \
        "(to updated_at: full $(sed -n "${run}p" "$WORK/e2e-full-server")s noop $(sed -n "${run}p" "$WORK/e2e-noop-server")s;" \
        "approval POST itself: full $(sed -n "${run}p" "$WORK/e2e-full-approve")s noop $(sed -n "${run}p" "$WORK/e2e-noop-approve")s)"
    [ "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://${E2E_DESTS[$((run - 1))]}/bench/app:v1")" = "$DIGEST" ]
done
SF=$(median <"$WORK/e2e-skopeo-full"); EF=$(median <"$WORK/e2e-full"); EFS=$(median <"$WORK/e2e-full-server")
SN=$(median <"$WORK/e2e-skopeo-noop"); EN=$(median <"$WORK/e2e-noop"); ENS=$(median <"$WORK/e2e-noop-server")
echo "median of $RUNS: end-to-end promotion  skopeo ${SF}s  portcullis ${EF}s  ratio $(ratio "$EF" "$SF") (target <= 0.7); to updated_at ${EFS}s ratio $(ratio "$EFS" "$SF")"
echo "median of $RUNS: end-to-end re-promotion (no-op)  skopeo ${SN}s  portcullis ${EN}s  ratio $(ratio "$EN" "$SN") (target <= 0.3); to updated_at ${ENS}s ratio $(ratio "$ENS" "$SN")"
if grep -q "copy job timings" "$WORK/serve.log"; then
    echo "where the server's time went (PORTCULLIS_LOG=info):"
    grep -E "copy job timings|image copied" "$WORK/serve.log" | sed 's/^/  /'
fi
fi

part memory || exit 0
# Memory while promoting a 1 GiB layer through the API.
BIG=$("$TESTKIT" push-image --registry "$SRC" --repo bench/big --tag v1 --layers 1 --layer-size $((1024 * 1024 * 1024)))
"$TESTKIT" sign --registry "$SRC" --repo bench/big --digest "$BIG" --key "$WORK/keys/cosign.key" >/dev/null
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER/status"; }
IDLE=$(status_kib VmRSS)
ID=$(request_promotion "$CI" "$SRC/bench/big@$BIG" "staging-to-prod-$((RUNS + 1))" v1)
for who in "$ALICE" "$BOB"; do approve "$who" "$ID"; done
PEAK=$IDLE
t=$(seconds)
while :; do
    rss=$(status_kib VmRSS)
    [ "$rss" -gt "$PEAK" ] && PEAK=$rss
    state=$(promotion_state "$ID")
    [ "$state" != "promoting" ] && break
    sleep 0.1
done
TOOK=$(elapsed "$t")
HWM=$(status_kib VmHWM)
echo "promotion of 1 GiB layer: state $state after ${TOOK}s (after approvals)"
echo "idle RSS $((IDLE / 1024)) MiB; sampled peak RSS $((PEAK / 1024)) MiB; VmHWM $((HWM / 1024)) MiB"
echo "peak RSS above idle: $(((PEAK - IDLE) / 1024)) MiB sampled, $(((HWM - IDLE) / 1024)) MiB by VmHWM (target <= 64)"
[ "$state" = promoted ]
