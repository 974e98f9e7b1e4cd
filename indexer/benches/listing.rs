//! Listing a long history: `Source::signatures` from the start of a program
//! with `signatures` transactions, against a stub JSON-RPC node (axum, in
//! process) that serves `getSignaturesForAddress` pages of 1,000 from a
//! synthetic history (one transaction a slot) and `getSlot`. Prints the
//! time, the pages asked, and the process's peak resident memory before and
//! after, which is what holding the whole listing costs: the indexer lists
//! everything back to its cursor before it stores the first transaction.
//!
//! cargo bench -p sparks-indexer --bench listing -- [signatures]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sparks_indexer::source::{ListingStop, Source, SourceConfig};

mod common;

struct History {
    /// Transactions 0..len, transaction n at slot 1 + n.
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
        "getSlot" => json!(history.len + 10),
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
                        "slot": 1 + n,
                        "err": null,
                        "memo": null,
                        "blockTime": 1_760_000_000 + n,
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

        let source = Source::new(SourceConfig::new(&url, sparks::ID));
        let before = peak_rss_mib();
        let started = Instant::now();
        let listed = source.signatures(&ListingStop::Start).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        let after = peak_rss_mib();
        assert_eq!(listed.len() as u64, signatures);
        println!(
            "listed {} signatures in {:.1} s ({:.0}/s), {} pages; peak RSS {before:.0} MiB before, \
             {after:.0} MiB after (+{:.0} MiB, {:.0} bytes a signature)",
            listed.len(),
            secs,
            listed.len() as f64 / secs,
            history.pages.load(Ordering::Relaxed),
            after - before,
            (after - before) * 1024.0 * 1024.0 / listed.len() as f64
        );
    });
}
