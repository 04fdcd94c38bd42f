#!/usr/bin/env bash
# The test command: every crate's unit and integration tests plus the end-to-end suite
# (real Postgres on 127.0.0.1:5432, real docker-registry processes on loopback), then the
# default policy bundle's own Rego tests through the CLI.
# Prerequisites (scripts/prereqs.sh installs them): docker-registry and htpasswd on PATH,
# PostgreSQL reachable at 127.0.0.1:5432 as user postgres with trust auth.
set -euo pipefail
cd "$(dirname "$0")/.."
"$(dirname "$0")/prereqs.sh"
cargo test --workspace --all-targets
# The binary the test build just made (a `cargo run -p` would resolve features anew and
# rebuild half the tree): the default bundle's Rego tests, one line each.
"${CARGO_TARGET_DIR:-target}/debug/portcullis" policy test policies
