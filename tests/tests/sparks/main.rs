//! The Sparks program, instruction by instruction, inside a real bank; the
//! whole suite twice, with the same assertions: `native::` (the programs
//! compiled for this machine: fast, and every invocation's heap metered) and
//! `sbf::` (the committed SBPF v3 bytecode in the SBF VM, compute units
//! metered). `cargo test -p sparks-tests --test sparks sbf::` runs one.
//! What only one way can measure is in that suite's own files: the heap on
//! the native model (`native/test_heap.rs`), and compute units and the heap
//! the bytecode really uses in the VM (`sbf/`).

// Each test file is a module of both suites, on purpose.
#![allow(clippy::duplicate_mod)]

/// Every allocation is replayed on a model of the SBF heap (see `sparks_tests::heap`).
#[global_allocator]
static ALLOCATOR: sparks_tests::heap::MeteringAllocator = sparks_tests::heap::MeteringAllocator;

/// The test files, as modules of a suite whose `TestFixture` runs the
/// programs one way (`native.rs`, `sbf.rs`).
macro_rules! suite {
    ($runtime:ty) => {
        /// The fixture of this suite.
        pub type TestFixture = sparks_tests::TestFixture<$runtime>;

        #[path = "test_award_batch.rs"]
        mod test_award_batch;
        #[path = "test_award_ids.rs"]
        mod test_award_ids;
        #[path = "test_awards.rs"]
        mod test_awards;
        #[path = "test_bumps.rs"]
        mod test_bumps;
        #[path = "test_config.rs"]
        mod test_config;
        #[path = "test_error_codes.rs"]
        mod test_error_codes;
        #[path = "test_fuzz.rs"]
        mod test_fuzz;
        #[path = "test_invariants.rs"]
        mod test_invariants;
        #[path = "test_issuers.rs"]
        mod test_issuers;
        #[path = "test_mainnet_limits.rs"]
        mod test_mainnet_limits;
        #[path = "test_perks.rs"]
        mod test_perks;
        #[path = "test_prefund.rs"]
        mod test_prefund;
        #[path = "test_quantities.rs"]
        mod test_quantities;
        #[path = "test_referrals.rs"]
        mod test_referrals;
        #[path = "test_sizes.rs"]
        mod test_sizes;
        #[path = "test_whitelists.rs"]
        mod test_whitelists;
    };
}

mod native;
mod sbf;
