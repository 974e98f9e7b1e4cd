-- Leaderboards out of spark_accounts, so that an award updates its account
-- row in place.
--
-- Every award changes lifetime_earned and one earned_<source>: with those
-- columns indexed (five ranking indexes), no update of spark_accounts could
-- be HOT, and each wrote a new entry into all seven of its indexes. The
-- rankings now live in `leaderboard`, which holds only the top of each:
-- the store adds a wallet whose score reaches the current 100th score and
-- drops those that fall below it. Scores only grow (the program only adds
-- to them; a dropped fork rebuilds everything), so a wallet below the 100th
-- score cannot belong in the top 100 until an award lifts it, and that
-- award's batch adds it.

CREATE TABLE leaderboard (
    ranking text NOT NULL
        CHECK (ranking IN ('lifetime', 'trading', 'subscription', 'campaign', 'referral')),
    wallet  text NOT NULL,
    earned  bigint NOT NULL CHECK (earned > 0),
    PRIMARY KEY (ranking, wallet)
);
CREATE INDEX leaderboard_order ON leaderboard (ranking, earned DESC, wallet);

-- The top 100 of each ranking as the accounts stand (ties at the 100th
-- score included).
INSERT INTO leaderboard (ranking, wallet, earned)
SELECT ranking, wallet, earned
FROM (
    SELECT r.ranking, a.wallet, r.earned,
           rank() OVER (PARTITION BY r.ranking ORDER BY r.earned DESC) AS place
    FROM spark_accounts a
    CROSS JOIN LATERAL (VALUES ('lifetime', a.lifetime_earned), ('trading', a.earned_trading),
                               ('subscription', a.earned_subscription), ('campaign', a.earned_campaign),
                               ('referral', a.earned_referral)) AS r (ranking, earned)
    WHERE r.earned > 0
) ranked
WHERE place <= 100;

DROP INDEX spark_accounts_lifetime;
DROP INDEX spark_accounts_trading;
DROP INDEX spark_accounts_subscription;
DROP INDEX spark_accounts_campaign;
DROP INDEX spark_accounts_referral;

-- Room on each page for the in-place (HOT) updates (new pages only; a
-- VACUUM FULL applies it to existing ones).
ALTER TABLE spark_accounts SET (fillfactor = 80);
