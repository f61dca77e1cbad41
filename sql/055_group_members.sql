-- Each processor says which partitions of game.events it owns, where it is in
-- each and the partition's end as it last saw it, every few seconds and at
-- every ownership change; `bmctl group` reads it. A row not updated for a
-- while belongs to a process that is gone.
CREATE TABLE group_members (
  group_id TEXT NOT NULL,
  member TEXT NOT NULL,                 -- host:pid[/group.instance.id]
  partitions JSONB NOT NULL DEFAULT '[]',
  rebalances BIGINT NOT NULL DEFAULT 0,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, member)
);
