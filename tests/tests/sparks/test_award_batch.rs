//! award_batch: the same rules as award, for many recipients at once, and the
//! largest batch a transaction can carry.

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::error::SparksError;
use sparks::state::Source;
use sparks_client::{instructions as ix, pda};
use sparks_tests::{awarded, TestFixture};

/// Largest serialized transaction a validator accepts (PACKET_DATA_SIZE).
const MAX_TX_BYTES: usize = 1232;

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
    assert_eq!(rows.iter().filter(|r| r.paid_referrer.is_some()).count(), 1);
    // Act: 21 rows need a lookup table (a legacy transaction holds 9).
    let (result, _) = f
        .send_v0(
            &[ix::award_batch(
                &issuer.pubkey(),
                Source::Trading,
                [3; 32],
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
        assert_eq!(event.batch_index, Some(index as u16));
        assert_eq!(event.amount, 500);
        assert_eq!(event.reference, [3; 32]);
        assert_eq!(event.account, account);
    }
    let credit = awards
        .iter()
        .find(|a| a.source == Source::Referral)
        .unwrap();
    assert_eq!(credit.referral_from, Some(invitee.pubkey()));
    assert_eq!(credit.account, f.spark(&referrer).await.unwrap());
    assert_eq!(f.spark(&referrer).await.unwrap().balance, 50);
    assert_eq!(f.config().await.outstanding, 5 * 7 + 21 * 500 + 50);
}

#[tokio::test]
async fn a_wallet_twice_in_one_batch_sees_its_own_earlier_row() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Keypair::new().pubkey();
    let first = ix::BatchRow {
        wallet,
        amount: 10,
        expected_seq: 0,
        paid_referrer: None,
    };
    let second = ix::BatchRow {
        wallet,
        amount: 20,
        expected_seq: 1,
        paid_referrer: None,
    };
    f.send_ok(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [0; 32],
            &[first, second],
        )],
        &[&issuer],
    )
    .await;
    let account = f.spark(&wallet).await.unwrap();
    assert_eq!((account.balance, account.seq), (30, 2));
}

#[tokio::test]
async fn one_stale_row_fails_the_whole_batch() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let recipients = wallets(4);
    f.award(&issuer, &recipients[2], Source::Campaign, 1)
        .await
        .unwrap();
    let mut rows = rows(&mut f, &recipients, Source::Campaign, 10).await;
    rows[2].expected_seq = 0; // this row was already paid once
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [0; 32],
            &rows,
        )],
        &[&issuer],
        SparksError::SeqMismatch,
    )
    .await;
    assert!(
        f.spark(&recipients[0]).await.is_none(),
        "no row of a failed batch lands"
    );
}

#[tokio::test]
async fn a_batch_with_missing_or_extra_accounts_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let rows = rows(&mut f, &wallets(3), Source::Campaign, 10).await;
    let full = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], &rows);
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
    // dropped, so the supply grew but the balance did not.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let recipients = wallets(2);
    for wallet in &recipients {
        f.award(&issuer, wallet, Source::Campaign, 5).await.unwrap();
    }
    let rows = rows(&mut f, &recipients, Source::Campaign, 10).await;
    let mut instruction = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], &rows);
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
    let mut instruction = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], &rows);
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
async fn a_batch_without_the_referrer_account_is_refused() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let invitee = f.funded_wallet(1_000_000_000).await;
    let referrer = Keypair::new().pubkey();
    f.refer(&invitee, &referrer).await;
    let mut row = f.batch_row(&invitee.pubkey(), Source::Trading, 1_000).await;
    row.paid_referrer = None;
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Trading,
            [0; 32],
            &[row],
        )],
        &[&issuer],
        SparksError::ReferrerAccountMissing,
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
    let batch = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], &rows);
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
    let trading = rows.clone();
    f.send_ok(&[ix::unpause(&admin.pubkey())], &[&admin]).await;
    f.assert_rejected(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Trading,
            [0; 32],
            &trading,
        )],
        &[&issuer],
        SparksError::SourceNotAllowed,
    )
    .await;
}

/// Legacy transaction: every account key travels in full, so the 1 232-byte
/// packet limit decides. Worst case: every recipient new (wallet + account).
#[tokio::test]
async fn largest_batch_in_a_legacy_transaction() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let payer = f.ctx.payer.insecure_clone();
    let fits = |n: usize| -> (bool, usize) {
        let rows: Vec<ix::BatchRow> = wallets(n)
            .into_iter()
            .map(|wallet| ix::BatchRow {
                wallet,
                amount: 1,
                expected_seq: 0,
                paid_referrer: None,
            })
            .collect();
        let instruction = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], &rows);
        let tx = Transaction::new_with_payer(&[instruction], Some(&payer.pubkey()));
        let size = 1
            + 64 * usize::from(tx.message.header.num_required_signatures)
            + tx.message.serialize().len();
        (size <= MAX_TX_BYTES, size)
    };
    let largest = (1..64).take_while(|n| fits(*n).0).last().unwrap();
    let (_, size) = fits(largest);
    println!(
        "largest legacy award_batch: {largest} new recipients ({size} bytes; {} would be {} bytes)",
        largest + 1,
        fits(largest + 1).1
    );

    // It really lands.
    let rows: Vec<ix::BatchRow> = wallets(largest)
        .into_iter()
        .map(|wallet| ix::BatchRow {
            wallet,
            amount: 1,
            expected_seq: 0,
            paid_referrer: None,
        })
        .collect();
    let blockhash = f.ctx.get_new_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[ix::award_batch(
            &issuer.pubkey(),
            Source::Campaign,
            [0; 32],
            &rows,
        )],
        Some(&payer.pubkey()),
        &[&payer, &issuer],
        blockhash,
    );
    let events = f.send_transaction(tx).await.unwrap();
    assert_eq!(awarded(&events).len(), largest);
    assert!(largest >= 9, "legacy batch shrank to {largest}");
}

/// v0 transaction with an address lookup table holding the recipients: keys
/// cost one byte each, so the runtime's limits decide (64 account locks per
/// transaction, 64 entries in the instruction trace).
#[tokio::test]
async fn largest_batch_with_an_address_lookup_table() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let mut largest = 0;
    for n in (10..=40).rev() {
        let rows: Vec<ix::BatchRow> = wallets(n)
            .into_iter()
            .map(|wallet| ix::BatchRow {
                wallet,
                amount: 1,
                expected_seq: 0,
                paid_referrer: None,
            })
            .collect();
        let instruction = ix::award_batch(&issuer.pubkey(), Source::Campaign, [0; 32], &rows);
        let (result, size) = f.send_v0(&[instruction], &[&issuer]).await;
        if size > MAX_TX_BYTES {
            continue;
        }
        match result {
            Ok(events) => {
                assert_eq!(awarded(&events).len(), n);
                println!(
                    "largest award_batch with a lookup table: {n} new recipients ({size} bytes)"
                );
                largest = n;
                break;
            }
            Err(err) => println!("{n} recipients with a lookup table: {err:?}"),
        }
    }
    assert!(
        largest >= 20,
        "lookup-table batch below the 20-recipient target: {largest}"
    );
}
