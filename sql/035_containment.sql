-- Containment: events the broker deleted before they were applied.
-- One row per gap [from_offset, to_offset) of a partition, written in the same
-- statement that moves consumer_offsets past it (pipeline.on_gap = carry_on),
-- or with action 'stopped' while the partition waits for `bmctl gap ack`.
CREATE TABLE IF NOT EXISTS event_gaps (
  id BIGSERIAL PRIMARY KEY,
  group_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INT NOT NULL,
  from_offset BIGINT NOT NULL,
  to_offset BIGINT NOT NULL CHECK (to_offset > from_offset),
  action TEXT NOT NULL CHECK (action IN ('carried_on', 'stopped')),
  detected_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  acked_at TIMESTAMPTZ,
  UNIQUE (group_id, topic, partition, from_offset)
);
CREATE INDEX IF NOT EXISTS idx_event_gaps_unacked ON event_gaps (group_id, topic) WHERE acked_at IS NULL;
