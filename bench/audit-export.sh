#!/usr/bin/env bash
# Audit export at size: 100,000 events streamed by `GET /v1/audit/export` (JSON lines, then
# CSV) from a release `portcullis serve`, while the server's RSS is sampled. Prints the
# events and bytes received, the time, and the server's RSS before and its peak (VmHWM)
# above it: the export reads a page at a time, so the peak must not grow with the log.
#
# Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust), curl and python3. The
# events are written by SQL (the export does not judge them). Never uses ports 5000-5003.
# Override the count with BENCH_EVENTS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
DB=portcullis_bench_$$
EVENTS=${BENCH_EVENTS:-100000}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
seconds() { date +%s.%N; }
elapsed() { echo "$(seconds) - $1" | bc; }

PORT=$(free_port)
{
    printf 'listen: 127.0.0.1:%s\ndatabase_url: %s\npolicy_dir: %s\nregistries: {}\nroutes: []\n' \
        "$PORT" "$PG/$DB" "$ROOT/policies"
    printf 'trust:\n  keys: []\n'
    gate_yaml
    printf '  checkpoint_interval_seconds: 86400\n  checkpoint_every_events: 1000000000\n'
} >"$WORK/serve.yaml"
serve_portcullis "$WORK/serve.yaml" "$PORT"
SERVER=${PIDS[-1]}
AUDITOR=$(RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" token create --subject audrey --role auditor)
psql -h 127.0.0.1 -U postgres -d "$DB" -qc "ALTER TABLE audit_events DISABLE TRIGGER USER;
  INSERT INTO audit_events (seq, at, actor, action, details, prev_hash, hash)
  SELECT g, now(), 'bulk', 'evaluated',
         jsonb_build_object('n', g, 'note', repeat('x', 200)), 'p' || g, 'h' || g
  FROM generate_series(1, $EVENTS) g;" >/dev/null
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER/status"; }
echo "cores: $(nproc); events: $EVENTS"
for format in jsonl csv; do
    IDLE=$(status_kib VmRSS)
    t=$(seconds)
    curl -sf -H "Authorization: Bearer $AUDITOR" "http://127.0.0.1:$PORT/v1/audit/export?format=$format" >"$WORK/export.$format"
    TOOK=$(elapsed "$t")
    HWM=$(status_kib VmHWM)
    LINES=$(wc -l <"$WORK/export.$format")
    BYTES=$(wc -c <"$WORK/export.$format")
    echo "$format: $LINES lines, $((BYTES / 1024 / 1024)) MiB in ${TOOK}s; server RSS before $((IDLE / 1024)) MiB, VmHWM $((HWM / 1024)) MiB (peak above it: $(((HWM - IDLE) / 1024)) MiB)"
done
