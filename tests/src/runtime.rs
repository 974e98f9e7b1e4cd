//! Registering the Anchor programs as native builtins of solana-program-test
//! (the entry wrappers of `sparks_client::native`, each invocation metered
//! against the SBF heap by `crate::heap`).

use solana_program_test::{processor, ProgramTest};

use crate::heap::{metered_example_mint_entry, metered_sparks_entry};

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
    test.add_program("sparks", sparks::ID, processor!(metered_sparks_entry));
    test.add_program(
        "example_mint",
        example_mint::ID,
        processor!(metered_example_mint_entry),
    );
    test
}
