//! Bumps the caller passes (`award`, `award_batch`, `grant_whitelist`):
//! the program checks a new account's address against it, and that it is
//! the canonical bump, instead of searching for it; an existing account's
//! data proves its address and its bump is not read.

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::instructions::AwardArgs;
use sparks::state::{SparkAccount, Source, WhitelistEntry};
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::pda;
use sparks_tests::swap_account;

use super::test_whitelists::terms;
use super::TestFixture;

/// A wallet whose PDA of `seeds(wallet)` has a PDA at a lower bump than the
/// canonical one too: (wallet, that address, that bump).
fn wallet_with_a_second_pda(seeds: impl Fn(&Pubkey) -> Vec<Vec<u8>>) -> (Pubkey, Pubkey, u8) {
    (0..)
        .map(|_| Pubkey::new_unique())
        .find_map(|wallet| {
            let seeds = seeds(&wallet);
            let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
            let (_, canonical) = Pubkey::find_program_address(&seeds, &sparks::ID);
            (0..canonical).rev().find_map(|bump| {
                let bump_seed = [bump];
                let with_bump = [&seeds[..], &[&bump_seed[..]]].concat();
                Pubkey::create_program_address(&with_bump, &sparks::ID)
                    .ok()
                    .map(|address| (wallet, address, bump))
            })
        })
        .expect("about half of all wallets have one")
}

fn spark_seeds(wallet: &Pubkey) -> Vec<Vec<u8>> {
    vec![SparkAccount::SEED.to_vec(), wallet.to_bytes().to_vec()]
}

fn award(issuer: &Keypair, wallet: &Pubkey, award_id: u64) -> Instruction {
    ix::award(
        &issuer.pubkey(),
        wallet,
        None,
        AwardArgs {
            source: Source::Trading,
            amount: 5,
            reference: [0; 32],
            award_id,
        },
    )
}

/// `instruction` with its last data byte (the bump it passes last) set.
fn with_last_byte(mut instruction: Instruction, bump: u8) -> Instruction {
    *instruction.data.last_mut().expect("data") = bump;
    instruction
}

#[tokio::test]
async fn an_award_creates_a_recipients_account_only_at_its_canonical_bump() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let (wallet, second, lower) = wallet_with_a_second_pda(spark_seeds);
    // At the second PDA, with its (valid, lower) bump: refused, so a wallet
    // can never have two SparkAccounts.
    let at_second = swap_account(award(&issuer, &wallet, 0), &pda::spark(&wallet), &second);
    f.assert_rejected(
        &[with_last_byte(at_second, lower)],
        &[&issuer],
        SparksError::BumpNotCanonical,
    )
    .await;
    // At the canonical address with a bump that makes another address.
    let (_, canonical) = pda::spark_with_bump(&wallet);
    f.assert_rejected(
        &[with_last_byte(award(&issuer, &wallet, 0), canonical.wrapping_sub(1))],
        &[&issuer],
        SparksError::InvalidPda,
    )
    .await;
    // The canonical bump creates it.
    f.send_ok(&[award(&issuer, &wallet, 0)], &[&issuer]).await;
    let account: SparkAccount = f.account(&pda::spark(&wallet)).await.unwrap();
    assert_eq!((account.owner, account.bump, account.balance), (wallet, canonical, 5));
}

#[tokio::test]
async fn an_existing_accounts_bump_is_not_read() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallet = Pubkey::new_unique();
    f.send_ok(&[award(&issuer, &wallet, 0)], &[&issuer]).await;
    let (_, canonical) = pda::spark_with_bump(&wallet);
    f.send_ok(
        &[with_last_byte(award(&issuer, &wallet, 1), canonical.wrapping_add(7))],
        &[&issuer],
    )
    .await;
    let account: SparkAccount = f.account(&pda::spark(&wallet)).await.unwrap();
    assert_eq!(account.balance, 10);
}

#[tokio::test]
async fn a_batch_row_creates_an_account_only_at_its_canonical_bump() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let (wallet, second, lower) = wallet_with_a_second_pda(spark_seeds);
    let row = BatchRow {
        wallet,
        amount: 5,
        referrer: None,
        creates_account: true,
        prefunded: false,
        pays_referral: false,
    };
    let batch = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &[row]);
    // One row: its bump is the data's last byte.
    let at_second = swap_account(batch.clone(), &pda::spark(&wallet), &second);
    f.assert_rejected(
        &[with_last_byte(at_second, lower)],
        &[&issuer],
        SparksError::BumpNotCanonical,
    )
    .await;
    f.send_ok(&[batch], &[&issuer]).await;
    assert!(f.account::<SparkAccount>(&second).await.is_none());
    assert!(f.account::<SparkAccount>(&pda::spark(&wallet)).await.is_some());
}

#[tokio::test]
async fn a_grant_creates_an_entry_only_at_its_canonical_bump() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let a = admin.pubkey();
    f.send_ok(
        &[ix::create_whitelist(&a, 5, &a, terms(&Pubkey::new_unique()))],
        &[&admin],
    )
    .await;
    let whitelist = pda::whitelist(5);
    let (wallet, second, lower) = wallet_with_a_second_pda(|w| {
        vec![
            WhitelistEntry::SEED.to_vec(),
            whitelist.to_bytes().to_vec(),
            w.to_bytes().to_vec(),
        ]
    });
    let grant = ix::grant_whitelist(&a, 5, &wallet, 1);
    let at_second = swap_account(grant.clone(), &pda::whitelist_entry(&whitelist, &wallet), &second);
    f.assert_rejected(
        &[with_last_byte(at_second, lower)],
        &[&admin],
        SparksError::BumpNotCanonical,
    )
    .await;
    f.send_ok(&[grant], &[&admin]).await;
    let entry: WhitelistEntry = f
        .account(&pda::whitelist_entry(&whitelist, &wallet))
        .await
        .unwrap();
    assert_eq!((entry.wallet, entry.spots_granted), (wallet, 1));
}
