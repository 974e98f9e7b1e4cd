//! SBF's 32 KiB heap per invocation, as the VM uses it: each batch replayed
//! with register tracing (`sparks_tests::vm_heap`) before it is sent. The
//! native suite's `test_heap.rs` models the same batches; BENCHMARKS.md
//! sets the two side by side. Run with `--nocapture` to print the figures.

use anchor_lang::prelude::Pubkey;
use sparks::state::Source;
use sparks_client::packing::MAX_ACCOUNT_LOCKS;
use sparks_tests::heap::SBF_HEAP_BYTES;
use sparks_tests::vm_heap::VmInvocation;

use super::test_mainnet_limits::{largest_batch, recipients, Rows};
use super::TestFixture;

/// The same budget the native model is held to.
const HEAP_BUDGET: u64 = 24 * 1024;

/// The heap of the last transaction's top-level Sparks instruction.
fn batch_heap(f: &TestFixture) -> u64 {
    let top: Vec<&VmInvocation> = f
        .last_vm_heap()
        .iter()
        .filter(|i| i.program == sparks::ID && i.depth == 1)
        .collect();
    assert_eq!(top.len(), 1, "{:?}", f.last_vm_heap());
    top[0].heap_bytes
}

#[tokio::test]
async fn largest_batches_fit_the_sbf_heap() {
    for kind in [Rows::New, Rows::PayingReferrers, Rows::Mixed] {
        let mut f = TestFixture::new().await;
        f.meter_vm_heap();
        let batch = largest_batch(&mut f, kind, "accounts").await;
        let heap = batch_heap(&f);
        println!(
            "largest award_batch with a lookup table, {kind:?}: {} rows, heap in the VM {heap} of {SBF_HEAP_BYTES} bytes",
            batch.rows
        );
        assert!(heap > 0, "{kind:?}: no allocation seen");
        assert!(heap <= HEAP_BUDGET, "{kind:?}: {heap} bytes of heap");
    }
}

#[tokio::test]
async fn heap_per_row_in_the_vm() {
    let mut figures = Vec::new();
    for kind in [Rows::New, Rows::PayingReferrers] {
        let mut f = TestFixture::new().await;
        f.meter_vm_heap();
        let issuer = f.full_issuer().await;
        let mut heap_of = Vec::new();
        for n in [1usize, 19] {
            let recipients: Vec<(Pubkey, u64)> = recipients(&mut f, kind, n).await;
            let batch = f.prepare_batch(&issuer, Source::Trading, &recipients).await;
            f.send_prepared(&batch, &issuer).await.unwrap();
            heap_of.push(batch_heap(&f));
        }
        let grown = heap_of[1]
            .checked_sub(heap_of[0])
            .expect("19 rows take at least the heap of 1");
        let per_row = grown / 18;
        assert!(per_row > 0, "{kind:?}: each row allocates");
        println!(
            "award_batch heap in the VM, {kind:?}: 1 row {} bytes, 19 rows {} bytes, {per_row} bytes per row",
            heap_of[0], heap_of[1]
        );
        figures.push((heap_of[0].saturating_sub(per_row), per_row));
    }
    let most_rows = (MAX_ACCOUNT_LOCKS / 2) as u64;
    for (base, per_row) in figures {
        assert!(
            base + per_row * most_rows <= HEAP_BUDGET,
            "{most_rows} rows: {} bytes",
            base + per_row * most_rows
        );
    }
}
