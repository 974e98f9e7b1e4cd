//! Store-path throughput: decoded events of real program transactions
//! (the decoder fixtures: an award, an award paying a referral share, an
//! example-mint whitelist consumption, and 6-row batch awards built from the
//! award), replicated with fresh signatures and a pool of wallets whose
//! accounts change many times, committed through `Store::apply` (events +
//! projections + ledger + cursor, one database transaction per batch) into
//! a private Postgres with durable commits.
//!
//! cargo bench -p sparks-indexer --bench ingest -- [transactions] [batch] [wallets]

use std::collections::HashMap;
use std::time::Instant;

use anchor_lang::prelude::Pubkey;
use solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta;
use sparks_client::events::SparksEvent;
use sparks_indexer::decoder::{decode, DecodedEvent};
use sparks_indexer::store::{CursorMove, IndexedTransaction, Store};
use sparks_pglocal::{PgOptions, PgServer};

fn fixture(name: &str) -> Vec<SparksEvent> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    let tx: EncodedConfirmedTransactionWithStatusMeta =
        serde_json::from_str(&text).expect("fixture json");
    decode(&tx, &sparks::ID)
        .events
        .into_iter()
        .map(|e| e.event)
        .collect()
}

/// Per-wallet state the generator advances, so every event is a valid next state.
#[derive(Default)]
struct Wallets {
    seq: HashMap<Pubkey, (u64, u64)>,
}

impl Wallets {
    fn next(&mut self, wallet: Pubkey, delta: u64) -> (u64, u64) {
        let entry = self.seq.entry(wallet).or_default();
        entry.0 += 1;
        entry.1 += delta;
        *entry
    }
}

fn rewrite(event: &SparksEvent, wallet: Pubkey, wallets: &mut Wallets) -> SparksEvent {
    let mut event = event.clone();
    match &mut event {
        SparksEvent::SparksAwarded(e) => {
            let (seq, balance) = wallets.next(wallet, e.amount);
            e.account.owner = wallet;
            e.account.seq = seq;
            e.account.balance = balance;
            e.account.lifetime_earned = balance;
        }
        SparksEvent::WhitelistSpotConsumed(e) => {
            let (seq, _) = wallets.next(wallet, 0);
            e.entry.wallet = wallet;
            e.entry.seq = seq;
        }
        _ => {}
    }
    event
}

fn signature(n: u64) -> String {
    let mut bytes = [7u8; 64];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bs58::encode(bytes).into_string()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let transactions = args.first().copied().unwrap_or(100_000);
    let batch = args.get(1).copied().unwrap_or(1_000) as usize;
    let pool = args.get(2).copied().unwrap_or(20_000);

    let award = fixture("award");
    let referral = fixture("award_with_referral");
    let mint = fixture("example_mint");
    let batch_award: Vec<SparksEvent> = std::iter::repeat_n(award[0].clone(), 6).collect();
    let wallets_pool: Vec<Pubkey> = (0..pool).map(|_| Pubkey::new_unique()).collect();
    let mut wallets = Wallets::default();
    let mut next_wallet = 0usize;
    let mut generated = Vec::with_capacity(transactions as usize);
    for n in 0..transactions {
        // Mix: 55% awards, 25% awards with a referral share, 15% 6-row batches, 5% mints.
        let template = match n % 20 {
            0..=10 => &award,
            11..=15 => &referral,
            16..=18 => &batch_award,
            _ => &mint,
        };
        let events = template
            .iter()
            .enumerate()
            .map(|(index, event)| {
                let wallet = wallets_pool[next_wallet % wallets_pool.len()];
                next_wallet += 1;
                DecodedEvent {
                    index: index as u32,
                    origin: sparks_indexer::decoder::Origin::InnerInstruction,
                    event: rewrite(event, wallet, &mut wallets),
                }
            })
            .collect();
        generated.push(IndexedTransaction {
            signature: signature(n),
            slot: 1_000 + n,
            block_time: Some(1_760_000_000 + n as i64),
            finalized: false,
            events,
            problems: Vec::new(),
        });
    }
    let events: usize = generated.iter().map(|t| t.events.len()).sum();
    // The CPU share: turning decoded transactions into rows, no database.
    let started = Instant::now();
    for chunk in generated.chunks(batch) {
        std::hint::black_box(sparks_indexer::store::BatchRows::build(chunk).unwrap());
    }
    let build_secs = started.elapsed().as_secs_f64();
    println!(
        "rows only (no database): {build_secs:.2} s = {:.0} events/s",
        events as f64 / build_secs
    );

    let pg = PgServer::start_with(PgOptions {
        durable: true,
        ..PgOptions::default()
    })
    .expect("private postgres");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::connect(&pg.url()).await.unwrap();
        store.migrate().await.unwrap();
        let started = Instant::now();
        let mut from: Option<&str> = None;
        for chunk in generated.chunks(batch) {
            let newest = chunk.last().unwrap();
            let cursor = CursorMove {
                from,
                to: &newest.signature,
                slot: newest.slot,
            };
            store.apply(chunk, Some(cursor)).await.unwrap();
            from = Some(&newest.signature);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "store path: {transactions} transactions, {events} events, batch {batch}, {pool} wallets, \
             durable commits: {secs:.2} s = {:.0} events/s ({:.0} tx/s)",
            events as f64 / secs,
            transactions as f64 / secs
        );
    });
}
