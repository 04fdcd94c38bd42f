-- Refused requests (401/403/429), kept outside the hash-chained audit log: one row per
-- minute, client (peer IP) and reason with a count and a few truncated samples, written in
-- batches and pruned after the configured retention. A flood adds rows per client-minute,
-- not per request.
CREATE TABLE auth_failures (
    minute   timestamptz NOT NULL,
    client   text NOT NULL CHECK (length(client) <= 64),
    reason   text NOT NULL CHECK (length(reason) <= 64),
    count    bigint NOT NULL CHECK (count > 0),
    samples  jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (minute, client, reason)
);
CREATE INDEX auth_failures_client ON auth_failures (client, minute);
