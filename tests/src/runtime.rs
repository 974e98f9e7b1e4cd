//! Registering the Anchor programs as native builtins.
//!
//! solana-program-test's `processor!` wants a `ProcessInstruction`, which is
//! generic over every lifetime; Anchor's `entry` ties its three arguments to
//! one `'info`. The wrappers below narrow the lifetimes (sound: the runtime
//! keeps the three alive together for the duration of the call).

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;
use solana_program_test::{processor, ProgramTest};

fn sparks_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    // SAFETY: see the module doc; only lifetimes change, not layouts.
    let accounts: &[AccountInfo] = unsafe { std::mem::transmute(accounts) };
    sparks::entry(program_id, accounts, data)
}

fn example_mint_entry(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    // SAFETY: as above.
    let accounts: &[AccountInfo] = unsafe { std::mem::transmute(accounts) };
    example_mint::entry(program_id, accounts, data)
}

/// A ProgramTest with Sparks and the example mint as native builtins (the SPL
/// Token program is bundled by solana-program-test).
pub fn program_test() -> ProgramTest {
    // ProgramTest turns on debug logs of every instruction unless RUST_LOG
    // says otherwise; keep test output readable by default.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    let mut test = ProgramTest::default();
    test.prefer_bpf(false);
    test.add_program("sparks", sparks::ID, processor!(sparks_entry));
    test.add_program(
        "example_mint",
        example_mint::ID,
        processor!(example_mint_entry),
    );
    test
}
