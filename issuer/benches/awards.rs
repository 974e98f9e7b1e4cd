//! Awards through the issuer service on the local chain, next to the
//! chain's own ceiling measured in the same run.
//!
//! 1. Ceiling: `award_batch` transactions of 11 new recipients (the most a
//!    legacy transaction holds), 16 in flight, sent straight to the chain.
//! 2. Service: `requests` award requests posted by 4 clients in calls of
//!    100 into the API (durable Postgres), then landed by the worker:
//!    accept rate, landed awards/s from the first post to the last
//!    landing, and accept → landed latency per request.
//!
//! cargo bench -p sparks-issuer --bench awards -- [requests] [ceiling_txs]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_issuer::routes::{router, AppState};
use sparks_issuer::store::Store;
use sparks_issuer::worker::{Worker, WorkerConfig};
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::{PgOptions, PgServer};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn new_row() -> BatchRow {
    BatchRow {
        wallet: Keypair::new().pubkey(),
        amount: 3,
        referrer: None,
        creates_account: true,
        prefunded: false,
        pays_referral: false,
    }
}

fn main() {
    let requests = arg(0, 5_000) as usize;
    let ceiling_txs = arg(1, 100) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let chain = Localnet::start(LocalnetConfig::default()).expect("local chain");
        let rpc = Arc::new(SparksRpc::new(chain.rpc_url()));
        let (admin, issuer) = (Keypair::new(), Keypair::new());
        scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
        let issuer = Arc::new(issuer);

        // 1. The chain's ceiling.
        let first = rpc
            .reserve_award_ids(&issuer.pubkey(), (ceiling_txs * 11) as u64, true)
            .await
            .unwrap();
        let started = Instant::now();
        futures::stream::iter(0..ceiling_txs)
            .map(|i| {
                let (rpc, issuer) = (rpc.clone(), issuer.clone());
                async move {
                    let rows: Vec<BatchRow> = (0..11).map(|_| new_row()).collect();
                    let award = ix::award_batch(
                        &issuer.pubkey(),
                        Source::Trading,
                        [9; 32],
                        first + (i * 11) as u64,
                        &rows,
                    );
                    rpc.send(&[award], &issuer, &[]).await.unwrap();
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
        let secs = started.elapsed().as_secs_f64();
        let ceiling = (ceiling_txs * 11) as f64 / secs;
        println!(
            "chain ceiling: {ceiling_txs} award_batch transactions of 11 rows confirmed in {secs:.1} s: \
             {:.1} tx/s, {ceiling:.0} awards/s",
            ceiling_txs as f64 / secs
        );

        // 2. Through the service.
        let pg = PgServer::start_with(PgOptions {
            durable: true,
            settings: Vec::new(),
        })
        .expect("private postgres");
        let store = Store::connect(&pg.url()).await.unwrap();
        let (_, token) = store
            .create_token("bench", &issuer.pubkey().to_string(), &["trading".into()])
            .await
            .unwrap();
        let state = Arc::new(AppState {
            store: store.clone(),
            max_amount: 1_000_000,
            metrics: None,
            sender: Some(issuer.pubkey().to_string()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let worker = Worker::new(
            store.clone(),
            SparksRpc::new(chain.rpc_url()),
            issuer.insecure_clone(),
            WorkerConfig {
                skip_preflight: std::env::var("SPARKS_SKIP_PREFLIGHT").is_ok(),
                claim_limit: std::env::var("SPARKS_CLAIM_LIMIT").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
                ..WorkerConfig::default()
            },
        );
        let http = reqwest::Client::new();
        let calls: Vec<Value> = (0..requests)
            .collect::<Vec<_>>()
            .chunks(100)
            .map(|chunk| {
                Value::Array(
                    chunk
                        .iter()
                        .map(|i| {
                            json!({"key": format!("b-{i}"), "wallet": Keypair::new().pubkey().to_string(),
                                   "source": "trading", "amount": 3})
                        })
                        .collect(),
                )
            })
            .collect();
        // Accept rate alone: the worker starts after the last post.
        let started = Instant::now();
        futures::stream::iter(calls)
            .map(|body| {
                let (http, url, token) = (http.clone(), url.clone(), token.clone());
                async move {
                    let status = http
                        .post(format!("{url}/v1/awards"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .status();
                    assert_eq!(status.as_u16(), 202);
                }
            })
            .buffer_unordered(4)
            .collect::<Vec<()>>()
            .await;
        let accept_secs = started.elapsed().as_secs_f64();
        println!(
            "accepted {requests} requests in {accept_secs:.2} s: {:.0} requests/s into the outbox \
             (durable commits, 4 clients, 100 a call)",
            requests as f64 / accept_secs
        );
        let landing = Instant::now();
        tokio::spawn(worker.run(shutdown));
        loop {
            let landed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM award_requests WHERE landed_at IS NOT NULL",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            if landed as usize >= requests {
                break;
            }
            assert!(landing.elapsed() < Duration::from_secs(900), "{landed} landed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let land_secs = landing.elapsed().as_secs_f64();
        let rate = requests as f64 / land_secs;
        let (p50, p99, batches, rows): (f64, f64, i64, f64) = sqlx::query_as(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM landed_at - created_at))::float8,
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM landed_at - created_at))::float8,
                    (SELECT count(*) FROM award_batches),
                    (SELECT avg(rows) FROM award_batches)::float8
             FROM award_requests",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        println!(
            "landed {requests} awards in {land_secs:.1} s: {rate:.0} awards/s ({:.0}% of the ceiling), \
             {batches} transactions of {rows:.1} rows on average"
            , 100.0 * rate / ceiling
        );
        println!(
            "accept → landed (the requests all queued first): p50 {p50:.2} s, p99 {p99:.2} s"
        );
    });
}
