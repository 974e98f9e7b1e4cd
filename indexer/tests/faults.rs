//! The indexer under faults it must ride out without losing or doubling
//! anything: a JSON-RPC node that throttles, fails, stalls, answers slowly
//! and resets connections while the websocket keeps dropping; and a Postgres
//! that is killed and restarted mid-stream.
//!
//! Faults are drawn from a seeded generator: the seed is printed, and
//! `SPARKS_FAULT_SEED=<n>` replays a run.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::scenario;
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{Source as ChainSource, SourceConfig};
use sparks_indexer::store::Store;
use support::faults::FaultProxy;
use support::{count, logs, never, snapshot, wait_for, CuttableProxy, Env};
use tokio::sync::watch;

fn seed() -> u64 {
    support::seed_from("SPARKS_FAULT_SEED")
}

/// Cuts every websocket connection at random intervals.
fn keep_cutting(proxy: Arc<CuttableProxy>, seed: u64, stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        while !*stop.borrow() {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1_500))).await;
            proxy.set_up(false);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
            proxy.set_up(true);
        }
    });
}

fn live_indexer(rpc_url: &str, store: Store) -> Indexer {
    let mut source = SourceConfig::new(rpc_url, sparks::ID);
    source.request_timeout = Duration::from_secs(1);
    source.retry_for = Duration::from_secs(120);
    Indexer::new(
        ChainSource::new(source),
        store,
        IndexerConfig {
            concurrency: 8,
            batch_size: 20,
            poll_interval: Duration::from_secs(2),
            finality_interval: Duration::from_millis(500),
            ..IndexerConfig::default()
        },
    )
}

/// Waits until the store holds every program transaction on the chain
/// (listed without the proxy); returns how many that is.
async fn wait_until_all_stored(env: &Env, within: Duration) -> i64 {
    let total = env.signatures().await.len() as i64;
    wait_for(
        &env.store,
        "SELECT count(*) FROM transactions",
        total,
        within,
    )
    .await;
    total
}

/// Rows a complete mirror has whatever path it took (bookkeeping columns aside).
async fn mirror_rows(store: &Store) -> Vec<(&'static str, Vec<String>)> {
    let mut tables = snapshot(store).await;
    tables.remove("cursor");
    tables.remove("transactions"); // indexed_at / finalized depend on timing
    tables.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_faults_and_websocket_drops_through_a_whole_scenario_lose_nothing() {
    // Arrange: every RPC call and the websocket go through fault proxies.
    logs();
    let seed = seed();
    let env = Env::start().await;
    let rpc_proxy = FaultProxy::start(env.chain.rpc_url().to_owned(), 0.3, seed).await;
    let ws_proxy = Arc::new(CuttableProxy::start(env.chain.ws_url().to_owned()).await);
    let (stop, shutdown) = watch::channel(false);
    keep_cutting(ws_proxy.clone(), seed, shutdown.clone());
    let indexer = live_indexer(&rpc_proxy.url, env.store.clone());
    let running = tokio::spawn({
        let ws_url = ws_proxy.url.clone();
        async move { indexer.run(Some(ws_url), shutdown).await }
    });
    // Act: the demo's activity (referrals, trades, subscriptions, campaign,
    // perks, whitelists, NFT mints, grant, revoke) plus every instruction.
    let demo = scenario::demo_activity(&env.rpc, 24).await.unwrap();
    for (i, wallet) in demo.wallets.iter().take(10).enumerate() {
        env.rpc
            .award(
                &demo.issuer,
                &wallet.pubkey(),
                Source::Trading,
                5,
                [i as u8; 32],
            )
            .await
            .unwrap();
    }
    // Assert: the mirror catches up through the faults and equals the chain.
    let total = wait_until_all_stored(&env, Duration::from_secs(180)).await;
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    let counts = &rpc_proxy.counts;
    println!("{total} transactions; RPC faults: {}", counts.summary());
    for (kind, n) in [
        ("429", &counts.throttled),
        ("500", &counts.server_errors),
        ("stall", &counts.stalled),
        ("reset", &counts.reset),
    ] {
        assert!(n.load(Ordering::SeqCst) > 0, "no {kind} fault was injected");
    }
    assert!(
        ws_proxy.connections() > 2,
        "the websocket was cut and rejoined"
    );
    env.assert_mirrors_chain().await;
    // No fault was mistaken for a malformed transaction.
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM transaction_problems").await,
        0
    );
    // And the rows are those of a mirror that never saw a fault.
    let clean = env.pg.create_database("clean").unwrap();
    let clean = Store::connect(&clean).await.unwrap();
    clean.migrate().await.unwrap();
    env.indexer_on(clean.clone(), IndexerConfig::default())
        .catch_up(&never())
        .await
        .unwrap();
    assert_eq!(mirror_rows(&env.store).await, mirror_rows(&clean).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_and_restarted_mid_stream_loses_nothing() {
    // Arrange: a live indexer and a steady stream of awards.
    logs();
    let mut env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let indexer = live_indexer(env.chain.rpc_url(), env.store.clone());
    let running = tokio::spawn({
        let ws_url = env.chain.ws_url().to_owned();
        async move { indexer.run(Some(ws_url), shutdown).await }
    });
    let mut wallets = Vec::new();
    let mut award = async |n: usize, env: &Env| {
        for _ in 0..n {
            let wallet = Keypair::new().pubkey();
            env.rpc
                .award(&issuer, &wallet, Source::Campaign, 3, [9; 32])
                .await
                .unwrap();
            wallets.push(wallet);
        }
    };
    award(20, &env).await;
    wait_for(
        &env.store,
        "SELECT count(*) FROM spark_accounts",
        10,
        Duration::from_secs(10),
    )
    .await;
    // Act: kill -9 Postgres while awards keep landing, then bring it back.
    for _ in 0..2 {
        env.pg.stop(true);
        award(15, &env).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        env.pg.restart().expect("postgres restarts");
        award(10, &env).await;
    }
    // Assert: the same indexer (never restarted) stores all of them.
    assert!(!running.is_finished(), "the indexer waits for Postgres");
    wait_until_all_stored(&env, Duration::from_secs(60)).await;
    assert_eq!(
        count(&env.store, "SELECT count(*) FROM spark_accounts").await,
        wallets.len() as i64
    );
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    env.assert_mirrors_chain().await;
}
