//! Regenerates `tests/fixtures/*.json`: real transactions from the local
//! chain, as getTransaction (base64, confirmed) returns them.
//! `cargo test -p sparks-indexer --test capture_fixtures -- --ignored`

use std::path::Path;

use solana_client::rpc_config::{RpcSendTransactionConfig, RpcTransactionConfig};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::instructions::{AwardArgs, ConfigParams, IssuerParams, WhitelistTerms};
use sparks::state::Source;
use sparks_client::instructions as ix;
use sparks_client::rpc::SparksRpc;
use sparks_localnet::{Localnet, LocalnetConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "regenerates committed fixtures"]
async fn capture() {
    let (admin, issuer, invitee, minter) = (
        Keypair::new(),
        Keypair::new(),
        Keypair::new(),
        Keypair::new(),
    );
    let chain = Localnet::start(LocalnetConfig {
        airdrop: vec![
            admin.pubkey(),
            issuer.pubkey(),
            invitee.pubkey(),
            minter.pubkey(),
        ],
        ..LocalnetConfig::default()
    })
    .unwrap();
    let rpc = SparksRpc::new(chain.rpc_url());
    let params = ConfigParams {
        referral_trade_share_bps: 1_000,
        first_subscription_bonus: 500,
        max_award_per_ix: 1_000_000,
    };
    rpc.send(&[ix::initialize(&admin.pubkey(), params)], &admin, &[])
        .await
        .unwrap();
    let issuer_params = IssuerParams {
        allowed_sources: Source::ALL_BITS,
        cap_per_period: 1_000_000_000,
        period_secs: 86_400,
    };
    rpc.send(
        &[ix::upsert_issuer(
            &admin.pubkey(),
            &issuer.pubkey(),
            issuer_params,
        )],
        &admin,
        &[],
    )
    .await
    .unwrap();

    let wallet = Keypair::new().pubkey();
    let award = rpc
        .award(
            &issuer,
            &wallet,
            Source::Trading,
            250,
            *b"trade-0000000000000000000000001\0",
        )
        .await
        .unwrap();
    write(&rpc, &award, "award").await;

    let referrer = Keypair::new().pubkey();
    rpc.send(
        &[ix::set_referrer(
            &invitee.pubkey(),
            &invitee.pubkey(),
            &referrer,
        )],
        &invitee,
        &[],
    )
    .await
    .unwrap();
    let referral = rpc
        .award(&issuer, &invitee.pubkey(), Source::Trading, 1_000, [2; 32])
        .await
        .unwrap();
    write(&rpc, &referral, "award_with_referral").await;

    // A failed award (its award id paid already), landed with preflight skipped.
    let used = rpc
        .issuer(&issuer.pubkey())
        .await
        .unwrap()
        .unwrap()
        .award_id_floor
        - 1;
    let stale = AwardArgs {
        source: Source::Trading,
        amount: 1,
        reference: [3; 32],
        award_id: used,
    };
    let blockhash = rpc.client().get_latest_blockhash().await.unwrap();
    let tx = solana_transaction::Transaction::new_signed_with_payer(
        &[ix::award(&issuer.pubkey(), &wallet, None, stale)],
        Some(&issuer.pubkey()),
        &[&issuer],
        blockhash,
    );
    let config = RpcSendTransactionConfig {
        skip_preflight: true,
        ..RpcSendTransactionConfig::default()
    };
    let failed = rpc
        .client()
        .send_transaction_with_config(&tx, config)
        .await
        .unwrap();
    rpc.client()
        .poll_for_signature_with_commitment(&failed, CommitmentConfig::confirmed())
        .await
        .ok();
    write(&rpc, &failed, "failed_award").await;

    // The example mint: Sparks invoked by another program (events at depth 3).
    let terms = WhitelistTerms {
        consumer: example_mint::minter_address().0,
        capacity: 10,
        spots_per_wallet: 1,
        min_lifetime_sparks: 0,
        starts_at: 0,
        ends_at: i64::MAX,
    };
    rpc.send(
        &[ix::create_whitelist(
            &admin.pubkey(),
            1,
            &admin.pubkey(),
            terms,
        )],
        &admin,
        &[],
    )
    .await
    .unwrap();
    rpc.send(
        &[ix::grant_whitelist(&admin.pubkey(), 1, &minter.pubkey(), 1)],
        &admin,
        &[],
    )
    .await
    .unwrap();
    let (mint, token) = (Keypair::new(), Keypair::new());
    let minted = rpc
        .send(
            &[ix::example_mint_nft(
                &minter.pubkey(),
                1,
                &mint.pubkey(),
                &token.pubkey(),
            )],
            &minter,
            &[&mint, &token],
        )
        .await
        .unwrap();
    write(&rpc, &minted, "example_mint").await;
}

async fn write(rpc: &SparksRpc, signature: &solana_signature::Signature, name: &str) {
    let config = RpcTransactionConfig {
        encoding: Some(solana_transaction_status_client_types::UiTransactionEncoding::Base64),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    };
    let tx = rpc
        .client()
        .get_transaction_with_config(signature, config)
        .await
        .unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"));
    std::fs::write(path, serde_json::to_string_pretty(&tx).unwrap() + "\n").unwrap();
}
