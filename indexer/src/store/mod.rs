//! The Postgres store: events, projections and cursor, one database
//! transaction per batch.
//!
//! Exactly once: a transaction's events, ledger rows and problems are
//! written with its `transactions` row, whose insert is the guard (a
//! replayed transaction is skipped whole); projection rows change only when
//! the incoming `seq` is newer. Replaying any range or applying batches out
//! of order therefore converges to the chain's state. Rows are written
//! column-wise through `UNNEST`, one statement per table per batch;
//! [`Pipeline`] keeps several batches in flight.

pub mod listing;
pub mod pipeline;
mod projections;
pub mod rollback;
pub mod rows;

use std::collections::HashSet;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use crate::names::{CHANGED_CHANNEL, RANKINGS};
pub use listing::{ListingMarker, PendingSignature};
use pipeline::Outcome;
pub use pipeline::Pipeline;
use projections::write_projections;
pub use rollback::RolledBack;
use rows::int;
pub use rows::{BatchRows, IndexedTransaction, RowError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Row(#[from] RowError),
    #[error(
        "the cursor is no longer at {expected:?} (another writer, a rollback, or a commit the \
         database lost in a crash); the catch-up starts over from the stored cursor"
    )]
    CursorMoved { expected: Option<String> },
    #[error("a batch's commit was cancelled before it finished")]
    Interrupted,
    #[error("the batch before this one in the pipeline was not committed, so neither is this one")]
    EarlierBatchFailed,
    #[error("stored event {signature}#{index} no longer decodes: {reason}")]
    StoredEvent {
        signature: String,
        index: i32,
        reason: String,
    },
}

/// A batch's cursor move: from where the catch-up found the cursor to the
/// batch's newest transaction. The move only happens if the stored cursor is
/// still at `from`, so a catch-up never writes past state it did not see (a
/// rollback, a second writer, a commit the database lost in a crash).
#[derive(Debug, Clone, Copy)]
pub struct CursorMove<'a> {
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub slot: u64,
}

/// Where the mirror is complete up to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cursor {
    /// Newest signature such that it and everything before it is indexed.
    pub signature: Option<String>,
    pub slot: u64,
    pub finalized_slot: u64,
    /// The chain slot the mirror was last complete up to.
    pub caught_up_slot: u64,
}

/// Which stored transactions `reindex` fetches again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Signatures(Vec<String>),
    /// Every stored transaction in slots `from..=until`.
    Slots {
        from: u64,
        until: u64,
    },
    /// Every stored transaction with a recorded problem.
    WithProblems,
}

/// A stored transaction as `reindex` selects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransaction {
    pub signature: String,
    pub slot: i64,
    pub finalized: bool,
    /// What a reindex keeps: it decodes events again, not the block's time.
    pub block_time: Option<i64>,
}

/// What [`Store::apply`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub transactions: u64,
    /// New events (a replayed event counts 0).
    pub events: u64,
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How the indexer's and the API's pools connect (each pool its own).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(std::time::Duration::from_secs(10))
        // No ping round trip before every query (it cost the API a third
        // of its rate); a connection that broke fails its next query,
        // which the caller retries or reports, and is discarded.
        .test_before_acquire(false)
}

impl Store {
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = database_url.parse()?;
        let pool = pool_options().connect_with(options).await?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    pub async fn cursor(&self) -> Result<Cursor, StoreError> {
        let row =
            sqlx::query!("SELECT signature, slot, finalized_slot, caught_up_slot FROM cursor")
                .fetch_one(&self.pool)
                .await?;
        Ok(Cursor {
            signature: row.signature,
            slot: row.slot as u64,
            finalized_slot: row.finalized_slot as u64,
            caught_up_slot: row.caught_up_slot as u64,
        })
    }

    /// The newest stored signature in a slot below `slot`: the listing's
    /// `until`, so a node that knows it stops just past the cursor.
    pub async fn stored_before_slot(&self, slot: u64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar!(
            "SELECT signature FROM transactions WHERE slot < $1 ORDER BY slot DESC LIMIT 1",
            slot as i64
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Which of `signatures` are already indexed.
    pub async fn known(&self, signatures: &[String]) -> Result<HashSet<String>, StoreError> {
        let rows = sqlx::query_scalar!(
            "SELECT signature FROM transactions WHERE signature = ANY($1::text[])",
            signatures
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Writes a batch in one database transaction. `cursor` moves the cursor
    /// to the batch's newest transaction when everything before it is
    /// indexed too; the batch is refused ([`StoreError::CursorMoved`]) when
    /// the cursor is not where the move expects it.
    pub async fn apply(
        &self,
        transactions: &[IndexedTransaction],
        cursor: Option<CursorMove<'_>>,
    ) -> Result<Applied, StoreError> {
        self.apply_after(transactions, cursor, None).await
    }

    /// [`Store::apply`] as one batch of a [`Pipeline`]: the batch's own rows
    /// (transactions, events, ledger, problems) are written at once, while
    /// `earlier` (the batch before it) may still be in flight; the rows
    /// batches share (projections, referrals) and the cursor only once
    /// `earlier` committed. The batch is refused if `earlier` was not.
    async fn apply_after(
        &self,
        transactions: &[IndexedTransaction],
        cursor: Option<CursorMove<'_>>,
        earlier: Option<watch::Receiver<Outcome>>,
    ) -> Result<Applied, StoreError> {
        let rows = BatchRows::build(transactions)?;
        let mut db = self.pool.begin().await?;
        match write_in_order(&mut db, &rows, cursor, earlier).await {
            Ok(applied) => {
                notify_changed(&mut db).await?;
                db.commit().await?;
                Ok(applied)
            }
            Err(error) => {
                // At once, not when the connection is next used: the batch
                // after this one may be waiting on the rows it locked.
                let _ = db.rollback().await;
                Err(error)
            }
        }
    }

    /// Records that the mirror is complete up to the chain's `chain_slot`.
    pub async fn mark_caught_up(&self, chain_slot: u64) -> Result<(), StoreError> {
        sqlx::query!(
            "UPDATE cursor SET caught_up_slot = greatest(caught_up_slot, $1), caught_up_at = now()",
            chain_slot as i64
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Indexed transactions not yet known final, at or below `max_slot`.
    pub async fn unfinalized(&self, max_slot: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query!(
            "SELECT signature, slot FROM transactions WHERE NOT finalized AND slot <= $1 ORDER BY slot",
            max_slot as i64
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.signature, r.slot as u64))
            .collect())
    }

    /// Marks `signatures` final and moves the cursor's `finalized_slot`, the
    /// slot through which every stored transaction is final (what the API
    /// reports as `finalized`), up to the chain's `finalized_slot` but never
    /// past a stored transaction whose fate is still open.
    pub async fn mark_finalized(
        &self,
        signatures: &[String],
        finalized_slot: u64,
    ) -> Result<(), StoreError> {
        let mut db = self.pool.begin().await?;
        // First, so a batch storing an unfinalized transaction meanwhile
        // either committed before (and is seen below) or lowers the slot after.
        sqlx::query!("SELECT id FROM cursor FOR UPDATE")
            .fetch_one(&mut *db)
            .await?;
        sqlx::query!(
            "UPDATE transactions SET finalized = true WHERE signature = ANY($1::text[])",
            signatures
        )
        .execute(&mut *db)
        .await?;
        // Never back because one caller's node is behind another's (the
        // stream and the RPC finality check both call this); only below a
        // stored transaction that is not final.
        sqlx::query!(
            "UPDATE cursor SET finalized_slot = least(greatest(finalized_slot, $1::int8), coalesce(
                 (SELECT min(slot) - 1 FROM transactions
                   WHERE NOT finalized AND slot <= greatest(cursor.finalized_slot, $1::int8)),
                 greatest(finalized_slot, $1::int8)))",
            finalized_slot as i64
        )
        .execute(&mut *db)
        .await?;
        // With no transaction newly final, the finalized slot only moves
        // over slots without stored transactions: no summary changes.
        if !signatures.is_empty() {
            notify_changed(&mut db).await?;
        }
        db.commit().await?;
        Ok(())
    }

    /// Removes transactions that will never be final (a dropped fork) and
    /// restores every account they touched to its newest remaining state
    /// (see [`rollback`]); nothing else is rewritten.
    pub async fn roll_back(&self, signatures: &[String]) -> Result<RolledBack, StoreError> {
        let mut db = self.pool.begin().await?;
        // Notices not delivered are cancelled; those a receiver may have
        // acted on get a rollback notice, built from their events before
        // those are removed.
        crate::webhooks::outbox::roll_back(&mut db, signatures).await?;
        let rolled_back =
            rollback::roll_back(&mut db, signatures, rollback::Cursor::MoveBack).await?;
        notify_changed(&mut db).await?;
        db.commit().await?;
        Ok(rolled_back)
    }

    /// Stored transactions `selection` names, oldest first.
    pub async fn stored(
        &self,
        selection: &Selection,
    ) -> Result<Vec<StoredTransaction>, StoreError> {
        let rows = match selection {
            Selection::Signatures(signatures) => {
                sqlx::query_as!(
                    StoredTransaction,
                    "SELECT signature, slot, finalized, block_time FROM transactions
                     WHERE signature = ANY($1::text[]) ORDER BY slot, signature",
                    signatures
                )
                .fetch_all(&self.pool)
                .await?
            }
            Selection::Slots { from, until } => {
                sqlx::query_as!(
                    StoredTransaction,
                    "SELECT signature, slot, finalized, block_time FROM transactions
                     WHERE slot BETWEEN $1 AND $2 ORDER BY slot, signature",
                    *from as i64,
                    *until as i64
                )
                .fetch_all(&self.pool)
                .await?
            }
            Selection::WithProblems => {
                sqlx::query_as!(
                    StoredTransaction,
                    "SELECT signature, slot, finalized, block_time FROM transactions t
                     WHERE EXISTS (SELECT 1 FROM transaction_problems p WHERE p.signature = t.signature)
                     ORDER BY slot, signature"
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows)
    }

    /// Replaces the rows of stored transactions with `transactions` (the
    /// same signatures, fetched and decoded again) in one database
    /// transaction: their old events, ledger rows and problems go, the
    /// accounts they touched are restored without them and the new rows
    /// applied, so each transaction counts exactly once whatever the
    /// decoder made of it before. The cursor stays where it is.
    pub async fn reindex(
        &self,
        transactions: &[IndexedTransaction],
    ) -> Result<Applied, StoreError> {
        let rows = BatchRows::build(transactions)?;
        let signatures: Vec<String> = transactions.iter().map(|t| t.signature.clone()).collect();
        let mut db = self.pool.begin().await?;
        rollback::roll_back(&mut db, &signatures, rollback::Cursor::Keep).await?;
        let applied = write_in_order(&mut db, &rows, None, None).await?;
        notify_changed(&mut db).await?;
        db.commit().await?;
        Ok(applied)
    }
}

/// The body of [`Store::apply_after`], up to the commit.
async fn write_in_order(
    db: &mut PgConnection,
    rows: &BatchRows,
    cursor: Option<CursorMove<'_>>,
    earlier: Option<watch::Receiver<Outcome>>,
) -> Result<Applied, StoreError> {
    let (applied, written) = write_own_rows(db, rows).await?;
    if let Some(earlier) = earlier {
        if Outcome::of(earlier).await != Outcome::Committed {
            return Err(StoreError::EarlierBatchFailed);
        }
    }
    write_shared_rows(db, rows).await?;
    // After the batch before it committed: the outbox's order is the
    // order batches commit in, so a wallet's notices go out in that order.
    crate::webhooks::outbox::enqueue(&mut *db, &rows.notifiable, written.as_deref()).await?;
    if let Some(oldest) = rows.oldest_unfinalized_slot() {
        // Not final yet, so nothing from its slot on may be reported final.
        sqlx::query!(
            "UPDATE cursor SET finalized_slot = $1 - 1 WHERE finalized_slot >= $1",
            oldest
        )
        .execute(&mut *db)
        .await?;
    }
    if let Some(CursorMove { from, to, slot }) = cursor {
        let slot = int(slot, "slot", to)?;
        let moved = sqlx::query!(
            "UPDATE cursor SET signature = $1, slot = $2, updated_at = now()
             WHERE signature IS NOT DISTINCT FROM $3",
            to,
            slot,
            from
        )
        .execute(&mut *db)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::CursorMoved {
                expected: from.map(str::to_owned),
            });
        }
    }
    Ok(applied)
}

/// Writes the rows that belong to the batch's transactions alone. The
/// transactions row is the guard: a transaction's events, ledger rows and
/// problems are written in the same database transaction as its
/// transactions row, so only the transactions that row insert found new get
/// theirs, with plain inserts (no `ON CONFLICT` arbitration, ~1/3 cheaper),
/// and a replayed or raced transaction is skipped whole.
/// Returns what was written, and which transactions (`None`: all of them).
async fn write_own_rows(
    db: &mut PgConnection,
    rows: &BatchRows,
) -> Result<(Applied, Option<Vec<String>>), StoreError> {
    let t = &rows.transactions;
    let new: Vec<String> = sqlx::query_scalar!(
        "INSERT INTO transactions (signature, slot, block_time, failed, event_count, finalized)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::bool[], $5::int4[], $6::bool[])
         ON CONFLICT (signature) DO NOTHING
         RETURNING signature",
        &t.signature,
        &t.slot,
        &t.block_time as &[Option<i64>],
        &t.failed,
        &t.event_count,
        &t.finalized
    )
    .fetch_all(&mut *db)
    .await?;
    let transactions = new.len() as u64;
    // `None`: every transaction is new, no filter needed.
    let only: Option<&[String]> = (new.len() != t.signature.len()).then_some(&new);
    let mut fast = Connection::begin(&mut *db).await?; // a savepoint
    let (events, written) = match write_appends(&mut fast, rows, only).await {
        Ok(events) => {
            fast.commit().await?;
            (events, only.is_some().then_some(new))
        }
        // Rows without their transactions row (deleted by hand): write only
        // the transactions that have none at all.
        Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
            fast.rollback().await?;
            let bare = sqlx::query_scalar!(
                "SELECT s AS \"signature!\" FROM unnest($1::text[]) AS s
                 WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.signature = s)
                   AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.signature = s)
                   AND NOT EXISTS (SELECT 1 FROM transaction_problems p WHERE p.signature = s)",
                &new
            )
            .fetch_all(&mut *db)
            .await?;
            (write_appends(db, rows, Some(&bare)).await?, Some(bare))
        }
        Err(other) => return Err(other),
    };
    let applied = Applied {
        transactions,
        events,
    };
    Ok((applied, written))
}

/// Writes the rows other batches may write too: referrals and projections
/// (in key order, see `rows::Latest`).
async fn write_shared_rows(db: &mut PgConnection, rows: &BatchRows) -> Result<(), StoreError> {
    let r = &rows.referrals;
    if !r.invitee.is_empty() {
        sqlx::query!(
            "INSERT INTO referrals (invitee, referrer, signature, slot, block_time)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])
             ON CONFLICT (invitee) DO NOTHING",
            &r.invitee,
            &r.referrer,
            &r.signature,
            &r.slot,
            &r.block_time as &[Option<i64>]
        )
        .execute(&mut *db)
        .await?;
    }

    write_projections(db, rows).await
}

/// Events, transaction problems and ledger rows of the transactions in
/// `only` (all when `None`), with plain inserts. Returns the events written.
async fn write_appends(
    db: &mut PgConnection,
    rows: &BatchRows,
    only: Option<&[String]>,
) -> Result<u64, StoreError> {
    let e = &rows.events;
    let events = sqlx::query!(
        "INSERT INTO events (signature, event_index, slot, block_time, kind, wallet, origin, payload)
         SELECT * FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::int8[], $5::text[], $6::text[],
                              $7::text[], $8::bytea[]) AS r(signature)
         WHERE $9::text[] IS NULL OR r.signature = ANY($9::text[])",
        &e.signature,
        &e.event_index,
        &e.slot,
        &e.block_time as &[Option<i64>],
        &e.kind,
        &e.wallet as &[Option<String>],
        &e.origin,
        &e.payload,
        only
    )
    .execute(&mut *db)
    .await?
    .rows_affected();

    let p = &rows.problems;
    if !p.signature.is_empty() {
        sqlx::query!(
            "INSERT INTO transaction_problems (signature, position, slot, kind, detail)
             SELECT * FROM UNNEST($1::text[], $2::int4[], $3::int8[], $4::text[], $5::text[]) AS r(signature)
             WHERE $6::text[] IS NULL OR r.signature = ANY($6::text[])",
            &p.signature,
            &p.position,
            &p.slot,
            &p.kind,
            &p.detail,
            only
        )
        .execute(&mut *db)
        .await?;
    }

    let l = &rows.ledger;
    if !l.signature.is_empty() {
        sqlx::query!(
            "INSERT INTO ledger (signature, event_index, wallet, seq, slot, block_time, kind, source,
                                 amount, balance_after, issuer, reference, counterparty)
             SELECT * FROM UNNEST($1::text[], $2::int4[], $3::text[], $4::int8[], $5::int8[], $6::int8[],
                                  $7::text[], $8::int2[], $9::int8[], $10::int8[], $11::text[],
                                  $12::bytea[], $13::text[]) AS r(signature)
             WHERE $14::text[] IS NULL OR r.signature = ANY($14::text[])",
            &l.signature,
            &l.event_index,
            &l.wallet,
            &l.seq,
            &l.slot,
            &l.block_time as &[Option<i64>],
            &l.kind,
            &l.source as &[Option<i16>],
            &l.amount,
            &l.balance_after,
            &l.issuer as &[Option<String>],
            &l.reference as &[Option<Vec<u8>>],
            &l.counterparty as &[Option<String>],
            only
        )
        .execute(&mut *db)
        .await?;
    }

    Ok(events)
}

/// Postgres delivers a notification only when, and if, its transaction
/// commits, and sends identical ones of one transaction once.
const NOTIFY_CHANGED: &str = "SELECT pg_notify($1, '')";

/// Tells listeners (the API's streams) that this transaction changes what
/// the API reads, once it commits.
async fn notify_changed(db: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query(NOTIFY_CHANGED)
        .bind(CHANGED_CHANNEL)
        .execute(db)
        .await?;
    Ok(())
}

fn key(key: &anchor_lang::prelude::Pubkey) -> String {
    key.to_string()
}

fn u(value: u64, field: &'static str) -> Result<i64, RowError> {
    int(value, field, "(projection)")
}

/// How deep each ranking of the `leaderboard` table is kept (ties at the
/// last place included): the most rows a leaderboard page can show.
pub const LEADERBOARD_DEPTH: i64 = 100;

/// Keeps `leaderboard` the top of each ranking after these accounts changed
/// (scores in [`RANKINGS`] order). Scores only grow, so a wallet is added
/// when it reaches the current last place, and the rows it pushes below the
/// last place are dropped (see migration 0004). Usually no score of a batch
/// reaches a last place and nothing is written.
async fn update_leaderboard(
    db: &mut PgConnection,
    wallet: &[String],
    scores: [&[i64]; 5],
) -> Result<(), StoreError> {
    let rankings = RANKINGS.map(str::to_owned);
    // In RANKINGS order, which `scores` follows.
    let last_places = sqlx::query!(
        "SELECT k.ranking AS \"ranking!\",
                coalesce((SELECT l.earned FROM leaderboard l WHERE l.ranking = k.ranking
                          ORDER BY l.earned DESC OFFSET $1::int8 - 1 LIMIT 1), 0) AS \"earned!\"
         FROM unnest($2::text[]) WITH ORDINALITY AS k (ranking, n) ORDER BY k.n",
        LEADERBOARD_DEPTH,
        &rankings
    )
    .fetch_all(&mut *db)
    .await?;
    let (mut ranking, mut who, mut earned) = (Vec::new(), Vec::new(), Vec::new());
    for (place, column) in last_places.iter().zip(scores) {
        for (w, &score) in wallet.iter().zip(column) {
            if score > 0 && score >= place.earned {
                ranking.push(place.ranking.clone());
                who.push(w.clone());
                earned.push(score);
            }
        }
    }
    if ranking.is_empty() {
        return Ok(());
    }
    let entered = sqlx::query!(
        "INSERT INTO leaderboard AS l (ranking, wallet, earned)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[])
         ON CONFLICT (ranking, wallet) DO UPDATE SET earned = excluded.earned
         WHERE l.earned < excluded.earned",
        &ranking,
        &who,
        &earned
    )
    .execute(&mut *db)
    .await?;
    if entered.rows_affected() > 0 {
        sqlx::query!(
            "DELETE FROM leaderboard l
             USING (SELECT k.ranking, (SELECT x.earned FROM leaderboard x WHERE x.ranking = k.ranking
                        ORDER BY x.earned DESC OFFSET $1::int8 - 1 LIMIT 1) AS earned
                    FROM unnest($2::text[]) AS k (ranking)) last_place
             WHERE l.ranking = last_place.ranking AND l.earned < last_place.earned",
            LEADERBOARD_DEPTH,
            &rankings
        )
        .execute(&mut *db)
        .await?;
    }
    Ok(())
}
