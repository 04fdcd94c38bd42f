-- Portcullis initial schema: tokens, promotions, approvals and the append-only audit log.

CREATE TABLE api_tokens (
    id          uuid PRIMARY KEY,
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('ci', 'approver', 'auditor', 'admin')),
    groups      text[] NOT NULL DEFAULT '{}',
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE promotions (
    id             uuid PRIMARY KEY,
    state          text NOT NULL CHECK (state IN ('denied', 'pending_approval', 'rejected', 'promoting', 'promoted', 'failed')),
    source         text NOT NULL,
    digest         text NOT NULL,
    route          text NOT NULL,
    destination    text NOT NULL,
    tag            text,
    requested_by   text NOT NULL,
    decision       jsonb NOT NULL,
    evidence       jsonb NOT NULL,
    policy_digest  text NOT NULL,
    error          text,
    copy_report    jsonb,
    attempts       integer NOT NULL DEFAULT 0,
    lease_until    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- At most one open promotion per digest and route: a repeated request returns it.
CREATE UNIQUE INDEX promotions_one_open
    ON promotions (digest, route)
    WHERE state IN ('pending_approval', 'promoting');
CREATE INDEX promotions_state ON promotions (state, updated_at);

CREATE TABLE approvals (
    promotion_id  uuid NOT NULL REFERENCES promotions (id),
    approver      text NOT NULL,
    verdict       text NOT NULL CHECK (verdict IN ('approve', 'reject')),
    comment       text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (promotion_id, approver)
);

CREATE TABLE audit_events (
    seq           bigint PRIMARY KEY,
    at            timestamptz NOT NULL,
    actor         text NOT NULL,
    action        text NOT NULL,
    promotion_id  uuid,
    digest        text,
    details       jsonb NOT NULL,
    prev_hash     text NOT NULL,
    hash          text NOT NULL
);
CREATE INDEX audit_events_digest ON audit_events (digest, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);

-- The audit log is append-only: any UPDATE, DELETE or TRUNCATE is refused.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
