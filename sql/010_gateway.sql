-- The gateway: per-key rate limits (NULL = http.rate_per_s / http.rate_burst),
-- a label to tell keys apart, and the indexes its scoped queries use.
ALTER TABLE api_keys ADD COLUMN rate_per_s DOUBLE PRECISION CHECK (rate_per_s > 0);
ALTER TABLE api_keys ADD COLUMN rate_burst DOUBLE PRECISION CHECK (rate_burst > 0);
ALTER TABLE api_keys ADD COLUMN label TEXT;
CREATE INDEX idx_api_keys_game ON api_keys(game_id);
CREATE INDEX idx_games_studio ON games(studio_id);
CREATE INDEX idx_campaigns_game_created ON campaigns(game_id, created_at);
CREATE INDEX idx_error_logs_request ON error_logs(request_id);
