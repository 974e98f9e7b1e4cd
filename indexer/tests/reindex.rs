//! `reindex`: stored transactions fetched and decoded again replace their
//! old rows exactly once; the use case is a decoder that learnt event types
//! after a program upgrade.

mod support;

use std::collections::BTreeMap;

use sparks_client::scenario;
use sparks_indexer::decoder::{Origin, Problem};
use sparks_indexer::indexer::IndexerConfig;
use sparks_indexer::store::{IndexedTransaction, Selection, Store};
use sparks_pglocal::PgServer;
use support::{never, snapshot, Env};

/// Every table but the cursor (reindex leaves it alone by design).
async fn tables(store: &Store) -> BTreeMap<&'static str, Vec<String>> {
    let mut all = snapshot(store).await;
    all.remove("cursor");
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindexing_what_an_older_decoder_stored_makes_it_as_if_decoded_right_once() {
    // Arrange: every instruction on chain, and a store as a build that did
    // not know some event types left it: those transactions stored with an
    // `undecodable` problem and no events. A second store holds what this
    // build makes of the chain.
    let env = Env::start().await;
    scenario::every_instruction(&env.rpc).await.unwrap();
    let transactions = env.transactions().await;
    let as_older_build: Vec<IndexedTransaction> = transactions
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let mut t = t.clone();
            if !t.events.is_empty() && n % 3 == 0 {
                t.problems.push(Problem::Undecodable {
                    origin: Origin::InnerInstruction,
                    reason: "unknown event discriminator (a build before the upgrade)".into(),
                });
                t.events.clear();
            }
            t
        })
        .collect();
    let stripped = transactions.len()
        - as_older_build
            .iter()
            .zip(&transactions)
            .filter(|(old, new)| old.events.len() == new.events.len())
            .count();
    assert!(
        stripped >= 3,
        "{stripped} transactions stored without events"
    );
    env.store.apply(&as_older_build, None).await.unwrap();
    let pg = PgServer::start().unwrap();
    let expected = Store::connect(&pg.url()).await.unwrap();
    expected.migrate().await.unwrap();
    expected.apply(&transactions, None).await.unwrap();
    assert_ne!(tables(&env.store).await, tables(&expected).await);
    let cursor = env.store.cursor().await.unwrap();
    let indexer = env.indexer(IndexerConfig::default());

    // Act
    let progress = indexer
        .reindex(&Selection::WithProblems, &never())
        .await
        .unwrap();

    // Assert: as if decoded right the first time, cursor untouched.
    assert!(progress.transactions >= stripped as u64, "{progress:?}");
    assert_eq!(tables(&env.store).await, tables(&expected).await);
    assert_eq!(env.store.cursor().await.unwrap(), cursor);
    env.assert_mirrors_chain().await;

    // Act again: everything, by slot range. Assert: nothing changes.
    let before = tables(&env.store).await;
    let progress = indexer
        .reindex(
            &Selection::Slots {
                from: 0,
                until: i64::MAX as u64,
            },
            &never(),
        )
        .await
        .unwrap();
    assert_eq!(progress.transactions, transactions.len() as u64);
    assert_eq!(tables(&env.store).await, before);

    // And by signature: one transaction, replaced once.
    let one = transactions.last().unwrap().signature.clone();
    let progress = indexer
        .reindex(&Selection::Signatures(vec![one]), &never())
        .await
        .unwrap();
    assert_eq!(progress.transactions, 1);
    assert_eq!(tables(&env.store).await, before);
}
