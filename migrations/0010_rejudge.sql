-- Each vote records the evidence hash it was cast on (shown with the vote).
ALTER TABLE approvals ADD COLUMN evidence_hash text;

-- A policy change no longer closes a pending promotion: it is judged again, and the votes
-- cast under the old judgement are voided (kept here, with why and when) rather than counted.
ALTER TABLE promotions ADD COLUMN approvals_voided jsonb;

CREATE TABLE voided_approvals (
    promotion_id  uuid NOT NULL REFERENCES promotions (id),
    approver      text NOT NULL,
    verdict       text NOT NULL,
    comment       text NOT NULL,
    at            timestamptz NOT NULL,
    envelope      jsonb,
    evidence_hash text,
    voided_at     timestamptz NOT NULL,
    reason        text NOT NULL
);
CREATE INDEX voided_approvals_promotion ON voided_approvals (promotion_id);
