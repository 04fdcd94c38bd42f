#!/usr/bin/env bash
# Legitimate latency under an auth-failure flood, and the rows the flood leaves behind.
#
# A release `portcullis serve` on a fresh database, with one local registry holding a signed
# image. Quiet phase: p50 of BENCH_REQUESTS (default 300) legitimate `GET /v1/promotions`
# (auditor token) and of BENCH_REQUESTS/3 `POST /v1/promotions` dry runs of the signed image
# (CI token), each at concurrency 5. Flood phase: rounds of BENCH_FLOOD (default 5000)
# bad-token requests at concurrency 50 run for as long as the same GET and POST
# measurements run again (one round of mostly-429 answers lasts well under a second).
# Printed: both p50s quiet and under flood, their ratio (target < 3x), the flood's status
# codes, and the rows added to audit_events and auth_failures (after the flusher has run).
#
# Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust), /usr/bin/docker-registry,
# curl, jq, python3 and psql; installs `hey` with apt-get if missing. Never uses ports 5000-5003.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${BENCH_REQUESTS:-300}
FLOOD=${BENCH_FLOOD:-5000}
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-flood.XXXXXX)
DB=portcullis_flood_$$
if ! command -v hey >/dev/null; then
    apt-get update -qq && apt-get install -y -qq hey >/dev/null
fi
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

REG_PORT=$(free_port)
mkdir -p "$WORK/registry"
printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$WORK/registry" "$REG_PORT" >"$WORK/registry.yml"
/usr/bin/docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
until curl -sf "http://127.0.0.1:$REG_PORT/v2/" >/dev/null; do sleep 0.05; done
REG=127.0.0.1:$REG_PORT
"$TESTKIT" keygen --out "$WORK/keys" >/dev/null
DIGEST=$("$TESTKIT" push-image --registry "$REG" --repo bench/app --tag v1 --layers 2 --layer-size 1024)
"$TESTKIT" sign --registry "$REG" --repo bench/app --digest "$DIGEST" --key "$WORK/keys/cosign.key" >/dev/null

PORT=$(free_port)
cat >"$WORK/serve.yaml" <<YAML
listen: 127.0.0.1:$PORT
database_url: $PG/$DB
policy_dir: $ROOT/policies
registries:
  "$REG": { insecure: true }
routes:
  - { name: staging-to-prod, from: "$REG/", to: "$REG/prod/" }
trust:
  keys: [{ id: release-key, public_key_file: $WORK/keys/cosign.pub }]
$(gate_yaml)
YAML
serve_portcullis "$WORK/serve.yaml" "$PORT"
token() { RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" token create "$@"; }
CI=$(token --subject ci-pipeline --role ci)
AUDITOR=$(token --subject audrey --role auditor)
BASE=http://127.0.0.1:$PORT
cat >"$WORK/dry-run.json" <<JSON
{"source": "$REG/bench/app@$DIGEST", "route": "staging-to-prod", "tag": "v1", "dry_run": true,
 "evidence": [{"format": "trivy-json", "document": {"SchemaVersion": 2, "ArtifactName": "app", "Results": []}}]}
JSON
# Warm up (and check) both legitimate calls.
curl -sf -H "Authorization: Bearer $AUDITOR" "$BASE/v1/promotions" >/dev/null
curl -sf -H "Authorization: Bearer $CI" -H 'Content-Type: application/json' \
    -d @"$WORK/dry-run.json" "$BASE/v1/promotions" | jq -e '.dry_run == true' >/dev/null

# p50 LABEL HEY-ARGS...: runs hey, checks every answer was 200, prints the p50 in ms.
p50() {
    local label=$1 out
    shift
    out=$(hey "$@")
    if ! grep -qE '^\s+\[200\]' <<<"$out" || grep -qE '^\s+\[[013-9][0-9]{2}\]|^\s+\[2[1-9][0-9]\]' <<<"$out"; then
        echo "$label: not every answer was 200:" >&2
        sed -n '/Status code distribution/,$p' <<<"$out" >&2
        exit 1
    fi
    awk '/ 50% in / { printf "%.2f", $3 * 1000 }' <<<"$out"
}
get_p50() { p50 GET -n "$N" -c 5 -H "Authorization: Bearer $AUDITOR" "$BASE/v1/promotions"; }
post_p50() {
    p50 POST -n $((N / 3)) -c 5 -m POST -T application/json -D "$WORK/dry-run.json" \
        -H "Authorization: Bearer $CI" "$BASE/v1/promotions"
}
rows() { psql -h 127.0.0.1 -U postgres -d "$DB" -Atc "$1"; }

QUIET_GET=$(get_p50)
QUIET_POST=$(post_p50)
AUDIT_BEFORE=$(rows "SELECT count(*) FROM audit_events")
FAIL_BEFORE=$(rows "SELECT count(*) FROM auth_failures")

# The flood runs in rounds of $FLOOD requests for as long as the measurement does, so every
# measured request overlaps it (a round of mostly-429 answers is over in well under a second).
(
    round=0
    while [ ! -e "$WORK/measured" ]; do
        round=$((round + 1))
        hey -n "$FLOOD" -c 50 -H "Authorization: Bearer pct_not-a-real-token" \
            "$BASE/v1/promotions" >"$WORK/flood-$round.txt"
    done
) &
FLOOD_PID=$!
until ls "$WORK"/flood-1.txt >/dev/null 2>&1; do sleep 0.01; done
FLOOD_GET=$(get_p50)
FLOOD_POST=$(post_p50)
touch "$WORK/measured"
wait "$FLOOD_PID"
sleep 6 # the flusher writes every 5 s
AUDIT_AFTER=$(rows "SELECT count(*) FROM audit_events")
FAIL_AFTER=$(rows "SELECT count(*) FROM auth_failures")
COUNTED=$(rows "SELECT coalesce(sum(count), 0) FROM auth_failures")
SAMPLE_BYTES=$(rows "SELECT coalesce(sum(pg_column_size(samples)), 0) FROM auth_failures")

ROUNDS=$(ls "$WORK"/flood-*.txt | wc -l)
echo "flood: $ROUNDS round(s) of $FLOOD bad-token requests at concurrency 50 during the measurement; status codes:"
cat "$WORK"/flood-*.txt | awk '/^ +\[[0-9]+\]/ { n[$1] += $2 } END { for (c in n) printf "  %s %d\n", c, n[c] }'
printf 'GET  /v1/promotions p50: quiet %s ms, under flood %s ms (%.2fx)\n' \
    "$QUIET_GET" "$FLOOD_GET" "$(echo "$FLOOD_GET / $QUIET_GET" | bc -l)"
printf 'POST /v1/promotions (dry run) p50: quiet %s ms, under flood %s ms (%.2fx)\n' \
    "$QUIET_POST" "$FLOOD_POST" "$(echo "$FLOOD_POST / $QUIET_POST" | bc -l)"
echo "rows added: audit_events $((AUDIT_AFTER - AUDIT_BEFORE)), auth_failures $((FAIL_AFTER - FAIL_BEFORE)) (refusals counted: $COUNTED, samples: $SAMPLE_BYTES bytes)"
