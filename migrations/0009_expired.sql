-- Pending promotions expire after `approvals.pending_expiry_hours`: a terminal state of its own.
ALTER TABLE promotions DROP CONSTRAINT promotions_state_check;
ALTER TABLE promotions ADD CONSTRAINT promotions_state_check
    CHECK (state IN ('denied', 'pending_approval', 'rejected', 'promoting', 'promoted', 'failed', 'expired'));
