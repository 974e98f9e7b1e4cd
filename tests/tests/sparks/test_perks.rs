//! create_perk, update_perk, redeem_perk.

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::constants::MAX_URI_LEN;
use sparks::error::SparksError;
use sparks::events::{PerkCreated, PerkRedeemed, PerkUpdated};
use sparks::instructions::{CreatePerkParams, UpdatePerkParams};
use sparks::state::{GrantVia, Perk, PerkClaim, PerkKind, Source, WhitelistEntry};
use sparks_client::events::SparksEvent;
use sparks_client::{instructions as ix, pda};
use super::TestFixture;
use sparks_tests::START_TIME;

pub fn perk_params(id: u64, kind: PerkKind, cost: u64) -> CreatePerkParams {
    CreatePerkParams {
        id,
        kind,
        cost,
        max_supply: 0,
        per_wallet_limit: 0,
        starts_at: START_TIME - 10,
        ends_at: START_TIME + 86_400,
        uri: "https://sparks.example/perks/badge.json".into(),
    }
}

fn update_from(perk: &Perk) -> UpdatePerkParams {
    UpdatePerkParams {
        cost: perk.cost,
        max_supply: perk.max_supply,
        per_wallet_limit: perk.per_wallet_limit,
        starts_at: perk.starts_at,
        ends_at: perk.ends_at,
        active: perk.active,
        uri: perk.uri.clone(),
    }
}

/// A fixture with one perk and a wallet holding `balance` Sparks.
async fn with_perk(params: CreatePerkParams, balance: u64) -> (TestFixture, Keypair) {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[ix::create_perk(&admin.pubkey(), None, params)], &[&admin])
        .await;
    let issuer = f.full_issuer().await;
    let wallet = f.funded_wallet(1_000_000_000).await;
    if balance > 0 {
        f.award(&issuer, &wallet.pubkey(), Source::Campaign, balance)
            .await
            .unwrap();
    }
    (f, wallet)
}

async fn redeem(
    f: &mut TestFixture,
    wallet: &Keypair,
    perk_id: u64,
) -> Result<Vec<SparksEvent>, solana_transaction_error::TransactionError> {
    f.send(
        &[ix::redeem_perk(
            &wallet.pubkey(),
            &wallet.pubkey(),
            perk_id,
            None,
            u64::MAX,
        )],
        &[wallet],
    )
    .await
}

fn redeem_ix(
    wallet: &Keypair,
    perk_id: u64,
) -> anchor_lang::solana_program::instruction::Instruction {
    ix::redeem_perk(&wallet.pubkey(), &wallet.pubkey(), perk_id, None, u64::MAX)
}

#[tokio::test]
async fn create_perk_stores_it_and_emits_it() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let events = f
        .send_ok(
            &[ix::create_perk(
                &admin.pubkey(),
                None,
                perk_params(1, PerkKind::DiscordRole, 100),
            )],
            &[&admin],
        )
        .await;
    let perk: Perk = f.account(&pda::perk(1)).await.unwrap();
    assert_eq!(
        (perk.id, perk.kind, perk.cost, perk.claimed),
        (1, PerkKind::DiscordRole, 100, 0)
    );
    assert!(perk.active);
    assert_eq!(perk.whitelist, None);
    assert_eq!(perk.seq, 1);
    assert_eq!(events, vec![SparksEvent::PerkCreated(PerkCreated { perk })]);
}

#[tokio::test]
async fn create_perk_with_bad_terms_is_refused() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let stranger = f.funded_wallet(1_000_000_000).await;
    f.assert_rejected(
        &[ix::create_perk(
            &stranger.pubkey(),
            None,
            perk_params(1, PerkKind::Custom, 1),
        )],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
    let backwards = CreatePerkParams {
        ends_at: START_TIME - 20,
        ..perk_params(1, PerkKind::Custom, 1)
    };
    f.assert_rejected(
        &[ix::create_perk(&admin.pubkey(), None, backwards)],
        &[&admin],
        SparksError::InvalidWindow,
    )
    .await;
    let long_uri = CreatePerkParams {
        uri: "x".repeat(MAX_URI_LEN + 1),
        ..perk_params(1, PerkKind::Custom, 1)
    };
    f.assert_rejected(
        &[ix::create_perk(&admin.pubkey(), None, long_uri)],
        &[&admin],
        SparksError::UriTooLong,
    )
    .await;
    f.assert_rejected(
        &[ix::create_perk(
            &admin.pubkey(),
            None,
            perk_params(1, PerkKind::NftWhitelist, 1),
        )],
        &[&admin],
        SparksError::PerkWhitelistMismatch,
    )
    .await;
}

#[tokio::test]
async fn a_uri_whose_length_claims_more_than_the_data_is_refused_not_a_crash() {
    // The uri's length prefix says 1,000,000 bytes; a few follow. borsh's
    // own String reader allocated that much first, past the SBF heap: the
    // program aborted ("SBF program panicked") instead of refusing it.
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let create = perk_params(1, PerkKind::Custom, 1);
    let uri_len = create.uri.len();
    // (instruction, its uri's length): the uri is the last field.
    for (instruction, uri_len) in [
        (ix::create_perk(&admin.pubkey(), None, create), uri_len),
        (ix::update_perk(
            &admin.pubkey(),
            1,
            UpdatePerkParams {
                cost: 1,
                max_supply: 0,
                per_wallet_limit: 0,
                starts_at: START_TIME - 10,
                ends_at: START_TIME + 10,
                active: true,
                uri: String::new(),
            },
        ), 0),
    ] {
        let mut mangled = instruction;
        let at = mangled.data.len() - uri_len - 4;
        mangled.data[at..at + 4].copy_from_slice(&1_000_000u32.to_le_bytes());
        f.assert_rejected_with(
            &[mangled],
            &[&admin],
            sparks_tests::anchor_codes::err(
                anchor_lang::error::ErrorCode::InstructionDidNotDeserialize,
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn a_non_whitelist_perk_cannot_link_a_whitelist() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(
        &[ix::create_whitelist(
            &admin.pubkey(),
            5,
            &admin.pubkey(),
            super::test_whitelists::terms(&Keypair::new().pubkey()),
        )],
        &[&admin],
    )
    .await;
    f.assert_rejected(
        &[ix::create_perk(
            &admin.pubkey(),
            Some(5),
            perk_params(1, PerkKind::EventTicket, 1),
        )],
        &[&admin],
        SparksError::PerkWhitelistMismatch,
    )
    .await;
}

#[tokio::test]
async fn update_perk_changes_terms_and_emits_them() {
    let (mut f, _) = with_perk(perk_params(2, PerkKind::TrafficBoost, 50), 0).await;
    let admin = f.admin.insecure_clone();
    let mut perk: Perk = f.account(&pda::perk(2)).await.unwrap();
    let params = UpdatePerkParams {
        cost: 75,
        max_supply: 10,
        active: false,
        uri: "ipfs://boost".into(),
        ..update_from(&perk)
    };
    let events = f
        .send_ok(&[ix::update_perk(&admin.pubkey(), 2, params)], &[&admin])
        .await;
    perk = f.account(&pda::perk(2)).await.unwrap();
    assert_eq!(
        (
            perk.cost,
            perk.max_supply,
            perk.active,
            perk.uri.as_str(),
            perk.seq
        ),
        (75, 10, false, "ipfs://boost", 2)
    );
    assert_eq!(events, vec![SparksEvent::PerkUpdated(PerkUpdated { perk })]);
}

#[tokio::test]
async fn update_perk_cannot_cut_supply_below_claims_or_be_done_by_a_stranger() {
    let (mut f, wallet) = with_perk(perk_params(2, PerkKind::TrafficBoost, 10), 100).await;
    redeem(&mut f, &wallet, 2).await.unwrap();
    redeem(&mut f, &wallet, 2).await.unwrap();
    let admin = f.admin.insecure_clone();
    let perk: Perk = f.account(&pda::perk(2)).await.unwrap();
    let cut = UpdatePerkParams {
        max_supply: 1,
        ..update_from(&perk)
    };
    f.assert_rejected(
        &[ix::update_perk(&admin.pubkey(), 2, cut)],
        &[&admin],
        SparksError::LimitBelowUsage,
    )
    .await;
    let stranger = Keypair::new();
    f.assert_rejected(
        &[ix::update_perk(&stranger.pubkey(), 2, update_from(&perk))],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn redeeming_burns_the_cost_and_records_the_claim() {
    // Arrange
    let (mut f, wallet) = with_perk(perk_params(3, PerkKind::EventTicket, 120), 500).await;
    // Act
    let events = redeem(&mut f, &wallet, 3).await.unwrap();
    // Assert
    let account = f.spark(&wallet.pubkey()).await.unwrap();
    assert_eq!(account.balance, 380);
    assert_eq!(account.lifetime_spent, 120);
    assert_eq!(account.lifetime_earned, 500);
    assert_eq!(account.seq, 2);
    let perk: Perk = f.account(&pda::perk(3)).await.unwrap();
    assert_eq!((perk.claimed, perk.seq), (1, 2));
    let claim: PerkClaim = f
        .account(&pda::claim(&pda::perk(3), &wallet.pubkey()))
        .await
        .unwrap();
    assert_eq!(
        (claim.perk, claim.owner, claim.times_claimed, claim.seq),
        (pda::perk(3), wallet.pubkey(), 1, 1)
    );
    assert_eq!(
        events,
        vec![SparksEvent::PerkRedeemed(PerkRedeemed {
            perk,
            claim,
            account
        })]
    );
}

#[tokio::test]
async fn a_price_rise_that_lands_first_does_not_charge_the_redeemer_more() {
    // The buyer saw a cost of 120 and signed; a price rise lands first.
    let (mut f, wallet) = with_perk(perk_params(3, PerkKind::EventTicket, 120), 1_000).await;
    let redeem = ix::redeem_perk(&wallet.pubkey(), &wallet.pubkey(), 3, None, 120);
    let admin = f.admin.insecure_clone();
    let perk: Perk = f.account(&pda::perk(3)).await.unwrap();
    f.send_ok(
        &[ix::update_perk(
            &admin.pubkey(),
            3,
            UpdatePerkParams {
                cost: 500,
                ..update_from(&perk)
            },
        )],
        &[&admin],
    )
    .await;
    f.assert_rejected(
        std::slice::from_ref(&redeem),
        &[&wallet],
        SparksError::CostAboveMax,
    )
    .await;
    // A price cut is fine: the buyer pays the lower cost.
    f.send_ok(
        &[ix::update_perk(
            &admin.pubkey(),
            3,
            UpdatePerkParams {
                cost: 100,
                ..update_from(&perk)
            },
        )],
        &[&admin],
    )
    .await;
    f.send_ok(&[redeem], &[&wallet]).await;
    assert_eq!(f.spark(&wallet.pubkey()).await.unwrap().balance, 900);
}

#[tokio::test]
async fn redeeming_more_than_the_balance_is_refused() {
    let (mut f, wallet) = with_perk(perk_params(3, PerkKind::EventTicket, 120), 119).await;
    f.assert_rejected(
        &[redeem_ix(&wallet, 3)],
        &[&wallet],
        SparksError::InsufficientBalance,
    )
    .await;
}

#[tokio::test]
async fn an_exhausted_supply_is_refused() {
    let (mut f, wallet) = with_perk(
        CreatePerkParams {
            max_supply: 2,
            ..perk_params(4, PerkKind::Custom, 1)
        },
        10,
    )
    .await;
    redeem(&mut f, &wallet, 4).await.unwrap();
    redeem(&mut f, &wallet, 4).await.unwrap();
    f.assert_rejected(
        &[redeem_ix(&wallet, 4)],
        &[&wallet],
        SparksError::PerkSupplyExhausted,
    )
    .await;
}

#[tokio::test]
async fn the_per_wallet_limit_is_enforced() {
    let (mut f, wallet) = with_perk(
        CreatePerkParams {
            per_wallet_limit: 1,
            ..perk_params(4, PerkKind::Custom, 1)
        },
        10,
    )
    .await;
    redeem(&mut f, &wallet, 4).await.unwrap();
    f.assert_rejected(
        &[redeem_ix(&wallet, 4)],
        &[&wallet],
        SparksError::PerkWalletLimitReached,
    )
    .await;
}

#[tokio::test]
async fn redeeming_outside_the_window_is_refused() {
    let (mut f, wallet) = with_perk(perk_params(4, PerkKind::Custom, 1), 10).await;
    f.set_time(START_TIME - 11).await;
    f.assert_rejected(
        &[redeem_ix(&wallet, 4)],
        &[&wallet],
        SparksError::OutsideWindow,
    )
    .await;
    f.set_time(START_TIME + 86_400).await;
    f.assert_rejected(
        &[redeem_ix(&wallet, 4)],
        &[&wallet],
        SparksError::OutsideWindow,
    )
    .await;
    f.set_time(START_TIME + 86_399).await;
    redeem(&mut f, &wallet, 4).await.unwrap();
}

#[tokio::test]
async fn an_inactive_perk_or_a_paused_program_refuses_redemption() {
    let (mut f, wallet) = with_perk(perk_params(4, PerkKind::Custom, 1), 10).await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    f.assert_rejected(&[redeem_ix(&wallet, 4)], &[&wallet], SparksError::Paused)
        .await;
    f.send_ok(&[ix::unpause(&admin.pubkey())], &[&admin]).await;
    let perk: Perk = f.account(&pda::perk(4)).await.unwrap();
    f.send_ok(
        &[ix::update_perk(
            &admin.pubkey(),
            4,
            UpdatePerkParams {
                active: false,
                ..update_from(&perk)
            },
        )],
        &[&admin],
    )
    .await;
    f.assert_rejected(
        &[redeem_ix(&wallet, 4)],
        &[&wallet],
        SparksError::PerkInactive,
    )
    .await;
}

#[tokio::test]
async fn nobody_can_spend_another_wallets_sparks() {
    let (mut f, victim) = with_perk(perk_params(4, PerkKind::Custom, 5), 10).await;
    let thief = f.funded_wallet(1_000_000_000).await;
    // The thief signs as owner but passes the victim's SparkAccount.
    let forged = sparks_tests::swap_account(
        redeem_ix(&thief, 4),
        &pda::spark(&thief.pubkey()),
        &pda::spark(&victim.pubkey()),
    );
    f.assert_rejected_with(
        &[forged],
        &[&thief],
        sparks_tests::anchor_codes::err(anchor_lang::error::ErrorCode::ConstraintSeeds),
    )
    .await;
    // Or names the victim as owner without its signature.
    let unsigned = sparks_tests::unsigned(
        ix::redeem_perk(&victim.pubkey(), &thief.pubkey(), 4, None, u64::MAX),
        &victim.pubkey(),
    );
    f.assert_rejected_with(
        &[unsigned],
        &[&thief],
        sparks_tests::anchor_codes::err(anchor_lang::error::ErrorCode::AccountNotSigner),
    )
    .await;
}

#[tokio::test]
async fn an_app_can_pay_the_rent_of_a_claim() {
    let (mut f, wallet) = with_perk(perk_params(4, PerkKind::Custom, 5), 10).await;
    let app = f.funded_wallet(1_000_000_000).await;
    let before = f.raw_account(&wallet.pubkey()).await.unwrap().lamports;
    f.send_ok(
        &[ix::redeem_perk(
            &wallet.pubkey(),
            &app.pubkey(),
            4,
            None,
            u64::MAX,
        )],
        &[&wallet, &app],
    )
    .await;
    assert_eq!(
        f.raw_account(&wallet.pubkey()).await.unwrap().lamports,
        before
    );
}

#[tokio::test]
async fn a_whitelist_perk_grants_a_spot() {
    // Arrange
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let consumer = Keypair::new().pubkey();
    f.send_ok(
        &[ix::create_whitelist(
            &admin.pubkey(),
            9,
            &admin.pubkey(),
            super::test_whitelists::terms(&consumer),
        )],
        &[&admin],
    )
    .await;
    f.send_ok(
        &[ix::create_perk(
            &admin.pubkey(),
            Some(9),
            perk_params(6, PerkKind::NftWhitelist, 200),
        )],
        &[&admin],
    )
    .await;
    let issuer = f.full_issuer().await;
    let wallet = f.funded_wallet(1_000_000_000).await;
    f.award(&issuer, &wallet.pubkey(), Source::Trading, 200)
        .await
        .unwrap();
    // Act
    let events = f
        .send_ok(
            &[ix::redeem_perk(
                &wallet.pubkey(),
                &wallet.pubkey(),
                6,
                Some(9),
                u64::MAX,
            )],
            &[&wallet],
        )
        .await;
    // Assert
    let entry: WhitelistEntry = f
        .account(&pda::whitelist_entry(&pda::whitelist(9), &wallet.pubkey()))
        .await
        .unwrap();
    assert_eq!(
        (entry.spots_granted, entry.spots_used, entry.obtained_via),
        (1, 0, GrantVia::Perk.bit())
    );
    let whitelist: sparks::state::Whitelist = f.account(&pda::whitelist(9)).await.unwrap();
    assert_eq!((whitelist.entries, whitelist.spots_granted), (1, 1));
    assert!(
        matches!(&events[..], [SparksEvent::PerkRedeemed(_), SparksEvent::WhitelistSpotGranted(g)]
        if g.via == GrantVia::Perk && g.entry == entry && g.whitelist == whitelist)
    );
    // Redeeming without passing the whitelist is refused.
    f.award(&issuer, &wallet.pubkey(), Source::Trading, 200)
        .await
        .unwrap();
    f.assert_rejected(
        &[ix::redeem_perk(
            &wallet.pubkey(),
            &wallet.pubkey(),
            6,
            None,
            u64::MAX,
        )],
        &[&wallet],
        SparksError::PerkWhitelistMismatch,
    )
    .await;
}

#[tokio::test]
async fn a_whitelist_perk_stops_at_the_wallet_spot_limit() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(
        &[ix::create_whitelist(
            &admin.pubkey(),
            9,
            &admin.pubkey(),
            super::test_whitelists::terms(&Pubkey::new_unique()),
        )],
        &[&admin],
    )
    .await;
    f.send_ok(
        &[ix::create_perk(
            &admin.pubkey(),
            Some(9),
            perk_params(6, PerkKind::NftWhitelist, 1),
        )],
        &[&admin],
    )
    .await;
    let issuer = f.full_issuer().await;
    let wallet = f.funded_wallet(1_000_000_000).await;
    f.award(&issuer, &wallet.pubkey(), Source::Trading, 10)
        .await
        .unwrap();
    for _ in 0..super::test_whitelists::SPOTS_PER_WALLET {
        f.send_ok(
            &[ix::redeem_perk(
                &wallet.pubkey(),
                &wallet.pubkey(),
                6,
                Some(9),
                u64::MAX,
            )],
            &[&wallet],
        )
        .await;
    }
    f.assert_rejected(
        &[ix::redeem_perk(
            &wallet.pubkey(),
            &wallet.pubkey(),
            6,
            Some(9),
            u64::MAX,
        )],
        &[&wallet],
        SparksError::WalletSpotLimitReached,
    )
    .await;
}
