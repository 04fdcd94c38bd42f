-- Break-glass: a role that may promote despite a deny or missing approvals, and the review
-- items such a promotion opens for an auditor to acknowledge.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('ci', 'approver', 'auditor', 'admin', 'break-glass'));

CREATE TABLE reviews (
    id               uuid PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('break_glass')),
    promotion_id     uuid NOT NULL REFERENCES promotions (id),
    opened_by        text NOT NULL CHECK (length(opened_by) BETWEEN 1 AND 400),
    justification    text NOT NULL CHECK (length(justification) BETWEEN 1 AND 2000),
    opened_at        timestamptz NOT NULL DEFAULT now(),
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged')),
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    note             text CHECK (length(note) <= 2000),
    CHECK ((state = 'open') = (acknowledged_by IS NULL AND acknowledged_at IS NULL))
);

-- One break-glass per promotion.
CREATE UNIQUE INDEX reviews_one_break_glass ON reviews (promotion_id) WHERE kind = 'break_glass';
CREATE INDEX reviews_open ON reviews (opened_at) WHERE state = 'open';
