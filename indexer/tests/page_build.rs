//! The settings page the API serves (`indexer/static/account.html`) is what
//! Vite builds from `indexer/web` today, and the page's TypeScript compiles
//! in strict mode. Rebuild with `npm run build` in indexer/web and commit.

use std::path::PathBuf;
use std::process::Command;

fn web() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web")
}

fn node(args: &[&str], env: &[(&str, &str)]) {
    assert!(
        web().join("../../node_modules/.package-lock.json").exists(),
        "no node_modules: run `npm ci` at the repository's root (./scripts/test does)"
    );
    let out = Command::new("node")
        .args(args)
        .envs(env.iter().copied())
        .current_dir(web())
        .output()
        .expect("running node");
    assert!(
        out.status.success(),
        "node {}:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_served_page_is_the_build_of_its_sources() {
    let out = tempfile::tempdir().unwrap();
    node(
        &[
            "../../node_modules/vite/bin/vite.js",
            "build",
            "--logLevel",
            "warn",
        ],
        &[("SPARKS_PAGE_OUT", out.path().to_str().unwrap())],
    );
    let fresh = std::fs::read_to_string(out.path().join("account.html")).unwrap();
    let committed = std::fs::read_to_string(web().join("../static/account.html")).unwrap();
    assert!(
        fresh == committed,
        "indexer/static/account.html is stale: run `npm run build` in indexer/web and commit it"
    );
    // The browser tests' wallet lives with the tests, never in what users get.
    for test_only in [
        "sparksTestWallet",
        "Sparks Test Wallet",
        "SparksTestWalletInstaller",
    ] {
        assert!(
            !committed.contains(test_only),
            "the served page contains the test wallet ({test_only})"
        );
    }
}

#[test]
fn the_page_compiles_in_strict_mode() {
    node(
        &[
            "../../node_modules/typescript/bin/tsc",
            "--noEmit",
            "-p",
            "tsconfig.json",
        ],
        &[],
    );
}
