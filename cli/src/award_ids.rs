//! The award ids this machine hands out for an issuer key: one allocator
//! shared by `sparks award` and `sparks award-batch`, so that neither takes
//! an id the other reserved and has not sent yet (docs/PROGRAM.md, rule 1).
//!
//! A file per issuer key in the state directory (`--state-dir`,
//! `SPARKS_STATE_DIR`, by default `~/.local/state/sparks`) holds the next id
//! not handed out. Reserving locks the file, takes the larger of it and the
//! chain's `next_award_id()` (one past the highest id used), and writes the
//! new mark, fsynced, before the ids are used.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anchor_lang::prelude::Pubkey;
use anyhow::Context as _;

/// Where the allocator files live by default.
pub fn default_dir() -> PathBuf {
    dirs::state_dir()
        .or_else(|| dirs::home_dir().map(|home| home.join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("sparks")
}

/// Reserves `count` consecutive award ids of `issuer`, the first not below
/// `chain_next`, and returns the first.
pub fn reserve(dir: &Path, issuer: &Pubkey, count: u64, chain_next: u64) -> anyhow::Result<u64> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{issuer}.next-award-id"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    let stored: u64 = match text.trim() {
        "" => 0,
        number => number
            .parse()
            .with_context(|| format!("{} holds {number:?}, not an award id", path.display()))?,
    };
    let first = stored.max(chain_next);
    let next = first
        .checked_add(count)
        .context("award ids ran out of u64")?;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{next}\n").as_bytes())?;
    file.sync_data()
        .with_context(|| format!("syncing {}", path.display()))?;
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_handed_out_twice_and_follow_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = Pubkey::new_unique();
        assert_eq!(reserve(dir.path(), &issuer, 3, 0).unwrap(), 0);
        assert_eq!(reserve(dir.path(), &issuer, 1, 0).unwrap(), 3);
        // The chain moved past what this machine handed out.
        assert_eq!(reserve(dir.path(), &issuer, 2, 10).unwrap(), 10);
        assert_eq!(reserve(dir.path(), &issuer, 1, 5).unwrap(), 12);
        // Another key counts on its own.
        assert_eq!(reserve(dir.path(), &Pubkey::new_unique(), 1, 0).unwrap(), 0);
    }
}
