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
    let ids_before = next_award_id(&service).await;
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
    assert_eq!(
        next_award_id(&service).await,
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

/// One past the highest award id the issuer used, from chain state.
async fn next_award_id(service: &Service) -> u64 {
    service
        .rpc
        .issuer(&service.issuer_keypair.pubkey())
        .await
        .unwrap()
        .unwrap()
        .next_award_id()
}

/// Waits until `/health` shows `total` requests, all finalized (the
/// service may be restarting: a failed call is asked again).
async fn all_finalized(service: &Service, total: u64) {
    let started = Instant::now();
    loop {
        if let (200, health) = service.get(None, "/health").await {
            if health["queue"] == json!({ "finalized": total }) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "not all finalized: {health}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Posts `chunks` one by one until each is accepted (the service may be
/// down or restarting), resending an earlier chunk now and then: duplicate
/// keys, as an app retrying after a timeout sends them.
async fn client(url: String, token: String, chunks: Vec<Value>, seed: u64) -> usize {
    let http = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut resent = 0;
    let post = |body: &Value| {
        http.post(format!("{url}/v1/awards"))
            .bearer_auth(&token)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
    };
    for (n, chunk) in chunks.iter().enumerate() {
        let again = (rng.gen_bool(0.3) && n > 0).then(|| &chunks[rng.gen_range(0..n)]);
        for body in std::iter::once(chunk).chain(again) {
            loop {
                match post(body).await {
                    Ok(response) if response.status() == 202 => break,
                    Ok(response) => panic!(
                        "{}: {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    ),
                    // Down or restarting: try again.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        resent += usize::from(again.is_some());
    }
    resent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_at_random_points_the_service_pays_each_request_exactly_once() {
    // Arrange: rounds of requests from 4 concurrent clients that resend
    // earlier calls at random.
    let kills: usize = std::env::var("SPARKS_ISSUER_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let per_round: u64 = std::env::var("SPARKS_ISSUER_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
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
    let ids_before = next_award_id(&service).await;
    let repeats: Vec<String> = (0..5).map(|_| wallet()).collect();
    let mut expected: HashMap<String, u64> = HashMap::new();
    let mut wanted: HashMap<String, (String, u64)> = HashMap::new();
    // One round of `per_round` requests (every tenth to one of five repeat
    // wallets), shuffled in chunks of 25 over 4 clients.
    let url = service.url.clone();
    let mut round = |n: u64, rng: &mut rand::rngs::StdRng| {
        let requests: Vec<Value> = (0..per_round)
            .map(|i| {
                let to = if i % 10 == 0 {
                    repeats[(i / 10 % 5) as usize].clone()
                } else {
                    wallet()
                };
                let amount = 1 + i % 7;
                let key = format!("r{n}-c-{i}");
                *expected.entry(to.clone()).or_default() += amount;
                wanted.insert(key.clone(), (to.clone(), amount));
                json!({"key": key, "wallet": to, "source": "trading", "amount": amount})
            })
            .collect();
        let mut chunks: Vec<Value> = requests
            .chunks(25)
            .map(|c| Value::Array(c.to_vec()))
            .collect();
        rand::seq::SliceRandom::shuffle(chunks.as_mut_slice(), rng);
        let per_client = chunks.len().div_ceil(4);
        chunks
            .chunks(per_client)
            .enumerate()
            .map(|(c, mine)| {
                tokio::spawn(client(
                    url.clone(),
                    token.clone(),
                    mine.to_vec(),
                    seed + n * 4 + c as u64,
                ))
            })
            .collect::<Vec<_>>()
    };
    // Act: SIGKILL while clients post and the worker claims, sends and
    // settles; each run resumes. A kill only counts when some request was
    // not yet final; when a machine is fast enough to finish a round between
    // kills, the next round starts, so every run kills mid-work `kills`
    // times however fast the machine is.
    let (mut rounds, mut clients) = (0u64, Vec::new());
    let (mut while_open, mut attempts, mut open) = (0, 0, false);
    while while_open < kills {
        assert!(
            attempts < kills * 4,
            "only {while_open} of {attempts} kills landed before everything finalized"
        );
        if !open && clients.iter().all(tokio::task::JoinHandle::is_finished) {
            clients.extend(round(rounds, &mut rng));
            rounds += 1;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..400))).await;
        let (_, health) = service.get(None, "/health").await;
        open = ["pending", "sending", "landed"]
            .iter()
            .any(|s| health["queue"][s].as_i64().unwrap_or(0) > 0);
        while_open += usize::from(open);
        attempts += 1;
        service.kill_and_restart().await;
    }
    let mut resent = 0;
    for client in clients {
        resent += client.await.unwrap();
    }
    let total = rounds * per_round;
    all_finalized(&service, total).await;
    // Assert, from chain state: each wallet got exactly its awards, the
    // issuer used one id per request, and each request's id paid its wallet
    // its amount in the transaction the service names.
    for (to, amount) in &expected {
        let balance = service
            .rpc
            .spark(&to.parse().unwrap())
            .await
            .unwrap()
            .map(|a| a.balance);
        assert_eq!(balance, Some(*amount), "{to}");
    }
    assert_eq!(
        next_award_id(&service).await,
        ids_before + total,
        "one id per request"
    );
    let mut paid: HashMap<u64, (String, u64)> = HashMap::new();
    let mut signatures: Vec<String> = Vec::new();
    for key in wanted.keys() {
        let (_, view) = service
            .get(Some(&token), &format!("/v1/awards/{key}"))
            .await;
        signatures.push(view["signature"].as_str().unwrap().to_owned());
    }
    signatures.sort();
    signatures.dedup();
    for signature in &signatures {
        for event in service
            .rpc
            .events_of_signature(&signature.parse().unwrap())
            .await
            .unwrap()
        {
            if let sparks_client::events::SparksEvent::SparksAwarded(award) = event {
                if award.referral_from.is_none() {
                    let row = (award.account.owner.to_string(), award.amount);
                    assert!(paid.insert(award.award_id, row).is_none());
                }
            }
        }
    }
    for key in wanted.keys() {
        let (_, view) = service
            .get(Some(&token), &format!("/v1/awards/{key}"))
            .await;
        let id = view["award_id"].as_u64().unwrap();
        assert_eq!(paid.get(&id), Some(&wanted[key]), "{key} (award id {id})");
    }
    // The indexer, run over the same chain, mirrors it exactly.
    let index = sparks_indexer::store::Store::connect(&service.pg.url())
        .await
        .unwrap();
    index.migrate().await.unwrap();
    let indexer = sparks_indexer::indexer::Indexer::new(
        sparks_indexer::source::Source::new(sparks_indexer::source::SourceConfig::new(
            service.chain.rpc_url(),
            sparks::ID,
        )),
        index.clone(),
        sparks_indexer::indexer::IndexerConfig::default(),
    );
    let (_keep, never) = tokio::sync::watch::channel(false);
    indexer.catch_up(&never).await.unwrap();
    let report = sparks_indexer::verify::verify(&service.rpc, &index)
        .await
        .unwrap();
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    println!(
        "{attempts} kills ({while_open} with requests not yet final) while 4 clients posted \
         {total} requests in {rounds} rounds ({resent} calls resent): each paid exactly once; the indexer's verify: 0 differences"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referrer_with_many_invitees_is_credited_by_all_of_them_and_no_batch_fails() {
    use futures::StreamExt;
    use solana_keypair::Keypair;
    use sparks_client::instructions as ix;
    // Arrange: a referrer with 100 invitees (it has an account first).
    let service = Service::start(true).await;
    let (_, token) = service.token("trading");
    let referrer = Keypair::new().pubkey();
    let first =
        json!({"key": "ref-0", "wallet": referrer.to_string(), "source": "trading", "amount": 5});
    assert_eq!(service.post(&token, &first).await.0, 202);
    wait_for(&service, &token, &["ref-0".to_owned()], "finalized").await;
    let invitees: Vec<Keypair> = (0..100).map(|_| Keypair::new()).collect();
    let (payer, rpc) = (&service.issuer_keypair, &service.rpc);
    futures::stream::iter(&invitees)
        .map(|invitee| async move {
            let set = ix::set_referrer(&invitee.pubkey(), &payer.pubkey(), &referrer);
            rpc.send(&[set], payer, &[invitee]).await.unwrap();
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let bps = service
        .rpc
        .config()
        .await
        .unwrap()
        .unwrap()
        .referral_trade_share_bps;
    // Act: 3 awards per invitee and 20 straight to the referrer, shuffled,
    // posted in 8 calls at once.
    let mut requests = Vec::new();
    let (mut direct, mut shares) = (5u64, 0u64);
    for (i, invitee) in invitees.iter().enumerate() {
        for round in 0..3u64 {
            let amount = 10 + (i as u64 * 7 + round * 13) % 90;
            shares += amount * u64::from(bps) / 10_000;
            requests.push(
                json!({"key": format!("inv-{i}-{round}"), "wallet": invitee.pubkey().to_string(),
                                 "source": "trading", "amount": amount}),
            );
        }
    }
    for n in 1..=20u64 {
        direct += n;
        requests.push(
            json!({"key": format!("ref-{n}"), "wallet": referrer.to_string(),
                             "source": "trading", "amount": n}),
        );
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    rand::seq::SliceRandom::shuffle(requests.as_mut_slice(), &mut rng);
    let keys: Vec<String> = requests
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    futures::stream::iter(requests.chunks(40))
        .map(|chunk| {
            let body = Value::Array(chunk.to_vec());
            let (service, token) = (&service, &token);
            async move { assert_eq!(service.post(token, &body).await.0, 202) }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    // Assert: every request finalized (none failed), and from chain state
    // the referrer holds its own awards and every invitee's share.
    wait_for(&service, &token, &keys, "finalized").await;
    let account = service.rpc.spark(&referrer).await.unwrap().unwrap();
    assert!(shares > 0);
    assert_eq!(account.invitee_count, 100);
    assert_eq!(
        account.balance,
        direct + shares,
        "own {direct} + shares {shares}"
    );
    assert_eq!(
        account.earned_by_source[sparks::state::Source::Referral.index()],
        shares
    );
    let (_, health) = service.get(None, "/health").await;
    assert_eq!(health["queue"], json!({"finalized": 321}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_faults_and_postgres_restarts_lose_nothing_and_pay_nothing_twice() {
    // Arrange: one call in ten the service makes to the chain gets a fault
    // (429, 500, node behind, slow, no answer, reset).
    let mut service = Service::start_with(true, Some(0.1)).await;
    let (_, token) = service.token("trading");
    let ids_before = next_award_id(&service).await;
    let mut expected: HashMap<String, u64> = HashMap::new();
    let requests: Vec<Value> = (0..200u64)
        .map(|i| {
            let to = wallet();
            expected.insert(to.clone(), 1 + i % 5);
            json!({"key": format!("f-{i}"), "wallet": to, "source": "trading", "amount": 1 + i % 5})
        })
        .collect();
    for chunk in requests.chunks(50) {
        assert_eq!(
            service.post(&token, &Value::Array(chunk.to_vec())).await.0,
            202
        );
    }
    // Act: Postgres restarts twice while batches are being sent.
    for pause in [300, 1_000] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        service.pg.restart().expect("postgres restarts");
    }
    // Assert: everything finalizes; from chain state, exactly once.
    all_finalized(&service, 200).await;
    for (to, amount) in &expected {
        let account = service.rpc.spark(&to.parse().unwrap()).await.unwrap();
        assert_eq!(account.map(|a| a.balance), Some(*amount), "{to}");
    }
    assert_eq!(
        next_award_id(&service).await,
        ids_before + 200,
        "one id per request"
    );
    let counts = &service.proxy.as_ref().unwrap().counts;
    let faults = counts.throttled.load(std::sync::atomic::Ordering::SeqCst)
        + counts
            .server_errors
            .load(std::sync::atomic::Ordering::SeqCst)
        + counts.reset.load(std::sync::atomic::Ordering::SeqCst);
    assert!(faults > 0, "{}", counts.summary());
    println!("200 requests landed once through {}", counts.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_on_one_key_strands_no_batch_and_wastes_no_lookup_table() {
    // Arrange: service A sends; requests keep coming (recipients awarded
    // again, so lookup tables are made). B, the new instance, starts on the
    // same key and database; then A gets SIGTERM. Before the sender lease,
    // both sent, B settled only what was `sending` when it started, and A's
    // last batches stayed `sending` (512 requests for over 120 s in a run
    // by an outside client), with an empty lookup table left behind.
    let mut service = Service::start(true).await;
    let (_, token) = service.token("trading");
    let recipients: Vec<String> = (0..60).map(|_| wallet()).collect();
    let mut expected: HashMap<String, u64> = HashMap::new();
    let chunks: Vec<Value> = (0..30)
        .map(|chunk| {
            Value::Array(
                (0..20)
                    .map(|n| {
                        let i = chunk * 20 + n;
                        let to = recipients[(i * 7) % recipients.len()].clone();
                        *expected.entry(to.clone()).or_default() += i as u64 + 1;
                        json!({"key": format!("d-{i}"), "wallet": to, "source": "trading",
                               "amount": i + 1})
                    })
                    .collect(),
            )
        })
        .collect();
    let sending = tokio::spawn(client(
        service.url.clone(),
        token.clone(),
        chunks[..15].to_vec(),
        1,
    ));
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Act: B starts, waits for the lease; A stops; B takes over.
    let (second, second_url) = service.start_another().await;
    let _second = KillOnDrop(second);
    let http = reqwest::Client::new();
    let health = |url: String| {
        let http = http.clone();
        async move {
            http.get(format!("{url}/health"))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        health(second_url.clone()).await["holds_sender_lease"],
        json!(false)
    );
    assert_eq!(
        health(service.url.clone()).await["holds_sender_lease"],
        json!(true)
    );
    sending.await.unwrap();
    // A burst A is still sending when it stops.
    let burst: Vec<Value> = chunks[15..25]
        .iter()
        .flat_map(|c| c.as_array().unwrap().clone())
        .collect();
    let (status, _) = service.post(&token, &Value::Array(burst)).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(150)).await;
    service.terminate();
    client(second_url.clone(), token.clone(), chunks[25..].to_vec(), 2).await;

    // Assert: B settles everything, A's leftovers included.
    let started = Instant::now();
    let last = loop {
        let now = health(second_url.clone()).await;
        if now["queue"] == json!({ "finalized": 600 }) {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not all finalized after 120 s: {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(last["holds_sender_lease"], json!(true));
    assert_eq!(last["batches"]["sending"], json!(0));
    for (to, amount) in &expected {
        let account = service
            .rpc
            .spark(&to.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.balance, *amount, "{to}");
    }
    // Every lookup table the key paid for is known and in use.
    let store = sparks_issuer::store::Store::connect(&service.pg.url())
        .await
        .unwrap();
    let tables = store.lookup_tables(&service.issuer).await.unwrap();
    assert!(
        !tables.is_empty(),
        "the recipients awarded again are in a table"
    );
    for table in tables {
        let account = service
            .rpc
            .client()
            .get_account(&table.parse().unwrap())
            .await
            .unwrap();
        let table_state =
            solana_address_lookup_table_interface::state::AddressLookupTable::deserialize(
                &account.data,
            )
            .unwrap();
        assert!(!table_state.addresses.is_empty(), "table {table} is empty");
    }
}

/// A child process killed when the test ends, even by a panic (else it
/// would outlive the test, holding its output pipe open).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_cannot_land_even_alone_fails_with_its_reason_and_frees_its_ids() {
    // The issuer key keeps enough SOL for fees but not for a new account's
    // rent: every send of an award to a new wallet fails in the system
    // program (not a Sparks refusal). Its batch is voided and split until
    // the request is alone, then it fails with the reason; an award to a
    // wallet whose account exists still lands, and the window's floor
    // reaches the next id.
    let service = Service::start(true).await;
    let (_, token) = service.token("trading");
    let issuer = service.issuer_keypair.insecure_clone();
    let existing = wallet();
    let (status, _) = service
        .post(
            &token,
            &json!({"key": "first", "wallet": existing, "source": "trading", "amount": 1}),
        )
        .await;
    assert_eq!(status, 202);
    wait_for(&service, &token, &["first".into()], "finalized").await;
    // Drain the key to 1,000,000 lamports (a SparkAccount's rent is ~1.9M).
    let balance = service
        .rpc
        .client()
        .get_balance(&issuer.pubkey())
        .await
        .unwrap();
    let drain = support::transfer(
        &issuer.pubkey(),
        &solana_keypair::Keypair::new().pubkey(),
        balance - 1_000_000 - 10_000,
    );
    service.rpc.send(&[drain], &issuer, &[]).await.unwrap();
    let (status, _) = service
        .post(
            &token,
            &json!([
                {"key": "new-a", "wallet": wallet(), "source": "trading", "amount": 5},
                {"key": "new-b", "wallet": wallet(), "source": "trading", "amount": 6},
                {"key": "again", "wallet": existing, "source": "trading", "amount": 7},
            ]),
        )
        .await;
    assert_eq!(status, 202);
    let started = Instant::now();
    let views = loop {
        let mut views = Vec::new();
        for key in ["new-a", "new-b", "again"] {
            views.push(
                service
                    .get(Some(&token), &format!("/v1/awards/{key}"))
                    .await
                    .1,
            );
        }
        if views
            .iter()
            .all(|v| v["state"] == "failed" || v["state"] == "finalized")
        {
            break views;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not ended after 120 s: {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for view in &views[..2] {
        assert_eq!(view["state"], "failed", "{view}");
        let failure = view["failure"].as_str().unwrap();
        assert!(failure.contains("could not land even alone"), "{failure}");
    }
    assert_eq!(views[2]["state"], "finalized", "{}", views[2]);
    let account = service
        .rpc
        .spark(&existing.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.balance, 8);
    let on_chain = service.rpc.issuer(&issuer.pubkey()).await.unwrap().unwrap();
    assert_eq!(on_chain.award_id_floor, on_chain.next_award_id());
    let (_, metrics) = service.get(None, "/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("sparks_issuer_batches_split_total"),
        "{metrics}"
    );
}
