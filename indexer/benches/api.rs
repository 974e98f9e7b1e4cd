//! API latency at a realistic size: a private Postgres (durable) bulk-filled
//! with `wallets` accounts and `ledger_rows` history rows (generate_series,
//! realistic spread: some wallets with long histories), the API served
//! in-process, and `requests` GETs of the summary and history endpoints
//! for random wallets from `concurrency` client tasks over loopback HTTP.
//! Prints p50/p99 per endpoint and requests/s.
//!
//! cargo bench -p sparks-indexer --bench api -- [wallets] [ledger_rows] [requests] [concurrency]

use std::time::{Duration, Instant};

use futures::StreamExt;
use sparks_indexer::api::{self, ApiConfig, AppState};
use sparks_indexer::store::Store;
use sparks_pglocal::{PgOptions, PgServer};

/// $1: the wallets' base58 keys, numbered 1..n in a scratch table.
const FILL_KEYS: &str = "
CREATE TABLE bench_wallets AS SELECT n, key FROM unnest($1::text[]) WITH ORDINALITY AS t(key, n)";
const FILL_ACCOUNTS: &str = "
INSERT INTO spark_accounts
SELECT w.key, w.n % 5000, w.n % 7000, w.n % 2000, 0, w.n % 3000, w.n % 1000, w.n % 2000, w.n % 1000,
       r.key, w.n % 5, w.n % 3 = 0, 1000, w.n, 1760000000
FROM bench_wallets w LEFT JOIN bench_wallets r ON w.n % 4 = 0 AND r.n = w.n / 4";
/// $1: ledger rows. Wallets get uneven histories.
const FILL_LEDGER: &str = "
INSERT INTO ledger
SELECT 'sig' || g, 0, w.key, g, g, 1760000000 + g, 'award', (g % 4)::int2, 1 + g % 500, g % 100000,
       'issuer', NULL, NULL
FROM generate_series(1, $1::bigint) g
JOIN bench_wallets w ON w.n = 1 + (g * 7919) % (SELECT count(*) FROM bench_wallets)";

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let wallets = args.first().copied().unwrap_or(100_000);
    let rows = args.get(1).copied().unwrap_or(2_000_000);
    let requests = args.get(2).copied().unwrap_or(20_000) as usize;
    let concurrency = args.get(3).copied().unwrap_or(8) as usize;
    let pg = PgServer::start_with(PgOptions {
        durable: true,
        ..PgOptions::default()
    })
    .expect("private postgres");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::connect(&pg.url()).await.unwrap();
        store.migrate().await.unwrap();
        let started = Instant::now();
        let keys: Vec<String> = (0..wallets).map(|i| wallet(i, wallets)).collect();
        sqlx::query(FILL_KEYS).bind(&keys).execute(store.pool()).await.unwrap();
        sqlx::raw_sql("CREATE UNIQUE INDEX ON bench_wallets (n); ANALYZE bench_wallets")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(FILL_ACCOUNTS).execute(store.pool()).await.unwrap();
        sqlx::query(FILL_LEDGER)
            .bind(rows as i64)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::raw_sql("ANALYZE").execute(store.pool()).await.unwrap();
        println!(
            "filled {wallets} wallets and {rows} ledger rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(api::serve(
            listener,
            AppState::new(store.pool().clone(), ApiConfig::default()),
            std::future::pending(),
        ));
        let http = reqwest::Client::new();
        for (name, path) in [
            ("summary", "/v1/wallets/{w}/sparks"),
            ("history", "/v1/wallets/{w}/history?limit=20"),
        ] {
            // Warm up, then measure.
            for i in 0..200u64 {
                let url = format!("{base}{}", path.replace("{w}", &wallet(i, wallets)));
                http.get(url).send().await.unwrap().bytes().await.unwrap();
            }
            let started = Instant::now();
            let mut latencies: Vec<Duration> = futures::stream::iter(0..requests as u64)
                .map(|i| {
                    let url = format!("{base}{}", path.replace("{w}", &wallet(i * 104_729, wallets)));
                    let http = http.clone();
                    async move {
                        let sent = Instant::now();
                        let response = http.get(url).send().await.unwrap();
                        assert!(response.status().is_success());
                        response.bytes().await.unwrap();
                        sent.elapsed()
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            let secs = started.elapsed().as_secs_f64();
            latencies.sort();
            println!(
                "{name}: {requests} requests, concurrency {concurrency}: p50 {:.2} ms, p99 {:.2} ms, {:.0} req/s",
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.99),
                requests as f64 / secs
            );
        }
    });
}

/// The i-th wallet's base58 key (what the API takes).
fn wallet(i: u64, wallets: u64) -> String {
    let n = 1 + i % wallets;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bs58::encode(bytes).into_string()
}
