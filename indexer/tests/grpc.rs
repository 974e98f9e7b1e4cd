//! The indexer on a Yellowstone gRPC stream (`run --grpc-url`), through the
//! ecosystem's client against the local chain's gRPC server: exactly once
//! across reconnects, replays, gaps only RPC can fill, and a misbehaving
//! stream (duplicates, swaps, skipped slots, dropped forks, cuts mid-slot,
//! a stall), each run checked with `verify` (0 differences) and against the
//! chain's own signature list (nothing missing, nothing twice).
//!
//! `SPARKS_GRPC_FAULT_AWARDS` sizes the fault run (default 150).

mod support;

use std::collections::HashSet;
use std::time::Duration;

use sparks_indexer::indexer::{Indexer, IndexerConfig, IndexerError};
use sparks_indexer::stream::StreamConfig;
use sparks_localnet::{BlockProduction, GrpcConfig, LocalnetConfig};
use support::geyser_proxy::{Counts, GeyserProxy, Plan};
use support::{award_more, awards_on_chain, count, CuttableProxy, Env};
use tokio::sync::watch;
use tokio::task::JoinHandle;

fn stream_config(url: &str) -> StreamConfig {
    StreamConfig::new(url)
}

fn start(
    indexer: &Indexer,
    config: StreamConfig,
) -> (watch::Sender<bool>, JoinHandle<Result<(), IndexerError>>) {
    let (stop, shutdown) = watch::channel(false);
    let indexer = indexer.clone();
    let running = tokio::spawn(async move { indexer.run_stream(config, shutdown).await });
    (stop, running)
}

/// Waits until every program signature on the chain is stored, then checks
/// that the store holds exactly the chain's (nothing twice, nothing extra,
/// no landed transaction rolled back) and `verify` finds no difference.
async fn assert_exact_mirror(env: &Env) {
    let chain: Vec<String> = env
        .chain_signatures()
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    support::wait_for(
        &env.store,
        "SELECT count(*) FROM transactions",
        chain.len() as i64,
        Duration::from_secs(60),
    )
    .await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT signature FROM transactions")
        .fetch_all(env.store.pool())
        .await
        .unwrap();
    let chain: HashSet<String> = chain.into_iter().collect();
    let stored_set: HashSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "a transaction stored twice");
    assert_eq!(
        stored_set.difference(&chain).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "stored but not on the chain"
    );
    assert_eq!(
        chain.difference(&stored_set).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "on the chain but not stored"
    );
    env.assert_mirrors_chain().await;
    assert!(env.store.cursor().await.unwrap().signature.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_indexes_the_chain_without_fetching_a_transaction() {
    support::logs();
    let env = Env::start().await;
    // Activity before the indexer first runs: only RPC can fill that gap.
    let issuer = awards_on_chain(&env, 20).await;
    let indexer = env.indexer(IndexerConfig::default());
    let (stop, running) = start(&indexer, stream_config(env.chain.grpc_url()));
    assert_exact_mirror(&env).await;
    let source = indexer.source().clone();
    assert!(
        source.calls("getTransaction") >= 20,
        "the start was repaired over RPC"
    );
    let fetched_at_start = source.calls("getTransaction");

    // Steady state: everything comes from the stream.
    award_more(&env, &issuer, 40, Duration::from_millis(10)).await;
    assert_exact_mirror(&env).await;
    assert_eq!(
        source.calls("getTransaction") - fetched_at_start,
        0,
        "no getTransaction in steady state"
    );
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();

    // A restart resumes from the cursor with from_slot: still no fetch.
    let restarted = env.indexer(IndexerConfig::default());
    let (stop, running) = start(&restarted, stream_config(env.chain.grpc_url()));
    award_more(&env, &issuer, 10, Duration::from_millis(10)).await;
    assert_exact_mirror(&env).await;
    assert_eq!(
        restarted.source().calls("getTransaction"),
        0,
        "the restart replayed"
    );
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_replays_from_the_cursor_and_a_gap_past_the_replay_is_repaired() {
    // A replay buffer of 20 slots: a long outage outlives it.
    let env = Env::start_with(LocalnetConfig {
        grpc: GrpcConfig {
            replay_slots: 20,
            ..GrpcConfig::default()
        },
        ..LocalnetConfig::default()
    })
    .await;
    let issuer = awards_on_chain(&env, 5).await;
    let proxy = CuttableProxy::start(env.chain.grpc_url().to_owned()).await;
    let indexer = env.indexer(IndexerConfig::default());
    let (stop, running) = start(&indexer, stream_config(&proxy.url));
    assert_exact_mirror(&env).await;
    let source = indexer.source().clone();

    // A short cut: the replay covers it, nothing is fetched.
    let fetched = source.calls("getTransaction");
    let awarding = {
        let (env_rpc, issuer) = (&env, &issuer);
        award_more(env_rpc, issuer, 10, Duration::from_millis(20))
    };
    let cutting = async {
        tokio::time::sleep(Duration::from_millis(80)).await;
        proxy.set_up(false);
        tokio::time::sleep(Duration::from_millis(50)).await;
        proxy.set_up(true);
    };
    tokio::join!(awarding, cutting);
    assert_exact_mirror(&env).await;
    assert_eq!(
        source.calls("getTransaction"),
        fetched,
        "the replay filled the cut"
    );

    // A long outage: 30 awards (30 slots) pass while the stream is down,
    // more than the server keeps; the replay is refused and RPC repairs.
    proxy.set_up(false);
    award_more(&env, &issuer, 30, Duration::ZERO).await;
    proxy.set_up(true);
    assert_exact_mirror(&env).await;
    assert!(
        source.calls("getTransaction") >= fetched + 30,
        "the gap was repaired over RPC"
    );
    // And the stream carries on after the repair.
    let fetched = source.calls("getTransaction");
    award_more(&env, &issuer, 10, Duration::from_millis(10)).await;
    assert_exact_mirror(&env).await;
    assert_eq!(source.calls("getTransaction"), fetched);
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    assert!(
        proxy.connections() >= 3,
        "reconnected: {}",
        proxy.connections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_stream_loses_nothing_and_stores_nothing_twice() {
    let awards = std::env::var("SPARKS_GRPC_FAULT_AWARDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150usize);
    let env = Env::start_with(LocalnetConfig {
        block_production: BlockProduction::Clock,
        slot_time_ms: 20,
        ..LocalnetConfig::default()
    })
    .await;
    let issuer = awards_on_chain(&env, 3).await;
    let proxy = GeyserProxy::start(
        env.chain.grpc_url(),
        Plan {
            duplicate: 0.05,
            swap: 0.05,
            skip_every: 97,
            fork_every: 13,
            cut_every: 250,
            stall_after: Some(300),
        },
        support::seed_from("SPARKS_GRPC_FAULT_SEED"),
    )
    .await;
    let indexer = env.indexer(IndexerConfig::default());
    let mut config = stream_config(&proxy.url);
    // Slots come every 20 ms: two silent seconds are a stall.
    config.stall_timeout = Duration::from_secs(2);
    // Small enough that a burst overflows it now and then.
    config.max_buffered = 50;
    let (stop, running) = start(&indexer, config);
    award_more(&env, &issuer, awards, Duration::from_millis(15)).await;
    // Let a few more slots pass so the last awards' slots confirm and
    // finalize through the same faults.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_exact_mirror(&env).await;
    let fabricated = proxy.fabricated.lock().unwrap().clone();
    let stored_fake = count(
        &env.store,
        &format!(
            "SELECT count(*) FROM transactions WHERE signature IN ('{}')",
            fabricated.iter().cloned().collect::<Vec<_>>().join("','")
        ),
    )
    .await;
    assert_eq!(stored_fake, 0, "a transaction of a dropped fork was stored");
    let counts = &proxy.counts;
    eprintln!("faults: {}", counts.summary());
    assert!(Counts::get(&counts.duplicated) > 0 && Counts::get(&counts.swapped) > 0);
    assert!(
        Counts::get(&counts.skipped_slots) > 0,
        "{}",
        counts.summary()
    );
    assert!(Counts::get(&counts.forks) > 0, "{}", counts.summary());
    assert!(Counts::get(&counts.cuts) > 0, "{}", counts.summary());
    assert_eq!(Counts::get(&counts.stalls), 1);
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replay_every_reconnect_is_proven_over_rpc() {
    let env = Env::start().await;
    let issuer = awards_on_chain(&env, 5).await;
    let proxy = CuttableProxy::start(env.chain.grpc_url().to_owned()).await;
    let indexer = env.indexer(IndexerConfig::default());
    let mut config = stream_config(&proxy.url);
    // As an endpoint that keeps no history: each connection starts at the
    // live tip, possibly inside a slot.
    config.replay = false;
    let (stop, running) = start(&indexer, config);
    assert_exact_mirror(&env).await;
    for round in 0..3u64 {
        // Cut only a connection that is up (not one still backing off).
        while proxy.connections() < 1 + round {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let awarding = award_more(&env, &issuer, 15, Duration::from_millis(5));
        let cutting = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            proxy.set_up(false);
            tokio::time::sleep(Duration::from_millis(40)).await;
            proxy.set_up(true);
        };
        tokio::join!(awarding, cutting);
    }
    assert_exact_mirror(&env).await;
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
    assert!(
        proxy.connections() >= 4,
        "reconnected: {}",
        proxy.connections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_token_is_sent_and_a_refused_one_stops_the_indexer_clearly() {
    let env = Env::start_with(LocalnetConfig {
        grpc: GrpcConfig {
            x_token: Some("s3cret".into()),
            ..GrpcConfig::default()
        },
        ..LocalnetConfig::default()
    })
    .await;
    awards_on_chain(&env, 3).await;
    let indexer = env.indexer(IndexerConfig::default());
    for wrong in [None, Some("guess".to_owned())] {
        let mut config = stream_config(env.chain.grpc_url());
        config.x_token = wrong;
        let (_stop, running) = start(&indexer, config);
        let error = tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("a refused token stops the indexer")
            .unwrap()
            .unwrap_err();
        assert!(error.is_fatal());
        assert!(error.to_string().contains("--grpc-x-token"), "{error}");
    }
    let mut config = stream_config(env.chain.grpc_url());
    config.x_token = Some("s3cret".into());
    let (stop, running) = start(&indexer, config);
    assert_exact_mirror(&env).await;
    stop.send(true).unwrap();
    running.await.unwrap().unwrap();
}
