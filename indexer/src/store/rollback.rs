//! Undoing transactions that will never be final (a dropped fork), touching
//! only what they touched.
//!
//! Every event carries the full state after it of each account it changed,
//! so an account's state without the dropped transactions is the one in its
//! newest remaining event. A rollback locks the touched projection rows (in
//! the order batches lock them, so the two wait for each other instead of
//! deadlocking), deletes the dropped transactions' rows, finds each touched
//! account's newest remaining state through indexes (the ledger and
//! referrals for spark accounts, `events_state_changes` for the rest) and
//! rewrites those rows. A leaderboard ranking that held a touched wallet is
//! recomputed. API readers never wait (MVCC); batches wait only on the rows
//! the rollback touches.

use std::collections::BTreeSet;

use anchor_lang::prelude::Pubkey;
use sparks_client::events::SparksEvent;
use sqlx::PgConnection;

use super::{key, write_projections, BatchRows, IndexedTransaction, StoreError, LEADERBOARD_DEPTH};
use crate::decoder::{DecodedEvent, Origin};

/// What a rollback did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RolledBack {
    pub transactions: u64,
    pub events: u64,
    /// Projection rows rewritten from their remaining events, or removed.
    pub accounts: u64,
    /// Leaderboard rankings recomputed because they held a touched wallet.
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

/// Removes `signatures` and restores every account they touched to its
/// newest remaining state, inside the caller's database transaction.
pub(super) async fn roll_back(
    db: &mut PgConnection,
    signatures: &[String],
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
    let rankings: Vec<String> = sqlx::query_scalar!(
        "DELETE FROM leaderboard WHERE wallet = ANY($1::text[]) RETURNING ranking",
        &wallets
    )
    .fetch_all(&mut *db)
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
    let mut events = 0;
    for statement in [
        "DELETE FROM events WHERE signature = ANY($1::text[])",
        "DELETE FROM ledger WHERE signature = ANY($1::text[])",
        "DELETE FROM transaction_problems WHERE signature = ANY($1::text[])",
    ] {
        let deleted = sqlx::query(statement)
            .bind(signatures)
            .execute(&mut *db)
            .await?;
        if statement.contains("events") {
            events = deleted.rows_affected();
        }
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
    let others_restored = newest_other_states(db, &touched).await?;
    restored.config = others_restored.config;
    restored.issuers = others_restored.issuers;
    restored.perks = others_restored.perks;
    restored.claims = others_restored.claims;
    restored.whitelists = others_restored.whitelists;
    restored.entries = others_restored.entries;
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
    write_projections(db, &restored).await?;
    let rankings = recompute_rankings(db, rankings).await?;

    sqlx::query!(
        "UPDATE cursor SET (signature, slot) = (
             SELECT t.signature, t.slot FROM transactions t ORDER BY t.slot DESC, t.indexed_at DESC LIMIT 1)
         WHERE signature = ANY($1::text[])",
        signatures
    )
    .execute(&mut *db)
    .await?;
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
    let mut rows = BatchRows::default();
    for row in events {
        let event =
            SparksEvent::from_log_data(&row.payload).map_err(|e| StoreError::StoredEvent {
                signature: row.signature.clone(),
                index: row.event_index,
                reason: e.to_string(),
            })?;
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

    /// Whether `found` holds every touched non-wallet account at a slot
    /// above `below` (so no older event can hold a newer state of it).
    fn others_found_above(&self, found: &BatchRows, below: i64) -> bool {
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
            && all(&self.claims, &found.claims, below)
            && all(&self.whitelists, &found.whitelists, below)
            && all(&self.entries, &found.entries, below)
    }

    fn has_others(&self) -> bool {
        self.others().iter().any(|keys| !keys.is_empty())
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

/// The newest remaining state of each touched non-wallet account: a scan
/// down the `events_state_changes` index from the newest event, until each
/// was found at a slot the scan has passed (or the events run out: an
/// account no remaining event holds is removed).
async fn newest_other_states(
    db: &mut PgConnection,
    touched: &Touched,
) -> Result<BatchRows, StoreError> {
    let mut found = BatchRows::default();
    if !touched.has_others() {
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
        let mut rows = project(&chunk)?;
        rows.config.retain(|k| touched.config.contains(k));
        rows.issuers.retain(|k| touched.issuers.contains(k));
        rows.perks.retain(|k| touched.perks.contains(k));
        rows.claims.retain(|k| touched.claims.contains(k));
        rows.whitelists.retain(|k| touched.whitelists.contains(k));
        rows.entries.retain(|k| touched.entries.contains(k));
        found.config.merge(rows.config);
        found.issuers.merge(rows.issuers);
        found.perks.merge(rows.perks);
        found.claims.merge(rows.claims);
        found.whitelists.merge(rows.whitelists);
        found.entries.merge(rows.entries);
        if (chunk.len() as i64) < SCAN_CHUNK || touched.others_found_above(&found, before.0) {
            break;
        }
    }
    Ok(found)
}

/// Recomputes from `spark_accounts` the rankings a touched wallet was in:
/// its score fell, so wallets outside the stored top may now belong in it.
/// A scan of the accounts, paid only when a dropped transaction touched a
/// wallet at the top.
async fn recompute_rankings(
    db: &mut PgConnection,
    mut rankings: Vec<String>,
) -> Result<u64, StoreError> {
    rankings.sort();
    rankings.dedup();
    if rankings.is_empty() {
        return Ok(0);
    }
    sqlx::query!(
        "DELETE FROM leaderboard WHERE ranking = ANY($1::text[])",
        &rankings
    )
    .execute(&mut *db)
    .await?;
    sqlx::query!(
        "INSERT INTO leaderboard (ranking, wallet, earned)
         SELECT ranking, wallet, earned
         FROM (
             SELECT r.ranking, a.wallet, r.earned,
                    rank() OVER (PARTITION BY r.ranking ORDER BY r.earned DESC) AS place
             FROM spark_accounts a
             CROSS JOIN LATERAL (VALUES ('lifetime', a.lifetime_earned), ('trading', a.earned_trading),
                                        ('subscription', a.earned_subscription),
                                        ('campaign', a.earned_campaign),
                                        ('referral', a.earned_referral)) AS r (ranking, earned)
             WHERE r.earned > 0 AND r.ranking = ANY($1::text[])
         ) ranked
         WHERE place <= $2",
        &rankings,
        LEADERBOARD_DEPTH
    )
    .execute(&mut *db)
    .await?;
    Ok(rankings.len() as u64)
}
