-- The player's level, kept by the host per (game, player): the `level` carried
-- by the latest (by event time) of the player's events. Written in the batch
-- transaction with the offsets, so it is exact across crashes; gates such as
-- minLevel and requiredLevel read it.
CREATE TABLE player_levels (
  game_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  level DOUBLE PRECISION NOT NULL,
  level_at_ms BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (game_id, user_id)
);
