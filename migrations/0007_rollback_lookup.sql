-- A rollback rebuilds only the accounts a dropped transaction touched, each
-- from its newest remaining event (store/rollback.rs). Spark accounts are
-- found through the ledger and referrals. The other accounts change only
-- through the rarer events indexed here: awards, revokes and referrer
-- settings, nearly all of the events, stay out of both indexes, so the
-- ingest path does not pay for them.

-- Config, issuers, perks and whitelists: scanned from the newest event down.
CREATE INDEX events_state_changes ON events (slot, signature, event_index)
    WHERE kind NOT IN ('SparksAwarded', 'SparksRevoked', 'ReferrerSet', 'AwardIdsVoided');

-- Perk claims and whitelist entries: by the wallet that owns them.
CREATE INDEX events_owned_state_changes ON events (wallet)
    WHERE kind IN ('PerkRedeemed', 'WhitelistSpotGranted', 'WhitelistSpotConsumed');
