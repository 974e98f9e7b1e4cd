//! The `sparks-indexer` binary as an operator runs it: backfill, verify,
//! run with a graceful stop, and kill -9 at random points of a backfill
//! and of live indexing (`SPARKS_CRASH_KILLS`, `SPARKS_CRASH_TXS`,
//! `SPARKS_CRASH_SEED` scale and replay them).

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_indexer::source::{ListingStop, Source as ChainSource, SourceConfig};
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::PgServer;
use support::{crash_rng, kills_wanted};

const BIN: &str = env!("CARGO_BIN_EXE_sparks-indexer");

fn indexer(args: &[&str], chain: &Localnet, pg: &PgServer) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("DATABASE_URL", pg.url())
        .env("SPARKS_RPC_URL", chain.rpc_url())
        .env("SPARKS_WS_URL", chain.ws_url())
        .env("RUST_LOG", "warn");
    command
}

fn output(command: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("binary runs");
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn psql_count(pg: &PgServer, sql: &str) -> i64 {
    let out = Command::new(pg.bin_dir().join("psql"))
        .args([&pg.url(), "-tAc", sql])
        .output()
        .expect("psql");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(-1)
}

async fn busy_chain(transactions: usize) -> (Localnet, Keypair) {
    let chain = Localnet::start(LocalnetConfig::default()).unwrap();
    let rpc = SparksRpc::new(chain.rpc_url());
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
    let wallets: Vec<_> = (0..transactions * 2)
        .map(|_| Keypair::new().pubkey())
        .collect();
    scenario::bulk_awards(&rpc, &issuer, &wallets, 2, 5)
        .await
        .unwrap();
    (chain, issuer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_verify_and_verify_names_a_difference() {
    let chain = Localnet::start(LocalnetConfig::default()).unwrap();
    let rpc = SparksRpc::new(chain.rpc_url());
    scenario::every_instruction(&rpc).await.unwrap();
    let pg = PgServer::start().unwrap();

    let (ok, _, stderr) = output(&mut indexer(&["backfill"], &chain, &pg));
    assert!(ok, "backfill: {stderr}");
    let (ok, stdout, _) = output(&mut indexer(&["verify"], &chain, &pg));
    assert!(ok, "verify: {stdout}");
    assert!(stdout.contains(", 0 differences"), "{stdout}");

    let status = Command::new(pg.bin_dir().join("psql"))
        .args([
            &pg.url(),
            "-qc",
            "UPDATE perks SET cost = cost + 1 WHERE id = 1",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let (ok, stdout, _) = output(&mut indexer(&["verify"], &chain, &pg));
    assert!(!ok, "verify fails on a difference");
    assert!(stdout.contains(".cost: chain 300 / store 301"), "{stdout}");
    assert!(stdout.contains(", 1 differences"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_clear_errors() {
    let (ok, _, stderr) = output(Command::new(BIN).args([
        "backfill",
        "--database-url",
        "postgres://127.0.0.1:1/x",
        "--commitment",
        "maybe",
    ]));
    assert!(!ok);
    assert!(
        stderr.contains("connecting to Postgres") || stderr.contains("--commitment"),
        "{stderr}"
    );
    let (ok, _, stderr) = output(Command::new(BIN).args(["backfill", "--from", "5"]));
    assert!(!ok);
    assert!(stderr.contains("--until"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_gracefully_on_sigterm() {
    let (chain, _) = busy_chain(5).await;
    let pg = PgServer::start().unwrap();
    let child = indexer(&["run"], &chain, &pg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while psql_count(&pg, "SELECT count(*) FROM transactions") < 7 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "run indexes the chain"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit after SIGTERM: {stderr}");
}

/// `sparks-indexer run --grpc-url` as an operator at volume runs it: the
/// demo's activity (every instruction the app uses) indexed from the local
/// chain's Yellowstone stream, `verify` 0 differences, and not one
/// `getTransaction` (the binary's own counter, on /metrics).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_grpc_url_indexes_the_demo_activity_without_fetching_a_transaction() {
    let chain = Localnet::start(LocalnetConfig::default()).unwrap();
    let pg = PgServer::start().unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listen.local_addr().unwrap();
    drop(listen);
    let mut child = indexer(
        &[
            "run",
            "--grpc-url",
            chain.grpc_url(),
            "--listen",
            &api.to_string(),
            "--no-webhooks",
        ],
        &chain,
        &pg,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let metrics = |name: &'static str| async move {
        let text = reqwest::get(format!("http://{api}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let started = Instant::now();
    while psql_count(&pg, "SELECT caught_up_slot FROM cursor") <= 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the indexer starts"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rpc = SparksRpc::new(chain.rpc_url());
    scenario::demo_activity(&rpc, 40).await.unwrap();
    let source = ChainSource::new(SourceConfig::new(chain.rpc_url(), sparks::ID));
    let on_chain = source.signatures(&ListingStop::Start).await.unwrap().len() as i64;
    while psql_count(&pg, "SELECT count(*) FROM transactions") < on_chain {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the stream indexes the demo"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, stdout, _) = output(&mut indexer(&["verify"], &chain, &pg));
    assert!(ok && stdout.contains(", 0 differences"), "{stdout}");
    assert_eq!(
        metrics("sparks_rpc_calls_total{method=\"getTransaction\"}").await,
        0.0,
        "no getTransaction"
    );
    // The counter is there (the start was proven by listing signatures).
    assert!(metrics("sparks_rpc_calls_total{method=\"getSignaturesForAddress\"}").await > 0.0);
    assert!(metrics("sparks_indexed_transactions_total").await >= on_chain as f64);
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

/// After the last restart: the store equals the chain, every program
/// transaction is stored once, no event or balance change is missing.
async fn assert_complete(chain: &Localnet, pg: &PgServer, expected_events: i64) {
    let source = ChainSource::new(SourceConfig::new(chain.rpc_url(), sparks::ID));
    let on_chain = source.signatures(&ListingStop::Start).await.unwrap();
    assert_eq!(
        psql_count(pg, "SELECT count(*) FROM transactions"),
        on_chain.len() as i64
    );
    assert_eq!(
        psql_count(pg, "SELECT count(*) FROM events"),
        expected_events
    );
    // No gaps: each transaction's events are numbered 0..n, each wallet's
    // balance changes are its seq 1..n, and they add up to its balance.
    let gaps = [
        "SELECT count(*) FROM (SELECT signature FROM events GROUP BY signature
           HAVING min(event_index) <> 0 OR max(event_index) + 1 <> count(*)) g",
        "SELECT count(*) FROM (SELECT wallet FROM ledger GROUP BY wallet
           HAVING min(seq) <> 1 OR max(seq) <> count(*)) g",
        "SELECT count(*) FROM spark_accounts s WHERE balance <>
           (SELECT sum(amount) FROM ledger l WHERE l.wallet = s.wallet)",
    ];
    for sql in gaps {
        assert_eq!(psql_count(pg, sql), 0, "{sql}");
    }
    let newest = &on_chain.last().unwrap().signature;
    assert_eq!(
        psql_count(
            pg,
            &format!("SELECT count(*) FROM cursor WHERE signature = '{newest}'")
        ),
        1,
        "the cursor is on the newest transaction"
    );
    assert_eq!(
        psql_count(
            pg,
            "SELECT (SELECT count(*) FROM listing) + (SELECT count(*) FROM pending_signatures)"
        ),
        0,
        "a kept listing is dropped once stored"
    );
    let (ok, stdout, _) = output(&mut indexer(&["verify"], chain, pg));
    assert!(ok && stdout.contains(", 0 differences"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_of_a_backfill_loses_and_duplicates_nothing() {
    // Arrange: 2 + N transactions (N batch awards of 2 new wallets).
    let transactions: usize = std::env::var("SPARKS_CRASH_TXS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let (chain, _) = busy_chain(transactions).await;
    let pg = PgServer::start().unwrap();
    let mut rng = crash_rng();
    let mut points: Vec<i64> = (0..kills_wanted())
        .map(|_| rng.gen_range(0..transactions as i64))
        .collect();
    points.sort();
    // Act: small batches so a kill lands mid-stream; each run resumes the last.
    // A listing past 50 signatures is kept in Postgres, so every run after
    // the first resumes storing a kept listing from where the kill left it.
    let slow = [
        "backfill",
        "--batch-size",
        "3",
        "--concurrency",
        "2",
        "--spill-after",
        "50",
    ];
    let (mut kills, mut kept_at_kill) = (0, 0);
    for threshold in points {
        let mut child = indexer(&slow, &chain, &pg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if psql_count(&pg, "SELECT count(*) FROM transactions") >= threshold {
                std::thread::sleep(Duration::from_micros(rng.gen_range(0..3_000)));
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break; // finished before the kill point
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = child.wait();
        kept_at_kill += psql_count(&pg, "SELECT count(*) FROM listing");
    }
    println!(
        "{kills} kills during a {}-transaction backfill, {kept_at_kill} with a kept listing",
        transactions + 2
    );
    assert!(kills >= kills_wanted(), "only {kills} kills landed");
    assert!(
        kept_at_kill > 0,
        "no kill landed while a kept listing was stored"
    );
    let (ok, _, stderr) = output(&mut indexer(&["backfill"], &chain, &pg));
    assert!(ok, "{stderr}");
    // Assert: + ConfigInitialized, IssuerUpserted
    assert_complete(&chain, &pg, 2 * transactions as i64 + 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_of_live_indexing_loses_and_duplicates_nothing() {
    // Arrange: awards keep landing while the indexer runs live.
    let chain = Localnet::start(LocalnetConfig::default()).unwrap();
    let rpc = SparksRpc::new(chain.rpc_url());
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
    let pg = PgServer::start().unwrap();
    let mut rng = crash_rng();
    let awards = 8 * kills_wanted();
    let sender = tokio::spawn(async move {
        for i in 0..awards {
            let wallet = Keypair::new().pubkey();
            let reference = [(i % 251) as u8; 32];
            rpc.award(&issuer, &wallet, Source::Trading, 1 + i as u64, reference)
                .await
                .unwrap();
        }
    });
    // Act: kill -9 the live indexer at random moments and start it again.
    let run = ["run", "--no-api", "--poll-ms", "200"];
    let mut kills = 0;
    while !sender.is_finished() || kills < kills_wanted() {
        let mut child = indexer(&run, &chain, &pg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(50..600))).await;
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        kills += 1;
    }
    sender.await.unwrap();
    println!("{kills} kills during {awards} live awards");
    // One last run until it has everything (it may not have installed its
    // signal handlers yet, so it is stopped the same way).
    let mut child = indexer(&run, &chain, &pg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while psql_count(&pg, "SELECT count(*) FROM transactions") < awards as i64 + 2 {
        assert!(started.elapsed() < Duration::from_secs(60), "catches up");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    // Assert
    assert_complete(&chain, &pg, awards as i64 + 2).await;
}
