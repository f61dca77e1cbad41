-- Reward delivery. Every game gets a webhook signing secret ("whsec_" + base64
-- of 24 random bytes) when it is created; rotation adds a new secret and keeps
-- the previous one valid for a grace period, during which webhooks carry both
-- signatures. Reward types are open (third-party reward modules add their
-- own), so the closed CHECK list becomes a format check.
CREATE TABLE game_webhook_secrets (
  id BIGSERIAL PRIMARY KEY,
  game_id UUID NOT NULL REFERENCES games(id) ON DELETE CASCADE,
  secret TEXT NOT NULL CHECK (secret LIKE 'whsec\_%'),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ
);
CREATE INDEX idx_game_webhook_secrets_game ON game_webhook_secrets(game_id, id DESC);

CREATE FUNCTION bm_new_webhook_secret() RETURNS TEXT LANGUAGE sql VOLATILE AS
  $$ SELECT 'whsec_' || encode(gen_random_bytes(24), 'base64') $$;

CREATE FUNCTION bm_game_secret_trigger() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO game_webhook_secrets (game_id, secret) VALUES (NEW.id, bm_new_webhook_secret());
  RETURN NEW;
END $$;
CREATE TRIGGER games_webhook_secret AFTER INSERT ON games
  FOR EACH ROW EXECUTE FUNCTION bm_game_secret_trigger();
INSERT INTO game_webhook_secrets (game_id, secret)
  SELECT id, bm_new_webhook_secret() FROM games;

-- Which host holds a processing row's lease (its next_attempt_at is the lease end).
ALTER TABLE reward_fulfillments ADD COLUMN claimed_by TEXT;
CREATE INDEX idx_reward_fulfillments_status ON reward_fulfillments(status, id);

-- The next nonce the engine hands out per sending account ("<chainId>:<address>"),
-- for on-chain payouts; each payout's nonce is stored in its row in the same
-- transaction that advances this counter (see reward_token / reward_nft).
CREATE TABLE chain_nonces (
  account TEXT PRIMARY KEY,
  next_nonce BIGINT NOT NULL CHECK (next_nonce >= 0),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
