//! award and revoke: creation paid by the issuer, at most once per award
//! id, caps, overflow, pause, and clawback.

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::constants::{AWARD_ID_WINDOW, MAX_QUANTITY};
use sparks::error::SparksError;
use sparks::events::{SparksAwarded, SparksRevoked};
use sparks::instructions::{AwardArgs, ConfigParams, IssuerParams};
use sparks::state::{AwardIdState, Source};
use sparks_client::events::SparksEvent;
use sparks_client::{instructions as ix, pda};
use super::TestFixture;
use sparks_tests::{awarded, DEFAULT_PARAMS};

fn award_ix(
    issuer: &Keypair,
    wallet: &Pubkey,
    source: Source,
    amount: u64,
    award_id: u64,
) -> anchor_lang::solana_program::instruction::Instruction {
    ix::award(
        &issuer.pubkey(),
        wallet,
        None,
        AwardArgs {
            source,
            amount,
            reference: [9; 32],
            award_id,
        },
    )
}

#[tokio::test]
async fn first_award_creates_the_account_at_the_issuers_expense() {
    // Arrange: a wallet that has never held a lamport.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    let issuer_before = f.raw_account(&issuer.pubkey()).await.unwrap().lamports;
    // Act
    let events = f
        .send_ok(
            &[award_ix(&issuer, &wallet, Source::Trading, 250, 0)],
            &[&issuer],
        )
        .await;
    // Assert
    assert!(
        f.raw_account(&wallet).await.is_none(),
        "the wallet needed no SOL"
    );
    let raw = f.raw_account(&pda::spark(&wallet)).await.unwrap();
    assert_eq!(raw.owner, sparks::ID);
    let issuer_after = f.raw_account(&issuer.pubkey()).await.unwrap().lamports;
    assert_eq!(
        issuer_before - issuer_after,
        raw.lamports,
        "the issuer paid the rent"
    );
    let account = f.spark(&wallet).await.unwrap();
    assert_eq!(account.owner, wallet);
    assert_eq!(account.balance, 250);
    assert_eq!(account.lifetime_earned, 250);
    assert_eq!(account.earned_by_source, [250, 0, 0, 0]);
    assert_eq!(account.seq, 1);
    assert_eq!(
        events,
        vec![SparksEvent::SparksAwarded(SparksAwarded {
            issuer: issuer.pubkey(),
            source: Source::Trading,
            amount: 250,
            reference: [9; 32],
            award_id: 0,
            referral_from: None,
            referral_unpaid: 0,
            account,
        })]
    );
    assert_eq!(f.issuer_account(&issuer.pubkey()).await.total_minted, 250);
}

#[tokio::test]
async fn awards_accumulate_per_source() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    for (source, amount) in [
        (Source::Trading, 10),
        (Source::Subscription, 20),
        (Source::Campaign, 30),
        (Source::Referral, 40),
        (Source::Trading, 5),
    ] {
        f.award(&issuer, &wallet, source, amount).await.unwrap();
    }
    let account = f.spark(&wallet).await.unwrap();
    assert_eq!(account.earned_by_source, [15, 20, 30, 40]);
    assert_eq!(account.balance, 105);
    assert_eq!(account.lifetime_earned, 105);
    assert_eq!(account.seq, 5);
}

#[tokio::test]
async fn an_award_id_pays_once() {
    // Arrange: an award lands, but the issuer never saw the confirmation.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    f.send_ok(
        &[award_ix(&issuer, &wallet, Source::Trading, 100, 0)],
        &[&issuer],
    )
    .await;
    // Act + Assert: the retry (same award id, new transaction) is refused,
    // and a batch that names the id too.
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, 100, 0)],
        &[&issuer],
        SparksError::AwardIdUsed,
    )
    .await;
    let row = f.batch_row(&wallet, Source::Trading, 100).await;
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Trading,
            [0; 32],
            0,
            &[row],
        )],
        &[&issuer],
        SparksError::AwardIdUsed,
    )
    .await;
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 100);
    assert_eq!(f.issuer_account(&issuer.pubkey()).await.total_minted, 100);
}

#[tokio::test]
async fn award_ids_are_per_issuer() {
    let mut f = TestFixture::new().await;
    let (a, b) = (f.full_issuer().await, f.full_issuer().await);
    let wallet = Keypair::new().pubkey();
    f.send_ok(&[award_ix(&a, &wallet, Source::Trading, 1, 7)], &[&a])
        .await;
    f.send_ok(&[award_ix(&b, &wallet, Source::Trading, 1, 7)], &[&b])
        .await;
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 2);
}

#[tokio::test]
async fn an_award_id_beyond_the_window_waits_for_the_ids_below_it() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    let window = AWARD_ID_WINDOW as u64;
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, 1, window)],
        &[&issuer],
        SparksError::AwardIdBeyondWindow,
    )
    .await;
    // Id 0 used: the window now reaches id `window`.
    f.send_ok(
        &[award_ix(&issuer, &wallet, Source::Trading, 1, 0)],
        &[&issuer],
    )
    .await;
    f.send_ok(
        &[award_ix(&issuer, &wallet, Source::Trading, 1, window)],
        &[&issuer],
    )
    .await;
    let state = f.issuer_account(&issuer.pubkey()).await;
    assert_eq!(state.award_id_floor, 1);
    assert_eq!(state.award_id_state(window), AwardIdState::Used);
    assert_eq!(state.award_id_state(1), AwardIdState::Open);
}

#[tokio::test]
async fn award_of_zero_or_above_the_instruction_cap_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, 0, 0)],
        &[&issuer],
        SparksError::ZeroValue,
    )
    .await;
    let above = DEFAULT_PARAMS.max_award_per_ix + 1;
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, above, 0)],
        &[&issuer],
        SparksError::AmountAboveInstructionCap,
    )
    .await;
}

#[tokio::test]
async fn award_without_the_issuer_signature_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    let instruction = sparks_tests::unsigned(
        award_ix(&issuer, &wallet, Source::Trading, 1, 0),
        &issuer.pubkey(),
    );
    f.assert_rejected_with(
        &[instruction],
        &[],
        sparks_tests::anchor_codes::err(anchor_lang::error::ErrorCode::AccountNotSigner),
    )
    .await;
}

#[tokio::test]
async fn award_into_the_wrong_spark_account_is_refused() {
    // The spark account of wallet B passed for wallet A: its data names B.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let (a, b) = (Keypair::new().pubkey(), Keypair::new().pubkey());
    f.award(&issuer, &b, Source::Trading, 1).await.unwrap();
    let instruction = sparks_tests::swap_account(
        award_ix(&issuer, &a, Source::Trading, 1, 1),
        &pda::spark(&a),
        &pda::spark(&b),
    );
    f.assert_rejected(&[instruction], &[&issuer], SparksError::InvalidPda)
        .await;
}

#[tokio::test]
async fn balances_and_supply_stop_at_the_largest_quantity() {
    // Arrange: caps opened up so only arithmetic limits remain.
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(
        &[ix::update_config(
            &admin.pubkey(),
            ConfigParams {
                max_award_per_ix: MAX_QUANTITY,
                ..DEFAULT_PARAMS
            },
        )],
        &[&admin],
    )
    .await;
    let issuer = f.funded_wallet(10_000_000_000).await;
    f.send_ok(
        &[ix::upsert_issuer(
            &admin.pubkey(),
            &issuer.pubkey(),
            IssuerParams {
                allowed_sources: Source::ALL_BITS,
                cap_per_period: MAX_QUANTITY,
                period_secs: 86_400,
            },
        )],
        &[&admin],
    )
    .await;
    let (a, b) = (Keypair::new().pubkey(), Keypair::new().pubkey());
    f.send_ok(
        &[award_ix(&issuer, &a, Source::Campaign, MAX_QUANTITY, 0)],
        &[&issuer],
    )
    .await;
    // Act + Assert: one more Spark would take the balance, or the issuer's
    // count of what it minted, past the largest quantity.
    f.assert_rejected(
        &[award_ix(&issuer, &a, Source::Campaign, 1, 1)],
        &[&issuer],
        SparksError::QuantityTooLarge,
    )
    .await;
    f.assert_rejected(
        &[award_ix(&issuer, &b, Source::Campaign, 1, 1)],
        &[&issuer],
        SparksError::QuantityTooLarge,
    )
    .await;
}

#[tokio::test]
async fn revoke_claws_back_and_emits_the_state() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    f.award(&issuer, &wallet, Source::Trading, 300)
        .await
        .unwrap();
    let admin = f.admin.insecure_clone();
    let events = f
        .send_ok(&[ix::revoke(&admin.pubkey(), &wallet, 120, 7)], &[&admin])
        .await;
    let account = f.spark(&wallet).await.unwrap();
    assert_eq!(account.balance, 180);
    assert_eq!(
        account.lifetime_earned, 300,
        "revoking does not rewrite history"
    );
    assert_eq!(account.lifetime_revoked, 120);
    assert_eq!(account.seq, 2);
    assert_eq!(
        events,
        vec![SparksEvent::SparksRevoked(SparksRevoked {
            admin: admin.pubkey(),
            amount: 120,
            reason: 7,
            account
        })]
    );
}

#[tokio::test]
async fn revoke_never_goes_below_zero() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    f.award(&issuer, &wallet, Source::Trading, 50)
        .await
        .unwrap();
    let admin = f.admin.insecure_clone();
    // More than it ever earned: refused.
    f.assert_rejected(
        &[ix::revoke(&admin.pubkey(), &wallet, 51, 1)],
        &[&admin],
        SparksError::RevokeAboveEarned,
    )
    .await;
    f.assert_rejected(
        &[ix::revoke(&admin.pubkey(), &wallet, 0, 1)],
        &[&admin],
        SparksError::ZeroValue,
    )
    .await;
    f.send_ok(&[ix::revoke(&admin.pubkey(), &wallet, 50, 1)], &[&admin])
        .await;
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 0);
}

#[tokio::test]
async fn a_revoke_reaches_sparks_already_spent_as_a_debt_later_awards_repay_first() {
    // A farmer spends right after the award; the clawback still counts in
    // full (eligibility nets it) and what the balance could not give is
    // taken from the next awards.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let admin = f.admin.insecure_clone();
    let farmer = f.funded_wallet(1_000_000_000).await;
    let w = farmer.pubkey();
    f.award(&issuer, &w, Source::Trading, 1_000).await.unwrap();
    f.send_ok(
        &[ix::create_perk(
            &admin.pubkey(),
            None,
            super::test_perks::perk_params(1, sparks::state::PerkKind::DiscordRole, 900),
        )],
        &[&admin],
    )
    .await;
    f.send_ok(&[ix::redeem_perk(&w, &w, 1, None, 900)], &[&farmer])
        .await;
    // Act: the whole award clawed back, 100 left to take.
    f.send_ok(&[ix::revoke(&admin.pubkey(), &w, 1_000, 7)], &[&admin])
        .await;
    let after = f.spark(&w).await.unwrap();
    assert_eq!(
        (after.balance, after.lifetime_revoked, after.debt(), after.net_earned()),
        (0, 1_000, 900, 0)
    );
    // Later awards repay the debt first.
    f.award(&issuer, &w, Source::Trading, 600).await.unwrap();
    let repaying = f.spark(&w).await.unwrap();
    assert_eq!((repaying.balance, repaying.debt()), (0, 300));
    f.award(&issuer, &w, Source::Trading, 500).await.unwrap();
    let repaid = f.spark(&w).await.unwrap();
    assert_eq!(
        (repaid.balance, repaid.debt(), repaid.lifetime_earned, repaid.net_earned()),
        (200, 0, 2_100, 1_100)
    );
    // Never more than it earned in all.
    f.assert_rejected(
        &[ix::revoke(&admin.pubkey(), &w, 1_101, 7)],
        &[&admin],
        SparksError::RevokeAboveEarned,
    )
    .await;
}

#[tokio::test]
async fn revoke_by_a_stranger_or_an_issuer_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    f.award(&issuer, &wallet, Source::Trading, 50)
        .await
        .unwrap();
    let stranger = Keypair::new();
    f.assert_rejected(
        &[ix::revoke(&stranger.pubkey(), &wallet, 1, 1)],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
    f.assert_rejected(
        &[ix::revoke(&issuer.pubkey(), &wallet, 1, 1)],
        &[&issuer],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn revoke_works_while_paused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    f.award(&issuer, &wallet, Source::Trading, 50)
        .await
        .unwrap();
    let admin = f.admin.insecure_clone();
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    f.send_ok(&[ix::revoke(&admin.pubkey(), &wallet, 10, 2)], &[&admin])
        .await;
}

#[tokio::test]
async fn awarded_helper_sees_every_award() {
    // The fixture helper used by other tests must not drop events.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    let events = f
        .award(&issuer, &wallet, Source::Campaign, 3)
        .await
        .unwrap();
    assert_eq!(awarded(&events).len(), 1);
}
