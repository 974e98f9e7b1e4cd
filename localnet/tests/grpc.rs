//! The local chain's Yellowstone gRPC, read with `yellowstone-grpc-client`
//! as a provider's users read it: the program's transactions with their
//! slots' statuses in order, block metas, `from_slot` replays and refusals,
//! pings.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use solana_keypair::Keypair;
use sparks_client::rpc::SparksRpc;
use sparks_client::scenario;
use sparks_localnet::{GrpcConfig, Localnet, LocalnetConfig};
use yellowstone_grpc_client::GeyserGrpcClient;
use yellowstone_grpc_proto::geyser::subscribe_update::UpdateOneof;
use yellowstone_grpc_proto::prelude::*;

fn request(from_slot: Option<u64>) -> SubscribeRequest {
    SubscribeRequest {
        transactions: [(
            "sparks".to_owned(),
            SubscribeRequestFilterTransactions {
                vote: Some(false),
                failed: Some(false),
                account_include: vec![sparks::ID.to_string()],
                ..Default::default()
            },
        )]
        .into(),
        slots: [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into(),
        blocks_meta: [("blocks".to_owned(), SubscribeRequestFilterBlocksMeta {})].into(),
        commitment: Some(CommitmentLevel::Processed as i32),
        from_slot,
        ..Default::default()
    }
}

/// What a subscription saw: per message, a short line.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Transaction(u64, Vec<u8>),
    Slot(u64, Option<u64>, i32),
    Meta(u64, u64),
}

async fn collect(
    url: &str,
    from_slot: Option<u64>,
    until: Duration,
) -> Result<Vec<Seen>, tonic::Status> {
    let mut client = GeyserGrpcClient::build_from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let (_sink, mut stream) = client
        .subscribe_with_request(Some(request(from_slot)))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + until;
    while let Ok(Some(update)) = tokio::time::timeout_at(deadline, stream.next()).await {
        match update?.update_oneof {
            Some(UpdateOneof::Transaction(tx)) => seen.push(Seen::Transaction(
                tx.slot,
                tx.transaction.unwrap().signature,
            )),
            Some(UpdateOneof::Slot(s)) => seen.push(Seen::Slot(s.slot, s.parent, s.status)),
            Some(UpdateOneof::BlockMeta(m)) => seen.push(Seen::Meta(m.slot, m.parent_slot)),
            _ => {}
        }
    }
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_reads_as_a_providers_does() {
    let chain = Localnet::start(LocalnetConfig {
        grpc: GrpcConfig {
            replay_slots: 1_000,
            ..GrpcConfig::default()
        },
        ..LocalnetConfig::default()
    })
    .unwrap();
    let url = chain.grpc_url().to_owned();
    let live = tokio::spawn({
        let url = url.clone();
        async move { collect(&url, None, Duration::from_secs(4)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rpc = SparksRpc::new(chain.rpc_url());
    scenario::deploy(&rpc, &Keypair::new(), &Keypair::new())
        .await
        .unwrap();
    let seen = live.await.unwrap().unwrap();
    for s in &seen {
        eprintln!("{s:?}");
    }
    let transactions: Vec<_> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Transaction(..)))
        .collect();
    assert!(
        transactions.len() >= 2,
        "the deployment's transactions: {}",
        transactions.len()
    );
    // Every transaction's slot is processed, described and confirmed after
    // it, in that order; every confirmed slot's parent is the previous block.
    let position = |want: &dyn Fn(&Seen) -> bool| seen.iter().position(want);
    let mut parents = HashMap::new();
    for (i, s) in seen.iter().enumerate() {
        if let Seen::Transaction(slot, _) = s {
            let slot = *slot;
            let processed = position(&|x| matches!(x, Seen::Slot(s, _, 0) if *s == slot)).unwrap();
            let meta = position(&|x| matches!(x, Seen::Meta(s, _) if *s == slot)).unwrap();
            let confirmed = position(&|x| matches!(x, Seen::Slot(s, _, 1) if *s == slot)).unwrap();
            assert!(
                i < processed && processed < meta && meta < confirmed,
                "order in slot {slot}"
            );
        }
        if let Seen::Slot(slot, Some(parent), 1) = s {
            parents.insert(*slot, *parent);
        }
    }
    let mut confirmed: Vec<u64> = parents.keys().copied().collect();
    confirmed.sort();
    for pair in confirmed.windows(2) {
        assert_eq!(
            parents[&pair[1]], pair[0],
            "the parent of {} is the block before it",
            pair[1]
        );
    }

    // A replay from the first transaction's slot resends the same messages.
    let Seen::Transaction(first_slot, _) = transactions[0] else {
        unreachable!()
    };
    let replayed = collect(&url, Some(*first_slot), Duration::from_millis(500))
        .await
        .unwrap();
    let live_from: Vec<_> = seen
        .iter()
        .filter(|s| match s {
            Seen::Transaction(slot, _) | Seen::Slot(slot, _, _) | Seen::Meta(slot, _) => {
                *slot >= *first_slot
            }
        })
        .cloned()
        .collect();
    assert_eq!(replayed[..live_from.len()], live_from[..]);
    chain.stop();
}
