#!/usr/bin/env bash
# Bounded work: wall time of two concurrent dry runs, each carrying 20k findings and 20k VEX
# statements (a Trivy report and an OpenVEX document, ~6 MB), and `/healthz` latency
# (p50/p99/max over a curl loop) while they run; then one 60k-finding / 40k-statement request
# (~15 MB, under the 16 MiB body limit), whose time or refusal is printed.
# Targets: 20k/20k decides in < 1 s; /healthz stays < 50 ms meanwhile.
#
# Release build. Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust),
# /usr/bin/docker-registry, curl, jq and python3. Never uses ports 5000-5003.
# Overrides: BENCH_FINDINGS, BENCH_STATEMENTS (default 20000 each).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
DB=portcullis_bench_$$
FINDINGS=${BENCH_FINDINGS:-20000}
STATEMENTS=${BENCH_STATEMENTS:-20000}
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# body FILE FINDINGS STATEMENTS: a dry-run request with a Trivy report and an OpenVEX document.
# Findings are spread over 500 packages; each statement names one finding's CVE, half by its
# package purl and half by the image with the package as subcomponent.
body() {
    python3 - "$1" "$2" "$3" "$SRC/bench/app@$DIGEST" "$DIGEST" <<'PY'
import json, sys
out, findings, statements, source, digest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
pkg = lambda i: f"pkg:deb/debian/lib{i % 500}@1.{i % 7}"
vulns = [{"VulnerabilityID": f"CVE-2024-{i}", "PkgName": f"lib{i % 500}",
          "Severity": ["LOW", "MEDIUM", "HIGH", "CRITICAL"][i % 4], "PkgIdentifier": {"PURL": pkg(i)}}
         for i in range(findings)]
image = "pkg:oci/app@" + digest.replace(":", "%3A")
stmts = [{"vulnerability": {"name": f"CVE-2024-{i}"},
          "products": [{"@id": pkg(i)}] if i % 2 else [{"@id": image, "subcomponents": [{"@id": pkg(i)}]}],
          "status": "not_affected"} for i in range(statements)]
body = {"source": source, "route": "staging-to-prod", "tag": "v1", "dry_run": True, "evidence": [
    {"format": "trivy-json", "document": {"SchemaVersion": 2, "ArtifactName": "app", "Results": [{"Target": "app", "Vulnerabilities": vulns}]}},
    {"format": "openvex", "document": {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://vex.example/bench",
        "author": "bench", "timestamp": "2026-11-01T00:00:00Z", "version": 1, "statements": stmts}}]}
with open(out, "w") as f:
    json.dump(body, f, separators=(",", ":"))
PY
}

serve_signed_route
CI=$(RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" token create --subject ci-pipeline --role ci)

body "$WORK/small.json" "$FINDINGS" "$STATEMENTS"
body "$WORK/big.json" 60000 40000
echo "request bodies: $(stat -c %s "$WORK/small.json") bytes (${FINDINGS} findings, ${STATEMENTS} statements)," \
    "$(stat -c %s "$WORK/big.json") bytes (60000 findings, 40000 statements)"

# dry_run FILE OUT: posts FILE, writes "seconds status code allow suppressed" to OUT.
dry_run() {
    curl -s -o "$2.body" -w '%{time_total} %{http_code}\n' -H "Authorization: Bearer $CI" \
        -H 'Content-Type: application/json' --data-binary "@$1" \
        "http://127.0.0.1:$PORT/v1/promotions" >"$2"
    jq -r '[.code // "-", (.decision.allow // "-"), ((.evidence.suppressed_index // []) | length)] | join(" ")' \
        "$2.body" >>"$2"
}

# One request alone first (it also primes connection pools and the verification cache).
dry_run "$WORK/small.json" "$WORK/warm"
echo "dry run alone (${FINDINGS}/${STATEMENTS}, first request): $(head -1 "$WORK/warm" | awk '{print $1 " s, HTTP " $2}')," \
    "code/allow/suppressed: $(tail -1 "$WORK/warm")"

: >"$WORK/health"
(while [ ! -e "$WORK/stop" ]; do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/healthz" >>"$WORK/health"
done) &
HEALTH=$!
sleep 1
dry_run "$WORK/small.json" "$WORK/a" &
A=$!
dry_run "$WORK/small.json" "$WORK/b" &
B=$!
wait "$A" "$B"
touch "$WORK/stop"
wait "$HEALTH"
for r in a b; do
    echo "dry run $r (${FINDINGS}/${STATEMENTS}, concurrent): $(head -1 "$WORK/$r" | awk '{print $1 " s, HTTP " $2}')," \
        "code/allow/suppressed: $(tail -1 "$WORK/$r")"
done
sort -g "$WORK/health" | awk '{ v[NR] = $1 } END {
    p50 = int(NR * 0.50) + 1; p99 = int(NR * 0.99) + 1; if (p99 > NR) p99 = NR
    printf "/healthz during the two dry runs: %d samples, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        NR, v[p50] * 1000, v[p99] * 1000, v[NR] * 1000 }'

dry_run "$WORK/big.json" "$WORK/big"
echo "60000/40000 request: $(head -1 "$WORK/big" | awk '{print $1 " s, HTTP " $2}'), code/allow/suppressed: $(tail -1 "$WORK/big")," \
    "detail: $(jq -r '.detail // "-"' "$WORK/big.body")"
echo "server RSS after: $(awk '$1 == "VmRSS:" {print int($2 / 1024) " MiB"}' "/proc/$SERVE_PID/status"), peak $(awk '$1 == "VmHWM:" {print int($2 / 1024) " MiB"}' "/proc/$SERVE_PID/status")"
