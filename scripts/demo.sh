#!/usr/bin/env bash
# One promotion end to end on this machine: two local registries (staging, production),
# the database, `portcullis serve`, a signed multi-layer image in staging, a CI request with
# a Trivy report, two approvals, the copy, the digest checked in production, the audit trail.
# Exits non-zero if any step fails. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STAGING_PORT=${STAGING_PORT:-15001}
PROD_PORT=${PROD_PORT:-15002}
API_PORT=${API_PORT:-18080}
DB_URL=${DEMO_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portcullis_demo}
WORK="$ROOT/.demo"
STAGING="127.0.0.1:$STAGING_PORT"
PROD="127.0.0.1:$PROD_PORT"
API="http://127.0.0.1:$API_PORT"
PIDS=()

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\033[31mFAILED: %s\033[0m\n' "$*" >&2; exit 1; }
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
api() { # api METHOD PATH TOKEN [BODY-FILE]
  local args=(-sS -o "$WORK/resp.json" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3")
  [ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "@$4")
  curl "${args[@]}" "$API$2"
}

step "1. prerequisites (docker-registry, PostgreSQL)"
scripts/prereqs.sh
rm -rf "$WORK"; mkdir -p "$WORK/keys"

step "2. two local registries: staging $STAGING, production $PROD"
for port in "$STAGING_PORT" "$PROD_PORT"; do
  mkdir -p "$WORK/registry-$port"
  cat > "$WORK/registry-$port.yml" <<YAML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $WORK/registry-$port }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$port }
YAML
  docker-registry serve "$WORK/registry-$port.yml" >"$WORK/registry-$port.log" 2>&1 &
  PIDS+=($!)
done
for port in "$STAGING_PORT" "$PROD_PORT"; do
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.2; done
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null || fail "registry on $port did not start (see $WORK/registry-$port.log)"
done
echo "registries answer /v2/"

step "3. build portcullis and the image/signing kit"
cargo build --quiet -p portcullis-server -p portcullis-testkit
BIN="$ROOT/target/debug"

step "4. cosign key pair, config, fresh database, migrations, tokens"
COSIGN_PASSWORD=demo "$BIN/portcullis-testkit" keygen --out "$WORK/keys"
"$BIN/portcullis" keys generate --out "$WORK/keys/gate.key" >/dev/null
cat > "$WORK/portcullis.yaml" <<YAML
listen: 127.0.0.1:$API_PORT
database_url: $DB_URL
policy_dir: $ROOT/policies
registries:
  "$STAGING": { insecure: true }
  "$PROD": { insecure: true }
routes:
  - { name: staging-to-prod, from: "$STAGING/", to: "$PROD/" }
trust:
  keys: [{ id: release-key, public_key_file: keys/cosign.pub }]
gate:
  signing_key_file: keys/gate.key
audit:
  checkpoint_dir: witness
YAML
export PORTCULLIS_CONFIG="$WORK/portcullis.yaml"
DB_NAME=${DB_URL##*/}
psql -q "${DB_URL%/*}/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
"$BIN/portcullis" migrate
CI=$("$BIN/portcullis" token create --subject ci-pipeline --role ci)
ALICE=$("$BIN/portcullis" token create --subject alice --role approver --group release-approvers)
BOB=$("$BIN/portcullis" token create --subject bob --role approver --group release-approvers)
AUDITOR=$("$BIN/portcullis" token create --subject audrey --role auditor)
echo "tokens created for ci-pipeline, alice, bob (release-approvers), audrey (auditor)"

step "5. portcullis serve on $API"
RUST_LOG=${RUST_LOG:-info,sqlx=warn} "$BIN/portcullis" serve >"$WORK/portcullis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do curl -fs "$API/readyz" >/dev/null && break; sleep 0.2; done
curl -fs "$API/readyz" || fail "portcullis did not become ready (see $WORK/portcullis.log)"
echo

step "6. build a 4-layer image, push it to staging, sign it (cosign format)"
DIGEST=$("$BIN/portcullis-testkit" push-image --registry "$STAGING" --repo demo/app --tag 1.0.0 --layers 4 --layer-size 262144)
echo "pushed $STAGING/demo/app:1.0.0 = $DIGEST"
COSIGN_PASSWORD=demo "$BIN/portcullis-testkit" sign --registry "$STAGING" --repo demo/app --digest "$DIGEST" --key "$WORK/keys/cosign.key"
echo "signed: $STAGING/demo/app:$(echo "$DIGEST" | tr ':' '-').sig"

step "7. CI requests the promotion (by tag, with a Trivy report)"
python3 - "$STAGING" "$ROOT/crates/portcullis-evidence/tests/fixtures/trivy-vuln-alpine-310.json" >"$WORK/request.json" <<'PY'
import json, sys
print(json.dumps({"source": f"{sys.argv[1]}/demo/app:1.0.0", "route": "staging-to-prod", "tag": "1.0.0",
                  "evidence": [{"format": "trivy-json", "document": json.load(open(sys.argv[2]))}]}))
PY
code=$(api POST /v1/promotions "$CI" "$WORK/request.json")
[ "$code" = 201 ] || fail "request answered $code: $(cat "$WORK/resp.json")"
ID=$(json 'd["id"]' <"$WORK/resp.json")
echo "promotion $ID: state=$(json 'd["state"]' <"$WORK/resp.json") digest=$(json 'd["digest"]' <"$WORK/resp.json")"
echo "policy: allow=$(json 'd["decision"]["allow"]' <"$WORK/resp.json") violations=$(json 'd["decision"]["violations"]' <"$WORK/resp.json") needs=$(json 'd["decision"]["required_approvals"]' <"$WORK/resp.json")"
echo "warnings: $(json 'd["decision"]["warnings"]' <"$WORK/resp.json")"
[ "$(json 'd["state"]' <"$WORK/resp.json")" = pending_approval ] || fail "expected pending_approval"
[ "$(json 'd["digest"]' <"$WORK/resp.json")" = "$DIGEST" ] || fail "the tag did not resolve to the pushed digest"

step "8. two approvals (alice, bob)"
echo '{"verdict": "approve", "comment": "release notes reviewed"}' >"$WORK/vote.json"
for who in ALICE BOB; do
  code=$(api POST "/v1/promotions/$ID/approvals" "${!who}" "$WORK/vote.json")
  [ "$code" = 200 ] || fail "$who's approval answered $code: $(cat "$WORK/resp.json")"
  echo "$who approved -> state=$(json 'd["state"]' <"$WORK/resp.json")"
done

step "9. copy to production"
state=promoting
for _ in $(seq 1 150); do
  api GET "/v1/promotions/$ID" "$AUDITOR" >/dev/null
  state=$(json 'd["state"]' <"$WORK/resp.json")
  [ "$state" != promoting ] && break
  sleep 0.2
done
[ "$state" = promoted ] || fail "promotion ended $state: $(json 'd.get("error")' <"$WORK/resp.json")"
echo "promoted: $(json 'd["copy"]' <"$WORK/resp.json")"

step "10. the image is in production with the same digest, signature included"
PROD_DIGEST=$(curl -fsI -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$PROD/v2/demo/app/manifests/1.0.0" \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')
echo "staging    $STAGING/demo/app:1.0.0 = $DIGEST"
echo "production $PROD/demo/app:1.0.0 = $PROD_DIGEST"
[ "$PROD_DIGEST" = "$DIGEST" ] || fail "digest differs in production"
SIG_TAG="$(echo "$DIGEST" | tr ':' '-').sig"
curl -fsI "http://$PROD/v2/demo/app/manifests/$SIG_TAG" -H 'Accept: application/vnd.oci.image.manifest.v1+json' >/dev/null \
  || fail "signature $SIG_TAG missing in production"
echo "signature  $PROD/demo/app:$SIG_TAG present"
if command -v skopeo >/dev/null; then
  skopeo inspect --tls-verify=false "docker://$PROD/demo/app:1.0.0" | python3 -c \
    'import json,sys; d=json.load(sys.stdin); print("skopeo sees", d["Digest"], len(d["Layers"]), "layers")'
fi

step "11. audit trail (oldest first)"
code=$(api GET "/v1/audit?digest=$DIGEST" "$AUDITOR")
[ "$code" = 200 ] || fail "audit answered $code"
python3 - "$WORK/resp.json" <<'PY'
import json, sys
for e in reversed(json.load(open(sys.argv[1]))["events"]):
    print(f'{e["seq"]:>3}  {e["at"]}  {e["actor"]:<12} {e["action"]:<13} {e["hash"][:19]}…')
PY
step "12. verify the audit hash chain"
"$BIN/portcullis" audit verify || fail "audit chain does not verify"

printf '\n\033[32mDemo passed: %s promoted to %s/demo/app:1.0.0\033[0m\n' "$DIGEST" "$PROD"
