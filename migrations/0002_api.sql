-- What the API needs: freshness for /health and indexes for every query it serves.

-- The chain slot as of the last catch-up that finished with nothing left to
-- index: the mirror is complete up to there.
ALTER TABLE cursor ADD COLUMN caught_up_slot bigint NOT NULL DEFAULT 0;
ALTER TABLE cursor ADD COLUMN caught_up_at timestamptz;

-- History filtered by source.
CREATE INDEX ledger_history_by_source ON ledger (wallet, source, seq DESC);

-- Leaderboards per source.
CREATE INDEX spark_accounts_trading ON spark_accounts (earned_trading DESC, wallet);
CREATE INDEX spark_accounts_subscription ON spark_accounts (earned_subscription DESC, wallet);
CREATE INDEX spark_accounts_campaign ON spark_accounts (earned_campaign DESC, wallet);
CREATE INDEX spark_accounts_referral ON spark_accounts (earned_referral DESC, wallet);
