-- Webhooks (issue 13): what subscribers are told is written to an outbox by triggers, in
-- the transaction that made the change, so an event is never sent for a change that rolled
-- back and never lost for one that committed. The dispatcher fans each event out to the
-- subscribers configured for its type (one delivery row each) and delivers with retries.
CREATE TABLE webhook_outbox (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    type          text NOT NULL,
    promotion_id  uuid,
    data          jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    fanned_out    boolean NOT NULL DEFAULT false
);
CREATE INDEX webhook_outbox_unfanned ON webhook_outbox (created_at) WHERE NOT fanned_out;

CREATE TABLE webhook_deliveries (
    event_id         uuid NOT NULL REFERENCES webhook_outbox (id),
    subscriber       text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, subscriber)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, created_at);

-- A promotion's changes: `requested` when it is written, then one event per state it
-- enters; entering `promoting` from a request or from approval is `approved` (a retry of a
-- failed copy and a break-glass are not approvals: the break-glass has its own event).
CREATE FUNCTION portcullis_webhook_promotion() RETURNS trigger AS $$
DECLARE
    body jsonb := jsonb_build_object(
        'promotion_id', NEW.id, 'kind', NEW.kind, 'state', NEW.state, 'digest', NEW.digest,
        'source', NEW.source, 'destination', NEW.destination, 'tag', NEW.tag,
        'route', NEW.route, 'requested_by', NEW.requested_by, 'error', NEW.error);
    kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO webhook_outbox (type, promotion_id, data) VALUES ('requested', NEW.id, body);
    END IF;
    kind := CASE
        WHEN NEW.state = 'promoting' AND (TG_OP = 'INSERT' OR OLD.state = 'pending_approval') THEN 'approved'
        WHEN NEW.state IN ('pending_approval', 'rejected', 'denied', 'expired', 'promoted', 'failed') THEN NEW.state
        ELSE NULL
    END;
    IF kind IS NOT NULL THEN
        INSERT INTO webhook_outbox (type, promotion_id, data) VALUES (kind, NEW.id, body);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER promotions_webhook_insert
    AFTER INSERT ON promotions
    FOR EACH ROW EXECUTE FUNCTION portcullis_webhook_promotion();
CREATE TRIGGER promotions_webhook_state
    AFTER UPDATE OF state ON promotions
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION portcullis_webhook_promotion();

-- A break-glass and an integrity violation, from the audit event that records them.
CREATE FUNCTION portcullis_webhook_audit() RETURNS trigger AS $$
BEGIN
    INSERT INTO webhook_outbox (type, promotion_id, data) VALUES (
        NEW.action, NEW.promotion_id,
        jsonb_build_object('promotion_id', NEW.promotion_id, 'digest', NEW.digest,
                           'actor', NEW.actor, 'details', NEW.details, 'audit_seq', NEW.seq));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_webhook
    AFTER INSERT ON audit_events
    FOR EACH ROW WHEN (NEW.action IN ('break_glass', 'integrity_violation'))
    EXECUTE FUNCTION portcullis_webhook_audit();
