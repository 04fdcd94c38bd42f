-- Rollbacks: a promotion row of kind 'rollback' points a route's channel tag back at a digest
-- the gate promoted before; its "copy" is only a tag write. Every earlier row is a promotion.
ALTER TABLE promotions ADD COLUMN kind text NOT NULL DEFAULT 'promotion'
    CHECK (kind IN ('promotion', 'rollback'));

-- The rollback check looks up earlier promotions of a digest on a route and destination.
CREATE INDEX promotions_promoted ON promotions (route, destination, digest)
    WHERE state = 'promoted';
