-- The id of the HTTP request that wrote an audit event (`x-request-id`), so an event can be
-- found in the server log and the problem+json answer of the same request. Null for events
-- written outside a request (the copy worker, the checkpoint witness, the CLI) and for every
-- event written before this migration. When present it is part of the record the event's
-- keyed hash covers (record version 2); events without one keep their version-1 record, so
-- existing chains verify unchanged.
ALTER TABLE audit_events ADD COLUMN request_id text
    CHECK (request_id IS NULL OR request_id ~ '^[A-Za-z0-9._-]{1,64}$');
CREATE INDEX audit_events_request_id ON audit_events (request_id) WHERE request_id IS NOT NULL;
