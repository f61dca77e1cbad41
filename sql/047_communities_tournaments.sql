-- Tournaments and communities.

-- tournament.so writes its final table as module_results rows (kind
-- 'tournament_result', key = position) in the finalising batch's transaction;
-- this trigger keeps tournament_results, the table the API and bmctl read, in
-- the same transaction. rank is the unique position; tied_rank is the rank
-- tied players share.
ALTER TABLE tournament_results ADD COLUMN tied_rank INTEGER;

CREATE FUNCTION bm_tournament_result_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kind = 'tournament_result' THEN
    INSERT INTO tournament_results (campaign_id, rank, tied_rank, user_id, score, prize)
    VALUES (NEW.campaign_id, (NEW.doc->>'position')::int, (NEW.doc->>'rank')::int,
            NEW.doc->>'userId', (NEW.doc->>'score')::double precision,
            CASE WHEN (NEW.doc->>'prize')::bigint > 0
                 THEN jsonb_build_object('amount', (NEW.doc->>'prize')::bigint,
                                         'decimals', (NEW.doc->>'decimals')::int)
            END)
    ON CONFLICT (campaign_id, rank) DO UPDATE
      SET tied_rank = EXCLUDED.tied_rank, user_id = EXCLUDED.user_id,
          score = EXCLUDED.score, prize = EXCLUDED.prize, finalized_at = now();
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER bm_tournament_result_copy AFTER INSERT OR UPDATE ON module_results
  FOR EACH ROW EXECUTE FUNCTION bm_tournament_result_copy();

-- Communities: the validated CommunityConfig document is kept whole in
-- config; the columns the seed named stay filled for queries and joins.
ALTER TABLE communities ADD COLUMN description TEXT;
ALTER TABLE communities ADD COLUMN config JSONB NOT NULL DEFAULT '{}';
ALTER TABLE communities ADD COLUMN status TEXT NOT NULL DEFAULT 'active'
  CHECK (status IN ('active', 'removed'));
ALTER TABLE communities ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE communities ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();

ALTER TABLE community_members ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE community_members ADD COLUMN invite_code TEXT;
CREATE INDEX idx_community_members_community ON community_members(community_id, status);
CREATE INDEX idx_community_members_referral
  ON community_members(community_id, referral_source) WHERE referral_source IS NOT NULL;

-- Referral link clicks (GET /c/<slug>?ref=<user>).
CREATE TABLE community_referral_clicks (
  id BIGSERIAL PRIMARY KEY,
  community_id UUID NOT NULL REFERENCES communities(id),
  referrer TEXT,
  clicked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_community_referral_clicks ON community_referral_clicks(community_id, referrer);

-- A community's starter reward is a grant without a campaign.
ALTER TABLE reward_fulfillments ALTER COLUMN campaign_id DROP NOT NULL;
ALTER TABLE reward_fulfillments ADD COLUMN community_id UUID REFERENCES communities(id);
ALTER TABLE reward_fulfillments ADD CONSTRAINT reward_fulfillments_owner
  CHECK (campaign_id IS NOT NULL OR community_id IS NOT NULL);
