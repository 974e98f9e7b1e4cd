//! The TypeScript client's own tests (`clients/js/test`, node's test runner)
//! against a real chain: this starts the local chain and runs them with its
//! JSON-RPC URL. `./scripts/test` installs the Node packages first.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sparks_localnet::{Localnet, LocalnetConfig};

#[test]
fn the_typescript_client_works_against_the_local_chain() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("node_modules/.package-lock.json").exists(),
        "no node_modules: run `npm ci` at the repository's root (./scripts/test does)"
    );
    let chain = Localnet::start(LocalnetConfig::default()).expect("local chain starts");
    let mut child = Command::new("node")
        .args(["--import", "tsx", "--test", "test/client.test.ts"])
        .current_dir(root.join("clients/js"))
        .env("SPARKS_RPC_URL", chain.rpc_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running node");
    // Output is read on threads so a chatty run cannot fill the pipes.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // A hung run fails the test instead of hanging the suite.
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    chain.stop();
    // (node --test's own workers may still hold the pipes after a kill.)
    let status = status.expect("node --test ran past 5 minutes and was killed");
    let out = (out_reader.join().unwrap(), err_reader.join().unwrap());
    let report = format!("{}\n{}", out.0, out.1);
    println!("{report}");
    assert!(status.success(), "node --test failed:\n{report}");
    // Node prints `# pass N` / `# fail N`; a run that found no tests passes too.
    assert!(
        report.contains("# fail 0") && !report.contains("# pass 0"),
        "{report}"
    );
}
