//! The `sparks-indexer` binary as an operator runs it: backfill, verify,
//! run with a graceful stop, and a kill -9 mid-backfill.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::PgServer;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_backfill_then_restart_loses_and_duplicates_nothing() {
    let (chain, _) = busy_chain(300).await;
    let pg = PgServer::start().unwrap();
    let slow = ["backfill", "--batch-size", "3", "--concurrency", "1"];
    let mut kills = 0;
    for threshold in [20, 120, 220] {
        let mut child = indexer(&slow, &chain, &pg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if psql_count(&pg, "SELECT count(*) FROM transactions") >= threshold {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break; // finished before the kill point
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = child.wait();
    }
    assert!(
        kills >= 2,
        "the backfill was killed mid-way ({kills} kills)"
    );
    let (ok, _, stderr) = output(&mut indexer(&["backfill"], &chain, &pg));
    assert!(ok, "{stderr}");
    assert_eq!(psql_count(&pg, "SELECT count(*) FROM transactions"), 302);
    assert_eq!(psql_count(&pg, "SELECT count(*) FROM events"), 602); // + ConfigInitialized, IssuerUpserted
    assert_eq!(psql_count(&pg, "SELECT count(*) FROM spark_accounts"), 600);
    let (ok, stdout, _) = output(&mut indexer(&["verify"], &chain, &pg));
    assert!(ok && stdout.contains(", 0 differences"), "{stdout}");
}
