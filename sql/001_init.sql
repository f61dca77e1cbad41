-- BrightMatter schema, from the product document's schema with its fixes:
-- API keys are stored hashed, reward fulfillments carry an idempotency key and
-- the error_message the delivery code writes, consumer offsets and the outbox
-- live next to the state they describe (one transaction per batch), and the
-- indexes serve the queries the API makes (top-N, around-me, per-user).
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE studios (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  firebase_uid TEXT UNIQUE NOT NULL,
  name TEXT NOT NULL,
  email TEXT UNIQUE NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A game is addressed by its identifier (the gameId in events and API calls).
CREATE TABLE games (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  studio_id UUID REFERENCES studios(id),
  name TEXT NOT NULL,
  identifier TEXT UNIQUE NOT NULL,
  webhook_url TEXT,
  metadata JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Per-game API keys: only a SHA-256 of the key is kept; prefix helps support.
CREATE TABLE api_keys (
  id BIGSERIAL PRIMARY KEY,
  game_id UUID NOT NULL REFERENCES games(id),
  key_hash BYTEA UNIQUE NOT NULL,
  key_prefix TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  revoked_at TIMESTAMPTZ
);

CREATE TABLE communities (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  studio_id UUID REFERENCES studios(id),
  name TEXT NOT NULL,
  referral_slug TEXT UNIQUE NOT NULL,
  redirect_url TEXT NOT NULL,
  is_open BOOLEAN NOT NULL DEFAULT false,
  member_metadata JSONB NOT NULL,
  starter_reward JSONB,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE community_members (
  id BIGSERIAL PRIMARY KEY,
  community_id UUID NOT NULL REFERENCES communities(id),
  user_id TEXT NOT NULL,
  user_metadata JSONB NOT NULL,
  referral_source TEXT,
  joined_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned', 'pending')),
  UNIQUE (community_id, user_id)
);
CREATE INDEX idx_community_members_user ON community_members(user_id, community_id);

-- version is bumped on every change so hosts can tell stale copies apart.
CREATE TABLE campaigns (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  studio_id UUID REFERENCES studios(id),
  game_id UUID NOT NULL REFERENCES games(id),
  type TEXT NOT NULL CHECK (type IN ('leaderboard', 'tournament', 'quest', 'battlepass')),
  name TEXT NOT NULL,
  config JSONB NOT NULL,
  gating JSONB NOT NULL DEFAULT '{}',
  start_date TIMESTAMPTZ,
  end_date TIMESTAMPTZ,
  status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('draft', 'active', 'completed', 'cancelled')),
  version BIGINT NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_campaigns_studio_type ON campaigns(studio_id, type);
CREATE INDEX idx_campaigns_game_status ON campaigns(game_id, status);

-- Per-(campaign, user) state of every campaign module. current_value is what
-- boards sort on; reached_at breaks ties (earlier first).
CREATE TABLE user_progress (
  campaign_id UUID NOT NULL REFERENCES campaigns(id),
  user_id TEXT NOT NULL,
  current_value DOUBLE PRECISION NOT NULL DEFAULT 0,
  aux_value DOUBLE PRECISION NOT NULL DEFAULT 0,
  event_count BIGINT NOT NULL DEFAULT 0,
  progress_data JSONB,
  completed INTEGER NOT NULL DEFAULT 0,
  completed_at TIMESTAMPTZ,
  reached_at TIMESTAMPTZ,
  first_event_at TIMESTAMPTZ,
  last_event_at TIMESTAMPTZ,
  flags INTEGER NOT NULL DEFAULT 0,
  last_updated TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (campaign_id, user_id)
);
-- top-N and around-me: an index-ordered scan in rank order.
CREATE INDEX idx_user_progress_rank
  ON user_progress(campaign_id, current_value DESC, reached_at ASC, user_id ASC);

-- Reward grants. idempotency_key is unique per (campaign, user, completion or
-- claim); it travels with every external effect.
CREATE TABLE reward_fulfillments (
  id BIGSERIAL PRIMARY KEY,
  idempotency_key TEXT UNIQUE NOT NULL,
  campaign_id UUID NOT NULL REFERENCES campaigns(id),
  user_id TEXT NOT NULL,
  reward_type TEXT NOT NULL CHECK (reward_type IN ('nft', 'token', 'in_game', 'webhook')),
  reward_config JSONB NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  transaction_hash TEXT,
  fulfillment_data JSONB,
  error_message TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  completed_at TIMESTAMPTZ
);
CREATE INDEX idx_reward_fulfillments_pending
  ON reward_fulfillments(next_attempt_at) WHERE status IN ('pending', 'processing');
CREATE INDEX idx_reward_fulfillments_user ON reward_fulfillments(campaign_id, user_id);

-- Final standings of tournaments, written once when a tournament closes.
CREATE TABLE tournament_results (
  campaign_id UUID NOT NULL REFERENCES campaigns(id),
  rank INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  prize JSONB,
  finalized_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (campaign_id, rank)
);

-- Where each consumer group is in each partition: the source of truth for
-- exactly-once. The batch transaction advances next_offset with
-- WHERE next_offset = <batch first offset> as a fence, and adds its counts.
CREATE TABLE consumer_offsets (
  group_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset BIGINT NOT NULL DEFAULT 0,
  events_applied BIGINT NOT NULL DEFAULT 0,
  events_rejected BIGINT NOT NULL DEFAULT 0,
  events_duplicate BIGINT NOT NULL DEFAULT 0,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);

-- eventIds already applied, one row per batch: sorted 64-bit hashes of
-- (gameId, eventId) packed in `hashes`. Loaded on partition assign for the
-- dedup window, pruned after it.
CREATE TABLE event_dedup (
  group_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  first_offset BIGINT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  hashes BYTEA NOT NULL,
  PRIMARY KEY (group_id, topic, partition, first_offset)
);
CREATE INDEX idx_event_dedup_created ON event_dedup(created_at);

-- Messages to publish, written in the batch transaction. One row may carry
-- many messages of one topic (payload: one "key<TAB>json" per line); each
-- message carries its own event_id so consumers can dedupe.
CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  topic TEXT NOT NULL,
  message_count INTEGER NOT NULL,
  payload TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  published_at TIMESTAMPTZ
);
CREATE INDEX idx_outbox_unpublished ON outbox(id) WHERE published_at IS NULL;
-- Payloads are written once, read once and dropped within the hour: compressing
-- megabytes per batch costs more than the space it saves.
ALTER TABLE outbox ALTER COLUMN payload SET STORAGE EXTERNAL;

CREATE TABLE error_logs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  service TEXT NOT NULL,
  error_type TEXT NOT NULL,
  error_message TEXT NOT NULL,
  stack_trace TEXT,
  context JSONB,
  user_id TEXT,
  request_id TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
