//! What mainnet enforces on every transaction: the scheduler's per-account
//! write locks, 64 account locks, the 64-entry instruction trace and the
//! 1,232-byte packet. The bank runs mainnet-beta's feature set, so it
//! refuses what mainnet refuses. The heap is measured in `test_heap.rs`
//! (natively) and the compute units in `test_compute_units.rs` (on SBF).
//! Run with `--nocapture` to print the figures.

use std::collections::BTreeSet;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::budget::with_compute_budget;
use sparks_client::packing::{
    does_not_fit, transaction_shape, Sending, MAX_ACCOUNT_LOCKS,
};
use sparks_client::{instructions as ix, pda};
use sparks_tests::awarded;

use super::TestFixture;

pub(super) fn wallet() -> Pubkey {
    Keypair::new().pubkey()
}

fn writable(instruction: &Instruction) -> BTreeSet<Pubkey> {
    instruction
        .accounts
        .iter()
        .filter(|m| m.is_writable)
        .map(|m| m.pubkey)
        .collect()
}

#[tokio::test]
async fn awards_of_different_issuers_to_different_wallets_share_no_writable_account() {
    let mut f = TestFixture::new().await;
    let (a, b) = (f.full_issuer().await, f.full_issuer().await);
    let (w1, w2) = (wallet(), wallet());
    let award_a = f.prepare_award(&a, &w1, Source::Trading, 1).await;
    let award_b = f.prepare_award(&b, &w2, Source::Trading, 1).await;
    let batch_a = f.prepare_batch(&a, Source::Trading, &[(w1, 1)]).await;
    let batch_b = f.prepare_batch(&b, Source::Trading, &[(w2, 1)]).await;
    // The issuer's key (it pays the new account's rent), its Issuer PDA,
    // the recipient's account: Config is read only.
    let expected_a: BTreeSet<Pubkey> = [a.pubkey(), pda::issuer(&a.pubkey()), pda::spark(&w1)]
        .into_iter()
        .collect();
    assert_eq!(writable(&award_a.instruction), expected_a);
    assert_eq!(writable(&batch_a.instruction), expected_a);
    assert!(writable(&award_a.instruction).is_disjoint(&writable(&award_b.instruction)));
    assert!(writable(&batch_a.instruction).is_disjoint(&writable(&batch_b.instruction)));
    // And they do land, each writing only those accounts.
    f.send_prepared(&award_a, &a).await.unwrap();
    f.send_prepared(&batch_b, &b).await.unwrap();
}

#[tokio::test]
async fn awards_to_invitees_of_one_referrer_write_its_account_whoever_awards() {
    // The limit of the claim above: a referrer's SparkAccount is written
    // by every award that pays it a share, so awards of different issuers
    // to different invitees of one popular referrer do share a writable
    // account, and mainnet's scheduler serialises them on it.
    let mut f = TestFixture::new().await;
    let (a, b) = (f.full_issuer().await, f.full_issuer().await);
    let referrer = wallet();
    let (i1, i2) = (f.funded_wallet(10_000_000).await, f.funded_wallet(10_000_000).await);
    f.refer(&i1, &referrer).await;
    f.refer(&i2, &referrer).await;
    let award_a = f.prepare_award(&a, &i1.pubkey(), Source::Trading, 1_000).await;
    let award_b = f.prepare_award(&b, &i2.pubkey(), Source::Trading, 1_000).await;
    let shared: BTreeSet<Pubkey> = writable(&award_a.instruction)
        .intersection(&writable(&award_b.instruction))
        .copied()
        .collect();
    assert_eq!(shared, [pda::spark(&referrer)].into_iter().collect());
    f.send_prepared(&award_a, &a).await.unwrap();
    f.send_prepared(&award_b, &b).await.unwrap();
}

/// The worst rows a batch can hold, by kind: a new recipient costs an
/// account creation and its event; a recipient whose referrer is paid costs
/// two events and one more account. (A new recipient has no referrer yet:
/// `set_referrer` creates the invitee's account.)
#[derive(Debug, Clone, Copy)]
pub(super) enum Rows {
    New,
    PayingReferrers,
    Mixed,
}

pub(super) async fn recipients(f: &mut TestFixture, kind: Rows, n: usize) -> Vec<(Pubkey, u64)> {
    let mut out = Vec::new();
    for i in 0..n {
        let referred = match kind {
            Rows::New => false,
            Rows::PayingReferrers => true,
            Rows::Mixed => i % 2 == 1,
        };
        if referred {
            let invitee = f.funded_wallet(10_000_000).await;
            f.refer(&invitee, &wallet()).await;
            out.push((invitee.pubkey(), 1_000));
        } else {
            out.push((wallet(), 1_000));
        }
    }
    out
}

/// The largest batch of `kind` the client's packer puts in one v0
/// transaction, as sent: its rows, size, and the compute units it used.
pub(super) struct LargestBatch {
    pub rows: usize,
    pub bytes: usize,
    pub units: u64,
    /// The issuer that sent it.
    #[allow(dead_code, reason = "the native suite's heap test reads it")]
    pub issuer: Pubkey,
}

/// Sends the largest batch of `kind` the client's packer puts in one v0
/// transaction, with the client's compute budget, after checking that one
/// row more would not fit for `limit`.
pub(super) async fn largest_batch(f: &mut TestFixture, kind: Rows, limit: &str) -> LargestBatch {
    let issuer = f.full_issuer().await;
    let candidates = recipients(f, kind, 40).await;
    let mut rows = Vec::new();
    for (w, amount) in &candidates {
        rows.push(f.batch_row(w, Source::Trading, *amount).await);
    }
    // The packer's view: a lookup table holding every account of the rows.
    let whole = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows);
    let table = lookup_table_of(&whole);
    let sending = Sending {
        payer: &issuer.pubkey(),
        lookup_tables: std::slice::from_ref(&table),
        micro_lamports_per_unit: 1,
    };
    let packed = sparks_client::packing::pack_award_batches(
        &issuer.pubkey(),
        Source::Trading,
        |_| [0; 32],
        0,
        &rows,
        sending,
    );
    let first = &packed[0];
    let n = first.rows.len();
    // One more row would not fit, and the reason is `limit`.
    let over = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows[..=n]);
    let reason = does_not_fit(&over, &rows[..=n], sending).expect("n + 1 rows do not fit");
    assert!(reason.contains(limit), "{kind:?}: {reason}");
    let with_budget = with_compute_budget(std::slice::from_ref(&first.instruction), 1);
    let (bytes, _) = transaction_shape(&with_budget, sending).unwrap();
    let (result, _) = f.send_v0_paid_by(&issuer, &with_budget, &[]).await;
    let events = result.unwrap_or_else(|e| panic!("{kind:?} batch of {n} failed: {e:?}"));
    assert_eq!(
        awarded(&events)
            .iter()
            .filter(|a| a.referral_from.is_none())
            .count(),
        n
    );
    LargestBatch {
        rows: n,
        bytes,
        units: f.last_units(),
        issuer: issuer.pubkey(),
    }
}

/// Accounts a batch transaction locks besides its rows': the issuer (fee
/// payer), the program, the compute-budget program, Config, the Issuer, the
/// system program and the event authority.
const FIXED_ACCOUNTS: usize = 7;

#[tokio::test]
async fn largest_batches_fit_the_account_locks_trace_and_packet() {
    // Per row: a new recipient locks 2 accounts (wallet, SparkAccount), one
    // paying its referrer 3; each takes 2 trace entries.
    for (kind, expected) in [
        (Rows::New, (MAX_ACCOUNT_LOCKS - FIXED_ACCOUNTS) / 2),
        (Rows::PayingReferrers, (MAX_ACCOUNT_LOCKS - FIXED_ACCOUNTS) / 3),
        // new, paying, new, …: 12 x 2 + 11 x 3 = 57.
        (Rows::Mixed, 23),
    ] {
        let mut f = TestFixture::new().await;
        let batch = largest_batch(&mut f, kind, "accounts").await;
        // Only the VM meters; the units depend on the recipients' bump tries.
        let units = if f.runs_bytecode() {
            format!(", {} compute units", batch.units)
        } else {
            String::new()
        };
        println!(
            "largest award_batch with a lookup table, {kind:?}: {} rows, {} bytes{units}",
            batch.rows, batch.bytes
        );
        assert_eq!(batch.rows, expected, "{kind:?}");
        assert!(batch.bytes <= sparks_client::packing::PACKET_DATA_SIZE);
    }
}

#[tokio::test]
async fn one_account_more_than_mainnet_locks_is_refused() {
    // 29 new recipients: 7 + 58 = 65 accounts, 3 + 58 = 61 trace entries.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallets: Vec<Pubkey> = (0..29).map(|_| wallet()).collect();
    let mut rows = Vec::new();
    for w in &wallets {
        rows.push(f.batch_row(w, Source::Trading, 5).await);
    }
    let batch = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows);
    let batch = with_compute_budget(std::slice::from_ref(&batch), 1);
    let (result, _) = f.send_v0_paid_by(&issuer, &batch, &[]).await;
    assert_eq!(
        result.unwrap_err(),
        solana_transaction_error::TransactionError::TooManyAccountLocks
    );
    // The packer stops at 28.
    let award_batch = batch.last().expect("the batch");
    let sending = Sending {
        payer: &issuer.pubkey(),
        lookup_tables: &[lookup_table_of(award_batch)],
        micro_lamports_per_unit: 1,
    };
    let reason = does_not_fit(award_batch, &rows, sending).expect("29 rows do not fit");
    assert!(reason.contains("65 accounts"), "{reason}");
    let fits = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows[..28]);
    let fits = with_compute_budget(std::slice::from_ref(&fits), 1);
    let (result, _) = f.send_v0_paid_by(&issuer, &fits, &[]).await;
    assert_eq!(awarded(&result.expect("28 rows land")).len(), 28);
}

/// A lookup table (as the packer sees it) holding every account of
/// `instruction` but its signers and the program.
fn lookup_table_of(instruction: &Instruction) -> solana_message::AddressLookupTableAccount {
    solana_message::AddressLookupTableAccount {
        key: Pubkey::new_unique(),
        addresses: instruction
            .accounts
            .iter()
            .filter(|m| !m.is_signer && m.pubkey != sparks::ID)
            .map(|m| m.pubkey)
            .collect(),
    }
}

#[tokio::test]
async fn a_prefunded_new_recipient_costs_two_more_trace_entries() {
    // Anyone can send lamports to a recipient's address before its account
    // exists; creating it then takes transfer + allocate + assign. 28 new
    // recipients fill the account locks with 3 + 56 trace entries; three
    // prefunded addresses add 6 more.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallets: Vec<Pubkey> = (0..28).map(|_| wallet()).collect();
    let mut rows = Vec::new();
    for w in &wallets {
        rows.push(f.batch_row(w, Source::Trading, 5).await);
    }
    for w in &wallets[..3] {
        f.fund(&pda::spark(w), 1_000_000).await;
    }
    let blind = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows);
    let blind = with_compute_budget(std::slice::from_ref(&blind), 1);
    let (result, _) = f.send_v0_paid_by(&issuer, &blind, &[]).await;
    assert!(
        matches!(
            result,
            Err(
                solana_transaction_error::TransactionError::InstructionError(
                    _,
                    solana_instruction_error::InstructionError::MaxInstructionTraceLengthExceeded
                )
            )
        ),
        "{result:?}"
    );
    // Counted as the client counts them (`SparksRpc::batch_rows` sees the
    // lamports), each costs 4 entries and the batch one row less.
    for row in &mut rows[..3] {
        row.prefunded = true;
    }
    let over = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows);
    let tables = [lookup_table_of(&over)];
    let sending = Sending {
        payer: &issuer.pubkey(),
        lookup_tables: &tables,
        micro_lamports_per_unit: 1,
    };
    assert!(does_not_fit(&over, &rows, sending).is_some_and(|r| r.contains("trace")));
    // 3 + 3 x 4 + 24 x 2 = 63.
    let fits = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows[..27]);
    assert_eq!(does_not_fit(&fits, &rows[..27], sending), None);
    let fits = with_compute_budget(std::slice::from_ref(&fits), 1);
    let (result, _) = f.send_v0_paid_by(&issuer, &fits, &[]).await;
    result.expect("27 rows with three prefunded recipients land");
}

#[tokio::test]
async fn largest_batch_in_a_legacy_transaction() {
    // Legacy: every key travels in full, so the packet decides.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let rows: Vec<ix::BatchRow> = (0..20)
        .map(|_| ix::BatchRow {
            wallet: wallet(),
            amount: 1,
            referrer: None,
            creates_account: true,
            prefunded: false,
            pays_referral: false,
        })
        .collect();
    let sending = Sending {
        payer: &issuer.pubkey(),
        lookup_tables: &[],
        micro_lamports_per_unit: 0,
    };
    let packed = sparks_client::packing::pack_award_batches(
        &issuer.pubkey(),
        Source::Campaign,
        |_| [0; 32],
        0,
        &rows,
        sending,
    );
    let n = packed[0].rows.len();
    let with_budget = with_compute_budget(std::slice::from_ref(&packed[0].instruction), 0);
    let (bytes, _) = transaction_shape(&with_budget, sending).unwrap();
    println!("largest legacy award_batch: {n} new recipients ({bytes} bytes)");
    let events = f.send(&with_budget[1..], &[&issuer]).await.unwrap();
    assert_eq!(awarded(&events).len(), n);
    assert!(n >= 8, "legacy batch shrank to {n}");
}
