//! Yellowstone gRPC ("Dragon's Mouth") served from the chain's Geyser
//! events, so the indexer's stream source, tests and benchmarks run the
//! client code a provider's users run (`yellowstone-grpc-client`).
//!
//! Implemented: `Subscribe` with `transactions` filters (vote, failed,
//! signature, account_include/exclude/required), `slots` (with
//! `filter_by_commitment`), `blocks_meta`, `commitment` (a slot's messages
//! are held until it reaches it), `from_slot` over a replay buffer of the
//! last `replay_slots` slots (older is refused with `InvalidArgument`, as a
//! provider does), pings both ways (the server pings every
//! `ping_interval`; a client's ping is answered with a pong), filters
//! replaced mid-stream; `SubscribeReplayInfo`, `Ping`, `GetSlot`,
//! `GetVersion`. A subscriber that falls `LIVE_CAPACITY` items behind is
//! cut off with `ResourceExhausted`, so a slow reader never makes the
//! server buffer without bound (what one holds back for its commitment is
//! the messages of slots not yet at it; the chain confirms each block as it
//! makes it). The replay buffer keeps `replay_slots` slots, at most
//! `REPLAY_ITEMS` items.
//!
//! Not implemented (refused with `Unimplemented`): account, block, entry,
//! transaction-status and block-footer subscriptions, data slices, cuckoo
//! filters, `SubscribeDeshred`, `SubscribeGossip`, `GetLatestBlockhash`,
//! `GetBlockHeight`, `IsBlockhashValid`. The chain has no votes, no forks
//! (every slot's parent is the slot before) and no skipped slots.

mod convert;
mod feed;
mod filter;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use yellowstone_grpc_proto::geyser::geyser_server::{Geyser, GeyserServer};
use yellowstone_grpc_proto::geyser::subscribe_update::UpdateOneof;
use yellowstone_grpc_proto::prelude::*;

pub use feed::Feed;
use feed::Item;
use filter::{reached_at, Filter};

/// How the local chain serves gRPC.
#[derive(Debug, Clone)]
pub struct GrpcConfig {
    /// Port to bind; `None` picks a free one.
    pub port: Option<u16>,
    /// Slots a `from_slot` subscription can replay.
    pub replay_slots: u64,
    /// How often the server pings an open subscription (providers do, so
    /// load balancers keep the connection).
    pub ping_interval: Duration,
    /// An access token every call must carry as `x-token`, as providers
    /// require; `None` lets anyone in.
    pub x_token: Option<String>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            port: None,
            replay_slots: 10_000,
            ping_interval: Duration::from_secs(10),
            x_token: None,
        }
    }
}

/// Messages a subscriber's connection may have queued before the server
/// waits on it (HTTP/2 flow control then pushes back further).
const SUBSCRIBER_QUEUE: usize = 4_096;

pub struct GeyserService {
    feed: Arc<Feed>,
    ping_interval: Duration,
}

/// Serves `feed` on `listener` until the runtime stops.
pub async fn serve(
    listener: tokio::net::TcpListener,
    feed: Arc<Feed>,
    ping_interval: Duration,
    x_token: Option<String>,
) -> Result<(), tonic::transport::Error> {
    let service = GeyserService {
        feed,
        ping_interval,
    };
    let check_token = move |request: Request<()>| -> Result<Request<()>, Status> {
        let Some(wanted) = &x_token else {
            return Ok(request);
        };
        match request.metadata().get("x-token") {
            Some(given) if given.as_bytes() == wanted.as_bytes() => Ok(request),
            Some(_) => Err(Status::unauthenticated("the x-token is not valid")),
            None => Err(Status::unauthenticated("an x-token is required")),
        }
    };
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .add_service(tonic::service::interceptor::InterceptedService::new(
            GeyserServer::new(service).max_decoding_message_size(4 << 20),
            check_token,
        ))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}

pub type UpdateStream = Pin<Box<dyn Stream<Item = Result<SubscribeUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl Geyser for GeyserService {
    type SubscribeStream = UpdateStream;
    type SubscribeDeshredStream =
        Pin<Box<dyn Stream<Item = Result<SubscribeUpdateDeshred, Status>> + Send>>;
    type SubscribeGossipStream =
        Pin<Box<dyn Stream<Item = Result<SubscribeUpdateGossip, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (updates, receiver) = mpsc::channel(SUBSCRIBER_QUEUE);
        // Listening starts now: whatever happens once the client has its
        // answer reaches it.
        let listener = self.feed.listen();
        tokio::spawn(session(
            self.feed.clone(),
            listener,
            request.into_inner(),
            updates,
            self.ping_interval,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn subscribe_deshred(
        &self,
        _: Request<Streaming<SubscribeDeshredRequest>>,
    ) -> Result<Response<Self::SubscribeDeshredStream>, Status> {
        Err(Status::unimplemented("the local chain has no shreds"))
    }

    async fn subscribe_gossip(
        &self,
        _: Request<SubscribeGossipRequest>,
    ) -> Result<Response<Self::SubscribeGossipStream>, Status> {
        Err(Status::unimplemented("the local chain has no gossip"))
    }

    async fn subscribe_replay_info(
        &self,
        _: Request<SubscribeReplayInfoRequest>,
    ) -> Result<Response<SubscribeReplayInfoResponse>, Status> {
        Ok(Response::new(SubscribeReplayInfoResponse {
            first_available: self.feed.first_available(),
        }))
    }

    async fn ping(&self, request: Request<PingRequest>) -> Result<Response<PongResponse>, Status> {
        Ok(Response::new(PongResponse {
            count: request.into_inner().count,
        }))
    }

    async fn get_latest_blockhash(
        &self,
        _: Request<GetLatestBlockhashRequest>,
    ) -> Result<Response<GetLatestBlockhashResponse>, Status> {
        Err(Status::unimplemented("ask the chain's JSON-RPC"))
    }

    async fn get_block_height(
        &self,
        _: Request<GetBlockHeightRequest>,
    ) -> Result<Response<GetBlockHeightResponse>, Status> {
        Err(Status::unimplemented("ask the chain's JSON-RPC"))
    }

    async fn get_slot(
        &self,
        request: Request<GetSlotRequest>,
    ) -> Result<Response<GetSlotResponse>, Status> {
        let slot = match request.into_inner().commitment {
            Some(c) if c == CommitmentLevel::Finalized as i32 => self.feed.finalized_slot(),
            Some(c) if c == CommitmentLevel::Confirmed as i32 => self.feed.confirmed_slot(),
            _ => self.feed.latest_slot(),
        };
        Ok(Response::new(GetSlotResponse { slot }))
    }

    async fn is_blockhash_valid(
        &self,
        _: Request<IsBlockhashValidRequest>,
    ) -> Result<Response<IsBlockhashValidResponse>, Status> {
        Err(Status::unimplemented("ask the chain's JSON-RPC"))
    }

    async fn get_version(
        &self,
        _: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        Ok(Response::new(GetVersionResponse {
            version: format!(
                "{{\"server\":\"sparks-localnet\",\"version\":\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ),
        }))
    }
}

/// One subscription: its first request names the filters (and maybe
/// `from_slot`); later ones replace them or ping.
async fn session(
    feed: Arc<Feed>,
    listener: feed::Listener,
    mut requests: Streaming<SubscribeRequest>,
    updates: mpsc::Sender<Result<SubscribeUpdate, Status>>,
    ping_interval: Duration,
) {
    let first = match requests.next().await {
        Some(Ok(request)) => request,
        _ => return,
    };
    let mut subscriber = match Filter::new(&first) {
        Ok(filter) => Subscriber::new(filter),
        Err(status) => {
            let _ = updates.send(Err(status)).await;
            return;
        }
    };
    let backlog = match feed.replay(&listener, first.from_slot) {
        Ok(backlog) => backlog,
        Err(unavailable) => {
            let _ = updates
                .send(Err(Status::invalid_argument(format!(
                    "from_slot {} is not available; first available slot: {}",
                    unavailable.from_slot,
                    unavailable
                        .first_available
                        .map_or("none".into(), |s| s.to_string())
                ))))
                .await;
            return;
        }
    };
    let mut live = listener.receiver;
    for item in backlog {
        if !subscriber.deliver(&item, &updates).await {
            return;
        }
    }
    let mut ping = tokio::time::interval(ping_interval.max(Duration::from_millis(10)));
    ping.tick().await;
    loop {
        tokio::select! {
            item = live.recv() => match item {
                Ok(item) => {
                    if !subscriber.deliver(&item, &updates).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let _ = updates.send(Err(Status::resource_exhausted(format!(
                        "subscriber lagged: {missed} updates behind; reconnect with from_slot"
                    )))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            request = requests.next() => match request {
                Some(Ok(request)) => {
                    if let Some(ping) = request.ping {
                        let pong = update(Vec::new(), UpdateOneof::Pong(SubscribeUpdatePong { id: ping.id }));
                        if updates.send(Ok(pong)).await.is_err() {
                            return;
                        }
                    }
                    if has_filters(&request) {
                        match Filter::new(&request) {
                            Ok(filter) => subscriber = Subscriber::new(filter),
                            Err(status) => {
                                let _ = updates.send(Err(status)).await;
                                return;
                            }
                        }
                    }
                }
                _ => return,
            },
            _ = ping.tick() => {
                let ping = update(Vec::new(), UpdateOneof::Ping(SubscribeUpdatePing {}));
                if updates.send(Ok(ping)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A ping-only request keeps the filters (as Yellowstone does).
fn has_filters(request: &SubscribeRequest) -> bool {
    !(request.transactions.is_empty()
        && request.slots.is_empty()
        && request.blocks_meta.is_empty()
        && request.accounts.is_empty()
        && request.blocks.is_empty()
        && request.entry.is_empty()
        && request.transactions_status.is_empty()
        && request.block_footer.is_empty())
}

/// A subscriber's filters, and what it holds back until a slot reaches its
/// commitment.
struct Subscriber {
    filter: Filter,
    held: BTreeMap<u64, Vec<SubscribeUpdate>>,
}

impl Subscriber {
    fn new(filter: Filter) -> Self {
        Self {
            filter,
            held: BTreeMap::new(),
        }
    }

    /// Sends what `item` means to this subscriber; false once it is gone.
    async fn deliver(
        &mut self,
        item: &Item,
        updates: &mpsc::Sender<Result<SubscribeUpdate, Status>>,
    ) -> bool {
        let immediate = self.filter.commitment == CommitmentLevel::Processed;
        let mut out = Vec::new();
        match item {
            Item::Transaction(tx) => {
                let filters = self.filter.transaction(tx);
                if !filters.is_empty() {
                    let message = update(
                        filters,
                        UpdateOneof::Transaction(SubscribeUpdateTransaction {
                            transaction: Some(tx.info.clone()),
                            slot: tx.slot,
                            bank_id: 0,
                        }),
                    );
                    self.hold_or_send(tx.slot, message, immediate, &mut out);
                }
            }
            Item::BlockMeta(meta) => {
                let filters = self.filter.blocks_meta();
                if !filters.is_empty() {
                    let message = update(filters, UpdateOneof::BlockMeta(meta.clone()));
                    self.hold_or_send(meta.slot, message, immediate, &mut out);
                }
            }
            Item::Slot {
                slot,
                parent,
                status,
            } => {
                if *status == reached_at(self.filter.commitment) {
                    let reached: Vec<u64> = self.held.range(..=*slot).map(|(s, _)| *s).collect();
                    for held in reached {
                        out.extend(self.held.remove(&held).unwrap_or_default());
                    }
                }
                let filters = self.filter.slot(*status);
                if !filters.is_empty() {
                    out.push(update(
                        filters,
                        UpdateOneof::Slot(SubscribeUpdateSlot {
                            slot: *slot,
                            parent: *parent,
                            status: *status as i32,
                            dead_error: None,
                            bank_id: None,
                        }),
                    ));
                }
            }
        }
        for message in out {
            if updates.send(Ok(message)).await.is_err() {
                return false;
            }
        }
        true
    }

    fn hold_or_send(
        &mut self,
        slot: u64,
        message: SubscribeUpdate,
        immediate: bool,
        out: &mut Vec<SubscribeUpdate>,
    ) {
        if immediate {
            out.push(message);
        } else {
            self.held.entry(slot).or_default().push(message);
        }
    }
}

fn update(filters: Vec<String>, update: UpdateOneof) -> SubscribeUpdate {
    let now = std::time::SystemTime::now();
    SubscribeUpdate {
        filters,
        update_oneof: Some(update),
        created_at: Some(yellowstone_grpc_proto::prost_types::Timestamp::from(now)),
    }
}
