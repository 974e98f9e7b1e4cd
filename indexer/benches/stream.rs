//! gRPC stream vs websocket + getTransaction, in one run: the
//! `sparks-indexer run` binary (a process of its own, so its memory is its
//! own) against the local chain, on a durable private Postgres, once with
//! `--grpc-url` and once with the websocket. For each:
//!
//! - live lag: awards at a steady rate, each one's confirmation awaited,
//!   then the API polled every 5 ms until the wallet shows it (p50/p99);
//! - RPC calls per indexed transaction over that steady phase (the
//!   binary's `sparks_rpc_calls_total` on /metrics);
//! - a burst at the chain's ceiling (`burst` awards, 32 in flight, ~10x the
//!   steady rate and more): events indexed per second from the first send
//!   to the last row stored, and the indexer's resident memory before and
//!   at its peak (sampled every 10 ms from /proc), and the lag of probe
//!   awards sent at the steady rate meanwhile (lag at the chain's ceiling).
//!
//! cargo bench -p sparks-indexer --bench stream -- [lag_transactions] [per_second] [burst]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_localnet::{Localnet, LocalnetConfig};

const BIN: &str = env!("CARGO_BIN_EXE_sparks-indexer");

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Websocket,
    Grpc,
}

struct Figures {
    lag_p50: f64,
    lag_p99: f64,
    lag_max: f64,
    loaded_p50: f64,
    loaded_p99: f64,
    calls_per_tx: f64,
    get_transaction_per_tx: f64,
    chain_tx_per_sec: f64,
    events_per_sec: f64,
    rss_before_mib: f64,
    rss_peak_mib: f64,
}

fn main() {
    let lag_transactions = common::arg(0, 300);
    let per_second = common::arg(1, 20).max(1);
    let burst = common::arg(2, 2_000);
    let runtime = common::runtime();
    let mut rows = Vec::new();
    for path in [Path::Websocket, Path::Grpc] {
        rows.push((
            path,
            runtime.block_on(measure(path, lag_transactions, per_second, burst)),
        ));
    }
    println!();
    println!(
        "indexer paths side by side ({lag_transactions} awards at {per_second}/s, then a burst of {burst} at the chain's ceiling):"
    );
    println!(
        "| path | live lag p50 | p99 | max | RPC calls / tx | getTransaction / tx | burst: chain tx/s | indexed events/s | lag at the ceiling p50 | p99 | RSS before → peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (path, f) in rows {
        println!(
            "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} | {:.2} | {:.0} | {:.0} | {:.1} ms | {:.1} ms | {:.0} → {:.0} MiB |",
            match path {
                Path::Websocket => "websocket + getTransaction",
                Path::Grpc => "Yellowstone gRPC",
            },
            f.lag_p50,
            f.lag_p99,
            f.lag_max,
            f.calls_per_tx,
            f.get_transaction_per_tx,
            f.chain_tx_per_sec,
            f.events_per_sec,
            f.loaded_p50,
            f.loaded_p99,
            f.rss_before_mib,
            f.rss_peak_mib,
        );
    }
}

async fn measure(path: Path, lag_transactions: u64, per_second: u64, burst: u64) -> Figures {
    let chain = Localnet::start(LocalnetConfig::default()).expect("local chain");
    let rpc = Arc::new(SparksRpc::new(chain.rpc_url()));
    let (admin, issuer) = (Keypair::new(), Arc::new(Keypair::new()));
    scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
    let pg = common::durable_postgres(&[]);
    let store = common::migrated_store(&pg.url()).await;
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listen.local_addr().unwrap();
    drop(listen);
    let mut args = vec![
        "run".to_owned(),
        "--listen".into(),
        api.to_string(),
        "--no-webhooks".into(),
    ];
    if path == Path::Grpc {
        args.extend(["--grpc-url".into(), chain.grpc_url().to_owned()]);
    }
    let mut child = Command::new(BIN)
        .args(&args)
        .env("DATABASE_URL", pg.url())
        .env("SPARKS_RPC_URL", chain.rpc_url())
        .env("SPARKS_WS_URL", chain.ws_url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("sparks-indexer runs");
    let base = format!("http://{api}");
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM issuers")
        .fetch_one(store.pool())
        .await
        .unwrap()
        < 1
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::new();

    // Steady: one award every 1/per_second s.
    let (calls_before, fetches_before) = rpc_calls(&http, &base).await;
    let lags = common::lags_at(
        rpc.clone(),
        issuer.clone(),
        base.clone(),
        lag_transactions,
        per_second,
        0,
    )
    .await;
    let (calls_after, fetches_after) = rpc_calls(&http, &base).await;

    // Burst: as fast as the chain takes them.
    let rss_before = rss_mib(&child);
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = tokio::spawn({
        let (peak, pid) = (peak.clone(), child.id());
        async move {
            loop {
                let kib = rss_kib(pid);
                peak.fetch_max(kib, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let events_before = count(&store, "SELECT count(*) FROM events").await;
    let stored_before = count(&store, "SELECT count(*) FROM transactions").await;
    let first_id = rpc
        .reserve_award_ids(&issuer.pubkey(), burst, true)
        .await
        .unwrap();
    // Lag probes at the steady rate while the burst runs: lag with the
    // chain at its ceiling.
    let probes = burst / 20;
    let first_probe = rpc
        .reserve_award_ids(&issuer.pubkey(), probes, false)
        .await
        .unwrap();
    let probing = tokio::spawn(common::lags_at(
        rpc.clone(),
        issuer.clone(),
        base.clone(),
        probes,
        per_second,
        first_probe,
    ));
    let started = Instant::now();
    futures::stream::iter(0..burst)
        .map(|i| {
            let (rpc, issuer) = (rpc.clone(), issuer.clone());
            async move {
                let row = BatchRow {
                    wallet: Keypair::new().pubkey(),
                    amount: 3,
                    referrer: None,
                    creates_account: true,
                    prefunded: false,
                    pays_referral: false,
                };
                let award = ix::award_batch(
                    &issuer.pubkey(),
                    sparks::state::Source::Trading,
                    [2; 32],
                    first_id + i,
                    &[row],
                );
                rpc.send(&[award], &issuer, &[]).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    let sent = started.elapsed();
    let loaded_lags = probing.await.unwrap();
    while count(&store, "SELECT count(*) FROM transactions").await
        < stored_before + (burst + probes) as i64
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let indexed = started.elapsed();
    sampling.abort();
    let events = count(&store, "SELECT count(*) FROM events").await - events_before;
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    drop(chain);
    Figures {
        lag_p50: common::percentile(&lags, 0.50),
        lag_p99: common::percentile(&lags, 0.99),
        lag_max: common::percentile(&lags, 1.0),
        loaded_p50: common::percentile(&loaded_lags, 0.50),
        loaded_p99: common::percentile(&loaded_lags, 0.99),
        calls_per_tx: (calls_after - calls_before) / lag_transactions as f64,
        get_transaction_per_tx: (fetches_after - fetches_before) / lag_transactions as f64,
        chain_tx_per_sec: burst as f64 / sent.as_secs_f64(),
        events_per_sec: events as f64 / indexed.as_secs_f64(),
        rss_before_mib: rss_before,
        rss_peak_mib: peak.load(Ordering::Relaxed) as f64 / 1024.0,
    }
}

async fn count(store: &sparks_indexer::store::Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// (all RPC requests, getTransaction requests) the indexer has sent.
async fn rpc_calls(http: &reqwest::Client, base: &str) -> (f64, f64) {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut all = 0.0;
    let mut fetches = 0.0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("sparks_rpc_calls_total{"))
    {
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        all += value;
        if line.contains("method=\"getTransaction\"") {
            fetches += value;
        }
    }
    (all, fetches)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_mib(child: &Child) -> f64 {
    rss_kib(child.id()) as f64 / 1024.0
}
