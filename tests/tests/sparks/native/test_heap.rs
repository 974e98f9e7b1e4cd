//! SBF's 32 KiB heap per invocation, as `sparks_tests::heap` meters every
//! allocation of a natively run program on a model of SBF's bump allocator.
//! The SBF suite's `test_heap.rs` reads the same batches' heap in the VM.
//! Run with `--nocapture` to print the figures.

use anchor_lang::prelude::Pubkey;
use anchor_lang::Discriminator;
use solana_signer::Signer;
use sparks::state::Source;
use sparks_client::packing::MAX_ACCOUNT_LOCKS;
use sparks_tests::heap::{self, InvocationReport, SBF_HEAP_BYTES};

use super::test_mainnet_limits::{largest_batch, recipients, Rows};
use super::TestFixture;

/// The heap a batch may use at most: SBF's 32 KiB less a margin for what
/// the native model cannot see (an SBF build's own allocations may differ
/// slightly from the native build's).
const HEAP_BUDGET: usize = 24 * 1024;

/// The heap report of the newest `award_batch` `issuer` sent.
fn batch_heap(issuer: &Pubkey) -> InvocationReport {
    heap::reports_for(issuer)
        .into_iter()
        .rfind(|r| {
            r.depth == 1 && r.discriminator == sparks::instruction::AwardBatch::DISCRIMINATOR
        })
        .expect("a metered award_batch")
}

#[tokio::test]
async fn largest_batches_fit_the_sbf_heap() {
    for kind in [Rows::New, Rows::PayingReferrers, Rows::Mixed] {
        let mut f = TestFixture::new().await;
        let batch = largest_batch(&mut f, kind, "accounts").await;
        let report = batch_heap(&batch.issuer);
        println!(
            "largest award_batch with a lookup table, {kind:?}: {} rows, heap {} of {SBF_HEAP_BYTES} bytes ({} allocations)",
            batch.rows, report.heap_bytes, report.allocations
        );
        assert!(
            report.heap_bytes <= HEAP_BUDGET,
            "{kind:?}: {} bytes of heap",
            report.heap_bytes
        );
    }
}

#[tokio::test]
async fn heap_per_row_is_measured() {
    // The heap of a batch as a function of its rows: base + rows x per-row.
    let mut figures = Vec::new();
    for kind in [Rows::New, Rows::PayingReferrers] {
        let mut f = TestFixture::new().await;
        let issuer = f.full_issuer().await;
        let mut heap_of = Vec::new();
        // 19 rows paying referrers fill the account locks.
        for n in [1usize, 19] {
            let recipients = recipients(&mut f, kind, n).await;
            let batch = f.prepare_batch(&issuer, Source::Trading, &recipients).await;
            f.send_prepared(&batch, &issuer).await.unwrap();
            heap_of.push(batch_heap(&issuer.pubkey()).heap_bytes);
        }
        let grown = heap_of[1]
            .checked_sub(heap_of[0])
            .expect("19 rows take at least the heap of 1");
        let per_row = grown / 18;
        assert!(per_row > 0, "{kind:?}: each row allocates");
        println!(
            "award_batch heap, {kind:?}: 1 row {} bytes, 19 rows {} bytes, {per_row} bytes per row",
            heap_of[0], heap_of[1]
        );
        figures.push((heap_of[0].saturating_sub(per_row), per_row));
    }
    // The most rows any batch can carry (two accounts each, as few as a row
    // takes) stay within the heap budget, so the heap never binds before
    // the account locks do.
    let most_rows = MAX_ACCOUNT_LOCKS / 2;
    for (base, per_row) in figures {
        assert!(
            base + per_row * most_rows <= HEAP_BUDGET,
            "{most_rows} rows: {} bytes",
            base + per_row * most_rows
        );
    }
}
