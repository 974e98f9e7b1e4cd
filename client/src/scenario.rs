//! Scripted activity on a chain, for tests, benchmarks and the demo: one
//! scenario that runs every instruction of the program (and the example
//! mint, and a failed transaction), and a generator of bulk awards.

use anchor_lang::prelude::Pubkey;
use solana_client::rpc_config::RpcSendTransactionConfig;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::instructions::{
    AwardArgs, ConfigParams, CreatePerkParams, IssuerParams, UpdatePerkParams, WhitelistTerms,
};
use sparks::state::{PerkKind, Source};

use crate::instructions::{self as ix, BatchRow};
use crate::rpc::{RpcError, SparksRpc};

pub const CONFIG: ConfigParams = ConfigParams {
    referral_trade_share_bps: 1_000,
    first_subscription_bonus: 500,
    max_award_per_ix: 1_000_000,
};

pub const ISSUER: IssuerParams = IssuerParams {
    allowed_sources: Source::ALL_BITS,
    cap_per_period: 1_000_000_000_000,
    period_secs: 86_400,
};

/// Airdrops `lamports` to each key and waits for confirmation.
pub async fn fund(rpc: &SparksRpc, keys: &[Pubkey], lamports: u64) -> Result<(), RpcError> {
    for key in keys {
        let signature = rpc.client().request_airdrop(key, lamports).await?;
        rpc.client()
            .poll_for_signature_with_commitment(&signature, CommitmentConfig::confirmed())
            .await?;
    }
    Ok(())
}

/// Initializes Config with `admin` and registers `issuer` for every source.
pub async fn deploy(rpc: &SparksRpc, admin: &Keypair, issuer: &Keypair) -> Result<(), RpcError> {
    fund(rpc, &[admin.pubkey(), issuer.pubkey()], 100_000_000_000).await?;
    rpc.send(&[ix::initialize(&admin.pubkey(), CONFIG)], admin, &[])
        .await?;
    rpc.send(
        &[ix::upsert_issuer(&admin.pubkey(), &issuer.pubkey(), ISSUER)],
        admin,
        &[],
    )
    .await?;
    Ok(())
}

/// What [`every_instruction`] left behind.
pub struct Outcome {
    pub admin: Keypair,
    pub issuer: Keypair,
    /// Wallets that earned, spent, referred and minted.
    pub wallets: Vec<Keypair>,
    /// Signatures of the program's successful transactions, in order.
    pub signatures: Vec<Signature>,
    /// A transaction that landed and failed (SeqMismatch).
    pub failed: Signature,
}

/// Sends every instruction of the program at least once on a fresh chain,
/// plus an NFT mint through the example mint program and one transaction
/// that lands and fails.
pub async fn every_instruction(rpc: &SparksRpc) -> Result<Outcome, RpcError> {
    let admin = Keypair::new();
    let interim_admin = Keypair::new();
    let issuer = Keypair::new();
    let retired_issuer = Keypair::new();
    let consumer = Keypair::new();
    let [a, b, c] = [Keypair::new(), Keypair::new(), Keypair::new()];
    fund(
        rpc,
        &[
            admin.pubkey(),
            interim_admin.pubkey(),
            issuer.pubkey(),
            consumer.pubkey(),
            a.pubkey(),
            b.pubkey(),
        ],
        10_000_000_000,
    )
    .await?;
    let mut signatures = Vec::new();
    let mut send = async |ixs: &[anchor_lang::solana_program::instruction::Instruction],
                          payer: &Keypair,
                          signers: &[&(dyn Signer + Sync)]|
           -> Result<(), RpcError> {
        signatures.push(rpc.send(ixs, payer, signers).await?);
        Ok(())
    };
    let admin_key = admin.pubkey();

    // Config and admin hand-over (there and back).
    send(&[ix::initialize(&admin_key, CONFIG)], &admin, &[]).await?;
    let updated = ConfigParams {
        referral_trade_share_bps: 1_500,
        ..CONFIG
    };
    send(&[ix::update_config(&admin_key, updated)], &admin, &[]).await?;
    send(&[ix::pause(&admin_key)], &admin, &[]).await?;
    send(&[ix::unpause(&admin_key)], &admin, &[]).await?;
    send(
        &[ix::propose_admin(&admin_key, Some(interim_admin.pubkey()))],
        &admin,
        &[],
    )
    .await?;
    send(
        &[ix::accept_admin(&interim_admin.pubkey())],
        &interim_admin,
        &[],
    )
    .await?;
    send(
        &[ix::propose_admin(&interim_admin.pubkey(), Some(admin_key))],
        &interim_admin,
        &[],
    )
    .await?;
    send(&[ix::accept_admin(&admin_key)], &admin, &[]).await?;

    // Issuers.
    send(
        &[ix::upsert_issuer(&admin_key, &issuer.pubkey(), ISSUER)],
        &admin,
        &[],
    )
    .await?;
    send(
        &[ix::upsert_issuer(
            &admin_key,
            &retired_issuer.pubkey(),
            ISSUER,
        )],
        &admin,
        &[],
    )
    .await?;
    send(
        &[ix::deactivate_issuer(&admin_key, &retired_issuer.pubkey())],
        &admin,
        &[],
    )
    .await?;

    // Referral: b was invited by a.
    send(
        &[ix::set_referrer(&b.pubkey(), &b.pubkey(), &a.pubkey())],
        &b,
        &[],
    )
    .await?;

    // Awards: a trades, b subscribes (a earns the first-subscription bonus) and trades
    // (a earns its share), then a campaign batch to all three.
    // Award ids 0, 1, 2, then 3..6 for the batch.
    let award = |wallet: &Pubkey, referrer: Option<&Pubkey>, source, amount, award_id| {
        ix::award(
            &issuer.pubkey(),
            wallet,
            referrer,
            AwardArgs {
                source,
                amount,
                reference: [amount as u8; 32],
                award_id,
            },
        )
    };
    send(
        &[award(&a.pubkey(), None, Source::Trading, 5_000, 0)],
        &issuer,
        &[],
    )
    .await?;
    send(
        &[award(
            &b.pubkey(),
            Some(&a.pubkey()),
            Source::Subscription,
            2_000,
            1,
        )],
        &issuer,
        &[],
    )
    .await?;
    send(
        &[award(
            &b.pubkey(),
            Some(&a.pubkey()),
            Source::Trading,
            3_000,
            2,
        )],
        &issuer,
        &[],
    )
    .await?;
    let rows: Vec<BatchRow> = rpc
        .batch_rows(
            Source::Campaign,
            &[(a.pubkey(), 700), (b.pubkey(), 800), (c.pubkey(), 900)],
        )
        .await?;
    send(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [7; 32],
            3,
            &rows,
        )],
        &issuer,
        &[],
    )
    .await?;
    send(&[ix::revoke(&admin_key, &c.pubkey(), 100, 1)], &admin, &[]).await?;

    // Whitelists: #1 consumed by the example mint, #2 by a plain signer.
    let terms = |consumer: Pubkey| WhitelistTerms {
        consumer,
        capacity: 100,
        spots_per_wallet: 2,
        min_lifetime_sparks: 1_000,
        starts_at: 0,
        ends_at: i64::MAX,
    };
    let minter = example_mint::minter_address().0;
    send(
        &[ix::create_whitelist(
            &admin_key,
            1,
            &admin_key,
            terms(minter),
        )],
        &admin,
        &[],
    )
    .await?;
    send(
        &[ix::create_whitelist(
            &admin_key,
            2,
            &admin_key,
            terms(consumer.pubkey()),
        )],
        &admin,
        &[],
    )
    .await?;
    send(
        &[ix::update_whitelist(
            &admin_key,
            2,
            WhitelistTerms {
                capacity: 50,
                ..terms(consumer.pubkey())
            },
            true,
        )],
        &admin,
        &[],
    )
    .await?;
    send(
        &[ix::grant_whitelist(&admin_key, 1, &a.pubkey(), 1)],
        &admin,
        &[],
    )
    .await?;
    send(&[ix::join_whitelist(&b.pubkey(), &b.pubkey(), 2)], &b, &[]).await?;
    send(
        &[ix::consume_whitelist_spot(
            &consumer.pubkey(),
            &b.pubkey(),
            2,
        )],
        &consumer,
        &[&b],
    )
    .await?;
    let (mint, token) = (Keypair::new(), Keypair::new());
    send(
        &[ix::example_mint_nft(
            &a.pubkey(),
            1,
            &mint.pubkey(),
            &token.pubkey(),
        )],
        &a,
        &[&mint, &token],
    )
    .await?;

    // Perks: a Discord role, and a whitelist spot sold for Sparks.
    let perk = |id, kind, cost| CreatePerkParams {
        id,
        kind,
        cost,
        max_supply: 100,
        per_wallet_limit: 2,
        starts_at: 0,
        ends_at: i64::MAX,
        uri: format!("https://sparks.example/perks/{id}"),
    };
    send(
        &[ix::create_perk(
            &admin_key,
            None,
            perk(1, PerkKind::DiscordRole, 250),
        )],
        &admin,
        &[],
    )
    .await?;
    send(
        &[ix::create_perk(
            &admin_key,
            Some(2),
            perk(2, PerkKind::NftWhitelist, 400),
        )],
        &admin,
        &[],
    )
    .await?;
    let update = UpdatePerkParams {
        cost: 300,
        max_supply: 100,
        per_wallet_limit: 2,
        starts_at: 0,
        ends_at: i64::MAX,
        active: true,
        uri: "https://sparks.example/perks/1-v2".into(),
    };
    send(&[ix::update_perk(&admin_key, 1, update)], &admin, &[]).await?;
    send(
        &[ix::redeem_perk(&a.pubkey(), &a.pubkey(), 1, None, 300)],
        &a,
        &[],
    )
    .await?;
    send(
        &[ix::redeem_perk(&b.pubkey(), &b.pubkey(), 2, Some(2), 400)],
        &b,
        &[],
    )
    .await?;

    // A transaction that lands and fails: an award id paid already.
    let stale = award(&a.pubkey(), None, Source::Trading, 1, 0);
    let failed = send_unchecked(rpc, &[stale], &issuer).await?;
    Ok(Outcome {
        admin,
        issuer,
        wallets: vec![a, b, c],
        signatures,
        failed,
    })
}

/// Sends without preflight, so a failing transaction lands (and fails) on
/// chain; waits until it is confirmed either way.
pub async fn send_unchecked(
    rpc: &SparksRpc,
    instructions: &[anchor_lang::solana_program::instruction::Instruction],
    payer: &Keypair,
) -> Result<Signature, RpcError> {
    let blockhash = rpc.client().get_latest_blockhash().await?;
    let tx = Transaction::new_signed_with_payer(
        instructions,
        Some(&payer.pubkey()),
        &[payer],
        blockhash,
    );
    let signature = rpc
        .client()
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..RpcSendTransactionConfig::default()
            },
        )
        .await?;
    for _ in 0..200 {
        let status = rpc
            .client()
            .get_signature_statuses(&[signature])
            .await?
            .value;
        if status.first().is_some_and(|s| s.is_some()) {
            return Ok(signature);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    Err(RpcError::Unconfirmed(1))
}

/// Awards to `wallets` in batches (one transaction per `per_tx` wallets),
/// all new accounts with no referrer: bulk traffic for backfill benchmarks.
pub async fn bulk_awards(
    rpc: &SparksRpc,
    issuer: &Keypair,
    wallets: &[Pubkey],
    per_tx: usize,
    amount: u64,
) -> Result<Vec<Signature>, RpcError> {
    let mut signatures = Vec::new();
    for (i, chunk) in wallets.chunks(per_tx.max(1)).enumerate() {
        let rows: Vec<BatchRow> = chunk
            .iter()
            .map(|wallet| BatchRow {
                wallet: *wallet,
                amount,
                referrer: None,
                creates_account: true,
                prefunded: false,
                pays_referral: false,
            })
            .collect();
        let first_award_id = rpc
            .reserve_award_ids(&issuer.pubkey(), rows.len() as u64, i == 0)
            .await?;
        let mut reference = [0u8; 32];
        reference[..8].copy_from_slice(&(i as u64).to_le_bytes());
        signatures.push(
            rpc.send(
                &[ix::award_batch(
                    &issuer.pubkey(),
                    Source::Trading,
                    reference,
                    first_award_id,
                    &rows,
                )],
                issuer,
                &[],
            )
            .await?,
        );
    }
    Ok(signatures)
}

/// What [`demo_activity`] created.
pub struct Demo {
    pub admin: Keypair,
    pub issuer: Keypair,
    pub wallets: Vec<Keypair>,
    /// A wallet with a bit of everything (referrals, redemptions, a whitelist spot, an NFT).
    pub featured: Pubkey,
    pub transactions: usize,
}

/// Realistic activity for the demo: `count` wallets (at least 20) trading,
/// subscribing, inviting each other, joining a campaign, redeeming perks and
/// minting NFTs through the example mint program.
pub async fn demo_activity(rpc: &SparksRpc, count: usize) -> Result<Demo, RpcError> {
    use crate::packing::{pack_award_batches, Sending};
    let count = count.max(20);
    let (admin, issuer) = (Keypair::new(), Keypair::new());
    deploy(rpc, &admin, &issuer).await?;
    let admin_key = admin.pubkey();
    let wallets: Vec<Keypair> = (0..count).map(|_| Keypair::new()).collect();
    let keys: Vec<Pubkey> = wallets.iter().map(|w| w.pubkey()).collect();
    // Wallets that sign something (set a referrer, redeem, mint) need SOL for fees.
    let signers = count / 2;
    fund(rpc, &keys[..signers], 1_000_000_000).await?;
    let mut transactions = 0usize;
    let send = async |ixs: &[anchor_lang::solana_program::instruction::Instruction],
                      payer: &Keypair,
                      extra: &[&(dyn Signer + Sync)]|
           -> Result<(), RpcError> { rpc.send(ixs, payer, extra).await.map(|_| ()) };

    // Referrals: wallets 0..5 invite the next 5 each (set by the invitees).
    let referrers = 5.min(count / 4);
    for invitee in referrers..signers.min(referrers * 6) {
        let referrer = &keys[invitee % referrers];
        send(
            &[ix::set_referrer(&keys[invitee], &keys[invitee], referrer)],
            &wallets[invitee],
            &[],
        )
        .await?;
        transactions += 1;
    }
    // Awards in batches as the client packs them (legacy transactions),
    // referrer accounts included, under the issuer's next award ids.
    let mut award_all =
        async |source: Source, picks: Vec<(Pubkey, u64)>, tag: u8| -> Result<(), RpcError> {
            let rows = rpc.batch_rows(source, &picks).await?;
            let first = rpc
                .reserve_award_ids(&issuer.pubkey(), rows.len() as u64, false)
                .await?;
            let sending = Sending {
                payer: &issuer.pubkey(),
                lookup_tables: &[],
                micro_lamports_per_unit: 0,
            };
            let reference = |i: usize| {
                let mut reference = [0u8; 32];
                reference[0] = tag;
                reference[1..3].copy_from_slice(&(i as u16).to_le_bytes());
                reference
            };
            let packed =
                pack_award_batches(&issuer.pubkey(), source, reference, first, &rows, sending);
            for batch in packed {
                send(&[batch.instruction], &issuer, &[]).await?;
                transactions += 1;
            }
            Ok(())
        };
    // Trades: every wallet, amounts by a simple spread.
    award_all(
        Source::Trading,
        keys.iter()
            .enumerate()
            .map(|(i, k)| (*k, 50 + (i as u64 * 37) % 900))
            .collect(),
        1,
    )
    .await?;
    // Subscriptions: a third of the wallets (invitees' first ones pay their referrers a bonus).
    award_all(
        Source::Subscription,
        keys.iter().step_by(3).map(|k| (*k, 1_000)).collect(),
        2,
    )
    .await?;
    // A community campaign for half of them.
    award_all(
        Source::Campaign,
        keys.iter().step_by(2).map(|k| (*k, 250)).collect(),
        3,
    )
    .await?;
    // More trading by the first signers, so referrers earn their share again.
    award_all(
        Source::Trading,
        keys[..signers].iter().map(|k| (*k, 400)).collect(),
        4,
    )
    .await?;

    // Perks and whitelists.
    let minter = example_mint::minter_address().0;
    let terms = |consumer: Pubkey, min: u64| WhitelistTerms {
        consumer,
        capacity: 10_000,
        spots_per_wallet: 2,
        min_lifetime_sparks: min,
        starts_at: 0,
        ends_at: i64::MAX,
    };
    send(
        &[ix::create_whitelist(
            &admin_key,
            1,
            &admin_key,
            terms(minter, 1_500),
        )],
        &admin,
        &[],
    )
    .await?;
    let perk = |id, kind, cost, supply, uri: &str| CreatePerkParams {
        id,
        kind,
        cost,
        max_supply: supply,
        per_wallet_limit: 1,
        starts_at: 0,
        ends_at: i64::MAX,
        uri: format!("https://sparks.example/perks/{uri}"),
    };
    let catalog = [
        (1, PerkKind::DiscordRole, 200, 0, "discord-og-role", None),
        (2, PerkKind::TrafficBoost, 500, 0, "post-boost-24h", None),
        (3, PerkKind::EventTicket, 1_200, 50, "meetup-lisbon", None),
        (
            4,
            PerkKind::NftWhitelist,
            300,
            0,
            "genesis-mint-spot",
            Some(1),
        ),
    ];
    for (id, kind, cost, supply, uri, whitelist) in catalog {
        send(
            &[ix::create_perk(
                &admin_key,
                whitelist,
                perk(id, kind, cost, supply, uri),
            )],
            &admin,
            &[],
        )
        .await?;
    }
    transactions += 5;
    // Redemptions and mints by the signers that can afford them.
    for (i, wallet) in wallets[..signers].iter().enumerate() {
        let owner = wallet.pubkey();
        let perk_id = 1 + (i as u64 % 4);
        let whitelist = (perk_id == 4).then_some(1);
        let balance = rpc.spark(&owner).await?.map_or(0, |s| s.balance);
        let redeemed = balance >= catalog[perk_id as usize - 1].2
            && send(
                &[ix::redeem_perk(
                    &owner,
                    &owner,
                    perk_id,
                    whitelist,
                    catalog[perk_id as usize - 1].2,
                )],
                wallet,
                &[],
            )
            .await
            .is_ok();
        if redeemed {
            transactions += 1;
        }
        if redeemed && perk_id == 4 && i % 2 == 1 {
            let (mint, token) = (Keypair::new(), Keypair::new());
            send(
                &[ix::example_mint_nft(
                    &owner,
                    1,
                    &mint.pubkey(),
                    &token.pubkey(),
                )],
                wallet,
                &[&mint, &token],
            )
            .await?;
            transactions += 1;
        }
    }
    // The featured wallet: a referrer that also redeemed and holds a spot.
    let featured = keys[3];
    send(
        &[ix::grant_whitelist(&admin_key, 1, &featured, 1)],
        &admin,
        &[],
    )
    .await
    .ok();
    send(
        &[ix::revoke(&admin_key, &keys[count - 1], 10, 7)],
        &admin,
        &[],
    )
    .await?;
    transactions += 2;
    Ok(Demo {
        admin,
        issuer,
        wallets,
        featured,
        transactions,
    })
}
