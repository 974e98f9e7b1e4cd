//! API at scale: a private Postgres (durable) bulk-filled with `wallets`
//! accounts and `ledger_rows` history rows (generate_series with the
//! indexes dropped and rebuilt after; each wallet's rows spread over the
//! whole table, as a live ledger's are), then read into Postgres's cache
//! (pg_prewarm) so every run below meets the same warm cache. The API is
//! the real binary, `sparks-indexer serve`, run twice as child processes:
//! with its defaults (concurrent requests coalesced into shared queries)
//! and with one query per request. Load comes from another process: `wrk`
//! (Debian package; `scripts/bench` installs it) GETs the summary and
//! history endpoints for random wallets. Next to it, `pgbench` runs the
//! per-request SELECT against the same database, before and after the API's
//! runs, each warmed up like the API. Prints, per endpoint and mode: wrk's
//! p50/p99 and requests/s, the server-side p99 from the API's own latency
//! histogram (/metrics), the CPU the API process and the whole machine
//! spent per request; then pgbench's two rates and the API's ratio to
//! their mean; then the coalesced API at a fixed offered rate of half its
//! saturated rate (`oha -q`, latency from each request's scheduled start),
//! with the same server-side quantiles.
//!
//! cargo bench -p sparks-indexer --bench api -- [wallets] [ledger_rows] [seconds] [connections]
//!
//! With SPARKS_BENCH_HOLD=1 it stops after filling and prewarming, prints
//! the database URL and the wrk/pgbench scripts it wrote, and keeps the
//! database (and both API servers) up until killed: for runs by hand.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

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
/// The filled tables' secondary indexes, dropped for the bulk load and
/// rebuilt from their own definitions after it.
const FILLED_INDEXES: &str = "
SELECT indexname, indexdef FROM pg_indexes
WHERE tablename IN ('ledger', 'spark_accounts') AND indexname NOT LIKE '%_pkey'";

/// Load before each measured run: a fresh Postgres backend maps the shared
/// buffers it touches page by page (minor faults) until it has seen most
/// of them, so a short warm-up measures connections that are still slow.
const WARM_UP_SECONDS: u64 = 20;

/// Relations the two endpoints read, loaded into shared_buffers before measuring.
const PREWARM: &str = "
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT pg_prewarm(r) FROM unnest(ARRAY['ledger', 'ledger_history', 'spark_accounts',
    'spark_accounts_pkey', 'cursor', 'bench_wallets', 'bench_wallets_n_idx']) AS r";

/// pgbench scripts: the SELECT one request needs (the API's reads in
/// indexer/src/api/reads.rs for a batch of one, here `history` with no
/// cursor or source), for a random wallet. pgbench
/// cannot make base58 keys, so the key comes from `bench_wallets` by
/// number: one extra primary-key lookup per query on pgbench's side.
const PGBENCH_SUMMARY: &str = r#"\set n random(1, :wallets)
SELECT s.balance, s.lifetime_earned, s.lifetime_spent, s.lifetime_revoked, s.earned_trading, s.earned_subscription, s.earned_campaign, s.earned_referral, s.referrer, s.invitee_count, s.seq, s.slot, s.slot <= c.finalized_slot AS finalized FROM spark_accounts s CROSS JOIN cursor c WHERE s.wallet = (SELECT key FROM bench_wallets WHERE n = :n);
"#;
const PGBENCH_HISTORY: &str = r#"\set n random(1, :wallets)
SELECT signature, event_index, slot, block_time, kind, source, amount, balance_after, seq, counterparty FROM ledger WHERE wallet = (SELECT key FROM bench_wallets WHERE n = :n) AND seq < 9223372036854775807 AND (NULL::int2 IS NULL OR source = NULL::int2) ORDER BY seq DESC LIMIT 21;
"#;

/// wrk: each thread formats its requests once, up front, for 100,000 wallets
/// drawn at random from the key file, then cycles through them. (Formatting
/// each request in Lua as it goes cost wrk ~37 µs of CPU per request, half
/// what the API spends, on the cores the API and Postgres share; pgbench's
/// client costs a few µs per query.)
const WRK_SCRIPT: &str = r#"
local requests = {}
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  local keys = {}
  for line in io.lines("KEYS") do keys[#keys + 1] = line end
  for i = 1, 100000 do
    requests[i] = wrk.format("GET", (string.gsub("PATH", "{w}", keys[math.random(#keys)])))
  end
end
local next_request = 0
request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
"#;

fn main() {
    let wallets = common::arg(0, 100_000);
    let rows = common::arg(1, 2_000_000);
    let seconds = common::arg(2, 20);
    let connections = common::arg(3, 8);
    let pg = common::durable_postgres(&[
        ("maintenance_work_mem", "1GB"),
        ("max_wal_size", "4GB"),
        ("shared_buffers", "6GB"),
    ]);
    let work = tempfile::tempdir().unwrap();
    common::runtime().block_on(async {
        let store = common::migrated_store(&pg.url()).await;
        let started = Instant::now();
        let keys: Vec<String> = (0..wallets).map(|i| wallet(i, wallets)).collect();
        std::fs::write(work.path().join("keys"), keys.join("\n") + "\n").unwrap();
        sqlx::query(FILL_KEYS).bind(&keys).execute(store.pool()).await.unwrap();
        drop(keys);
        sqlx::raw_sql("CREATE UNIQUE INDEX ON bench_wallets (n); ANALYZE bench_wallets")
            .execute(store.pool())
            .await
            .unwrap();
        let indexes: Vec<(String, String)> = sqlx::query_as(FILLED_INDEXES)
            .fetch_all(store.pool())
            .await
            .unwrap();
        for (name, _) in &indexes {
            sqlx::raw_sql(&format!("DROP INDEX {name}"))
                .execute(store.pool())
                .await
                .unwrap();
        }
        sqlx::query(FILL_ACCOUNTS).execute(store.pool()).await.unwrap();
        sqlx::query(FILL_LEDGER)
            .bind(rows as i64)
            .execute(store.pool())
            .await
            .unwrap();
        for (_, definition) in &indexes {
            sqlx::raw_sql(definition).execute(store.pool()).await.unwrap();
        }
        sqlx::raw_sql("VACUUM ANALYZE").execute(store.pool()).await.unwrap();
        println!(
            "filled {wallets} wallets and {rows} ledger rows in {:.1} s (secondary indexes rebuilt after the load)",
            started.elapsed().as_secs_f64()
        );
        sqlx::raw_sql(PREWARM).execute(store.pool()).await.unwrap();
        let coalesced = Api::start(&pg.url(), &[]);
        let single = Api::start(
            &pg.url(),
            &["--api-max-batch", "1", "--api-history-max-batch", "1"],
        );
        let http = reqwest::Client::new();
        coalesced.wait_ready(&http).await;
        single.wait_ready(&http).await;
        let endpoints = [
            ("summary", "/v1/wallets/{wallet}/sparks", "/v1/wallets/{w}/sparks", PGBENCH_SUMMARY),
            (
                "history",
                "/v1/wallets/{wallet}/history",
                "/v1/wallets/{w}/history?limit=20",
                PGBENCH_HISTORY,
            ),
        ];
        let keys = work.path().join("keys");
        for (name, _, path, pgbench_script) in endpoints {
            std::fs::write(
                work.path().join(format!("{name}.lua")),
                WRK_SCRIPT
                    .replace("KEYS", &keys.display().to_string())
                    .replace("PATH", path),
            )
            .unwrap();
            std::fs::write(work.path().join(format!("{name}.sql")), pgbench_script).unwrap();
            std::fs::write(
                work.path().join(format!("{name}.urls")),
                oha_urls(&coalesced.base, path, wallets),
            )
            .unwrap();
        }
        if std::env::var_os("SPARKS_BENCH_HOLD").is_some() {
            println!(
                "holding: database {}\n  pgbench: {}/pgbench -n -M prepared -j 2 -P 1 -c{connections} -T{} -Dwallets={wallets} -f {dir}/summary.sql (or history.sql) <database>\n  \
                 (its first {WARM_UP_SECONDS} s are the warm-up)\n  \
                 wrk: wrk -t2 -c{connections} -d{seconds}s --latency -s {dir}/summary.lua (or history.lua) <api>\n  \
                 oha: oha --no-tui -q <rate> --latency-correction -z {seconds}s -c {connections} --urls-from-file {dir}/summary.urls (or history.urls; the coalesced API's)\n  \
                 APIs: coalesced {}, one query each {}",
                pg.url(),
                pg.bin_dir().display(),
                WARM_UP_SECONDS + seconds,
                coalesced.base,
                single.base,
                dir = work.path().display(),
            );
            std::future::pending::<()>().await;
        }
        for (name, route, _, _) in endpoints {
            let script = work.path().join(format!("{name}.lua"));
            let sql = work.path().join(format!("{name}.sql"));
            // pgbench before and after the API's runs: the box's speed
            // drifts by more than the API's gains over minutes, so the ratio
            // is taken against the mean of the two.
            let pgbench = || run_pgbench(pg.bin_dir(), &pg.url(), &sql, wallets, seconds, connections);
            let pgbench_before = pgbench();
            let mut rates = Vec::new();
            for (mode, api) in [("coalesced", &coalesced), ("one query each", &single)] {
                // Warm-up (connections, plans, page mappings), then the measured run.
                let base = &api.base;
                let _ = wrk(&script, base, WARM_UP_SECONDS, connections);
                let before = histogram(&http, base, route).await;
                let cpu_before = (api.cpu_seconds(), machine_cpu_seconds());
                let report = wrk(&script, base, seconds, connections);
                let cpu_after = (api.cpu_seconds(), machine_cpu_seconds());
                let after = histogram(&http, base, route).await;
                let server = since(&before, &after);
                let served = server.last().map_or(0, |(_, n)| *n).max(1) as f64;
                let micros = |before: f64, after: f64| (after - before) * 1e6 / served;
                println!(
                    "{name}, {mode}: wrk {connections} connections {seconds} s: p50 {} p99 {} {:.0} req/s | \
                     server-side: {} | CPU per request: API {:.0} µs, machine {:.0} µs",
                    report.p50,
                    report.p99,
                    report.rate,
                    server_quantiles(&server),
                    micros(cpu_before.0, cpu_after.0),
                    micros(cpu_before.1, cpu_after.1),
                );
                rates.push((mode, report.rate));
            }
            let pgbench_after = pgbench();
            let pgbench_mean = (pgbench_before + pgbench_after) / 2.0;
            println!(
                "{name}: pgbench per-request SELECT ({WARM_UP_SECONDS} s warm-up, then {seconds} s): \
                 {pgbench_before:.0} tx/s before the API's runs, {pgbench_after:.0} after; API/pgbench (mean): {}",
                rates
                    .iter()
                    .map(|(mode, rate)| format!("{mode} {:.0}%", 100.0 * rate / pgbench_mean))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            // The coalesced server at a fixed offered rate, half of what it
            // just sustained: oha sends on a schedule whatever the replies do
            // and measures each latency from its scheduled start.
            let saturated = rates[0].1;
            let offered = (saturated / 2.0).round();
            let urls = work.path().join(format!("{name}.urls"));
            let before = histogram(&http, &coalesced.base, route).await;
            let report = oha_fixed_rate(&urls, offered, seconds, connections);
            let after = histogram(&http, &coalesced.base, route).await;
            let server = since(&before, &after);
            println!(
                "{name}, coalesced, fixed offered rate {offered:.0} req/s (half of saturation): oha {connections} connections {seconds} s: \
                 p50 {:.2}ms p99 {:.2}ms (from each request's scheduled start) {:.0} req/s served | server-side: {}",
                report.p50_ms,
                report.p99_ms,
                report.rate,
                server_quantiles(&server),
            );
        }
    });
}

/// `sparks-indexer serve` as a child process on a free port; killed on drop.
struct Api {
    child: Child,
    base: String,
}

impl Api {
    fn start(database_url: &str, flags: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_sparks-indexer"))
            .args(["serve", "--database-url", database_url])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("sparks-indexer serve starts");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self, http: &reqwest::Client) {
        for _ in 0..200 {
            if let Ok(response) = http.get(format!("{}/health", self.base)).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sparks-indexer serve at {} did not become ready", self.base);
    }

    /// User + system CPU of the API process so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("the API process is running");
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / clock_ticks()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time the whole machine spent working (user, nice, system, irq, softirq).
fn machine_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let line = stat.lines().next().expect("the cpu line");
    let ticks: f64 = line
        .split_whitespace()
        .skip(1)
        .enumerate()
        .filter(|(i, _)| matches!(i, 0 | 1 | 2 | 5 | 6))
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum();
    ticks / clock_ticks()
}

/// USER_HZ, the unit of /proc's CPU times.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let output = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf runs");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("CLK_TCK is a number")
    })
}

struct WrkReport {
    p50: String,
    p99: String,
    rate: f64,
}

fn wrk(script: &Path, base: &str, seconds: u64, connections: u64) -> WrkReport {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(base)
        .output()
        .expect("wrk runs (scripts/bench-api installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("Non-2xx"), "errors under load:\n{text}");
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(prefix)
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("wrk output lacks {prefix:?}:\n{text}"))
    };
    WrkReport {
        p50: field("50%"),
        p99: field("99%"),
        rate: field("Requests/sec:").parse().unwrap(),
    }
}

/// oha's URL file: 100,000 requests for wallets spread over all of them
/// (a stride coprime to the count); oha picks one at random per request.
fn oha_urls(base: &str, path: &str, wallets: u64) -> String {
    const STRIDE: u64 = 7_919;
    (0..100_000u64)
        .map(|i| {
            format!(
                "{base}{}\n",
                path.replace("{w}", &wallet(i * STRIDE, wallets))
            )
        })
        .collect()
}

struct OhaReport {
    p50_ms: f64,
    p99_ms: f64,
    rate: f64,
}

/// `oha` (crates.io; `scripts/bench` installs it) at a fixed rate with
/// latency correction, so a slow reply delays no later request's clock.
fn oha_fixed_rate(urls: &Path, rate: f64, seconds: u64, connections: u64) -> OhaReport {
    let output = Command::new("oha")
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--latency-correction",
        ])
        .args(["-q", &rate.to_string(), "-z", &format!("{seconds}s")])
        .args(["-c", &connections.to_string(), "--urls-from-file"])
        .arg(urls)
        .output()
        .expect("oha runs (scripts/bench installs it)");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "oha's JSON report does not parse ({e}):\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let statuses = report["statusCodeDistribution"]
        .as_object()
        .expect("status codes");
    assert!(
        statuses.keys().all(|code| code == "200"),
        "non-200 replies under load: {statuses:?}"
    );
    // Requests still open at the deadline are cut off by oha, not failed.
    let errors = report["errorDistribution"].as_object().expect("errors");
    assert!(
        errors.keys().all(|e| e.contains("deadline")),
        "errors under load: {errors:?}"
    );
    let metric = |key: &str| {
        report["metrics"]
            .pointer(key)
            .and_then(|v| v.as_f64())
            .expect(key)
    };
    OhaReport {
        p50_ms: metric("/latency_ms/p50"),
        p99_ms: metric("/latency_ms/p99"),
        rate: metric("/requests_per_sec"),
    }
}

/// pgbench's rate over the `seconds` after a warm-up of WARM_UP_SECONDS,
/// from its per-second progress reports: each run opens fresh backends,
/// which map the shared buffers they touch page by page (minor faults) for
/// the first several seconds, as the API's new connections did before its
/// warm-up. Counting those seconds understated pgbench by ~8%.
fn run_pgbench(
    bin: &Path,
    url: &str,
    script: &Path,
    wallets: u64,
    seconds: u64,
    connections: u64,
) -> f64 {
    let output = Command::new(bin.join("pgbench"))
        .args(["-n", "-M", "prepared", "-j", "2", "-P", "1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-T{}", WARM_UP_SECONDS + seconds))
        .arg(format!("-Dwallets={wallets}"))
        .arg("-f")
        .arg(script)
        .arg(url)
        .output()
        .expect("pgbench runs");
    // "progress: 21.0 s, 9901.9 tps, lat 0.776 ms stddev 0.380, 0 failed"
    let reports = String::from_utf8_lossy(&output.stderr);
    let measured: Vec<f64> = reports
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("progress: ")?;
            let (at, rest) = rest.split_once(" s, ")?;
            let tps = rest.split_once(" tps")?.0;
            let at: f64 = at.parse().ok()?;
            (at > WARM_UP_SECONDS as f64).then(|| tps.parse().ok())?
        })
        .collect();
    assert!(
        !measured.is_empty(),
        "pgbench reported no progress after its warm-up:\n{reports}{}",
        String::from_utf8_lossy(&output.stdout)
    );
    measured.iter().sum::<f64>() / measured.len() as f64
}

/// The route's cumulative latency buckets (upper bound in s, count) from /metrics.
async fn histogram(http: &reqwest::Client, base: &str, route: &str) -> Vec<(f64, u64)> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("route=\"{route}\"");
    text.lines()
        .filter(|line| {
            line.starts_with("sparks_api_request_seconds_bucket") && line.contains(&label)
        })
        .filter_map(|line| {
            let le = line.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = line.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect()
}

/// The requests counted between two readings of the same histogram.
fn since(before: &[(f64, u64)], after: &[(f64, u64)]) -> Vec<(f64, u64)> {
    after
        .iter()
        .zip(before)
        .map(|((le, a), (_, b))| (*le, a - b))
        .collect()
}

/// "p50 ≤ x ms, p99 ≤ y ms" from cumulative buckets: the smallest bound
/// holding that share of the requests.
fn server_quantiles(buckets: &[(f64, u64)]) -> String {
    let total = buckets.last().map_or(0, |(_, n)| *n);
    if total == 0 {
        return "no samples".into();
    }
    let bound = |share: f64| {
        buckets
            .iter()
            .find(|(_, n)| *n as f64 >= share * total as f64)
            .map_or("?".to_owned(), |(le, _)| format!("{} ms", le * 1000.0))
    };
    let within_2ms = buckets
        .iter()
        .find(|(le, _)| (*le - 0.002).abs() < 1e-9)
        .map_or(0.0, |(_, n)| 100.0 * *n as f64 / total as f64);
    format!(
        "p50 ≤ {}, p99 ≤ {} ({within_2ms:.2}% within 2 ms, {total} requests)",
        bound(0.50),
        bound(0.99)
    )
}

/// The i-th wallet's base58 key (what the API takes).
fn wallet(i: u64, wallets: u64) -> String {
    let n = 1 + i % wallets;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bs58::encode(bytes).into_string()
}
