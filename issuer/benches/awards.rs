//! Awards through the issuer service on the local chain, next to the
//! chain's own ceiling measured in the same run.
//!
//! 1. Ceiling: `award_batch` transactions sent straight to the chain, 16 in
//!    flight, v0 with lookup tables holding `wallets` recipients whose
//!    accounts exist, each packed as full as the limits allow
//!    (`sparks_client::packing`): the best case the service can reach.
//! 2. Service: `requests` award requests over `wallets` other recipients
//!    (each awarded requests/wallets times, so most are hot), posted by 4
//!    clients in calls of 100 into the API (durable Postgres), then landed
//!    by the worker: accept rate, landed awards/s from the first post to
//!    the last landing, rows per transaction, accept → landed latency.
//!
//! 3. Visible: the indexer runs live (websocket) on the same database, and
//!    `requests` more arrive at a steady `SPARKS_VISIBLE_RATE` per second
//!    (400): accept (the request's commit) → visible (the indexer's commit
//!    of its transaction), p50/p99.
//!
//! cargo bench -p sparks-issuer --bench awards -- [requests] [ceiling_txs] [wallets]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use futures::StreamExt;
use serde_json::{json, Value};
use solana_address_lookup_table_interface::instruction::{
    create_lookup_table, extend_lookup_table,
};
use solana_keypair::Keypair;
use solana_message::{v0, AddressLookupTableAccount, VersionedMessage};
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use sparks::state::Source;
use sparks_client::budget::with_compute_budget;
use sparks_client::instructions::BatchRow;
use sparks_client::packing::{pack_award_batches, PackedBatch, Sending};
use sparks_client::pda;
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

/// Posts one call of award requests; the service must accept it.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: &impl serde::Serialize) {
    let status = http
        .post(format!("{url}/v1/awards"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 202);
}

/// Lookup tables holding `addresses`, usable once this returns.
async fn lookup_tables(
    rpc: &SparksRpc,
    payer: &Keypair,
    addresses: &[Pubkey],
) -> Vec<AddressLookupTableAccount> {
    let mut tables = Vec::new();
    for chunk in addresses.chunks(256) {
        let slot = rpc.client().get_slot().await.unwrap();
        let (create, table) = create_lookup_table(payer.pubkey(), payer.pubkey(), slot);
        rpc.send(&[create], payer, &[]).await.unwrap();
        for part in chunk.chunks(24) {
            let extend =
                extend_lookup_table(table, payer.pubkey(), Some(payer.pubkey()), part.to_vec());
            rpc.send(&[extend], payer, &[]).await.unwrap();
        }
        tables.push(AddressLookupTableAccount {
            key: table,
            addresses: chunk.to_vec(),
        });
    }
    tables
}

/// Sends `batches` as v0 transactions, `in_flight` at once, each confirmed.
async fn send_v0(
    rpc: &Arc<SparksRpc>,
    issuer: &Arc<Keypair>,
    tables: &Arc<Vec<AddressLookupTableAccount>>,
    batches: Vec<PackedBatch>,
    in_flight: usize,
) {
    futures::stream::iter(batches)
        .map(|batch| {
            let (rpc, issuer, tables) = (rpc.clone(), issuer.clone(), tables.clone());
            async move {
                let instructions = with_compute_budget(&[batch.instruction], 0);
                let blockhash = rpc.client().get_latest_blockhash().await.unwrap();
                let message =
                    v0::Message::try_compile(&issuer.pubkey(), &instructions, &tables, blockhash)
                        .unwrap();
                let tx = VersionedTransaction::try_new(
                    VersionedMessage::V0(message),
                    &[issuer.as_ref()],
                )
                .unwrap();
                rpc.client()
                    .send_and_confirm_transaction(&tx)
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(in_flight)
        .collect::<Vec<()>>()
        .await;
}

fn main() {
    let requests = arg(0, 5_000) as usize;
    let ceiling_txs = arg(1, 100) as usize;
    let wallet_count = arg(2, 500) as usize;
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

        // 1. The chain's ceiling: tables, then one untimed award each (it
        // creates the accounts), then full batches.
        let wallets: Vec<Pubkey> = (0..wallet_count).map(|_| Keypair::new().pubkey()).collect();
        let mut addresses = vec![
            pda::config(),
            pda::issuer(&issuer.pubkey()),
            pda::event_authority(),
            anchor_lang::system_program::ID,
        ];
        for wallet in &wallets {
            addresses.push(*wallet);
            addresses.push(pda::spark(wallet));
        }
        let tables = Arc::new(lookup_tables(&rpc, &issuer, &addresses).await);
        let payer = issuer.pubkey();
        let pack = |rows: &[BatchRow], first: u64| {
            let sending = Sending {
                payer: &payer,
                lookup_tables: &tables,
                micro_lamports_per_unit: 0,
            };
            pack_award_batches(&payer, Source::Trading, |_| [9; 32], first, rows, sending)
        };
        let wanted: Vec<(Pubkey, u64)> = wallets.iter().map(|w| (*w, 3)).collect();
        let rows = rpc.batch_rows(Source::Trading, &wanted).await.unwrap();
        let first = rpc.reserve_award_ids(&issuer.pubkey(), rows.len() as u64, true).await.unwrap();
        send_v0(&rpc, &issuer, &tables, pack(&rows, first), 16).await;
        let rows = rpc.batch_rows(Source::Trading, &wanted).await.unwrap();
        let per_pass = pack(&rows, 0);
        let passes = ceiling_txs.div_ceil(per_pass.len());
        let mut batches = Vec::new();
        for _ in 0..passes {
            let first = rpc.reserve_award_ids(&issuer.pubkey(), rows.len() as u64, false).await.unwrap();
            batches.extend(pack(&rows, first));
        }
        let (txs, awards) = (batches.len(), passes * rows.len());
        let started = Instant::now();
        send_v0(&rpc, &issuer, &tables, batches, 16).await;
        let secs = started.elapsed().as_secs_f64();
        let ceiling = awards as f64 / secs;
        println!(
            "chain ceiling: {txs} v0 award_batch transactions of {:.1} rows (existing accounts, \
             all in lookup tables) confirmed in {secs:.1} s: {:.1} tx/s, {ceiling:.0} awards/s",
            awards as f64 / txs as f64,
            txs as f64 / secs
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
            holding_lease: None,
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
                max_in_flight: std::env::var("SPARKS_IN_FLIGHT")
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(16),
                claim_limit: std::env::var("SPARKS_CLAIM_LIMIT").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
                ..WorkerConfig::default()
            },
        );
        let http = reqwest::Client::new();
        let recipients: Vec<String> = (0..wallet_count).map(|_| Keypair::new().pubkey().to_string()).collect();
        // Cold: the recipients are new and in no table (the worker starts
        // after the last post, so the accept rate is measured alone). Warm:
        // the same recipients again, posted while the worker runs.
        let mut worker = Some(worker);
        for phase in ["cold", "warm"] {
            let calls: Vec<Value> = (0..requests)
                .collect::<Vec<_>>()
                .chunks(100)
                .map(|chunk| {
                    Value::Array(
                        chunk
                            .iter()
                            .map(|i| {
                                json!({"key": format!("{phase}-{i}"), "wallet": recipients[i % wallet_count],
                                       "source": "trading", "amount": 3})
                            })
                            .collect(),
                    )
                })
                .collect();
            let first_batch: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM award_batches")
                .fetch_one(store.pool())
                .await
                .unwrap();
            let started = Instant::now();
            futures::stream::iter(calls)
                .map(|body| {
                    let (http, url, token) = (http.clone(), url.clone(), token.clone());
                    async move {
                        post(&http, &url, &token, &body).await;
                    }
                })
                .buffer_unordered(4)
                .collect::<Vec<()>>()
                .await;
            let accept_secs = started.elapsed().as_secs_f64();
            if let Some(worker) = worker.take() {
                println!(
                    "accepted {requests} requests in {accept_secs:.2} s: {:.0} requests/s into the outbox \
                     (durable commits, 4 clients, 100 a call)",
                    requests as f64 / accept_secs
                );
                tokio::spawn(worker.run(shutdown.clone()));
            }
            let landing = Instant::now();
            loop {
                let landed: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM award_requests WHERE landed_at IS NOT NULL AND key LIKE $1",
                )
                .bind(format!("{phase}-%"))
                .fetch_one(store.pool())
                .await
                .unwrap();
                if landed as usize >= requests {
                    break;
                }
                assert!(landing.elapsed() < Duration::from_secs(900), "{landed} landed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Cold: from the worker's start; warm: from the first post.
            let land_secs = if phase == "cold" {
                landing.elapsed().as_secs_f64()
            } else {
                started.elapsed().as_secs_f64()
            };
            let rate = requests as f64 / land_secs;
            let (batches, rows, p50, p99): (i64, f64, f64, f64) = sqlx::query_as(
                "SELECT count(DISTINCT b.id), (SELECT avg(rows) FROM award_batches WHERE id > $1)::float8,
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.landed_at - b.created_at))::float8,
                        percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM r.landed_at - b.created_at))::float8
                 FROM award_batches b JOIN award_requests r ON r.batch_id = b.id WHERE b.id > $1",
            )
            .bind(first_batch)
            .fetch_one(store.pool())
            .await
            .unwrap();
            println!(
                "{phase}: landed {requests} awards to {wallet_count} recipients in {land_secs:.1} s: \
                 {rate:.0} awards/s ({:.0}% of the ceiling), {batches} transactions of {rows:.1} rows on average, \
                 claimed → landed p50 {p50:.2} s, p99 {p99:.2} s",
                100.0 * rate / ceiling
            );
        }
        let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM lookup_tables")
            .fetch_one(store.pool())
            .await
            .unwrap();
        println!("the worker created {tables} lookup tables");

        // 3. Accept → visible in the indexer: the indexer runs live
        // (websocket), and requests arrive at a steady rate below what
        // the worker lands.
        let index = sparks_indexer::store::Store::connect(&pg.url()).await.unwrap();
        index.migrate().await.unwrap();
        let indexer = sparks_indexer::indexer::Indexer::new(
            sparks_indexer::source::Source::new(sparks_indexer::source::SourceConfig::new(
                chain.rpc_url(),
                sparks::ID,
            )),
            index.clone(),
            sparks_indexer::indexer::IndexerConfig::default(),
        );
        let ws = chain.ws_url().to_owned();
        let indexing = shutdown.clone();
        tokio::spawn(async move { indexer.run(Some(ws), indexing).await });
        let unindexed = "SELECT count(*) FROM award_requests r
             WHERE r.signature IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM public.transactions t WHERE t.signature = r.signature)";
        let caught_up = Instant::now();
        loop {
            let left: i64 = sqlx::query_scalar(unindexed).fetch_one(store.pool()).await.unwrap();
            if left == 0 {
                break;
            }
            assert!(caught_up.elapsed() < Duration::from_secs(600), "{left} not indexed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let per_second: u64 = std::env::var("SPARKS_VISIBLE_RATE")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(400);
        let calls = requests.div_ceil(10);
        let every = Duration::from_secs_f64(10.0 / per_second as f64);
        let started = tokio::time::Instant::now();
        futures::stream::iter(0..calls)
            .map(|call| {
                let (http, url, token) = (http.clone(), url.clone(), token.clone());
                let body: Vec<Value> = (call * 10..(call * 10 + 10).min(requests))
                    .map(|i| {
                        json!({"key": format!("visible-{i}"), "wallet": recipients[i % wallet_count],
                               "source": "trading", "amount": 3})
                    })
                    .collect();
                async move {
                    tokio::time::sleep_until(started + every * call as u32).await;
                    post(&http, &url, &token, &body).await;
                }
            })
            .buffer_unordered(64)
            .collect::<Vec<()>>()
            .await;
        loop {
            let visible: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM award_requests r JOIN public.transactions t ON t.signature = r.signature
                 WHERE r.key LIKE 'visible-%'",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            if visible as usize >= requests {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(600), "{visible} visible");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (p50, p99, max): (f64, f64, f64) = sqlx::query_as(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::float8,
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::float8, max(s)::float8
             FROM (SELECT extract(epoch FROM t.indexed_at - r.created_at) AS s
                   FROM award_requests r JOIN public.transactions t ON t.signature = r.signature
                   WHERE r.key LIKE 'visible-%') d",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        println!(
            "accept → visible in the indexer (live, websocket), {requests} requests at {per_second}/s: \
             p50 {p50:.2} s, p99 {p99:.2} s, max {max:.2} s"
        );
    });
}
