//! The worker lands the outbox on chain: every request paid exactly once,
//! checked from chain state (the recipients' SparkAccounts and the Issuer's
//! award ids), not from the service's own tables.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use solana_signer::Signer;
use support::{wallet, Service};

/// Polls `GET /v1/awards/{key}` until every key is in `state`.
async fn wait_for(service: &Service, token: &str, keys: &[String], state: &str) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let mut views = Vec::new();
        for key in keys {
            views.push(
                service
                    .get(Some(token), &format!("/v1/awards/{key}"))
                    .await
                    .1,
            );
        }
        if views.iter().all(|v| v["state"] == state) {
            return views;
        }
        let states: Vec<&str> = views
            .iter()
            .map(|v| v["state"].as_str().unwrap_or("?"))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not all {state} after 90 s: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_lands_once_and_finalizes() {
    // Arrange: 40 requests, 3 of them to one wallet, two references.
    let service = Service::start(true).await;
    let (_, token) = service.token("trading,campaign");
    let issuer = service.issuer_keypair.pubkey();
    let ids_before = service
        .rpc
        .issuer(&issuer)
        .await
        .unwrap()
        .unwrap()
        .next_award_id();
    let repeat = wallet();
    let mut expected: HashMap<String, u64> = HashMap::new();
    let mut requests = Vec::new();
    for i in 0..40u64 {
        let to = if i % 13 == 0 {
            repeat.clone()
        } else {
            wallet()
        };
        let (source, reference) = if i % 2 == 0 {
            ("trading", "00".repeat(32))
        } else {
            ("campaign", "ab".repeat(32))
        };
        *expected.entry(to.clone()).or_default() += i + 1;
        requests.push(
            json!({"key": format!("k-{i}"), "wallet": to, "source": source,
                             "amount": i + 1, "reference": reference}),
        );
    }
    let keys: Vec<String> = (0..40).map(|i| format!("k-{i}")).collect();
    // Act: sent in two calls, the second resent meanwhile.
    let (status, _) = service
        .post(&token, &Value::Array(requests[..20].to_vec()))
        .await;
    assert_eq!(status, 202);
    let (status, _) = service
        .post(&token, &Value::Array(requests[20..].to_vec()))
        .await;
    assert_eq!(status, 202);
    let landed = wait_for(&service, &token, &keys, "finalized").await;
    let (status, _) = service.post(&token, &Value::Array(requests.clone())).await;
    assert_eq!(status, 202, "replays after landing are answered, not paid");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Assert: from chain state, each wallet got exactly its awards.
    for (to, amount) in &expected {
        let account = service
            .rpc
            .spark(&to.parse().unwrap())
            .await
            .unwrap()
            .expect("the recipient's account");
        assert_eq!(account.balance, *amount, "{to}");
    }
    let on_chain = service.rpc.issuer(&issuer).await.unwrap().unwrap();
    assert_eq!(
        on_chain.next_award_id(),
        ids_before + 40,
        "40 award ids used, no more"
    );
    // Every request names its landed send, and the ids are distinct.
    let mut ids: Vec<u64> = landed
        .iter()
        .map(|v| v["award_id"].as_u64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    assert!(landed
        .iter()
        .all(|v| v["signature"].is_string() && v["slot"].is_u64()));
    let (_, health) = service.get(None, "/health").await;
    assert_eq!(health["queue"], json!({"finalized": 40}));
    assert_eq!(health["sender"], json!(issuer.to_string()));
    let (_, metrics) = service.get(None, "/metrics").await;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("sparks_issuer_awards_landed_total 40"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sparks_issuer_landing_seconds"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_at_random_points_the_service_pays_each_request_exactly_once() {
    // Arrange: 300 requests (every tenth to one of five repeat wallets),
    // posted before the first kill.
    let kills: usize = std::env::var("SPARKS_ISSUER_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("SPARKS_ISSUER_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("SPARKS_ISSUER_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut service = Service::start(true).await;
    let (_, token) = service.token("trading");
    let issuer = service.issuer_keypair.pubkey();
    let ids_before = service
        .rpc
        .issuer(&issuer)
        .await
        .unwrap()
        .unwrap()
        .next_award_id();
    let repeats: Vec<String> = (0..5).map(|_| wallet()).collect();
    let mut expected: HashMap<String, u64> = HashMap::new();
    let requests: Vec<Value> = (0..300u64)
        .map(|i| {
            let to = if i % 10 == 0 {
                repeats[(i / 10 % 5) as usize].clone()
            } else {
                wallet()
            };
            *expected.entry(to.clone()).or_default() += 1 + i % 7;
            json!({"key": format!("c-{i}"), "wallet": to, "source": "trading", "amount": 1 + i % 7})
        })
        .collect();
    for chunk in requests.chunks(100) {
        assert_eq!(
            service.post(&token, &Value::Array(chunk.to_vec())).await.0,
            202
        );
    }
    // Act: SIGKILL while it claims, sends and settles; each run resumes.
    let mut while_open = 0;
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..400))).await;
        let (_, health) = service.get(None, "/health").await;
        let open = ["pending", "sending", "landed"]
            .iter()
            .any(|s| health["queue"][s].as_i64().unwrap_or(0) > 0);
        while_open += usize::from(open);
        service.kill_and_restart().await;
    }
    assert!(
        while_open * 2 >= kills,
        "only {while_open} of {kills} kills landed before everything finalized"
    );
    let keys: Vec<String> = (0..300).map(|i| format!("c-{i}")).collect();
    let finalized = wait_for(&service, &token, &keys, "finalized").await;
    // Assert: from chain state, exactly once.
    for (to, amount) in &expected {
        let balance = service
            .rpc
            .spark(&to.parse().unwrap())
            .await
            .unwrap()
            .map(|a| a.balance);
        assert_eq!(balance, Some(*amount), "{to}");
    }
    let on_chain = service.rpc.issuer(&issuer).await.unwrap().unwrap();
    assert_eq!(
        on_chain.next_award_id(),
        ids_before + 300,
        "one id per request"
    );
    assert_eq!(finalized.len(), 300);
    println!(
        "{kills} kills ({while_open} with requests not yet final) while landing 300 requests: \
         each paid exactly once"
    );
}

/// A counter or gauge's value in a Prometheus text page.
fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_awarded_again_go_into_lookup_tables_and_batches_carry_more_rows() {
    // Arrange: 60 wallets awarded twice, which makes them hot.
    let service = Service::start(true).await;
    let (_, token) = service.token("trading");
    let wallets: Vec<String> = (0..60).map(|_| wallet()).collect();
    let round = |n: usize| -> (Vec<String>, Value) {
        let keys: Vec<String> = (0..60).map(|i| format!("r{n}-{i}")).collect();
        let body = keys
            .iter()
            .zip(&wallets)
            .map(|(key, to)| json!({"key": key, "wallet": to, "source": "trading", "amount": 1}))
            .collect();
        (keys, Value::Array(body))
    };
    for n in 1..=2 {
        let (keys, body) = round(n);
        assert_eq!(service.post(&token, &body).await.0, 202);
        wait_for(&service, &token, &keys, "finalized").await;
    }
    // The worker extends its table with the 120 addresses (and the 4 every
    // batch names) and waits for them to be usable.
    let started = Instant::now();
    loop {
        let (_, page) = service.get(None, "/metrics").await;
        let usable = metric(page.as_str().unwrap(), "sparks_issuer_lookup_addresses");
        if usable >= 124.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{usable} usable addresses after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Act: a third award to each.
    let (keys, body) = round(3);
    assert_eq!(service.post(&token, &body).await.0, 202);
    let landed = wait_for(&service, &token, &keys, "finalized").await;
    // Assert: a few v0 transactions naming the accounts through a table
    // (a legacy transaction holds at most 11 rows: 6 or more).
    let mut signatures: Vec<&str> = landed
        .iter()
        .map(|v| v["signature"].as_str().unwrap())
        .collect();
    signatures.sort();
    signatures.dedup();
    assert!(
        signatures.len() <= 3,
        "60 rows in {} transactions",
        signatures.len()
    );
    let tx: Value = reqwest::Client::new()
        .post(service.chain.rpc_url())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "getTransaction", "params": [
            signatures[0], {"encoding": "json", "maxSupportedTransactionVersion": 0, "commitment": "confirmed"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tx["result"]["version"], json!(0), "{tx}");
    let lookups = tx["result"]["transaction"]["message"]["addressTableLookups"]
        .as_array()
        .unwrap_or_else(|| panic!("{tx}"));
    assert!(!lookups.is_empty(), "{tx}");
    // From chain state: three awards each, no more.
    for to in &wallets {
        let account = service
            .rpc
            .spark(&to.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.balance, 3, "{to}");
    }
    let (_, page) = service.get(None, "/metrics").await;
    assert_eq!(
        metric(page.as_str().unwrap(), "sparks_issuer_lookup_tables"),
        1.0
    );
}
