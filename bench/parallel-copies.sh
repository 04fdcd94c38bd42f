#!/usr/bin/env bash
# Parallel copy jobs: does a small promotion wait behind a big copy?
#
# A release `portcullis serve` promotes (request, one approval, then the timed last approval)
# a signed 10 MiB image alone, and then again — to another repository — while a 1 GiB copy
# runs (approved first; the script checks it is still `promoting` when the small one is
# done). Each figure is the last approval's POST until GET shows `promoted` (polled every
# 10 ms), median of BENCH_RUNS (default 3). Target: the small promotion under load finishes
# within 2x its time alone.
#
# Release build. Needs skopeo (to mount the images into fresh repositories), PostgreSQL at postgres://postgres@127.0.0.1:5432 (trust),
# /usr/bin/docker-registry, curl, jq, bc and python3. Never uses ports 5000-5003.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${BENCH_RUNS:-3}
PG=postgres://postgres@127.0.0.1:5432
WORK=$(mktemp -d /tmp/portcullis-parallel.XXXXXX)
DB=portcullis_parallel_$$
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/api.sh
source "$ROOT/bench/api.sh"


export COSIGN_PASSWORD=""
"$TESTKIT" keygen --out "$WORK/keys" >/dev/null
start_registry source
SRC=$REG
start_registry dest
DEST=$REG
SMALL=$("$TESTKIT" push-image --registry "$SRC" --repo bench/small --tag v1 --layers 2 --layer-size $((5 * 1024 * 1024)))
BIG=$("$TESTKIT" push-image --registry "$SRC" --repo bench/big --tag v1 --layers 1 --layer-size $((1024 * 1024 * 1024)))
for pair in "bench/small $SMALL" "bench/big $BIG"; do
    set -- $pair
    "$TESTKIT" sign --registry "$SRC" --repo "$1" --digest "$2" --key "$WORK/keys/cosign.key" >/dev/null
done
echo "images: $SRC/bench/small@$SMALL (2 x 5 MiB), $SRC/bench/big@$BIG (1 x 1 GiB)"

PORT=$(free_port)
CONFIG=$WORK/serve.yaml
{
    printf 'listen: 127.0.0.1:%s\ndatabase_url: %s\npolicy_dir: %s\n' "$PORT" "$PG/$DB" "$ROOT/policies"
    printf 'registries:\n  "%s": { insecure: true }\n  "%s": { insecure: true }\n' "$SRC" "$DEST"
    printf 'routes:\n  - { name: staging-to-prod, from: "%s/", to: "%s/" }\n' "$SRC" "$DEST"
    printf 'trust:\n  keys: [{ id: release-key, public_key_file: %s }]\n' "$WORK/keys/cosign.pub"
    gate_yaml
} >"$CONFIG"
serve_portcullis "$CONFIG" "$PORT"
CI=$(token --subject ci-pipeline --role ci)
ALICE=$(token --subject alice --role approver --group release-approvers)
BOB=$(token --subject bob --role approver --group release-approvers)

# fresh_repo BASE DIGEST NAME: the image also under SRC/NAME (mounted within the source
# registry, signed there), so its promotion goes to a fresh destination repository.
fresh_repo() {
    skopeo copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false \
        "docker://$SRC/$1@$2" "docker://$SRC/$3:v1" >/dev/null
    "$TESTKIT" sign --registry "$SRC" --repo "$3" --digest "$2" --key "$WORK/keys/cosign.key" >/dev/null
}

: >"$WORK/alone" >"$WORK/busy" >"$WORK/big"
for run in $(seq "$RUNS"); do
    for name in alone busy; do fresh_repo bench/small "$SMALL" "bench/small-$name-$run"; done
    fresh_repo bench/big "$BIG" "bench/big-$run"
    ID=$(request_promotion "$CI" "$SRC/bench/small-alone-$run@$SMALL" staging-to-prod v1)
    approve "$ALICE" "$ID"
    promote_timed "$ID" >>"$WORK/alone"

    BIG_ID=$(request_promotion "$CI" "$SRC/bench/big-$run@$BIG" staging-to-prod v1)
    ID=$(request_promotion "$CI" "$SRC/bench/small-busy-$run@$SMALL" staging-to-prod v1)
    approve "$ALICE" "$ID"
    approve "$ALICE" "$BIG_ID"
    t=$(seconds)
    approve "$BOB" "$BIG_ID"
    promote_timed "$ID" >>"$WORK/busy"
    big_state=$(promotion_state "$BIG_ID")
    [ "$big_state" = promoting ] || { echo "run $run: the 1 GiB copy was not running any more ($big_state)" >&2; exit 1; }
    wait_promoted "$BIG_ID"
    elapsed "$t" >>"$WORK/big"
    echo "run $run: 10 MiB alone $(sed -n "${run}p" "$WORK/alone")s; during the 1 GiB copy $(sed -n "${run}p" "$WORK/busy")s;" \
        "1 GiB copy $(sed -n "${run}p" "$WORK/big")s"
done
A=$(median <"$WORK/alone"); B=$(median <"$WORK/busy")
echo "median of $RUNS: 10 MiB promotion alone ${A}s, while a 1 GiB copy runs ${B}s: $(echo "scale=2; $B / $A" | bc)x (target <= 2x)"
