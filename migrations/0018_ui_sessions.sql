-- The approver web page (/ui, issue 13): server-side sessions and OIDC sign-ins in flight.
--
-- A session is a random secret in an HttpOnly cookie; only its keyed hash (the gate key's
-- token MAC) is stored, so a row inserted by hand or a leaked table opens no session. The
-- identity is copied from what signed in (a static token, or a verified OIDC ID token);
-- a static token's hash is kept so the session ends when the token is revoked or expires.
-- `last_seen_at` is when the session was last used (refreshed at most once a minute), for
-- the idle timeout (`ui.idle_timeout`).
CREATE TABLE ui_sessions (
    id_hash      bytea PRIMARY KEY,
    subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 400),
    issuer       text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 400),
    roles        text[] NOT NULL,
    scoped       jsonb NOT NULL DEFAULT '[]',
    groups       text[] NOT NULL,
    token_hash   bytea,
    csrf_token   text NOT NULL CHECK (length(csrf_token) BETWEEN 32 AND 128),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
CREATE INDEX ui_sessions_idle ON ui_sessions (last_seen_at);
-- Finding (and ending) one person's sessions.
CREATE INDEX ui_sessions_subject ON ui_sessions (subject);

-- An OIDC authorization-code sign-in between the redirect to the provider and its return:
-- the PKCE verifier and the nonce stay here, keyed by the hash of the `state` sent along,
-- and are taken (deleted) once. Short-lived.
CREATE TABLE ui_oidc_logins (
    state_hash   bytea PRIMARY KEY,
    browser_hash bytea NOT NULL,
    verifier     text NOT NULL CHECK (length(verifier) BETWEEN 43 AND 128),
    nonce        text NOT NULL CHECK (length(nonce) BETWEEN 16 AND 128),
    redirect_uri text NOT NULL CHECK (length(redirect_uri) BETWEEN 1 AND 2000),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX ui_oidc_logins_expiry ON ui_oidc_logins (expires_at);
