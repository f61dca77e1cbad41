-- Host v2: open campaign and reward types, ended campaigns, once-only work
-- claims and module-owned result rows.

-- Types are whatever loaded modules serve (plus the four built-in reward
-- types): the host checks them, the schema only keeps them well-formed.
ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_type_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_type_format
  CHECK (type ~ '^[a-z][a-z0-9_.-]{0,30}$');
ALTER TABLE reward_fulfillments DROP CONSTRAINT IF EXISTS reward_fulfillments_reward_type_check;
ALTER TABLE reward_fulfillments ADD CONSTRAINT reward_fulfillments_reward_type_format
  CHECK (reward_type ~ '^[a-z][a-z0-9_.-]{0,62}$');

-- Set once, by the batch that ran the campaign's end (modules' on_campaign_end).
ALTER TABLE campaigns ADD COLUMN ended_at TIMESTAMPTZ;
ALTER TABLE campaigns ADD COLUMN end_reason TEXT
  CHECK (end_reason IN ('completed', 'cancelled', 'window'));

-- One row per piece of work done exactly once (api->claim_once). The row is
-- inserted by the batch transaction that does the work; a second process
-- claiming the same work fails its transaction on the primary key, rewinds,
-- and sees the claim taken when it retries.
CREATE TABLE work_claims (
  module TEXT NOT NULL,
  campaign_id TEXT NOT NULL DEFAULT '',
  work_key TEXT NOT NULL,
  claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (module, campaign_id, work_key)
);

-- Rows a module owns (tournament results, period history): api->result_put.
CREATE TABLE module_results (
  campaign_id UUID NOT NULL REFERENCES campaigns(id),
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  doc JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (campaign_id, kind, key)
);

-- The relay leases rows instead of holding row locks while it waits for the
-- broker: a lease that runs out (a relay that died) lets another relay
-- publish the rows again (at least once; consumers dedupe on event_id).
ALTER TABLE outbox ADD COLUMN leased_until TIMESTAMPTZ;
