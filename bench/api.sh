# API helpers of the bench scripts that promote through `portcullis serve` (sourced after
# lib.sh). The caller sets CONFIG (the server's config file) and PORT.

seconds() { date +%s.%N; }
elapsed() { echo "$(seconds) - $1" | bc; }

# token ARGS...: a token made with `portcullis token create`.
token() { RUST_LOG=warn "$PORTCULLIS" --config "$CONFIG" token create "$@"; }

# api TOKEN CURL_ARGS...: an authenticated JSON request to the server.
api() { curl -sf -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "${@:2}"; }

# request_promotion TOKEN SOURCE ROUTE TAG: requests a promotion; prints its id.
request_promotion() {
    local body
    body=$(jq -nc --arg src "$2" --arg route "$3" --arg tag "$4" '{source: $src, route: $route, tag: $tag,
        evidence: [{format: "trivy-json", document: {SchemaVersion: 2, ArtifactName: "bench", Results: []}}]}')
    api "$1" -X POST --data "$body" "http://127.0.0.1:$PORT/v1/promotions" | jq -r .id
}

# approve TOKEN ID: one approval, on the evidence the promotion's GET shows.
approve() {
    local hash
    hash=$(api "$1" "http://127.0.0.1:$PORT/v1/promotions/$2" | jq -r .evidence_hash)
    api "$1" -X POST --data "{\"verdict\": \"approve\", \"comment\": \"bench\", \"evidence_hash\": \"$hash\"}" \
        "http://127.0.0.1:$PORT/v1/promotions/$2/approvals" >/dev/null
}

# promotion_state ID: the promotion's state.
promotion_state() { api "$CI" "http://127.0.0.1:$PORT/v1/promotions/$1" | jq -r .state; }

# wait_promoted ID: polls every 10 ms until the promotion leaves `promoting`; fails unless
# it is `promoted`.
wait_promoted() {
    local state
    while state=$(promotion_state "$1") && [ "$state" = promoting ]; do sleep 0.01; done
    [ "$state" = promoted ] || { echo "promotion $1 ended $state" >&2; return 1; }
}

# promote_timed ID: the last approval's POST (Bob; Alice approved before) until the promotion
# shows `promoted`, in seconds, timed by one process on one keep-alive connection waiting
# with the long-poll GET (`?wait_seconds=&state=promoting`, as a CI job waits), or, with
# BENCH_POLL_MS set, polling every BENCH_POLL_MS ms (approve-and-wait.py). Sets SERVER_SECS to the same span ending at the
# promotion's own updated_at (when the copier wrote `promoted`; no polling granularity) and
# APPROVE_SECS to how long the approval's POST itself took.
promote_timed() {
    local out rest
    out=$(POLL_MS=${BENCH_POLL_MS:-} python3 "$ROOT/bench/approve-and-wait.py" "$PORT" "$1" "$BOB" "$CI")
    rest=${out#* }
    SERVER_SECS=${rest%% *}
    APPROVE_SECS=${rest#* }
    echo "${out%% *}"
}
