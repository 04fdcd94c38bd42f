#!/usr/bin/env sh
# Policy evaluation latency (p50/p99/max, evaluations/s) of the interpreter baseline and the
# compiled RVM path, in release mode, over whatever bundle is in policies/.
# Overrides: PORTCULLIS_POLICY_DIR, BENCH_ITERATIONS, BENCH_VULNS, BENCH_COMPONENTS.
set -eu
cd "$(dirname "$0")/.."
exec cargo bench -p portcullis-policy --bench eval "$@"
