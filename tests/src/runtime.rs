//! The two ways the program suite runs the programs inside
//! solana-program-test's bank: [`Native`] (compiled for this machine,
//! registered as builtins, every invocation metered against the SBF heap by
//! `crate::heap`) and [`Bytecode`] (the committed SBPF v3 `.so` files of
//! `sbf/deploy`, executed and metered by the SBF VM). Both run with the
//! local chain's features: mainnet-beta's (SBPF v3 among them).

use agave_feature_set::FEATURE_NAMES;
use solana_account::Account;
use solana_program_test::{processor, ProgramTest};
use sparks_sbf::Program;

use crate::heap::{metered_example_mint_entry, metered_sparks_entry};

/// How a [`crate::TestFixture`] runs the programs.
pub trait Runtime: Send + Sync + 'static {
    /// How test output names it.
    const NAME: &'static str;
    /// Whether the SBF VM runs the programs (and meters compute units).
    const BYTECODE: bool;

    fn add_programs(test: &mut ProgramTest);
}

/// The programs compiled for this machine, as builtins.
pub struct Native;

/// The committed SBF bytecode, in the SBF VM.
pub struct Bytecode;

impl Runtime for Native {
    const NAME: &'static str = "native";
    const BYTECODE: bool = false;

    fn add_programs(test: &mut ProgramTest) {
        test.prefer_bpf(false);
        test.add_program("sparks", sparks::ID, processor!(metered_sparks_entry));
        test.add_program(
            "example_mint",
            example_mint::ID,
            processor!(metered_example_mint_entry),
        );
    }
}

impl Runtime for Bytecode {
    const NAME: &'static str = "sbf";
    const BYTECODE: bool = true;

    fn add_programs(test: &mut ProgramTest) {
        // As solana-program-test deploys an SBF program: BPF loader 2.
        for (id, program) in [
            (sparks::ID, sparks_sbf::SPARKS),
            (example_mint::ID, sparks_sbf::EXAMPLE_MINT),
        ] {
            test.add_account(id, program_account(program));
        }
    }
}

fn program_account(program: Program) -> Account {
    Account {
        lamports: 1_000_000_000_000,
        data: program.elf.to_vec(),
        owner: solana_sdk_ids::bpf_loader::id(),
        executable: true,
        rent_epoch: 0,
    }
}

/// A ProgramTest with Sparks and the example mint (the SPL Token program
/// is bundled by solana-program-test).
pub fn program_test<R: Runtime>() -> ProgramTest {
    // ProgramTest turns on debug logs of every instruction unless RUST_LOG
    // says otherwise; keep test output readable by default.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    let mut test = ProgramTest::default();
    let features = sparks_localnet::features();
    for feature in FEATURE_NAMES.keys() {
        if !features.is_active(feature) {
            test.deactivate_feature(*feature);
        }
    }
    R::add_programs(&mut test);
    test
}
