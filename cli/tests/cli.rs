//! The real `sparks` binary against the local chain over RPC.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use predicates::prelude::*;
use serde_json::Value;
use solana_keypair::{write_keypair_file, Keypair};
use solana_signer::Signer;
use sparks_localnet::{Localnet, LocalnetConfig};

/// A chain plus keypair files for an admin, an issuer and two users.
struct Setup {
    chain: Localnet,
    dir: tempfile::TempDir,
    admin: Keypair,
    issuer: Keypair,
    alice: Keypair,
    bob: Keypair,
}

impl Setup {
    fn new() -> Self {
        let (admin, issuer, alice, bob) = (
            Keypair::new(),
            Keypair::new(),
            Keypair::new(),
            Keypair::new(),
        );
        let chain = Localnet::start(LocalnetConfig {
            airdrop: vec![
                admin.pubkey(),
                issuer.pubkey(),
                alice.pubkey(),
                bob.pubkey(),
            ],
            ..LocalnetConfig::default()
        })
        .expect("local chain");
        let dir = tempfile::tempdir().unwrap();
        for (name, key) in [
            ("admin", &admin),
            ("issuer", &issuer),
            ("alice", &alice),
            ("bob", &bob),
        ] {
            write_keypair_file(key, dir.path().join(format!("{name}.json"))).unwrap();
        }
        Self {
            chain,
            dir,
            admin,
            issuer,
            alice,
            bob,
        }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.json"))
    }

    /// `sparks --url <chain> --keypair <who> <args…>`
    fn sparks(&self, who: &str, args: &[&str]) -> assert_cmd::assert::Assert {
        let mut command = Command::cargo_bin("sparks").unwrap();
        command
            .env("SPARKS_STATE_DIR", self.dir.path().join("state"))
            .arg("--url")
            .arg(self.chain.rpc_url())
            .arg("--keypair")
            .arg(self.key(who))
            .args(args);
        assert_cmd::assert::OutputAssertExt::assert(&mut command)
    }

    fn json(&self, who: &str, args: &[&str]) -> Value {
        let mut full = vec!["--output", "json"];
        full.extend_from_slice(args);
        let output = self
            .sparks(who, &full)
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&output).unwrap_or_else(|e| panic!("{args:?} printed no JSON: {e}"))
    }

    /// init + an issuer allowed every source.
    fn initialized() -> Self {
        let s = Self::new();
        s.sparks(
            "admin",
            &[
                "init",
                "--referral-share-bps",
                "1000",
                "--first-subscription-bonus",
                "500",
            ],
        )
        .success();
        s.sparks(
            "admin",
            &[
                "issuer",
                "add",
                &s.issuer.pubkey().to_string(),
                "--cap",
                "100000000",
            ],
        )
        .success();
        s
    }
}

#[test]
fn init_and_config_show_update() {
    let s = Setup::new();
    s.sparks("admin", &["init"])
        .success()
        .stdout(predicate::str::contains("signature"));
    let config = s.json("admin", &["config", "show"]);
    assert_eq!(config["admin"], s.admin.pubkey().to_string());
    assert_eq!(config["referral_trade_share_bps"], 1000);
    s.sparks("admin", &["config", "update", "--max-award", "42"])
        .success();
    let config = s.json("admin", &["config", "show"]);
    assert_eq!(config["max_award_per_ix"], 42);
    assert_eq!(
        config["referral_trade_share_bps"], 1000,
        "unspecified settings keep their value"
    );
}

#[test]
fn pause_unpause_and_admin_hand_over() {
    let s = Setup::initialized();
    s.sparks("admin", &["pause"]).success();
    assert_eq!(s.json("admin", &["config", "show"])["paused"], true);
    s.sparks(
        "issuer",
        &[
            "award",
            &s.alice.pubkey().to_string(),
            "--source",
            "trading",
            "--amount",
            "1",
        ],
    )
    .failure()
    .stderr(predicate::str::contains("Paused"));
    s.sparks("admin", &["unpause"]).success();
    s.sparks("admin", &["admin", "propose", &s.bob.pubkey().to_string()])
        .success();
    s.sparks("alice", &["admin", "accept"])
        .failure()
        .stderr(predicate::str::contains("NotPendingAdmin"));
    s.sparks("bob", &["admin", "accept"]).success();
    assert_eq!(
        s.json("bob", &["config", "show"])["admin"],
        s.bob.pubkey().to_string()
    );
    s.sparks("admin", &["pause"])
        .failure()
        .stderr(predicate::str::contains("Unauthorized"));
}

#[test]
fn issuers_award_revoke_and_account_history() {
    let s = Setup::initialized();
    let issuers = s.json("admin", &["issuer", "list"]);
    assert_eq!(issuers[0]["authority"], s.issuer.pubkey().to_string());
    assert_eq!(issuers[0]["active"], true);
    let alice = s.alice.pubkey().to_string();
    let awarded = s.json(
        "issuer",
        &[
            "award",
            &alice,
            "--source",
            "trading",
            "--amount",
            "300",
            "--reference",
            "trade-1",
        ],
    );
    assert_eq!(awarded["account"]["balance"], 300);
    s.json(
        "issuer",
        &["award", &alice, "--source", "campaign", "--amount", "50"],
    );
    s.json(
        "admin",
        &["revoke", &alice, "--amount", "20", "--reason", "3"],
    );
    let account = s.json("admin", &["account", "show", &alice]);
    assert_eq!(account["balance"], 330);
    assert_eq!(account["earned_by_source"]["trading"], 300);
    let history = account["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history.last().unwrap()["reference"], "trade-1");
    s.sparks(
        "admin",
        &["issuer", "remove", &s.issuer.pubkey().to_string()],
    )
    .success();
    s.sparks(
        "issuer",
        &["award", &alice, "--source", "trading", "--amount", "1"],
    )
    .failure()
    .stderr(predicate::str::contains("IssuerInactive"));
    s.sparks("alice", &["revoke", &alice, "--amount", "1"])
        .failure()
        .stderr(predicate::str::contains("Unauthorized"));
}

#[test]
fn referrals_perks_and_whitelists() {
    let s = Setup::initialized();
    let (alice, bob) = (s.alice.pubkey().to_string(), s.bob.pubkey().to_string());
    s.sparks("bob", &["referrer", "set", &alice]).success();
    s.json(
        "issuer",
        &["award", &bob, "--source", "trading", "--amount", "1000"],
    );
    assert_eq!(
        s.json("admin", &["account", "show", &alice])["earned_by_source"]["referral"],
        100
    );
    // Whitelist + perk that grants a spot.
    s.sparks(
        "admin",
        &[
            "whitelist",
            "create",
            "--id",
            "1",
            "--consumer",
            &s.admin.pubkey().to_string(),
            "--capacity",
            "10",
            "--spots-per-wallet",
            "2",
            "--min-lifetime-sparks",
            "500",
        ],
    )
    .success();
    s.sparks(
        "admin",
        &[
            "whitelist",
            "update",
            "--id",
            "1",
            "--consumer",
            &s.admin.pubkey().to_string(),
            "--capacity",
            "20",
            "--spots-per-wallet",
            "2",
            "--min-lifetime-sparks",
            "500",
        ],
    )
    .success();
    s.sparks(
        "admin",
        &[
            "perk",
            "create",
            "--id",
            "7",
            "--kind",
            "nft-whitelist",
            "--whitelist",
            "1",
            "--cost",
            "100",
        ],
    )
    .success();
    s.sparks(
        "admin",
        &[
            "perk",
            "create",
            "--id",
            "8",
            "--kind",
            "discord-role",
            "--cost",
            "5",
            "--uri",
            "https://x/role",
        ],
    )
    .success();
    s.sparks("admin", &["perk", "update", "--id", "8", "--cost", "6"])
        .success();
    let perks = s.json("admin", &["perk", "list"]);
    assert_eq!(perks.as_array().unwrap().len(), 2);
    assert_eq!(perks[1]["cost"], 6);
    // No --starts-at means no start limit: the chain's clock may lag this
    // machine's, so "now" here could still be the future on chain.
    assert_eq!(perks[0]["starts_at"], 0);
    s.json("bob", &["perk", "redeem", "7"]);
    s.sparks("bob", &["whitelist", "join", "1"]).success();
    s.sparks(
        "admin",
        &["whitelist", "grant", "1", &alice, "--spots", "1"],
    )
    .success();
    let shown = s.json("admin", &["whitelist", "show", "1", "--wallet", &bob]);
    assert_eq!(shown["entry"]["spots_granted"], 2);
    assert_eq!(shown["capacity"], 20);
    s.sparks("alice", &["perk", "redeem", "8"]).success();
    s.sparks("alice", &["whitelist", "join", "1"])
        .failure()
        .stderr(predicate::str::contains("BelowJoinThreshold"));
}

#[test]
fn an_award_retried_under_its_award_id_pays_once() {
    let s = Setup::initialized();
    let alice = s.alice.pubkey().to_string();
    let award = [
        "award",
        &alice,
        "--source",
        "campaign",
        "--amount",
        "40",
        "--award-id",
        "7",
    ];
    let first = s.json("issuer", &award);
    assert_eq!(
        (
            first["award_id"].as_u64(),
            first["account"]["balance"].as_u64()
        ),
        (Some(7), Some(40))
    );
    // The operator cannot tell whether it landed and runs it again.
    s.sparks("issuer", &award)
        .failure()
        .stderr(predicate::str::contains("award id 7 was used already"));
    assert_eq!(s.json("admin", &["account", "show", &alice])["balance"], 40);
    // Without --award-id the next id after the highest used one.
    let next = s.json(
        "issuer",
        &["award", &alice, "--source", "campaign", "--amount", "2"],
    );
    assert_eq!(next["award_id"], 8);
    let ids = s.json("issuer", &["award-ids", "show"]);
    assert_eq!(
        (
            ids["award_id_floor"].as_u64(),
            ids["next_award_id"].as_u64()
        ),
        (Some(0), Some(9))
    );
    // Ids 0..7 never paid: voiding them moves the floor; voiding a paid one is refused.
    s.sparks("issuer", &["award-ids", "void", "0", "--count", "7"])
        .success();
    assert_eq!(
        s.json("issuer", &["award-ids", "show"])["award_id_floor"],
        9
    );
    s.sparks("issuer", &["award-ids", "void", "8"])
        .failure()
        .stderr(predicate::str::contains("AwardIdUsed"));
}

#[test]
fn a_whitelist_changes_admin_in_two_steps() {
    let s = Setup::initialized();
    let bob = s.bob.pubkey().to_string();
    s.sparks(
        "admin",
        &[
            "whitelist",
            "create",
            "--id",
            "3",
            "--consumer",
            &s.admin.pubkey().to_string(),
            "--capacity",
            "5",
        ],
    )
    .success();
    s.sparks("admin", &["whitelist", "propose-admin", "3", &bob])
        .success();
    let shown = s.json("admin", &["whitelist", "show", "3"]);
    assert_eq!(shown["admin"], s.admin.pubkey().to_string());
    assert_eq!(shown["pending_admin"], bob);
    s.sparks("alice", &["whitelist", "accept-admin", "3"])
        .failure()
        .stderr(predicate::str::contains("NotPendingWhitelistAdmin"));
    s.sparks("bob", &["whitelist", "accept-admin", "3"])
        .success();
    assert_eq!(s.json("admin", &["whitelist", "show", "3"])["admin"], bob);
}

#[test]
fn bad_input_gets_one_line_errors_and_a_failing_exit_code() {
    let s = Setup::initialized();
    let check = |assert: assert_cmd::assert::Assert, needle: &str| {
        let output = assert.failure().code(predicate::ne(0)).get_output().clone();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
        assert_eq!(
            stderr
                .trim()
                .lines()
                .filter(|l| l.starts_with("error"))
                .count(),
            1,
            "{stderr}"
        );
    };
    check(
        s.sparks(
            "issuer",
            &["award", "not-a-key", "--source", "trading", "--amount", "1"],
        ),
        "not-a-key",
    );
    check(
        s.sparks(
            "issuer",
            &[
                "award",
                &s.bob.pubkey().to_string(),
                "--source",
                "gifts",
                "--amount",
                "1",
            ],
        ),
        "unknown source",
    );
    check(s.sparks("nobody", &["pause"]), "cannot read keypair");
    check(s.sparks("alice", &["pause"]), "Unauthorized");
    check(s.sparks("alice", &["perk", "redeem", "99"]), "no perk 99");
    check(
        s.sparks("admin", &["--url", "gopher://x", "config", "show"]),
        "--url",
    );
    let other = Keypair::new().pubkey().to_string();
    check(
        s.sparks("admin", &["--program-id", &other, "config", "show"]),
        "this build of sparks talks to program",
    );
}

/// 1 000 CSV rows, the run killed half way, then run again: every wallet paid once.
#[test]
fn an_interrupted_csv_batch_pays_every_wallet_exactly_once() {
    // Arrange
    let s = Setup::initialized();
    let wallets: Vec<String> = (0..1_000)
        .map(|_| Keypair::new().pubkey().to_string())
        .collect();
    let csv = s.dir.path().join("awards.csv");
    let mut text = String::from("wallet,source,amount,reference\n");
    for (i, wallet) in wallets.iter().enumerate() {
        let source = if i % 2 == 0 { "trading" } else { "campaign" };
        text.push_str(&format!("{wallet},{source},{},row-{i}\n", 10 + i));
    }
    std::fs::write(&csv, text).unwrap();
    let journal = s.dir.path().join("awards.csv.journal");

    // Act 1: start, and kill -9 once about half the chunks are done.
    let mut child = Command::cargo_bin("sparks")
        .unwrap()
        .env("SPARKS_STATE_DIR", s.dir.path().join("state"))
        .args(["--url", s.chain.rpc_url(), "--keypair"])
        .arg(s.key("issuer"))
        .args(["award-batch", "--quiet", "--chunk", "6"])
        .arg(&csv)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let chunks = 1_000usize.div_ceil(6);
    wait_for(
        || done_lines(&journal) >= chunks / 2,
        Duration::from_secs(300),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before = done_lines(&journal);
    assert!(done_before < chunks, "killed too late to prove anything");

    // Act 2: run again to the end.
    let summary = s.json(
        "issuer",
        &[
            "award-batch",
            "--quiet",
            "--chunk",
            "6",
            csv.to_str().unwrap(),
        ],
    );

    // Assert
    assert_eq!(summary["rows"], 1_000);
    assert!(summary["rows_already_applied"].as_u64().unwrap() >= (done_before * 6) as u64 - 6);
    let rpc = sparks_client::rpc::SparksRpc::new(s.chain.rpc_url());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (i, wallet) in wallets.iter().enumerate() {
        let account = runtime
            .block_on(rpc.spark(&wallet.parse().unwrap()))
            .unwrap()
            .expect("paid");
        assert_eq!(
            (account.balance, account.seq),
            ((10 + i) as u64, 1),
            "wallet {i}"
        );
    }
    // A third run sends nothing.
    let again = s.json("issuer", &["award-batch", "--quiet", csv.to_str().unwrap()]);
    assert_eq!(again["rows_sent"], 0);
}

fn done_lines(journal: &Path) -> usize {
    std::fs::read_to_string(journal)
        .map_or(0, |t| t.lines().filter(|l| l.starts_with("done ")).count())
}

fn wait_for(condition: impl Fn() -> bool, limit: Duration) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keygen_writes_a_usable_keypair_and_refuses_to_overwrite() {
    let s = Setup::new();
    let path = s.dir.path().join("nested/new.json");
    let made = s.json("admin", &["keygen", "--outfile", path.to_str().unwrap()]);
    let pubkey = made["pubkey"].as_str().unwrap().to_string();
    let read = solana_keypair::read_keypair_file(&path).unwrap();
    assert_eq!(read.pubkey().to_string(), pubkey);
    let mut command = Command::cargo_bin("sparks").unwrap();
    command.args(["--keypair", path.to_str().unwrap(), "address"]);
    let output = command.output().unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed.trim(), pubkey, "text output is the bare key");
    s.sparks("admin", &["keygen", "--outfile", path.to_str().unwrap()])
        .failure()
        .stderr(predicate::str::contains("--force"));
}
