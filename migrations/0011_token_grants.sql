-- Tokens minted through the API: who made them, and whether a second admin must still confirm
-- them (approver and break-glass grants never come from one admin alone).
ALTER TABLE api_tokens ADD COLUMN created_by text;
ALTER TABLE api_tokens ADD COLUMN awaiting_confirmation boolean NOT NULL DEFAULT false;
ALTER TABLE api_tokens ADD COLUMN confirmed_by text;
