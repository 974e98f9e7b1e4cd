//! Native entry points of the programs, for running them as builtins (the
//! SBF toolchain is not available here): the program tests and the local
//! chain register these.
//!
//! Runtimes want a function generic over every lifetime; Anchor's `entry`
//! ties its three arguments to one `'info`. Narrowing the lifetimes is sound:
//! the runtime keeps all three alive for the duration of the call.

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;

pub fn sparks_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    // SAFETY: see the module doc; only lifetimes change, not layouts.
    let accounts: &[AccountInfo] = unsafe { std::mem::transmute(accounts) };
    sparks::entry(program_id, accounts, data)
}

pub fn example_mint_entry(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    // SAFETY: as above.
    let accounts: &[AccountInfo] = unsafe { std::mem::transmute(accounts) };
    example_mint::entry(program_id, accounts, data)
}
