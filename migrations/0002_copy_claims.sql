-- A copy job's claim: the worker that holds the lease writes the outcome only while its
-- claim is still the current one, so a job taken over after a lapsed lease cannot be
-- finished twice.
ALTER TABLE promotions ADD COLUMN claim_id uuid;
