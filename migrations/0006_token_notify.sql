-- Every change to a token row (a revocation above all, or a new expiry) and every delete
-- tells the replicas' token caches to forget it: NOTIFY portcullis_tokens with the token id,
-- or '*' when the table is truncated. Notifications are sent when the transaction commits.
CREATE FUNCTION api_tokens_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portcullis_tokens', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE FUNCTION api_tokens_notify_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portcullis_tokens', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_tokens_changed AFTER UPDATE OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_notify_row();
CREATE TRIGGER api_tokens_truncated AFTER TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION api_tokens_notify_all();
