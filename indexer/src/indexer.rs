//! Runs source → decoder → store: catch-up, live, finality.
//!
//! Catch-up lists the program's signatures newer than the cursor, fetches
//! them (bounded concurrency, in chain order) on one task while the store
//! commits batches on others (`store::Pipeline`: two in flight, committed in
//! chain order), and advances the cursor with each batch, so a
//! stop at any point resumes where the last commit left off and the cursor
//! never passes a transaction that is not stored. A listing longer than
//! `spill_after` signatures is kept in the store page by page
//! (`store::listing`), so memory stays bounded and a stop resumes the
//! listing, too, where it got to.
//!
//! Live mode subscribes to the program's logs over websocket and treats
//! each notification as "there is something new": it runs a catch-up, so
//! live and backfill share one ordered, gap-free path. A dropped websocket
//! is reconnected with backoff, followed by a catch-up; a slow poll covers a
//! subscription that dies silently.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use solana_client::rpc_config::{RpcTransactionLogsConfig, RpcTransactionLogsFilter};
use solana_commitment_config::CommitmentConfig;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use tokio::sync::{mpsc, watch, Notify};

use crate::source::{ErrorClass, Fate, ListingStop, SignatureInfo, Source, SourceError};
use crate::store::{
    Applied, IndexedTransaction, ListingMarker, PendingSignature, Pipeline, Selection, Store,
    StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stream(#[from] crate::stream::StreamError),
}

impl IndexerError {
    /// Whether running on can help: a fatal error (the node refuses this
    /// configuration, or no longer has the cursor's slots) stops `run`.
    pub fn is_fatal(&self) -> bool {
        match self {
            IndexerError::Source(error) => error.class() == ErrorClass::Fatal,
            IndexerError::Stream(error) => error.is_fatal(),
            IndexerError::Store(_) => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// getTransaction calls in flight.
    pub concurrency: usize,
    /// Transactions per store commit.
    pub batch_size: usize,
    /// Store commits in flight (each on its own connection, committed in
    /// chain order; see `store::pipeline`).
    pub write_concurrency: usize,
    /// Catch-up interval when no notification arrives.
    pub poll_interval: Duration,
    pub finality_interval: Duration,
    /// Interval of the progress log during a long catch-up.
    pub progress_interval: Duration,
    /// Signatures a catch-up lists in memory; a longer listing is kept in
    /// the store (bounded memory, resumable).
    pub spill_after: usize,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            batch_size: 500,
            write_concurrency: 2,
            poll_interval: Duration::from_secs(5),
            finality_interval: Duration::from_secs(10),
            progress_interval: Duration::from_secs(5),
            spill_after: 10_000,
        }
    }
}

/// Transactions fetched again and replaced per database transaction.
const REINDEX_CHUNK: usize = 100;

/// Pending signatures a catch-up stores per round once a listing was kept
/// in the store.
const PENDING_CHUNK: usize = 10_000;

/// Where a catch-up's listing ended up.
enum Listed {
    /// Short enough to hold: oldest first.
    InMemory(Vec<SignatureInfo>),
    /// Kept in the store, complete.
    Kept,
    /// Stopped by shutdown; what was listed is kept.
    Stopped,
}

/// What one catch-up or backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Signatures listed (already stored ones included).
    pub signatures: u64,
    /// Transactions fetched and committed.
    pub transactions: u64,
    /// New events stored.
    pub events: u64,
}

impl Progress {
    fn add(&mut self, applied: Applied) {
        self.transactions += applied.transactions;
        self.events += applied.events;
    }
}

#[derive(Clone)]
pub struct Indexer {
    source: Arc<Source>,
    store: Store,
    config: IndexerConfig,
}

/// Raised to stop: the batch in flight is finished, nothing after it starts.
pub type Shutdown = watch::Receiver<bool>;

impl Indexer {
    pub fn new(source: Arc<Source>, store: Store, config: IndexerConfig) -> Self {
        Self {
            source,
            store,
            config,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn source(&self) -> &Arc<Source> {
        &self.source
    }

    /// Indexes everything newer than the cursor, advancing it batch by batch.
    pub async fn catch_up(&self, shutdown: &Shutdown) -> Result<Progress, IndexerError> {
        Ok(self.catch_up_through(shutdown).await?.0)
    }

    /// [`Indexer::catch_up`] for the stream's repairs: returns the slot the
    /// mirror is now proven complete through (the listing's tip, or just
    /// below the oldest signature it saw under the commitment).
    pub async fn catch_up_proven(&self, shutdown: &Shutdown) -> Result<u64, IndexerError> {
        Ok(self.catch_up_through(shutdown).await?.1)
    }

    async fn catch_up_through(&self, shutdown: &Shutdown) -> Result<(Progress, u64), IndexerError> {
        let cursor = self.store.cursor().await?;
        let kept = self.kept_listing(&cursor).await?;
        // The tip first: once everything listed after it is stored, the
        // mirror is complete at least up to it (a resumed listing began at
        // its own tip).
        let tip = match &kept {
            Some(marker) => marker.tip,
            None => self.source.slot().await?,
        };
        let mut below_commitment = None;
        let listed = match kept {
            Some(marker) if marker.complete => Listed::Kept,
            kept => {
                let reached = kept.and_then(|marker| marker.next_before);
                self.list(&cursor, tip, reached, &mut below_commitment, shutdown)
                    .await?
            }
        };
        let proven = below_commitment.map_or(tip, |slot: u64| tip.min(slot.saturating_sub(1)));
        let progress = match listed {
            Listed::InMemory(signatures) => {
                self.index(signatures, Some(cursor.signature), shutdown)
                    .await?
            }
            Listed::Kept => self.index_kept(shutdown).await?,
            Listed::Stopped => return Ok((Progress::default(), cursor.caught_up_slot)),
        };
        if !*shutdown.borrow() {
            self.store.mark_caught_up(proven).await?;
        }
        metrics::counter!("sparks_indexed_events_total").increment(progress.events);
        metrics::counter!("sparks_indexed_transactions_total").increment(progress.transactions);
        Ok((progress, proven))
    }

    /// The listing a previous catch-up kept, if it still runs down to the
    /// cursor. A catch-up stopped while storing it left the cursor on one
    /// of its signatures: those up to it are stored, and forgotten here.
    async fn kept_listing(
        &self,
        cursor: &crate::store::Cursor,
    ) -> Result<Option<ListingMarker>, StoreError> {
        let Some(marker) = self.store.listing().await? else {
            return Ok(None);
        };
        if marker.down_to == cursor.signature {
            return Ok(Some(marker));
        }
        if let (true, Some(signature)) = (marker.complete, &cursor.signature) {
            if self.store.forget_pending_through(signature).await? {
                return Ok(Some(marker));
            }
        }
        tracing::warn!(
            down_to = ?marker.down_to,
            cursor = ?cursor.signature,
            "dropping a kept listing that no longer runs down to the cursor"
        );
        self.store.end_listing().await?;
        Ok(None)
    }

    /// Lists everything newer than `cursor`, from the tip or from `reached`
    /// (a kept listing resumed), in memory until it grows past
    /// `spill_after`, then in the store page by page.
    async fn list(
        &self,
        cursor: &crate::store::Cursor,
        tip: u64,
        reached: Option<(String, u64)>,
        below_commitment: &mut Option<u64>,
        shutdown: &Shutdown,
    ) -> Result<Listed, IndexerError> {
        let stop = match &cursor.signature {
            Some(signature) => ListingStop::Cursor {
                signature: signature.clone(),
                slot: cursor.slot,
                older: self.store.stored_before_slot(cursor.slot).await?,
            },
            None => ListingStop::Start,
        };
        let mut kept = reached.is_some();
        let mut listing = self.source.listing(stop, reached)?;
        let commitment = self.source.config().commitment;
        // Newest first.
        let mut held: Vec<SignatureInfo> = Vec::new();
        while let Some(page) = listing.next_page().await? {
            for entry in page {
                if entry.reached(commitment) {
                    held.push(entry);
                    continue;
                }
                // Nothing newer than a signature below the commitment is
                // taken, so the cursor can never pass it.
                held.clear();
                *below_commitment =
                    Some(below_commitment.map_or(entry.slot, |s| s.min(entry.slot)));
                if kept {
                    self.store.forget_listed().await?;
                }
            }
            if !kept && held.len() > self.config.spill_after {
                self.store
                    .begin_listing(cursor.signature.as_deref(), tip)
                    .await?;
                kept = true;
            }
            if kept {
                if let Some(reached) = listing.reached() {
                    let pending: Vec<PendingSignature> = held.drain(..).map(pending).collect();
                    self.store
                        .keep_listed(&pending, (&reached.signature, reached.slot))
                        .await?;
                }
            }
            // A kept listing resumes where it got to; one in memory goes on
            // to commit its first batch, as a stop always lets one finish.
            if kept && *shutdown.borrow() {
                return Ok(Listed::Stopped);
            }
        }
        tracing::debug!(
            listed = held.len(),
            kept,
            cursor = cursor.slot,
            tip,
            "listed after the cursor"
        );
        if kept {
            self.store.complete_listing().await?;
            return Ok(Listed::Kept);
        }
        held.reverse();
        Ok(Listed::InMemory(held))
    }

    /// Stores a kept listing, oldest first, a chunk at a time; each chunk
    /// moves the cursor on and is then forgotten.
    async fn index_kept(&self, shutdown: &Shutdown) -> Result<Progress, IndexerError> {
        let mut progress = Progress::default();
        let left = self.store.pending_count().await?;
        tracing::info!(left, "storing the kept listing");
        loop {
            let chunk = self.store.oldest_pending(PENDING_CHUNK).await?;
            let Some(newest) = chunk.last().map(|p| p.signature.clone()) else {
                self.store.end_listing().await?;
                return Ok(progress);
            };
            let cursor = self.store.cursor().await?;
            let signatures = chunk.into_iter().map(listed).collect();
            let done = self
                .index(signatures, Some(cursor.signature), shutdown)
                .await?;
            progress.signatures += done.signatures;
            progress.transactions += done.transactions;
            progress.events += done.events;
            if *shutdown.borrow() {
                return Ok(progress);
            }
            self.store.forget_pending_through(&newest).await?;
        }
    }

    /// Indexes the program's transactions in slots `from..=until` (a repair
    /// or a replay). The cursor is left alone: a range says nothing about
    /// what lies outside it.
    pub async fn backfill_slots(
        &self,
        from: u64,
        until: u64,
        shutdown: &Shutdown,
    ) -> Result<Progress, IndexerError> {
        let signatures = self.source.signatures_in_slots(from, until).await?;
        self.index(signatures, None, shutdown).await
    }

    /// Fetches the stored transactions `selection` names again and replaces
    /// their rows ([`Store::reindex`]): after a program upgrade the decoder
    /// knows events it did not, and a transaction stored with a problem may
    /// now decode. Returns the transactions replaced and the events they now
    /// have.
    pub async fn reindex(
        &self,
        selection: &Selection,
        shutdown: &Shutdown,
    ) -> Result<Progress, IndexerError> {
        let stored = self.store.stored(selection).await?;
        let mut progress = Progress {
            signatures: stored.len() as u64,
            ..Progress::default()
        };
        // Finality is the store's knowledge, not the fetch's.
        let finalized: HashSet<String> = stored
            .iter()
            .filter(|s| s.finalized)
            .map(|s| s.signature.clone())
            .collect();
        let signatures = stored
            .into_iter()
            .map(|s| SignatureInfo {
                signature: s.signature,
                slot: s.slot as u64,
                error: None,
                // The time it was stored with: a node's two answers for a
                // block's time can differ (the local chain's listing and its
                // getBlockTime do by a second), and reindexing is about
                // events, not times.
                block_time: s.block_time,
                status: None,
            })
            .collect();
        let (batches, mut receiver) = mpsc::channel::<Result<Batch, SourceError>>(2);
        let config = IndexerConfig {
            batch_size: REINDEX_CHUNK,
            ..self.config.clone()
        };
        // Nothing is "known": every selected transaction is fetched again.
        tokio::spawn(fetch_batches(
            self.source.clone(),
            signatures,
            HashSet::new(),
            config,
            batches,
        ));
        while let Some(batch) = receiver.recv().await {
            if *shutdown.borrow() {
                break;
            }
            let mut transactions = batch?.transactions;
            for transaction in &mut transactions {
                transaction.finalized = finalized.contains(&transaction.signature);
            }
            let applied = self.store.reindex(&transactions).await?;
            progress.transactions += applied.transactions;
            progress.events += applied.events;
            tracing::info!(
                done = progress.transactions,
                of = progress.signatures,
                "reindexed"
            );
        }
        Ok(progress)
    }

    /// Fetches `signatures` (oldest first) and stores them in order. With
    /// `advance_from` (the cursor as it was when `signatures` were listed)
    /// each batch moves the cursor on from there.
    pub async fn index(
        &self,
        signatures: Vec<SignatureInfo>,
        advance_from: Option<Option<String>>,
        shutdown: &Shutdown,
    ) -> Result<Progress, IndexerError> {
        let mut progress = Progress {
            signatures: signatures.len() as u64,
            ..Progress::default()
        };
        if signatures.is_empty() {
            return Ok(progress);
        }
        let known = self.known(&signatures).await?;
        let total = signatures.len();
        let (batches, mut receiver) = mpsc::channel::<Result<Batch, SourceError>>(2);
        let producer = tokio::spawn(fetch_batches(
            self.source.clone(),
            signatures,
            known,
            self.config.clone(),
            batches,
        ));
        let started = Instant::now();
        let mut last_report = Instant::now();
        let mut listed = 0usize;
        let mut pipeline = Pipeline::new(
            self.store.clone(),
            self.config.write_concurrency,
            advance_from,
        );
        let mut result: Result<(), IndexerError> = Ok(());
        while let Some(batch) = receiver.recv().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    result = Err(error.into());
                    break;
                }
            };
            let newest = (batch.newest.signature, batch.newest.slot);
            match pipeline.push(batch.transactions, newest).await {
                Ok(Some(applied)) => progress.add(applied),
                Ok(None) => {}
                Err(error) => {
                    result = Err(error.into());
                    break;
                }
            }
            listed += batch.listed;
            if last_report.elapsed() >= self.config.progress_interval {
                last_report = Instant::now();
                let rate = listed as f64 / started.elapsed().as_secs_f64();
                tracing::info!(
                    done = listed,
                    total,
                    tx_per_sec = rate as u64,
                    "catching up"
                );
            }
            if *shutdown.borrow() {
                tracing::info!(done = listed, total, "stopping after the batches in flight");
                break;
            }
        }
        drop(receiver);
        producer.abort();
        // The batches in flight finish (or are refused) either way.
        let finished = pipeline.finish().await;
        result?;
        progress.add(finished?);
        Ok(progress)
    }

    async fn known(&self, signatures: &[SignatureInfo]) -> Result<HashSet<String>, StoreError> {
        let mut known = HashSet::new();
        for chunk in signatures.chunks(10_000) {
            let names: Vec<String> = chunk.iter().map(|s| s.signature.clone()).collect();
            known.extend(self.store.known(&names).await?);
        }
        Ok(known)
    }

    /// Marks stored transactions final once the node says so, and rolls back
    /// those the finalized chain proves gone (a dropped fork). A node that
    /// cannot tell (behind, pruned) leaves them as they are, unfinalized:
    /// see `source::finality`. Returns (finalized, rolled back).
    pub async fn check_finality(&self) -> Result<(usize, usize), IndexerError> {
        let finalized_slot = self.source.finalized_slot().await?;
        let pending = self.store.unfinalized(finalized_slot).await?;
        let fates = if pending.is_empty() {
            Vec::new()
        } else {
            self.source.fates(&pending).await?
        };
        let mut finalized = Vec::new();
        let mut dropped = Vec::new();
        for ((signature, slot), fate) in pending.into_iter().zip(fates) {
            match fate {
                Fate::Finalized => finalized.push(signature),
                Fate::Pending => {}
                Fate::Dropped { evidence } => {
                    tracing::warn!(%signature, slot, %evidence, "transaction dropped with its fork");
                    dropped.push(signature);
                }
                Fate::Unproven { reason } => {
                    metrics::counter!("sparks_finality_unproven_total").increment(1);
                    tracing::warn!(%signature, slot, %reason, "fate not proven; kept unfinalized");
                }
            }
        }
        self.store
            .mark_finalized(&finalized, finalized_slot)
            .await?;
        if !dropped.is_empty() {
            metrics::counter!("sparks_rolled_back_transactions_total")
                .increment(dropped.len() as u64);
            let rolled_back = self.store.roll_back(&dropped).await?;
            tracing::warn!(?rolled_back, "rolled back transactions the chain dropped");
        }
        Ok((finalized.len(), dropped.len()))
    }

    /// Follows a Yellowstone gRPC stream until `shutdown` (see
    /// [`crate::stream`]); RPC repairs gaps and, every
    /// `finality_interval`, proves the fate of anything the stream did not
    /// finalize (a rollback needs the RPC's proof).
    pub async fn run_stream(
        &self,
        stream: crate::stream::StreamConfig,
        shutdown: Shutdown,
    ) -> Result<(), IndexerError> {
        let finality = tokio::spawn(self.clone().finality_loop(shutdown.clone()));
        let outcome = crate::stream::follow(self, stream, shutdown).await;
        finality.abort();
        outcome
    }

    async fn finality_loop(self, mut shutdown: Shutdown) {
        loop {
            if let Err(error) = self.check_finality().await {
                tracing::warn!(%error, "finality check failed; will retry");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.finality_interval) => {}
                _ = shutdown.changed() => break,
            }
        }
    }

    /// Catch up, then follow the chain until `shutdown`.
    pub async fn run(
        &self,
        ws_url: Option<String>,
        mut shutdown: Shutdown,
    ) -> Result<(), IndexerError> {
        let wake = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        if let Some(ws_url) = ws_url {
            tasks.push(tokio::spawn(follow_logs(
                ws_url,
                self.source.config().program,
                CommitmentConfig {
                    commitment: self.source.config().commitment,
                },
                wake.clone(),
                shutdown.clone(),
            )));
        }
        tasks.push(tokio::spawn(self.clone().finality_loop(shutdown.clone())));
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            match self.catch_up(&shutdown).await {
                Ok(progress) => {
                    failures = 0;
                    if progress.transactions > 0 {
                        tracing::debug!(?progress, "indexed");
                    }
                }
                Err(error) if error.is_fatal() => {
                    for task in tasks {
                        task.abort();
                    }
                    return Err(error);
                }
                Err(error) => {
                    failures += 1;
                    let wait = Duration::from_millis(200 * 2u64.pow(failures.min(6)));
                    tracing::warn!(%error, ?wait, "catch-up failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        for task in tasks {
            task.abort();
        }
        Ok(())
    }
}

/// Transactions fetched for one commit, and the newest signature they cover.
struct Batch {
    transactions: Vec<IndexedTransaction>,
    newest: SignatureInfo,
    listed: usize,
}

/// Fetches the transactions of `signatures` as one stream (`concurrency`
/// calls in flight across batch boundaries, so the fetching never drains
/// between batches) and cuts it into batches of `batch_size` listed
/// signatures, in chain order.
async fn fetch_batches(
    source: Arc<Source>,
    signatures: Vec<SignatureInfo>,
    mut known: HashSet<String>,
    config: IndexerConfig,
    batches: mpsc::Sender<Result<Batch, SourceError>>,
) {
    // Per batch: the newest signature it covers, how many it lists, and
    // which of them to fetch. Each signature once: batches committing
    // together must not share a transaction (see `store::pipeline`).
    let mut plan = Vec::new();
    let mut wanted = Vec::new();
    for chunk in signatures.chunks(config.batch_size.max(1)) {
        let before = wanted.len();
        wanted.extend(
            chunk
                .iter()
                .filter(|info| known.insert(info.signature.clone()))
                .cloned(),
        );
        plan.push((
            chunk[chunk.len() - 1].clone(),
            chunk.len(),
            wanted.len() - before,
        ));
    }
    let mut fetched = futures::stream::iter(wanted)
        .map(|info| {
            let source = source.clone();
            async move { source.transaction(&info).await }
        })
        .buffered(config.concurrency.max(1));
    for (newest, listed, count) in plan {
        let mut transactions = Vec::with_capacity(count);
        let mut failure = None;
        while transactions.len() < count {
            match fetched.next().await {
                Some(Ok(transaction)) => transactions.push(transaction),
                Some(Err(error)) => {
                    failure = Some(error);
                    break;
                }
                None => break,
            }
        }
        let batch = match failure {
            Some(error) => Err(error),
            None => Ok(Batch {
                transactions,
                newest,
                listed,
            }),
        };
        let failed = batch.is_err();
        if batches.send(batch).await.is_err() || failed {
            return;
        }
    }
}

/// Wakes the indexer on every log notification of the program; reconnects
/// with backoff when the websocket drops (and wakes it to catch up).
async fn follow_logs(
    ws_url: String,
    program: anchor_lang::prelude::Pubkey,
    commitment: CommitmentConfig,
    wake: Arc<Notify>,
    mut shutdown: Shutdown,
) {
    let mut failures = 0u32;
    loop {
        let session = async {
            let client = PubsubClient::new(&ws_url)
                .await
                .map_err(|e| (e.to_string(), false))?;
            let (mut stream, unsubscribe) = client
                .logs_subscribe(
                    RpcTransactionLogsFilter::Mentions(vec![program.to_string()]),
                    RpcTransactionLogsConfig {
                        commitment: Some(commitment),
                    },
                )
                .await
                .map_err(|e| (e.to_string(), false))?;
            tracing::info!(%ws_url, "subscribed to program logs");
            // Anything sent while we were away is found by this catch-up.
            wake.notify_one();
            let mut notified = false;
            while stream.next().await.is_some() {
                notified = true;
                wake.notify_one();
            }
            unsubscribe().await;
            Err::<(), (String, bool)>(("subscription ended".into(), notified))
        };
        let outcome = tokio::select! {
            outcome = session => outcome,
            _ = shutdown.changed() => return,
        };
        if let Err((error, was_healthy)) = outcome {
            failures = if was_healthy { 1 } else { failures + 1 };
            let wait = Duration::from_millis((100 * 2u64.pow(failures.min(6))).min(5_000));
            tracing::warn!(%error, ?wait, "websocket lost; reconnecting");
            wake.notify_one();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
        if failures > 0 && failures.is_multiple_of(10) {
            tracing::warn!(failures, "websocket keeps failing; polling covers the gap");
        }
    }
}

fn pending(entry: SignatureInfo) -> PendingSignature {
    PendingSignature {
        finalized: entry.finalized(),
        signature: entry.signature,
        slot: entry.slot,
        error: entry.error,
        block_time: entry.block_time,
    }
}

/// A kept signature as listed: at the commitment it was kept at, or final.
fn listed(entry: PendingSignature) -> SignatureInfo {
    use solana_transaction_status_client_types::TransactionConfirmationStatus as Status;
    SignatureInfo {
        signature: entry.signature,
        slot: entry.slot,
        error: entry.error,
        block_time: entry.block_time,
        status: Some(if entry.finalized {
            Status::Finalized
        } else {
            Status::Confirmed
        }),
    }
}
