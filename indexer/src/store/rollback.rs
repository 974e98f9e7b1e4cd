//! Undoing transactions that will never be final (a dropped fork), touching
//! only what they touched.
//!
//! Every event carries the full state after it of each account it changed,
//! so an account's state without the dropped transactions is the one in its
//! newest remaining event. A rollback locks the touched projection rows (in
//! the order batches lock them, so the two wait for each other instead of
//! deadlocking), deletes the dropped transactions' rows, finds each touched
//! account's newest remaining state through indexes (the ledger and
//! referrals for spark accounts, the owner's redemptions and spots for
//! claims and entries, `events_state_changes` for the shared accounts) and
//! rewrites those rows. A leaderboard ranking is recomputed only when a
//! touched wallet fell below its last place. API readers never wait (MVCC); batches wait only on the rows
//! the rollback touches.

use std::collections::BTreeSet;

use anchor_lang::prelude::Pubkey;
use sparks_client::events::SparksEvent;
use sqlx::PgConnection;

use super::projections::write_projections;
use super::{key, BatchRows, IndexedTransaction, StoreError, LEADERBOARD_DEPTH};
use crate::decoder::{DecodedEvent, Origin};
use crate::names::RANKINGS;

/// What a rollback did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolledBack {
    pub transactions: u64,
    pub events: u64,
    /// Projection rows rewritten from their remaining events, or removed.
    pub accounts: u64,
    /// Leaderboard rankings recomputed because a touched wallet fell out.
    pub rankings: u64,
}

/// An event row as stored.
pub(super) struct StoredEvent {
    pub signature: String,
    pub event_index: i32,
    pub slot: i64,
    pub block_time: Option<i64>,
    pub origin: String,
    pub payload: Vec<u8>,
}

/// Each leaderboard ranking's score column in `spark_accounts`.
const RANKING_COLUMNS: [(&str, &str); 5] = [
    ("lifetime", "lifetime_earned"),
    ("trading", "earned_trading"),
    ("subscription", "earned_subscription"),
    ("campaign", "earned_campaign"),
    ("referral", "earned_referral"),
];

/// Events scanned per step when looking for older states.
const SCAN_CHUNK: i64 = 2_000;

/// The projection tables other than `spark_accounts` with their key column,
/// in the order batches write them (see `write_projections`).
const OTHER_PROJECTIONS: [(&str, &str); 6] = [
    ("config", "address"),
    ("issuers", "authority"),
    ("perks", "address"),
    ("perk_claims", "address"),
    ("whitelists", "address"),
    ("whitelist_entries", "address"),
];

/// What a rollback does with the cursor when it names a removed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cursor {
    /// Back to the newest remaining transaction (a dropped fork).
    MoveBack,
    /// Left alone: the same transactions are stored again at once (reindex).
    Keep,
}

/// Removes `signatures` and restores every account they touched to its
/// newest remaining state, inside the caller's database transaction.
pub(super) async fn roll_back(
    db: &mut PgConnection,
    signatures: &[String],
    cursor: Cursor,
) -> Result<RolledBack, StoreError> {
    let dropped_events = sqlx::query_as!(
        StoredEvent,
        "SELECT signature, event_index, slot, block_time, origin, payload FROM events
         WHERE signature = ANY($1::text[])",
        signatures
    )
    .fetch_all(&mut *db)
    .await?;
    let dropped = project(&dropped_events)?;
    let touched = Touched::of(&dropped);

    // Lock first, in the batches' order: spark accounts, their leaderboard
    // rows, then the other projections.
    let wallets = touched.wallets.iter().map(key).collect::<Vec<_>>();
    sqlx::query!(
        "SELECT a.wallet FROM unnest($1::text[]) WITH ORDINALITY AS k (wallet, n)
         JOIN spark_accounts a ON a.wallet = k.wallet ORDER BY k.n FOR UPDATE OF a",
        &wallets
    )
    .fetch_all(&mut *db)
    .await?;
    // Where the touched wallets stand in the leaderboard, before they go.
    let standings = sqlx::query_as!(
        Standing,
        r#"SELECT l.ranking, l.wallet,
                  (SELECT count(*) FROM leaderboard x WHERE x.ranking = l.ranking) >= $2 AS "full!",
                  (SELECT min(x.earned) FROM leaderboard x WHERE x.ranking = l.ranking) AS "last_place!"
           FROM leaderboard l WHERE l.wallet = ANY($1::text[])
           ORDER BY l.ranking, l.wallet FOR UPDATE"#,
        &wallets,
        LEADERBOARD_DEPTH
    )
    .fetch_all(&mut *db)
    .await?;
    sqlx::query!(
        "DELETE FROM leaderboard WHERE wallet = ANY($1::text[])",
        &wallets
    )
    .execute(&mut *db)
    .await?;
    let others = touched.others();
    for ((table, column), keys) in OTHER_PROJECTIONS.iter().zip(&others) {
        if !keys.is_empty() {
            sqlx::query(&format!(
                "SELECT t.{column} FROM unnest($1::text[]) WITH ORDINALITY AS k (key, n)
                 JOIN {table} t ON t.{column} = k.key ORDER BY k.n FOR UPDATE OF t"
            ))
            .bind(keys)
            .fetch_all(&mut *db)
            .await?;
        }
    }

    // The dropped transactions' own rows.
    let invitees = &dropped.referrals.invitee;
    sqlx::query!(
        "DELETE FROM referrals WHERE invitee = ANY($1::text[]) AND signature = ANY($2::text[])",
        invitees,
        signatures
    )
    .execute(&mut *db)
    .await?;
    let events = sqlx::query!(
        "DELETE FROM events WHERE signature = ANY($1::text[])",
        signatures
    )
    .execute(&mut *db)
    .await?
    .rows_affected();
    for statement in [
        "DELETE FROM ledger WHERE signature = ANY($1::text[])",
        "DELETE FROM transaction_problems WHERE signature = ANY($1::text[])",
    ] {
        sqlx::query(statement)
            .bind(signatures)
            .execute(&mut *db)
            .await?;
    }
    let transactions = sqlx::query!(
        "DELETE FROM transactions WHERE signature = ANY($1::text[])",
        signatures
    )
    .execute(&mut *db)
    .await?
    .rows_affected();

    // The touched accounts as the remaining events leave them.
    let mut restored = newest_spark_states(db, &wallets).await?;
    restored
        .spark_accounts
        .retain(|owner| touched.wallets.contains(owner));
    let shared = newest_shared_states(db, &touched).await?;
    let owned = newest_owned_states(db, &touched).await?;
    restored.config = shared.config;
    restored.issuers = shared.issuers;
    restored.perks = shared.perks;
    restored.whitelists = shared.whitelists;
    restored.claims = owned.claims;
    restored.entries = owned.entries;
    sqlx::query!(
        "DELETE FROM spark_accounts WHERE wallet = ANY($1::text[])",
        &wallets
    )
    .execute(&mut *db)
    .await?;
    for ((table, column), keys) in OTHER_PROJECTIONS.iter().zip(&others) {
        if !keys.is_empty() {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE {column} = ANY($1::text[])"
            ))
            .bind(keys)
            .execute(&mut *db)
            .await?;
        }
    }
    // Writing the restored accounts puts their wallets back where they
    // still reach the last place; a full ranking that a wallet fell out of
    // may now have room for a wallet outside it.
    write_projections(db, &restored).await?;
    let fell_out: Vec<String> = standings
        .into_iter()
        .filter(|s| s.full && score(&restored, s) < s.last_place)
        .map(|s| s.ranking)
        .collect();
    let rankings = recompute_rankings(db, fell_out).await?;

    if cursor == Cursor::MoveBack {
        let moved = sqlx::query!(
            "UPDATE cursor SET (signature, slot) = (
                 SELECT t.signature, t.slot FROM transactions t ORDER BY t.slot DESC, t.indexed_at DESC LIMIT 1)
             WHERE signature = ANY($1::text[])",
            signatures
        )
        .execute(&mut *db)
        .await?;
        // A listing in progress ran down to the cursor that just went.
        if moved.rows_affected() > 0 {
            super::listing::clear(db).await?;
        }
    }
    Ok(RolledBack {
        transactions,
        events,
        accounts: touched.len() as u64,
        rankings,
    })
}

/// Stored events decoded into the rows they project (per key, the state
/// with the highest seq).
pub(super) fn project(events: &[StoredEvent]) -> Result<BatchRows, StoreError> {
    project_where(events, |_| true)
}

/// [`project`] for the events `wanted` accepts.
fn project_where(
    events: &[StoredEvent],
    wanted: impl Fn(&SparksEvent) -> bool,
) -> Result<BatchRows, StoreError> {
    let mut rows = BatchRows::default();
    for row in events {
        let event =
            SparksEvent::from_log_data(&row.payload).map_err(|e| StoreError::StoredEvent {
                signature: row.signature.clone(),
                index: row.event_index,
                reason: e.to_string(),
            })?;
        if !wanted(&event) {
            continue;
        }
        let tx = IndexedTransaction {
            signature: row.signature.clone(),
            slot: row.slot as u64,
            block_time: row.block_time,
            finalized: false,
            events: Vec::new(),
            problems: Vec::new(),
        };
        let origin = if row.origin == "log" {
            Origin::Log
        } else {
            Origin::InnerInstruction
        };
        let decoded = DecodedEvent {
            index: row.event_index as u32,
            origin,
            event,
        };
        rows.project(&tx, &decoded)?;
    }
    Ok(rows)
}

/// A touched wallet's row in one leaderboard ranking, and that ranking's
/// last place then.
struct Standing {
    ranking: String,
    wallet: String,
    /// The ranking held its full depth (so wallets outside it exist).
    full: bool,
    last_place: i64,
}

/// The wallet's score in the standing's ranking after the rollback.
fn score(restored: &BatchRows, standing: &Standing) -> i64 {
    let Ok(owner) = standing.wallet.parse::<Pubkey>() else {
        return 0;
    };
    let Some((account, _)) = restored.spark_accounts.get(&owner) else {
        return 0;
    };
    let earned = match RANKINGS.iter().position(|r| *r == standing.ranking) {
        Some(0) => account.lifetime_earned,
        Some(n) => account.earned_by_source[n - 1],
        None => 0,
    };
    i64::try_from(earned).unwrap_or(i64::MAX)
}

/// The accounts the dropped transactions changed, per projection.
#[derive(Default)]
struct Touched {
    wallets: BTreeSet<Pubkey>,
    config: BTreeSet<Pubkey>,
    issuers: BTreeSet<Pubkey>,
    perks: BTreeSet<Pubkey>,
    claims: BTreeSet<Pubkey>,
    whitelists: BTreeSet<Pubkey>,
    entries: BTreeSet<Pubkey>,
    /// The same accounts by what events name them with, so a scan can
    /// skip an event without deriving addresses (a PDA costs ~30 µs).
    perk_ids: BTreeSet<u64>,
    claim_owners: BTreeSet<(Pubkey, Pubkey)>,
    whitelist_ids: BTreeSet<u64>,
    entry_owners: BTreeSet<(Pubkey, Pubkey)>,
}

impl Touched {
    fn of(rows: &BatchRows) -> Self {
        Self {
            wallets: rows.spark_accounts.keys().copied().collect(),
            config: rows.config.keys().copied().collect(),
            issuers: rows.issuers.keys().copied().collect(),
            perks: rows.perks.keys().copied().collect(),
            claims: rows.claims.keys().copied().collect(),
            whitelists: rows.whitelists.keys().copied().collect(),
            entries: rows.entries.keys().copied().collect(),
            perk_ids: rows.perks.iter().map(|(_, p, _)| p.id).collect(),
            claim_owners: rows
                .claims
                .iter()
                .map(|(_, c, _)| (c.perk, c.owner))
                .collect(),
            whitelist_ids: rows.whitelists.iter().map(|(_, w, _)| w.id).collect(),
            entry_owners: rows
                .entries
                .iter()
                .map(|(_, e, _)| (e.whitelist, e.wallet))
                .collect(),
        }
    }

    /// Whether `event` may hold a state of a touched config, issuer, perk
    /// or whitelist (accounts every wallet shares).
    fn concerns_shared(&self, event: &SparksEvent) -> bool {
        use SparksEvent as E;
        match event {
            E::ConfigInitialized(_)
            | E::ConfigUpdated(_)
            | E::PauseChanged(_)
            | E::AdminProposed(_)
            | E::AdminAccepted(_) => !self.config.is_empty(),
            E::IssuerUpserted(e) => self.issuers.contains(&e.issuer.authority),
            E::IssuerDeactivated(e) => self.issuers.contains(&e.issuer.authority),
            E::PerkCreated(e) => self.perk_ids.contains(&e.perk.id),
            E::PerkUpdated(e) => self.perk_ids.contains(&e.perk.id),
            E::PerkRedeemed(e) => self.perk_ids.contains(&e.perk.id),
            E::WhitelistCreated(e) => self.whitelist_ids.contains(&e.whitelist.id),
            E::WhitelistUpdated(e) => self.whitelist_ids.contains(&e.whitelist.id),
            E::WhitelistAdminProposed(e) => self.whitelist_ids.contains(&e.whitelist.id),
            E::WhitelistAdminAccepted(e) => self.whitelist_ids.contains(&e.whitelist.id),
            E::WhitelistSpotGranted(e) => self.whitelist_ids.contains(&e.whitelist.id),
            E::WhitelistSpotConsumed(e) => self.whitelist_ids.contains(&e.whitelist.id),
            E::ReferrerSet(_)
            | E::SparksAwarded(_)
            | E::SparksRevoked(_)
            | E::AwardIdsVoided(_) => false,
        }
    }

    /// Whether `event` may hold a state of a touched perk claim or
    /// whitelist entry (accounts of one wallet).
    fn concerns_owned(&self, event: &SparksEvent) -> bool {
        match event {
            SparksEvent::PerkRedeemed(e) => {
                self.claim_owners.contains(&(e.claim.perk, e.claim.owner))
            }
            SparksEvent::WhitelistSpotGranted(e) => self
                .entry_owners
                .contains(&(e.entry.whitelist, e.entry.wallet)),
            SparksEvent::WhitelistSpotConsumed(e) => self
                .entry_owners
                .contains(&(e.entry.whitelist, e.entry.wallet)),
            _ => false,
        }
    }

    fn len(&self) -> usize {
        self.wallets.len() + self.others().iter().map(Vec::len).sum::<usize>()
    }

    /// The keys of [`OTHER_PROJECTIONS`], in its order, each in key order.
    fn others(&self) -> [Vec<String>; 6] {
        [
            &self.config,
            &self.issuers,
            &self.perks,
            &self.claims,
            &self.whitelists,
            &self.entries,
        ]
        .map(|keys| keys.iter().map(key).collect())
    }

    /// Whether `found` holds every touched shared account at a slot above
    /// `below` (so no older event can hold a newer state of it).
    fn shared_found_above(&self, found: &BatchRows, below: i64) -> bool {
        fn all<V>(
            keys: &BTreeSet<Pubkey>,
            found: &super::rows::Latest<Pubkey, V>,
            below: i64,
        ) -> bool {
            keys.iter().all(|k| {
                found
                    .get(k)
                    .is_some_and(|(_, seen)| seen.slot as i64 > below)
            })
        }
        all(&self.config, &found.config, below)
            && all(&self.issuers, &found.issuers, below)
            && all(&self.perks, &found.perks, below)
            && all(&self.whitelists, &found.whitelists, below)
    }

    fn has_shared(&self) -> bool {
        !(self.config.is_empty()
            && self.issuers.is_empty()
            && self.perks.is_empty()
            && self.whitelists.is_empty())
    }
}

/// The newest remaining state of each of `wallets` (and of other wallets
/// the same events carry, which the caller drops): the events of each
/// wallet's newest ledger row, of its referrer setting as invitee, and of
/// the newest referrer settings naming it as referrer. Together these are
/// every event kind that changes a spark account.
async fn newest_spark_states(
    db: &mut PgConnection,
    wallets: &[String],
) -> Result<BatchRows, StoreError> {
    if wallets.is_empty() {
        return Ok(BatchRows::default());
    }
    let signatures: Vec<String> = sqlx::query_scalar!(
        r#"SELECT l.signature AS "signature!" FROM unnest($1::text[]) AS w (wallet)
               CROSS JOIN LATERAL (SELECT signature FROM ledger
                                   WHERE ledger.wallet = w.wallet ORDER BY seq DESC LIMIT 1) l
           UNION
           SELECT signature FROM referrals WHERE invitee = ANY($1::text[])
           UNION
           SELECT r.signature FROM unnest($1::text[]) AS w (wallet)
               CROSS JOIN LATERAL (SELECT signature FROM referrals
                                   WHERE referrer = w.wallet
                                     AND slot = (SELECT max(x.slot) FROM referrals x
                                                 WHERE x.referrer = w.wallet)) r"#,
        wallets
    )
    .fetch_all(&mut *db)
    .await?;
    let events = sqlx::query_as!(
        StoredEvent,
        "SELECT signature, event_index, slot, block_time, origin, payload FROM events
         WHERE signature = ANY($1::text[])",
        &signatures
    )
    .fetch_all(&mut *db)
    .await?;
    let mut rows = project(&events)?;
    // Only the spark states are wanted from these events.
    let spark_accounts = std::mem::take(&mut rows.spark_accounts);
    Ok(BatchRows {
        spark_accounts,
        ..BatchRows::default()
    })
}

/// The newest remaining state of each touched shared account (config,
/// issuers, perks, whitelists): a scan down the `events_state_changes`
/// index from the newest event, until each was found at a slot the scan
/// has passed (or the events run out: an account no remaining event holds
/// is removed). Only the events that name a touched account are projected.
async fn newest_shared_states(
    db: &mut PgConnection,
    touched: &Touched,
) -> Result<BatchRows, StoreError> {
    let mut found = BatchRows::default();
    if !touched.has_shared() {
        return Ok(found);
    }
    let mut before: (i64, String, i32) = (i64::MAX, String::new(), 0);
    loop {
        let chunk = sqlx::query_as!(
            StoredEvent,
            "SELECT signature, event_index, slot, block_time, origin, payload FROM events
             WHERE kind NOT IN ('SparksAwarded', 'SparksRevoked', 'ReferrerSet', 'AwardIdsVoided')
               AND (slot, signature, event_index) < ($1, $2, $3)
             ORDER BY slot DESC, signature DESC, event_index DESC LIMIT $4",
            before.0,
            before.1,
            before.2,
            SCAN_CHUNK
        )
        .fetch_all(&mut *db)
        .await?;
        let Some(last) = chunk.last() else { break };
        before = (last.slot, last.signature.clone(), last.event_index);
        let mut rows = project_where(&chunk, |event| touched.concerns_shared(event))?;
        rows.config.retain(|k| touched.config.contains(k));
        rows.issuers.retain(|k| touched.issuers.contains(k));
        rows.perks.retain(|k| touched.perks.contains(k));
        rows.whitelists.retain(|k| touched.whitelists.contains(k));
        found.config.merge(rows.config);
        found.issuers.merge(rows.issuers);
        found.perks.merge(rows.perks);
        found.whitelists.merge(rows.whitelists);
        if (chunk.len() as i64) < SCAN_CHUNK || touched.shared_found_above(&found, before.0) {
            break;
        }
    }
    Ok(found)
}

/// The newest remaining state of each touched perk claim and whitelist
/// entry, from its owner's redemptions and spots (the
/// `events_owned_state_changes` index: bounded by the owners' own
/// histories, not the store's).
async fn newest_owned_states(
    db: &mut PgConnection,
    touched: &Touched,
) -> Result<BatchRows, StoreError> {
    let owners: BTreeSet<String> = touched
        .claim_owners
        .iter()
        .chain(&touched.entry_owners)
        .map(|(_, owner)| key(owner))
        .collect();
    if owners.is_empty() {
        return Ok(BatchRows::default());
    }
    let owners: Vec<String> = owners.into_iter().collect();
    let events = sqlx::query_as!(
        StoredEvent,
        "SELECT signature, event_index, slot, block_time, origin, payload FROM events
         WHERE kind IN ('PerkRedeemed', 'WhitelistSpotGranted', 'WhitelistSpotConsumed')
           AND wallet = ANY($1::text[])",
        &owners
    )
    .fetch_all(&mut *db)
    .await?;
    let rows = project_where(&events, |event| touched.concerns_owned(event))?;
    let (mut claims, mut entries) = (rows.claims, rows.entries);
    claims.retain(|k| touched.claims.contains(k));
    entries.retain(|k| touched.entries.contains(k));
    Ok(BatchRows {
        claims,
        entries,
        ..BatchRows::default()
    })
}

/// Recomputes from `spark_accounts` the rankings a touched wallet fell out
/// of: wallets outside the stored top may now belong in it. A scan of the
/// accounts (no index on scores, see migration 0004), paid only when a
/// dropped transaction made a top wallet fall below the last place.
async fn recompute_rankings(
    db: &mut PgConnection,
    mut rankings: Vec<String>,
) -> Result<u64, StoreError> {
    rankings.sort();
    rankings.dedup();
    if rankings.is_empty() {
        return Ok(0);
    }
    for ranking in &rankings {
        let Some(column) = RANKING_COLUMNS
            .iter()
            .find(|(name, _)| name == ranking)
            .map(|(_, column)| column)
        else {
            continue;
        };
        sqlx::query!("DELETE FROM leaderboard WHERE ranking = $1", ranking)
            .execute(&mut *db)
            .await?;
        // The top `LEADERBOARD_DEPTH` with ties, as `update_leaderboard` keeps it.
        sqlx::query(&format!(
            "INSERT INTO leaderboard (ranking, wallet, earned)
             SELECT $1, wallet, {column} FROM spark_accounts WHERE {column} > 0
             ORDER BY {column} DESC FETCH FIRST ($2::int8) ROWS WITH TIES"
        ))
        .bind(ranking)
        .bind(LEADERBOARD_DEPTH)
        .execute(&mut *db)
        .await?;
    }
    Ok(rankings.len() as u64)
}
