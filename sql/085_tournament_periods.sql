-- Recurring tournaments: each run (period) of a tournament has its own final
-- table. tournament.so writes a run's rows as module_results kind
-- 'tournament_result' with key '<period start>:<position>' and "period" in
-- the document; a one-off tournament's rows keep the period ''.
ALTER TABLE tournament_results ADD COLUMN period TEXT NOT NULL DEFAULT '';
ALTER TABLE tournament_results DROP CONSTRAINT tournament_results_pkey;
ALTER TABLE tournament_results ADD PRIMARY KEY (campaign_id, period, rank);

CREATE OR REPLACE FUNCTION bm_tournament_result_copy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kind = 'tournament_result' THEN
    INSERT INTO tournament_results (campaign_id, period, rank, tied_rank, user_id, score, prize)
    VALUES (NEW.campaign_id, COALESCE(NEW.doc->>'period', ''), (NEW.doc->>'position')::int,
            (NEW.doc->>'rank')::int, NEW.doc->>'userId', (NEW.doc->>'score')::double precision,
            CASE WHEN (NEW.doc->>'prize')::bigint > 0
                 THEN jsonb_build_object('amount', (NEW.doc->>'prize')::bigint,
                                         'decimals', (NEW.doc->>'decimals')::int)
            END)
    ON CONFLICT (campaign_id, period, rank) DO UPDATE
      SET tied_rank = EXCLUDED.tied_rank, user_id = EXCLUDED.user_id,
          score = EXCLUDED.score, prize = EXCLUDED.prize, finalized_at = now();
  END IF;
  RETURN NEW;
END $$;
