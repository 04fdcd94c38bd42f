#!/usr/bin/env bash
# The no-op re-promotion alone, many times: the quick loop for the `<= 0.3x skopeo` target of
# bench/copy-vs-skopeo.sh (which times it only BENCH_RUNS times, beside full copies).
#
# A signed 5-layer image (BENCH_LAYER_KIB KiB per layer, default 1024) is promoted once
# through the API of a release `portcullis serve` (request, two approvals), then promoted
# again BENCH_RUNS times (default 15) to the same repository and tag: everything is already
# there, so each copy writes nothing. Each is timed from the last approval's POST until GET
# shows `promoted` (bench/approve-and-wait.py, long-poll GET), and the same span to the
# promotion's updated_at and the approval POST's own time are printed too. Between them,
# `skopeo copy` re-copies the same image to its own registry (a no-op as well), so both
# are measured under the same load. Prints the medians, the ratio and the server's CPU per
# re-promotion. COPY_ATTEST=false turns the promotion attestation off.
#
# Needs PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust), /usr/bin/docker-registry,
# curl, jq, bc; installs skopeo with apt-get if missing. Never uses ports 5000-5003.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${BENCH_RUNS:-15}
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
DB=portcullis_bench_$$
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/api.sh
source "$ROOT/bench/api.sh"
need_skopeo
# The route, registries and server of bench/lib.sh; the image timed is a 5-layer one, signed.
EXTRA_YAML=$(printf 'copy:\n  attest: %s' "${COPY_ATTEST:-true}")
serve_signed_route
SERVER=$SERVE_PID
CONFIG=$WORK/serve.yaml
start_registry skopeo
SKOPEO=$REG
DIGEST=$("$TESTKIT" push-image --registry "$SRC" --repo bench/app --tag v1 --layers 5 \
    --layer-size $((${BENCH_LAYER_KIB:-1024} * 1024)))
"$TESTKIT" sign --registry "$SRC" --repo bench/app --digest "$DIGEST" --key "$WORK/keys/cosign.key" >/dev/null
CI=$(token --subject ci-pipeline --role ci)
ALICE=$(token --subject alice --role approver --group release-approvers)
BOB=$(token --subject bob --role approver --group release-approvers)
sk() {
    skopeo copy -q --all --src-tls-verify=false --dest-tls-verify=false \
        "docker://$SRC/bench/app@$DIGEST" "docker://$SKOPEO/bench/app:v1" >/dev/null
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER/stat"; }

promote_once() {
    local id
    id=$(request_promotion "$CI" "$SRC/bench/app@$DIGEST" staging-to-prod v1)
    approve "$ALICE" "$id"
    promote_timed "$id"
}
echo "image: $SRC/bench/app@$DIGEST (5 layers); first promotion $(promote_once)s; skopeo's first copy done"
sk
: >"$WORK/e2e" >"$WORK/server" >"$WORK/approve" >"$WORK/skopeo-secs" >"$WORK/cpu"
for run in $(seq "$RUNS"); do
    id=$(request_promotion "$CI" "$SRC/bench/app@$DIGEST" staging-to-prod v1)
    approve "$ALICE" "$id"
    before=$(cpu_ticks)
    promote_timed "$id" >>"$WORK/e2e"
    echo "$(( $(cpu_ticks) - before ))" >>"$WORK/cpu"
    echo "$SERVER_SECS" >>"$WORK/server"
    echo "$APPROVE_SECS" >>"$WORK/approve"
    t=$(seconds)
    sk
    elapsed "$t" >>"$WORK/skopeo-secs"
    echo "run $run: portcullis $(sed -n "${run}p" "$WORK/e2e")s (to updated_at $SERVER_SECS s, approval POST $APPROVE_SECS s); skopeo $(sed -n "${run}p" "$WORK/skopeo-secs")s"
done
TICK_MS=$(echo "scale=3; 1000 / $(getconf CLK_TCK)" | bc)
E=$(median <"$WORK/e2e"); S=$(median <"$WORK/skopeo-secs"); U=$(median <"$WORK/server"); A=$(median <"$WORK/approve")
CPU=$(awk -v t="$TICK_MS" '{ s += $1 } END { printf "%.1f", s * t / NR }' "$WORK/cpu")
echo "median of $RUNS no-op re-promotions (attest ${COPY_ATTEST:-true}): portcullis ${E}s, skopeo ${S}s, ratio $(ratio "$E" "$S") (target <= 0.3)"
echo "  to updated_at ${U}s (ratio $(ratio "$U" "$S")); the approval POST itself ${A}s; server CPU ${CPU} ms per re-promotion (from the approval on)"
