//! Serializing a history page (20 entries, ~3.9 KB, as the API bench's
//! pages are) into a response: axum's `Json`, which writes through
//! `Writer<BytesMut>`, against the API's own `api::json::Json`, which
//! writes into a `Vec<u8>`. Prints nanoseconds per page, best of 5 rounds.
//!
//! cargo bench -p sparks-indexer --bench responses -- [pages per round]

use std::hint::black_box;
use std::time::Instant;

use axum::response::IntoResponse;
use sparks_indexer::api::json::Json;
use sparks_indexer::api::model::{HistoryPage, LedgerEntry};

mod common;

fn page(n: i64) -> HistoryPage {
    HistoryPage {
        entries: (0..20)
            .map(|i| LedgerEntry {
                signature: bs58::encode([(n + i) as u8; 64]).into_string(),
                event_index: 0,
                slot: 312_456_789 + n + i,
                block_time: Some(1_760_000_000 + n + i),
                kind: "award".into(),
                source: Some("trading"),
                amount: 1 + (n + i) % 500,
                balance_after: 99_999,
                seq: 1_000_000 + n + i,
                counterparty: None,
            })
            .collect(),
        next_cursor: Some("aDoxMDAwMDAw".into()),
    }
}

/// Best nanoseconds per page over 5 rounds of `pages` serializations.
fn best(pages: u64, serialize: impl Fn(HistoryPage) -> axum::response::Response) -> u128 {
    let template = page(0);
    let bytes = serde_json::to_vec(&template).expect("serializes").len();
    assert!(bytes > 3_000, "a page is {bytes} bytes");
    (0..5)
        .map(|_| {
            let batch: Vec<HistoryPage> = (0..pages as i64).map(page).collect();
            let started = Instant::now();
            for page in batch {
                black_box(serialize(page));
            }
            started.elapsed().as_nanos() / u128::from(pages.max(1))
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let pages = common::arg(0, 50_000);
    let axum_ns = best(pages, |page| axum::Json(page).into_response());
    let ours_ns = best(pages, |page| Json(page).into_response());
    println!(
        "history page into a response: axum::Json {axum_ns} ns, api::json::Json {ours_ns} ns ({:.1}x)",
        axum_ns as f64 / ours_ns.max(1) as f64
    );
}
