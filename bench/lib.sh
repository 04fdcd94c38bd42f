# Shared start-up of the bench scripts (sourced, not run). The caller sets ROOT, WORK and DB
# first; this gives it PIDS (processes killed on exit), a cleanup trap that also drops DB and
# removes WORK, the release binaries PORTCULLIS and TESTKIT, free_port (never 5000-5003) and
# start_registry NAME (a throw-away docker-registry; sets REG to its host:port).

PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    # BENCH_SERVE_LOG=FILE keeps the server's log (e.g. with PORTCULLIS_LOG=debug).
    if [ -n "${BENCH_SERVE_LOG:-}" ] && [ -f "$WORK/serve.log" ]; then cp "$WORK/serve.log" "$BENCH_SERVE_LOG"; fi
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cargo build --release -q -p portcullis-server -p portcullis-testkit
# BENCH_PORTCULLIS=PATH runs another build of the server (an A/B comparison of two builds).
PORTCULLIS=${BENCH_PORTCULLIS:-${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis}
TESTKIT=${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis-testkit

# median: the median line of stdin (RUNS lines); ratio A B: A / B to three places.
median() { sort -g | sed -n "$(((RUNS + 1) / 2))p"; }
ratio() { echo "scale=3; $1 / $2" | bc; }

# need_skopeo: installs skopeo with apt-get if it is missing.
need_skopeo() {
    command -v skopeo >/dev/null || { apt-get update -qq && apt-get install -y -qq skopeo >/dev/null; }
}

free_port() {
    python3 - <<'PY'
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if not 5000 <= p <= 5003:
        print(p); break
PY
}

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

# gate_yaml: the gate key (made once in WORK) and witness directory lines of a config.
gate_yaml() {
    [ -f "$WORK/gate.key" ] || "$PORTCULLIS" keys generate --out "$WORK/gate.key" >/dev/null 2>&1
    printf 'gate:\n  signing_key_file: %s\naudit:\n  checkpoint_dir: %s\n' "$WORK/gate.key" "$WORK/witness"
}

# serve_portcullis CONFIG PORT: starts `portcullis serve` and waits until /readyz answers;
# exits with its log if the server dies first.
serve_portcullis() {
    RUST_LOG=${PORTCULLIS_LOG:-warn} "$PORTCULLIS" --config "$1" serve 2>"$WORK/serve.log" &
    local pid=$!
    PIDS+=("$pid")
    until curl -sf "http://127.0.0.1:$2/readyz" >/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "portcullis serve exited:" >&2
            cat "$WORK/serve.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

# serve_signed_route: two registries (SRC, PROD), a small image on SRC signed with a fresh
# cosign key (DIGEST), and `portcullis serve` on PORT with one route staging-to-prod
# (config in WORK/serve.yaml, database PG/DB, trusting that key, plus EXTRA_YAML if set).
# SERVE_PID is the server.
serve_signed_route() {
    export COSIGN_PASSWORD=""
    "$TESTKIT" keygen --out "$WORK/keys" >/dev/null
    start_registry source
    SRC=$REG
    start_registry prod
    PROD=$REG
    DIGEST=$("$TESTKIT" push-image --registry "$SRC" --repo bench/app --tag v1 --layers 1 --layer-size 1024)
    "$TESTKIT" sign --registry "$SRC" --repo bench/app --digest "$DIGEST" --key "$WORK/keys/cosign.key" >/dev/null
    PORT=$(free_port)
    cat >"$WORK/serve.yaml" <<YAML
listen: 127.0.0.1:$PORT
database_url: $PG/$DB
policy_dir: $ROOT/policies
registries:
  "$SRC": { insecure: true }
  "$PROD": { insecure: true }
routes:
  - { name: staging-to-prod, from: "$SRC/", to: "$PROD/" }
trust:
  keys: [{ id: release-key, public_key_file: $WORK/keys/cosign.pub }]
$(gate_yaml)
${EXTRA_YAML:-}
YAML
    serve_portcullis "$WORK/serve.yaml" "$PORT"
    SERVE_PID=${PIDS[-1]}
}
