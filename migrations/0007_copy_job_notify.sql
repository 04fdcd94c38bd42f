-- Wakes the copy workers of every replica when a promotion enters `promoting` (released by
-- its last approval, or re-queued): NOTIFY on `portcullis_copy_jobs` with the promotion id.
-- Postgres delivers it when the transaction commits, so a worker never wakes before the job
-- is visible. Workers still poll (every 30 s) for leases that lapsed and missed wake-ups.
CREATE FUNCTION portcullis_notify_copy_job() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('portcullis_copy_jobs', NEW.id::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER promotions_copy_job_notify
    AFTER INSERT OR UPDATE OF state ON promotions
    FOR EACH ROW WHEN (NEW.state = 'promoting')
    EXECUTE FUNCTION portcullis_notify_copy_job();
