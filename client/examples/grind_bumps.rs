//! Searches wallets whose SparkAccount PDA takes the most bump tries, as a
//! stranger would offline to make awards to it cost more (docs/PROGRAM.md,
//! "PDA bumps a stranger picks"). Prints the best found per thread.
//!
//! `cargo run --release -p sparks-client --example grind_bumps -- 60`
//! (seconds; all cores).

use std::time::{Duration, Instant};

use anchor_lang::prelude::Pubkey;
use sparks::state::SparkAccount;

fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            std::thread::spawn(move || {
                // xorshift64*, seeded per thread and by the clock.
                let mut state = 0x9E37_79B9_7F4A_7C15u64
                    ^ (thread as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)
                    ^ std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64);
                let mut next = || {
                    state ^= state >> 12;
                    state ^= state << 25;
                    state ^= state >> 27;
                    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
                };
                let (mut best, mut best_tries, mut searched) = (Pubkey::default(), 0u32, 0u64);
                while Instant::now() < deadline {
                    for _ in 0..1_000 {
                        let mut bytes = [0u8; 32];
                        for chunk in bytes.chunks_mut(8) {
                            chunk.copy_from_slice(&next().to_le_bytes());
                        }
                        let wallet = Pubkey::new_from_array(bytes);
                        let (_, bump) = Pubkey::find_program_address(
                            &[SparkAccount::SEED, wallet.as_ref()],
                            &sparks::ID,
                        );
                        let tries = 256 - u32::from(bump);
                        if tries > best_tries {
                            (best, best_tries) = (wallet, tries);
                        }
                    }
                    searched += 1_000;
                }
                (best, best_tries, searched)
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        let (wallet, tries, searched) = handle.join().expect("a search thread");
        total += searched;
        println!("{wallet} {tries} tries");
    }
    println!("{total} wallets searched in {seconds} s on {threads} threads");
}
