#!/usr/bin/env bash
# Admission latency: promotes one signed image through the API (request, two approvals, copy),
# then runs `hey` against `POST /v1/admission` with a 10-container Pod AdmissionReview whose
# containers all run the promoted digest (allowed), at concurrency 1 and 10. Prints req/s,
# p50 and p99. Target (issue 12): p99 < 10 ms for a 10-container Pod.
#
# Release build. Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust),
# /usr/bin/docker-registry, hey, curl, jq and python3. Never uses ports 5000-5003.
# Overrides: BENCH_REQUESTS (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
DB=portcullis_bench_$$
N=${BENCH_REQUESTS:-2000}
command -v hey >/dev/null || { echo "hey is not installed (apt-get install hey)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

serve_signed_route
API=http://127.0.0.1:$PORT
token() { RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" token create --subject "$1" --role "$2" ${3:+--group "$3"}; }
CI=$(token ci-pipeline ci)
ALICE=$(token alice approver release-approvers)
BOB=$(token bob approver release-approvers)
ADMISSION=$(token kube-apiserver admission)

# Promote: request with a clean Trivy report, two approvals, wait for the copy.
REQUEST=$(jq -n --arg s "$SRC/bench/app@$DIGEST" \
    '{source: $s, route: "staging-to-prod", tag: "v1",
      evidence: [{format: "trivy-json", document: {SchemaVersion: 2, ArtifactName: "app", Results: []}}]}')
ID=$(curl -sf -H "Authorization: Bearer $CI" -H 'Content-Type: application/json' -d "$REQUEST" "$API/v1/promotions" | jq -r .id)
HASH=$(curl -sf -H "Authorization: Bearer $CI" "$API/v1/promotions/$ID" | jq -r .evidence_hash)
for t in "$ALICE" "$BOB"; do
    curl -sf -o /dev/null -H "Authorization: Bearer $t" -H 'Content-Type: application/json' \
        -d "{\"verdict\":\"approve\",\"comment\":\"bench\",\"evidence_hash\":\"$HASH\"}" "$API/v1/promotions/$ID/approvals"
done
STATE=$(curl -sf -H "Authorization: Bearer $CI" "$API/v1/promotions/$ID?wait_seconds=20&state=promoting" | jq -r .state)
[ "$STATE" = promoted ] || { echo "promotion $ID is $STATE, not promoted" >&2; exit 1; }

# A 10-container Pod review running the promoted digest from production.
python3 - "$WORK/review.json" "$PROD/bench/app@$DIGEST" <<'PY'
import json, sys
out, image = sys.argv[1], sys.argv[2]
containers = [{"name": f"c{i}", "image": image} for i in range(10)]
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "namespace": "shop", "operation": "CREATE",
    "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
    "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "checkout-1", "namespace": "shop"},
               "spec": {"containers": containers}},
    "oldObject": None, "dryRun": False}}
json.dump(review, open(out, "w"), separators=(",", ":"))
PY
ALLOWED=$(curl -sf -H "Authorization: Bearer $ADMISSION" -H 'Content-Type: application/json' \
    --data-binary "@$WORK/review.json" "$API/v1/admission" | jq -r .response.allowed)
[ "$ALLOWED" = true ] || { echo "the review was not allowed" >&2; exit 1; }
echo "cores: $(nproc); review $(stat -c %s "$WORK/review.json") bytes, 10 containers, allowed"

load() {
    hey -n "$((4 * $1))" -c "$1" -m POST -T application/json -H "Authorization: Bearer $ADMISSION" \
        -D "$WORK/review.json" "$API/v1/admission" >/dev/null
    hey -n "$N" -c "$1" -m POST -T application/json -H "Authorization: Bearer $ADMISSION" \
        -D "$WORK/review.json" "$API/v1/admission" >"$WORK/hey.out"
    printf 'admission c=%-3s n=%-5s %8.1f req/s  p50 %6.2f ms  p99 %6.2f ms\n' "$1" "$N" \
        "$(awk '/Requests\/sec:/ {print $2}' "$WORK/hey.out")" \
        "$(awk '/ 50% in / {print $3 * 1000}' "$WORK/hey.out")" \
        "$(awk '/ 99% in / {print $3 * 1000}' "$WORK/hey.out")"
}
load 1
load 10
