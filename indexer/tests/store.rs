//! The store against a private Postgres, fed generated events (no chain):
//! what needs many wallets and many orders to show.

use std::collections::HashMap;

use anchor_lang::prelude::Pubkey;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sparks::events::SparksAwarded;
use sparks::state::{Source, SparkAccount};
use sparks_client::events::SparksEvent;
use sparks_indexer::decoder::{DecodedEvent, Origin};
use sparks_indexer::store::{IndexedTransaction, Pipeline, Store, LEADERBOARD_DEPTH};
use sparks_pglocal::PgServer;

const RANKINGS: [(&str, &str); 5] = [
    ("lifetime", "lifetime_earned"),
    ("trading", "earned_trading"),
    ("subscription", "earned_subscription"),
    ("campaign", "earned_campaign"),
    ("referral", "earned_referral"),
];

/// `count` awards of random sources and amounts (few distinct amounts, so
/// scores tie) over `wallets` wallets, each a valid next state of its account.
fn awards(rng: &mut StdRng, wallets: usize, count: usize) -> Vec<IndexedTransaction> {
    let owners: Vec<Pubkey> = (0..wallets).map(|_| Pubkey::new_unique()).collect();
    let mut accounts: HashMap<Pubkey, SparkAccount> = HashMap::new();
    (0..count)
        .map(|n| {
            let owner = owners[rng.gen_range(0..wallets)];
            let source = Source::ALL[rng.gen_range(0..Source::COUNT)];
            let amount = 50 * rng.gen_range(1..6u64);
            let account = accounts
                .entry(owner)
                .or_insert_with(|| SparkAccount::new(owner, 255));
            account.seq += 1;
            account.balance += amount;
            account.lifetime_earned += amount;
            account.earned_by_source[source.index()] += amount;
            let event = SparksEvent::SparksAwarded(SparksAwarded {
                issuer: Pubkey::new_unique(),
                source,
                amount,
                reference: [0; 32],
                award_id: 0,
                referral_unpaid: 0,
                referral_from: None,
                account: account.clone(),
            });
            IndexedTransaction {
                signature: format!("award-{n}"),
                slot: 1 + n as u64,
                block_time: Some(1_760_000_000 + n as i64),
                finalized: false,
                events: vec![DecodedEvent {
                    index: 0,
                    origin: Origin::InnerInstruction,
                    event,
                }],
                problems: Vec::new(),
            }
        })
        .collect()
}

/// Each ranking as the leaderboard serves it, next to the same ranking
/// computed from every account.
async fn rankings(store: &Store) -> Vec<(String, Vec<(String, i64)>, Vec<(String, i64)>)> {
    let mut out = Vec::new();
    for (ranking, column) in RANKINGS {
        let kept: Vec<(String, i64)> = sqlx::query_as(
            "SELECT wallet, earned FROM leaderboard WHERE ranking = $1 \
             ORDER BY earned DESC, wallet LIMIT $2",
        )
        .bind(ranking)
        .bind(LEADERBOARD_DEPTH)
        .fetch_all(store.pool())
        .await
        .unwrap();
        let full: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT wallet, {column} FROM spark_accounts WHERE {column} > 0 \
             ORDER BY {column} DESC, wallet LIMIT $1"
        ))
        .bind(LEADERBOARD_DEPTH)
        .fetch_all(store.pool())
        .await
        .unwrap();
        out.push((ranking.to_owned(), kept, full));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaderboard_is_the_exact_top_of_every_ranking_in_any_order() {
    let seed = std::env::var("SPARKS_LEADERBOARD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("SPARKS_LEADERBOARD_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let pg = PgServer::start().unwrap();
    // 600 wallets, 6,000 awards: every ranking has far more than 100 wallets.
    let transactions = awards(&mut rng, 600, 6_000);
    for (round, shuffled) in [(0, false), (1, true)] {
        let url = pg.create_database(&format!("round{round}")).unwrap();
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let mut batches: Vec<Vec<IndexedTransaction>> = Vec::new();
        let mut rest = transactions.as_slice();
        while !rest.is_empty() {
            let size = rng.gen_range(1..=300).min(rest.len());
            batches.push(rest[..size].to_vec());
            rest = &rest[size..];
        }
        if shuffled {
            batches.shuffle(&mut rng);
        }
        // Two batches in flight, as the indexer commits; the cursor is left
        // alone when the batches are out of order.
        let advance = |from: Option<String>| (!shuffled).then_some(from);
        let mut pipeline = Pipeline::new(store.clone(), 2, advance(None));
        for (n, batch) in batches.into_iter().enumerate() {
            let newest = batch.last().unwrap();
            let newest = (newest.signature.clone(), newest.slot);
            pipeline.push(batch, newest.clone()).await.unwrap();
            if n % 10 == 9 {
                // Mid-stream too: drain what is in flight, check, go on.
                let next = Pipeline::new(store.clone(), 2, advance(Some(newest.0)));
                std::mem::replace(&mut pipeline, next)
                    .finish()
                    .await
                    .unwrap();
                for (ranking, kept, full) in rankings(&store).await {
                    assert_eq!(
                        kept,
                        full,
                        "{ranking} after {} batches (seed {seed})",
                        n + 1
                    );
                }
            }
        }
        pipeline.finish().await.unwrap();
        if !shuffled {
            let cursor = store.cursor().await.unwrap();
            assert_eq!(
                cursor.signature,
                transactions.last().map(|t| t.signature.clone())
            );
        }
        for (ranking, kept, full) in rankings(&store).await {
            assert_eq!(kept.len(), LEADERBOARD_DEPTH as usize, "{ranking}");
            assert_eq!(kept, full, "{ranking}, shuffled {shuffled} (seed {seed})");
        }
        // Only the top is kept: ties at the last place are the only extra rows.
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM leaderboard")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(rows < 5 * 2 * LEADERBOARD_DEPTH, "{rows} rows kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_stops_the_batches_after_it_and_the_cursor() {
    let mut rng = StdRng::seed_from_u64(7);
    let pg = PgServer::start().unwrap();
    let mut transactions = awards(&mut rng, 5, 3);
    // The middle batch cannot be stored: a balance beyond bigint.
    let SparksEvent::SparksAwarded(award) = &mut transactions[1].events[0].event else {
        unreachable!("awards() makes awards")
    };
    award.account.balance = u64::MAX;
    // With the cursor moving, and without (a slot-range replay), where only
    // the pipeline's own ordering can refuse the batch after the bad one.
    for (round, advance) in [Some(None), None].into_iter().enumerate() {
        let url = pg.create_database(&format!("round{round}")).unwrap();
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let mut pipeline = Pipeline::new(store.clone(), 2, advance.clone());
        let mut refusals = Vec::new();
        for transaction in &transactions {
            let newest = (transaction.signature.clone(), transaction.slot);
            if let Err(error) = pipeline.push(vec![transaction.clone()], newest).await {
                refusals.push(error.to_string());
            }
        }
        if let Err(error) = pipeline.finish().await {
            refusals.push(error.to_string());
        }
        // The bad batch is refused, and so is the one after it, which had
        // already written its own rows when the bad one failed.
        assert!(
            refusals.iter().any(|e| e.contains("bigint")),
            "{refusals:?}"
        );
        let stored: Vec<String> = sqlx::query_scalar("SELECT signature FROM transactions")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(
            stored,
            [transactions[0].signature.clone()],
            "cursor {advance:?}"
        );
        let cursor = store.cursor().await.unwrap();
        let expected = advance.as_ref().map(|_| transactions[0].signature.clone());
        assert_eq!(cursor.signature, expected);
        // Nothing half-written: the refused batches left no rows anywhere.
        for table in ["events", "ledger"] {
            let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(rows, 1, "{table}, cursor {advance:?}");
        }
    }
}
