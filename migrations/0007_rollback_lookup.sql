-- A rollback rebuilds only the accounts a dropped transaction touched, each
-- from its newest remaining event. Spark accounts are found through the
-- ledger and referrals. Every other account (config, issuers, perks,
-- claims, whitelists, entries) changes only through the rarer events
-- indexed here; awards, revokes and referrer settings, nearly all of the
-- events, stay out of this index, so the ingest path does not pay for it.
CREATE INDEX events_state_changes ON events (slot, signature, event_index)
    WHERE kind NOT IN ('SparksAwarded', 'SparksRevoked', 'ReferrerSet', 'AwardIdsVoided');
