//! The committed TypeScript client (`clients/js/src/generated`) must equal
//! what Codama renders from `idl/sparks.json`, and compile under
//! TypeScript's strict mode. `./scripts/test` installs the pinned Node
//! packages (`npm ci` from the committed lockfile) first; regenerate with
//! `npm run generate` in clients/js. The same check covers the events table
//! and the API types (from clients/js/openapi, see indexer/tests/openapi.rs).

use std::path::PathBuf;
use std::process::Command;

fn client() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/js")
}

fn run(program: &str, args: &[&str]) {
    let dir = client();
    assert!(
        dir.join("../../node_modules/.package-lock.json").exists(),
        "no node_modules: run `npm ci` at the repository's root (./scripts/test does)"
    );
    let out = Command::new(program)
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_generated_typescript_client_matches_the_idl() {
    run("node", &["scripts/generate.mjs", "--check"]);
}

#[test]
fn the_generated_typescript_client_compiles_in_strict_mode() {
    run(
        "node",
        &[
            "../../node_modules/typescript/bin/tsc",
            "--noEmit",
            "-p",
            "tsconfig.json",
        ],
    );
}
