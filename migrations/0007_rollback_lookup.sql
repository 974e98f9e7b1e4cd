-- A rollback rebuilds only the accounts a dropped transaction touched, each
-- from its newest remaining event (store/rollback.rs). Spark accounts are
-- found through the ledger and referrals. The other accounts change only
-- through the rarer events indexed here: awards, revokes and referrer
-- settings, nearly all of the events, stay out of both indexes, so the
-- ingest path does not pay for them. `IF NOT EXISTS`: on a large store, build
-- them by hand first with CREATE INDEX CONCURRENTLY (the same definitions), so
-- ingest never waits on this migration's scan of `events`.

-- Config, issuers, perks and whitelists: scanned from the newest event down.
CREATE INDEX IF NOT EXISTS events_state_changes ON events (slot, signature, event_index)
    WHERE kind NOT IN ('SparksAwarded', 'SparksRevoked', 'ReferrerSet', 'AwardIdsVoided');

-- Perk claims and whitelist entries: by the wallet that owns them.
CREATE INDEX IF NOT EXISTS events_owned_state_changes ON events (wallet)
    WHERE kind IN ('PerkRedeemed', 'WhitelistSpotGranted', 'WhitelistSpotConsumed');
