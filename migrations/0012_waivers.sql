-- Waivers: governed exceptions to the policy. An approver creates one (pending); it applies
-- only once a second approver confirms it (active), until it is revoked or expires. The
-- sweep marks a pending or active waiver whose expires_at passed as expired; evaluation
-- also excludes such waivers by time, before the sweep runs.
CREATE TABLE waivers (
    id                       uuid PRIMARY KEY,
    kind                     text NOT NULL CHECK (kind IN ('vulnerability', 'licence')),
    match                    text NOT NULL CHECK (length(match) BETWEEN 1 AND 128),
    scope_repository_prefix  text CHECK (length(scope_repository_prefix) BETWEEN 1 AND 255),
    scope_digest             text,
    expires_at               timestamptz NOT NULL,
    justification            text NOT NULL CHECK (length(justification) BETWEEN 1 AND 2000),
    state                    text NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'active', 'revoked', 'expired')),
    created_by               text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 400),
    created_at               timestamptz NOT NULL DEFAULT now(),
    confirmed_by             text,
    confirmed_at             timestamptz,
    revoked_by               text,
    revoked_at               timestamptz,
    revoke_reason            text CHECK (length(revoke_reason) <= 2000),
    expired_at               timestamptz,
    -- Exactly one scope.
    CHECK ((scope_repository_prefix IS NULL) <> (scope_digest IS NULL)),
    CHECK ((state = 'active') <= (confirmed_by IS NOT NULL)),
    CHECK ((state = 'revoked') = (revoked_by IS NOT NULL))
);

-- What can still apply or still needs expiring.
CREATE INDEX waivers_live ON waivers (expires_at) WHERE state IN ('pending', 'active');
CREATE INDEX waivers_created ON waivers (created_at, id);
