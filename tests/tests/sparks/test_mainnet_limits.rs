//! What mainnet enforces and the native runtime does not: the scheduler's
//! per-account write locks, the 64-entry instruction trace, the 1,232-byte
//! packet, and SBF's 32 KiB heap per invocation (measured by
//! `sparks_tests::heap`). Run with `--nocapture` to print the figures.

use std::collections::BTreeSet;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::Discriminator;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::budget::with_compute_budget;
use sparks_client::packing::{does_not_fit, transaction_shape, Sending, MAX_INSTRUCTION_TRACE};
use sparks_client::{instructions as ix, pda};
use sparks_tests::heap::{self, InvocationReport, SBF_HEAP_BYTES};
use sparks_tests::{awarded, TestFixture};

/// The heap a batch may use at most: SBF's 32 KiB less a margin for what
/// the native model cannot see (an SBF build's own allocations may differ
/// slightly from the native build's).
const HEAP_BUDGET: usize = 24 * 1024;

fn wallet() -> Pubkey {
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

/// The heap report of the newest `award_batch` `issuer` sent.
fn batch_heap(issuer: &Pubkey) -> InvocationReport {
    heap::reports_for(issuer)
        .into_iter()
        .rfind(|r| {
            r.depth == 1 && r.discriminator == sparks::instruction::AwardBatch::DISCRIMINATOR
        })
        .expect("a metered award_batch")
}

/// The worst rows a batch can hold, by kind: a new recipient costs an
/// account creation and its event; a recipient whose referrer is paid costs
/// two events and one more account. (A new recipient has no referrer yet:
/// `set_referrer` creates the invitee's account.)
#[derive(Debug, Clone, Copy)]
enum Rows {
    New,
    PayingReferrers,
    Mixed,
}

async fn recipients(f: &mut TestFixture, kind: Rows, n: usize) -> Vec<(Pubkey, u64)> {
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

/// Sends the largest batch of `kind` the client's packer puts in one v0
/// transaction and returns (rows, bytes, heap).
async fn largest_batch(kind: Rows) -> (usize, usize, InvocationReport) {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let candidates = recipients(&mut f, kind, 40).await;
    let mut rows = Vec::new();
    for (w, amount) in &candidates {
        rows.push(f.batch_row(w, Source::Trading, *amount).await);
    }
    // The packer's view: a lookup table holding every account of the rows.
    let whole = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows);
    let table = solana_message::AddressLookupTableAccount {
        key: Pubkey::new_unique(),
        addresses: whole
            .accounts
            .iter()
            .filter(|m| !m.is_signer && m.pubkey != sparks::ID)
            .map(|m| m.pubkey)
            .collect(),
    };
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
    // One more row would not fit, and the reason is the trace.
    let over = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows[..=n]);
    let reason = does_not_fit(&over, &rows[..=n], sending).expect("n + 1 rows do not fit");
    assert!(reason.contains("trace"), "{kind:?}: {reason}");
    let with_budget = with_compute_budget(std::slice::from_ref(&first.instruction), 1);
    let (bytes, _) = transaction_shape(&with_budget, sending).unwrap();
    let (result, _) = f.send_v0(&with_budget, &[&issuer]).await;
    let events = result.unwrap_or_else(|e| panic!("{kind:?} batch of {n} failed: {e:?}"));
    assert_eq!(
        awarded(&events)
            .iter()
            .filter(|a| a.referral_from.is_none())
            .count(),
        n
    );
    (n, bytes, batch_heap(&issuer.pubkey()))
}

#[tokio::test]
async fn largest_batches_fit_the_trace_and_the_sbf_heap() {
    for kind in [Rows::New, Rows::PayingReferrers, Rows::Mixed] {
        let (n, bytes, report) = largest_batch(kind).await;
        println!(
            "largest award_batch with a lookup table, {kind:?}: {n} rows, {bytes} bytes, \
             heap {} of {SBF_HEAP_BYTES} bytes ({} allocations)",
            report.heap_bytes, report.allocations
        );
        // 3 top-level instructions + 2 trace entries per row.
        assert_eq!(n, (MAX_INSTRUCTION_TRACE - 3) / 2, "{kind:?}");
        assert!(bytes <= sparks_client::packing::PACKET_DATA_SIZE);
        assert!(
            report.heap_bytes <= HEAP_BUDGET,
            "{kind:?}: {} bytes of heap",
            report.heap_bytes
        );
    }
}

#[tokio::test]
async fn a_prefunded_new_recipient_costs_two_more_trace_entries() {
    // Anyone can send lamports to a recipient's address before its account
    // exists; creating it then takes transfer + allocate + assign.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let wallets: Vec<Pubkey> = (0..30).map(|_| wallet()).collect();
    f.fund(&pda::spark(&wallets[0]), 1_000_000).await;
    let mut rows = Vec::new();
    for w in &wallets {
        rows.push(f.batch_row(w, Source::Trading, 5).await);
    }
    let blind = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows);
    let blind = with_compute_budget(std::slice::from_ref(&blind), 1);
    let (result, _) = f.send_v0(&blind, &[&issuer]).await;
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
    // Counted as the client counts it (`SparksRpc::batch_rows` sees the
    // lamports), the row costs 4 entries and the batch one row less.
    rows[0].prefunded = true;
    let sending = Sending {
        payer: &issuer.pubkey(),
        lookup_tables: &[],
        micro_lamports_per_unit: 1,
    };
    let over = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows);
    assert!(does_not_fit(&over, &rows, sending).is_some_and(|r| r.contains("trace")));
    let fits = ix::award_batch(&issuer.pubkey(), Source::Trading, [0; 32], 0, &rows[..29]);
    let fits = with_compute_budget(std::slice::from_ref(&fits), 1);
    let (result, _) = f.send_v0(&fits, &[&issuer]).await;
    result.expect("29 rows with one prefunded recipient land");
}

#[tokio::test]
async fn heap_per_row_is_measured() {
    // The heap of a batch as a function of its rows: base + rows x per-row.
    let mut figures = Vec::new();
    for kind in [Rows::New, Rows::PayingReferrers] {
        let mut f = TestFixture::new().await;
        let issuer = f.full_issuer().await;
        let mut heap_of = Vec::new();
        for n in [1usize, 20] {
            let recipients = recipients(&mut f, kind, n).await;
            let batch = f.prepare_batch(&issuer, Source::Trading, &recipients).await;
            f.send_prepared(&batch, &issuer).await.unwrap();
            heap_of.push(batch_heap(&issuer.pubkey()).heap_bytes);
        }
        let per_row = (heap_of[1] - heap_of[0]) / 19;
        println!(
            "award_batch heap, {kind:?}: 1 row {} bytes, 20 rows {} bytes, {per_row} bytes per row",
            heap_of[0], heap_of[1]
        );
        figures.push((heap_of[0] - per_row, per_row));
    }
    // Even the program's row limit of the heavier rows stays within the
    // heap, so the heap never binds before the trace does.
    for (base, per_row) in figures {
        assert!(base + per_row * sparks::constants::MAX_BATCH_RECIPIENTS <= SBF_HEAP_BYTES);
    }
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
