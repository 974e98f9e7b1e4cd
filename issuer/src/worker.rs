//! The worker: lands the outbox on chain, each request exactly once, by the
//! award-id rules of docs/PROGRAM.md.
//!
//! - **Claim:** pending requests are grouped by source and reference,
//!   packed into `award_batch` transactions (`sparks_client::packing`, v0
//!   through the worker's lookup tables, `lookup`), and committed as
//!   batches with consecutive award ids from a persisted allocator, before
//!   anything is sent.
//! - **Settle** (one task per batch, many in flight): every signed send is
//!   recorded before it is sent (with preflight, and without waiting: one
//!   shared poller, `statuses`, asks for the statuses of all batches'
//!   sends). A batch has landed when one of its recorded sends succeeded.
//!   While the newest send's blockhash is valid at the commitment statuses
//!   are read at (`confirmed`), it may still land, so nothing else happens;
//!   once it expired there, the same ids are signed and sent again. A send
//!   that failed for another reason than a program refusal (the trace,
//!   compute or lock limits; an account changed since it was read) is sent
//!   again at once.
//! - **Give up, provably**: a program refusal, or a batch past its bounds
//!   (`MAX_FAILED_SENDS`, `MAX_EXPIRED_SENDS`), has its ids voided
//!   (`void_award_ids` succeeds only if none paid, and then none ever can;
//!   every void send is recorded before it is sent). Then a refused batch's
//!   requests are `failed` with the reason, and a batch that could not land
//!   goes back to `pending`, its requests allowed half as many rows each
//!   time, until one that cannot land alone fails with its reason. So no
//!   batch holds the award-id window's floor for longer than its bounds.
//! - **Finalize** (its own task): landed batches become `finalized` when
//!   their send is.
//!
//! A restart settles every batch still `sending` the same way, so a crash
//! at any point neither loses nor doubles an award.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use solana_message::{v0, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::Transaction;
use sparks::error::SparksError;
use sparks::state::{AwardIdState, Source};
use sparks_client::budget::with_compute_budget;
use sparks_client::instructions as ix;
use sparks_client::packing::{does_not_fit, pack_award_batches, Sending};
use sparks_client::rpc::{from_transaction_error, RpcError, SparksRpc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::error::WorkerError;
use crate::lookup::LookupTables;
use crate::statuses::StatusPoller;
use crate::store::batches::{Batch, MissedSend, PlannedBatch, Voiding};
use crate::store::lease::SenderLease;
use crate::store::Store;

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
    /// Address lookup tables the worker may create (0: legacy transactions
    /// only). Each full table holds 256 addresses for about 0.058 SOL of rent.
    pub max_lookup_tables: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_in_flight: 16,
            claim_limit: 512,
            poll: Duration::from_millis(100),
            priority_fee: 0,
            skip_preflight: false,
            max_lookup_tables: 16,
        }
    }
}

/// Requests that share a batch: one source, one reference, and the most
/// rows their batches may hold (requests of a split batch get fewer).
type Group = (String, [u8; 32], Option<usize>);

/// A claimed request: its id, recipient and amount.
type Claimed = (i64, Pubkey, u64);

/// A recent blockhash, its last valid block height and when it was
/// fetched, shared by the settlers.
type SharedBlockhash = Arc<tokio::sync::Mutex<Option<(solana_hash::Hash, u64, Instant)>>>;

/// A send younger than this still has a valid blockhash (they live 150
/// blocks, about 60 s on mainnet and 3 s on a 20 ms local chain; the
/// worker's is at most a second old when signed): it is only looked for
/// in the node's status cache, and not yet re-sent.
const RECENT_SEND: Duration = Duration::from_secs(2);

/// Sends of a batch that fail for a reason other than a program refusal
/// (the trace, compute or account-lock limits, the packet size: a stranger
/// prefunding a new recipient's address adds trace entries) before the
/// batch is voided and its requests packed again in batches half as big.
/// Such a failure repeats while the batch stays the same.
const MAX_FAILED_SENDS: u32 = 3;

/// Sends of a batch that expire unseen before it is voided and split the
/// same way (a transaction the cluster keeps dropping).
const MAX_EXPIRED_SENDS: u32 = 10;

/// How often a service waiting for the sender lease tries to take it.
const LEASE_WAIT: Duration = Duration::from_secs(1);
/// How often the holder checks that it still holds the lease.
const LEASE_CHECK: Duration = Duration::from_secs(1);
/// How often the holder looks for batches still `sending` that nothing
/// settles.
const RESCAN_SENDING: Duration = Duration::from_secs(5);

/// Ids kept clear of the program's window (4,096 past the oldest open id),
/// so a batch is never refused as `AwardIdBeyondWindow`.
const WINDOW_MARGIN: u64 = 96;

pub struct Worker {
    store: Store,
    rpc: Arc<SparksRpc>,
    signer: Arc<dyn Signer + Send + Sync>,
    config: WorkerConfig,
    blockhash: SharedBlockhash,
    /// Loaded when the worker runs.
    tables: Option<Arc<LookupTables>>,
    statuses: Arc<StatusPoller>,
    /// Whether it holds the sender lease now.
    holding: Arc<AtomicBool>,
}

impl Worker {
    /// `signer` signs every transaction as the issuer key: a keypair from a
    /// file, or anything else implementing `Signer` (a KMS).
    pub fn new(
        store: Store,
        rpc: SparksRpc,
        signer: impl Signer + Send + Sync + 'static,
        config: WorkerConfig,
    ) -> Self {
        let rpc = Arc::new(rpc);
        Self {
            statuses: Arc::new(StatusPoller::new(rpc.clone(), config.poll)),
            store,
            rpc,
            signer: Arc::new(signer),
            config,
            blockhash: Arc::default(),
            tables: None,
            holding: Arc::default(),
        }
    }

    fn issuer(&self) -> Pubkey {
        self.signer.pubkey()
    }

    /// Whether this worker holds its key's sender lease now (`/health`).
    pub fn holding_lease(&self) -> Arc<AtomicBool> {
        self.holding.clone()
    }

    /// Claims, sends and settles until `shutdown`, while it holds the
    /// issuer key's sender lease (`store::lease`): a second service on the
    /// same key waits for it, and takes over when it stops. The batches in
    /// flight are left `sending` and settled by whoever holds the lease next.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let issuer = self.issuer().to_string();
        loop {
            let mut waiting_said = false;
            let lease = loop {
                match self.store.try_lease_sender(&issuer).await {
                    Ok(Some(lease)) => break lease,
                    Ok(None) if !waiting_said => {
                        waiting_said = true;
                        tracing::warn!(
                            %issuer,
                            "another service sends with this issuer key; waiting to take over"
                        );
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "taking the sender lease; will retry"),
                }
                metrics::gauge!("sparks_issuer_sender_lease").set(0.0);
                tokio::select! {
                    _ = tokio::time::sleep(LEASE_WAIT) => {}
                    _ = shutdown.changed() => return,
                }
            };
            tracing::info!(%issuer, "holding the sender lease: sending");
            self.holding.store(true, Ordering::Relaxed);
            metrics::gauge!("sparks_issuer_sender_lease").set(1.0);
            let mut lease = lease;
            let lost = self.send_while_leased(&mut lease, &mut shutdown).await;
            self.holding.store(false, Ordering::Relaxed);
            metrics::gauge!("sparks_issuer_sender_lease").set(0.0);
            lease.release().await;
            if !lost {
                return;
            }
            tracing::error!(%issuer, "lost the sender lease (Postgres connection): stopped sending");
        }
    }

    /// Sends while `lease` holds; true when it was lost, false on shutdown.
    async fn send_while_leased(
        &mut self,
        lease: &mut SenderLease,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let mut settling: JoinSet<i64> = JoinSet::new();
        let mut active: HashSet<i64> = HashSet::new();
        let tables = loop {
            match LookupTables::load(
                self.store.clone(),
                self.rpc.clone(),
                self.signer.clone(),
                self.config.max_lookup_tables,
            )
            .await
            {
                Ok(tables) => break Arc::new(tables),
                Err(error) => {
                    tracing::warn!(%error, "reading the lookup tables; will retry")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = shutdown.changed() => return false,
            }
        };
        self.tables = Some(tables.clone());
        // The helpers stop with the lease, not only with the service.
        let (stop_helpers, helpers) = watch::channel(false);
        let upkeep = tokio::spawn(keep_tables(tables, self.config.poll, helpers.clone()));
        let polling = tokio::spawn(self.statuses.clone().run());
        let finalizing = tokio::spawn(finalize_landed(
            self.store.clone(),
            self.rpc.clone(),
            self.issuer(),
            self.config.poll * 4,
            helpers,
        ));
        let mut checked = Instant::now();
        let mut rescanned: Option<Instant> = None;
        let lost = loop {
            if checked.elapsed() >= LEASE_CHECK {
                checked = Instant::now();
                if !lease.alive().await {
                    break true;
                }
            }
            while let Some(done) = settling.try_join_next() {
                if let Ok(id) = done {
                    active.remove(&id);
                }
            }
            // Every batch still `sending` gets a settler: at start (what a
            // previous holder left), and again now and then (whatever a
            // process that sent without the lease left).
            if rescanned.is_none_or(|at| at.elapsed() >= RESCAN_SENDING) {
                match self.store.sending_batches(&self.issuer().to_string()).await {
                    Ok(batches) => {
                        rescanned = Some(Instant::now());
                        for batch in batches {
                            if active.insert(batch.id) {
                                settling.spawn(settle(self.settler(), batch, None));
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "reading the batches still sending; will retry")
                    }
                }
            }
            let more = match rescanned {
                // Nothing new is claimed before what was left is settling.
                None => false,
                Some(_) => match self.round(&mut settling, &mut active).await {
                    Ok(more) => more,
                    Err(error) => {
                        tracing::warn!(%error, "worker round failed; will retry");
                        false
                    }
                },
            };
            let pause = if more {
                Duration::ZERO
            } else {
                self.config.poll
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break false,
            }
        };
        let _ = stop_helpers.send(true);
        settling.abort_all();
        upkeep.abort();
        finalizing.abort();
        polling.abort();
        lost
    }

    fn tables(&self) -> Arc<LookupTables> {
        self.tables
            .clone()
            .expect("the lookup tables load before any round")
    }

    /// Claims a round of requests and starts settling its batches; true
    /// when it claimed as many as it could (more may be waiting).
    async fn round(
        &self,
        settling: &mut JoinSet<i64>,
        active: &mut HashSet<i64>,
    ) -> Result<bool, WorkerError> {
        if active.len() >= self.config.max_in_flight {
            return Ok(false);
        }
        // Rows as read for packing a moment ago: the first send needs no
        // second read.
        let (claimed, batches) = self.claim().await?;
        for (batch, rows) in batches {
            active.insert(batch.id);
            settling.spawn(settle(self.settler(), batch, Some(rows)));
        }
        Ok(claimed as i64 >= self.config.claim_limit)
    }

    fn settler(&self) -> Settler {
        Settler {
            store: self.store.clone(),
            rpc: self.rpc.clone(),
            signer: self.signer.clone(),
            priority_fee: self.config.priority_fee,
            skip_preflight: self.config.skip_preflight,
            blockhash: self.blockhash.clone(),
            tables: self.tables(),
            statuses: self.statuses.clone(),
        }
    }

    /// Packs pending requests into batches and commits them with their
    /// ids; also says how many pending requests it read.
    async fn claim(&self) -> Result<(usize, Vec<(Batch, Vec<ix::BatchRow>)>), WorkerError> {
        let issuer = self.issuer();
        let pending = self
            .store
            .pending(&issuer.to_string(), self.config.claim_limit)
            .await?;
        if pending.is_empty() {
            return Ok((0, Vec::new()));
        }
        let claimed = pending.len();
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
        // Group by (source, reference). A wallet may come twice, even in one
        // batch: the program loads each row's accounts within the row (the
        // second sees the first), and a row read as creating its account
        // only overstates what it costs once the first created it.
        let mut groups: Vec<(Group, Vec<Claimed>)> = Vec::new();
        let mut index: HashMap<Group, usize> = HashMap::new();
        for request in pending {
            let Ok(wallet) = Pubkey::from_str(&request.wallet) else {
                continue;
            };
            if room == 0 {
                break;
            }
            room -= 1;
            let key = (
                request.source.clone(),
                request.reference,
                request.max_batch_rows,
            );
            let at = *index.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[at].1.push((request.id, wallet, request.amount));
        }
        let mut planned = Vec::new();
        let mut fresh = Vec::new();
        for ((source, reference, max_rows), requests) in groups {
            let program_source = source_of(&source);
            let wanted: Vec<(Pubkey, u64)> = requests.iter().map(|(_, w, a)| (*w, *a)).collect();
            let all_rows = self.rpc.batch_rows(program_source, &wanted).await?;
            let tables = self.tables();
            tables.note(&all_rows);
            let mut start = 0;
            for rows in all_rows.chunks(max_rows.unwrap_or(all_rows.len()).max(1)) {
                let packed = pack_award_batches(
                    &issuer,
                    program_source,
                    |_| reference,
                    0,
                    rows,
                    Sending {
                        payer: &issuer,
                        lookup_tables: &tables.for_rows(rows),
                        micro_lamports_per_unit: self.config.priority_fee,
                    },
                );
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
        }
        let batches = self
            .store
            .assign(&issuer.to_string(), next, &planned)
            .await?;
        Ok((claimed, batches.into_iter().zip(fresh).collect()))
    }
}

/// Marks landed batches finalized once their send is, until `shutdown`.
async fn finalize_landed(
    store: Store,
    rpc: Arc<SparksRpc>,
    issuer: Pubkey,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(error) = finalize(&store, &rpc, &issuer).await {
            tracing::warn!(%error, "finalizing landed batches; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Landed batches whose send is final now.
async fn finalize(store: &Store, rpc: &SparksRpc, issuer: &Pubkey) -> Result<(), WorkerError> {
    // Only what the finalized slot has passed: one cheap call a round
    // instead of every landed signature's status.
    let finalized_slot = rpc
        .client()
        .get_slot_with_commitment(solana_commitment_config::CommitmentConfig::finalized())
        .await
        .map_err(Box::new)?;
    let landed = store
        .landed_batches(&issuer.to_string(), finalized_slot)
        .await?;
    for chunk in landed.chunks(256) {
        let signatures: Vec<_> = chunk.iter().filter_map(|(_, s)| s.parse().ok()).collect();
        let mut statuses = rpc
            .client()
            .get_signature_statuses(&signatures)
            .await
            .map_err(Box::new)?
            .value;
        // Past the node's status cache (a worker stopped for a while): its
        // ledger has them.
        if statuses.iter().any(Option::is_none) {
            statuses = rpc
                .client()
                .get_signature_statuses_with_history(&signatures)
                .await
                .map_err(Box::new)?
                .value;
        }
        let finalized: Vec<i64> = chunk
            .iter()
            .zip(statuses)
            .filter(|(_, status)| {
                status.as_ref().is_some_and(|s| {
                    s.err.is_none()
                        && s.confirmation_status
                            == Some(
                                solana_transaction_status_client_types::TransactionConfirmationStatus::Finalized,
                            )
                })
            })
            .map(|((batch, _), _)| *batch)
            .collect();
        if !finalized.is_empty() {
            store.mark_finalized(&finalized).await?;
        }
    }
    Ok(())
}

/// Extends the lookup tables with what became hot, until `shutdown`.
async fn keep_tables(
    tables: Arc<LookupTables>,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(error) = tables.upkeep().await {
            tracing::warn!(%error, "extending the lookup tables; will retry");
        }
        let (addresses, count) = tables.sizes();
        metrics::gauge!("sparks_issuer_lookup_addresses").set(addresses as f64);
        metrics::gauge!("sparks_issuer_lookup_tables").set(count as f64);
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// A failure's label for the metrics: the program error's name, or what
/// kept the batch from landing.
fn failure_label(reason: &str) -> String {
    const REFUSED: &str = "the Sparks program refused the transaction: ";
    match reason.strip_prefix(REFUSED) {
        Some(rest) => rest.split(' ').next().unwrap_or("refused").to_owned(),
        None if reason.starts_with("it could not land") => "could_not_land".into(),
        None if reason.contains("another sender") => "ids_taken".into(),
        None => "other".into(),
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
    signer: Arc<dyn Signer + Send + Sync>,
    priority_fee: u64,
    skip_preflight: bool,
    blockhash: SharedBlockhash,
    tables: Arc<LookupTables>,
    statuses: Arc<StatusPoller>,
}

/// Settles `batch` (see the module doc); returns its id when it ended.
async fn settle(settler: Settler, mut batch: Batch, mut fresh: Option<Vec<ix::BatchRow>>) -> i64 {
    let mut failures = 0u32;
    let mut sent_at = None;
    let mut resend_now = false;
    loop {
        match settler
            .step(&mut batch, &mut fresh, &mut sent_at, &mut resend_now)
            .await
        {
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

/// What became of a batch's recorded sends (or of its voids).
enum Sends {
    /// One succeeded: its signature and slot.
    Landed(String, u64),
    /// The newest failed, paying nothing.
    Failed(RpcError),
    /// None is known to have landed or failed (yet).
    Unknown,
}

impl Settler {
    /// One step; true once the batch ended (landed, failed, or voided and
    /// its requests sent back to be packed again).
    async fn step(
        &self,
        batch: &mut Batch,
        fresh: &mut Option<Vec<ix::BatchRow>>,
        sent_at: &mut Option<Instant>,
        resend_now: &mut bool,
    ) -> Result<bool, WorkerError> {
        if batch.voiding.is_some() {
            return self.void_step(batch).await;
        }
        // The newest send was refused by the node's simulation: it never
        // went out, and every earlier one had expired or failed before it
        // was signed, so none can land: straight to sending again.
        if !std::mem::take(resend_now) {
            if let Some(ended) = self.resolve_sends(batch, sent_at).await? {
                return Ok(ended);
            }
        }
        self.send_again(batch, fresh, sent_at, resend_now).await
    }

    /// Steps 1 and 2 of [`Self::step`]: `Some` when the step ends here
    /// (the batch landed, is being voided, or a send may still land).
    async fn resolve_sends(
        &self,
        batch: &mut Batch,
        sent_at: &mut Option<Instant>,
    ) -> Result<Option<bool>, WorkerError> {
        // 1. Can the newest send still land? Asked before the statuses, so
        // a send that lands in between is seen below. A send this recent
        // still can; an older one until the block height at the commitment
        // statuses are read at is past its last valid one.
        let recent = sent_at.is_some_and(|at| at.elapsed() < RECENT_SEND);
        let expired = !recent && self.sends_expired(batch).await?;
        // 2. What became of the recorded sends? A node's status cache holds
        // every transaction whose blockhash is valid; its ledger is searched
        // too once they may have expired (or after a restart).
        match self.sends(&batch.signatures, !recent).await? {
            Sends::Landed(signature, slot) => {
                self.landed(batch, &signature, slot).await?;
                return Ok(Some(true));
            }
            // A program refusal is final: void the ids, then fail.
            Sends::Failed(refused @ RpcError::Program { .. }) => {
                return Ok(Some(
                    self.begin_void(batch, refused.to_string(), false).await?,
                ));
            }
            // Anything else (the trace, compute or lock limits, an account
            // that changed since it was read) is sent again, a bounded
            // number of times, then the batch is voided and split.
            Sends::Failed(other) => {
                if let Some(ended) = self.missed(batch, MissedSend::Failed, &other).await? {
                    return Ok(Some(ended));
                }
            }
            Sends::Unknown if !expired => {
                if !recent {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                return Ok(Some(false));
            }
            Sends::Unknown => {
                if !batch.signatures.is_empty() {
                    let why = RpcError::BlockhashExpired;
                    if let Some(ended) = self.missed(batch, MissedSend::Expired, &why).await? {
                        return Ok(Some(ended));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Step 3 of [`Self::step`].
    async fn send_again(
        &self,
        batch: &mut Batch,
        fresh: &mut Option<Vec<ix::BatchRow>>,
        sent_at: &mut Option<Instant>,
        resend_now: &mut bool,
    ) -> Result<bool, WorkerError> {
        // 3. No recorded send can land: send the same ids again, recorded
        // before they are sent.
        let issuer = self.signer.pubkey();
        let source = source_of(&batch.source);
        let wanted: Vec<(Pubkey, u64)> = batch
            .rows
            .iter()
            .filter_map(|(w, a)| Some((Pubkey::from_str(w).ok()?, *a)))
            .collect();
        let mut rows = match fresh.take() {
            Some(rows) => rows,
            None => self.rpc.batch_rows(source, &wanted).await?,
        };
        let tables = self.tables.for_rows(&rows);
        let sending = Sending {
            payer: &issuer,
            lookup_tables: &tables,
            micro_lamports_per_unit: self.priority_fee,
        };
        let build = |rows: &[ix::BatchRow]| {
            ix::award_batch(&issuer, source, batch.reference, batch.first_award_id, rows)
        };
        let mut award = build(&rows);
        // A referrer set since the batch was packed adds an account and an
        // event: rather than overflow the transaction, its share is left
        // unpaid (the program says so in the event).
        while does_not_fit(&award, &rows, sending).is_some() {
            let Some(row) = rows.iter_mut().rev().find(|r| r.referrer.is_some()) else {
                break;
            };
            row.referrer = None;
            row.pays_referral = false;
            award = build(&rows);
        }
        let (tx, last_valid_block_height) = self.sign(&[award], &tables).await?;
        let signature = tx.signatures[0].to_string();
        self.store
            .record_send(
                batch.id,
                &signature,
                &tx.message.recent_blockhash().to_string(),
                last_valid_block_height,
            )
            .await?;
        batch.signatures.push(signature);
        batch.blockhash = Some(tx.message.recent_blockhash().to_string());
        batch.last_valid_block_height = Some(last_valid_block_height);
        *sent_at = Some(Instant::now());
        match self.send(&tx).await {
            Ok(()) => Ok(false),
            Err(refused) if matches!(refused.sparks_error(), Some(SparksError::AwardIdUsed)) => {
                // An earlier send landed (found once its status reaches the
                // commitment), or another sender used these ids: the void
                // step tells them apart, and gives up the ids still open.
                if let Sends::Landed(..) = self.sends(&batch.signatures, true).await? {
                    return Ok(false);
                }
                // Whether an earlier send of ours lands after all (it may
                // have been processed, not yet confirmed) is settled by the
                // void step, which waits until none can.
                *sent_at = None;
                self.begin_void(
                    batch,
                    "the node read its award ids as used, by none of its sends".into(),
                    false,
                )
                .await
            }
            Err(refused @ RpcError::Program { .. }) => {
                self.begin_void(batch, refused.to_string(), false).await
            }
            // This very transaction is there already: follow it.
            Err(known) if known.is_already_processed() => Ok(false),
            // A node behind the one the blockhash came from: not the
            // batch's fault; a fresh blockhash, after a pause.
            Err(behind) if behind.is_blockhash_not_found() => {
                *self.blockhash.lock().await = None;
                *sent_at = None;
                *resend_now = true;
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(false)
            }
            // Refused by the node's simulation for another reason: this
            // send never went out.
            Err(failed @ RpcError::Transaction(_)) => {
                *sent_at = None;
                match self.missed(batch, MissedSend::Failed, &failed).await? {
                    Some(ended) => Ok(ended),
                    None => {
                        *resend_now = true;
                        Ok(false)
                    }
                }
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Counts a send that did not land; past the bound for its kind, the
    /// batch's ids are voided so that its requests can be packed again,
    /// smaller (or fail, alone). `Some` when the step ends there.
    async fn missed(
        &self,
        batch: &mut Batch,
        missed: MissedSend,
        why: &RpcError,
    ) -> Result<Option<bool>, WorkerError> {
        self.store.record_missed_send(batch.id, missed).await?;
        let (count, bound, kind) = match missed {
            MissedSend::Failed => {
                batch.failed_sends += 1;
                (batch.failed_sends, MAX_FAILED_SENDS, "failed")
            }
            MissedSend::Expired => {
                batch.expired_sends += 1;
                (batch.expired_sends, MAX_EXPIRED_SENDS, "expired")
            }
        };
        metrics::counter!("sparks_issuer_sends_missed_total", "kind" => kind).increment(1);
        tracing::info!(batch = batch.id, %why, count, "a send did not land");
        if count < bound {
            return Ok(None);
        }
        let alone = batch.rows.len() == 1;
        let reason = if alone {
            format!("it could not land even alone: {count} sends {kind}, the last: {why}")
        } else {
            format!("{count} sends {kind}, the last: {why}")
        };
        Ok(Some(self.begin_void(batch, reason, !alone).await?))
    }

    /// From now on the batch's ids are being voided (see `void_step`).
    async fn begin_void(
        &self,
        batch: &mut Batch,
        reason: String,
        split: bool,
    ) -> Result<bool, WorkerError> {
        self.store.begin_void(batch.id, &reason, split).await?;
        batch.voiding = Some(Voiding {
            reason,
            split,
            signatures: Vec::new(),
            last_valid_block_height: None,
        });
        self.void_step(batch).await
    }

    /// One step of voiding the batch's ids. The void is the proof: it
    /// succeeds only if none of the ids paid, and once it landed none ever
    /// can. So: a landed send of the batch wins (it paid); a landed void
    /// ends the batch (failed, or its requests back to pending, allowed
    /// half as many rows); while any send or void may still land, wait;
    /// then the ids as the Issuer account holds them decide: open ones are
    /// voided, and ids used by no send of ours were used by another sender
    /// of this key (rule 1 broken), which fails the batch saying so.
    async fn void_step(&self, batch: &mut Batch) -> Result<bool, WorkerError> {
        let voiding = batch.voiding.clone().expect("voiding");
        // Expiry first, statuses after, as in `step`.
        let batch_expired = self.sends_expired(batch).await?;
        let void_expired = match voiding.last_valid_block_height {
            _ if voiding.signatures.is_empty() => true,
            Some(height) => self.rpc.blockhash_expired(height).await?,
            None => true,
        };
        if let Sends::Landed(signature, slot) = self.sends(&batch.signatures, true).await? {
            self.landed(batch, &signature, slot).await?;
            return Ok(true);
        }
        let void = self.sends(&voiding.signatures, true).await?;
        if let Sends::Landed(..) = void {
            return self.voided(batch, &voiding).await;
        }
        if !(batch_expired && (void_expired || matches!(void, Sends::Failed(_)))) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(false);
        }
        // Nothing of ours can land any more: the ids as they stand.
        let issuer = self.signer.pubkey();
        let on_chain = self
            .rpc
            .issuer(&issuer)
            .await?
            .ok_or(RpcError::NoSuchIssuer(issuer))?;
        let ids = batch.first_award_id..batch.first_award_id + batch.rows.len() as u64;
        let open: Vec<u64> = ids
            .clone()
            .filter(|id| on_chain.award_id_state(*id) != AwardIdState::Used)
            .collect();
        let taken = ids.count() - open.len();
        if taken > 0 && open.is_empty() {
            self.store
                .mark_failed(
                    batch.id,
                    "its award ids were used by another sender of this issuer key \
                     (docs/PROGRAM.md, rule 1): whether they paid is that sender's to tell",
                )
                .await?;
            metrics::counter!("sparks_issuer_awards_failed_total", "reason" => "ids_taken")
                .increment(batch.rows.len() as u64);
            return Ok(true);
        }
        if taken > 0 {
            // Give up the open ones too, then fail as above.
            let reason = "some of its award ids were used by another sender of this issuer key \
                          (docs/PROGRAM.md, rule 1); the others were voided";
            self.store.begin_void(batch.id, reason, false).await?;
            if let Some(v) = &mut batch.voiding {
                v.reason = reason.into();
                v.split = false;
            }
        }
        // Consecutive open ids, one void_award_ids each, in one transaction.
        let mut voids = Vec::new();
        let mut runs = open.iter().peekable();
        while let Some(&first) = runs.next() {
            let mut count = 1u16;
            while runs
                .peek()
                .is_some_and(|&&next| next == first + u64::from(count))
            {
                runs.next();
                count += 1;
            }
            voids.push(ix::void_award_ids(&issuer, first, count));
        }
        let (tx, last_valid_block_height) = self.sign(&voids, &[]).await?;
        let signature = tx.signatures[0].to_string();
        self.store
            .record_void_send(batch.id, &signature, last_valid_block_height)
            .await?;
        if let Some(v) = &mut batch.voiding {
            v.signatures.push(signature);
            v.last_valid_block_height = Some(last_valid_block_height);
        }
        match self.send(&tx).await {
            // Used meanwhile: the next step reads the ids again.
            Ok(()) | Err(RpcError::Program { .. }) | Err(RpcError::Transaction(_)) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// The batch's void landed: none of its ids paid or ever will.
    async fn voided(&self, batch: &Batch, voiding: &Voiding) -> Result<bool, WorkerError> {
        if voiding.split {
            let max_rows = batch.rows.len().div_ceil(2);
            self.store
                .mark_voided_and_split(batch.id, &voiding.reason, max_rows)
                .await?;
            metrics::counter!("sparks_issuer_batches_split_total").increment(1);
            tracing::warn!(
                batch = batch.id,
                reason = %voiding.reason,
                max_rows,
                "a batch could not land: voided, its requests packed again, smaller"
            );
        } else {
            self.store.mark_failed(batch.id, &voiding.reason).await?;
            metrics::counter!(
                "sparks_issuer_awards_failed_total",
                "reason" => failure_label(&voiding.reason)
            )
            .increment(batch.rows.len() as u64);
        }
        Ok(true)
    }

    /// Signs `instructions` (behind their compute budget) with the issuer
    /// key and a recent blockhash; with `tables`, as a v0 transaction.
    async fn sign(
        &self,
        instructions: &[anchor_lang::solana_program::instruction::Instruction],
        tables: &[solana_message::AddressLookupTableAccount],
    ) -> Result<(VersionedTransaction, u64), WorkerError> {
        let issuer = self.signer.pubkey();
        let instructions = with_compute_budget(instructions, self.priority_fee);
        let (blockhash, last_valid_block_height) = self.blockhash().await?;
        let tx = if tables.is_empty() {
            VersionedTransaction::from(Transaction::new_signed_with_payer(
                &instructions,
                Some(&issuer),
                &[self.signer.as_ref()],
                blockhash,
            ))
        } else {
            let message = v0::Message::try_compile(&issuer, &instructions, tables, blockhash)
                .map_err(|e| WorkerError::Build(e.to_string()))?;
            VersionedTransaction::try_new(VersionedMessage::V0(message), &[self.signer.as_ref()])
                .map_err(|e| WorkerError::Build(e.to_string()))?
        };
        Ok((tx, last_valid_block_height))
    }

    /// Sends a signed transaction without waiting (with the node's
    /// simulation first unless `skip_preflight`); statuses are read later.
    async fn send(&self, tx: &VersionedTransaction) -> Result<(), RpcError> {
        let config = solana_client::rpc_config::RpcSendTransactionConfig {
            skip_preflight: self.skip_preflight,
            preflight_commitment: Some(self.rpc.client().commitment().commitment),
            ..Default::default()
        };
        self.rpc
            .client()
            .send_transaction_with_config(tx, config)
            .await
            .map(|_| ())
            .map_err(RpcError::from)
    }

    /// A recent blockhash at the commitment statuses are read at, and its
    /// last valid block height, shared by the settlers for up to a second
    /// (it stays valid for ~60 s; one call per send cost the chain a call).
    async fn blockhash(&self) -> Result<(solana_hash::Hash, u64), WorkerError> {
        let mut cached = self.blockhash.lock().await;
        if let Some((hash, height, at)) = *cached {
            if at.elapsed() < Duration::from_secs(1) {
                return Ok((hash, height));
            }
        }
        let (hash, height) = self.rpc.latest_blockhash().await?;
        *cached = Some((hash, height, Instant::now()));
        Ok((hash, height))
    }

    /// Whether no recorded send of `batch` can land any more: the block
    /// height at the commitment statuses are read at is past the newest
    /// one's last valid block height (earlier sends carry older ones).
    async fn sends_expired(&self, batch: &Batch) -> Result<bool, WorkerError> {
        match batch.last_valid_block_height {
            _ if batch.signatures.is_empty() => Ok(true),
            Some(height) => Ok(self.rpc.blockhash_expired(height).await?),
            None => self.blockhash_invalid(batch.blockhash.as_deref()).await,
        }
    }

    /// The batch landed in `signature` at `slot`: recorded, and counted.
    async fn landed(&self, batch: &Batch, signature: &str, slot: u64) -> Result<(), WorkerError> {
        self.store.mark_landed(batch.id, signature, slot).await?;
        metrics::counter!("sparks_issuer_awards_landed_total").increment(batch.rows.len() as u64);
        if let Some(claimed) = batch.claimed_at {
            metrics::histogram!("sparks_issuer_landing_seconds")
                .record(claimed.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// For a batch recorded before last valid block heights were: whether
    /// its blockhash is no longer valid at the client's commitment.
    async fn blockhash_invalid(&self, blockhash: Option<&str>) -> Result<bool, WorkerError> {
        let Some(blockhash) = blockhash else {
            return Ok(true);
        };
        let hash = blockhash.parse().map_err(|_| RpcError::Decode {
            address: Pubkey::default(),
            kind: "blockhash",
            reason: blockhash.to_owned(),
        })?;
        let client = self.rpc.client();
        Ok(!client
            .is_blockhash_valid(&hash, client.commitment())
            .await
            .map_err(Box::new)?)
    }

    /// What became of the recorded sends (`signatures`, oldest first);
    /// `history`: ask the node's ledger too, now, not only its status cache
    /// at the shared poller's next call.
    async fn sends(&self, signatures: &[String], history: bool) -> Result<Sends, WorkerError> {
        if signatures.is_empty() {
            return Ok(Sends::Unknown);
        }
        let parsed: Vec<_> = signatures.iter().filter_map(|s| s.parse().ok()).collect();
        let statuses = if history {
            self.rpc
                .client()
                .get_signature_statuses_with_history(&parsed)
                .await
                .map_err(Box::new)?
                .value
        } else {
            self.statuses.statuses(&parsed).await
        };
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
