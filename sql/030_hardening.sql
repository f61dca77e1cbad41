-- Hardening: a message the broker refuses for good (too large, invalid topic)
-- is parked with the error instead of blocking the relay; `bmctl outbox
-- parked|retry|drop` shows and resolves parked rows.
ALTER TABLE outbox ADD COLUMN parked_at TIMESTAMPTZ;
ALTER TABLE outbox ADD COLUMN park_error TEXT;
CREATE INDEX idx_outbox_parked ON outbox(id) WHERE parked_at IS NOT NULL;

-- One owner per player: events found on a partition other than their userId's
-- are forwarded there through the outbox, and counted here.
ALTER TABLE consumer_offsets ADD COLUMN events_forwarded BIGINT NOT NULL DEFAULT 0;
