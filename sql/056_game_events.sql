-- The event store: every applied event (valid, not a duplicate), written in
-- its batch's transaction, for analytics and replay. Partitioned by day of
-- event time; retention drops whole days (store.retention_days).
CREATE TABLE game_events (
  event_time TIMESTAMPTZ NOT NULL,
  game_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  event_id TEXT,
  kafka_partition INTEGER NOT NULL,
  kafka_offset BIGINT NOT NULL,
  payload JSON NOT NULL          -- the event as it arrived (json: kept byte for byte)
) PARTITION BY RANGE (event_time);
-- Catches anything whose day was not created in time; never dropped by retention.
CREATE TABLE game_events_default PARTITION OF game_events DEFAULT;

-- Creates the day partitions (UTC) covering [from_ms, to_ms]; a partition
-- another process created meanwhile is fine.
CREATE FUNCTION bm_game_events_ensure(from_ms BIGINT, to_ms BIGINT) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  d DATE := (to_timestamp(from_ms / 1000.0) AT TIME ZONE 'UTC')::date;
  last DATE := (to_timestamp(to_ms / 1000.0) AT TIME ZONE 'UTC')::date;
  name TEXT;
BEGIN
  WHILE d <= last LOOP
    name := 'game_events_' || to_char(d, 'YYYYMMDD');
    IF to_regclass(name) IS NULL THEN
      BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF game_events FOR VALUES FROM (%L) TO (%L)',
                       name, d::timestamp AT TIME ZONE 'UTC',
                       (d + 1)::timestamp AT TIME ZONE 'UTC');
      EXCEPTION WHEN duplicate_table OR unique_violation OR check_violation THEN
        NULL;
      END;
    END IF;
    d := d + 1;
  END LOOP;
END $$;

-- Drops the day partitions that ended more than `days` days ago; the number dropped.
CREATE FUNCTION bm_game_events_retain(days INTEGER) RETURNS INTEGER
LANGUAGE plpgsql AS $$
DECLARE
  r RECORD;
  n INTEGER := 0;
BEGIN
  FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'game_events'::regclass AND c.relname ~ '^game_events_[0-9]{8}$'
  LOOP
    IF to_date(substr(r.relname, 13), 'YYYYMMDD') + 1 < (now() AT TIME ZONE 'UTC')::date - days THEN
      EXECUTE format('DROP TABLE IF EXISTS %I', r.relname);
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;
