//! Webhooks end to end: the local chain, the indexer running live, the
//! outbox in Postgres, the delivery worker, and a real HTTP receiver. Every
//! signature is checked by the Standard Webhooks reference library (Python,
//! from the venv ./scripts/test installs).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::instructions::{CreatePerkParams, WhitelistTerms};
use sparks::state::{PerkKind, Source};
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::scenario;
use sparks_indexer::webhooks::subscriptions::{self, NewSubscription};
use sparks_indexer::webhooks::worker::{Deliverer, DeliveryConfig};
use support::receiver::{Mode, Received, Receiver};
use support::{kills_wanted, run_live, Env};
use tokio::sync::watch;

/// The venv's Python (scripts/test exports it as `SPARKS_PYTHON`).
fn python() -> PathBuf {
    support::venv_tool("SPARKS_PYTHON", "python")
}

/// Verifies every request's signature with `secret` using the reference
/// library; how many verified, or what it said of the first that did not.
fn verify_independently(received: &[Received], secret: &str) -> Result<usize, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/verify.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for r in received {
        let line = json!({"secret": secret, "id": r.id, "timestamp": r.timestamp, "signature": r.signature, "body": r.body});
        input.push_str(&line.to_string());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

fn new_subscription(url: &str, events: &[&str]) -> NewSubscription {
    NewSubscription {
        url: url.to_owned(),
        event_types: events.iter().map(|e| e.to_string()).collect(),
        perk_kinds: Vec::new(),
        perk_ids: Vec::new(),
        commitment: "confirmed".into(),
        retry_for: Duration::from_secs(86_400),
        max_in_flight: 8,
    }
}

fn quick_delivery() -> DeliveryConfig {
    DeliveryConfig {
        timeout: Duration::from_millis(800),
        poll_interval: Duration::from_millis(200),
        lease: Duration::from_secs(5),
        max_backoff: Duration::from_secs(2),
        ..DeliveryConfig::default()
    }
}

/// Starts the delivery worker on the test's database.
fn deliver(
    env: &Env,
    config: DeliveryConfig,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (stop, shutdown) = watch::channel(false);
    let deliverer = Deliverer::new(env.store.pool().clone(), config).unwrap();
    let task = tokio::spawn(async move { deliverer.run(shutdown).await.unwrap() });
    (stop, task)
}

async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Activity touching every event type: awards (two wallets, one referred),
/// a referrer set, perks created and redeemed (two kinds), a whitelist
/// joined and a spot consumed by the example mint. Returns the wallets.
async fn activity(env: &Env, admin: &Keypair, issuer: &Keypair) -> (Keypair, Keypair) {
    let (alice, bob) = (Keypair::new(), Keypair::new());
    scenario::fund(&env.rpc, &[alice.pubkey(), bob.pubkey()], 10_000_000_000)
        .await
        .unwrap();
    let first = env
        .rpc
        .reserve_award_ids(&issuer.pubkey(), 8, true)
        .await
        .unwrap();
    let mut next = first;
    let mut award = |wallet: &Keypair, amount: u64, creates: bool, referrer: Option<&Keypair>| {
        let row = BatchRow {
            wallet: wallet.pubkey(),
            amount,
            referrer: referrer.map(|r| r.pubkey()),
            creates_account: creates,
            prefunded: false,
            pays_referral: referrer.is_some(),
        };
        next += 1;
        ix::award_batch(&issuer.pubkey(), Source::Trading, [4; 32], next - 1, &[row])
    };
    let bob_award = award(&bob, 100, true, None);
    env.rpc.send(&[bob_award], issuer, &[]).await.unwrap();
    env.rpc
        .send(
            &[ix::set_referrer(
                &alice.pubkey(),
                &alice.pubkey(),
                &bob.pubkey(),
            )],
            &alice,
            &[],
        )
        .await
        .unwrap();
    for amount in [600, 700] {
        let row = award(&alice, amount, false, Some(&bob));
        env.rpc.send(&[row], issuer, &[]).await.unwrap();
    }
    for (id, kind, cost) in [
        (1, PerkKind::DiscordRole, 50),
        (2, PerkKind::EventTicket, 30),
    ] {
        let params = CreatePerkParams {
            id,
            kind,
            cost,
            max_supply: 0,
            per_wallet_limit: 0,
            starts_at: 0,
            ends_at: i64::MAX,
            uri: format!("https://sparks.example/perks/{id}"),
        };
        env.rpc
            .send(
                &[ix::create_perk(&admin.pubkey(), None, params)],
                admin,
                &[],
            )
            .await
            .unwrap();
    }
    for (perk, cost) in [(1, 50), (2, 30), (1, 50)] {
        env.rpc
            .send(
                &[ix::redeem_perk(
                    &alice.pubkey(),
                    &alice.pubkey(),
                    perk,
                    None,
                    cost,
                )],
                &alice,
                &[],
            )
            .await
            .unwrap();
    }
    let terms = WhitelistTerms {
        consumer: example_mint::minter_address().0,
        capacity: 10,
        spots_per_wallet: 1,
        min_lifetime_sparks: 100,
        starts_at: 0,
        ends_at: i64::MAX,
    };
    env.rpc
        .send(
            &[ix::create_whitelist(
                &admin.pubkey(),
                9,
                &admin.pubkey(),
                terms,
            )],
            admin,
            &[],
        )
        .await
        .unwrap();
    env.rpc
        .send(
            &[ix::join_whitelist(&alice.pubkey(), &alice.pubkey(), 9)],
            &alice,
            &[],
        )
        .await
        .unwrap();
    let (mint, token) = (Keypair::new(), Keypair::new());
    env.rpc
        .send(
            &[ix::example_mint_nft(
                &alice.pubkey(),
                9,
                &mint.pubkey(),
                &token.pubkey(),
            )],
            &alice,
            &[&mint, &token],
        )
        .await
        .unwrap();
    (alice, bob)
}

/// The notifiable events stored, by type, and each one's `webhook-id`.
async fn stored_notices(env: &Env) -> BTreeMap<String, Vec<String>> {
    let kinds: HashMap<&str, &str> = [
        ("SparksAwarded", "sparks.awarded"),
        ("SparksRevoked", "sparks.revoked"),
        ("ReferrerSet", "referrer.set"),
        ("PerkRedeemed", "perk.redeemed"),
        ("PerkCreated", "perk.created"),
        ("PerkUpdated", "perk.updated"),
        ("WhitelistSpotGranted", "whitelist.spot_granted"),
        ("WhitelistSpotConsumed", "whitelist.spot_consumed"),
    ]
    .into();
    let rows: Vec<(String, i32, String)> = sqlx::query_as(
        "SELECT signature, event_index, kind FROM events ORDER BY slot, signature, event_index",
    )
    .fetch_all(env.store.pool())
    .await
    .unwrap();
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (signature, index, kind) in rows {
        if let Some(event_type) = kinds.get(kind.as_str()) {
            by_type
                .entry(event_type.to_string())
                .or_default()
                .push(format!("evt_{signature}_{index}"));
        }
    }
    by_type
}

/// Every notifiable event's `webhook-id`, of whatever type.
async fn stored_ids(env: &Env) -> Vec<String> {
    stored_notices(env).await.into_values().flatten().collect()
}

/// Per wallet, the (slot, event_index) of its applied deliveries never goes back.
fn assert_in_order_per_wallet(applied: &[(String, String)]) {
    let mut last: HashMap<String, (i64, i64)> = HashMap::new();
    for (id, body) in applied {
        let body: Value = serde_json::from_str(body).unwrap();
        let Some(wallet) = body["data"]["wallet"].as_str() else {
            continue;
        };
        let tx = &body["data"]["transaction"];
        let at = (
            tx["slot"].as_i64().unwrap(),
            tx["event_index"].as_i64().unwrap(),
        );
        if let Some(previous) = last.insert(wallet.to_owned(), at) {
            assert!(
                previous <= at,
                "{wallet}: {id} at {at:?} after {previous:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_events_are_delivered_signed_and_filtered_and_nothing_else() {
    let env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let everything = Receiver::start().await;
    let discord = Receiver::start().await;
    let all_types = sparks_indexer::webhooks::events::EVENT_TYPES;
    let (_, all_secret) = subscriptions::add(
        env.store.pool(),
        &new_subscription(&everything.url, &all_types),
    )
    .await
    .unwrap();
    let mut only_discord = new_subscription(&discord.url, &["perk.redeemed"]);
    only_discord.perk_kinds = vec!["discord_role".into()];
    let (_, discord_secret) = subscriptions::add(env.store.pool(), &only_discord)
        .await
        .unwrap();

    let (stop_indexing, indexing) = run_live(&env, env.chain.ws_url().to_owned()).await;
    let (stop_delivering, delivering) = deliver(&env, quick_delivery());
    activity(&env, &admin, &issuer).await;

    // Everything the first subscription asked for: every notifiable event stored.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stored = stored_notices(&env).await;
    let expected: usize = stored.values().map(Vec::len).sum();
    assert!(
        stored.get("sparks.awarded").map_or(0, Vec::len) >= 3,
        "{stored:?}"
    );
    for (event_type, want) in [
        ("referrer.set", 1),
        ("perk.created", 2),
        ("perk.redeemed", 3),
        ("whitelist.spot_granted", 1),
        ("whitelist.spot_consumed", 1),
    ] {
        assert_eq!(
            stored.get(event_type).map_or(0, Vec::len),
            want,
            "{event_type} stored: {stored:?}"
        );
    }
    until("every notice delivered", Duration::from_secs(30), || {
        everything.applied().len() >= expected
    })
    .await;
    until("the discord redemptions", Duration::from_secs(30), || {
        discord.applied().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let received = everything.received();
    let mut ids: Vec<String> = received.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let mut want: Vec<String> = stored.values().flatten().cloned().collect();
    want.sort();
    assert_eq!(
        ids, want,
        "each stored notice delivered exactly once to a receiver that always said 2xx"
    );
    for r in &received {
        let body = r.json();
        assert!(all_types.contains(&body["type"].as_str().unwrap()));
        assert!(
            body["data"]["transaction"]["signature"].is_string(),
            "{body}"
        );
    }
    assert_in_order_per_wallet(&everything.applied());

    // The filter: discord-role redemptions only (2 of the 3), nothing else.
    let filtered = discord.received();
    assert_eq!(filtered.len(), 2, "{filtered:?}");
    for r in &filtered {
        let body = r.json();
        assert_eq!(body["type"], "perk.redeemed");
        assert_eq!(body["data"]["perk"]["kind"], "discord_role");
    }

    // An independent implementation verifies every signature; a wrong secret fails.
    assert_eq!(
        verify_independently(&received, &all_secret).unwrap(),
        received.len()
    );
    assert_eq!(
        verify_independently(&filtered, &discord_secret).unwrap(),
        filtered.len()
    );
    let bad = verify_independently(&filtered[..1], &all_secret);
    assert!(
        bad.as_ref()
            .is_err_and(|e| e.contains("No matching signature")),
        "a signature verified with another subscription's secret: {bad:?}"
    );

    stop_delivering.send(true).unwrap();
    delivering.await.unwrap();
    stop_indexing.send(true).unwrap();
    indexing.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_failing_slow_or_busy_still_gets_everything_once_in_order() {
    let env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    // The receiver is down to start with.
    let (url, port) = Receiver::down();
    let all_types = sparks_indexer::webhooks::events::EVENT_TYPES;
    let (id, secret) = subscriptions::add(env.store.pool(), &new_subscription(&url, &all_types))
        .await
        .unwrap();
    let (stop_indexing, indexing) = run_live(&env, env.chain.ws_url().to_owned()).await;
    let (stop_delivering, delivering) = deliver(&env, quick_delivery());
    activity(&env, &admin, &issuer).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let expected: usize = stored_notices(&env).await.values().map(Vec::len).sum();

    // Up, but answering 500, then too slowly, then 429 with Retry-After.
    let receiver = Receiver::start_on(port).await;
    for mode in [
        Mode::Error500,
        Mode::Slow(Duration::from_millis(1500)),
        Mode::TooMany(1),
    ] {
        receiver.set_mode(mode);
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    let statuses: Vec<u16> = receiver.received().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&500) && statuses.contains(&429),
        "{statuses:?}"
    );
    let retry_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1 AND attempts > 1",
    )
    .bind(id)
    .fetch_one(env.store.pool())
    .await
    .unwrap();
    assert!(retry_rows > 0, "deliveries were retried");
    receiver.set_mode(Mode::Ok);
    until("everything delivered", Duration::from_secs(60), || {
        receiver.applied().len() >= expected
    })
    .await;
    let applied = receiver.applied();
    assert_eq!(applied.len(), expected, "each webhook-id's effect once");
    assert_in_order_per_wallet(&applied);
    let list = subscriptions::list(env.store.pool()).await.unwrap();
    assert_eq!((list[0].pending, list[0].dead), (0, 0), "{list:?}");
    // Every attempt, failed ones included, carried a valid signature.
    let received = receiver.received();
    assert_eq!(
        verify_independently(&received, &secret).unwrap(),
        received.len()
    );
    println!(
        "{} notices, {} requests to a receiver down, then 500, slow, 429: all delivered once, in order per wallet",
        expected,
        received.len()
    );

    stop_delivering.send(true).unwrap();
    delivering.await.unwrap();
    stop_indexing.send(true).unwrap();
    indexing.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_and_410_disables_the_subscription() {
    let env = Env::start().await;
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    let receiver = Receiver::start().await;
    let (id, old) = subscriptions::add(
        env.store.pool(),
        &new_subscription(&receiver.url, &["sparks.awarded"]),
    )
    .await
    .unwrap();
    let new = subscriptions::rotate_secret(env.store.pool(), id, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_ne!(old, new);
    let (stop_indexing, indexing) = run_live(&env, env.chain.ws_url().to_owned()).await;
    let (stop_delivering, delivering) = deliver(&env, quick_delivery());
    let (chain, issuer) = (&env, &issuer);
    let award = |i: u64| async move {
        let env = chain;
        let first = env
            .rpc
            .reserve_award_ids(&issuer.pubkey(), 1, true)
            .await
            .unwrap();
        let row = BatchRow {
            wallet: Keypair::new().pubkey(),
            amount: 10 + i,
            referrer: None,
            creates_account: true,
            prefunded: false,
            pays_referral: false,
        };
        env.rpc
            .send(
                &[ix::award_batch(
                    &issuer.pubkey(),
                    Source::Campaign,
                    [5; 32],
                    first,
                    &[row],
                )],
                &issuer,
                &[],
            )
            .await
            .unwrap();
    };
    award(0).await;
    until("the first delivery", Duration::from_secs(20), || {
        receiver.applied().len() == 1
    })
    .await;
    let received = receiver.received();
    assert_eq!(
        received[0].signature.split(' ').count(),
        2,
        "both secrets sign during the grace period"
    );
    assert_eq!(
        verify_independently(&received, &old).unwrap(),
        1,
        "receivers holding the old secret"
    );
    assert_eq!(
        verify_independently(&received, &new).unwrap(),
        1,
        "receivers holding the new one"
    );

    // 410 Gone: the subscription is disabled and nothing more is sent.
    receiver.set_mode(Mode::Gone);
    award(1).await;
    until("the 410", Duration::from_secs(20), || {
        receiver.received().len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let list = subscriptions::list(env.store.pool()).await.unwrap();
    assert!(list[0].disabled, "{list:?}");
    assert_eq!(
        list[0].disabled_reason.as_deref(),
        Some("the receiver answered 410 Gone")
    );
    receiver.set_mode(Mode::Ok);
    award(2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.received().len(),
        2,
        "a disabled subscription gets nothing"
    );
    // A replay re-enables it and sends the range again: the delivered one,
    // the one the 410 answered, and the one made while it was disabled.
    let due = subscriptions::replay(env.store.pool(), id, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(due, 3);
    until("the replay", Duration::from_secs(20), || {
        receiver.applied().len() == 3
    })
    .await;

    stop_delivering.send(true).unwrap();
    delivering.await.unwrap();
    stop_indexing.send(true).unwrap();
    indexing.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_to_the_webhooks_cli_gets_a_clear_error() {
    let pg = sparks_pglocal::PgServer::start().unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sparks-indexer"))
            .arg("webhooks")
            .args(args)
            .env("DATABASE_URL", pg.url())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = cli(&[
        "add",
        "--url",
        "http://127.0.0.1:9/hooks",
        "--event",
        "perk.redeemed",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("subscription #1") && out.contains("whsec_"),
        "{out}"
    );
    for (args, says) in [
        (
            vec!["add", "--url", "not a url", "--event", "perk.redeemed"],
            "is not an http(s) URL",
        ),
        (
            vec![
                "add",
                "--url",
                "ftp://example.com/x",
                "--event",
                "perk.redeemed",
            ],
            "only http and https",
        ),
        (
            vec![
                "add",
                "--url",
                "https://example.com/x",
                "--event",
                "perk.bought",
            ],
            "unknown event type \"perk.bought\"",
        ),
        (
            vec![
                "add",
                "--url",
                "https://example.com/x",
                "--event",
                "perk.redeemed",
                "--perk-kind",
                "hat",
            ],
            "unknown perk kind \"hat\"",
        ),
        (
            vec![
                "add",
                "--url",
                "https://example.com/x",
                "--event",
                "perk.redeemed",
                "--commitment",
                "processed",
            ],
            "confirmed or finalized",
        ),
        (
            vec![
                "add",
                "--url",
                "http://127.0.0.1:9/hooks",
                "--event",
                "sparks.awarded",
            ],
            "exists already (#1)",
        ),
        (vec!["disable", "42"], "no subscription #42"),
        (vec!["rotate-secret", "42"], "no subscription #42"),
        (
            vec!["replay", "1", "--from-slot", "10", "--to-slot", "5"],
            "is past --to-slot",
        ),
    ] {
        let (ok, out) = cli(&args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(out.contains(says), "{args:?}: expected {says:?} in:\n{out}");
    }
    let (ok, out) = cli(&["list"]);
    assert!(
        ok && out.contains("\"url\":\"http://127.0.0.1:9/hooks\""),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexer_sigkilled_while_delivering_loses_no_delivery_and_repeats_only_ids() {
    use rand::Rng;
    let mut rng = support::crash_rng();
    let chain =
        sparks_localnet::Localnet::start(sparks_localnet::LocalnetConfig::default()).unwrap();
    let rpc = sparks_client::rpc::SparksRpc::new(chain.rpc_url());
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    scenario::deploy(&rpc, &admin, &issuer).await.unwrap();
    let pg = sparks_pglocal::PgServer::start().unwrap();
    let store = sparks_indexer::store::Store::connect(&pg.url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let receiver = Receiver::start().await;
    let (_, secret) = subscriptions::add(
        store.pool(),
        &new_subscription(&receiver.url, &["sparks.awarded"]),
    )
    .await
    .unwrap();

    // Awards keep landing, five wallets in turn (so order per wallet matters).
    let awards = 8 * kills_wanted();
    let wallets: Vec<_> = (0..5).map(|_| Keypair::new().pubkey()).collect();
    let sender = tokio::spawn(async move {
        for i in 0..awards {
            rpc.award(
                &issuer,
                &wallets[i % 5],
                Source::Trading,
                1 + i as u64,
                [(i % 251) as u8; 32],
            )
            .await
            .unwrap();
        }
    });
    let run = |chain: &sparks_localnet::Localnet| {
        Command::new(env!("CARGO_BIN_EXE_sparks-indexer"))
            .args(["run", "--no-api", "--poll-ms", "200"])
            .env("DATABASE_URL", pg.url())
            .env("SPARKS_RPC_URL", chain.rpc_url())
            .env("SPARKS_WS_URL", chain.ws_url())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut kills = 0;
    let mut delivered_at_kills = Vec::new();
    while !sender.is_finished() || kills < kills_wanted() {
        let mut child = run(&chain);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(50..800))).await;
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        kills += 1;
        delivered_at_kills.push(receiver.applied().len());
        // At every kill, each stored event is in the outbox or has its delivery.
        let uncovered: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events e WHERE kind = 'SparksAwarded'
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                               WHERE d.signature = e.signature AND d.event_index = e.event_index)
               AND NOT EXISTS (SELECT 1 FROM webhook_outbox o WHERE e.signature = ANY (o.signatures))",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(
            uncovered, 0,
            "stored events without outbox row or delivery at kill {kills}"
        );
    }
    sender.await.unwrap();
    // One last run until every delivery is done.
    let mut child = run(&chain);
    let expected = awards;
    until("every award delivered", Duration::from_secs(90), || {
        receiver.applied().len() >= expected
    })
    .await;
    child.kill().unwrap();
    let _ = child.wait();

    // No event without its delivery, and no delivery without its event.
    let (events, deliveries, orphans): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE kind = 'SparksAwarded'),
                (SELECT count(*) FROM webhook_deliveries),
                (SELECT count(*) FROM events e WHERE kind = 'SparksAwarded' AND NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries d
                     WHERE d.signature = e.signature AND d.event_index = e.event_index))",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        (events, deliveries, orphans),
        (awards as i64, awards as i64, 0)
    );
    // None lost; repeats only as the same webhook-id; each effect once, in order per wallet.
    let stored = stored_notices_of(&store).await;
    let applied = receiver.applied();
    let mut applied_ids: Vec<String> = applied.iter().map(|(id, _)| id.clone()).collect();
    applied_ids.sort();
    assert_eq!(applied_ids, stored);
    let received = receiver.received();
    assert!(
        received.iter().all(|r| stored.binary_search(&r.id).is_ok()),
        "an unknown webhook-id"
    );
    assert_in_order_per_wallet(&applied);
    assert_eq!(
        verify_independently(&received, &secret).unwrap(),
        received.len()
    );
    println!(
        "{kills} kills while {awards} awards were delivered ({} requests, {} repeats of an id); \
         delivered at the kills: {delivered_at_kills:?}",
        received.len(),
        received.len() - applied.len()
    );
}

async fn stored_notices_of(store: &sparks_indexer::store::Store) -> Vec<String> {
    let mut ids: Vec<String> = sqlx::query_scalar(
        "SELECT 'evt_' || signature || '_' || event_index FROM events WHERE kind = 'SparksAwarded'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_is_rolled_back_where_told_and_finalized_waits_for_finality() {
    // Arrange: every instruction's transactions stored unfinalized; one
    // subscription at `confirmed`, one at `finalized`, both to everything.
    let env = Env::start().await;
    let outcome = scenario::every_instruction(&env.rpc).await.unwrap();
    let mut transactions = env.transactions().await;
    for t in &mut transactions {
        t.finalized = false;
    }
    let all_types = sparks_indexer::webhooks::events::EVENT_TYPES;
    let confirmed = Receiver::start().await;
    let finalized = Receiver::start().await;
    let (_, confirmed_secret) = subscriptions::add(
        env.store.pool(),
        &new_subscription(&confirmed.url, &all_types),
    )
    .await
    .unwrap();
    let mut at_finality = new_subscription(&finalized.url, &all_types);
    at_finality.commitment = "finalized".into();
    let (finalized_id, _) = subscriptions::add(env.store.pool(), &at_finality)
        .await
        .unwrap();
    // A third receiver starts failing (500) just before the last
    // transaction: it was sent that one's notices, and may have acted.
    let failing = Receiver::start().await;
    let (failing_id, failing_secret) = subscriptions::add(
        env.store.pool(),
        &new_subscription(&failing.url, &all_types),
    )
    .await
    .unwrap();
    let (stop_delivering, delivering) = deliver(&env, quick_delivery());
    let dropped = outcome.signatures.last().unwrap().to_string();
    let (last, before): (Vec<_>, Vec<_>) = transactions
        .iter()
        .cloned()
        .partition(|t| t.signature == dropped);
    env.store.apply(&before, None).await.unwrap();
    let stored_before = stored_ids(&env).await.len();
    until(
        "the failing receiver's notices before",
        Duration::from_secs(30),
        || failing.applied().len() >= stored_before,
    )
    .await;
    failing.set_mode(Mode::Error500);
    env.store.apply(&last, None).await.unwrap();
    let stored: Vec<String> = stored_ids(&env).await;
    until("every notice at confirmed", Duration::from_secs(30), || {
        confirmed.applied().len() >= stored.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        finalized.received().is_empty(),
        "nothing is final yet: {:?}",
        finalized.received()
    );

    // Act: the last redemption's fork is dropped, once the failing
    // receiver was sent its first notice (the wallet's next waits behind it).
    let told: Vec<Received> = confirmed
        .received()
        .into_iter()
        .filter(|r| r.json()["data"]["transaction"]["signature"] == dropped.as_str())
        .collect();
    assert!(
        told.iter().any(|r| r.json()["type"] == "perk.redeemed"),
        "{told:?}"
    );
    support::wait_for(
        &env.store,
        &format!(
            "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = {failing_id} \
             AND signature = '{dropped}' AND attempts > 0"
        ),
        1,
        Duration::from_secs(30),
    )
    .await;
    let attempted: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT message_id FROM webhook_deliveries WHERE subscription_id = {failing_id} \
         AND signature = '{dropped}' AND attempts > 0"
    ))
    .fetch_all(env.store.pool())
    .await
    .unwrap();
    env.store
        .roll_back(std::slice::from_ref(&dropped))
        .await
        .unwrap();

    // Assert: each notice the confirmed receiver had gets its rollback:
    // its own id plus `_rolled_back`, the same data, signed.
    until("the rollback notices", Duration::from_secs(30), || {
        confirmed.received().len() >= stored.len() + told.len()
    })
    .await;
    let received = confirmed.received();
    let notices: Vec<&Received> = received[stored.len()..].iter().collect();
    assert_eq!(notices.len(), told.len(), "{notices:?}");
    for original in &told {
        let notice = notices
            .iter()
            .find(|n| n.id == format!("{}_rolled_back", original.id))
            .unwrap_or_else(|| panic!("no rollback notice for {}", original.id));
        let (was, now) = (original.json(), notice.json());
        assert_eq!(
            now["type"],
            format!("{}.rolled_back", was["type"].as_str().unwrap())
        );
        assert_eq!(now["data"], was["data"]);
        assert_eq!(now["timestamp"], was["timestamp"]);
    }
    assert_eq!(
        verify_independently(&received, &confirmed_secret).unwrap(),
        received.len()
    );

    // The finalized subscription: its dropped deliveries are cancelled, and
    // the rest go once the chain finalizes them; no rollback notice.
    let kept: Vec<String> = transactions
        .iter()
        .map(|t| t.signature.clone())
        .filter(|s| *s != dropped)
        .collect();
    env.store.mark_finalized(&kept, u64::MAX / 2).await.unwrap();
    let want: Vec<String> = stored
        .iter()
        .filter(|id| !id.contains(&dropped))
        .cloned()
        .collect();
    until(
        "every kept notice at finalized",
        Duration::from_secs(30),
        || finalized.applied().len() >= want.len(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut ids: Vec<String> = finalized.received().into_iter().map(|r| r.id).collect();
    ids.sort();
    let mut want = want;
    want.sort();
    assert_eq!(ids, want);
    let cancelled = support::count(
        &env.store,
        &format!(
            "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = {finalized_id} \
             AND signature = '{dropped}' AND state = 'cancelled'"
        ),
    )
    .await;
    assert_eq!(cancelled as usize, told.len());

    // The failing receiver recovers: it gets a rollback notice for each
    // dropped notice it was sent, and never one of the dropped ones.
    failing.set_mode(Mode::Ok);
    let want_failing = stored_before + attempted.len();
    until(
        "the failing receiver's rollback notices",
        Duration::from_secs(30),
        || failing.applied().len() >= want_failing,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut got: Vec<String> = failing.applied().into_iter().map(|(id, _)| id).collect();
    got.sort();
    let mut want_back: Vec<String> = stored
        .iter()
        .filter(|id| !id.contains(&dropped))
        .cloned()
        .chain(attempted.iter().map(|id| format!("{id}_rolled_back")))
        .collect();
    want_back.sort();
    assert_eq!(got, want_back);
    let from_failing = failing.received();
    assert_eq!(
        verify_independently(&from_failing, &failing_secret).unwrap(),
        from_failing.len()
    );
    println!(
        "{} notices; {} rolled back to the confirmed receiver; {cancelled} cancelled for the \
         finalized one, which got the {} kept once final",
        stored.len(),
        told.len(),
        ids.len()
    );
    stop_delivering.send(true).unwrap();
    delivering.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_queued_without_a_subscription_and_a_new_one_starts_with_later_events() {
    // Arrange: the scenario's transactions in three parts: the first stored
    // with no subscription, the second with one, the third with two.
    let env = Env::start().await;
    scenario::every_instruction(&env.rpc).await.unwrap();
    let transactions = env.transactions().await;
    // Split so each part has notices.
    let with_notices: Vec<usize> = (0..transactions.len())
        .filter(|&n| {
            transactions[n]
                .events
                .iter()
                .any(|e| sparks_indexer::webhooks::events::is_notifiable(&e.event))
        })
        .collect();
    let third = with_notices.len() / 3;
    let (first, rest) = transactions.split_at(with_notices[third]);
    let (second, last) = rest.split_at(with_notices[2 * third] - with_notices[third]);
    let queued = |env: &Env| {
        let store = env.store.clone();
        async move { support::count(&store, "SELECT count(*) FROM webhook_outbox").await }
    };
    let all_types = sparks_indexer::webhooks::events::EVENT_TYPES;
    env.store.apply(first, None).await.unwrap();
    assert_eq!(queued(&env).await, 0, "no subscription, nothing queued");
    let in_first = stored_ids(&env).await;
    let early = Receiver::start().await;
    subscriptions::add(env.store.pool(), &new_subscription(&early.url, &all_types))
        .await
        .unwrap();
    env.store.apply(second, None).await.unwrap();
    let in_first_two = stored_ids(&env).await;
    let late = Receiver::start().await;
    subscriptions::add(env.store.pool(), &new_subscription(&late.url, &all_types))
        .await
        .unwrap();
    env.store.apply(last, None).await.unwrap();
    assert_eq!(
        queued(&env).await,
        2,
        "one outbox row per batch stored while subscribed"
    );

    // Act: the worker starts only now, with both rows waiting.
    let (stop_delivering, delivering) = deliver(&env, quick_delivery());

    // Assert: each subscription gets the notices stored since it began.
    let all = stored_ids(&env).await;
    let since = |before: &[String]| {
        let mut ids: Vec<String> = all
            .iter()
            .filter(|id| !before.contains(id))
            .cloned()
            .collect();
        ids.sort();
        ids
    };
    let (want_early, want_late) = (since(&in_first), since(&in_first_two));
    assert!(!in_first.is_empty() && want_late.len() < want_early.len() && !want_late.is_empty());
    until(
        "both subscriptions' notices",
        Duration::from_secs(30),
        || early.applied().len() >= want_early.len() && late.applied().len() >= want_late.len(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    for (receiver, want) in [(&early, want_early), (&late, want_late)] {
        let mut got: Vec<String> = receiver.received().into_iter().map(|r| r.id).collect();
        got.sort();
        assert_eq!(got, want);
    }
    assert_eq!(queued(&env).await, 0, "the outbox is emptied");
    stop_delivering.send(true).unwrap();
    delivering.await.unwrap();
}
