//! Pending awards: the issuer service's accepted requests show on the
//! wallet's page until the indexer has stored them. Real parts: the issuer
//! service's API, outbox and worker, the local chain, the indexer and its
//! API, one Postgres.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks_client::scenario;
use sparks_indexer::api::ApiConfig;
use sparks_indexer::indexer::IndexerConfig;
use sparks_issuer::worker::{Worker, WorkerConfig};
use support::Env;

async fn get(http: &reqwest::Client, url: String) -> Value {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_awards_show_as_pending_until_indexed() {
    let env = Env::start_clocked().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let indexer_api = support::serve_api(&env, ApiConfig::default()).await;
    let http = reqwest::Client::new();
    let wallet = Keypair::new().pubkey().to_string();
    let pending_url = format!("{indexer_api}/v1/wallets/{wallet}/pending");

    // No issuer service in this database yet: nothing pending, and it says so.
    let none = get(&http, pending_url.clone()).await;
    assert_eq!(
        none,
        json!({"wallet": wallet, "count": 0, "amount": 0, "issuer_service": false, "awards": []})
    );

    // The issuer service accepts 40 awards of 1..=40 Sparks; no worker yet.
    let (store, issuer_api, token) = support::issuer_service(&env, &issuer).await;
    support::post_awards(&issuer_api, &token, &wallet, "t", 1..=40).await;
    let pending = get(&http, pending_url.clone()).await;
    assert_eq!(pending["issuer_service"], json!(true));
    assert_eq!(pending["count"], json!(40));
    assert_eq!(pending["amount"], json!(820), "1 + 2 + … + 40");
    assert_eq!(pending["awards"][0]["state"], json!("pending"));
    assert_eq!(pending["awards"][0]["amount"], json!(1));
    // Another wallet's page shows none of them.
    let other = get(
        &http,
        format!(
            "{indexer_api}/v1/wallets/{}/pending",
            Keypair::new().pubkey()
        ),
    )
    .await;
    assert_eq!(other["count"], json!(0));

    // The worker lands them; they stay pending until the indexer stores them.
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(
        Worker::new(
            store.clone(),
            sparks_client::rpc::SparksRpc::new(env.chain.rpc_url()),
            issuer.insecure_clone(),
            WorkerConfig::default(),
        )
        .run(shutdown.clone()),
    );
    let started = Instant::now();
    loop {
        let landed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM issuer.award_requests WHERE state IN ('landed', 'finalized')",
        )
        .fetch_one(env.store.pool())
        .await
        .unwrap();
        if landed == 40 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{landed} landed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let landed = get(&http, pending_url.clone()).await;
    assert_eq!(landed["count"], json!(40), "landed, not indexed: {landed}");
    assert_eq!(landed["awards"][0]["state"], json!("landed"));

    // Act: the indexer catches up.
    let indexer = env.indexer(IndexerConfig {
        poll_interval: Duration::from_millis(100),
        ..IndexerConfig::default()
    });
    tokio::spawn(async move { indexer.run(None, shutdown).await });

    // Assert: nothing pending, and the balance has all of it.
    let started = Instant::now();
    loop {
        let pending = get(&http, pending_url.clone()).await;
        if pending["count"] == json!(0) {
            assert_eq!(pending["amount"], json!(0));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "still pending after the indexer ran: {pending}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sparks = get(&http, format!("{indexer_api}/v1/wallets/{wallet}/sparks")).await;
    assert_eq!(sparks["balance"], json!(820));
}
