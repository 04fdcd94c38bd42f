#!/usr/bin/env python3
"""Times one promotion through the API: the last approval's POST until GET shows it left
`promoting`, on one keep-alive connection, waiting with the long-poll
`GET /v1/promotions/{id}?wait_seconds=20&state=promoting` (answered as soon as the state moves
on, as a CI job waits); with POLL_MS set, polling every POLL_MS ms instead.

Usage: approve-and-wait.py PORT PROMOTION_ID APPROVER_TOKEN READER_TOKEN
Prints `<seconds to promoted> <seconds to the promotion's updated_at> <seconds the approval's
POST took>`; exits 1 unless the
promotion ends `promoted`. One process with one connection replaces a curl + jq pair per
poll, which cost more CPU than the copy's own bookkeeping on a 2-CPU machine.
"""
import http.client
import json
import os
import sys
import time
from datetime import datetime


def main() -> int:
    port, promotion, approver, reader = sys.argv[1:5]
    poll_ms = os.environ.get("POLL_MS")
    poll = float(poll_ms) / 1000 if poll_ms else None
    conn = http.client.HTTPConnection("127.0.0.1", int(port))
    path = f"/v1/promotions/{promotion}"

    def call(method, url, token, body=None):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, url, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            sys.exit(f"{method} {url}: {response.status} {data[:300]!r}")
        return json.loads(data)

    # The vote names the evidence the promotion's GET shows, where the API asks for it; read
    # before the clock starts (the span begins at the approval's POST).
    vote = {"verdict": "approve", "comment": "bench"}
    shown = call("GET", path, approver).get("evidence_hash")
    if shown is not None:
        vote["evidence_hash"] = shown
    vote = json.dumps(vote)
    started = time.time()
    promotion_view = call("POST", f"{path}/approvals", approver, vote)
    approved = time.time()
    while promotion_view["state"] == "promoting":
        if poll is None:
            promotion_view = call("GET", f"{path}?wait_seconds=20&state=promoting", reader)
        else:
            time.sleep(poll)
            promotion_view = call("GET", path, reader)
    finished = time.time()
    if promotion_view["state"] != "promoted":
        print(f"promotion {promotion} ended {promotion_view['state']}", file=sys.stderr)
        return 1
    updated = datetime.fromisoformat(promotion_view["updated_at"].replace("Z", "+00:00"))
    print(
        f"{finished - started:.4f} {updated.timestamp() - started:.4f} {approved - started:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
