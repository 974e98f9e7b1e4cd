//! The award contract under ordinary mainnet traffic: an issuer's awards in
//! flight while third parties act on the same wallets. Each award carries an
//! award id of its issuer; the program pays each id at most once and asks
//! nothing else of the recipient's account, so nothing anyone else does can
//! make an award fail, and the issuer's account alone says whether an id
//! was paid.

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::events::AwardIdsVoided;
use sparks::state::{AwardIdState, Source};
use sparks_client::events::SparksEvent;
use sparks_client::instructions as ix;
use super::TestFixture;

fn wallet() -> Pubkey {
    Keypair::new().pubkey()
}

/// A stranger names `wallet` as its referrer: no consent needed, and it
/// moves the wallet's seq.
async fn a_stranger_names_as_referrer(f: &mut TestFixture, wallet: &Pubkey) {
    let stranger = f.funded_wallet(1_000_000_000).await;
    f.refer(&stranger, wallet).await;
}

#[tokio::test]
async fn an_award_in_flight_lands_after_a_stranger_names_its_wallet_as_referrer() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = wallet();
    f.award(&issuer, &wallet, Source::Campaign, 1)
        .await
        .unwrap();
    let in_flight = f
        .prepare_award(&issuer, &wallet, Source::Trading, 100)
        .await;
    a_stranger_names_as_referrer(&mut f, &wallet).await;
    f.send_prepared(&in_flight, &issuer)
        .await
        .expect("the award lands");
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 101);
}

#[tokio::test]
async fn a_batch_in_flight_lands_whatever_strangers_do_to_its_wallets() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallets = [wallet(), wallet(), wallet()];
    for w in &wallets {
        f.award(&issuer, w, Source::Campaign, 1).await.unwrap();
    }
    let rows: Vec<_> = wallets.iter().map(|w| (*w, 10)).collect();
    let in_flight = f.prepare_batch(&issuer, Source::Campaign, &rows).await;
    a_stranger_names_as_referrer(&mut f, &wallets[1]).await;
    f.send_prepared(&in_flight, &issuer)
        .await
        .expect("the batch lands");
    for w in &wallets {
        assert_eq!(f.spark(w).await.unwrap().balance, 11);
    }
}

#[tokio::test]
async fn a_popular_referrer_keeps_receiving_its_own_awards_while_invitees_trade() {
    let mut f = TestFixture::new().await;
    let (a, b) = (f.full_issuer().await, f.full_issuer().await);
    let referrer = wallet();
    let invitee = f.funded_wallet(1_000_000_000).await;
    f.refer(&invitee, &referrer).await;
    let in_flight = f.prepare_award(&a, &referrer, Source::Trading, 100).await;
    // Another issuer's trade award to the invitee pays the referrer 10 %.
    f.award(&b, &invitee.pubkey(), Source::Trading, 1_000)
        .await
        .unwrap();
    f.send_prepared(&in_flight, &a)
        .await
        .expect("the referrer's own award lands");
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 200);
}

#[tokio::test]
async fn an_award_that_never_landed_is_not_taken_for_paid() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = wallet();
    f.award(&issuer, &wallet, Source::Campaign, 1)
        .await
        .unwrap();
    let lost = f
        .prepare_award(&issuer, &wallet, Source::Trading, 100)
        .await;
    a_stranger_names_as_referrer(&mut f, &wallet).await;
    assert!(
        !f.award_was_paid(&lost).await,
        "an award that never landed must not be taken for paid"
    );
    // Sent now, it pays once; sent again, it is refused by name.
    f.send_prepared(&lost, &issuer).await.unwrap();
    assert!(f.award_was_paid(&lost).await);
    let again = f.send_prepared(&lost, &issuer).await;
    assert!(
        matches!(again, Err(solana_transaction_error::TransactionError::InstructionError(_, ref e))
            if *e == solana_instruction_error::InstructionError::Custom(SparksError::AwardIdUsed.into())),
        "{again:?}"
    );
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 101);
}

#[tokio::test]
async fn a_batch_may_list_a_referrer_after_its_invitee() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let referrer = wallet();
    let invitee = f.funded_wallet(1_000_000_000).await;
    f.refer(&invitee, &referrer).await;
    let batch = f
        .prepare_batch(
            &issuer,
            Source::Trading,
            &[(invitee.pubkey(), 1_000), (referrer, 10)],
        )
        .await;
    f.send_prepared(&batch, &issuer)
        .await
        .expect("the batch lands");
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 110);
}

#[tokio::test]
async fn a_batch_may_list_a_wallet_twice() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = wallet();
    f.award(&issuer, &wallet, Source::Campaign, 1)
        .await
        .unwrap();
    let batch = f
        .prepare_batch(&issuer, Source::Campaign, &[(wallet, 10), (wallet, 20)])
        .await;
    f.send_prepared(&batch, &issuer)
        .await
        .expect("the batch lands");
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 31);
}

#[tokio::test]
async fn awards_in_flight_land_in_any_order() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = wallet();
    let mut in_flight = Vec::new();
    for amount in 1..=5 {
        in_flight.push(
            f.prepare_award(&issuer, &wallet, Source::Campaign, amount)
                .await,
        );
    }
    for index in [3, 0, 4, 2, 1] {
        f.send_prepared(&in_flight[index], &issuer).await.unwrap();
    }
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 15);
    let state = f.issuer_account(&issuer.pubkey()).await;
    assert_eq!((state.award_id_floor, state.next_award_id()), (5, 5));
}

#[tokio::test]
async fn voided_ids_can_never_pay_and_let_the_window_move_on() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = wallet();
    let cancelled = f.prepare_award(&issuer, &wallet, Source::Campaign, 5).await; // id 0
    let later = f.prepare_award(&issuer, &wallet, Source::Campaign, 7).await; // id 1
    f.send_prepared(&later, &issuer).await.unwrap();
    assert_eq!(f.issuer_account(&issuer.pubkey()).await.award_id_floor, 0);

    let events = f
        .send_ok(&[ix::void_award_ids(&issuer.pubkey(), 0, 1)], &[&issuer])
        .await;

    assert_eq!(
        events,
        vec![SparksEvent::AwardIdsVoided(AwardIdsVoided {
            issuer: issuer.pubkey(),
            first_award_id: 0,
            count: 1,
            award_id_floor: 2,
        })]
    );
    let again = f.send_prepared(&cancelled, &issuer).await;
    assert!(again.is_err(), "a voided award paid: {again:?}");
    assert_eq!(f.spark(&wallet).await.unwrap().balance, 7);
}

#[tokio::test]
async fn voiding_an_id_that_paid_is_refused_so_a_void_proves_nothing_paid() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let paid = f
        .prepare_award(&issuer, &wallet(), Source::Campaign, 5)
        .await;
    f.send_prepared(&paid, &issuer).await.unwrap();
    f.assert_rejected(
        &[ix::void_award_ids(&issuer.pubkey(), 0, 3)],
        &[&issuer],
        SparksError::AwardIdUsed,
    )
    .await;
    let state = f.issuer_account(&issuer.pubkey()).await;
    assert_eq!(state.award_id_state(1), AwardIdState::Open);
}

#[tokio::test]
async fn only_the_issuer_voids_its_ids() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let stranger = f.funded_wallet(1_000_000_000).await;
    let mut instruction = ix::void_award_ids(&issuer.pubkey(), 0, 1);
    instruction.accounts[0].pubkey = stranger.pubkey();
    f.assert_rejected_with(
        &[instruction],
        &[&stranger],
        sparks_tests::anchor_codes::err(anchor_lang::error::ErrorCode::ConstraintSeeds),
    )
    .await;
}
