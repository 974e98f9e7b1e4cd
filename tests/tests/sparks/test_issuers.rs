//! upsert_issuer, deactivate_issuer, and the rights and caps they set.

use anchor_lang::error::ErrorCode as AnchorError;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::instructions::{AwardArgs, IssuerParams};
use sparks::state::{Issuer, Source};
use sparks_client::events::SparksEvent;
use sparks_client::{instructions as ix, pda};
use sparks_tests::anchor_codes::err;
use super::TestFixture;
use sparks_tests::{DEFAULT_PERIOD_SECS, START_TIME};

fn params(allowed_sources: u8, cap_per_period: u64) -> IssuerParams {
    IssuerParams {
        allowed_sources,
        cap_per_period,
        period_secs: DEFAULT_PERIOD_SECS,
    }
}

fn award_ix(
    issuer: &Keypair,
    wallet: &anchor_lang::prelude::Pubkey,
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
            reference: [1; 32],
            award_id,
        },
    )
}

#[tokio::test]
async fn upsert_issuer_registers_an_active_issuer() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let authority = Keypair::new().pubkey();
    let allowed = Source::Trading.bit() | Source::Campaign.bit();
    let events = f
        .send_ok(
            &[ix::upsert_issuer(
                &admin.pubkey(),
                &authority,
                params(allowed, 5_000),
            )],
            &[&admin],
        )
        .await;
    let issuer: Issuer = f.account(&pda::issuer(&authority)).await.unwrap();
    assert_eq!(issuer.authority, authority);
    assert_eq!(issuer.allowed_sources, allowed);
    assert_eq!(issuer.cap_per_period, 5_000);
    assert_eq!(issuer.period_secs, DEFAULT_PERIOD_SECS);
    assert_eq!(issuer.minted_in_window(START_TIME), 0);
    assert_eq!((issuer.total_minted, issuer.award_id_floor), (0, 0));
    assert!(issuer.active);
    assert_eq!(issuer.seq, 1);
    assert_eq!(
        events,
        vec![SparksEvent::IssuerUpserted(
            sparks::events::IssuerUpserted { issuer }
        )]
    );
}

#[tokio::test]
async fn upsert_issuer_by_a_stranger_is_refused() {
    let mut f = TestFixture::new().await;
    let stranger = f.funded_wallet(1_000_000_000).await;
    let authority = Keypair::new().pubkey();
    f.assert_rejected(
        &[ix::upsert_issuer(
            &stranger.pubkey(),
            &authority,
            params(1, 10),
        )],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn upsert_issuer_with_bad_params_is_refused() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let authority = Keypair::new().pubkey();
    let cases = [
        (params(0b1_0000, 10), SparksError::SourceNotAllowed),
        (params(1, 0), SparksError::ZeroValue),
        (
            IssuerParams {
                allowed_sources: 1,
                cap_per_period: 10,
                period_secs: 59,
            },
            SparksError::PeriodTooShort,
        ),
    ];
    for (bad, expected) in cases {
        f.assert_rejected(
            &[ix::upsert_issuer(&admin.pubkey(), &authority, bad)],
            &[&admin],
            expected,
        )
        .await;
    }
}

#[tokio::test]
async fn re_upserting_changes_rights_but_keeps_usage() {
    let mut f = TestFixture::new().await;
    let issuer = f.issuer(Source::Trading.bit(), 1_000).await;
    let wallet = Keypair::new().pubkey();
    f.award(&issuer, &wallet, Source::Trading, 600)
        .await
        .unwrap();
    let admin = f.admin.insecure_clone();
    f.send_ok(
        &[ix::upsert_issuer(
            &admin.pubkey(),
            &issuer.pubkey(),
            params(Source::ALL_BITS, 1_000),
        )],
        &[&admin],
    )
    .await;
    let state: Issuer = f.account(&pda::issuer(&issuer.pubkey())).await.unwrap();
    assert_eq!(
        state.minted_in_window(f.now().await),
        600,
        "re-upserting must not reset the cap"
    );
    assert_eq!(state.allowed_sources, Source::ALL_BITS);
    assert_eq!(state.seq, 2);
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Campaign, 401, 1)],
        &[&issuer],
        SparksError::IssuerCapExceeded,
    )
    .await;
}

#[tokio::test]
async fn a_deactivated_issuer_cannot_award_until_reactivated() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let admin = f.admin.insecure_clone();
    let events = f
        .send_ok(
            &[ix::deactivate_issuer(&admin.pubkey(), &issuer.pubkey())],
            &[&admin],
        )
        .await;
    let state: Issuer = f.account(&pda::issuer(&issuer.pubkey())).await.unwrap();
    assert!(!state.active);
    assert_eq!(
        events,
        vec![SparksEvent::IssuerDeactivated(
            sparks::events::IssuerDeactivated { issuer: state }
        )]
    );
    let wallet = Keypair::new().pubkey();
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, 1, 0)],
        &[&issuer],
        SparksError::IssuerInactive,
    )
    .await;
    f.send_ok(
        &[ix::upsert_issuer(
            &admin.pubkey(),
            &issuer.pubkey(),
            params(Source::ALL_BITS, 100),
        )],
        &[&admin],
    )
    .await;
    f.award(&issuer, &wallet, Source::Trading, 1).await.unwrap();
}

#[tokio::test]
async fn deactivate_issuer_by_a_stranger_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let stranger = Keypair::new();
    f.assert_rejected(
        &[ix::deactivate_issuer(&stranger.pubkey(), &issuer.pubkey())],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn an_issuer_awards_only_its_allowed_sources() {
    let mut f = TestFixture::new().await;
    let issuer = f.issuer(Source::Subscription.bit(), 1_000).await;
    let wallet = Keypair::new().pubkey();
    for source in [Source::Trading, Source::Campaign, Source::Referral] {
        f.assert_rejected(
            &[award_ix(&issuer, &wallet, source, 1, 0)],
            &[&issuer],
            SparksError::SourceNotAllowed,
        )
        .await;
    }
    f.award(&issuer, &wallet, Source::Subscription, 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unregistered_key_cannot_award() {
    let mut f = TestFixture::new().await;
    let impostor = f.funded_wallet(1_000_000_000).await;
    let wallet = Keypair::new().pubkey();
    f.assert_rejected_with(
        &[award_ix(&impostor, &wallet, Source::Trading, 1, 0)],
        &[&impostor],
        err(AnchorError::AccountNotInitialized),
    )
    .await;
}

#[tokio::test]
async fn a_stolen_issuer_key_mints_at_most_its_cap_per_period() {
    // Arrange
    let mut f = TestFixture::new().await;
    let issuer = f.issuer(Source::Trading.bit(), 1_000).await;
    let wallet = Keypair::new().pubkey();
    // Act: spend the whole cap, then try once more.
    f.award(&issuer, &wallet, Source::Trading, 1_000)
        .await
        .unwrap();
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, 1, 1)],
        &[&issuer],
        SparksError::IssuerCapExceeded,
    )
    .await;
    // Assert: a period later the cap is still spent; it comes back one cap
    // slice (period / 8) after that, and only then.
    let period = i64::from(DEFAULT_PERIOD_SECS);
    let slice = sparks::state::slice_secs(DEFAULT_PERIOD_SECS);
    f.advance_time(period).await;
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, 1, 1)],
        &[&issuer],
        SparksError::IssuerCapExceeded,
    )
    .await;
    f.advance_time(slice).await;
    f.award(&issuer, &wallet, Source::Trading, 1_000)
        .await
        .unwrap();
    let state: Issuer = f.account(&pda::issuer(&issuer.pubkey())).await.unwrap();
    assert_eq!(state.minted_in_window(f.now().await), 1_000);
    assert_eq!(state.total_minted, 2_000);
}

#[tokio::test]
async fn an_issuer_mints_at_most_its_cap_in_any_period_long_window() {
    // A fixed window let the cap be spent at the end of one period and
    // again at the start of the next: twice the cap within seconds.
    let mut f = TestFixture::new().await;
    let issuer = f.issuer(Source::ALL_BITS, 1_000).await;
    let wallet = Keypair::new().pubkey();
    f.advance_time(i64::from(DEFAULT_PERIOD_SECS) - 1).await;
    f.award(&issuer, &wallet, Source::Trading, 1_000)
        .await
        .unwrap();
    f.advance_time(2).await;
    f.assert_rejected(
        &[award_ix(&issuer, &wallet, Source::Trading, 1_000, 1)],
        &[&issuer],
        SparksError::IssuerCapExceeded,
    )
    .await;
}

#[tokio::test]
async fn referral_credits_count_against_the_issuer_cap() {
    // 10 % referral share: a 1 000 trade mints 1 100.
    let mut f = TestFixture::new().await;
    let issuer = f.issuer(Source::Trading.bit(), 1_099).await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    let award = ix::award(
        &issuer.pubkey(),
        &invitee.pubkey(),
        Some(&referrer),
        AwardArgs {
            source: Source::Trading,
            amount: 1_000,
            reference: [0; 32],
            award_id: 0,
        },
    );
    f.assert_rejected(&[award], &[&issuer], SparksError::IssuerCapExceeded)
        .await;
}
