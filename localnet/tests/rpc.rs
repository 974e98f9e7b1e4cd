//! The local chain serves what the indexer and the CLI use, proven through
//! solana-client's own RpcClient and PubsubClient against the running chain.

use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use futures_util::StreamExt;
use solana_client::rpc_config::{
    RpcSendTransactionConfig, RpcTransactionLogsConfig, RpcTransactionLogsFilter,
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::instructions::{ConfigParams, IssuerParams};
use sparks::state::{Source, SparkAccount};
use sparks_client::events::SparksEvent;
use sparks_client::rpc::{events_in_transaction, SparksRpc};
use sparks_client::{instructions as ix, pda};
use sparks_localnet::{Localnet, LocalnetConfig, ProgramRuntime};

const PARAMS: ConfigParams = ConfigParams {
    referral_trade_share_bps: 1_000,
    first_subscription_bonus: 500,
    max_award_per_ix: 1_000_000,
};

/// A chain with an initialized Config and one issuer allowed every source.
struct Deployment {
    chain: Localnet,
    rpc: SparksRpc,
    admin: Keypair,
    issuer: Keypair,
}

async fn deploy() -> Deployment {
    deploy_with(ProgramRuntime::Bytecode).await
}

async fn deploy_with(runtime: ProgramRuntime) -> Deployment {
    let admin = Keypair::new();
    let issuer = Keypair::new();
    let chain = Localnet::start(LocalnetConfig {
        airdrop: vec![admin.pubkey(), issuer.pubkey()],
        runtime,
        ..LocalnetConfig::default()
    })
    .expect("local chain starts");
    let rpc = SparksRpc::new(chain.rpc_url());
    rpc.send(&[ix::initialize(&admin.pubkey(), PARAMS)], &admin, &[])
        .await
        .expect("initialize");
    let params = IssuerParams {
        allowed_sources: Source::ALL_BITS,
        cap_per_period: 1_000_000_000,
        period_secs: 86_400,
    };
    rpc.send(
        &[ix::upsert_issuer(&admin.pubkey(), &issuer.pubkey(), params)],
        &admin,
        &[],
    )
    .await
    .expect("issuer");
    Deployment {
        chain,
        rpc,
        admin,
        issuer,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_slot_and_request_airdrop_work() {
    let chain = Localnet::start(LocalnetConfig::default()).unwrap();
    let rpc = SparksRpc::new(chain.rpc_url());
    let client = rpc.client();
    let wallet = Keypair::new().pubkey();
    let signature = client
        .request_airdrop(&wallet, 5_000_000_000)
        .await
        .unwrap();
    client
        .poll_for_signature_with_commitment(&signature, CommitmentConfig::confirmed())
        .await
        .unwrap();
    assert_eq!(client.get_balance(&wallet).await.unwrap(), 5_000_000_000);
    assert!(client.get_slot().await.unwrap() > 0);
    client.get_latest_blockhash().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_award_is_served_back_by_every_read_method() {
    // Arrange
    let d = deploy().await;
    let wallet = Keypair::new().pubkey();
    // Act: sendTransaction (+ confirmation) through the client library.
    let signature = d
        .rpc
        .award(&d.issuer, &wallet, Source::Trading, 700, [7; 32])
        .await
        .unwrap();
    // Assert: getAccountInfo
    let account = d.rpc.spark(&wallet).await.unwrap().expect("spark account");
    assert_eq!((account.balance, account.seq), (700, 1));
    // getProgramAccounts, filtered by discriminator
    let all = d.rpc.all::<SparkAccount>("SparkAccount").await.unwrap();
    assert_eq!(all, vec![(pda::spark(&wallet), account.clone())]);
    // getSignaturesForAddress (the program) holds the award
    let client = d.rpc.client();
    let signatures = client
        .get_signatures_for_address(&sparks::ID)
        .await
        .unwrap();
    assert!(signatures
        .iter()
        .any(|s| s.signature == signature.to_string()));
    // getTransaction: logMessages and innerInstructions with the emit_cpi event
    let tx = fetch_transaction(client, &signature).await;
    let meta = tx.transaction.meta.as_ref().unwrap();
    let logs: Option<Vec<String>> = meta.log_messages.clone().into();
    assert!(logs
        .unwrap()
        .iter()
        .any(|l| l.contains(&sparks::ID.to_string())));
    let events = events_in_transaction(&tx).unwrap();
    assert!(
        matches!(&events[..], [SparksEvent::SparksAwarded(e)] if e.account == account && e.reference == [7; 32])
    );
    let _ = &d.admin;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_award_is_refused_by_name() {
    let d = deploy().await;
    let wallet = Keypair::new().pubkey();
    let args = sparks::instructions::AwardArgs {
        source: Source::Campaign,
        amount: 5,
        reference: [1; 32],
        award_id: 0,
    };
    let award = ix::award(&d.issuer.pubkey(), &wallet, None, args);
    d.rpc
        .send(std::slice::from_ref(&award), &d.issuer, &[])
        .await
        .unwrap();
    let error = d.rpc.send(&[award], &d.issuer, &[]).await.unwrap_err();
    assert!(
        matches!(
            error.sparks_error(),
            Some(sparks::error::SparksError::AwardIdUsed)
        ),
        "{error}"
    );
    assert_eq!(d.rpc.spark(&wallet).await.unwrap().unwrap().balance, 5);
}

/// The issuer's award to a new `wallet`, signed with the current blockhash.
async fn signed_award(d: &Deployment, wallet: &Pubkey, amount: u64) -> Transaction {
    let award = ix::award_for_account(
        &d.issuer.pubkey(),
        wallet,
        None,
        Source::Trading,
        amount,
        [3; 32],
        500,
    );
    let blockhash = d.rpc.client().get_latest_blockhash().await.unwrap();
    Transaction::new_signed_with_payer(&[award], Some(&d.issuer.pubkey()), &[&d.issuer], blockhash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_sent_again_after_it_landed_returns_its_signature() {
    // Arrange: a signed award that has already landed, as when a killed run
    // is restarted and signs the same instruction within the same blockhash.
    let d = deploy().await;
    let wallet = Keypair::new().pubkey();
    let tx = signed_award(&d, &wallet, 9).await;
    let first = d
        .rpc
        .client()
        .send_and_confirm_transaction(&tx)
        .await
        .unwrap();

    // Act
    let again = d.rpc.send_signed(&tx).await;

    // Assert: the landed outcome, and the award paid once.
    assert_eq!(again.unwrap(), first);
    let account = d.rpc.spark(&wallet).await.unwrap().unwrap();
    assert_eq!((account.balance, account.seq), (9, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_failed_on_chain_and_is_sent_again_reports_its_failure() {
    // Arrange: an award above the per-instruction cap, sent without preflight
    // so that it lands as a failed transaction.
    let d = deploy().await;
    let wallet = Keypair::new().pubkey();
    let tx = signed_award(&d, &wallet, PARAMS.max_award_per_ix + 1).await;
    let no_preflight = RpcSendTransactionConfig {
        skip_preflight: true,
        ..RpcSendTransactionConfig::default()
    };
    let signature = d
        .rpc
        .client()
        .send_transaction_with_config(&tx, no_preflight)
        .await
        .unwrap();
    d.rpc
        .client()
        .poll_for_signature_with_commitment(&signature, CommitmentConfig::confirmed())
        .await
        .unwrap();
    let status = d
        .rpc
        .client()
        .get_signature_status(&signature)
        .await
        .unwrap();
    assert!(matches!(status, Some(Err(_))), "{status:?}");

    // Act
    let again = d.rpc.send_signed(&tx).await.unwrap_err();

    // Assert: the recorded failure, by name, and nothing paid.
    assert!(
        matches!(
            again.sparks_error(),
            Some(sparks::error::SparksError::AmountAboveInstructionCap)
        ),
        "{again}"
    );
    assert!(d.rpc.spark(&wallet).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscriptions_report_slots_logs_and_signatures() {
    let d = deploy().await;
    let pubsub = PubsubClient::new(d.chain.ws_url())
        .await
        .expect("websocket connects");
    // slotSubscribe
    let (mut slots, _unsubscribe_slots) = pubsub.slot_subscribe().await.unwrap();
    // logsSubscribe (mentions the program), as the indexer subscribes
    let (mut logs, _unsubscribe_logs) = pubsub
        .logs_subscribe(
            RpcTransactionLogsFilter::Mentions(vec![sparks::ID.to_string()]),
            RpcTransactionLogsConfig {
                commitment: Some(CommitmentConfig::confirmed()),
            },
        )
        .await
        .unwrap();
    let wallet = Keypair::new().pubkey();
    let signature = d
        .rpc
        .award(&d.issuer, &wallet, Source::Trading, 9, [0; 32])
        .await
        .unwrap();
    let wait = Duration::from_secs(10);
    let slot = tokio::time::timeout(wait, slots.next())
        .await
        .expect("a slot notification")
        .unwrap();
    assert!(slot.slot > 0);
    let log = tokio::time::timeout(wait, logs.next())
        .await
        .expect("a logs notification")
        .unwrap();
    assert_eq!(log.value.signature, signature.to_string());
    assert!(log.value.err.is_none());
    // signatureSubscribe: subscribe to a signed transaction, then send it.
    let args = sparks::instructions::AwardArgs {
        source: Source::Trading,
        amount: 1,
        reference: [2; 32],
        award_id: 1_000,
    };
    let blockhash = d.rpc.client().get_latest_blockhash().await.unwrap();
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &[ix::award(&d.issuer.pubkey(), &wallet, None, args)],
        Some(&d.issuer.pubkey()),
        &[&d.issuer],
        blockhash,
    );
    let (mut status, _unsubscribe) = pubsub
        .signature_subscribe(
            &tx.signatures[0],
            Some(solana_client::rpc_config::RpcSignatureSubscribeConfig {
                commitment: Some(CommitmentConfig::confirmed()),
                enable_received_notification: None,
            }),
        )
        .await
        .unwrap();
    d.rpc.client().send_transaction(&tx).await.unwrap();
    let notified = tokio::time::timeout(wait, status.next())
        .await
        .expect("a signature notification")
        .unwrap();
    assert!(matches!(
        notified.value,
        solana_client::rpc_response::RpcSignatureResult::ProcessedSignature(ref r) if r.err.is_none()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_mint_runs_through_rpc() {
    let d = deploy().await;
    let consumer = example_mint::minter_address().0;
    let terms = sparks::instructions::WhitelistTerms {
        consumer,
        capacity: 10,
        spots_per_wallet: 1,
        min_lifetime_sparks: 0,
        starts_at: 0,
        ends_at: i64::MAX,
    };
    d.rpc
        .send(
            &[ix::create_whitelist(
                &d.admin.pubkey(),
                1,
                &d.admin.pubkey(),
                terms,
            )],
            &d.admin,
            &[],
        )
        .await
        .unwrap();
    let minter = Keypair::new();
    let airdrop = d
        .rpc
        .client()
        .request_airdrop(&minter.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    d.rpc
        .client()
        .poll_for_signature_with_commitment(&airdrop, CommitmentConfig::confirmed())
        .await
        .unwrap();
    d.rpc
        .send(
            &[ix::grant_whitelist(
                &d.admin.pubkey(),
                1,
                &minter.pubkey(),
                1,
            )],
            &d.admin,
            &[],
        )
        .await
        .unwrap();
    let (mint, token) = (Keypair::new(), Keypair::new());
    let mint_nft = ix::example_mint_nft(&minter.pubkey(), 1, &mint.pubkey(), &token.pubkey());
    d.rpc
        .send(&[mint_nft], &minter, &[&mint, &token])
        .await
        .expect("NFT minted");
    let entry: sparks::state::WhitelistEntry = d
        .rpc
        .fetch(
            &pda::whitelist_entry(&pda::whitelist(1), &minter.pubkey()),
            "WhitelistEntry",
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.spots_used, 1);
}

/// The local chain's known differences from a validator (README, "What an
/// indexer must know"), pinned so a surfpool upgrade that changes them is seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_differences_from_a_validator_hold() {
    let d = deploy().await;
    let client = d.rpc.client();
    let signature = d
        .rpc
        .award(
            &d.issuer,
            &Keypair::new().pubkey(),
            Source::Trading,
            3,
            [0; 32],
        )
        .await
        .unwrap();
    let tx = fetch_transaction(client, &signature).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // getBlockTime is right …
    let block_time = client.get_block_time(tx.slot).await.unwrap();
    assert!(
        (block_time - now).abs() < 120,
        "getBlockTime {block_time} vs now {now}"
    );
    // … and so is getTransaction's (surfpool 1.3 divided it by 1000 twice;
    // 1.6 does not) …
    let tx_time = tx.block_time.unwrap_or_default();
    assert!(
        (tx_time - now).abs() < 120,
        "getTransaction blockTime {tx_time} vs now {now}"
    );
    // … but the signature list's may be a second off getBlockTime's for
    // the same slot, so the indexer keeps the time it stored (reindex).
    let listed = client
        .get_signatures_for_address(&sparks::ID)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.signature == signature.to_string())
        .unwrap();
    assert!((listed.block_time.unwrap() - block_time).abs() <= 1);
    // getBlock names an earlier slot as the parent (surfpool 1.3 named the
    // block's own).
    let block = client
        .get_block_with_config(
            tx.slot,
            solana_client::rpc_config::RpcBlockConfig {
                max_supported_transaction_version: Some(0),
                commitment: Some(CommitmentConfig::confirmed()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        block.parent_slot < tx.slot,
        "parentSlot {} of slot {}",
        block.parent_slot,
        tx.slot
    );
    // finalized trails confirmed.
    let confirmed = client
        .get_slot_with_commitment(CommitmentConfig::confirmed())
        .await
        .unwrap();
    let finalized = client
        .get_slot_with_commitment(CommitmentConfig::finalized())
        .await
        .unwrap();
    assert!(
        finalized < confirmed,
        "finalized {finalized} vs confirmed {confirmed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_programs_run_as_their_bytecode_and_log_their_compute_units() {
    let d = deploy().await;
    let client = d.rpc.client();
    // Deployed as solana-program-test deploys SBF programs: BPF loader 2.
    for (id, program) in [
        (sparks::ID, sparks_sbf::SPARKS),
        (example_mint::ID, sparks_sbf::EXAMPLE_MINT),
    ] {
        let account = client.get_account(&id).await.unwrap();
        assert!(account.executable);
        assert_eq!(
            account.owner.to_string(),
            "BPFLoader2111111111111111111111111111111111"
        );
        assert_eq!(account.data, program.elf);
    }
    let signature = d
        .rpc
        .award(
            &d.issuer,
            &Keypair::new().pubkey(),
            Source::Trading,
            3,
            [0; 32],
        )
        .await
        .unwrap();
    let tx = fetch_transaction(client, &signature).await;
    let meta = tx.transaction.meta.unwrap();
    let logs: Vec<String> = Option::<Vec<String>>::from(meta.log_messages).unwrap();
    let consumed = format!("Program {} consumed ", sparks::ID);
    // The top-level invocation's line comes last (its event CPI's first).
    let line = logs
        .iter()
        .rfind(|l| l.starts_with(&consumed) && l.ends_with(" compute units"))
        .unwrap_or_else(|| panic!("{logs:#?}"));
    let units: u64 = line[consumed.len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let total: Option<u64> = meta.compute_units_consumed.into();
    assert!(units > 10_000, "{line}");
    assert!(total.unwrap() >= units);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_mode_runs_builtins_that_log_like_programs() {
    let d = deploy_with(ProgramRuntime::Native).await;
    let client = d.rpc.client();
    let account = client.get_account(&sparks::ID).await.unwrap();
    assert_eq!(
        account.owner.to_string(),
        "NativeLoader1111111111111111111111111111111"
    );
    refused_award_logs_like_a_validator(&d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_award_logs_like_a_validator() {
    refused_award_logs_like_a_validator(&deploy().await).await;
}

async fn refused_award_logs_like_a_validator(d: &Deployment) {
    // Arrange: an award above the per-instruction cap, landed as failed.
    let tx = signed_award(d, &Keypair::new().pubkey(), PARAMS.max_award_per_ix + 1).await;
    let no_preflight = RpcSendTransactionConfig {
        skip_preflight: true,
        ..RpcSendTransactionConfig::default()
    };
    let client = d.rpc.client();
    let signature = client
        .send_transaction_with_config(&tx, no_preflight)
        .await
        .unwrap();
    client
        .poll_for_signature_with_commitment(&signature, CommitmentConfig::confirmed())
        .await
        .unwrap();

    // Act
    let landed = fetch_transaction(client, &signature).await;

    // Assert: what Anchor's clients parse, as a validator writes it.
    let meta = landed.transaction.meta.unwrap();
    let logs: Vec<String> = Option::<Vec<String>>::from(meta.log_messages).unwrap();
    let program = sparks::ID.to_string();
    let invoked = format!("Program {program} invoke [1]");
    assert_eq!(
        logs.iter().filter(|l| **l == invoked).count(),
        1,
        "{logs:#?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.starts_with("Program log: AnchorError")
                && l.contains("Error Code: AmountAboveInstructionCap")),
        "{logs:#?}"
    );
    assert!(
        logs.last().unwrap().starts_with(&format!(
            "Program {program} failed: custom program error: 0x"
        )),
        "{logs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_port_is_the_rpc_port_plus_one_by_default() {
    // A free port whose next one is free too: other tests of this binary
    // take ports meanwhile (CI once found port + 1 taken).
    let rpc_port = loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            break port;
        }
    };
    let chain = Localnet::start(LocalnetConfig {
        rpc_port: Some(rpc_port),
        ..LocalnetConfig::default()
    })
    .unwrap();
    assert_eq!(chain.ws_url(), format!("ws://127.0.0.1:{}", rpc_port + 1));
    let pubsub = PubsubClient::new(chain.ws_url()).await;
    assert!(pubsub.is_ok(), "the websocket answers on rpc port + 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transaction_sets_a_compute_unit_limit_and_the_priority_fee() {
    let d = deploy().await;
    let rpc = SparksRpc::new(d.chain.rpc_url()).with_priority_fee(5_000);
    let wallet = Keypair::new().pubkey();
    let signature = rpc
        .award(&d.issuer, &wallet, Source::Trading, 7, [0; 32])
        .await
        .unwrap();
    let landed = fetch_transaction(rpc.client(), &signature).await;
    let tx = landed.transaction.transaction.decode().unwrap();
    let keys = tx.message.static_account_keys();
    let instructions = tx.message.instructions();
    let budget: Vec<(u8, Vec<u8>)> = instructions
        .iter()
        .filter(|i| {
            keys[usize::from(i.program_id_index)].to_string()
                == "ComputeBudget111111111111111111111111111111"
        })
        .map(|i| (i.data[0], i.data[1..].to_vec()))
        .collect();
    // SetComputeUnitLimit (2) covering the award, SetComputeUnitPrice (3).
    let award = ix::award_for_account(
        &d.issuer.pubkey(),
        &wallet,
        None,
        Source::Trading,
        7,
        [0; 32],
        0,
    );
    // The award's units plus the two budget instructions' own.
    let units = sparks_client::budget::units_for(&award)
        + 2 * sparks_client::budget::BUDGET_INSTRUCTION_UNITS;
    assert_eq!(
        budget,
        vec![
            (2, units.to_le_bytes().to_vec()),
            (3, 5_000u64.to_le_bytes().to_vec())
        ]
    );
}

/// getTransaction as the indexer asks for it (base64, confirmed, v0).
async fn fetch_transaction(
    client: &solana_client::nonblocking::rpc_client::RpcClient,
    signature: &solana_signature::Signature,
) -> solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta {
    client
        .get_transaction_with_config(
            signature,
            solana_client::rpc_config::RpcTransactionConfig {
                encoding: Some(
                    solana_transaction_status_client_types::UiTransactionEncoding::Base64,
                ),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap()
}
