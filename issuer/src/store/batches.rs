//! The worker's side of the outbox: requests packed into batches with
//! their award ids, every send (of the batch, or of the void that gives its
//! ids up) recorded before it is sent, and each batch's end (landed,
//! finalized, failed, voided and split) written with its requests'.

use sqlx::Row;

use super::{Store, StoreError};

/// A pending request as the worker packs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub id: i64,
    pub wallet: String,
    pub source: String,
    pub amount: u64,
    pub reference: [u8; 32],
    /// The most rows a batch holding it may have (`None`: as many as fit),
    /// halved each time a batch holding it was split.
    pub max_batch_rows: Option<usize>,
}

/// A batch the worker plans: requests (in award-id order) of one source
/// and reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedBatch {
    pub source: String,
    pub reference: [u8; 32],
    pub requests: Vec<i64>,
}

/// A batch in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: i64,
    pub source: String,
    pub reference: [u8; 32],
    pub first_award_id: u64,
    /// (wallet, amount), in award-id order.
    pub rows: Vec<(String, u64)>,
    pub signatures: Vec<String>,
    pub blockhash: Option<String>,
    /// The newest send's last valid block height.
    pub last_valid_block_height: Option<u64>,
    /// Sends that failed for a reason other than a program refusal.
    pub failed_sends: u32,
    /// Sends whose blockhash expired before they were seen.
    pub expired_sends: u32,
    /// Set once the batch's ids are being voided.
    pub voiding: Option<Voiding>,
    /// When this process claimed it (for the landing latency; `None` for a
    /// batch a restart found still sending).
    pub claimed_at: Option<std::time::Instant>,
}

/// A batch whose ids are being given up with `void_award_ids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voiding {
    /// Why: the failure its requests end with, or the split's cause.
    pub reason: String,
    /// Once voided, whether the requests are sent again in smaller batches
    /// (or fail with `reason`).
    pub split: bool,
    /// Every void send, oldest first.
    pub signatures: Vec<String>,
    /// The newest void send's last valid block height.
    pub last_valid_block_height: Option<u64>,
}

/// A send that did not land, for the batch's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissedSend {
    /// Failed on chain, or refused by the node's simulation, for a reason
    /// other than a program refusal.
    Failed,
    /// Its blockhash expired before it was seen.
    Expired,
}

impl Store {
    /// The oldest `limit` pending requests of `issuer`.
    pub async fn pending(
        &self,
        issuer: &str,
        limit: i64,
    ) -> Result<Vec<PendingRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, wallet, source, amount, reference, max_batch_rows FROM award_requests
             WHERE issuer = $1 AND state = 'pending' ORDER BY id LIMIT $2",
        )
        .bind(issuer)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let reference: Vec<u8> = row.try_get("reference")?;
                Ok(PendingRequest {
                    id: row.try_get("id")?,
                    wallet: row.try_get("wallet")?,
                    source: row.try_get("source")?,
                    amount: row.try_get::<i64, _>("amount")? as u64,
                    reference: reference.try_into().unwrap_or([0; 32]),
                    max_batch_rows: row
                        .try_get::<Option<i32>, _>("max_batch_rows")?
                        .map(|n| n.max(1) as usize),
                })
            })
            .collect()
    }

    /// The next award id `issuer`'s allocator would give (at least
    /// `chain_next`, one past the highest id used on chain).
    pub async fn next_award_id(&self, issuer: &str, chain_next: u64) -> Result<u64, StoreError> {
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT next FROM award_ids WHERE issuer = $1")
                .bind(issuer)
                .fetch_optional(&self.pool)
                .await?;
        Ok(stored.map_or(chain_next, |n| (n as u64).max(chain_next)))
    }

    /// Commits `planned` in one transaction: each batch gets the allocator's
    /// next consecutive award ids, its requests move to `sending` with
    /// their ids. Returns the batches, or none if another worker took a
    /// request meanwhile.
    pub async fn assign(
        &self,
        issuer: &str,
        chain_next: u64,
        planned: &[PlannedBatch],
    ) -> Result<Vec<Batch>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<i64> = planned.iter().flat_map(|b| b.requests.clone()).collect();
        let locked: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM award_requests WHERE id = ANY($1) AND state = 'pending'
             FOR UPDATE SKIP LOCKED",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        if locked.len() != ids.len() {
            return Ok(Vec::new());
        }
        let mut next: i64 = sqlx::query_scalar(
            "INSERT INTO award_ids (issuer, next) VALUES ($1, $2)
             ON CONFLICT (issuer) DO UPDATE SET next = greatest(award_ids.next, $2)
             RETURNING next",
        )
        .bind(issuer)
        .bind(chain_next as i64)
        .fetch_one(&mut *tx)
        .await?;
        let mut batches = Vec::with_capacity(planned.len());
        for plan in planned {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO award_batches (issuer, source, reference, first_award_id, rows)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(issuer)
            .bind(&plan.source)
            .bind(plan.reference.as_slice())
            .bind(next)
            .bind(plan.requests.len() as i32)
            .fetch_one(&mut *tx)
            .await?;
            let rows = sqlx::query(
                "UPDATE award_requests r SET state = 'sending', batch_id = $1,
                        award_id = $2 + o.n - 1, updated_at = now()
                 FROM UNNEST($3::int8[]) WITH ORDINALITY AS o(id, n)
                 WHERE r.id = o.id
                 RETURNING r.wallet, r.amount, r.award_id",
            )
            .bind(id)
            .bind(next)
            .bind(&plan.requests)
            .fetch_all(&mut *tx)
            .await?;
            let mut rows: Vec<(i64, String, u64)> = rows
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("award_id")?,
                        r.try_get("wallet")?,
                        r.try_get::<i64, _>("amount")? as u64,
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()?;
            rows.sort();
            batches.push(Batch {
                id,
                source: plan.source.clone(),
                reference: plan.reference,
                first_award_id: next as u64,
                rows: rows.into_iter().map(|(_, w, a)| (w, a)).collect(),
                signatures: Vec::new(),
                blockhash: None,
                last_valid_block_height: None,
                failed_sends: 0,
                expired_sends: 0,
                voiding: None,
                claimed_at: Some(std::time::Instant::now()),
            });
            next += plan.requests.len() as i64;
        }
        sqlx::query("UPDATE award_ids SET next = $2 WHERE issuer = $1")
            .bind(issuer)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(batches)
    }

    /// `issuer`'s batches still being sent (after a restart: all of them).
    pub async fn sending_batches(&self, issuer: &str) -> Result<Vec<Batch>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.id, b.source, b.reference, b.first_award_id, b.signatures, b.blockhash,
                    b.last_valid_block_height, b.failed_sends, b.expired_sends, b.void_reason,
                    b.void_split, b.void_signatures, b.void_last_valid_block_height,
                    array_agg(r.wallet ORDER BY r.award_id) AS wallets,
                    array_agg(r.amount ORDER BY r.award_id) AS amounts
             FROM award_batches b JOIN award_requests r ON r.batch_id = b.id
             WHERE b.issuer = $1 AND b.state = 'sending'
             GROUP BY b.id ORDER BY b.id",
        )
        .bind(issuer)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let reference: Vec<u8> = row.try_get("reference")?;
                let wallets: Vec<String> = row.try_get("wallets")?;
                let amounts: Vec<i64> = row.try_get("amounts")?;
                let height = |column: &str| -> Result<Option<u64>, sqlx::Error> {
                    Ok(row.try_get::<Option<i64>, _>(column)?.map(|h| h as u64))
                };
                let voiding = match row.try_get::<Option<String>, _>("void_reason")? {
                    Some(reason) => Some(Voiding {
                        reason,
                        split: row.try_get("void_split")?,
                        signatures: row.try_get("void_signatures")?,
                        last_valid_block_height: height("void_last_valid_block_height")?,
                    }),
                    None => None,
                };
                Ok(Batch {
                    id: row.try_get("id")?,
                    source: row.try_get("source")?,
                    reference: reference.try_into().unwrap_or([0; 32]),
                    first_award_id: row.try_get::<i64, _>("first_award_id")? as u64,
                    rows: wallets
                        .into_iter()
                        .zip(amounts.into_iter().map(|a| a as u64))
                        .collect(),
                    signatures: row.try_get("signatures")?,
                    blockhash: row.try_get("blockhash")?,
                    last_valid_block_height: height("last_valid_block_height")?,
                    failed_sends: row.try_get::<i32, _>("failed_sends")? as u32,
                    expired_sends: row.try_get::<i32, _>("expired_sends")? as u32,
                    voiding,
                    claimed_at: None,
                })
            })
            .collect()
    }

    /// Records a signed send before it is sent.
    pub async fn record_send(
        &self,
        batch: i64,
        signature: &str,
        blockhash: &str,
        last_valid_block_height: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE award_batches SET signatures = array_append(signatures, $2), blockhash = $3,
                    last_valid_block_height = $4, updated_at = now()
             WHERE id = $1",
        )
        .bind(batch)
        .bind(signature)
        .bind(blockhash)
        .bind(last_valid_block_height as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts a send of `batch` that did not land.
    pub async fn record_missed_send(
        &self,
        batch: i64,
        missed: MissedSend,
    ) -> Result<(), StoreError> {
        let column = match missed {
            MissedSend::Failed => "failed_sends",
            MissedSend::Expired => "expired_sends",
        };
        sqlx::query(&format!(
            "UPDATE award_batches SET {column} = {column} + 1, updated_at = now() WHERE id = $1"
        ))
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// From now on `batch`'s ids are being voided, for `reason`.
    pub async fn begin_void(
        &self,
        batch: i64,
        reason: &str,
        split: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE award_batches SET void_reason = $2, void_split = $3, updated_at = now()
             WHERE id = $1",
        )
        .bind(batch)
        .bind(reason)
        .bind(split)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a signed void of `batch`'s ids before it is sent.
    pub async fn record_void_send(
        &self,
        batch: i64,
        signature: &str,
        last_valid_block_height: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE award_batches SET void_signatures = array_append(void_signatures, $2),
                    void_last_valid_block_height = $3, updated_at = now()
             WHERE id = $1",
        )
        .bind(batch)
        .bind(signature)
        .bind(last_valid_block_height as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `batch`'s ids were voided (`reason`): its requests go back to
    /// pending, without award ids, each allowed at most `max_rows` rows in
    /// its next batch (ids and batch are assigned again at the next claim).
    pub async fn mark_voided_and_split(
        &self,
        batch: i64,
        reason: &str,
        max_rows: usize,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE award_requests SET state = 'pending', batch_id = NULL, award_id = NULL,
                    max_batch_rows = $2, splits = splits + 1, updated_at = now()
             WHERE batch_id = $1 AND state = 'sending'",
        )
        .bind(batch)
        .bind(max_rows as i32)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE award_batches SET state = 'voided', failure = $2, updated_at = now()
             WHERE id = $1",
        )
        .bind(batch)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The batch and its requests landed in `signature` at `slot`.
    pub async fn mark_landed(
        &self,
        batch: i64,
        signature: &str,
        slot: u64,
    ) -> Result<(), StoreError> {
        self.end_batch(batch, "landed", Some(signature), Some(slot), None)
            .await
    }

    /// The batch and its requests failed for good (`reason`); their ids
    /// were voided, so none of them will ever pay.
    pub async fn mark_failed(&self, batch: i64, reason: &str) -> Result<(), StoreError> {
        self.end_batch(batch, "failed", None, None, Some(reason))
            .await
    }

    /// Landed batches whose send is final now, with their requests, in one
    /// transaction.
    pub async fn mark_finalized(&self, batches: &[i64]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (table, key) in [("award_batches", "id"), ("award_requests", "batch_id")] {
            sqlx::query(&format!(
                "UPDATE {table} SET state = 'finalized', updated_at = now()
                 WHERE {key} = ANY($1) AND state = 'landed'"
            ))
            .bind(batches)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn end_batch(
        &self,
        batch: i64,
        state: &str,
        signature: Option<&str>,
        slot: Option<u64>,
        failure: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if state == "landed" {
            sqlx::query("UPDATE award_requests SET landed_at = now() WHERE batch_id = $1")
                .bind(batch)
                .execute(&mut *tx)
                .await?;
        }
        for table in ["award_batches", "award_requests"] {
            let key = if table == "award_batches" {
                "id"
            } else {
                "batch_id"
            };
            sqlx::query(&format!(
                "UPDATE {table} SET state = $2, signature = coalesce($3, signature),
                        slot = coalesce($4, slot), failure = coalesce($5, failure),
                        updated_at = now()
                 WHERE {key} = $1"
            ))
            .bind(batch)
            .bind(state)
            .bind(signature)
            .bind(slot.map(|s| s as i64))
            .bind(failure)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `issuer`'s landed batches at or below `max_slot` and their
    /// signatures, to finalize.
    pub async fn landed_batches(
        &self,
        issuer: &str,
        max_slot: u64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, signature FROM award_batches
             WHERE issuer = $1 AND state = 'landed' AND signature IS NOT NULL AND slot <= $2
             ORDER BY id",
        )
        .bind(issuer)
        .bind(max_slot as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("signature")?)))
            .collect()
    }

    /// The batches not yet ended, for `/health` and the metrics: what is in
    /// flight, what is being voided, and how long the oldest has been.
    pub async fn open_batches(&self) -> Result<OpenBatches, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE void_reason IS NULL) AS sending,
                    count(*) FILTER (WHERE void_reason IS NOT NULL) AS voiding,
                    coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest,
                    coalesce(max(failed_sends), 0) AS failed,
                    coalesce(max(expired_sends), 0) AS expired
             FROM award_batches WHERE state = 'sending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(OpenBatches {
            sending: row.try_get("sending")?,
            voiding: row.try_get("voiding")?,
            oldest_seconds: row.try_get("oldest")?,
            most_failed_sends: row.try_get("failed")?,
            most_expired_sends: row.try_get("expired")?,
        })
    }
}

/// The batches still open (see [`Store::open_batches`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpenBatches {
    /// Being sent.
    pub sending: i64,
    /// Their ids being voided (refused, or split after failing to land).
    pub voiding: i64,
    /// Age of the oldest open batch, seconds (0: none).
    pub oldest_seconds: f64,
    /// The most sends an open batch had fail, and expire unseen.
    pub most_failed_sends: i32,
    pub most_expired_sends: i32,
}
