//! The HTTP API against a real Postgres filled by the real indexer from the
//! local chain.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario::{self, Outcome};
use sparks_indexer::api::{self, ApiConfig, AppState};
use sparks_indexer::indexer::{Indexer, IndexerConfig};
use sparks_indexer::source::{Source as ChainSource, SourceConfig};
use sparks_indexer::store::Store;
use sparks_localnet::{Localnet, LocalnetConfig};
use sparks_pglocal::{PgOptions, PgServer};
use tokio::sync::watch;

struct Env {
    _chain: Localnet,
    rpc: SparksRpc,
    pg: PgServer,
    store: Store,
    indexer: Indexer,
    base: String,
    http: reqwest::Client,
    outcome: Outcome,
}

impl Env {
    /// Chain + every-instruction scenario + indexed + API on a free port.
    /// Postgres logs every plan (auto_explain) for the index checks.
    async fn start() -> Self {
        let chain = Localnet::start(LocalnetConfig::default()).unwrap();
        let rpc = SparksRpc::new(chain.rpc_url());
        let outcome = scenario::every_instruction(&rpc).await.unwrap();
        let pg = PgServer::start_with(PgOptions {
            settings: vec![
                ("session_preload_libraries".into(), "auto_explain".into()),
                ("auto_explain.log_min_duration".into(), "0".into()),
            ],
            ..PgOptions::default()
        })
        .unwrap();
        let store = Store::connect(&pg.url()).await.unwrap();
        store.migrate().await.unwrap();
        let indexer = Indexer::new(
            ChainSource::new(SourceConfig::new(chain.rpc_url(), sparks::ID)),
            store.clone(),
            IndexerConfig::default(),
        );
        indexer.catch_up(&never()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(
            api::connect(&pg.url()).await.unwrap(),
            ApiConfig {
                rpc_url: Some(chain.rpc_url().to_owned()),
                cors_origins: vec!["https://app.example".into()],
                ..ApiConfig::default()
            },
        );
        tokio::spawn(api::serve(listener, state, std::future::pending()));
        Self {
            _chain: chain,
            rpc,
            pg,
            store,
            indexer,
            base,
            http: reqwest::Client::new(),
            outcome,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    fn wallet(&self, i: usize) -> String {
        self.outcome.wallets[i].pubkey().to_string()
    }
}

fn never() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    std::mem::forget(sender);
    receiver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_from_the_mirror() {
    let env = Env::start().await;
    let a = env.wallet(0);
    let b = env.wallet(1);

    // Summary equals the chain's account.
    let chain = env
        .rpc
        .spark(&env.outcome.wallets[0].pubkey())
        .await
        .unwrap()
        .unwrap();
    let summary = env.ok(&format!("/v1/wallets/{a}/sparks")).await;
    assert_eq!(summary["exists"], true);
    assert_eq!(summary["balance"], chain.balance);
    assert_eq!(summary["lifetime_earned"], chain.lifetime_earned);
    assert_eq!(summary["lifetime_spent"], chain.lifetime_spent);
    assert_eq!(
        summary["earned_by_source"]["trading"],
        chain.earned_by_source[0]
    );
    assert_eq!(
        summary["earned_by_source"]["referral"],
        chain.earned_by_source[3]
    );
    assert_eq!(summary["invitee_count"], 1);
    assert_eq!(summary["seq"], chain.seq);
    let b_summary = env.ok(&format!("/v1/wallets/{b}/sparks")).await;
    assert_eq!(b_summary["referrer"], a.as_str());
    // A valid wallet with no account: zeros, not an error.
    let nobody = Keypair::new().pubkey();
    let empty = env.ok(&format!("/v1/wallets/{nobody}/sparks")).await;
    assert_eq!(
        (empty["exists"].clone(), empty["balance"].clone()),
        (Value::Bool(false), 0.into())
    );

    // History: newest first, amounts add up to the balance.
    let history = env.ok(&format!("/v1/wallets/{a}/history?limit=100")).await;
    let entries = history["entries"].as_array().unwrap();
    let total: i64 = entries.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(total as u64, chain.balance);
    assert_eq!(entries[0]["balance_after"], chain.balance);
    assert!(history["next_cursor"].is_null());
    let kinds: HashSet<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, HashSet::from(["award", "referral_share", "redeem"]));
    let campaign = env
        .ok(&format!("/v1/wallets/{a}/history?source=campaign"))
        .await;
    assert_eq!(campaign["entries"].as_array().unwrap().len(), 1);

    // Whitelists: a holds a granted spot on #1 and used it minting the NFT.
    let spots = env.ok(&format!("/v1/wallets/{a}/whitelists")).await;
    assert_eq!(spots["whitelists"][0]["whitelist_id"], 1);
    assert_eq!(spots["whitelists"][0]["spots_left"], 0);
    assert_eq!(
        spots["whitelists"][0]["obtained_via"],
        serde_json::json!(["admin"])
    );
    let check = env.ok(&format!("/v1/whitelists/1/entries/{a}")).await;
    assert_eq!(
        (check["eligible"].clone(), check["reason"].clone()),
        (false.into(), "no_spots_left".into())
    );
    // b joined #2 (1 spot), it was consumed, then bought 2 more with the perk... eligible.
    let check = env.ok(&format!("/v1/whitelists/2/entries/{b}")).await;
    assert_eq!(check["eligible"], true, "{check}");
    let check = env.ok(&format!("/v1/whitelists/2/entries/{nobody}")).await;
    assert_eq!(check["reason"], "no_entry");

    // Perks and claims.
    let perks = env.ok("/v1/perks").await;
    assert_eq!(perks["perks"].as_array().unwrap().len(), 2);
    let perk = env.ok("/v1/perks/1").await;
    assert_eq!(
        (perk["cost"].clone(), perk["claimed"].clone()),
        (300.into(), 1.into())
    );
    assert_eq!(perk["available"], true);
    let claims = env.ok(&format!("/v1/wallets/{a}/claims")).await;
    assert_eq!(claims["claims"][0]["perk_id"], 1);

    // Leaderboard and invitees.
    let board = env.ok("/v1/leaderboard?limit=2").await;
    assert_eq!(board["rows"].as_array().unwrap().len(), 2);
    assert!(board["rows"][0]["earned"].as_i64() >= board["rows"][1]["earned"].as_i64());
    let referral_board = env.ok("/v1/leaderboard?source=referral&limit=1").await;
    assert_eq!(referral_board["rows"][0]["wallet"], a.as_str());
    let invitees = env.ok(&format!("/v1/wallets/{a}/invitees")).await;
    assert_eq!(invitees["invitees"][0]["wallet"], b.as_str());

    // Operations.
    let health = env.ok("/health").await;
    assert_eq!(health["status"], "ok", "{health}");
    assert!(health["lag_slots"].as_i64().is_some());
    assert!(health["last_indexed_slot"].as_i64().unwrap() > 0);
    let openapi = env.ok("/openapi.json").await;
    for path in [
        "/v1/wallets/{wallet}/sparks",
        "/v1/wallets/{wallet}/history",
        "/v1/wallets/{wallet}/whitelists",
        "/v1/whitelists/{id}/entries/{wallet}",
        "/v1/perks",
        "/v1/perks/{id}",
        "/v1/wallets/{wallet}/claims",
        "/v1/wallets/{wallet}/pending",
        "/v1/leaderboard",
        "/v1/wallets/{wallet}/invitees",
        "/health",
    ] {
        assert!(openapi["paths"][path].is_object(), "openapi lacks {path}");
    }
    let (status, metrics) = env.get("/metrics").await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("sparks_api_requests_total"), "{metrics}");
    assert!(metrics.contains("sparks_api_request_seconds"));
    // The page is served.
    let (status, page) = env.get("/account").await;
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("id=\"balance\""));
    // Not framed by other sites (its buttons ask a wallet to sign); the
    // wallet in its URL is not sent to other origins as a referrer.
    let response = env
        .http
        .get(format!("{}/account", env.base))
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("content-security-policy").as_deref(),
        Some("frame-ancestors 'none'")
    );
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        header("referrer-policy").as_deref(),
        Some("strict-origin-when-cross-origin")
    );
    // CORS for the configured origin only.
    let response = env
        .http
        .get(format!("{}/v1/perks", env.base))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let response = env
        .http
        .get(format!("{}/v1/perks", env.base))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_with_a_json_error() {
    let env = Env::start().await;
    let a = env.wallet(0);
    let cases = [
        ("/v1/wallets/not-base58!/sparks", 400, "invalid_wallet"),
        ("/v1/wallets/abc/sparks", 400, "invalid_wallet"),
        (
            "/v1/wallets/1111111111111111111111111111111111111111111111/history",
            400,
            "invalid_wallet",
        ),
        (
            &format!("/v1/wallets/{a}/history?limit=0"),
            400,
            "invalid_limit",
        ),
        (
            &format!("/v1/wallets/{a}/history?limit=101"),
            400,
            "invalid_limit",
        ),
        (
            &format!("/v1/wallets/{a}/history?limit=ten"),
            400,
            "invalid_limit",
        ),
        (
            &format!("/v1/wallets/{a}/history?cursor=%%%"),
            400,
            "invalid_cursor",
        ),
        (
            // An invitees cursor on the history.
            &format!("/v1/wallets/{a}/history?cursor=i5.{}", "ab".repeat(32)),
            400,
            "invalid_cursor",
        ),
        (
            &format!("/v1/wallets/{a}/history?source=gambling"),
            400,
            "invalid_source",
        ),
        (
            &format!("/v1/wallets/{a}/invitees?cursor=bogus"),
            400,
            "invalid_cursor",
        ),
        ("/v1/leaderboard?limit=-1", 400, "invalid_limit"),
        ("/v1/leaderboard?source=x", 400, "invalid_source"),
        ("/v1/perks/99", 404, "unknown_perk"),
        ("/v1/perks/one", 400, "invalid_id"),
        ("/v1/perks/99999999999999999999999", 400, "invalid_id"),
        (
            &format!("/v1/whitelists/77/entries/{a}"),
            404,
            "unknown_whitelist",
        ),
        (&format!("/v1/whitelists/-1/entries/{a}"), 400, "invalid_id"),
        ("/v1/whitelists/1/entries/zzz", 400, "invalid_wallet"),
        ("/v1/nothing", 404, "not_found"),
    ];
    for (path, status, code) in cases {
        let (got, body) = env.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"], code, "{path}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{path}: {body}"
        );
    }
    let response = env
        .http
        .post(format!("{}/v1/perks", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_neither_skip_nor_repeat_while_new_events_arrive() {
    let env = Env::start().await;
    let issuer = &env.outcome.issuer;
    let wallet = Keypair::new().pubkey();
    for i in 0..25u64 {
        env.rpc
            .award(issuer, &wallet, Source::Trading, 10 + i, [i as u8; 32])
            .await
            .unwrap();
    }
    env.indexer.catch_up(&never()).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => format!("/v1/wallets/{wallet}/history?limit=7"),
            Some(c) => format!("/v1/wallets/{wallet}/history?limit=7&cursor={c}"),
        };
        let page = env.ok(&path).await;
        seen.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        pages += 1;
        if pages == 1 {
            // New events land between pages.
            for i in 0..5u64 {
                env.rpc
                    .award(issuer, &wallet, Source::Campaign, 1 + i, [99; 32])
                    .await
                    .unwrap();
            }
            env.indexer.catch_up(&never()).await.unwrap();
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (1..=25).rev().collect::<Vec<i64>>(),
        "every older row once, in order"
    );
    assert_eq!(pages, 4);
    // The new rows are on a fresh first page.
    let fresh = env
        .ok(&format!("/v1/wallets/{wallet}/history?limit=5"))
        .await;
    let newest: Vec<i64> = fresh["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(newest, [30, 29, 28, 27, 26]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_is_served_by_an_index() {
    let env = Env::start().await;
    // Enough rows that a sequential scan would show: 100k accounts, 300k ledger rows, 50k of the rest.
    sqlx::raw_sql(BULK_FILL)
        .execute(env.store.pool())
        .await
        .unwrap();
    let a = env.wallet(0);
    let before = env.pg.log().len();
    for path in [
        format!("/v1/wallets/{a}/sparks"),
        format!("/v1/wallets/{a}/history?limit=20"),
        format!("/v1/wallets/{a}/history?limit=20&source=trading"),
        format!("/v1/wallets/{a}/whitelists"),
        format!("/v1/whitelists/1/entries/{a}"),
        format!("/v1/wallets/{a}/claims"),
        format!("/v1/wallets/{a}/invitees"),
        "/v1/leaderboard".to_owned(),
        "/v1/leaderboard?source=trading".to_owned(),
        "/v1/leaderboard?source=subscription".to_owned(),
        "/v1/leaderboard?source=campaign".to_owned(),
        "/v1/leaderboard?source=referral".to_owned(),
        "/v1/perks/1".to_owned(),
    ] {
        env.ok(&path).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the log is written asynchronously
    let log = env.pg.log()[before..].to_owned();
    assert!(
        log.contains("Index"),
        "auto_explain logged the plans:\n{log}"
    );
    for table in [
        "spark_accounts",
        "ledger",
        "referrals",
        "whitelist_entries",
        "perk_claims",
    ] {
        assert!(
            !log.contains(&format!("Seq Scan on {table}")),
            "a sequential scan on {table}:\n{log}"
        );
    }
}

/// Many requests at once are coalesced into shared queries; each must still
/// get exactly its own answer: checked against a plain per-wallet SELECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_queries_and_each_gets_its_own_answer() {
    use futures::StreamExt;
    use rand::{Rng, SeedableRng};

    let env = Env::start().await;
    let seed = std::env::var("SPARKS_COALESCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("SPARKS_COALESCE_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // 60 wallets with 0–59 history rows of mixed sources; 10 more without an account.
    let wallets: Vec<String> = (0..70)
        .map(|_| Keypair::new().pubkey().to_string())
        .collect();
    sqlx::query(
        "INSERT INTO spark_accounts
         SELECT key, n * 10, n * 11, n, 0, n, n * 2, n * 3, n * 4, NULL, n % 3, false, n, n, NULL
         FROM unnest($1::text[]) WITH ORDINALITY AS k(key, n) WHERE n <= 60;
         ",
    )
    .bind(&wallets)
    .execute(env.store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger
         SELECT 'c' || n || '-' || g, 0, key, g, g, 1760000000 + g, 'award', (g * n % 4)::int2,
                g * 7, g * 100, NULL, NULL, NULL
         FROM unnest($1::text[]) WITH ORDINALITY AS k(key, n), generate_series(1, n - 1) g
         WHERE n <= 60",
    )
    .bind(&wallets)
    .execute(env.store.pool())
    .await
    .unwrap();
    let sources = ["trading", "subscription", "campaign", "referral"];
    /// History's (before seq, source index, limit); a summary has none.
    type Page = Option<(i64, Option<i16>, i64)>;
    let mut requests: Vec<(String, String, Page)> = Vec::new();
    for _ in 0..400 {
        let wallet = wallets[rng.gen_range(0..wallets.len())].clone();
        if rng.gen_bool(0.4) {
            requests.push((format!("/v1/wallets/{wallet}/sparks"), wallet, None));
            continue;
        }
        let limit = rng.gen_range(1..=25i64);
        let source = rng.gen_bool(0.3).then(|| rng.gen_range(0..4usize));
        let mut path = format!("/v1/wallets/{wallet}/history?limit={limit}");
        if let Some(s) = source {
            path += &format!("&source={}", sources[s]);
        }
        // Half start below a random seq, via the cursor a first page returns.
        let mut before = i64::MAX;
        if rng.gen_bool(0.5) {
            let first = env.ok(&path).await;
            if let Some(cursor) = first["next_cursor"].as_str() {
                before = first["entries"].as_array().unwrap().last().unwrap()["seq"]
                    .as_i64()
                    .unwrap();
                path += &format!("&cursor={cursor}");
            }
        }
        requests.push((
            path,
            wallet,
            Some((before, source.map(|s| s as i16), limit)),
        ));
    }
    let answers: Vec<Value> = futures::stream::iter(requests.iter())
        .map(|(path, _, _)| env.ok(path))
        .buffered(64)
        .collect()
        .await;
    for ((path, wallet, page), answer) in requests.iter().zip(&answers) {
        match page {
            None => {
                let row: Option<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT balance, lifetime_earned, seq FROM spark_accounts WHERE wallet = $1",
                )
                .bind(wallet)
                .fetch_optional(env.store.pool())
                .await
                .unwrap();
                assert_eq!(answer["wallet"], wallet.as_str(), "{path}");
                assert_eq!(answer["exists"], row.is_some(), "{path}: {answer}");
                let (balance, earned, seq) = row.unwrap_or((0, 0, 0));
                assert_eq!(answer["balance"], balance, "{path}: {answer}");
                assert_eq!(answer["lifetime_earned"], earned, "{path}: {answer}");
                assert_eq!(answer["seq"], seq, "{path}: {answer}");
            }
            Some((before, source, limit)) => {
                let expected: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT seq, amount FROM ledger
                     WHERE wallet = $1 AND seq < $2 AND ($3::int2 IS NULL OR source = $3)
                     ORDER BY seq DESC LIMIT $4",
                )
                .bind(wallet)
                .bind(before)
                .bind(source)
                .bind(limit + 1)
                .fetch_all(env.store.pool())
                .await
                .unwrap();
                let got: Vec<(i64, i64)> = answer["entries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (e["seq"].as_i64().unwrap(), e["amount"].as_i64().unwrap()))
                    .collect();
                let more = expected.len() as i64 > *limit;
                assert_eq!(
                    got,
                    expected[..expected.len().min(*limit as usize)],
                    "{path}"
                );
                assert_eq!(answer["next_cursor"].is_string(), more, "{path}: {answer}");
            }
        }
    }
    // Some batch held more than one request (the API's own histogram).
    let (_, metrics) = env.get("/metrics").await;
    let metrics = metrics.as_str().expect("/metrics is text");
    for read in ["summary", "history"] {
        let bucket = |le: &str| -> u64 {
            metrics
                .lines()
                .find(|l| {
                    l.starts_with("sparks_api_batch_size_bucket")
                        && l.contains(&format!("read=\"{read}\""))
                        && l.contains(&format!("le=\"{le}\""))
                })
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or_else(|| panic!("no {read} batch bucket {le} in\n{metrics}"))
        };
        assert!(
            bucket("1") < bucket("+Inf"),
            "no {read} request was coalesced:\n{metrics}"
        );
    }
}

const BULK_FILL: &str = "
INSERT INTO spark_accounts
SELECT 'w' || g, g, g, 0, 0, g, 0, 0, 0, NULL, 0, false, 1, 1, NULL FROM generate_series(1, 100000) g;
INSERT INTO ledger
SELECT 's' || g, 0, 'w' || (g % 100000), g, 1, NULL, 'award', (g % 4)::int2, 1, 1, NULL, NULL, NULL
FROM generate_series(1, 300000) g;
INSERT INTO leaderboard
SELECT r, 'w' || g, g FROM generate_series(99901, 100000) g, unnest(ARRAY['lifetime', 'trading']) r;
INSERT INTO referrals SELECT 'w' || g, 'w' || (g % 1000), 's' || g, g, NULL FROM generate_series(1, 50000) g;
INSERT INTO whitelist_entries SELECT 'e' || g, 'wl' || (g % 10), 'w' || g, 1, 0, 1, 1, 1 FROM generate_series(1, 50000) g;
INSERT INTO perk_claims SELECT 'c' || g, 'p' || (g % 10), 'w' || g, 1, 1, 1 FROM generate_series(1, 50000) g;
ANALYZE;
";

/// Random paths, parameters, cursors and methods on every endpoint: the API
/// answers each with a 2xx, or a 4xx carrying a JSON error; never a 5xx.
/// `PROPTEST_CASES=<n>` scales it (default 400 requests).
#[test]
fn no_input_makes_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let env = runtime.block_on(Env::start());
    let wallets: Vec<String> = (0..3).map(|i| env.wallet(i)).collect();
    let endpoints = [
        "/v1/wallets/{w}/sparks",
        "/v1/wallets/{w}/history",
        "/v1/wallets/{w}/whitelists",
        "/v1/wallets/{w}/claims",
        "/v1/wallets/{w}/invitees",
        "/v1/whitelists/{id}/entries/{w}",
        "/v1/perks",
        "/v1/perks/{id}",
        "/v1/leaderboard",
        "/health",
        "/openapi.json",
        "/account",
        "/v1/{w}",
        "/v1/wallets/{w}/sparks/{id}",
    ];
    let base64 = |bytes: Vec<u8>| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let text = prop_oneof![
        "[ -~]{0,40}",
        "\\PC{0,12}",
        Just("%FF%FE".to_owned()),
        Just("x".repeat(5_000)),
        any::<i128>().prop_map(|n| n.to_string()),
        (-2i64..200).prop_map(|n| n.to_string()),
    ];
    let wallet = prop_oneof![
        prop::sample::select(wallets.clone()),
        any::<[u8; 32]>().prop_map(|k| bs58::encode(k).into_string()),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|k| bs58::encode(k).into_string()),
        text.clone(),
    ];
    let cursor = prop_oneof![
        (prop::sample::select(vec!["h", "i", "x", ""]), text.clone())
            .prop_map(move |(tag, key)| format!("{tag}{key}")),
        (prop::sample::select(vec!["h", "i"]), any::<i64>())
            .prop_map(move |(tag, n)| format!("{tag}{n}")),
        (any::<i64>(), any::<[u8; 32]>()).prop_map(move |(slot, key)| {
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            format!("i{slot}.{hex}")
        }),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(base64),
        text.clone(),
    ];
    let source = prop_oneof![
        prop::sample::select(vec![
            "trading",
            "subscription",
            "campaign",
            "referral",
            "Trading",
            ""
        ])
        .prop_map(str::to_owned),
        text.clone(),
    ];
    let query = (
        prop::option::of(text.clone()),
        prop::option::of(cursor),
        prop::option::of(source),
        prop::option::of(("[a-z]{1,8}", text.clone())),
    );
    let method = prop::sample::select(vec![
        "GET", "GET", "GET", "GET", "HEAD", "POST", "DELETE", "OPTIONS",
    ]);
    let request = (
        prop::sample::select(endpoints.to_vec()),
        wallet,
        text.clone(),
        query,
        method,
    );
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 200,
        ..Config::default()
    });
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let statuses = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let result = runner.run(&request, |(endpoint, wallet, id, query, method)| {
        // Raw `%` sequences are sent as they are; everything else is encoded.
        let segment = |s: &str| {
            if s.starts_with('%') {
                s.to_owned()
            } else {
                encode(s)
            }
        };
        let path = endpoint
            .replace("{w}", &segment(&wallet))
            .replace("{id}", &segment(&id));
        let (limit, cursor, source, extra) = query;
        let mut params = Vec::new();
        if let Some(limit) = limit {
            params.push(format!("limit={}", encode(&limit)));
        }
        if let Some(cursor) = cursor {
            params.push(format!("cursor={}", encode(&cursor)));
        }
        if let Some(source) = source {
            params.push(format!("source={}", encode(&source)));
        }
        if let Some((name, value)) = extra {
            params.push(format!("{name}={}", encode(&value)));
        }
        let url = format!("{}{path}?{}", env.base, params.join("&"));
        let (status, body) = runtime.block_on(async {
            let response = env
                .http
                .request(method.parse().unwrap(), &url)
                .send()
                .await
                .expect("the server answers");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        });
        *statuses.borrow_mut().entry(status).or_default() += 1;
        prop_assert!(status < 500, "{method} {url} → {status}: {body}");
        if status >= 400 && method != "HEAD" {
            let error: Value = serde_json::from_str(&body).map_err(|_| {
                TestCaseError::fail(format!("{method} {url} → {status}: not JSON: {body}"))
            })?;
            prop_assert!(
                error["error"].is_string(),
                "{method} {url} → {status}: {body}"
            );
        }
        Ok(())
    });
    println!("statuses: {:?}", statuses.borrow());
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert!(
        statuses.borrow().len() > 3,
        "the inputs reach more than one answer"
    );
}

/// The summary and history reads keep their connections between queries
/// (api/kept.rs). A Postgres restart breaks every one of them; a read that
/// finds its connection broken lets all kept ones go and runs again on
/// another, so no request fails, and the answers are the same as before.
/// (Without the retry: one 503 per broken connection, 4 in a run.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_recover_after_postgres_restarts() {
    use futures::StreamExt;

    let mut env = Env::start().await;
    let paths = [
        format!("/v1/wallets/{}/sparks", env.wallet(0)),
        format!("/v1/wallets/{}/history?limit=5", env.wallet(0)),
    ];
    let before = [env.ok(&paths[0]).await, env.ok(&paths[1]).await];
    // Concurrent requests, so that several connections are kept.
    let statuses: Vec<u16> = futures::stream::iter(0..64)
        .map(|i| {
            let env = &env;
            let path = &paths[i % 2];
            async move { env.get(path).await.0 }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    env.pg.restart().unwrap();
    for i in 0..40 {
        let (status, body) = env.get(&paths[i % 2]).await;
        assert_eq!(status, 200, "request {i} after the restart: {body}");
        assert_eq!(body, before[i % 2], "{}", paths[i % 2]);
    }
}
