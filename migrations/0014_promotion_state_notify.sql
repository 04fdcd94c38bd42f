-- Wakes whoever waits on a promotion (`GET /v1/promotions/{id}?wait_seconds=`) in every
-- replica when its state changes: NOTIFY on `portcullis_promotion_states` with the id,
-- delivered when the transaction commits. Best effort: waiters also look again every second.
CREATE FUNCTION portcullis_notify_promotion_state() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_promotion_states', NEW.id::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER promotions_state_notify
    AFTER UPDATE OF state ON promotions
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION portcullis_notify_promotion_state();
