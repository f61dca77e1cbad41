-- Community administrators and referral click details.

-- Who administers a community (a Firebase account with the community_admin
-- role); the admin API lets such an account manage these communities only.
CREATE TABLE community_admins (
  community_id UUID NOT NULL REFERENCES communities(id) ON DELETE CASCADE,
  firebase_uid TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (community_id, firebase_uid)
);
CREATE INDEX idx_community_admins_uid ON community_admins(firebase_uid);

-- A click's HTTP Referer and a keyed hash of the client address (never the
-- address itself).
ALTER TABLE community_referral_clicks ADD COLUMN http_referer TEXT;
ALTER TABLE community_referral_clicks ADD COLUMN ip_hash TEXT;
