//! A Yellowstone gRPC proxy that misbehaves: between the indexer and the
//! local chain's gRPC server, it passes the subscription through (with the
//! ecosystem's client upstream and tonic's server downstream) and, by plan,
//! duplicates and swaps messages, drops whole slots, turns empty slots into
//! dropped forks carrying a fabricated transaction, cuts the connection
//! mid-slot and stalls it (open, silent).

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::{SinkExt, Stream, StreamExt};
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::geyser::geyser_server::{Geyser, GeyserServer};
use yellowstone_grpc_proto::geyser::subscribe_update::UpdateOneof;
use yellowstone_grpc_proto::prelude::*;

/// What the proxy does wrong, per message or per slot.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Share of messages sent twice.
    pub duplicate: f64,
    /// Share of messages held back and sent after the next one.
    pub swap: f64,
    /// Every slot divisible by this is dropped whole (0: none).
    pub skip_every: u64,
    /// Every empty slot divisible by this becomes a fork that never
    /// confirms, holding a fabricated copy of a real transaction (0: none).
    pub fork_every: u64,
    /// Cut the connection after a transaction message, every this many
    /// messages on average (0: never).
    pub cut_every: u64,
    /// Fall silent (connection open) once, after this many messages.
    pub stall_after: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Counts {
    pub connections: AtomicU64,
    pub duplicated: AtomicU64,
    pub swapped: AtomicU64,
    pub skipped_slots: AtomicU64,
    pub forks: AtomicU64,
    pub cuts: AtomicU64,
    pub stalls: AtomicU64,
}

impl Counts {
    pub fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::SeqCst)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} connections, {} duplicated, {} swapped, {} slots skipped, {} forks, {} cuts, {} stalls",
            Self::get(&self.connections),
            Self::get(&self.duplicated),
            Self::get(&self.swapped),
            Self::get(&self.skipped_slots),
            Self::get(&self.forks),
            Self::get(&self.cuts),
            Self::get(&self.stalls),
        )
    }
}

pub struct GeyserProxy {
    pub url: String,
    pub counts: Arc<Counts>,
    /// Signatures the proxy made up (they must never be stored).
    pub fabricated: Arc<Mutex<HashSet<String>>>,
}

struct Faulty {
    upstream: String,
    plan: Plan,
    counts: Arc<Counts>,
    fabricated: Arc<Mutex<HashSet<String>>>,
    seed: u64,
    stalled: Arc<std::sync::atomic::AtomicBool>,
}

impl GeyserProxy {
    pub async fn start(upstream: &str, plan: Plan, seed: u64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(Counts::default());
        let fabricated = Arc::new(Mutex::new(HashSet::new()));
        let service = Faulty {
            upstream: upstream.to_owned(),
            plan,
            counts: counts.clone(),
            fabricated: fabricated.clone(),
            seed,
            stalled: Arc::default(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(GeyserServer::new(service))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Self {
            url,
            counts,
            fabricated,
        }
    }
}

type Updates = Pin<Box<dyn Stream<Item = Result<SubscribeUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl Geyser for Faulty {
    type SubscribeStream = Updates;
    type SubscribeDeshredStream =
        Pin<Box<dyn Stream<Item = Result<SubscribeUpdateDeshred, Status>> + Send>>;
    type SubscribeGossipStream =
        Pin<Box<dyn Stream<Item = Result<SubscribeUpdateGossip, Status>> + Send>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<SubscribeRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let connection = self.counts.connections.fetch_add(1, Ordering::SeqCst);
        let mut requests = request.into_inner();
        let first = requests
            .next()
            .await
            .ok_or_else(|| Status::cancelled("no request"))??;
        let mut client = GeyserGrpcClient::build_from_shared(self.upstream.clone())
            .map_err(|e| Status::unavailable(e.to_string()))?
            .connect()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let (mut sink, mut upstream) = client
            .subscribe_with_request(Some(first))
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        tokio::spawn(async move {
            while let Some(Ok(request)) = requests.next().await {
                if sink.send(request).await.is_err() {
                    return;
                }
            }
        });
        let (out, receiver) = mpsc::channel(1024);
        let mut state = State {
            plan: self.plan.clone(),
            counts: self.counts.clone(),
            fabricated: self.fabricated.clone(),
            rng: rand::rngs::StdRng::seed_from_u64(self.seed ^ connection),
            held: None,
            template: None,
            slot_has_tx: HashSet::new(),
            forks: HashSet::new(),
            sent: 0,
            next_cut: 0,
            stalled: self.stalled.clone(),
        };
        state.next_cut = state.cut_distance();
        tokio::spawn(async move {
            while let Some(item) = upstream.next().await {
                match item {
                    Err(status) => {
                        let _ = out.send(Err(status)).await;
                        return;
                    }
                    Ok(update) => {
                        if !state.pass(update, &out).await {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn subscribe_deshred(
        &self,
        _: Request<Streaming<SubscribeDeshredRequest>>,
    ) -> Result<Response<Self::SubscribeDeshredStream>, Status> {
        Err(Status::unimplemented("proxy"))
    }

    async fn subscribe_gossip(
        &self,
        _: Request<SubscribeGossipRequest>,
    ) -> Result<Response<Self::SubscribeGossipStream>, Status> {
        Err(Status::unimplemented("proxy"))
    }

    async fn subscribe_replay_info(
        &self,
        _: Request<SubscribeReplayInfoRequest>,
    ) -> Result<Response<SubscribeReplayInfoResponse>, Status> {
        Err(Status::unimplemented("proxy"))
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
        Err(Status::unimplemented("proxy"))
    }

    async fn get_block_height(
        &self,
        _: Request<GetBlockHeightRequest>,
    ) -> Result<Response<GetBlockHeightResponse>, Status> {
        Err(Status::unimplemented("proxy"))
    }

    async fn get_slot(
        &self,
        _: Request<GetSlotRequest>,
    ) -> Result<Response<GetSlotResponse>, Status> {
        Err(Status::unimplemented("proxy"))
    }

    async fn is_blockhash_valid(
        &self,
        _: Request<IsBlockhashValidRequest>,
    ) -> Result<Response<IsBlockhashValidResponse>, Status> {
        Err(Status::unimplemented("proxy"))
    }

    async fn get_version(
        &self,
        _: Request<GetVersionRequest>,
    ) -> Result<Response<GetVersionResponse>, Status> {
        Err(Status::unimplemented("proxy"))
    }
}

struct State {
    plan: Plan,
    counts: Arc<Counts>,
    fabricated: Arc<Mutex<HashSet<String>>>,
    rng: rand::rngs::StdRng,
    held: Option<SubscribeUpdate>,
    template: Option<SubscribeUpdateTransactionInfo>,
    slot_has_tx: HashSet<u64>,
    forks: HashSet<u64>,
    sent: u64,
    next_cut: u64,
    stalled: Arc<std::sync::atomic::AtomicBool>,
}

fn slot_of(update: &SubscribeUpdate) -> Option<u64> {
    match update.update_oneof.as_ref()? {
        UpdateOneof::Transaction(tx) => Some(tx.slot),
        UpdateOneof::Slot(slot) => Some(slot.slot),
        UpdateOneof::BlockMeta(meta) => Some(meta.slot),
        _ => None,
    }
}

impl State {
    fn cut_distance(&mut self) -> u64 {
        match self.plan.cut_every {
            0 => u64::MAX,
            every => self.rng.gen_range(every / 2..=every + every / 2),
        }
    }

    /// Passes one upstream update on, as planned; false once the
    /// connection is to end.
    async fn pass(
        &mut self,
        mut update: SubscribeUpdate,
        out: &mpsc::Sender<Result<SubscribeUpdate, Status>>,
    ) -> bool {
        let slot = slot_of(&update);
        if let Some(slot) = slot {
            if self.plan.skip_every > 0 && slot % self.plan.skip_every == 0 {
                if matches!(update.update_oneof, Some(UpdateOneof::BlockMeta(_))) {
                    self.counts.skipped_slots.fetch_add(1, Ordering::SeqCst);
                }
                return true;
            }
        }
        let mut extra = Vec::new();
        match update.update_oneof.as_mut() {
            Some(UpdateOneof::Transaction(tx)) => {
                self.slot_has_tx.insert(tx.slot);
                if self.template.is_none() {
                    self.template = tx.transaction.clone();
                }
            }
            Some(UpdateOneof::Slot(status)) => {
                let forked = self.forks.contains(&status.slot);
                if forked && status.status != SlotStatus::SlotProcessed as i32 {
                    return true; // a fork never confirms
                }
                if let Some(parent) = status.parent {
                    if self.forks.contains(&parent) {
                        status.parent = Some(parent - 1);
                    }
                }
                let becomes_fork = status.status == SlotStatus::SlotProcessed as i32
                    && self.plan.fork_every > 0
                    && status.slot % self.plan.fork_every == 0
                    && !self.slot_has_tx.contains(&status.slot);
                if becomes_fork {
                    if let Some(mut fake) = self.template.clone() {
                        let signature: Vec<u8> = (0..64).map(|_| self.rng.gen()).collect();
                        fake.signature = signature.clone();
                        if let Some(transaction) = fake.transaction.as_mut() {
                            transaction.signatures = vec![signature.clone()];
                        }
                        self.fabricated
                            .lock()
                            .unwrap()
                            .insert(bs58::encode(&signature).into_string());
                        self.forks.insert(status.slot);
                        self.counts.forks.fetch_add(1, Ordering::SeqCst);
                        extra.push(SubscribeUpdate {
                            filters: vec!["sparks".into()],
                            update_oneof: Some(UpdateOneof::Transaction(
                                SubscribeUpdateTransaction {
                                    transaction: Some(fake),
                                    slot: status.slot,
                                    bank_id: 0,
                                },
                            )),
                            created_at: None,
                        });
                    }
                }
            }
            Some(UpdateOneof::BlockMeta(meta)) if self.forks.contains(&meta.parent_slot) => {
                meta.parent_slot -= 1;
            }
            _ => {}
        }
        extra.push(update);
        for update in extra {
            let is_transaction = matches!(update.update_oneof, Some(UpdateOneof::Transaction(_)));
            if !self.send(update, out).await {
                return false;
            }
            self.sent += 1;
            if let Some(after) = self.plan.stall_after {
                if self.sent >= after && !self.stalled.swap(true, Ordering::SeqCst) {
                    self.counts.stalls.fetch_add(1, Ordering::SeqCst);
                    // Open and silent until the client gives up on it.
                    out.closed().await;
                    return false;
                }
            }
            if is_transaction && self.sent >= self.next_cut {
                self.counts.cuts.fetch_add(1, Ordering::SeqCst);
                let _ = out.send(Err(Status::unavailable("cut by the proxy"))).await;
                return false;
            }
        }
        true
    }

    /// Sends with duplication and swapping.
    async fn send(
        &mut self,
        update: SubscribeUpdate,
        out: &mpsc::Sender<Result<SubscribeUpdate, Status>>,
    ) -> bool {
        let mut batch = Vec::new();
        if self.held.is_none() && self.rng.gen_bool(self.plan.swap.clamp(0.0, 1.0)) {
            self.counts.swapped.fetch_add(1, Ordering::SeqCst);
            self.held = Some(update);
            return true;
        }
        batch.push(update);
        if let Some(held) = self.held.take() {
            batch.push(held);
        }
        for update in batch {
            let twice = self.rng.gen_bool(self.plan.duplicate.clamp(0.0, 1.0));
            if twice {
                self.counts.duplicated.fetch_add(1, Ordering::SeqCst);
                if out.send(Ok(update.clone())).await.is_err() {
                    return false;
                }
            }
            if out.send(Ok(update)).await.is_err() {
                return false;
            }
        }
        true
    }
}
