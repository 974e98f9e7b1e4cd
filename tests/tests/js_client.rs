//! The TypeScript client's own tests (`clients/js/test`, node's test runner)
//! against a real chain: this starts the local chain and runs them with its
//! JSON-RPC URL. `./scripts/test` installs the Node packages first.

use std::path::PathBuf;
use std::process::Command;

use sparks_localnet::{Localnet, LocalnetConfig};

#[test]
fn the_typescript_client_works_against_the_local_chain() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("node_modules/.package-lock.json").exists(),
        "no node_modules: run `npm ci` at the repository's root (./scripts/test does)"
    );
    let chain = Localnet::start(LocalnetConfig::default()).expect("local chain starts");
    let out = Command::new("node")
        .args(["--import", "tsx", "--test", "test/client.test.ts"])
        .current_dir(root.join("clients/js"))
        .env("SPARKS_RPC_URL", chain.rpc_url())
        .output()
        .expect("running node");
    chain.stop();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "node --test failed:\n{report}");
    // Node prints `# pass N` / `# fail N`; a run that found no tests passes too.
    assert!(
        report.contains("# fail 0") && !report.contains("# pass 0"),
        "{report}"
    );
}
