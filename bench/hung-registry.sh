#!/usr/bin/env bash
# What a hung registry costs: a registry that accepts TCP connections and never answers.
#
# 1. A CI request (POST /v1/promotions) on a route whose SOURCE is hung: the time until it gets
#    its 504 `registry_timeout` (timeouts.response_header_seconds: $HUNG_TIMEOUT).
# 2. A promotion whose DESTINATION is hung is approved first, then a promotion on another,
#    healthy route: the time until the healthy one is `promoted` while the hung copy is still
#    stuck, and then how long the hung copy took to fail (copy.job_deadline_seconds: $DEADLINE,
#    retry.max_elapsed_seconds: $MAX_ELAPSED).
#
# Release build. Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust),
# /usr/bin/docker-registry, curl, jq, bc and python3. Never uses ports 5000-5003.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-hung.XXXXXX)
DB=portcullis_hung_$$
HUNG_TIMEOUT=${HUNG_TIMEOUT:-5}
MAX_ELAPSED=${MAX_ELAPSED:-20}
DEADLINE=${DEADLINE:-130} # must exceed the default 120 s retry window of unlisted registries
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# A "registry" that accepts every connection and never reads or answers a byte.
HUNG_PORT=$(free_port)
python3 - "$HUNG_PORT" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(256)
held = []
while True:
    held.append(s.accept()[0])
EOF
PIDS+=($!)
HUNG=127.0.0.1:$HUNG_PORT

export COSIGN_PASSWORD=""
"$TESTKIT" keygen --out "$WORK/keys" >/dev/null
start_registry staging
SRC=$REG
start_registry prod
PROD=$REG
PORT=$(free_port)
cat >"$WORK/serve.yaml" <<EOF
listen: 127.0.0.1:$PORT
database_url: $PG/$DB
policy_dir: $ROOT/policies
registries:
  "$SRC": { insecure: true, retry: { max_elapsed_seconds: $MAX_ELAPSED } }
  "$PROD": { insecure: true, retry: { max_elapsed_seconds: $MAX_ELAPSED } }
  "$HUNG":
    insecure: true
    timeouts: { response_header_seconds: $HUNG_TIMEOUT, idle_read_seconds: $HUNG_TIMEOUT }
    retry: { max_elapsed_seconds: $MAX_ELAPSED }
routes:
  - { name: from-hung, from: "$HUNG/", to: "$PROD/" }
  # allow_tag_overwrite: the request does not read the destination tag, so the copy job meets the hang
  - { name: to-hung, from: "$SRC/", to: "$HUNG/", allow_tag_overwrite: true }
  - { name: healthy, from: "$SRC/", to: "$PROD/" }
copy: { max_concurrent_jobs: 4, job_deadline_seconds: $DEADLINE }
trust:
  keys: [{ id: release-key, public_key_file: $WORK/keys/cosign.pub }]
$(gate_yaml)
EOF
serve_portcullis "$WORK/serve.yaml" "$PORT"
token() { RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" token create "$@"; }
CI=$(token --subject ci-pipeline --role ci)
ALICE=$(token --subject alice --role approver --group release-approvers)
BOB=$(token --subject bob --role approver --group release-approvers)
api() { curl -s -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "${@:2}"; }
seconds() { date +%s.%N; }
elapsed() { echo "$(seconds) - $1" | bc; }
body() {
    jq -nc --arg src "$1" --arg route "$2" '{source: $src, route: $route, tag: "v1",
        evidence: [{format: "trivy-json", document: {SchemaVersion: 2, ArtifactName: "app", Results: []}}]}'
}
state() { api "$CI" "http://127.0.0.1:$PORT/v1/promotions/$1" | jq -r .state; }
# promote REPO ROUTE: pushes and signs a 3 x 1 MiB image, requests and approves it; sets ID.
promote() {
    local digest
    digest=$("$TESTKIT" push-image --registry "$SRC" --repo "$1" --tag v1 --layers 3 --layer-size 1048576)
    "$TESTKIT" sign --registry "$SRC" --repo "$1" --digest "$digest" --key "$WORK/keys/cosign.key" >/dev/null
    ID=$(api "$CI" -X POST --data "$(body "$SRC/$1@$digest" "$2")" "http://127.0.0.1:$PORT/v1/promotions" | jq -r .id)
    local hash
    hash=$(api "$CI" "http://127.0.0.1:$PORT/v1/promotions/$ID" | jq -r .evidence_hash)
    for who in "$ALICE" "$BOB"; do
        api "$who" -X POST --data "{\"verdict\": \"approve\", \"comment\": \"bench\", \"evidence_hash\": \"$hash\"}" \
            "http://127.0.0.1:$PORT/v1/promotions/$ID/approvals" >/dev/null
    done
}

# 1. CI request against a hung source.
t=$(seconds)
ANSWER=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -H "Authorization: Bearer $CI" \
    -H 'Content-Type: application/json' --data "$(body "$HUNG/team/app:v1" from-hung)" \
    "http://127.0.0.1:$PORT/v1/promotions")
TOOK=$(elapsed "$t")
echo "CI request, hung source: HTTP $ANSWER $(jq -r .code "$WORK/answer.json") after ${TOOK}s" \
    "(response_header_seconds $HUNG_TIMEOUT): $(jq -r .detail "$WORK/answer.json")"
[ "$ANSWER" = 504 ]

# 2. A copy to a hung destination, then a healthy promotion on another route.
promote team/stuck to-hung
STUCK=$ID
STUCK_AT=$(seconds)
sleep 1 # let the stuck job claim its slot and reach the hung registry first
t=$(seconds)
promote team/other healthy
OTHER=$ID
while [ "$(state "$OTHER")" = promoting ]; do sleep 0.1; done
TOOK=$(elapsed "$t")
echo "healthy promotion on another route: $(state "$OTHER") ${TOOK}s after its request" \
    "(push, sign, request, approvals, copy), while the hung copy is $(state "$STUCK")"
[ "$(state "$OTHER")" = promoted ]
while [ "$(state "$STUCK")" = promoting ]; do sleep 0.5; done
echo "hung copy: $(state "$STUCK") $(elapsed "$STUCK_AT")s after its approvals" \
    "(retry.max_elapsed_seconds $MAX_ELAPSED, job_deadline_seconds $DEADLINE):" \
    "$(api "$CI" "http://127.0.0.1:$PORT/v1/promotions/$STUCK" | jq -r .error)"
