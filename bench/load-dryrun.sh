#!/usr/bin/env bash
# Dry-run load: `hey` against dry-run `POST /v1/promotions` of a signed, digest-pinned image with
# two bodies bound to the digest: (a) ~127 KB, a Trivy report with 500 findings over 300
# packages plus a CycloneDX SBOM of 300 components; (b) ~17 KB, a Trivy report alone. Each at
# concurrency 1 and 50. Prints req/s, p50, p99, the server's CPU per request (utime + stime of
# the serve process around the run, over the requests) and the core count.
# Targets (issue #9, 2 cores): (a) >= 400 req/s at c=50, p99 <= 5 ms at c=1, <= 2.5 ms CPU per
# request; (b) >= 2,000 req/s at c=50.
#
# Release build. Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust),
# /usr/bin/docker-registry, hey, curl, jq and python3. Never uses ports 5000-5003.
# Overrides: BENCH_REQUESTS_C1 (default 500), BENCH_REQUESTS_C50 (default 3000),
# BENCH_INPUT_CACHE_MAX_BYTES (evidence.input_cache_max_bytes; 0 measures every request as a
# cache miss: parsing and building each document's part every time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
DB=portcullis_bench_$$
N1=${BENCH_REQUESTS_C1:-500}
N50=${BENCH_REQUESTS_C50:-3000}
command -v hey >/dev/null || { echo "hey is not installed (apt-get install hey)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# body FILE FINDINGS PACKAGES COMPONENTS: a dry-run request with a Trivy report (FINDINGS over
# PACKAGES packages, bound to the digest by Metadata.RepoDigests) and, when COMPONENTS > 0, a
# CycloneDX SBOM of that many components bound by its subject's purl. Severities as in the
# policy crate's synthetic input: 3 HIGH per 500, ~40 % MEDIUM, the rest LOW with a few
# NEGLIGIBLE/UNKNOWN; every 50th component dual-licensed GPL-or-MIT, every 20th without licence.
body() {
    python3 - "$1" "$2" "$3" "$4" "$SRC/bench/app@$DIGEST" "$SRC/bench/app" "$DIGEST" <<'PY'
import json, sys
out, findings, packages, components = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
source, repo, digest = sys.argv[5], sys.argv[6], sys.argv[7]
def severity(i):
    if i % 167 == 7: return "HIGH"
    if i % 97 == 11: return "NEGLIGIBLE"
    if i % 89 == 13: return "UNKNOWN"
    return "MEDIUM" if i % 5 < 2 else "LOW"
def vuln(i):
    p = i % packages
    v = f"1.{p % 7}.{p % 13}"
    f = {"VulnerabilityID": f"CVE-{2019 + i % 6}-{10000 + i * 37 % 90000}", "PkgName": f"lib{p}",
         "PkgIdentifier": {"PURL": f"pkg:deb/debian/lib{p}@{v}"}, "InstalledVersion": v,
         "Severity": severity(i)}
    if i % 2:
        f["Title"] = f"lib{p}: overflow"
    if i % 3:
        f["FixedVersion"] = f"1.{p % 7}.{p % 13 + 1}"
    return f
licences = ["MIT", "Apache-2.0", "MIT OR Apache-2.0", "BSD-3-Clause"]
def component(i):
    name = f"component-{i}"
    version = f"{i % 4}.{i % 10}.{i % 3}"
    c = {"name": name, "version": version, "purl": f"pkg:cargo/{name}@{version}"}
    if i % 20 != 19:
        expr = "GPL-2.0-or-later OR MIT" if i % 50 == 10 else licences[i % 4]
        c["licenses"] = [{"expression": expr}] if " OR " in expr else [{"license": {"id": expr}}]
    return c
evidence = [{"format": "trivy-json", "document": {
    "SchemaVersion": 2, "ArtifactName": source, "ArtifactType": "container_image",
    "Metadata": {"RepoDigests": [f"{repo}@{digest}"]},
    "Results": [{"Target": f"{source} (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
                 "Vulnerabilities": [vuln(i) for i in range(findings)]}]}}]
if components:
    evidence.append({"format": "cyclonedx-json", "document": {
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": {"component": {"type": "container", "name": repo,
                                   "purl": "pkg:oci/app@" + digest.replace(":", "%3A")}},
        "components": [component(i) for i in range(components)]}})
body = {"source": source, "route": "staging-to-prod", "tag": "v1", "dry_run": True, "evidence": evidence}
with open(out, "w") as f:
    json.dump(body, f, separators=(",", ":"))
PY
}

if [ -n "${BENCH_INPUT_CACHE_MAX_BYTES:-}" ]; then
    EXTRA_YAML="evidence: { input_cache_max_bytes: $BENCH_INPUT_CACHE_MAX_BYTES }"
fi
serve_signed_route
CI=$(RUST_LOG=warn "$PORTCULLIS" --config "$WORK/serve.yaml" token create --subject ci-pipeline --role ci)
URL=http://127.0.0.1:$PORT/v1/promotions

body "$WORK/large.json" 500 300 300
body "$WORK/small.json" 92 60 0
echo "cores: $(nproc); bodies: large $(stat -c %s "$WORK/large.json") bytes (500 findings over 300 packages + 300 SBOM components)," \
    "small $(stat -c %s "$WORK/small.json") bytes (92 findings over 60 packages)"

# check FILE: one request, printing its status and decision, so a broken set-up fails loudly.
check() {
    local status
    status=$(curl -s -o "$WORK/check.json" -w '%{http_code}' -H "Authorization: Bearer $CI" \
        -H 'Content-Type: application/json' --data-binary "@$1" "$URL")
    if [ "$status" != 200 ]; then
        echo "dry run of $1 answered HTTP $status:" >&2
        cat "$WORK/check.json" >&2
        exit 1
    fi
    echo "  $(basename "$1" .json): HTTP 200, allow $(jq -r .decision.allow "$WORK/check.json")," \
        "$(jq '.evidence.vulnerabilities | length' "$WORK/check.json") findings," \
        "$(jq '.evidence.components | length' "$WORK/check.json") components in the answer"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVE_PID/stat"; }
TICK=$(getconf CLK_TCK)

# load NAME FILE CONCURRENCY REQUESTS
load() {
    # A short warm-up at the same concurrency (connections, caches).
    hey -n "$((4 * $3))" -c "$3" -m POST -T application/json -H "Authorization: Bearer $CI" -D "$2" "$URL" >/dev/null
    local before after
    before=$(cpu_ticks)
    hey -n "$4" -c "$3" -m POST -T application/json -H "Authorization: Bearer $CI" -D "$2" "$URL" >"$WORK/hey.out"
    after=$(cpu_ticks)
    local rps p50 p99 codes
    rps=$(awk '/Requests\/sec:/ {print $2}' "$WORK/hey.out")
    p50=$(awk '/ 50% in / {print $3 * 1000}' "$WORK/hey.out")
    p99=$(awk '/ 99% in / {print $3 * 1000}' "$WORK/hey.out")
    codes=$(awk '/^\s+\[[0-9]+\]/ {printf "%s%s", sep, $1 " " $2; sep = ", "}' "$WORK/hey.out")
    printf '%-6s c=%-3s n=%-5s %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  server CPU %5.2f ms/request  (%s)\n' \
        "$1" "$3" "$4" "$rps" "$p50" "$p99" \
        "$(echo "($after - $before) * 1000 / $TICK / $4" | bc -l)" "$codes"
}

check "$WORK/large.json"
check "$WORK/small.json"
load large "$WORK/large.json" 1 "$N1"
load large "$WORK/large.json" 50 "$N50"
load small "$WORK/small.json" 1 "$N1"
load small "$WORK/small.json" 50 "$N50"
