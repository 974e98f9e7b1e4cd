//! award_batch: the same rules as award, for many recipients at once.

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::state::{AwardIdState, Source};
use sparks_client::{instructions as ix, pda};
use super::TestFixture;
use sparks_tests::awarded;

fn wallets(n: usize) -> Vec<Pubkey> {
    (0..n).map(|_| Keypair::new().pubkey()).collect()
}

async fn rows(
    f: &mut TestFixture,
    wallets: &[Pubkey],
    source: Source,
    amount: u64,
) -> Vec<ix::BatchRow> {
    let mut rows = Vec::new();
    for wallet in wallets {
        rows.push(f.batch_row(wallet, source, amount).await);
    }
    rows
}

#[tokio::test]
async fn a_batch_pays_every_row_and_each_referrer() {
    // Arrange: 20 wallets, some already holding Sparks, one with a referrer.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let recipients = wallets(20);
    for wallet in &recipients[..5] {
        f.award(&issuer, wallet, Source::Campaign, 7).await.unwrap();
    }
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    let mut all = recipients.clone();
    all.push(invitee.pubkey());
    let rows = rows(&mut f, &all, Source::Trading, 500).await;
    assert_eq!(rows.iter().filter(|r| r.referrer.is_some()).count(), 1);
    // Act: 21 rows need a lookup table; award ids 100..121.
    let (result, _) = f
        .send_v0(
            &[ix::award_batch(
                &issuer.pubkey(),
                Source::Trading,
                [3; 32],
                100,
                &rows,
            )],
            &[&issuer],
        )
        .await;
    let events = result.unwrap();
    // Assert: one event per row (+1 referral credit), each matching the account.
    let awards = awarded(&events);
    assert_eq!(awards.len(), 22);
    for (index, wallet) in all.iter().enumerate() {
        let account = f.spark(wallet).await.unwrap();
        let expected_balance = if index < 5 { 507 } else { 500 };
        assert_eq!(account.balance, expected_balance);
        let event = awards.iter().find(|a| a.account.owner == *wallet).unwrap();
        assert_eq!(event.award_id, 100 + index as u64);
        assert_eq!(event.amount, 500);
        assert_eq!(event.reference, [3; 32]);
        assert_eq!(event.account, account);
    }
    let credit = awards
        .iter()
        .find(|a| a.source == Source::Referral)
        .unwrap();
    assert_eq!(credit.referral_from, Some(invitee.pubkey()));
    assert_eq!(credit.award_id, 120);
    assert_eq!(credit.account, f.spark(&referrer).await.unwrap());
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 50);
    let state = f.issuer_account(&issuer.pubkey()).await;
    assert_eq!(state.total_minted, 5 * 7 + 21 * 500 + 50);
    for id in 100..121 {
        assert_eq!(state.award_id_state(id), AwardIdState::Used);
    }
}

#[tokio::test]
async fn a_wallet_twice_in_one_batch_sees_its_own_earlier_row() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    let row = f.batch_row(&wallet, Source::Campaign, 10).await;
    let second = ix::BatchRow { amount: 20, ..row };
    f.send_ok(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [0; 32],
            0,
            &[row, second],
        )],
        &[&issuer],
    )
    .await;
    let account = f.spark(&wallet).await.unwrap();
    assert_eq!((account.balance, account.seq), (30, 2));
}

#[tokio::test]
async fn a_batch_lands_whole_or_not_at_all() {
    // One of its award ids was used already: nothing of the batch lands.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let recipients = wallets(4);
    let single = f
        .prepare_award(&issuer, &recipients[2], Source::Campaign, 1)
        .await; // award id 0
    f.send_prepared(&single, &issuer).await.unwrap();
    let rows = rows(&mut f, &recipients, Source::Campaign, 10).await;
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [0; 32],
            0,
            &rows,
        )],
        &[&issuer],
        SparksError::AwardIdUsed,
    )
    .await;
    assert!(
        f.spark(&recipients[0]).await.is_none(),
        "no row of a failed batch lands"
    );
    assert_eq!(
        f.issuer_account(&issuer.pubkey()).await.award_id_state(1),
        AwardIdState::Open,
        "no id of a failed batch is used"
    );
}

#[tokio::test]
async fn a_batch_with_missing_or_extra_accounts_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let rows = rows(&mut f, &wallets(3), Source::Campaign, 10).await;
    let full = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], 0, &rows);
    let mut short = full.clone();
    short.accounts.pop();
    f.assert_rejected(&[short], &[&issuer], SparksError::BatchAccountsMismatch)
        .await;
    let mut long = full.clone();
    long.accounts
        .push(anchor_lang::prelude::AccountMeta::new_readonly(
            Keypair::new().pubkey(),
            false,
        ));
    f.assert_rejected(&[long], &[&issuer], SparksError::BatchAccountsMismatch)
        .await;
}

#[tokio::test]
async fn a_batch_row_with_a_read_only_account_is_refused() {
    // Found by the fuzz test: natively a write to a read-only account is
    // dropped, so the issuer's count grew but the balance did not.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let recipients = wallets(2);
    for wallet in &recipients {
        f.award(&issuer, wallet, Source::Campaign, 5).await.unwrap();
    }
    let rows = rows(&mut f, &recipients, Source::Campaign, 10).await;
    let mut instruction = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], 10, &rows);
    let spark_1 = pda::spark(&recipients[1]);
    for meta in instruction
        .accounts
        .iter_mut()
        .filter(|m| m.pubkey == spark_1)
    {
        meta.is_writable = false;
    }
    f.assert_rejected_with(
        &[instruction],
        &[&issuer],
        solana_instruction_error::InstructionError::Custom(
            anchor_lang::error::ErrorCode::ConstraintMut.into(),
        ),
    )
    .await;
}

#[tokio::test]
async fn a_batch_row_pointing_at_another_wallets_account_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let recipients = wallets(2);
    let rows = rows(&mut f, &recipients, Source::Campaign, 10).await;
    let mut instruction = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], 0, &rows);
    // Row 0's spark account replaced by a fresh address that is not its PDA.
    let spark_0 = pda::spark(&recipients[0]);
    let slot = instruction
        .accounts
        .iter()
        .position(|m| m.pubkey == spark_0)
        .unwrap();
    instruction.accounts[slot].pubkey = Keypair::new().pubkey();
    f.assert_rejected(&[instruction], &[&issuer], SparksError::InvalidPda)
        .await;
}

#[tokio::test]
async fn a_row_without_its_referrers_account_pays_and_says_what_it_left_unpaid() {
    // The invitee named its referrer after the issuer read its account.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    f.award(&issuer, &invitee.pubkey(), Source::Campaign, 1)
        .await
        .unwrap();
    let stale = f.batch_row(&invitee.pubkey(), Source::Trading, 1_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    let events = f
        .send_ok(
            &[ix::award_batch(
                &issuer.pubkey(),
                Source::Trading,
                [0; 32],
                5,
                &[stale],
            )],
            &[&issuer],
        )
        .await;
    let awards = awarded(&events);
    assert_eq!(awards.len(), 1);
    assert_eq!(awards[0].referral_unpaid, 100);
    assert_eq!(f.spark(&invitee.pubkey()).await.unwrap().balance, 1_001);
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 0);
}

#[tokio::test]
async fn a_row_naming_someone_else_as_referrer_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    f.refer(&invitee, &Keypair::new().pubkey()).await;
    let other = f.funded_wallet(1_000_000_000).await;
    f.award(&issuer, &other.pubkey(), Source::Campaign, 1)
        .await
        .unwrap();
    let mut row = f.batch_row(&invitee.pubkey(), Source::Trading, 1_000).await;
    row.referrer = Some(other.pubkey());
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Trading,
            [0; 32],
            9,
            &[row],
        )],
        &[&issuer],
        SparksError::ReferrerAccountMismatch,
    )
    .await;
}

#[tokio::test]
async fn an_empty_batch_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [0; 32],
            0,
            &[],
        )],
        &[&issuer],
        SparksError::BatchSizeOutOfRange,
    )
    .await;
}

#[tokio::test]
async fn a_batch_obeys_caps_and_pause() {
    let mut f = TestFixture::new().await;
    let issuer = f.issuer(Source::Campaign.bit(), 25).await;
    let rows = rows(&mut f, &wallets(3), Source::Campaign, 10).await;
    let batch = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], 0, &rows);
    f.assert_rejected(
        std::slice::from_ref(&batch),
        &[&issuer],
        SparksError::IssuerCapExceeded,
    )
    .await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    f.assert_rejected(&[batch], &[&issuer], SparksError::Paused)
        .await;
    f.send_ok(&[ix::unpause(&admin.pubkey())], &[&admin]).await;
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Trading,
            [0; 32],
            0,
            &rows,
        )],
        &[&issuer],
        SparksError::SourceNotAllowed,
    )
    .await;
}
