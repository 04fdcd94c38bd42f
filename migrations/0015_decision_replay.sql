-- Decision replay (issue 12). Every judgement of a promotion is a decision: its exact input
-- document (the JSON text its input_hash is the SHA-256 of), the policy bundle that judged
-- it, the time time.now_ns() answered, the verdict, and the gate's signed evaluation record
-- that binds all of them. A re-judgement (waiver change, policy reload) is a new decision.

-- Policy bundles, content addressed by their digest (PolicyBundle's): stored once, at start
-- and on every reload, as {file name: content} of the served files.
CREATE TABLE policy_bundles (
    digest      text PRIMARY KEY,
    files       jsonb NOT NULL CHECK (jsonb_typeof(files) = 'object'),
    stored_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE decisions (
    id              uuid PRIMARY KEY,
    promotion_id    uuid NOT NULL REFERENCES promotions (id),
    at              timestamptz NOT NULL DEFAULT now(),
    policy_digest   text NOT NULL,
    decision        jsonb NOT NULL,
    -- NULL for the decisions recorded before this migration: they cannot be replayed.
    input           text,
    input_hash      text,
    now_ns          bigint,
    envelope        jsonb,
    CHECK ((input IS NULL) = (input_hash IS NULL)),
    CHECK ((input IS NULL) = (now_ns IS NULL)),
    CHECK ((input IS NULL) = (envelope IS NULL))
);
CREATE INDEX decisions_promotion ON decisions (promotion_id, at);
CREATE INDEX decisions_recent ON decisions (at DESC, id DESC);

-- The decisions already made: listed (a simulation counts them as skipped), not replayable.
INSERT INTO decisions (id, promotion_id, at, policy_digest, decision)
SELECT gen_random_uuid(), id, created_at, policy_digest, decision FROM promotions;
