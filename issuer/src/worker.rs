//! The worker: lands the outbox on chain, each request exactly once, by the
//! award-id rules of docs/PROGRAM.md.
//!
//! - **Claim:** pending requests are grouped by source and reference,
//!   packed into `award_batch` transactions (`sparks_client::packing`, a
//!   wallet once per round), and committed as batches with consecutive
//!   award ids from a persisted allocator, before anything is sent.
//! - **Settle** (one task per batch, many in flight): every signed send is
//!   recorded before it is sent (with preflight, and without waiting: the
//!   statuses of all recorded sends are polled). A batch has landed when one
//!   of its recorded sends succeeded. While the newest send's blockhash is
//!   valid, it may still land, so nothing else happens; once it expired,
//!   the same ids are signed and sent again. A program refusal of a send
//!   (in preflight or on chain) is made final by voiding the batch's ids
//!   (`void_award_ids` succeeds only if none paid); then its requests are
//!   `failed` with the reason. A send that failed on chain for another
//!   reason (an account changed since it was read) is sent again at once.
//! - **Finalize:** landed batches become `finalized` when their send is.
//!
//! A restart settles every batch still `sending` the same way, so a crash
//! at any point neither loses nor doubles an award.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::error::SparksError;
use sparks::state::Source;
use sparks_client::budget::with_compute_budget;
use sparks_client::instructions as ix;
use sparks_client::packing::{pack_award_batches, Sending};
use sparks_client::rpc::{from_transaction_error, RpcError, SparksRpc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::store::batches::{Batch, PlannedBatch};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("RPC: {0}")]
    Client(#[from] Box<solana_client::client_error::ClientError>),
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Batches being sent at once.
    pub max_in_flight: usize,
    /// Requests claimed per round.
    pub claim_limit: i64,
    /// Pause between rounds.
    pub poll: Duration,
    /// Priority fee, micro-lamports per compute unit.
    pub priority_fee: u64,
    /// Send without the node's simulation first: a refusal then shows on
    /// chain (and costs its fee) instead of in the send's answer.
    pub skip_preflight: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 16,
            claim_limit: 512,
            poll: Duration::from_millis(100),
            priority_fee: 0,
            skip_preflight: false,
        }
    }
}

/// Requests that share a batch: one source and one reference.
type Group = (String, [u8; 32]);

/// A claimed request: its id, recipient and amount.
type Claimed = (i64, Pubkey, u64);

/// Ids kept clear of the program's window (4,096 past the oldest open id),
/// so a batch is never refused as `AwardIdBeyondWindow`.
const WINDOW_MARGIN: u64 = 96;

pub struct Worker {
    store: Store,
    rpc: Arc<SparksRpc>,
    keypair: Arc<Keypair>,
    config: WorkerConfig,
    blockhash: Arc<tokio::sync::Mutex<Option<(solana_hash::Hash, std::time::Instant)>>>,
}

impl Worker {
    pub fn new(store: Store, rpc: SparksRpc, keypair: Keypair, config: WorkerConfig) -> Self {
        Self {
            store,
            rpc: Arc::new(rpc),
            keypair: Arc::new(keypair),
            config,
            blockhash: Arc::default(),
        }
    }

    fn issuer(&self) -> Pubkey {
        self.keypair.pubkey()
    }

    /// Claims, sends and settles until `shutdown`; the batches in flight
    /// are left `sending` and settled by the next run.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut settling: JoinSet<i64> = JoinSet::new();
        let mut active: HashSet<i64> = HashSet::new();
        // What a previous run left sending; a settler runs until its batch
        // ends, so this is needed once.
        loop {
            match self.store.sending_batches(&self.issuer().to_string()).await {
                Ok(batches) => {
                    for batch in batches {
                        active.insert(batch.id);
                        settling.spawn(settle(self.settler(), batch, None));
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "reading the batches still sending; will retry")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => return,
            }
        }
        loop {
            while let Some(done) = settling.try_join_next() {
                if let Ok(id) = done {
                    active.remove(&id);
                }
            }
            if let Err(error) = self.round(&mut settling, &mut active).await {
                tracing::warn!(%error, "worker round failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => break,
            }
        }
        settling.abort_all();
    }

    async fn round(
        &self,
        settling: &mut JoinSet<i64>,
        active: &mut HashSet<i64>,
    ) -> Result<(), WorkerError> {
        if active.len() < self.config.max_in_flight {
            // Rows as read for packing a moment ago: the first send
            // needs no second read.
            for (batch, rows) in self.claim().await? {
                active.insert(batch.id);
                settling.spawn(settle(self.settler(), batch, Some(rows)));
            }
        }
        self.finalize().await
    }

    fn settler(&self) -> Settler {
        Settler {
            store: self.store.clone(),
            rpc: self.rpc.clone(),
            keypair: self.keypair.clone(),
            priority_fee: self.config.priority_fee,
            skip_preflight: self.config.skip_preflight,
            blockhash: self.blockhash.clone(),
        }
    }

    /// Packs pending requests into batches and commits them with their ids.
    async fn claim(&self) -> Result<Vec<(Batch, Vec<ix::BatchRow>)>, WorkerError> {
        let issuer = self.issuer();
        let pending = self
            .store
            .pending(&issuer.to_string(), self.config.claim_limit)
            .await?;
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let on_chain = self
            .rpc
            .issuer(&issuer)
            .await?
            .ok_or(RpcError::NoSuchIssuer(issuer))?;
        let next = self
            .store
            .next_award_id(&issuer.to_string(), on_chain.next_award_id())
            .await?;
        // Room in the window: ids from the floor (the oldest open) on.
        let limit = on_chain.award_id_floor + sparks::constants::AWARD_ID_WINDOW as u64;
        let mut room = limit.saturating_sub(next).saturating_sub(WINDOW_MARGIN);
        // Group by (source, reference), a wallet once per round: a second
        // award to a wallet waits until the first created its account.
        let mut seen = HashSet::new();
        let mut groups: Vec<(Group, Vec<Claimed>)> = Vec::new();
        let mut index: HashMap<Group, usize> = HashMap::new();
        for request in pending {
            let Ok(wallet) = Pubkey::from_str(&request.wallet) else {
                continue;
            };
            if room == 0 || !seen.insert(wallet) {
                continue;
            }
            room -= 1;
            let key = (request.source.clone(), request.reference);
            let at = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push((request.id, wallet, request.amount));
        }
        let mut planned = Vec::new();
        let mut fresh = Vec::new();
        for ((source, reference), requests) in groups {
            let program_source = source_of(&source);
            let wanted: Vec<(Pubkey, u64)> = requests.iter().map(|(_, w, a)| (*w, *a)).collect();
            let rows = self.rpc.batch_rows(program_source, &wanted).await?;
            let packed = pack_award_batches(
                &issuer,
                program_source,
                |_| reference,
                0,
                &rows,
                Sending {
                    payer: &issuer,
                    lookup_tables: &[],
                    micro_lamports_per_unit: self.config.priority_fee,
                },
            );
            let mut start = 0;
            for batch in packed {
                let n = batch.rows.len();
                planned.push(PlannedBatch {
                    source: source.clone(),
                    reference,
                    requests: requests[start..start + n].iter().map(|r| r.0).collect(),
                });
                fresh.push(rows[batch.rows.clone()].to_vec());
                start += n;
            }
        }
        let batches = self
            .store
            .assign(&issuer.to_string(), next, &planned)
            .await?;
        Ok(batches.into_iter().zip(fresh).collect())
    }

    /// Landed batches whose send is final now.
    async fn finalize(&self) -> Result<(), WorkerError> {
        // Only what the finalized slot has passed: one cheap call a round
        // instead of every landed signature's status.
        let finalized_slot = self
            .rpc
            .client()
            .get_slot_with_commitment(solana_commitment_config::CommitmentConfig::finalized())
            .await
            .map_err(Box::new)?;
        let landed = self
            .store
            .landed_batches(&self.issuer().to_string(), finalized_slot)
            .await?;
        for chunk in landed.chunks(256) {
            let signatures: Vec<_> = chunk.iter().filter_map(|(_, s)| s.parse().ok()).collect();
            let statuses = self
                .rpc
                .client()
                .get_signature_statuses(&signatures)
                .await
                .map_err(Box::new)?
                .value;
            for ((batch, _), status) in chunk.iter().zip(statuses) {
                let finalized = status.is_some_and(|s| {
                    s.err.is_none()
                        && s.confirmation_status
                            == Some(
                                solana_transaction_status_client_types::TransactionConfirmationStatus::Finalized,
                            )
                });
                if finalized {
                    self.store.mark_finalized(*batch).await?;
                }
            }
        }
        Ok(())
    }
}

fn source_of(name: &str) -> Source {
    match name {
        "subscription" => Source::Subscription,
        "campaign" => Source::Campaign,
        "referral" => Source::Referral,
        _ => Source::Trading,
    }
}

/// What one batch's settling task needs.
struct Settler {
    store: Store,
    rpc: Arc<SparksRpc>,
    keypair: Arc<Keypair>,
    priority_fee: u64,
    skip_preflight: bool,
    blockhash: Arc<tokio::sync::Mutex<Option<(solana_hash::Hash, std::time::Instant)>>>,
}

/// Settles `batch` (see the module doc); returns its id when it ended.
async fn settle(settler: Settler, mut batch: Batch, mut fresh: Option<Vec<ix::BatchRow>>) -> i64 {
    let mut failures = 0u32;
    loop {
        match settler.step(&mut batch, &mut fresh).await {
            Ok(true) => return batch.id,
            Ok(false) => failures = 0,
            Err(error) => {
                failures += 1;
                tracing::warn!(batch = batch.id, %error, "settling a batch; will retry");
                let wait = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// What became of a batch's recorded sends.
enum Sends {
    /// One succeeded: its signature and slot.
    Landed(String, u64),
    /// The newest failed on chain, paying nothing.
    Failed(RpcError),
    /// None is known to have landed or failed (yet).
    Unknown,
}

impl Settler {
    /// One step; true once the batch ended (landed or failed).
    async fn step(
        &self,
        batch: &mut Batch,
        fresh: &mut Option<Vec<ix::BatchRow>>,
    ) -> Result<bool, WorkerError> {
        // 1. What became of the recorded sends?
        match self.sends(&batch.signatures).await? {
            Sends::Landed(signature, slot) => {
                self.store.mark_landed(batch.id, &signature, slot).await?;
                metrics::counter!("sparks_issuer_awards_landed_total")
                    .increment(batch.rows.len() as u64);
                if let Some(claimed) = batch.claimed_at {
                    metrics::histogram!("sparks_issuer_landing_seconds")
                        .record(claimed.elapsed().as_secs_f64());
                }
                return Ok(true);
            }
            // A program refusal is final; anything else (an account that
            // changed since it was read) is sent again from a fresh read.
            Sends::Failed(refused @ RpcError::Program { .. }) => {
                return self.refused(batch, refused).await;
            }
            Sends::Failed(other) => {
                tracing::info!(batch = batch.id, error = %other, "a send failed on chain; sending again");
            }
            Sends::Unknown => {
                // 2. Could the newest send still land? Then wait for it.
                if let Some(blockhash) = &batch.blockhash {
                    let blockhash = blockhash.parse().map_err(|_| RpcError::Decode {
                        address: Pubkey::default(),
                        kind: "blockhash",
                        reason: blockhash.clone(),
                    })?;
                    let valid = self
                        .rpc
                        .client()
                        .is_blockhash_valid(
                            &blockhash,
                            solana_commitment_config::CommitmentConfig::processed(),
                        )
                        .await
                        .map_err(Box::new)?;
                    if valid {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        return Ok(false);
                    }
                }
            }
        }
        // 3. No recorded send can land: send the same ids again, recorded
        // before they are sent.
        let issuer = self.keypair.pubkey();
        let source = source_of(&batch.source);
        let wanted: Vec<(Pubkey, u64)> = batch
            .rows
            .iter()
            .filter_map(|(w, a)| Some((Pubkey::from_str(w).ok()?, *a)))
            .collect();
        let rows = match fresh.take() {
            Some(rows) => rows,
            None => self.rpc.batch_rows(source, &wanted).await?,
        };
        let award = ix::award_batch(
            &issuer,
            source,
            batch.reference,
            batch.first_award_id,
            &rows,
        );
        let instructions = with_compute_budget(&[award], self.priority_fee);
        let blockhash = self.blockhash().await?;
        let tx = Transaction::new_signed_with_payer(
            &instructions,
            Some(&issuer),
            &[self.keypair.as_ref()],
            blockhash,
        );
        let signature = tx.signatures[0].to_string();
        self.store
            .record_send(batch.id, &signature, &blockhash.to_string())
            .await?;
        batch.signatures.push(signature);
        batch.blockhash = Some(blockhash.to_string());
        // Preflight refuses what would fail; step 1 follows the rest.
        let config = solana_client::rpc_config::RpcSendTransactionConfig {
            skip_preflight: self.skip_preflight,
            ..Default::default()
        };
        match self
            .rpc
            .client()
            .send_transaction_with_config(&tx, config)
            .await
        {
            Ok(_) => Ok(false),
            Err(error) => match RpcError::from(error) {
                refused if matches!(refused.sparks_error(), Some(SparksError::AwardIdUsed)) => {
                    // An earlier send landed (step 1 finds it), or another
                    // sender used these ids (rule 1 broken).
                    if let Sends::Landed(..) = self.sends(&batch.signatures).await? {
                        return Ok(false);
                    }
                    self.store
                        .mark_failed(
                            batch.id,
                            "its award ids were used by another sender of this issuer key",
                        )
                        .await?;
                    Ok(true)
                }
                refused @ RpcError::Program { .. } => self.refused(batch, refused).await,
                other => Err(other.into()),
            },
        }
    }

    /// A recent blockhash, shared by the settlers for up to a second (it
    /// stays valid for ~60 s; one call per send cost the chain a call).
    async fn blockhash(&self) -> Result<solana_hash::Hash, WorkerError> {
        let mut cached = self.blockhash.lock().await;
        if let Some((hash, at)) = *cached {
            if at.elapsed() < Duration::from_secs(1) {
                return Ok(hash);
            }
        }
        let hash = self
            .rpc
            .client()
            .get_latest_blockhash()
            .await
            .map_err(Box::new)?;
        *cached = Some((hash, std::time::Instant::now()));
        Ok(hash)
    }

    /// A send the program refused never pays, and no earlier send can land
    /// any more: void the ids so that none ever can, then fail the requests.
    async fn refused(&self, batch: &Batch, refused: RpcError) -> Result<bool, WorkerError> {
        let issuer = self.keypair.pubkey();
        let void = ix::void_award_ids(&issuer, batch.first_award_id, batch.rows.len() as u16);
        self.rpc.send(&[void], &self.keypair, &[]).await?;
        self.store
            .mark_failed(batch.id, &refused.to_string())
            .await?;
        let reason = match &refused {
            RpcError::Program { name, .. } => name.clone(),
            _ => "other".into(),
        };
        metrics::counter!("sparks_issuer_awards_failed_total", "reason" => reason)
            .increment(batch.rows.len() as u64);
        Ok(true)
    }

    /// What became of the recorded sends (`signatures`, oldest first).
    async fn sends(&self, signatures: &[String]) -> Result<Sends, WorkerError> {
        if signatures.is_empty() {
            return Ok(Sends::Unknown);
        }
        let parsed: Vec<_> = signatures.iter().filter_map(|s| s.parse().ok()).collect();
        let statuses = self
            .rpc
            .client()
            .get_signature_statuses_with_history(&parsed)
            .await
            .map_err(Box::new)?
            .value;
        let commitment = self.rpc.client().commitment();
        let mut newest_failed = None;
        for (signature, status) in signatures.iter().zip(statuses) {
            let Some(status) = status else { continue };
            if !status.satisfies_commitment(commitment) {
                continue;
            }
            match status.err {
                None => return Ok(Sends::Landed(signature.clone(), status.slot)),
                Some(error) if Some(signature) == signatures.last() => {
                    newest_failed = Some(from_transaction_error(error));
                }
                Some(_) => {}
            }
        }
        Ok(newest_failed.map_or(Sends::Unknown, Sends::Failed))
    }
}
