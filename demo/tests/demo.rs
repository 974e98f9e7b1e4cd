//! The demo command itself: start it, wait for the page to show indexed
//! Sparks, check the settings page in headless Chromium against the API,
//! stop it with SIGINT, so none of it can rot.

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
    let mut fulfilled = Vec::new();
    let page = loop {
        let line = found
            .recv_timeout(Duration::from_secs(180))
            .expect("demo prints its URLs");
        if let Some(grant) = line.trim().strip_prefix("fulfilled     : ") {
            fulfilled.push(grant.to_owned());
        }
        if let Some(url) = line.trim().strip_prefix("settings page : ") {
            break url.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(180));
    };
    // The app's receiver verified and granted what was redeemed (webhooks).
    for perk in ["Discord role", "whitelist #", "NFT minted"] {
        assert!(
            fulfilled.iter().any(|g| g.contains(perk)),
            "no {perk:?} among the fulfilled perks: {fulfilled:?}"
        );
    }
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
    // The page in a real browser shows the API's numbers.
    check_page_in_chromium(&page, &summary).await;
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "demo exits cleanly on Ctrl-C: {status}");
}

/// Loads the settings page in headless Chromium (Debian's `chromium` and
/// `chromium-driver`; scripts/test installs them) and compares what it shows
/// with the API's summary. Saves a screenshot under target/tmp.
async fn check_page_in_chromium(page: &str, summary: &serde_json::Value) {
    let driver_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={driver_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver (apt-get install chromium chromium-driver; scripts/test installs it)",
        );
    let capabilities: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,1400"]
        }
    }))
    .unwrap();
    let webdriver = format!("http://127.0.0.1:{driver_port}");
    let started = Instant::now();
    let client = loop {
        let attempt = fantoccini::ClientBuilder::new(
            hyper_util::client::legacy::connect::HttpConnector::new(),
        )
        .capabilities(capabilities.clone())
        .connect(&webdriver)
        .await;
        match attempt {
            Ok(client) => break client,
            Err(error) if started.elapsed() < Duration::from_secs(30) => {
                let _ = error;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("chromedriver session: {error}"),
        }
    };
    client.goto(page).await.unwrap();
    let text = |id: &'static str| {
        let client = client.clone();
        async move {
            client
                .wait()
                .at_most(Duration::from_secs(20))
                .for_element(fantoccini::Locator::Id(id))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    // The page fills in after its fetches; wait until the balance is a number.
    let deadline = Instant::now() + Duration::from_secs(20);
    while text("balance").await == "–" {
        assert!(Instant::now() < deadline, "the page never showed a balance");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let number = |s: String| s.replace(',', "").parse::<i64>().unwrap_or(-1);
    // Live trades may land between the API call and the page load: compare
    // the fields a trickle of trading awards does not change, and the balance
    // against the page's own fetch.
    assert_eq!(
        number(text("source-subscription").await),
        summary["earned_by_source"]["subscription"]
            .as_i64()
            .unwrap()
    );
    assert_eq!(
        number(text("source-campaign").await),
        summary["earned_by_source"]["campaign"].as_i64().unwrap()
    );
    assert_eq!(
        number(text("invitee-count").await),
        summary["invitee_count"].as_i64().unwrap()
    );
    assert_eq!(
        text("referrer").await,
        summary["referrer"].as_str().unwrap_or("nobody")
    );
    let (base, wallet) = page.split_once("/account?wallet=").unwrap();
    let now: serde_json::Value = reqwest::get(format!("{base}/v1/wallets/{wallet}/sparks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = number(text("balance").await);
    assert!(
        shown >= summary["balance"].as_i64().unwrap() && shown <= now["balance"].as_i64().unwrap(),
        "page balance {shown} between the API's {} and {}",
        summary["balance"],
        now["balance"]
    );
    let rows = client
        .find_all(fantoccini::Locator::Css("#history tbody tr"))
        .await
        .unwrap();
    assert!(!rows.is_empty(), "history rows shown");
    let perks = client
        .find_all(fantoccini::Locator::Css("#perks tbody tr"))
        .await
        .unwrap();
    assert_eq!(perks.len(), 4, "every perk listed with its cost");
    let png = client.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("settings-account.png");
    std::fs::write(&path, &png).unwrap();
    // README's picture of the page, as the demo shows it.
    if std::env::var_os("SPARKS_SCREENSHOTS").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/screenshots/settings-account.png");
        std::fs::write(docs, &png).unwrap();
    }
    println!("screenshot: {}", path.display());
    client.close().await.unwrap();
    let _ = driver.kill();
    let _ = driver.wait();
}
