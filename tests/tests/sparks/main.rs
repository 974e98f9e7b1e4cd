//! The Sparks program, instruction by instruction, inside a real bank.
#![allow(deprecated)]

/// Every allocation is replayed on a model of the SBF heap (see `sparks_tests::heap`).
#[global_allocator]
static ALLOCATOR: sparks_tests::heap::MeteringAllocator = sparks_tests::heap::MeteringAllocator;

mod test_award_batch;
mod test_award_ids;
mod test_awards;
mod test_config;
mod test_error_codes;
mod test_fuzz;
mod test_invariants;
mod test_issuers;
mod test_mainnet_limits;
mod test_perks;
mod test_prefund;
mod test_quantities;
mod test_referrals;
mod test_sizes;
mod test_whitelists;
