-- Admission (issue 12): the `admission` role for the Kubernetes webhook's credentials, the
-- withdrawal of a promotion, and the runtime reports the drift report reads.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('ci', 'approver', 'auditor', 'admin', 'break-glass', 'admission'));

-- A withdrawn promotion: at most one withdrawal each, signed by the gate (`envelope`).
CREATE TABLE promotion_withdrawals (
    promotion_id  uuid PRIMARY KEY REFERENCES promotions (id),
    destination   text NOT NULL,
    digest        text NOT NULL,
    withdrawn_at  timestamptz NOT NULL,
    withdrawn_by  text NOT NULL CHECK (length(withdrawn_by) BETWEEN 1 AND 400),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    envelope      jsonb NOT NULL
);
CREATE INDEX promotion_withdrawals_image ON promotion_withdrawals (destination, digest);

-- Admission looks promotions up by destination and digest (any route, any kind).
CREATE INDEX promotions_admitted ON promotions (destination, digest) WHERE state = 'promoted';

-- A withdrawal (or its removal) reaches every replica's admission cache at once, on the
-- channel state changes already use.
CREATE FUNCTION portcullis_notify_withdrawal() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_promotion_states',
                      COALESCE(NEW.promotion_id, OLD.promotion_id)::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER promotion_withdrawals_notify
    AFTER INSERT OR UPDATE OR DELETE ON promotion_withdrawals
    FOR EACH ROW EXECUTE FUNCTION portcullis_notify_withdrawal();

-- What runs where, as reported by clusters: one row per image of a workload; a report
-- replaces the workload's whole set.
CREATE TABLE runtime_reports (
    cluster      text NOT NULL CHECK (length(cluster) BETWEEN 1 AND 253),
    namespace    text NOT NULL CHECK (length(namespace) BETWEEN 1 AND 253),
    workload     text NOT NULL CHECK (length(workload) BETWEEN 1 AND 253),
    image        text NOT NULL CHECK (length(image) BETWEEN 1 AND 600),
    digest       text NOT NULL,
    reported_at  timestamptz NOT NULL,
    reported_by  text NOT NULL,
    PRIMARY KEY (cluster, namespace, workload, image)
);
