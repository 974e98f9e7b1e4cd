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
//! Every session starts from what the store holds and subscribes replaying
//! from the slot after the mirror's where the endpoint can ([`connect`]);
//! what the stream cannot prove (the time before it, a parent it never
//! reported) is repaired by the RPC catch-up with its proof rules. The
//! stream is read only between commits, so a slow database slows the
//! reading (HTTP/2 flow control pushes back to the server, which cuts a
//! subscriber that falls too far behind; the reconnect replays) and memory
//! stays bounded; a stream
//! that says nothing for `stall_timeout` (not even the server's pings) is
//! reconnected.

mod commit;
mod connect;
mod convert;
pub mod slots;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use yellowstone_grpc_client::SubscribeRequestSink;
use yellowstone_grpc_proto::geyser::subscribe_update::UpdateOneof;
use yellowstone_grpc_proto::prelude::{
    SlotStatus, SubscribeRequest, SubscribeRequestPing, SubscribeUpdate,
};

use crate::indexer::{Indexer, IndexerError, Shutdown};
use connect::{is_refusal, refused_or, Replays, Start};
use slots::{Held, Ready, Tracker};

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

/// Minimum time between two RPC repairs of the same gap.
const REPAIR_PAUSE: Duration = Duration::from_millis(250);

/// Follows the stream until `shutdown`; reconnects with backoff.
pub async fn follow(
    indexer: &Indexer,
    config: StreamConfig,
    mut shutdown: Shutdown,
) -> Result<(), IndexerError> {
    let mut follower = Follower {
        indexer,
        tracker: Tracker::new(0, config.max_buffered),
        cursor: None,
        cursor_slot: 0,
        caught_up: 0,
        unfinal: BTreeMap::new(),
        finalized_slot: 0,
        marked_final: 0,
        last_final_mark: Instant::now(),
        last_repair: None,
        config,
        shutdown: shutdown.clone(),
        heard: false,
        gap: None,
        replays: Replays::default(),
        start: None,
    };
    let mut failures = 0u32;
    loop {
        // Every session starts from what the store holds (a failed commit
        // left it behind what the last connection had seen).
        if !follower.reset(&mut shutdown).await? {
            return Ok(());
        }
        let ended = follower.session(&mut shutdown).await;
        let message = match ended {
            Ended::Shutdown => return Ok(()),
            Ended::Indexer(error) if error.is_fatal() => return Err(error),
            Ended::Stream(error) if error.is_fatal() => return Err(error.into()),
            Ended::Stream(StreamError::Status(status))
                if !follower.heard && is_refusal(&status) =>
            {
                // A refusal that came late: do not ask for that replay again.
                follower.replays = match follower.start {
                    Some(Start::Replayed) => Replays::FromTip,
                    _ => Replays::None,
                };
                status.to_string()
            }
            Ended::Stream(error) => error.to_string(),
            Ended::Indexer(error) => error.to_string(),
        };
        if follower.heard {
            follower.replays = Replays::default();
        }
        failures = if follower.heard { 1 } else { failures + 1 };
        metrics::counter!("sparks_stream_reconnects_total").increment(1);
        let wait = Duration::from_millis((100 * 2u64.pow(failures.min(6))).min(5_000));
        tracing::warn!(error = %message, ?wait, "gRPC stream lost; reconnecting");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

struct Follower<'a> {
    indexer: &'a Indexer,
    tracker: Tracker,
    /// The store's cursor as this follower last moved it.
    cursor: Option<String>,
    cursor_slot: u64,
    /// The mirror's extent as last written (`mark_caught_up`).
    caught_up: u64,
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
    /// Which replays to ask for.
    replays: Replays,
    /// How the current connection began.
    start: Option<Start>,
}

impl Follower<'_> {
    /// Reads the store's cursor (retrying while the database is away) and
    /// starts the tracker from it. False on shutdown.
    async fn reset(&mut self, shutdown: &mut Shutdown) -> Result<bool, IndexerError> {
        let mut wait = Duration::from_millis(100);
        let cursor = loop {
            match self.indexer.store().cursor().await {
                Ok(cursor) => break cursor,
                Err(error) => {
                    tracing::warn!(%error, ?wait, "reading the cursor; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => return Ok(false),
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        };
        self.tracker = Tracker::new(cursor.caught_up_slot, self.config.max_buffered);
        self.cursor = cursor.signature;
        self.cursor_slot = cursor.slot;
        self.caught_up = cursor.caught_up_slot;
        self.marked_final = self.marked_final.max(cursor.finalized_slot);
        self.gap = None;
        self.heard = false;
        self.start = None;
        Ok(true)
    }

    async fn session(&mut self, shutdown: &mut Shutdown) -> Ended {
        // A load balancer that accepts and never answers must not hold the
        // follower, nor keep it from stopping.
        let subscribing = tokio::time::timeout(self.config.connect_timeout * 2, self.subscribe());
        let subscribed = tokio::select! {
            subscribed = subscribing => subscribed,
            _ = shutdown.changed() => return Ended::Shutdown,
        };
        let (mut sink, mut stream, start) = match subscribed {
            Ok(Ok(subscribed)) => subscribed,
            Ok(Err(error)) => return Ended::Stream(error),
            Err(_) => {
                return Ended::Stream(StreamError::Connect {
                    url: self.config.url.clone(),
                    message: format!("no answer within {:?}", self.config.connect_timeout * 2),
                })
            }
        };
        self.start = Some(start);
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
            let repaired = match self.repair("before the stream").await {
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
                        return Ended::Stream(refused_or(status, &self.config.url));
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
                    match self.tracker.transaction(tx.slot, info) {
                        Held::Waiting => {}
                        // Stored in this round, not at the next confirmation.
                        Held::Late => ready.push(self.tracker.late()),
                        Held::Overflowed => {
                            metrics::counter!("sparks_stream_buffer_overflows_total").increment(1);
                            tracing::warn!(
                                max = self.config.max_buffered,
                                "too many unconfirmed transactions held; dropped, to be repaired over RPC"
                            );
                        }
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
            let reason = format!("confirmed slot {confirmed} does not link at {missing}");
            match self.repair(&reason).await? {
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
    async fn repair(&mut self, reason: &str) -> Result<Option<Ready>, Ended> {
        if self
            .last_repair
            .is_some_and(|last| last.elapsed() < REPAIR_PAUSE)
        {
            return Ok(None);
        }
        self.last_repair = Some(Instant::now());
        metrics::counter!("sparks_stream_repairs_total").increment(1);
        tracing::info!(
            reason,
            complete_through = self.tracker.complete_through(),
            "repairing over RPC what the stream cannot prove"
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
}
