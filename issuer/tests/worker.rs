//! The worker lands the outbox on chain: every request paid exactly once,
//! checked from chain state (the recipients' SparkAccounts and the Issuer's
//! award ids), not from the service's own tables.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

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
}
