-- Hardening: a message the broker refuses for good (too large, invalid topic)
-- is parked with the error instead of blocking the relay; `bmctl outbox
-- parked|retry|drop` shows and resolves parked rows.
ALTER TABLE outbox ADD COLUMN parked_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN park_error TEXT;
CREATE INDEX idx_outbox_parked ON outbox(id) WHERE parked_at IS NOT NULL;
