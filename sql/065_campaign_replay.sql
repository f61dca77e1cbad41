-- Campaign replays (bmctl campaign replay): a request to recount a campaign
-- from the event store (game_events) with the campaign's current version.
-- Each partition of game.events is recounted by the process that owns it,
-- inside one of its batches (fenced like any batch): the partition's cut-over
-- is the next offset of that batch; stored events before it are recounted,
-- events from it on are counted live on top. The batch records the partition
-- as module_results kind 'replay' (key '<replay id>:<partition>') and keeps
-- each player's previous standing as kind 'replay_previous'
-- (key '<replay id>:<user>') until `bmctl campaign replay-drop`.
CREATE TABLE campaign_replays (
  id BIGSERIAL PRIMARY KEY,
  campaign_id UUID NOT NULL REFERENCES campaigns(id),
  version BIGINT NOT NULL,      -- campaign version the recount must use (or newer)
  from_ms BIGINT,               -- event time range counted; NULL = open
  to_ms BIGINT,
  requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  done_at TIMESTAMPTZ           -- every partition recounted
);
CREATE INDEX idx_campaign_replays_pending ON campaign_replays(id) WHERE done_at IS NULL;
-- The recount of one partition reads its stored events in offset order.
CREATE INDEX idx_game_events_replay ON game_events(game_id, kafka_partition, kafka_offset);
