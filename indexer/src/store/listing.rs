//! A long listing kept in Postgres (migration 0009) instead of memory.
//!
//! The indexer lists newest first and stores oldest first, so everything
//! between the tip and the cursor is listed before the first transaction can
//! be stored. Past a few pages the indexer writes the listing here page by
//! page, with the signature it has reached, so its memory stays bounded by a
//! page and a crash, a restart or a page failing for the whole retry budget
//! resumes the listing where it stopped. Once listed, the pending signatures
//! are stored oldest first, a chunk at a time, and forgotten as the cursor
//! passes them.

use super::{Store, StoreError};

/// The listing in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingMarker {
    /// The cursor the listing runs down to (`None`: the start of history).
    pub down_to: Option<String>,
    /// The chain's slot when the listing began.
    pub tip: u64,
    /// The oldest signature listed so far and its slot: the next page is the
    /// one before it.
    pub next_before: Option<(String, u64)>,
    /// Listed all the way down: what is left is storing the pending rows.
    pub complete: bool,
}

/// A listed signature waiting to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignature {
    pub signature: String,
    pub slot: u64,
    pub error: Option<String>,
    pub block_time: Option<i64>,
    pub finalized: bool,
}

impl Store {
    /// The listing in progress, if any.
    pub async fn listing(&self) -> Result<Option<ListingMarker>, StoreError> {
        let row = sqlx::query!(
            "SELECT down_to, tip, next_before, next_before_slot, complete FROM listing"
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| ListingMarker {
            down_to: row.down_to,
            tip: row.tip as u64,
            next_before: row
                .next_before
                .zip(row.next_before_slot)
                .map(|(signature, slot)| (signature, slot as u64)),
            complete: row.complete,
        }))
    }

    /// Starts keeping a listing down to `down_to`, begun at chain slot `tip`;
    /// a previous one is dropped.
    pub async fn begin_listing(&self, down_to: Option<&str>, tip: u64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        clear(&mut tx).await?;
        sqlx::query!(
            "INSERT INTO listing (down_to, tip) VALUES ($1, $2)",
            down_to,
            tip as i64
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends `entries` (newest first, older than everything kept so far)
    /// and records `reached`, the oldest signature listed (kept or not), in
    /// one transaction: a listing resumed after a crash neither repeats nor
    /// skips a page.
    pub async fn keep_listed(
        &self,
        entries: &[PendingSignature],
        reached: (&str, u64),
    ) -> Result<(), StoreError> {
        let signatures: Vec<String> = entries.iter().map(|e| e.signature.clone()).collect();
        let slots: Vec<i64> = entries.iter().map(|e| e.slot as i64).collect();
        let errors: Vec<Option<String>> = entries.iter().map(|e| e.error.clone()).collect();
        let block_times: Vec<Option<i64>> = entries.iter().map(|e| e.block_time).collect();
        let finalized: Vec<bool> = entries.iter().map(|e| e.finalized).collect();
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO pending_signatures (position, signature, slot, error, block_time, finalized)
             SELECT (SELECT coalesce(max(position), -1) FROM pending_signatures) + n,
                    signature, slot, error, block_time, finalized
             FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::bool[])
                  WITH ORDINALITY AS e(signature, slot, error, block_time, finalized, n)",
            &signatures,
            &slots,
            &errors as &[Option<String>],
            &block_times as &[Option<i64>],
            &finalized,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE listing SET next_before = $1, next_before_slot = $2",
            reached.0,
            reached.1 as i64
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets every pending signature, keeping the point reached: the
    /// listing met a signature below the commitment, and nothing newer than
    /// it may be stored before it is.
    pub async fn forget_listed(&self) -> Result<(), StoreError> {
        sqlx::query!("DELETE FROM pending_signatures")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the listing as having reached its end.
    pub async fn complete_listing(&self) -> Result<(), StoreError> {
        sqlx::query!("UPDATE listing SET complete = true")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The oldest `limit` pending signatures, oldest first.
    pub async fn oldest_pending(&self, limit: usize) -> Result<Vec<PendingSignature>, StoreError> {
        let rows = sqlx::query!(
            "SELECT signature, slot, error, block_time, finalized FROM pending_signatures
             ORDER BY position DESC LIMIT $1",
            limit as i64
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| PendingSignature {
                signature: row.signature,
                slot: row.slot as u64,
                error: row.error,
                block_time: row.block_time,
                finalized: row.finalized,
            })
            .collect())
    }

    /// How many signatures the listing keeps.
    pub async fn pending_count(&self) -> Result<u64, StoreError> {
        let n = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM pending_signatures")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Forgets `signature` and every pending one older than it (stored now:
    /// the cursor is at `signature`). False when it is not pending.
    pub async fn forget_pending_through(&self, signature: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query!(
            "DELETE FROM pending_signatures
             WHERE position >= (SELECT position FROM pending_signatures WHERE signature = $1)",
            signature
        )
        .execute(&self.pool)
        .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Drops the listing and what it kept.
    pub async fn end_listing(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        clear(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Drops the listing in progress inside the caller's transaction (a
/// rollback that moves the cursor back does: the listing ran down to a
/// cursor that is no longer there).
pub(super) async fn clear(db: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::query!("DELETE FROM pending_signatures")
        .execute(&mut *db)
        .await?;
    sqlx::query!("DELETE FROM listing")
        .execute(&mut *db)
        .await?;
    Ok(())
}
