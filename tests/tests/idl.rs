//! The committed IDLs (`idl/*.json`) must equal what the programs generate.
//! Regenerate with `UPDATE_IDL=1 cargo test -p sparks-tests --test idl`.
//!
//! This runs the same host build `anchor idl build` runs (the `idl-build`
//! feature's `__anchor_private_print_idl*` tests), in a target directory of
//! its own so it never waits on the outer cargo's lock.

use std::path::{Path, PathBuf};

use anchor_lang_idl::build::IdlBuilder;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Account types the program loads by hand (no `Account<T>` in any
/// accounts struct), which Anchor's IDL build therefore leaves out of
/// `accounts`; clients look account types up there.
fn hand_loaded_accounts(program_dir: &str) -> Vec<anchor_lang_idl::types::IdlAccount> {
    use anchor_lang::Discriminator;
    match program_dir {
        "programs/sparks" => vec![anchor_lang_idl::types::IdlAccount {
            name: "PerkClaim".into(),
            discriminator: sparks::state::PerkClaim::DISCRIMINATOR.to_vec(),
        }],
        _ => Vec::new(),
    }
}

/// The IDL build's own target directory, beside the build cache: run in the
/// shared one, its `RUSTFLAGS=-A warnings` rebuilt shared dependencies under
/// the same file names while the suite ran, and a later doc test found a
/// `sparks` whose dependencies no longer matched (E0463), besides making the
/// next warm run rebuild them.
fn idl_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(target) => Path::new(&target)
            .parent()
            .map(|beside| beside.join("idl-target"))
            .unwrap_or_else(|| PathBuf::from(target).join("idl")),
        None => workspace().join("target").join("idl"),
    }
}

fn check(program_dir: &str, idl_file: &str) {
    let root = workspace();
    let target_dir = idl_target_dir();
    let mut idl = IdlBuilder::new()
        .program_path(root.join(program_dir))
        .cargo_args(vec![
            "--target-dir".into(),
            target_dir.to_string_lossy().into_owned(),
        ])
        .skip_lint(true)
        .build()
        .unwrap_or_else(|e| panic!("building the IDL of {program_dir}: {e}"));
    for account in hand_loaded_accounts(program_dir) {
        if !idl.accounts.iter().any(|a| a.name == account.name) {
            idl.accounts.push(account);
        }
    }
    idl.accounts.sort_by(|a, b| a.name.cmp(&b.name));
    let generated = serde_json::to_string_pretty(&idl).unwrap() + "\n";
    let path = root.join("idl").join(idl_file);
    if std::env::var_os("UPDATE_IDL").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `UPDATE_IDL=1 cargo test -p sparks-tests --test idl` and commit it",
        path.display()
    );
}

#[test]
fn committed_idls_are_current() {
    // anchor-lang-idl 0.1.4 turns a set RUSTUP_TOOLCHAIN into the literal
    // argument `+{toolchain}`; rustup sets it for cargo's children. The
    // toolchain running this test is the one we want anyway.
    std::env::remove_var("RUSTUP_TOOLCHAIN");
    check("programs/sparks", "sparks.json");
    check("programs/example-mint", "example_mint.json");
}

/// Clients (Anchor's, Codama's) find account types by the IDL's `accounts`:
/// every account type of the program must be there, also those the program
/// loads by hand (PerkClaim).
#[test]
fn every_account_type_is_in_the_idl() {
    let committed = std::fs::read_to_string(workspace().join("idl/sparks.json")).unwrap();
    let idl: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let names: Vec<&str> = idl["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Config",
            "Issuer",
            "Perk",
            "PerkClaim",
            "SparkAccount",
            "Whitelist",
            "WhitelistEntry"
        ]
    );
}
