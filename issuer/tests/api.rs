//! The `sparks-issuer` binary as the app's back end calls it: a real
//! Postgres, the local chain over JSON-RPC, tokens made with the CLI, and
//! HTTP from outside the process. Every input gets its exact status and a
//! JSON error; nothing answers 5xx.

mod support;

use serde_json::{json, Value};
use sparks_pglocal::PgServer;
use support::{cli, wallet, Service};

/// What, method, path, token, body, expected status, expected error code.
type Case<'a> = (
    &'a str,
    reqwest::Method,
    String,
    Option<&'a str>,
    Option<Vec<u8>>,
    u16,
    &'a str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awards_are_accepted_once_and_shown_by_key_and_by_wallet() {
    // Arrange
    let service = Service::start(false).await;
    let (_, token) = service.token("trading,subscription");
    let alice = wallet();
    let trade = json!({"key": "trade-1", "wallet": alice, "source": "trading", "amount": 40,
                       "reference": "11".repeat(32)});
    // Act: one request, the same again, then a batch.
    let (first_status, first) = service.post(&token, &trade).await;
    let (again_status, again) = service.post(&token, &trade).await;
    let batch = json!([
        {"key": "trade-2", "wallet": alice, "source": "trading", "amount": 5},
        {"key": "sub-1", "wallet": alice, "source": "subscription", "amount": 100},
        {"key": "trade-3", "wallet": wallet(), "source": "trading", "amount": 7},
    ]);
    let (batch_status, batch_answer) = service.post(&token, &batch).await;
    // Assert
    assert_eq!(first_status, 202, "{first}");
    assert_eq!(first["awards"][0]["state"], "pending");
    assert_eq!(first["awards"][0]["amount"], 40);
    assert_eq!(first["awards"][0]["reference"], "11".repeat(32));
    assert_eq!(
        (again_status, &again),
        (202, &first),
        "a replay answers the first request"
    );
    assert_eq!(batch_status, 202, "{batch_answer}");
    assert_eq!(batch_answer["awards"].as_array().unwrap().len(), 3);
    let (status, one) = service.get(Some(&token), "/v1/awards/trade-1").await;
    assert_eq!((status, &one), (200, &first["awards"][0]));
    let (status, mine) = service
        .get(
            Some(&token),
            &format!("/v1/wallets/{alice}/awards?state=pending"),
        )
        .await;
    assert_eq!(status, 200, "{mine}");
    let keys: Vec<&str> = mine["awards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["sub-1", "trade-2", "trade-1"]);
    let rows: i64 = {
        let (ok, stdout, stderr) = cli(&service.pg, &["queue"]);
        assert!(ok, "{stderr}");
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("pending\t"))
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    assert_eq!(rows, 4, "one row per key, the replay included once");
    let (status, health) = service.get(None, "/health").await;
    assert_eq!((status, &health["queue"]["pending"]), (200, &json!(4)));
    assert_eq!(health["sender"], Value::Null, "no worker without a keypair");
    let (status, doc) = service.get(None, "/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/v1/awards",
        "/v1/awards/{key}",
        "/v1/wallets/{wallet}/awards",
        "/health",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    let params = doc["paths"]["/v1/wallets/{wallet}/awards"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for name in ["state", "limit"] {
        let param = params.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(
            (&param["in"], &param["required"]),
            (&json!("query"), &json!(false)),
            "{param}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let (status, metrics) = service.get(None, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("sparks_issuer_requests_accepted_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_status_and_a_json_error() {
    // Arrange
    let service = Service::start(false).await;
    let (_, token) = service.token("trading");
    let (revoked_id, revoked) = service.token("trading");
    let (ok, _, stderr) = cli(
        &service.pg,
        &["token", "revoke", "--id", &revoked_id.to_string()],
    );
    assert!(ok, "{stderr}");
    let w = wallet();
    let good = json!({"key": "k-1", "wallet": w, "source": "trading", "amount": 3});
    assert_eq!(service.post(&token, &good).await.0, 202);
    let raw = |text: &str| Some(text.as_bytes().to_vec());
    let too_big = Some(vec![b' '; (1 << 20) + 1]);
    let (post, get) = (reqwest::Method::POST, reqwest::Method::GET);
    let cases: Vec<Case> = vec![
        ("malformed JSON", post.clone(), "/v1/awards".into(), Some(&token), raw("{\"key\":"), 400, "invalid_json"),
        ("a field twice", post.clone(), "/v1/awards".into(), Some(&token),
            Some(format!(r#"{{"key":"k-2","wallet":"{w}","source":"trading","amount":1,"amount":9}}"#).into_bytes()), 400, "invalid_json"),
        ("not an object", post.clone(), "/v1/awards".into(), Some(&token), raw("42"), 400, "invalid_body"),
        ("empty batch", post.clone(), "/v1/awards".into(), Some(&token), raw("[]"), 400, "empty_batch"),
        ("wrong type", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-2", "wallet": w, "source": "trading", "amount": "3"})).unwrap()), 400, "invalid_type"),
        ("unknown field", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-2", "wallet": w, "source": "trading", "amount": 3, "memo": "x"})).unwrap()), 400, "unknown_field"),
        ("bad wallet", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-2", "wallet": "0OIl", "source": "trading", "amount": 3})).unwrap()), 400, "invalid_wallet"),
        ("unknown source", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-2", "wallet": w, "source": "gift", "amount": 3})).unwrap()), 400, "invalid_source"),
        ("zero amount", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-2", "wallet": w, "source": "trading", "amount": 0})).unwrap()), 400, "invalid_amount"),
        ("over the cap", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-2", "wallet": w, "source": "trading", "amount": u64::MAX})).unwrap()), 400, "amount_over_cap"),
        ("oversized body", post.clone(), "/v1/awards".into(), Some(&token), too_big, 413, "body_too_large"),
        ("no token", post.clone(), "/v1/awards".into(), None, Some(serde_json::to_vec(&good).unwrap()), 401, "unauthorized"),
        ("wrong token", post.clone(), "/v1/awards".into(), Some("spk_notatoken"), Some(serde_json::to_vec(&good).unwrap()), 401, "unauthorized"),
        ("revoked token", post.clone(), "/v1/awards".into(), Some(&revoked), Some(serde_json::to_vec(&good).unwrap()), 401, "unauthorized"),
        ("wrong scope", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-3", "wallet": w, "source": "campaign", "amount": 3})).unwrap()), 403, "forbidden"),
        ("used key, other body", post.clone(), "/v1/awards".into(), Some(&token),
            Some(serde_json::to_vec(&json!({"key": "k-1", "wallet": w, "source": "trading", "amount": 4})).unwrap()), 409, "key_conflict"),
        ("unknown key", get.clone(), "/v1/awards/nope".into(), Some(&token), None, 404, "unknown_key"),
        ("no token on a read", get.clone(), "/v1/awards/k-1".into(), None, None, 401, "unauthorized"),
        ("bad wallet on a read", get.clone(), "/v1/wallets/xyz/awards".into(), Some(&token), None, 400, "invalid_wallet"),
        ("bad state", get.clone(), format!("/v1/wallets/{w}/awards?state=lost"), Some(&token), None, 400, "invalid_state"),
        ("bad limit", get.clone(), format!("/v1/wallets/{w}/awards?limit=0"), Some(&token), None, 400, "invalid_limit"),
        ("unknown endpoint", get.clone(), "/v1/nothing".into(), Some(&token), None, 404, "not_found"),
        ("wrong method", get.clone(), "/v1/awards".into(), Some(&token), None, 405, "method_not_allowed"),
    ];
    // Act + Assert
    for (what, method, path, token, body, status, code) in cases {
        let (got, answer) = service.call(method, &path, token, body).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{what}: {answer}"
        );
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {answer}"
        );
    }
    // A conflicting batch accepted nothing, not even its new key.
    let mixed = json!([
        {"key": "k-9", "wallet": w, "source": "trading", "amount": 1},
        {"key": "k-1", "wallet": w, "source": "trading", "amount": 99},
    ]);
    assert_eq!(service.post(&token, &mixed).await.0, 409);
    assert_eq!(service.get(Some(&token), "/v1/awards/k-9").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_sharing_new_keys_in_opposite_orders_are_both_accepted() {
    // Two calls naming the same new keys in opposite orders: each held a
    // key the other waited for, and Postgres broke the deadlock by failing
    // one (503 in 20 rounds of 20).
    let service = Service::start(false).await;
    let (_, token) = service.token("trading");
    for round in 0..20 {
        let requests: Vec<serde_json::Value> = (0..40)
            .map(|n| {
                json!({"key": format!("r{round}-{n:02}"), "wallet": wallet(),
                       "source": "trading", "amount": 1})
            })
            .collect();
        let forward = serde_json::Value::Array(requests.clone());
        let backward = serde_json::Value::Array(requests.into_iter().rev().collect());
        let (a, b) = tokio::join!(
            service.post(&token, &forward),
            service.post(&token, &backward)
        );
        assert_eq!(
            (a.0, b.0),
            (202, 202),
            "round {round}: {} / {}",
            a.1["error"],
            b.1["error"]
        );
        // Each answer lists its awards in its own call's order.
        assert_eq!(a.1["awards"][0]["key"], json!(format!("r{round}-00")));
        assert_eq!(b.1["awards"][0]["key"], json!(format!("r{round}-39")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_cli_refuses_bad_input_clearly() {
    let pg = PgServer::start().expect("private postgres");
    let issuer = wallet();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "token",
                "create",
                "--name",
                "a",
                "--issuer",
                "nope",
                "--sources",
                "trading",
            ],
            "not a base58 public key",
        ),
        (
            &[
                "token",
                "create",
                "--name",
                "a",
                "--issuer",
                &issuer,
                "--sources",
                "gift",
            ],
            "is not one of",
        ),
        (&["token", "revoke", "--id", "77"], "no token with id 77"),
    ];
    for (args, expected) in cases {
        let (ok, _, stderr) = cli(&pg, args);
        assert!(!ok && stderr.contains(expected), "{args:?}: {stderr}");
    }
    let (ok, stdout, stderr) = cli(
        &pg,
        &[
            "token",
            "create",
            "--name",
            "a",
            "--issuer",
            &issuer,
            "--sources",
            "trading",
        ],
    );
    assert!(ok, "{stderr}");
    let (ok, list, _) = cli(&pg, &["token", "list"]);
    assert!(
        ok && list.contains(&issuer) && list.contains("live"),
        "{list}"
    );
    let token = stdout.lines().last().unwrap();
    assert!(!list.contains(token), "the list never shows a token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_cancel_what_was_never_sent_and_retry_what_failed() {
    // Arrange: a request that stays pending (no worker runs here).
    let service = Service::start(false).await;
    let (_, token) = service.token("trading");
    let body = json!({"key": "op-1", "wallet": wallet(), "source": "trading", "amount": 2});
    assert_eq!(service.post(&token, &body).await.0, 202);
    let issuer = service.issuer.clone();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--issuer", &issuer]);
        cli(&service.pg, &all)
    };
    // Act + Assert: retry refuses a pending request; cancel ends it.
    let (ok, _, stderr) = run(&["retry", "--key", "op-1"]);
    assert!(
        !ok && stderr.contains("only a failed request can be retried"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(&["cancel", "--key", "op-1"]);
    assert!(ok, "{stderr}");
    let (_, view) = service.get(Some(&token), "/v1/awards/op-1").await;
    assert_eq!(
        (&view["state"], &view["failure"]),
        (&json!("failed"), &json!("cancelled by an operator"))
    );
    let (ok, _, stderr) = run(&["cancel", "--key", "op-1"]);
    assert!(!ok && stderr.contains("only a pending request"), "{stderr}");
    // Retry puts it back in the queue, without ids.
    let (ok, _, stderr) = run(&["retry", "--key", "op-1"]);
    assert!(ok, "{stderr}");
    let (_, view) = service.get(Some(&token), "/v1/awards/op-1").await;
    assert_eq!(
        (&view["state"], &view["award_id"]),
        (&json!("pending"), &Value::Null)
    );
    let (ok, _, stderr) = run(&["cancel", "--key", "nope"]);
    assert!(
        !ok && stderr.contains("no award request with key \"nope\""),
        "{stderr}"
    );
}
