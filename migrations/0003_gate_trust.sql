-- The gate's own key (issue #8): rows alone prove nothing.
-- * Audit events are keyed: `hash` is an HMAC-SHA256 under a key derived from the gate key,
--   named by `key_id`. Rows written before this migration keep their unkeyed SHA-256 hash
--   and no key_id; they are accepted only as a prefix of the chain.
-- * Evaluations and votes carry the gate's signature (DSSE envelopes); a promotion that
--   becomes `promoting` carries a signed decision statement, which the copier checks.
-- * Tokens expire, and subjects are one identity whatever their case.
ALTER TABLE audit_events ADD COLUMN key_id text;

ALTER TABLE promotions ADD COLUMN evaluation_envelope jsonb;
ALTER TABLE promotions ADD COLUMN statement_envelope jsonb;

ALTER TABLE approvals ADD COLUMN envelope jsonb;

ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
UPDATE api_tokens SET subject = lower(btrim(subject));
CREATE INDEX api_tokens_subject ON api_tokens (subject);

-- Finding whether a decision statement was already spent by a finished copy.
CREATE INDEX audit_events_statement ON audit_events ((details ->> 'statement_digest'))
    WHERE action = 'promoted';
