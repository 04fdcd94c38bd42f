#!/usr/bin/env bash
# Installs and starts what the tests and the demo need on a Debian machine: Debian's
# docker-registry (CNCF distribution), apache2-utils (htpasswd for the basic-auth registry
# tests), skopeo (benchmarks), psql (the CLI tests read the audit log), chromium and
# chromium-driver (the web page's browser tests, tests/e2e/ui.rs), and makes sure PostgreSQL
# answers on 127.0.0.1:5432.
set -euo pipefail
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "prereqs: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "prereqs: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "prereqs: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi

# Sigstore's own JavaScript bundle verifier, which the promotion attestation tests run as
# code independent of the gate's, and axe-core, which the web page's tests inject into each
# key page (tests/interop; versions pinned by its package-lock.json).
interop="$(dirname "$0")/../tests/interop/node_modules"
if [ ! -d "$interop/@sigstore/verify" ] || [ ! -f "$interop/axe-core/axe.min.js" ]; then
  command -v npm >/dev/null 2>&1 || { echo "prereqs: node and npm are needed (tests/interop)" >&2; exit 1; }
  echo "prereqs: installing tests/interop (npm ci)"
  npm ci --prefix "$(dirname "$0")/../tests/interop" --no-audit --no-fund --loglevel=error >/dev/null
fi
