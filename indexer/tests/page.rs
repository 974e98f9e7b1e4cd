//! The settings page in headless Chromium (Debian's chromium and
//! chromedriver), against a real local chain, the indexer running live, its
//! API and Postgres, with a Wallet Standard test wallet (tests/wallet,
//! backed by a fixed test keypair) injected into the page by WebDriver.
//!
//! Screenshots go to `$CARGO_TARGET_DIR/tmp/`, and to docs/screenshots with
//! `SPARKS_SCREENSHOTS=1`.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use axum::Json;

use anchor_lang::prelude::Pubkey;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::instructions::{CreatePerkParams, WhitelistTerms};
use sparks::state::{PerkKind, Source, WhitelistEntry};
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::{pda, scenario};
use sparks_indexer::api::ApiConfig;
use support::{run_live, Env};

const OPEN: Perk = Perk {
    id: 1,
    cost: 300,
    supply: 0,
    per_wallet: 1,
    window: (0, i64::MAX),
};
const SOLD_OUT: Perk = Perk {
    id: 2,
    cost: 10,
    supply: 1,
    per_wallet: 0,
    window: (0, i64::MAX),
};
const DEAR: Perk = Perk {
    id: 3,
    cost: 1_000_000,
    supply: 0,
    per_wallet: 0,
    window: (0, i64::MAX),
};
const OVER: Perk = Perk {
    id: 4,
    cost: 5,
    supply: 0,
    per_wallet: 0,
    window: (0, 1_000),
};
/// Shown available; another wallet takes its only unit while the page is
/// open, so only the program can tell the user.
const STALE: Perk = Perk {
    id: 6,
    cost: 10,
    supply: 1,
    per_wallet: 0,
    window: (0, i64::MAX),
};
const WHITELIST: u64 = 5;

struct Perk {
    id: u64,
    cost: u64,
    supply: u64,
    per_wallet: u32,
    window: (i64, i64),
}

/// A chromedriver of our own and its browser session.
struct Browser {
    driver: Child,
    client: Client,
}

impl Browser {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver (apt-get install chromium chromium-driver; scripts/test installs it)",
            );
        let capabilities: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1500"]
            }
        }))
        .unwrap();
        let started = Instant::now();
        let client = loop {
            match fantoccini::ClientBuilder::new(
                hyper_util::client::legacy::connect::HttpConnector::new(),
            )
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            {
                Ok(client) => break client,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(error) => panic!("chromedriver session: {error}"),
            }
        };
        Self { driver, client }
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Polls `script` until `done` holds for what it returns.
    async fn until(&self, what: &str, script: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.js(script).await;
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "the page never showed {what}; last: {value}\n{}",
                self.js("return document.body.innerText").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reloads the page and waits for its verification to be `state`, saying `says`.
    async fn reloaded_until(&self, what: &str, state: &'static str, says: &str) {
        self.client.refresh().await.unwrap();
        let shown = self.until(what, VERIFICATION, state_is(state)).await;
        assert!(shown[2].as_str().unwrap().contains(says), "{shown}");
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        std::fs::create_dir_all(target.join("tmp")).unwrap();
        std::fs::write(target.join("tmp").join(name), &png).unwrap();
        if std::env::var_os("SPARKS_SCREENSHOTS").is_some() {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(name), &png).unwrap();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The page's JSON-RPC endpoint as a provider with a node behind the others:
/// while `stale` is on, `getAccountInfo` is answered *successfully* with the
/// first answer seen for that account, at its old context slot, the way a
/// node that has not caught up answers. While `lost_send_answers` is on, a
/// `sendTransaction` reaches the chain but its answer is lost (a 502 from
/// the provider's gateway). Everything else goes to the chain.
struct StaleNode {
    url: String,
    stale: Arc<AtomicBool>,
    lost_send_answers: Arc<AtomicBool>,
}

impl StaleNode {
    async fn start(upstream: String) -> Self {
        let stale = Arc::new(AtomicBool::new(false));
        let lost_send_answers = Arc::new(AtomicBool::new(false));
        let first_answers: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let http = reqwest::Client::new();
        let handler = {
            let (stale, lost) = (stale.clone(), lost_send_answers.clone());
            move |Json(request): Json<Value>| {
                let (stale, lost, first_answers, http, upstream) = (
                    stale.clone(),
                    lost.clone(),
                    first_answers.clone(),
                    http.clone(),
                    upstream.clone(),
                );
                async move {
                    let account = (request["method"] == "getAccountInfo")
                        .then(|| request["params"][0].as_str().unwrap_or_default().to_owned());
                    if let Some(account) = &account {
                        if stale.load(Ordering::SeqCst) {
                            if let Some(old) = first_answers.lock().unwrap().get(account) {
                                let mut old = old.clone();
                                old["id"] = request["id"].clone();
                                return Json(old).into_response();
                            }
                        }
                    }
                    let answer: Value = http
                        .post(&upstream)
                        .json(&request)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    if let Some(account) = account {
                        first_answers
                            .lock()
                            .unwrap()
                            .entry(account)
                            .or_insert_with(|| answer.clone());
                    }
                    if request["method"] == "sendTransaction" && lost.load(Ordering::SeqCst) {
                        return axum::http::StatusCode::BAD_GATEWAY.into_response();
                    }
                    Json(answer).into_response()
                }
            }
        };
        let app = axum::Router::new()
            .route("/", axum::routing::post(handler))
            .layer(tower_http::cors::CorsLayer::permissive());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            stale,
            lost_send_answers,
        }
    }
}

/// The test wallet's script, bundled from tests/wallet/test-wallet.ts.
fn test_wallet_script() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wallet");
    let out = Command::new("node")
        .arg(dir.join("build.mjs"))
        .output()
        .expect("node builds the test wallet (npm ci at the root first; ./scripts/test does)");
    assert!(
        out.status.success(),
        "building the test wallet:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Registers the test wallet in the page, holding `key`.
async fn inject_wallet(browser: &Browser, script: &str, key: &Keypair) {
    let install = format!(
        "{script}\nreturn SparksTestWalletInstaller.install(arguments[0], ['solana:localnet']).then(() => true);"
    );
    let secret: Vec<u8> = key.to_bytes().to_vec();
    let done = browser
        .client
        .execute(&install, vec![json!(secret)])
        .await
        .unwrap();
    assert_eq!(done, json!(true));
}

/// Registers the test wallet holding `key` and connects it from the page.
async fn connect_wallet(browser: &Browser, script: &str, key: &Keypair) {
    inject_wallet(browser, script, key).await;
    browser
        .until(
            "an enabled Connect",
            "return document.getElementById('connect').disabled",
            |v| v == false,
        )
        .await;
    browser.click("#connect").await;
}

const VERIFICATION: &str = "const v = document.getElementById('verification'); return [v.dataset.state, v.dataset.slot ?? null, v.textContent];";
const OUTCOME: &str = "const p = document.getElementById('progress'); return [p.dataset.outcome ?? null, p.dataset.error ?? null, p.innerText];";

fn state_is(want: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v[0] == want
}

async fn create_perk(env: &Env, admin: &Keypair, perk: &Perk, kind: PerkKind, uri: &str) {
    let params = CreatePerkParams {
        id: perk.id,
        kind,
        cost: perk.cost,
        max_supply: perk.supply,
        per_wallet_limit: perk.per_wallet,
        starts_at: perk.window.0,
        ends_at: perk.window.1,
        uri: uri.into(),
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

/// Tampers with the wallet's projection row in the index: `UPDATE spark_accounts SET {set}`.
async fn tamper(env: &Env, set: &str, wallet: &str) {
    sqlx::query(&format!(
        "UPDATE spark_accounts SET {set} WHERE wallet = $1"
    ))
    .bind(wallet)
    .execute(env.store.pool())
    .await
    .unwrap();
}

/// The wallet's balance and seq on chain.
async fn on_chain(env: &Env, wallet: &Keypair) -> (u64, u64) {
    let spark = env.rpc.spark(&wallet.pubkey()).await.unwrap().unwrap();
    (spark.balance, spark.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_wallet_verifies_redeems_and_joins_from_the_page() {
    support::logs();
    let env = Env::start().await;
    let (admin, issuer, user, other) = (
        Keypair::new(),
        Keypair::new(),
        Keypair::new(),
        Keypair::new(),
    );
    scenario::deploy(&env.rpc, &admin, &issuer).await.unwrap();
    scenario::fund(&env.rpc, &[user.pubkey(), other.pubkey()], 10_000_000_000)
        .await
        .unwrap();
    create_perk(
        &env,
        &admin,
        &OPEN,
        PerkKind::DiscordRole,
        "https://sparks.example/perks/discord-og-role",
    )
    .await;
    create_perk(
        &env,
        &admin,
        &SOLD_OUT,
        PerkKind::EventTicket,
        "https://sparks.example/perks/meetup-ticket",
    )
    .await;
    create_perk(
        &env,
        &admin,
        &DEAR,
        PerkKind::TrafficBoost,
        "https://sparks.example/perks/front-page-boost",
    )
    .await;
    create_perk(
        &env,
        &admin,
        &OVER,
        PerkKind::Custom,
        "https://sparks.example/perks/early-bird",
    )
    .await;
    create_perk(
        &env,
        &admin,
        &STALE,
        PerkKind::EventTicket,
        "https://sparks.example/perks/last-seat",
    )
    .await;
    let terms = WhitelistTerms {
        consumer: example_mint::minter_address().0,
        capacity: 100,
        spots_per_wallet: 2,
        min_lifetime_sparks: 500,
        starts_at: 0,
        ends_at: i64::MAX,
    };
    env.rpc
        .send(
            &[ix::create_whitelist(
                &admin.pubkey(),
                WHITELIST,
                &admin.pubkey(),
                terms,
            )],
            &admin,
            &[],
        )
        .await
        .unwrap();
    let first = env
        .rpc
        .reserve_award_ids(&issuer.pubkey(), 2, true)
        .await
        .unwrap();
    for (i, (wallet, amount)) in [(&user, 1_000), (&other, 100)].into_iter().enumerate() {
        let row = BatchRow {
            wallet: wallet.pubkey(),
            amount,
            referrer: None,
            creates_account: true,
            prefunded: false,
            pays_referral: false,
        };
        let award = ix::award_batch(
            &issuer.pubkey(),
            Source::Trading,
            [1; 32],
            first + i as u64,
            &[row],
        );
        env.rpc.send(&[award], &issuer, &[]).await.unwrap();
    }
    // The whitelist's admin grants the user a spot; joining stays open to
    // it (spots per wallet: 2), as the program allows.
    env.rpc
        .send(
            &[ix::grant_whitelist(
                &admin.pubkey(),
                WHITELIST,
                &user.pubkey(),
                1,
            )],
            &admin,
            &[],
        )
        .await
        .unwrap();
    // Someone else takes the only meetup ticket.
    env.rpc
        .send(
            &[ix::redeem_perk(
                &other.pubkey(),
                &other.pubkey(),
                SOLD_OUT.id,
                None,
                SOLD_OUT.cost,
            )],
            &other,
            &[],
        )
        .await
        .unwrap();

    let (stop, indexing) = run_live(&env, env.chain.ws_url().to_owned()).await;
    let node = StaleNode::start(env.chain.rpc_url().to_owned()).await;
    let base = support::serve_api(
        &env,
        ApiConfig {
            rpc_url: Some(env.chain.rpc_url().to_owned()),
            // The page reads the chain through the provider with a stale node.
            public_rpc_url: Some(node.url.clone()),
            max_lag_seconds: 3.0,
            ..ApiConfig::default()
        },
    )
    .await;
    let wallet_script = test_wallet_script();
    let browser = Browser::start().await;
    let user_address = user.pubkey().to_string();

    // Someone sent lamports to a newcomer's SparkAccount address before the
    // program created the account there (the program allows for it): no
    // SparkAccount yet, verified as such, not a failed read.
    let newcomer = Keypair::new().pubkey();
    scenario::fund(&env.rpc, &[pda::spark(&newcomer)], 1_000_000)
        .await
        .unwrap();
    browser
        .client
        .goto(&format!("{base}/account?wallet={newcomer}"))
        .await
        .unwrap();
    browser
        .until("the newcomer verified", VERIFICATION, state_is("verified"))
        .await;

    // No wallet in the browser: the page still shows a wallet, read-only.
    browser
        .client
        .goto(&format!("{base}/account?wallet={user_address}"))
        .await
        .unwrap();
    browser
        .until(
            "a balance",
            "return document.getElementById('balance').textContent",
            |v| v == "1,000",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('connect').disabled")
            .await,
        json!(true)
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('button[data-action]').length")
            .await,
        json!(0)
    );

    // Connect: the wallet's account, and its figures verified on chain.
    connect_wallet(&browser, &wallet_script, &user).await;
    browser
        .until(
            "the connected account",
            "return document.getElementById('wallet-account').textContent",
            |v| v.as_str().is_some_and(|t| t.contains(&user_address[..4])),
        )
        .await;
    let verified = browser
        .until("verified", VERIFICATION, state_is("verified"))
        .await;
    assert!(
        verified[2]
            .as_str()
            .unwrap()
            .contains("Verified on chain at slot"),
        "{verified}"
    );
    browser.screenshot("account-connected-verified.png").await;

    // One projection row tampered with: the page shows the mismatch.
    tamper(&env, "balance = balance + 5", &user_address).await;
    browser
        .reloaded_until(
            "the mismatch",
            "mismatch",
            "balance: index 1,005, chain 1,000",
        )
        .await;
    tamper(&env, "balance = balance - 5", &user_address).await;
    // An index holding a change the chain has not (seq ahead, as after a
    // dropped fork kept or the wrong cluster): a mismatch once the node is
    // past the index's slot, not a node behind asked forever.
    tamper(&env, "seq = seq + 1", &user_address).await;
    browser
        .reloaded_until(
            "the index ahead",
            "mismatch",
            "the index has 2 changes to this account",
        )
        .await;
    tamper(&env, "seq = seq - 1", &user_address).await;
    browser.client.refresh().await.unwrap();
    browser
        .until("verified again", VERIFICATION, state_is("verified"))
        .await;
    connect_wallet(&browser, &wallet_script, &user).await;

    // Redeem: the wallet signs (slowly, to see it in progress), the page sends
    // and follows it to the index.
    browser
        .js("window.sparksTestWallet.signDelayMs = 1500")
        .await;
    let clicked = Instant::now();
    browser
        .click(&format!(
            "tr[data-perk='{}'] button[data-action='redeem']",
            OPEN.id
        ))
        .await;
    browser
        .until(
            "the redeem in progress",
            "return document.getElementById('progress').innerText",
            |v| {
                v.as_str()
                    .is_some_and(|t| t.contains("Waiting for your wallet to sign"))
            },
        )
        .await;
    browser.screenshot("account-redeem-in-progress.png").await;
    browser.js("window.sparksTestWallet.signDelayMs = 0").await;
    let outcome = browser
        .until("the redeem done", OUTCOME, |v| v[0] != "running")
        .await;
    let took = clicked.elapsed();
    assert_eq!(outcome[0], "done", "{outcome}");
    assert!(
        outcome[2]
            .as_str()
            .unwrap()
            .contains("Indexed: your balance is now 700 Sparks"),
        "{outcome}"
    );
    assert_eq!(on_chain(&env, &user).await.0, 700);
    assert_eq!(
        browser
            .js("return document.getElementById('balance').textContent")
            .await,
        "700"
    );
    let newest = browser
        .js("const r = document.querySelector('#history tbody tr'); return [r.cells[1].textContent, r.cells[2].textContent, r.cells[3].textContent];")
        .await;
    // The row says what was redeemed.
    assert_eq!(newest, json!(["redeem", "discord-og-role", "-300"]));
    // What the page sent: a compute-unit limit first (SBF meters units; a
    // busy cluster drops transactions without a budget), then the redeem.
    let signature = browser
        .js("return document.querySelector('#history tbody tr').cells[5].title")
        .await;
    let sent: Value = reqwest::Client::new()
        .post(env.chain.rpc_url())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "getTransaction",
            "params": [signature, {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message = &sent["result"]["transaction"]["message"];
    let programs: Vec<&str> = message["instructions"]
        .as_array()
        .unwrap_or_else(|| panic!("the redeem's transaction: {sent}"))
        .iter()
        .map(|i| {
            message["accountKeys"][i["programIdIndex"].as_u64().unwrap() as usize]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        (programs.first(), programs.last()),
        (
            Some(&"ComputeBudget111111111111111111111111111111"),
            Some(&sparks::ID.to_string().as_str())
        ),
        "{programs:?}"
    );
    // The limit is the Rust client's for the same redeem (both are made
    // from idl/compute-units.json), and the VM's count stays within it.
    let decoded = |i: &Value| -> (Vec<Pubkey>, Vec<u8>) {
        let keys = i["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                message["accountKeys"][k.as_u64().unwrap() as usize]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        let data = bs58::decode(i["data"].as_str().unwrap())
            .into_vec()
            .unwrap();
        (keys, data)
    };
    let instructions = message["instructions"].as_array().unwrap();
    let (_, budget) = decoded(&instructions[0]);
    assert_eq!(budget[0], 2, "SetComputeUnitLimit first");
    let limit = u32::from_le_bytes(budget[1..5].try_into().unwrap());
    let (keys, data) = decoded(instructions.last().unwrap());
    let redeem = anchor_lang::solana_program::instruction::Instruction {
        program_id: sparks::ID,
        accounts: keys
            .into_iter()
            .map(|k| anchor_lang::solana_program::instruction::AccountMeta::new_readonly(k, false))
            .collect(),
        data,
    };
    // The same limit the Rust client sets: the redeem's units plus the
    // compute-budget instructions' own (the limit, and a price if any).
    let budget_instructions = instructions.len() as u32 - 1;
    assert_eq!(
        limit,
        sparks_client::budget::units_for(&redeem)
            + sparks_client::budget::BUDGET_INSTRUCTION_UNITS * budget_instructions
    );
    let consumed = sent["result"]["meta"]["computeUnitsConsumed"]
        .as_u64()
        .unwrap();
    assert!(
        0 < consumed && consumed <= u64::from(limit),
        "{consumed} units used, {limit} asked for"
    );
    assert!(
        took < Duration::from_secs(10),
        "redeem to indexed took {took:?} (1.5 s of it signing)"
    );
    browser
        .until(
            "verified after the redeem",
            VERIFICATION,
            state_is("verified"),
        )
        .await;
    browser.screenshot("account-redeemed.png").await;

    // Refusals: by name, in words, and nothing changes.
    let before = on_chain(&env, &user).await;
    // The once-per-wallet perk shows it was claimed.
    assert_eq!(
        browser
            .js(&format!(
                "return document.querySelector(\"tr[data-perk='{}']\").cells[4].textContent",
                OPEN.id
            ))
            .await,
        "1/1"
    );
    // What the page knows would be refused is not offered: each shows why.
    for (perk, why) in [
        (&OPEN, "your limit is reached"),
        (&SOLD_OUT, "sold out"),
        (&DEAR, "not enough Sparks"),
        (&OVER, "outside its window"),
    ] {
        let shown = browser
            .js(&format!(
                "const r = document.querySelector(\"tr[data-perk='{}']\"); \
                 return [r.querySelector('button[data-action=redeem]').disabled, r.cells[6].textContent]",
                perk.id
            ))
            .await;
        assert_eq!(shown[0], true, "{shown}");
        assert!(shown[1].as_str().unwrap().contains(why), "{shown}");
    }
    // What it cannot know: another wallet takes the last seat meanwhile.
    env.rpc
        .send(
            &[ix::redeem_perk(
                &other.pubkey(),
                &other.pubkey(),
                STALE.id,
                None,
                STALE.cost,
            )],
            &other,
            &[],
        )
        .await
        .unwrap();
    browser
        .click(&format!(
            "tr[data-perk='{}'] button[data-action='redeem']",
            STALE.id
        ))
        .await;
    let outcome = browser
        .until("the refusal", OUTCOME, |v| v[0] != "running")
        .await;
    assert_eq!(outcome[0], "failed", "{outcome}");
    assert_eq!(outcome[1], "PerkSupplyExhausted", "{outcome}");
    assert!(
        outcome[2].as_str().unwrap().contains(
            "Refused by the program: PerkSupplyExhausted. This perk is sold out; nothing was spent."
        ),
        "{outcome}"
    );
    browser.screenshot("account-redeem-refused.png").await;
    assert_eq!(
        on_chain(&env, &user).await,
        before,
        "refused redeems changed nothing"
    );
    assert_eq!(
        browser
            .js("return document.getElementById('balance').textContent")
            .await,
        "700"
    );

    // Join the whitelist from the page beside the granted spot, the send's
    // answer lost on the way back (it reached the chain): the page follows
    // it as sent, to the index, and never says nothing happened. Then the
    // example mint mints for the wallet.
    node.lost_send_answers.store(true, Ordering::SeqCst);
    browser
        .click(&format!(
            "tr[data-whitelist='{WHITELIST}'] button[data-action='join']"
        ))
        .await;
    let outcome = browser
        .until("the join done", OUTCOME, |v| v[0] != "running")
        .await;
    assert_eq!(outcome[0], "done", "{outcome}");
    node.lost_send_answers.store(false, Ordering::SeqCst);
    browser
        .until("the spot", &format!("return document.querySelector(\"tr[data-whitelist='{WHITELIST}']\").cells[1].textContent"), |v| v == "2")
        .await;
    let (mint, token_account) = (Keypair::new(), Keypair::new());
    env.rpc
        .send(
            &[ix::example_mint_nft(
                &user.pubkey(),
                WHITELIST,
                &mint.pubkey(),
                &token_account.pubkey(),
            )],
            &user,
            &[&mint, &token_account],
        )
        .await
        .expect("the example mint mints for the wallet that joined from the page");
    let entry: WhitelistEntry = env
        .rpc
        .fetch(
            &pda::whitelist_entry(&pda::whitelist(WHITELIST), &user.pubkey()),
            "WhitelistEntry",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((entry.spots_granted, entry.spots_used), (2, 1));
    // The mint used the spot elsewhere (another tab, another site); the page
    // shows it used once it is looked at again (once indexed), without a
    // reload.
    support::wait_for(
        &env.store,
        &format!("SELECT count(*) FROM whitelist_entries WHERE wallet = '{user_address}' AND spots_used = 1"),
        1,
        Duration::from_secs(20),
    )
    .await;
    browser.js("window.sparksNotReloaded = true").await;
    browser
        .js("document.dispatchEvent(new Event('visibilitychange'))")
        .await;
    browser
        .until(
            "the spot used",
            &format!("const r = document.querySelector(\"tr[data-whitelist='{WHITELIST}']\"); return [r.cells[1].textContent, r.cells[2].textContent];"),
            |v| *v == json!(["1", "1"]),
        )
        .await;

    // Live, without a reload: the app's back end awards Sparks through the
    // issuer service. The page shows them pending; once the worker lands
    // them and the indexer stores them, the stream brings the new balance
    // and history rows (12: more than the page of 10 the page first asks
    // for, so it pages back to the newest row it shows), and the pending
    // mark goes.
    let (issuer_store, issuer_api, token) = support::issuer_service(&env, &issuer).await;
    support::post_awards(&issuer_api, &token, &user_address, "page", 1..=12).await;
    browser
        .until(
            "the awards pending",
            "const p = document.getElementById('pending'); return [p.hidden, p.textContent, p.dataset.count ?? null];",
            |v| *v == json!([false, "+78 pending", "12"]),
        )
        .await;
    browser.screenshot("account-pending.png").await;
    let (stop_worker, worker_shutdown) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(
        sparks_issuer::worker::Worker::new(
            issuer_store.clone(),
            sparks_client::rpc::SparksRpc::new(env.chain.rpc_url()),
            issuer.insecure_clone(),
            sparks_issuer::worker::WorkerConfig::default(),
        )
        .run(worker_shutdown),
    );
    browser
        .until(
            "the awards in the balance",
            "return document.getElementById('balance').textContent",
            |v| v == "778",
        )
        .await;
    let fresh = browser
        .until(
            "the new history rows",
            "return [...document.querySelectorAll('#history tbody tr.new')].filter(r => r.cells[1].textContent === 'award').map(r => r.cells[3].textContent)",
            |v| v.as_array().is_some_and(|rows| rows.len() == 12),
        )
        .await;
    let mut amounts: Vec<i64> = fresh
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().trim_start_matches('+').parse().unwrap())
        .collect();
    amounts.sort();
    assert_eq!(amounts, (1..=12).collect::<Vec<i64>>());
    browser
        .until(
            "no awards pending",
            "return document.getElementById('pending').hidden",
            |v| v == true,
        )
        .await;
    browser
        .until(
            "verified after the awards",
            VERIFICATION,
            state_is("verified"),
        )
        .await;
    assert_eq!(
        browser.js("return window.sparksNotReloaded === true").await,
        json!(true),
        "the page was reloaded"
    );
    assert_eq!(on_chain(&env, &user).await.0, 778);
    assert_eq!(
        browser
            .js("const s = [...document.querySelectorAll('#history tbody tr[data-seq]')].map(r => r.dataset.seq); return [s.length, new Set(s).size];")
            .await,
        json!([14, 14]),
        "each change once in the history"
    );
    stop_worker.send(true).unwrap();
    worker.await.unwrap();

    // A node behind the others answers with the account as it was: the page
    // says it asks again, never that the index is wrong, and verifies once
    // the node has caught up.
    node.stale.store(true, Ordering::SeqCst);
    browser.client.refresh().await.unwrap();
    let stale = browser
        .until(
            "the stale node noticed",
            VERIFICATION,
            state_is("node-behind"),
        )
        .await;
    assert!(
        stale[2].as_str().unwrap().contains("checking again"),
        "{stale}"
    );
    node.stale.store(false, Ordering::SeqCst);
    browser
        .until(
            "verified once the node caught up",
            VERIFICATION,
            state_is("verified"),
        )
        .await;

    // The indexer stops; the chain moves on: the page says the index is
    // behind, then warns once that lasts longer than the indexer's allowed lag.
    stop.send(true).unwrap();
    indexing.await.unwrap().unwrap();
    let id = env
        .rpc
        .reserve_award_ids(&issuer.pubkey(), 1, true)
        .await
        .unwrap();
    let row = BatchRow {
        wallet: user.pubkey(),
        amount: 5,
        referrer: None,
        creates_account: false,
        prefunded: false,
        pays_referral: false,
    };
    env.rpc
        .send(
            &[ix::award_batch(
                &issuer.pubkey(),
                Source::Campaign,
                [2; 32],
                id,
                &[row],
            )],
            &issuer,
            &[],
        )
        .await
        .unwrap();
    browser.client.refresh().await.unwrap();
    let behind = browser
        .until("the index behind", VERIFICATION, state_is("behind"))
        .await;
    assert!(
        behind[2]
            .as_str()
            .unwrap()
            .contains("The index is behind the chain by 1 change"),
        "{behind}"
    );
    let lagging = browser
        .until("the lag warning", VERIFICATION, state_is("lagging"))
        .await;
    assert!(
        lagging[2]
            .as_str()
            .unwrap()
            .contains("longer than the 3 s it may lag"),
        "{lagging}"
    );
    assert!(
        lagging[2]
            .as_str()
            .unwrap()
            .contains("The chain says your balance is 783 Sparks"),
        "{lagging}"
    );

    // The wallet switches accounts: the page follows; disconnect leaves it read-only.
    connect_wallet(&browser, &wallet_script, &user).await;
    browser
        .until(
            "the connected account",
            "return document.getElementById('wallet-account').title",
            |v| *v == json!(user_address),
        )
        .await;
    let other_secret: Vec<u8> = other.to_bytes().to_vec();
    browser
        .client
        .execute(
            "return window.sparksTestWallet.switchTo(arguments[0]).then(() => true)",
            vec![json!(other_secret)],
        )
        .await
        .unwrap();
    browser
        .until(
            "the other account's balance",
            "return document.getElementById('balance').textContent",
            |v| v == "80",
        )
        .await;
    assert!(
        browser
            .js("return document.getElementById('wallet-account').title")
            .await
            == json!(other.pubkey().to_string())
    );
    browser.click("#disconnect").await;
    browser
        .until(
            "Connect again",
            "return document.getElementById('connect').hidden",
            |v| v == false,
        )
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('button[data-action]').length")
            .await,
        json!(0)
    );

    // A page opened with no wallet named: connecting shows the wallet's own Sparks.
    browser
        .client
        .goto(&format!("{base}/account"))
        .await
        .unwrap();
    connect_wallet(&browser, &wallet_script, &user).await;
    browser
        .until(
            "the connected wallet's balance",
            "return [document.getElementById('wallet-account').title, document.getElementById('balance').textContent, document.querySelectorAll('button[data-action=redeem]').length]",
            |v| *v == json!([user_address, "778", 5]),
        )
        .await;

    // A newcomer: SOL, but no Sparks account yet. Nothing it cannot do is
    // offered, and the page says why in words.
    let newcomer = Keypair::new();
    scenario::fund(&env.rpc, &[newcomer.pubkey()], 1_000_000_000)
        .await
        .unwrap();
    browser
        .client
        .execute(
            "return window.sparksTestWallet.switchTo(arguments[0]).then(() => true)",
            vec![json!(newcomer.to_bytes().to_vec())],
        )
        .await
        .unwrap();
    let newcomer_address = newcomer.pubkey().to_string();
    browser
        .until(
            "the newcomer's page",
            "return [document.getElementById('wallet-account').title, document.getElementById('finality').textContent]",
            |v| v[0] == json!(newcomer_address) && v[1].as_str().is_some_and(|t| t.starts_with("No Sparks yet")),
        )
        .await;
    let offered = browser
        .js("return [...document.querySelectorAll('tr[data-perk]')].map((r) => [r.querySelector('button[data-action=redeem]').disabled, r.cells[6].textContent])")
        .await;
    for row in offered.as_array().unwrap() {
        assert_eq!(row[0], true, "{offered}");
        assert!(
            row[1].as_str().unwrap().contains("you have no Sparks yet"),
            "{offered}"
        );
    }
    browser.screenshot("account-newcomer.png").await;
}
