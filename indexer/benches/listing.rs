//! Listing a long history: a first catch-up of a program with `signatures`
//! transactions, against a stub JSON-RPC node (axum, in process) that
//! serves `getSignaturesForAddress` pages of 1,000 from a synthetic history
//! (ten transactions a slot), `getSlot` and `getBlockTime`, into a private
//! durable Postgres. Every transaction is listed as failed, so the catch-up
//! stores it from its signature entry without a getTransaction the stub
//! cannot serve: what is measured is the listing, kept in the store page by
//! page (`store::listing`), and the storing of it oldest first. Prints the
//! time, the pages asked, the most signatures kept, and the process's peak
//! resident memory before and after; then, for comparison, the same listing
//! held in memory whole (`Source::signatures`, what a `backfill --from`
//! range still does).
//!
//! cargo bench -p sparks-indexer --bench listing -- [signatures]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{ListingStop, Source, SourceConfig};

mod common;

struct History {
    /// Transactions 0..len, transaction n at slot 1 + n / 10.
    len: u64,
    pages: AtomicU64,
}

fn signature(n: u64) -> String {
    let mut bytes = [3u8; 64];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bs58::encode(bytes).into_string()
}

fn number(signature: &str) -> Option<u64> {
    let bytes = bs58::decode(signature).into_vec().ok()?;
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

async fn rpc(State(history): State<Arc<History>>, Json(request): Json<Value>) -> Json<Value> {
    let id = request["id"].clone();
    let params = &request["params"];
    let result = match request["method"].as_str().unwrap_or_default() {
        "getSlot" => json!(history.len / 10 + 10),
        "getBlockTime" => json!(1_760_000_000 + params[0].as_u64().unwrap_or(0)),
        "getSignaturesForAddress" => {
            history.pages.fetch_add(1, Ordering::Relaxed);
            let config = &params[1];
            let limit = config["limit"].as_u64().unwrap_or(1_000);
            // Newest first, below `before`.
            let below = config["before"]
                .as_str()
                .and_then(number)
                .unwrap_or(history.len);
            let until = config["until"].as_str().and_then(number);
            let page: Vec<Value> = (0..below)
                .rev()
                .take_while(|n| Some(*n) != until)
                .take(limit as usize)
                .map(|n| {
                    json!({
                        "signature": signature(n),
                        "slot": 1 + n / 10,
                        "err": {"InstructionError": [0, {"Custom": 6000}]},
                        "memo": null,
                        "blockTime": 1_760_000_000 + n / 10,
                        "confirmationStatus": "finalized",
                    })
                })
                .collect();
            json!(page)
        }
        other => {
            return Json(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("stub: no {other}")}}))
        }
    };
    Json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let signatures = common::arg(0, 1_000_000);
    common::runtime().block_on(async move {
        let history = Arc::new(History {
            len: signatures,
            pages: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/", post(rpc))
            .with_state(history.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let pg = common::durable_postgres(&[]);
        let store = common::migrated_store(&pg.url()).await;
        let indexer = Indexer::new(
            Source::new(SourceConfig::new(&url, sparks::ID)),
            store.clone(),
            IndexerConfig::default(),
        );
        // The most signatures kept at once, sampled.
        let most_kept = Arc::new(AtomicU64::new(0));
        let sampler = tokio::spawn({
            let (store, most_kept) = (store.clone(), most_kept.clone());
            async move {
                loop {
                    if let Ok(n) = store.pending_count().await {
                        most_kept.fetch_max(n, Ordering::Relaxed);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        });
        let before = peak_rss_mib();
        let started = Instant::now();
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let progress = indexer.catch_up(&shutdown).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        let after = peak_rss_mib();
        sampler.abort();
        assert_eq!(progress.transactions, signatures);
        println!(
            "catch-up: listed and stored {} signatures in {:.1} s ({:.0}/s), {} pages, \
             at most {} kept in Postgres; peak RSS {before:.0} MiB before, {after:.0} MiB \
             after (+{:.0} MiB)",
            progress.transactions,
            secs,
            progress.transactions as f64 / secs,
            history.pages.swap(0, Ordering::Relaxed),
            most_kept.load(Ordering::Relaxed),
            after - before,
        );

        let source = Source::new(SourceConfig::new(&url, sparks::ID));
        let before = peak_rss_mib();
        let started = Instant::now();
        let listed = source.signatures(&ListingStop::Start).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        let after = peak_rss_mib();
        assert_eq!(listed.len() as u64, signatures);
        println!(
            "held in memory: listed {} signatures in {:.1} s ({:.0}/s), {} pages; peak RSS \
             {before:.0} MiB before, {after:.0} MiB after (+{:.0} MiB, {:.0} bytes a signature)",
            listed.len(),
            secs,
            listed.len() as f64 / secs,
            history.pages.load(Ordering::Relaxed),
            after - before,
            (after - before) * 1024.0 * 1024.0 / listed.len() as f64
        );
    });
}
