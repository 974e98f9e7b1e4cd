//! A transaction that lands in the last valid blocks of its blockhash is
//! reported as landed, by the client and by the worker, and never sent
//! again: expiry is decided by the block height at the commitment statuses
//! and award ids are read at (`confirmed`), and the statuses are read after
//! that decision (docs/PROGRAM.md, rule 3).

mod support;

use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use serde_json::{json, Value};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::state::{AwardIdState, Source};
use sparks_client::budget::with_compute_budget;
use sparks_client::instructions as ix;
use sparks_client::rpc::SparksRpc;
use sparks_issuer::store::Store;
use sparks_issuer::worker::{Worker, WorkerConfig};
use support::Service;

/// How many blocks before its last valid one a transaction is sent.
const BLOCKS_LEFT: u64 = 2;

/// Signs `instructions` with a blockhash, waits until only
/// [`BLOCKS_LEFT`] blocks of it remain, and returns the transaction and its
/// last valid block height.
async fn signed_late(
    rpc: &SparksRpc,
    payer: &Keypair,
    instructions: &[anchor_lang::solana_program::instruction::Instruction],
) -> (Transaction, u64) {
    let (blockhash, last_valid) = rpc.latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &with_compute_budget(instructions, 0),
        Some(&payer.pubkey()),
        &[payer],
        blockhash,
    );
    loop {
        let height = rpc
            .client()
            .get_block_height_with_commitment(CommitmentConfig::processed())
            .await
            .unwrap();
        if height + BLOCKS_LEFT >= last_valid {
            return (tx, last_valid);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_in_the_last_valid_blocks_is_reported_landed_once_by_the_client() {
    let service = Service::start(false).await;
    let issuer = service.issuer_keypair.insecure_clone();
    let rpc = SparksRpc::new(service.chain.rpc_url());
    let mut landed = 0;
    for attempt in 0..5u64 {
        let wallet = Keypair::new().pubkey();
        let award_id = rpc
            .issuer(&issuer.pubkey())
            .await
            .unwrap()
            .unwrap()
            .next_award_id();
        let award = ix::award_for_account(
            &issuer.pubkey(),
            &wallet,
            None,
            Source::Trading,
            7,
            [0; 32],
            award_id,
        );
        let (tx, last_valid) = signed_late(&rpc, &issuer, &[award]).await;
        match rpc.send_signed(&tx).await {
            Ok(signature) => {
                // Landed, and said so: paid once, its id used.
                let status = rpc
                    .client()
                    .get_signature_statuses_with_history(&[signature])
                    .await
                    .unwrap()
                    .value[0]
                    .clone()
                    .expect("a status");
                assert!(status.err.is_none());
                let account = rpc.spark(&wallet).await.unwrap().expect("paid");
                assert_eq!(account.balance, 7);
                let on_chain = rpc.issuer(&issuer.pubkey()).await.unwrap().unwrap();
                assert_eq!(on_chain.award_id_state(award_id), AwardIdState::Used);
                println!(
                    "attempt {attempt}: landed in slot {}, valid through block {last_valid}",
                    status.slot
                );
                landed += 1;
            }
            // Too late for the node: it never went out, and its id is open.
            Err(sparks_client::rpc::RpcError::BlockhashExpired) => {
                assert!(rpc.spark(&wallet).await.unwrap().is_none());
                let on_chain = rpc.issuer(&issuer.pubkey()).await.unwrap().unwrap();
                assert_eq!(on_chain.award_id_state(award_id), AwardIdState::Open);
            }
            Err(other) => panic!("attempt {attempt}: {other}"),
        }
    }
    assert!(
        landed > 0,
        "no send landed in its last {BLOCKS_LEFT} valid blocks in 5 attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_send_in_the_last_valid_blocks_is_settled_as_landed_never_sent_again() {
    // A batch whose recorded send goes out in the last valid blocks of its
    // blockhash (as after a slow signer), then the worker settles it.
    let service = Service::start(false).await;
    let issuer = service.issuer_keypair.insecure_clone();
    let rpc = SparksRpc::new(service.chain.rpc_url());
    let (_, token) = service.token("trading");
    let wallets: Vec<Pubkey> = (0..3).map(|_| Keypair::new().pubkey()).collect();
    let body: Vec<Value> = wallets
        .iter()
        .enumerate()
        .map(|(n, w)| json!({"key": format!("e-{n}"), "wallet": w.to_string(), "source": "trading", "amount": 10 + n}))
        .collect();
    assert_eq!(service.post(&token, &Value::Array(body)).await.0, 202);
    let store = Store::connect(&service.pg.url()).await.unwrap();
    let batch = service.claim_all_as_one_batch(&store).await;
    let rows: Vec<ix::BatchRow> = wallets
        .iter()
        .enumerate()
        .map(|(n, w)| ix::BatchRow {
            wallet: *w,
            amount: 10 + n as u64,
            referrer: None,
            creates_account: true,
            prefunded: false,
            pays_referral: false,
        })
        .collect();
    let award = ix::award_batch(
        &issuer.pubkey(),
        Source::Trading,
        batch.reference,
        batch.first_award_id,
        &rows,
    );
    let (tx, last_valid) = signed_late(&rpc, &issuer, &[award]).await;
    // Recorded before it is sent, as the worker does.
    store
        .record_send(
            batch.id,
            &tx.signatures[0].to_string(),
            &tx.message.recent_blockhash.to_string(),
            last_valid,
        )
        .await
        .unwrap();
    let _ = rpc.client().send_transaction(&tx).await;

    let worker = Worker::new(
        store.clone(),
        SparksRpc::new(service.chain.rpc_url()),
        issuer.insecure_clone(),
        WorkerConfig {
            poll: Duration::from_millis(20),
            ..WorkerConfig::default()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    let pool = sqlx::PgPool::connect(&service.pg.url()).await.unwrap();
    let started = std::time::Instant::now();
    let (state, sends): (String, i32) = loop {
        let row: (String, i32) = sqlx::query_as(
            "SELECT state, cardinality(signatures) FROM issuer.award_batches WHERE id = $1",
        )
        .bind(batch.id)
        .fetch_one(&pool)
        .await
        .unwrap();
        if row.0 != "sending" {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "still sending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop.send(true).unwrap();
    running.await.unwrap();
    let late_send_landed = rpc
        .client()
        .get_signature_statuses_with_history(&[tx.signatures[0]])
        .await
        .unwrap()
        .value[0]
        .as_ref()
        .is_some_and(|s| s.err.is_none());
    assert!(state == "landed" || state == "finalized", "{state}");
    if late_send_landed {
        // Settled as landed from its one send, never re-signed.
        assert_eq!(sends, 1, "a send that landed was sent again");
    } else {
        println!("the late send came too late for the node; the worker sent it again");
    }
    // Paid once either way.
    for (n, wallet) in wallets.iter().enumerate() {
        assert_eq!(
            rpc.spark(wallet).await.unwrap().unwrap().balance,
            10 + n as u64
        );
    }
}
