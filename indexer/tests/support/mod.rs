//! What the indexer's integration tests share: a local chain + private
//! Postgres + store, polling helpers, table snapshots and a cuttable proxy.
#![allow(dead_code)] // each test binary uses its own part

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub mod faults;
pub mod geyser_proxy;
pub mod lagging;
pub mod receiver;

use futures::StreamExt;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{ListingStop, SignatureInfo, Source as ChainSource, SourceConfig};
use sparks_indexer::store::{IndexedTransaction, Store};
use sparks_indexer::verify::verify;
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::PgServer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Env {
    pub chain: Localnet,
    pub rpc: SparksRpc,
    pub pg: PgServer,
    pub store: Store,
}

impl Env {
    pub async fn start() -> Self {
        Self::start_with(LocalnetConfig::default()).await
    }

    /// A chain that makes a slot every 20 ms, like a validator, so the
    /// finalized slot moves on its own.
    pub async fn start_clocked() -> Self {
        Self::start_with(LocalnetConfig {
            block_production: sparks_localnet::BlockProduction::Clock,
            slot_time_ms: 20,
            ..LocalnetConfig::default()
        })
        .await
    }

    pub async fn start_with(config: LocalnetConfig) -> Self {
        let chain = Localnet::start(config).expect("local chain starts");
        let rpc = SparksRpc::new(chain.rpc_url());
        let pg = PgServer::start().expect("private postgres starts");
        let store = Store::connect(&pg.url()).await.expect("connect");
        store.migrate().await.expect("migrate");
        Self {
            chain,
            rpc,
            pg,
            store,
        }
    }

    pub fn indexer(&self, config: IndexerConfig) -> Indexer {
        self.indexer_on(self.store.clone(), config)
    }

    pub fn indexer_on(&self, store: Store, config: IndexerConfig) -> Indexer {
        let mut source = SourceConfig::new(self.chain.rpc_url(), sparks::ID);
        source.retry_for = Duration::from_secs(10);
        Indexer::new(ChainSource::new(source), store, config)
    }

    /// Every signature of the program on the chain, oldest first.
    pub async fn signatures(&self) -> Vec<SignatureInfo> {
        let source = ChainSource::new(SourceConfig::new(self.chain.rpc_url(), sparks::ID));
        source.signatures(&ListingStop::Start).await.unwrap()
    }

    /// How many program signatures the chain has, counted with plain
    /// solana-client paging (not the indexer's own listing).
    pub async fn signature_count(&self) -> usize {
        self.chain_signatures().await.len()
    }

    /// The program's signatures on chain with their slots, newest first,
    /// listed with plain solana-client paging.
    pub async fn chain_signatures(&self) -> Vec<(String, u64)> {
        use solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
        let client =
            solana_client::nonblocking::rpc_client::RpcClient::new(self.chain.rpc_url().to_owned());
        let (mut all, mut before) = (Vec::new(), None);
        loop {
            let page = client
                .get_signatures_for_address_with_config(
                    &sparks::ID,
                    GetConfirmedSignaturesForAddress2Config {
                        before,
                        until: None,
                        limit: Some(1000),
                        commitment: Some(solana_commitment_config::CommitmentConfig::confirmed()),
                    },
                )
                .await
                .unwrap();
            all.extend(page.iter().map(|s| (s.signature.clone(), s.slot)));
            match page.last() {
                Some(last) if page.len() == 1000 => before = Some(last.signature.parse().unwrap()),
                _ => return all,
            }
        }
    }

    /// Every program transaction on the chain, fetched and decoded once.
    pub async fn transactions(&self) -> Vec<IndexedTransaction> {
        let source = self.indexer(IndexerConfig::default()).source().clone();
        let mut transactions = Vec::new();
        for info in self.signatures().await {
            transactions.push(source.transaction(&info).await.unwrap());
        }
        transactions
    }

    pub async fn assert_mirrors_chain(&self) {
        let report = verify(&self.rpc, &self.store).await.expect("verify runs");
        let differences: Vec<String> = report.differences.iter().map(ToString::to_string).collect();
        assert!(
            differences.is_empty(),
            "differences:\n{}",
            differences.join("\n")
        );
    }
}

pub fn never() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    std::mem::forget(sender);
    receiver
}

/// Every table's rows as JSON, in key order (bookkeeping times excluded).
pub async fn snapshot(store: &Store) -> BTreeMap<&'static str, Vec<String>> {
    let tables = [
        ("transactions", "signature", "indexed_at"),
        ("events", "signature, event_index", ""),
        ("transaction_problems", "signature, position", ""),
        ("ledger", "signature, event_index", ""),
        ("referrals", "invitee", ""),
        ("config", "address", ""),
        ("issuers", "authority", ""),
        ("spark_accounts", "wallet", ""),
        ("leaderboard", "ranking, wallet", ""),
        ("perks", "address", ""),
        ("perk_claims", "address", ""),
        ("whitelists", "address", ""),
        ("whitelist_entries", "address", ""),
        ("cursor", "id", "updated_at"),
    ];
    let mut out = BTreeMap::new();
    for (table, order, skip) in tables {
        let sql = format!("SELECT (to_jsonb(t) - '{skip}')::text FROM {table} t ORDER BY {order}");
        let rows: Vec<String> = sqlx::query_scalar(&sql)
            .fetch_all(store.pool())
            .await
            .unwrap();
        out.insert(table, rows);
    }
    out
}

/// `RUST_LOG=sparks_indexer=debug` shows the indexer's retries.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The seed in the environment variable `var`, or a fresh one; printed, so
/// a run's random choices can be replayed.
/// A tool of the Python venv ./scripts/test installs beside the build
/// cache (scripts/requirements.txt): `$var` if set, else
/// `$CARGO_TARGET_DIR/../venv/bin/<name>`.
pub fn venv_tool(var: &str, name: &str) -> std::path::PathBuf {
    use std::path::PathBuf;
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        target.join("../venv/bin").join(name)
    });
    assert!(
        path.exists(),
        "no {name} at {}: ./scripts/test installs it (scripts/requirements.txt), or set {var}",
        path.display()
    );
    path
}

/// Kill points per crash test (`SPARKS_CRASH_KILLS`; at least 20).
pub fn kills_wanted() -> usize {
    std::env::var("SPARKS_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

/// The crash tests' randomness, replayable with `SPARKS_CRASH_SEED`.
pub fn crash_rng() -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(seed_from("SPARKS_CRASH_SEED"))
}

pub fn seed_from(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("{var}={seed}");
    seed
}

pub async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Runs the indexer live through `ws_url` with polling off (60 s), so only the
/// websocket can wake it; returns once it has caught up and subscribed.
pub async fn run_live(
    env: &Env,
    ws_url: String,
) -> (
    watch::Sender<bool>,
    tokio::task::JoinHandle<Result<(), sparks_indexer::indexer::IndexerError>>,
) {
    let indexer = env.indexer(IndexerConfig {
        poll_interval: Duration::from_secs(60),
        ..IndexerConfig::default()
    });
    let (stop, shutdown) = watch::channel(false);
    let running = tokio::spawn(async move { indexer.run(Some(ws_url), shutdown).await });
    wait_for(
        &env.store,
        "SELECT count(*) FROM issuers",
        1,
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the subscription is up
    (stop, running)
}

pub async fn wait_for(store: &Store, sql: &str, want: i64, within: Duration) {
    let started = Instant::now();
    loop {
        let have = count(store, sql).await;
        if have >= want {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{sql}: {have} < {want} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A loopback TCP proxy whose connections can be cut (and refused while down).
pub struct CuttableProxy {
    pub url: String,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    accepted: Arc<std::sync::atomic::AtomicU64>,
}

impl CuttableProxy {
    /// In front of `upstream_url` (`ws://` or `http://`), with its scheme.
    pub async fn start(upstream_url: String) -> Self {
        let (scheme, upstream) = upstream_url.split_once("://").unwrap();
        let upstream = upstream.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (cut, cuts) = watch::channel(0u64);
        tokio::spawn({
            let (up, accepted) = (up.clone(), accepted.clone());
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let upstream = upstream.clone();
                    let mut cuts = cuts.clone();
                    // Only a cut after this connection began ends it.
                    cuts.borrow_and_update();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(&upstream).await else {
                            return;
                        };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cuts.changed() => {}
                        }
                    });
                }
            }
        });
        Self {
            url,
            up,
            cut,
            accepted,
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.cut.send_modify(|n| *n += 1);
        }
    }

    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The program, an issuer, and `awards` award transactions to new wallets.
pub async fn awards_on_chain(env: &Env, awards: usize) -> Keypair {
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    award_more(env, &issuer, awards, Duration::ZERO).await;
    issuer
}

/// `awards` more award transactions, each to a new wallet, one every
/// `spacing` (up to 16 in flight).
pub async fn award_more(env: &Env, issuer: &Keypair, awards: usize, spacing: Duration) {
    let first_id = env
        .rpc
        .reserve_award_ids(&issuer.pubkey(), awards as u64, true)
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    futures::stream::iter(0..awards as u64)
        .map(|i| async move {
            tokio::time::sleep_until(start + spacing * i as u32).await;
            let row = BatchRow {
                wallet: Keypair::new().pubkey(),
                amount: 7,
                referrer: None,
                creates_account: true,
                prefunded: false,
                pays_referral: false,
            };
            let award = ix::award_batch(
                &issuer.pubkey(),
                sparks::state::Source::Trading,
                [1; 32],
                first_id + i,
                &[row],
            );
            env.rpc.send(&[award], issuer, &[]).await.unwrap();
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// The indexer's API on the test's Postgres, on a free port: its URL.
pub async fn serve_api(env: &Env, config: sparks_indexer::api::ApiConfig) -> String {
    use sparks_indexer::api::{self, AppState};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(api::connect(&env.pg.url()).await.unwrap(), config);
    tokio::spawn(api::serve(listener, state, std::future::pending()));
    url
}

/// The issuer service's API on the test's Postgres (its schema migrated),
/// as the app's back end reaches it: its store, URL, and a token for
/// `issuer`'s trading awards. No worker: the test starts one when it wants.
pub async fn issuer_service(
    env: &Env,
    issuer: &Keypair,
) -> (sparks_issuer::store::Store, String, String) {
    issuer_api(env, issuer, &["trading"], 1_000_000, true).await
}

/// [`issuer_service`] with a token for `sources`, awards up to
/// `max_amount`, and `issuer` named as the key the worker sends with only
/// if `sends`.
pub async fn issuer_api(
    env: &Env,
    issuer: &Keypair,
    sources: &[&str],
    max_amount: u64,
    sends: bool,
) -> (sparks_issuer::store::Store, String, String) {
    let store = sparks_issuer::store::Store::connect(&env.pg.url())
        .await
        .unwrap();
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    let (_, token) = store
        .create_token("app", &issuer.pubkey().to_string(), &sources)
        .await
        .unwrap();
    let router = sparks_issuer::routes::router(Arc::new(sparks_issuer::routes::AppState {
        store: store.clone(),
        max_amount,
        metrics: None,
        sender: sends.then(|| issuer.pubkey().to_string()),
        holding_lease: None,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (store, url, token)
}

/// The app's back end asks the issuer service at `url` for one trading award
/// of each of `amounts` to `wallet` (keys `{key_prefix}-{amount}`); all are
/// accepted.
pub async fn post_awards(
    url: &str,
    token: &str,
    wallet: &str,
    key_prefix: &str,
    amounts: std::ops::RangeInclusive<u64>,
) {
    let requests: Vec<serde_json::Value> = amounts
        .map(|amount| serde_json::json!({"key": format!("{key_prefix}-{amount}"), "wallet": wallet, "source": "trading", "amount": amount}))
        .collect();
    let accepted = reqwest::Client::new()
        .post(format!("{url}/v1/awards"))
        .bearer_auth(token)
        .json(&requests)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
}
