//! Rolling back dropped transactions: the state is as if they were never
//! seen, and only the accounts they touched are rewritten.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use anchor_lang::prelude::Pubkey;
use sparks::events::SparksAwarded;
use sparks::state::{Source, SparkAccount};
use sparks_client::events::SparksEvent;
use sparks_client::scenario;
use sparks_indexer::decoder::{DecodedEvent, Origin};
use sparks_indexer::store::{IndexedTransaction, Store, LEADERBOARD_DEPTH};
use sparks_pglocal::PgServer;
use support::{snapshot, Env};

const PROJECTIONS: [(&str, &str); 7] = [
    ("spark_accounts", "wallet"),
    ("config", "address"),
    ("issuers", "authority"),
    ("perks", "address"),
    ("perk_claims", "address"),
    ("whitelists", "address"),
    ("whitelist_entries", "address"),
];

async fn fresh_store(pg: &PgServer) -> Store {
    let store = Store::connect(&pg.url()).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn reset(store: &Store) {
    sqlx::query(
        "TRUNCATE transactions, events, transaction_problems, ledger, referrals, config, issuers,
             spark_accounts, leaderboard, perks, perk_claims, whitelists, whitelist_entries",
    )
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE cursor SET signature = NULL, slot = 0, finalized_slot = 0")
        .execute(store.pool())
        .await
        .unwrap();
}

/// Each projection row's key and row version (`xmin` changes when a row is
/// rewritten).
async fn row_versions(store: &Store) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (table, column) in PROJECTIONS {
        let rows: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT '{table}:' || {column}, xmin::text FROM {table}"
        ))
        .fetch_all(store.pool())
        .await
        .unwrap();
        out.extend(rows);
    }
    out
}

/// The state tables as the API reads them (not the bookkeeping of when
/// rows were written).
fn state(snapshot: BTreeMap<&'static str, Vec<String>>) -> BTreeMap<&'static str, Vec<String>> {
    snapshot
        .into_iter()
        .filter(|(table, _)| !["transactions", "cursor"].contains(table))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transaction_rolled_back_alone_leaves_the_state_as_if_never_seen_and_rewrites_only_its_accounts(
) {
    // Arrange: every instruction of the program on chain, fetched once;
    // stores for the expected state and for one transaction's accounts.
    let env = Env::start().await;
    scenario::every_instruction(&env.rpc).await.unwrap();
    let transactions = env.transactions().await;
    let (pg_expected, pg_alone) = (PgServer::start().unwrap(), PgServer::start().unwrap());
    let (expected, alone) = (
        fresh_store(&pg_expected).await,
        fresh_store(&pg_alone).await,
    );
    let mut checked = 0;
    for dropped in transactions.iter().filter(|t| !t.events.is_empty()) {
        for store in [&env.store, &expected, &alone] {
            reset(store).await;
        }
        let without: Vec<_> = transactions
            .iter()
            .filter(|t| t.signature != dropped.signature)
            .cloned()
            .collect();
        expected.apply(&without, None).await.unwrap();
        // The accounts the dropped transaction touched: the rows it alone writes.
        alone
            .apply(std::slice::from_ref(dropped), None)
            .await
            .unwrap();
        let its_accounts: BTreeSet<String> = row_versions(&alone).await.into_keys().collect();
        env.store.apply(&transactions, None).await.unwrap();
        let before = row_versions(&env.store).await;

        // Act
        let rolled_back = env
            .store
            .roll_back(std::slice::from_ref(&dropped.signature))
            .await
            .unwrap();

        // Assert: as if never seen ...
        assert_eq!(
            state(snapshot(&env.store).await),
            state(snapshot(&expected).await),
            "rolling back {} ({:?})",
            dropped.signature,
            dropped
                .events
                .iter()
                .map(|e| e.event.name())
                .collect::<Vec<_>>()
        );
        assert_eq!(rolled_back.transactions, 1);
        assert_eq!(rolled_back.events, dropped.events.len() as u64);
        // ... and every other account's row untouched.
        let after = row_versions(&env.store).await;
        let rewritten: BTreeSet<&String> = before
            .iter()
            .filter(|(row, version)| after.get(*row) != Some(*version))
            .map(|(row, _)| row)
            .chain(after.keys().filter(|row| !before.contains_key(*row)))
            .collect();
        let others: Vec<_> = rewritten
            .iter()
            .filter(|row| !its_accounts.contains(**row))
            .collect();
        assert!(
            others.is_empty(),
            "rolling back {} rewrote rows it never touched: {others:?}",
            dropped.signature
        );
        assert!(before.len() > its_accounts.len(), "rows it did not touch");
        checked += 1;
    }
    assert!(checked >= 10, "{checked} transactions rolled back");
}

/// An award transaction built by hand (the store's input type): `amount`
/// to a fresh account of `owner`.
fn award(signature: String, slot: u64, owner: Pubkey, amount: u64) -> IndexedTransaction {
    let mut account = SparkAccount::new(owner, 255);
    account.credit(Source::Trading, amount).unwrap();
    let event = SparksEvent::SparksAwarded(SparksAwarded {
        issuer: Pubkey::new_unique(),
        source: Source::Trading,
        amount,
        reference: [0; 32],
        award_id: slot,
        referral_from: None,
        referral_unpaid: 0,
        account,
    });
    IndexedTransaction {
        signature,
        slot,
        block_time: None,
        finalized: false,
        events: vec![DecodedEvent {
            index: 0,
            origin: Origin::InnerInstruction,
            event,
        }],
        problems: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_award_at_the_top_lets_the_next_wallet_into_the_leaderboard() {
    // Arrange: more wallets than the leaderboard holds, the richest by one
    // transaction that the chain then drops.
    let (pg, pg_expected) = (PgServer::start().unwrap(), PgServer::start().unwrap());
    let (store, expected) = (fresh_store(&pg).await, fresh_store(&pg_expected).await);
    let wallets = LEADERBOARD_DEPTH as u64 + 20;
    let mut transactions: Vec<_> = (0..wallets)
        .map(|i| award(format!("award-{i}"), 10 + i, Pubkey::new_unique(), 100 + i))
        .collect();
    let top = award("the-top".into(), 1_000, Pubkey::new_unique(), 1_000_000);
    expected.apply(&transactions, None).await.unwrap();
    transactions.push(top);
    store.apply(&transactions, None).await.unwrap();
    let last_place = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT min(earned) FROM leaderboard WHERE ranking = 'lifetime'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
    };
    let last_before = last_place().await;

    // Act
    let rolled_back = store.roll_back(&["the-top".to_owned()]).await.unwrap();

    // Assert: the wallet that was 101st is back in, as if never pushed out.
    assert_eq!(rolled_back.rankings, 2, "lifetime and trading");
    assert!(last_place().await < last_before);
    assert_eq!(
        state(snapshot(&store).await),
        state(snapshot(&expected).await)
    );
}
