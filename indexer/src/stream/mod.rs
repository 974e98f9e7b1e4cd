//! The chain side at volume: a Yellowstone gRPC ("Dragon's Mouth") stream,
//! as Triton, Helius, QuickNode and others serve it, through the
//! ecosystem's client (`yellowstone-grpc-client`). RPC stays for repair.
//!
//! One subscription: the program's successful, non-vote transactions at
//! `processed`, every slot status and every block meta (for block times).
//! Transactions wait by slot until the cluster confirms it and its ancestry
//! links to what the mirror already holds ([`slots`]); then they are stored
//! in block order with the same decoder and store as the RPC path, and the
//! cursor moves with them. Finalized slots mark their transactions final.
//!
//! On start and after every reconnect the subscription asks to replay
//! `from_slot` = the slot after the one the mirror is complete through. An
//! endpoint that cannot (no replay, or not that far back) is subscribed
//! without it, and the gap between the cursor and what the stream brings is
//! repaired by the RPC catch-up with its proof rules. The stream is read
//! only between commits, so a slow database slows the reading (HTTP/2 flow
//! control pushes back to the server, which cuts a subscriber that falls too
//! far behind; the reconnect replays) and memory stays bounded; a stream
//! that says nothing for `stall_timeout` (not even the server's pings) is
//! reconnected.

mod convert;
pub mod slots;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use yellowstone_grpc_client::{
    GeyserGrpcClient, GeyserGrpcClientError, GeyserStream, SubscribeRequestSink,
};
use yellowstone_grpc_proto::geyser::subscribe_update::UpdateOneof;
use yellowstone_grpc_proto::prelude::{
    CommitmentLevel, SlotStatus, SubscribeRequest, SubscribeRequestFilterBlocksMeta,
    SubscribeRequestFilterSlots, SubscribeRequestFilterTransactions, SubscribeRequestPing,
    SubscribeUpdate,
};
use yellowstone_grpc_proto::tonic::Code;

use crate::indexer::{Indexer, IndexerError, Shutdown};
use crate::store::{CursorMove, IndexedTransaction};
use slots::{ConfirmedSlot, Ready, Tracker};

#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// The endpoint, e.g. `https://your-endpoint.rpcpool.com:443`.
    pub url: String,
    /// The provider's access token, sent as `x-token`.
    pub x_token: Option<String>,
    /// A stream silent this long (no update, no ping) is reconnected.
    pub stall_timeout: Duration,
    pub connect_timeout: Duration,
    /// Streamed transactions held waiting for confirmation; past it the
    /// unconfirmed are dropped and repaired over RPC once confirmed.
    pub max_buffered: usize,
    /// Updates read from the stream before a commit.
    pub max_batch: usize,
    /// Ask the endpoint to replay from the cursor on (re)connect.
    pub replay: bool,
}

impl StreamConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            x_token: None,
            stall_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_buffered: 100_000,
            max_batch: 5_000,
            replay: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("gRPC endpoint {url}: {message}")]
    Connect { url: String, message: String },
    #[error("gRPC stream: {0}")]
    Status(#[from] yellowstone_grpc_proto::tonic::Status),
    #[error("the gRPC stream ended")]
    Ended,
    #[error("the gRPC stream said nothing for {0:?} (not even a ping)")]
    Stalled(Duration),
    #[error("sending to the gRPC stream: {0}")]
    Send(String),
    #[error("gRPC endpoint {url} refuses this indexer: {message} (check --grpc-x-token)")]
    Refused { url: String, message: String },
}

impl StreamError {
    /// Whether reconnecting can help: a refused token will be refused again.
    pub fn is_fatal(&self) -> bool {
        matches!(self, StreamError::Refused { .. })
    }
}

/// Why a session ended.
enum Ended {
    Shutdown,
    Stream(StreamError),
    Indexer(IndexerError),
}

impl From<IndexerError> for Ended {
    fn from(error: IndexerError) -> Self {
        Ended::Indexer(error)
    }
}

impl From<StreamError> for Ended {
    fn from(error: StreamError) -> Self {
        Ended::Stream(error)
    }
}

/// A status as a stream error: a refusal of the credentials is fatal.
fn refused_or(status: yellowstone_grpc_proto::tonic::Status, url: &str) -> StreamError {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => StreamError::Refused {
            url: url.to_owned(),
            message: status.message().to_owned(),
        },
        _ => StreamError::Status(status),
    }
}

/// How a subscription began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Replaying from the slot after the one the mirror is complete through.
    Replayed,
    /// Replaying from this slot: every slot from it on arrives whole, and
    /// what lies between the mirror and it is repaired over RPC.
    WholeFrom(u64),
    /// At the live tip: the first slot may arrive in part.
    Live,
}

/// How long a replay's refusal may take to arrive.
const REFUSAL_WITHIN: Duration = Duration::from_secs(1);

/// Minimum time between two RPC repairs of the same gap.
const REPAIR_PAUSE: Duration = Duration::from_millis(250);

/// Follows the stream until `shutdown`; reconnects with backoff.
pub async fn follow(
    indexer: &Indexer,
    config: StreamConfig,
    mut shutdown: Shutdown,
) -> Result<(), IndexerError> {
    let cursor = indexer.store().cursor().await?;
    let mut follower = Follower {
        indexer,
        tracker: Tracker::new(cursor.caught_up_slot, config.max_buffered),
        cursor: cursor.signature,
        cursor_slot: cursor.slot,
        unfinal: BTreeMap::new(),
        finalized_slot: 0,
        marked_final: cursor.finalized_slot,
        last_final_mark: Instant::now(),
        last_repair: None,
        config,
        shutdown: shutdown.clone(),
        heard: false,
        gap: None,
    };
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        follower.heard = false;
        match follower.session(&mut shutdown).await {
            Ended::Shutdown => return Ok(()),
            Ended::Indexer(error) if error.is_fatal() => return Err(error),
            Ended::Stream(error) if error.is_fatal() => return Err(error.into()),
            ended => {
                let message = match ended {
                    Ended::Stream(error) => error.to_string(),
                    Ended::Indexer(error) => error.to_string(),
                    Ended::Shutdown => unreachable!("returned above"),
                };
                failures = if follower.heard { 1 } else { failures + 1 };
                metrics::counter!("sparks_stream_reconnects_total").increment(1);
                let wait = Duration::from_millis((100 * 2u64.pow(failures.min(6))).min(5_000));
                tracing::warn!(error = %message, ?wait, "gRPC stream lost; reconnecting");
                // Start again from what the store holds: a failed commit
                // left it behind what this connection had seen.
                match indexer.store().cursor().await {
                    Ok(cursor) => {
                        follower.tracker =
                            Tracker::new(cursor.caught_up_slot, follower.config.max_buffered);
                        follower.gap = None;
                        follower.cursor = cursor.signature;
                        follower.cursor_slot = cursor.slot;
                    }
                    Err(error) => tracing::warn!(%error, "reading the cursor"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
            }
        }
    }
}

struct Follower<'a> {
    indexer: &'a Indexer,
    tracker: Tracker,
    /// The store's cursor as this follower last moved it.
    cursor: Option<String>,
    cursor_slot: u64,
    /// Stored from the stream, not yet final: slot → signatures.
    unfinal: BTreeMap<u64, Vec<String>>,
    /// Newest slot the stream reported finalized, and the newest marked so.
    finalized_slot: u64,
    marked_final: u64,
    last_final_mark: Instant,
    last_repair: Option<Instant>,
    config: StreamConfig,
    shutdown: Shutdown,
    /// The current connection delivered something (its failure then
    /// starts the backoff over).
    heard: bool,
    /// A gap waiting for the RPC node to get past it: (confirmed, missing).
    gap: Option<(u64, u64)>,
}

impl Follower<'_> {
    async fn session(&mut self, shutdown: &mut Shutdown) -> Ended {
        let (mut sink, mut stream, start) = match self.subscribe().await {
            Ok(subscribed) => subscribed,
            Err(error) => return Ended::Stream(error),
        };
        tracing::info!(url = %self.config.url, ?start, complete_through = self.tracker.complete_through(), "subscribed to the gRPC stream");
        match start {
            Start::Replayed => self
                .tracker
                .reconnected(Some(self.tracker.complete_through() + 1)),
            Start::WholeFrom(slot) => self.tracker.reconnected(Some(slot)),
            Start::Live => {
                self.tracker.reconnected(None);
                // Slots the node had begun by now are the only ones the
                // stream may hold in part.
                match self.indexer.source().processed_slot().await {
                    Ok(tip) => self.tracker.began_after(tip),
                    Err(error) => return Ended::Indexer(error.into()),
                }
            }
        }
        if start != Start::Replayed {
            // What happened before the stream is only in RPC; the stream
            // buffers meanwhile.
            self.last_repair = None;
            let repaired = match self.repair(0, self.tracker.complete_through() + 1).await {
                Ok(ready) => ready.into_iter().collect(),
                Err(ended) => return ended,
            };
            if let Err(ended) = self.settle(repaired).await {
                return ended;
            }
        }
        let mut last_heard = Instant::now();
        loop {
            // An open gap is retried even when the chain is quiet.
            let wait = match self.gap {
                Some(_) => REPAIR_PAUSE,
                None => self
                    .config
                    .stall_timeout
                    .saturating_sub(last_heard.elapsed()),
            };
            let next = tokio::select! {
                next = tokio::time::timeout(wait, stream.next()) => next,
                _ = shutdown.changed() => return Ended::Shutdown,
            };
            tracing::trace!(?wait, timed_out = next.is_err(), gap = ?self.gap, "stream wait");
            if next.is_err() && last_heard.elapsed() < self.config.stall_timeout {
                let retry = self
                    .gap
                    .map(|(confirmed, missing)| Ready::Gap { confirmed, missing });
                if let Err(ended) = self.settle(retry.into_iter().collect()).await {
                    return ended;
                }
                continue;
            }
            if matches!(next, Ok(Some(Ok(_)))) {
                last_heard = Instant::now();
            }
            let mut ready = Vec::new();
            match next {
                Err(_) => return Ended::Stream(StreamError::Stalled(self.config.stall_timeout)),
                Ok(None) => return Ended::Stream(StreamError::Ended),
                Ok(Some(Err(status))) => {
                    return Ended::Stream(refused_or(status, &self.config.url))
                }
                Ok(Some(Ok(update))) => {
                    self.heard = true;
                    if let Err(error) = self.take(update, &mut sink, &mut ready).await {
                        return Ended::Stream(error);
                    }
                }
            }
            // Whatever else has arrived joins this commit.
            for _ in 1..self.config.max_batch {
                match stream.next().now_or_never() {
                    Some(Some(Ok(update))) => {
                        if let Err(error) = self.take(update, &mut sink, &mut ready).await {
                            return Ended::Stream(error);
                        }
                    }
                    Some(Some(Err(status))) => {
                        if let Err(ended) = self.settle(ready).await {
                            return ended;
                        }
                        return Ended::Stream(status.into());
                    }
                    Some(None) => {
                        if let Err(ended) = self.settle(ready).await {
                            return ended;
                        }
                        return Ended::Stream(StreamError::Ended);
                    }
                    None => break,
                }
            }
            if let Err(ended) = self.settle(ready).await {
                return ended;
            }
        }
    }

    /// Connects and subscribes. Where the endpoint replays, from the slot
    /// after the one the mirror is complete through, or failing that (a
    /// fresh mirror, a cursor older than the endpoint keeps) from the
    /// node's current slot, so that every slot the stream brings is whole.
    async fn subscribe(&self) -> Result<(SubscribeRequestSink, Updates, Start), StreamError> {
        if self.config.replay {
            let complete = self.tracker.complete_through();
            if complete > 0 {
                if let Some((sink, updates)) = self.replaying(complete + 1).await? {
                    return Ok((sink, updates, Start::Replayed));
                }
            }
            let tip =
                self.indexer
                    .source()
                    .processed_slot()
                    .await
                    .map_err(|e| StreamError::Connect {
                        url: self.config.url.clone(),
                        message: format!("reading the node's slot over RPC: {e}"),
                    })?;
            if let Some((sink, updates)) = self.replaying(tip).await? {
                return Ok((sink, updates, Start::WholeFrom(tip)));
            }
        }
        let (sink, stream) = self.open(None).await?;
        Ok((sink, Box::pin(stream), Start::Live))
    }

    /// A subscription replaying from `from_slot`, or `None` when the
    /// endpoint refuses to (it says so at once, as the stream's first item).
    async fn replaying(
        &self,
        from_slot: u64,
    ) -> Result<Option<(SubscribeRequestSink, Updates)>, StreamError> {
        let (sink, mut stream) = self.open(Some(from_slot)).await?;
        let first = match tokio::time::timeout(REFUSAL_WITHIN, stream.next()).await {
            // Nothing yet: a quiet chain, and no refusal.
            Err(_) => return Ok(Some((sink, Box::pin(stream)))),
            Ok(first) => first,
        };
        match first {
            Some(Err(status))
                if matches!(
                    status.code(),
                    Code::InvalidArgument | Code::Unimplemented | Code::OutOfRange
                ) =>
            {
                metrics::counter!("sparks_stream_replay_refused_total").increment(1);
                tracing::warn!(
                    from_slot,
                    message = status.message(),
                    "the endpoint cannot replay from there; what lies before is repaired over RPC"
                );
                Ok(None)
            }
            Some(Err(status)) => Err(refused_or(status, &self.config.url)),
            None => Err(StreamError::Ended),
            Some(Ok(first)) => {
                let updates = futures::stream::once(async { Ok(first) }).chain(stream);
                Ok(Some((sink, Box::pin(updates))))
            }
        }
    }

    async fn open(
        &self,
        from_slot: Option<u64>,
    ) -> Result<(SubscribeRequestSink, GeyserStream), StreamError> {
        let failed = |message: String| StreamError::Connect {
            url: self.config.url.clone(),
            message,
        };
        let mut client = GeyserGrpcClient::build_from_shared(self.config.url.clone())
            .map_err(|e| failed(e.to_string()))?
            .x_token(self.config.x_token.clone())
            .map_err(|e| failed(e.to_string()))?
            .connect_timeout(self.config.connect_timeout)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .tcp_nodelay(true)
            .max_decoding_message_size(64 << 20)
            .connect()
            .await
            .map_err(|e| failed(e.to_string()))?;
        client
            .subscribe_with_request(Some(self.request(from_slot)))
            .await
            .map_err(|e| match e {
                GeyserGrpcClientError::TonicStatus(status) => refused_or(status, &self.config.url),
                other => failed(other.to_string()),
            })
    }

    fn request(&self, from_slot: Option<u64>) -> SubscribeRequest {
        let program = self.indexer.source().config().program.to_string();
        SubscribeRequest {
            transactions: [(
                "sparks".to_owned(),
                SubscribeRequestFilterTransactions {
                    vote: Some(false),
                    failed: Some(false),
                    account_include: vec![program],
                    ..Default::default()
                },
            )]
            .into(),
            slots: [(
                "slots".to_owned(),
                SubscribeRequestFilterSlots {
                    filter_by_commitment: Some(false),
                    interslot_updates: Some(false),
                },
            )]
            .into(),
            blocks_meta: [("blocks".to_owned(), SubscribeRequestFilterBlocksMeta {})].into(),
            commitment: Some(CommitmentLevel::Processed as i32),
            from_slot,
            ..Default::default()
        }
    }

    /// Takes one update into the tracker; what it makes ready is added to `ready`.
    async fn take(
        &mut self,
        update: SubscribeUpdate,
        sink: &mut SubscribeRequestSink,
        ready: &mut Vec<Ready>,
    ) -> Result<(), StreamError> {
        let Some(update) = update.update_oneof else {
            return Ok(());
        };
        match update {
            UpdateOneof::Transaction(tx) => {
                if let Some(info) = tx.transaction {
                    if !self.tracker.transaction(tx.slot, info) {
                        metrics::counter!("sparks_stream_buffer_overflows_total").increment(1);
                        tracing::warn!(
                            max = self.config.max_buffered,
                            "too many unconfirmed transactions held; dropped, to be repaired over RPC"
                        );
                    }
                }
            }
            UpdateOneof::Slot(slot) => {
                let status = SlotStatus::try_from(slot.status).ok();
                match status {
                    Some(SlotStatus::SlotProcessed) => {
                        self.tracker.processed(slot.slot, slot.parent)
                    }
                    Some(SlotStatus::SlotConfirmed) => {
                        ready.push(self.tracker.confirmed(slot.slot, slot.parent))
                    }
                    Some(SlotStatus::SlotFinalized) => {
                        ready.push(self.tracker.finalized(slot.slot, slot.parent));
                        self.finalized_slot = self.finalized_slot.max(slot.slot);
                    }
                    _ => {}
                }
            }
            UpdateOneof::BlockMeta(meta) => self.tracker.block_meta(
                meta.slot,
                meta.parent_slot,
                meta.block_time.map(|t| t.timestamp),
            ),
            UpdateOneof::Ping(_) => {
                // Answered, as providers' load balancers expect.
                sink.send(SubscribeRequest {
                    ping: Some(SubscribeRequestPing { id: 1 }),
                    ..Default::default()
                })
                .await
                .map_err(|e| StreamError::Send(e.to_string()))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Stores what became ready, repairs a gap, marks finality.
    async fn settle(&mut self, ready: Vec<Ready>) -> Result<(), Ended> {
        let mut to_store = Vec::new();
        let mut through = None;
        let mut gap = None;
        for outcome in ready {
            match outcome {
                Ready::Store { slots, through: t } => {
                    to_store.extend(slots);
                    through = Some(t);
                }
                Ready::Gap { confirmed, missing } => gap = Some((confirmed, missing)),
                Ready::Nothing => {}
            }
        }
        if let Some(open) = gap {
            self.gap = Some(open);
        } else if let (Some((confirmed, _)), Some(through)) = (self.gap, through) {
            // Closed by linking past it (a finalized old slot also reports
            // the mirror's extent, without linking anything).
            if through >= confirmed {
                self.gap = None;
            }
        }
        if let Some((confirmed, missing)) = self.gap {
            match self.repair(confirmed, missing).await? {
                Some(Ready::Store { slots, through: t }) => {
                    to_store.extend(slots);
                    through = Some(t);
                    self.gap = None;
                }
                Some(Ready::Nothing) => self.gap = None,
                // Not yet past it: retried after a pause, even on a quiet chain.
                Some(Ready::Gap { confirmed, missing }) => self.gap = Some((confirmed, missing)),
                None => {}
            }
        }
        if let Some(through) = through {
            self.store(to_store, through).await?;
        }
        self.finalize().await?;
        Ok(())
    }

    /// Fills a gap from RPC: the catch-up lists the program's signatures
    /// from the chain's tip down to the cursor, with its proof rules.
    async fn repair(&mut self, confirmed: u64, missing: u64) -> Result<Option<Ready>, Ended> {
        if self
            .last_repair
            .is_some_and(|last| last.elapsed() < REPAIR_PAUSE)
        {
            return Ok(None);
        }
        self.last_repair = Some(Instant::now());
        metrics::counter!("sparks_stream_repairs_total").increment(1);
        tracing::info!(
            confirmed,
            missing,
            complete_through = self.tracker.complete_through(),
            "the stream does not link to the mirror; repairing over RPC"
        );
        let proven = self.indexer.catch_up_proven(&self.shutdown).await?;
        let cursor = self
            .indexer
            .store()
            .cursor()
            .await
            .map_err(IndexerError::from)?;
        self.cursor = cursor.signature;
        self.cursor_slot = cursor.slot;
        let ready = self.tracker.repaired(proven);
        if let Ready::Gap { missing, .. } = &ready {
            tracing::info!(
                proven,
                missing,
                "the RPC node is not past the gap yet; will repair again"
            );
        }
        Ok(Some(ready))
    }

    /// Stores confirmed slots in one database transaction, moving the cursor.
    async fn store(&mut self, slots: Vec<ConfirmedSlot>, through: u64) -> Result<(), Ended> {
        let program = self.indexer.source().config().program;
        let finalized_through = self.finalized_slot;
        let mut transactions: Vec<IndexedTransaction> = Vec::new();
        for slot in slots {
            let block_time = match slot.block_time {
                Some(time) => Some(time),
                None if slot.transactions.is_empty() => None,
                None => self
                    .indexer
                    .source()
                    .block_time(slot.slot)
                    .await
                    .map_err(IndexerError::from)?,
            };
            for info in &slot.transactions {
                match convert::indexed(info, slot.slot, block_time, &program) {
                    Some(mut tx) => {
                        tx.finalized = slot.slot <= finalized_through;
                        transactions.push(tx);
                    }
                    None => {
                        metrics::counter!("sparks_stream_malformed_total").increment(1);
                        tracing::error!(
                            slot = slot.slot,
                            "a streamed transaction without a signature; skipped"
                        );
                    }
                }
            }
        }
        // Once each: a duplicate may arrive after its slot was taken.
        let mut seen = std::collections::HashSet::new();
        transactions.retain(|t| seen.insert(t.signature.clone()));
        let names: Vec<String> = transactions.iter().map(|t| t.signature.clone()).collect();
        let known = self
            .indexer
            .store()
            .known(&names)
            .await
            .map_err(IndexerError::from)?;
        transactions.retain(|t| !known.contains(&t.signature));
        if !transactions.is_empty() {
            let newest = transactions.last().map(|t| (t.signature.clone(), t.slot));
            let movement = newest
                .as_ref()
                .filter(|(_, slot)| *slot >= self.cursor_slot)
                .map(|(signature, slot)| CursorMove {
                    from: self.cursor.as_deref(),
                    to: signature,
                    slot: *slot,
                });
            let applied = self
                .indexer
                .store()
                .apply(&transactions, movement)
                .await
                .map_err(IndexerError::from)?;
            if let Some((signature, slot)) = newest.filter(|(_, slot)| *slot >= self.cursor_slot) {
                self.cursor = Some(signature);
                self.cursor_slot = slot;
            }
            metrics::counter!("sparks_indexed_events_total").increment(applied.events);
            metrics::counter!("sparks_indexed_transactions_total").increment(applied.transactions);
            for tx in transactions.iter().filter(|t| !t.finalized) {
                self.unfinal
                    .entry(tx.slot)
                    .or_default()
                    .push(tx.signature.clone());
            }
        }
        self.indexer
            .store()
            .mark_caught_up(through)
            .await
            .map_err(IndexerError::from)?;
        Ok(())
    }

    /// Marks stored transactions of finalized slots final, and moves the
    /// mirror's finalized slot (at most once a second when nothing became
    /// final with it).
    async fn finalize(&mut self) -> Result<(), Ended> {
        if self.finalized_slot <= self.marked_final {
            return Ok(());
        }
        let newly: Vec<u64> = self
            .unfinal
            .range(..=self.finalized_slot)
            .map(|(slot, _)| *slot)
            .collect();
        if newly.is_empty() && self.last_final_mark.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        let signatures: Vec<String> = newly
            .iter()
            .filter_map(|slot| self.unfinal.remove(slot))
            .flatten()
            .collect();
        self.indexer
            .store()
            .mark_finalized(&signatures, self.finalized_slot)
            .await
            .map_err(IndexerError::from)?;
        self.marked_final = self.finalized_slot;
        self.last_final_mark = Instant::now();
        Ok(())
    }
}

/// The stream's updates, whichever way they were opened.
type Updates = std::pin::Pin<
    Box<
        dyn futures::Stream<Item = Result<SubscribeUpdate, yellowstone_grpc_proto::tonic::Status>>
            + Send,
    >,
>;
