//! The Sparks program, instruction by instruction, inside a real bank.
#![allow(deprecated)]

mod test_award_batch;
mod test_awards;
mod test_config;
mod test_error_codes;
mod test_fuzz;
mod test_invariants;
mod test_issuers;
mod test_perks;
mod test_prefund;
mod test_referrals;
mod test_sizes;
mod test_whitelists;
