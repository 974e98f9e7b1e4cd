//! The demo command itself: start it, wait for the page to show indexed
//! Sparks, stop it with SIGINT, so it cannot rot.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_starts_serves_indexed_sparks_and_stops() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sparks-demo"))
        .args([
            "--wallets",
            "24",
            "--port",
            "0",
            "--live-interval-ms",
            "300",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().unwrap();
    let (lines, found) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let started = Instant::now();
    let page = loop {
        let line = found
            .recv_timeout(Duration::from_secs(180))
            .expect("demo prints its URLs");
        if let Some(url) = line.trim().strip_prefix("settings page : ") {
            break url.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(180));
    };
    let http = reqwest::Client::new();
    let html = http.get(&page).send().await.unwrap();
    assert_eq!(html.status().as_u16(), 200);
    assert!(html.text().await.unwrap().contains("id=\"balance\""));
    let (base, wallet) = page.split_once("/account?wallet=").unwrap();
    let summary: serde_json::Value = http
        .get(format!("{base}/v1/wallets/{wallet}/sparks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(summary["balance"].as_i64().unwrap() > 0, "{summary}");
    assert!(summary["invitee_count"].as_i64().unwrap() > 0, "{summary}");
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "demo exits cleanly on Ctrl-C: {status}");
}
