//! Rollback at scale: a store of `events` events (6-award batch
//! transactions of 1..1,000 Sparks each over `wallets` wallets, one transaction in 100 a perk
//! redemption, and one wallet made the leaderboard's top by the newest
//! award), committed through the store's pipeline into a durable private
//! Postgres. The API (in-process, its default configuration, its own
//! pool) is read by 8 concurrent clients (a wallet's summary and history
//! page, random wallets) for `seconds` without rollbacks, then for
//! `seconds` while recent transactions are rolled back one at a time and
//! re-applied (a dropped fork and its replay): plain award batches, a
//! redemption (perk, claim, whitelist-free), and the award that made the
//! top wallet (its rankings recomputed). Prints the API's p50/p99/max in
//! both phases and each kind of rollback's duration.
//!
//! cargo bench -p sparks-indexer --bench rollback -- [events] [wallets] [seconds]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use rand::{Rng, SeedableRng};
use sparks::events::{PerkRedeemed, SparksAwarded};
use sparks::state::{Perk, PerkClaim, PerkKind, Source, SparkAccount};
use sparks_client::events::SparksEvent;
use sparks_client::pda;
use sparks_indexer::api::{self, ApiConfig, AppState};
use sparks_indexer::decoder::{DecodedEvent, Origin};
use sparks_indexer::store::{IndexedTransaction, Pipeline, Store};

mod common;

const ROWS_PER_AWARD: usize = 6;
const PERKS: u64 = 10;

/// Generates valid successive states for every account it hands out.
struct Chain {
    accounts: Vec<SparkAccount>,
    perks: Vec<Perk>,
    claims: std::collections::HashMap<(u64, usize), PerkClaim>,
    next: u64,
}

impl Chain {
    fn new(wallets: usize) -> Self {
        let perks = (0..PERKS)
            .map(|id| Perk {
                id,
                kind: PerkKind::DiscordRole,
                cost: 1,
                max_supply: u64::from(u32::MAX),
                claimed: 0,
                per_wallet_limit: u32::MAX,
                starts_at: 0,
                ends_at: i64::MAX,
                active: true,
                whitelist: None,
                uri: "https://example.com/perk".into(),
                seq: 1,
                bump: 255,
            })
            .collect();
        Self {
            accounts: (0..wallets)
                .map(|_| SparkAccount::new(Pubkey::new_unique(), 255))
                .collect(),
            perks,
            claims: Default::default(),
            next: 0,
        }
    }

    fn transaction(&mut self, events: Vec<SparksEvent>) -> IndexedTransaction {
        let n = self.next;
        self.next += 1;
        let mut bytes = [7u8; 64];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        IndexedTransaction {
            signature: bs58::encode(bytes).into_string(),
            slot: 1_000 + n,
            block_time: Some(1_760_000_000 + n as i64),
            finalized: false,
            events: events
                .into_iter()
                .enumerate()
                .map(|(index, event)| DecodedEvent {
                    index: index as u32,
                    origin: Origin::InnerInstruction,
                    event,
                })
                .collect(),
            problems: Vec::new(),
        }
    }

    fn award(&mut self, wallet: usize, amount: u64) -> SparksEvent {
        let account = &mut self.accounts[wallet];
        account.credit(Source::Trading, amount).unwrap();
        SparksEvent::SparksAwarded(SparksAwarded {
            issuer: Pubkey::new_from_array([9; 32]),
            source: Source::Trading,
            amount,
            reference: [0; 32],
            award_id: self.next,
            referral_from: None,
            referral_unpaid: 0,
            account: account.clone(),
        })
    }

    fn redeem(&mut self, wallet: usize, perk: u64) -> SparksEvent {
        let p = &mut self.perks[perk as usize];
        p.claimed += 1;
        p.seq += 1;
        let owner = self.accounts[wallet].owner;
        let claim = self
            .claims
            .entry((perk, wallet))
            .or_insert_with(|| PerkClaim {
                perk: pda::perk(perk),
                owner,
                times_claimed: 0,
                seq: 0,
                bump: 255,
            });
        claim.times_claimed += 1;
        claim.seq += 1;
        let account = &mut self.accounts[wallet];
        account.spend(p.cost).unwrap();
        SparksEvent::PerkRedeemed(PerkRedeemed {
            perk: p.clone(),
            claim: claim.clone(),
            account: account.clone(),
        })
    }
}

fn quantiles(mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return "none".into();
    }
    values.sort_by(f64::total_cmp);
    let q = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
    format!(
        "n {}, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        values.len(),
        q(0.5),
        q(0.99),
        values[values.len() - 1]
    )
}

fn main() {
    let events = common::arg(0, 1_000_000);
    let wallets = common::arg(1, 100_000) as usize;
    let seconds = common::arg(2, 15);

    // Awards to the wallets in turn, a redemption every 100th transaction.
    let mut chain = Chain::new(wallets + 1);
    let mut generated = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let (mut made, mut turn) = (0u64, 0usize);
    while made < events {
        let events = if chain.next % 100 == 99 {
            // The wallet awarded last: it has Sparks to spend.
            vec![chain.redeem(turn, chain.next / 100 % PERKS)]
        } else {
            (0..ROWS_PER_AWARD)
                .map(|_| {
                    turn = (turn + 1) % wallets;
                    chain.award(turn, rng.gen_range(1..=1_000))
                })
                .collect()
        };
        made += events.len() as u64;
        let tx = chain.transaction(events);
        generated.push(tx);
    }
    let top = chain.award(wallets, 1_000_000_000);
    let top = chain.transaction(vec![top]);
    generated.push(top.clone());
    let wallet_keys: Vec<String> = chain.accounts[..wallets]
        .iter()
        .map(|a| a.owner.to_string())
        .collect();

    let pg = common::durable_postgres(&[]);
    common::runtime().block_on(async move {
        let store = common::migrated_store(&pg.url()).await;
        let started = Instant::now();
        let mut pipeline = Pipeline::new(store.clone(), 2, Some(None));
        for chunk in generated.chunks(1_000) {
            let newest = chunk.last().unwrap();
            let newest = (newest.signature.clone(), newest.slot);
            pipeline.push(chunk.to_vec(), newest).await.unwrap();
        }
        pipeline.finish().await.unwrap();
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(store.pool())
            .await
            .unwrap();
        println!(
            "filled: {} transactions, {stored} events, {wallets} wallets in {:.1} s",
            generated.len(),
            started.elapsed().as_secs_f64()
        );
        sqlx::query("VACUUM ANALYZE")
            .execute(store.pool())
            .await
            .unwrap();

        // The API, in-process on its own pool.
        let api_pool = api::connect(&pg.url()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(api_pool, ApiConfig::default());
        tokio::spawn(api::serve(listener, state, std::future::pending()));

        let recent_awards: Vec<IndexedTransaction> = generated
            .iter()
            .rev()
            .skip(1)
            .filter(|t| t.events.len() == ROWS_PER_AWARD)
            .take(200)
            .cloned()
            .collect();
        let recent_redemptions: Vec<IndexedTransaction> = generated
            .iter()
            .rev()
            .filter(|t| matches!(t.events[0].event, SparksEvent::PerkRedeemed(_)))
            .take(50)
            .cloned()
            .collect();

        let baseline = load(&base, &wallet_keys, seconds, None).await;
        println!("API without rollbacks: {}", quantiles(baseline));
        let durations = Arc::new(Mutex::new([Vec::new(), Vec::new(), Vec::new()]));
        let rolling = {
            let (store, durations) = (store.clone(), durations.clone());
            let (top, awards, redemptions) = (top.clone(), recent_awards, recent_redemptions);
            async move {
                let mut round = 0usize;
                loop {
                    let (kind, tx) = match round % 4 {
                        0 | 1 => (0, &awards[round % awards.len()]),
                        2 => (1, &redemptions[round % redemptions.len()]),
                        _ => (2, &top),
                    };
                    round += 1;
                    let started = Instant::now();
                    store
                        .roll_back(std::slice::from_ref(&tx.signature))
                        .await
                        .unwrap();
                    let took = started.elapsed().as_secs_f64() * 1e3;
                    durations.lock().unwrap()[kind].push(took);
                    replay(&store, tx).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let during = load(&base, &wallet_keys, seconds, Some(Box::pin(rolling))).await;
        println!("API during rollbacks: {}", quantiles(during));
        let durations = durations.lock().unwrap().clone();
        for (name, values) in [
            "rollback of a 6-award batch",
            "rollback of a redemption",
            "rollback of the top wallet's only award (2 rankings recomputed)",
        ]
        .iter()
        .zip(durations)
        {
            println!("{name}: {}", quantiles(values));
        }
    });
}

/// Stores `tx` again after its rollback (the fork's replay).
async fn replay(store: &Store, tx: &IndexedTransaction) {
    store.apply(std::slice::from_ref(tx), None).await.unwrap();
}

/// Reads the API from 8 clients for `seconds` (with `alongside` running
/// meanwhile); returns each request's latency in ms.
async fn load(
    base: &str,
    wallets: &[String],
    seconds: u64,
    alongside: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
) -> Vec<f64> {
    let client = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    let side = alongside.map(tokio::spawn);
    let clients: Vec<_> = (0..8u64)
        .map(|c| {
            let (client, base, wallets) = (client.clone(), base.to_owned(), wallets.to_vec());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(c);
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let wallet = &wallets[rng.gen_range(0..wallets.len())];
                    let path = if rng.gen_bool(0.5) {
                        format!("{base}/v1/wallets/{wallet}/sparks")
                    } else {
                        format!("{base}/v1/wallets/{wallet}/history?limit=20")
                    };
                    let started = Instant::now();
                    let response = client.get(&path).send().await.unwrap();
                    assert!(response.status().is_success(), "{path}");
                    response.bytes().await.unwrap();
                    latencies.push(started.elapsed().as_secs_f64() * 1e3);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    if let Some(side) = side {
        side.abort();
    }
    all
}
