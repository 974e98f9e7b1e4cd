//! set_referrer and the referral credits awards pay.

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::events::{ReferrerSet, SparksAwarded};
use sparks::instructions::AwardArgs;
use sparks::state::Source;
use sparks_client::events::SparksEvent;
use sparks_client::instructions as ix;
use super::TestFixture;
use sparks_tests::{awarded, DEFAULT_PARAMS};

fn award_ix(
    issuer: &Keypair,
    wallet: &Pubkey,
    referrer: Option<&Pubkey>,
    source: Source,
    amount: u64,
    award_id: u64,
) -> anchor_lang::solana_program::instruction::Instruction {
    ix::award(
        &issuer.pubkey(),
        wallet,
        referrer,
        AwardArgs {
            source,
            amount,
            reference: [4; 32],
            award_id,
        },
    )
}

#[tokio::test]
async fn set_referrer_links_both_accounts_and_emits_both() {
    // Arrange: neither wallet has a SparkAccount yet; the app pays the rent.
    let mut f = TestFixture::new().await;
    let app = f.funded_wallet(1_000_000_000).await;
    let invitee = Keypair::new();
    let referrer = Keypair::new().pubkey();
    // Act
    let events = f
        .send_ok(
            &[ix::set_referrer(
                &invitee.pubkey(),
                &app.pubkey(),
                &referrer,
            )],
            &[&invitee, &app],
        )
        .await;
    // Assert
    let invitee_account = f.spark(&invitee.pubkey()).await.unwrap();
    let referrer_account = f.spark(&referrer).await.unwrap();
    assert_eq!(invitee_account.referrer, Some(referrer));
    assert_eq!(invitee_account.seq, 1);
    assert_eq!(referrer_account.invitee_count, 1);
    assert_eq!(referrer_account.seq, 1);
    assert_eq!(
        events,
        vec![SparksEvent::ReferrerSet(ReferrerSet {
            invitee: invitee_account,
            referrer: referrer_account
        })]
    );
}

#[tokio::test]
async fn a_referrer_is_set_once() {
    let mut f = TestFixture::new().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let (first, second) = (Keypair::new().pubkey(), Keypair::new().pubkey());
    f.refer(&invitee, &first).await;
    f.assert_rejected(
        &[ix::set_referrer(
            &invitee.pubkey(),
            &invitee.pubkey(),
            &second,
        )],
        &[&invitee],
        SparksError::ReferrerAlreadySet,
    )
    .await;
    assert!(
        f.spark(&second).await.is_none(),
        "the refusal created nothing"
    );
}

#[tokio::test]
async fn a_wallet_cannot_refer_itself() {
    let mut f = TestFixture::new().await;
    let wallet = f.funded_wallet(1_000_000_000).await;
    f.assert_rejected(
        &[ix::set_referrer(
            &wallet.pubkey(),
            &wallet.pubkey(),
            &wallet.pubkey(),
        )],
        &[&wallet],
        SparksError::SelfReferral,
    )
    .await;
}

#[tokio::test]
async fn a_two_cycle_is_refused() {
    let mut f = TestFixture::new().await;
    let a = f.funded_wallet(1_000_000_000).await;
    let b = f.funded_wallet(1_000_000_000).await;
    f.refer(&a, &b.pubkey()).await;
    f.assert_rejected(
        &[ix::set_referrer(&b.pubkey(), &b.pubkey(), &a.pubkey())],
        &[&b],
        SparksError::ReferralCycle,
    )
    .await;
}

#[tokio::test]
async fn set_referrer_needs_the_invitees_signature() {
    let mut f = TestFixture::new().await;
    let app = f.funded_wallet(1_000_000_000).await;
    let invitee = Keypair::new().pubkey();
    let referrer = Keypair::new().pubkey();
    let instruction = sparks_tests::unsigned(
        ix::set_referrer(&invitee, &app.pubkey(), &referrer),
        &invitee,
    );
    f.assert_rejected_with(
        &[instruction],
        &[&app],
        sparks_tests::anchor_codes::err(anchor_lang::error::ErrorCode::AccountNotSigner),
    )
    .await;
}

#[tokio::test]
async fn a_trade_pays_the_referrer_new_sparks() {
    // Arrange
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    // Act: a 1 000 trade at a 10 % share.
    let events = f
        .send_ok(
            &[award_ix(
                &issuer,
                &invitee.pubkey(),
                Some(&referrer),
                Source::Trading,
                1_000,
                1,
            )],
            &[&issuer],
        )
        .await;
    // Assert: the invitee keeps all 1 000; the referrer gets 100 new Sparks.
    let invitee_account = f.spark(&invitee.pubkey()).await.unwrap();
    let referrer_account = f.spark(&referrer).await.unwrap();
    assert_eq!(invitee_account.balance, 1_000);
    assert_eq!(referrer_account.balance, 100);
    assert_eq!(referrer_account.earned_by_source, [0, 0, 0, 100]);
    assert_eq!(referrer_account.seq, 2);
    assert_eq!(f.issuer_account(&issuer.pubkey()).await.total_minted, 1_100);
    let awards = awarded(&events);
    assert_eq!(awards.len(), 2);
    assert_eq!(awards[0].account, invitee_account);
    assert_eq!(
        awards[1],
        SparksAwarded {
            issuer: issuer.pubkey(),
            source: Source::Referral,
            amount: 100,
            reference: [4; 32],
            award_id: 1,
            referral_from: Some(invitee.pubkey()),
            referral_unpaid: 0,
            account: referrer_account,
        }
    );
}

#[tokio::test]
async fn a_trade_without_the_referrer_account_pays_and_leaves_the_share_unpaid() {
    // The issuer read the invitee's account before it named its referrer:
    // the award is not refused for it; the event says what was not paid.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    let events = f
        .send_ok(
            &[award_ix(
                &issuer,
                &invitee.pubkey(),
                None,
                Source::Trading,
                1_000,
                1,
            )],
            &[&issuer],
        )
        .await;
    let awards = awarded(&events);
    assert_eq!(awards.len(), 1);
    assert_eq!((awards[0].amount, awards[0].referral_unpaid), (1_000, 100));
    assert_eq!(f.spark(&invitee.pubkey()).await.unwrap().balance, 1_000);
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 0);
    assert_eq!(f.issuer_account(&issuer.pubkey()).await.total_minted, 1_000);
}

#[tokio::test]
async fn set_referrer_is_refused_while_paused() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    f.assert_rejected(
        &[ix::set_referrer(
            &invitee.pubkey(),
            &invitee.pubkey(),
            &Keypair::new().pubkey(),
        )],
        &[&invitee],
        SparksError::Paused,
    )
    .await;
}

#[tokio::test]
async fn a_trade_crediting_someone_else_as_referrer_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    let accomplice = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    f.award(&issuer, &accomplice, Source::Campaign, 1)
        .await
        .unwrap();
    f.assert_rejected(
        &[award_ix(
            &issuer,
            &invitee.pubkey(),
            Some(&accomplice),
            Source::Trading,
            1_000,
            1,
        )],
        &[&issuer],
        SparksError::ReferrerAccountMismatch,
    )
    .await;
}

#[tokio::test]
async fn a_tiny_trade_pays_no_share_and_needs_no_referrer_account() {
    // 9 Sparks at 10 % rounds down to 0.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    let events = f
        .send_ok(
            &[award_ix(
                &issuer,
                &invitee.pubkey(),
                None,
                Source::Trading,
                9,
                1,
            )],
            &[&issuer],
        )
        .await;
    assert_eq!(awarded(&events).len(), 1);
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 0);
}

#[tokio::test]
async fn the_first_subscription_pays_the_bonus_once() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    let first = f
        .send_ok(
            &[award_ix(
                &issuer,
                &invitee.pubkey(),
                Some(&referrer),
                Source::Subscription,
                300,
                1,
            )],
            &[&issuer],
        )
        .await;
    assert_eq!(
        awarded(&first)[1].amount,
        DEFAULT_PARAMS.first_subscription_bonus
    );
    assert!(
        f.spark(&invitee.pubkey())
            .await
            .unwrap()
            .first_subscription_rewarded
    );
    // The second subscription pays no bonus and needs no referrer account.
    let second = f
        .send_ok(
            &[award_ix(
                &issuer,
                &invitee.pubkey(),
                None,
                Source::Subscription,
                300,
                2,
            )],
            &[&issuer],
        )
        .await;
    assert_eq!(awarded(&second).len(), 1);
    assert_eq!(
        f.spark(&referrer).await.unwrap().balance,
        DEFAULT_PARAMS.first_subscription_bonus
    );
}

#[tokio::test]
async fn a_referrer_set_after_the_first_subscription_earns_no_bonus() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    f.award(&issuer, &invitee.pubkey(), Source::Subscription, 300)
        .await
        .unwrap();
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    f.send_ok(
        &[award_ix(
            &issuer,
            &invitee.pubkey(),
            None,
            Source::Subscription,
            300,
            2,
        )],
        &[&issuer],
    )
    .await;
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 0);
}

#[tokio::test]
async fn campaign_awards_pay_no_referral() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    f.send_ok(
        &[award_ix(
            &issuer,
            &invitee.pubkey(),
            None,
            Source::Campaign,
            1_000,
            1,
        )],
        &[&issuer],
    )
    .await;
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 0);
}
