//! The handlers, one file per resource: parse and check input (4xx on
//! anything wrong), one indexed query each, shape the answer. This module
//! holds what they share: parsing wallets, ids, limits, sources and cursors.

mod operations;
mod pending;
mod perks;
mod wallets;
mod whitelists;

pub use operations::*;
pub use pending::*;
pub use perks::*;
pub use wallets::*;
pub use whitelists::*;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query};

use super::error::ApiError;
use super::json::Json;
use crate::names::RANKINGS;

pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_PAGE: i64 = 100;
/// The sources by the program's `Source` order: the store's per-source
/// rankings carry the same names.
const SOURCES: &[&str] = RANKINGS.split_at(1).1;

type Api<T> = Result<Json<T>, ApiError>;

pub(super) fn wallet(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(text) = path.map_err(|e| ApiError::bad("invalid_path", e.body_text()))?;
    parse_wallet(&text)
}

pub fn parse_wallet(text: &str) -> Result<String, ApiError> {
    // Base58 spells each byte string one way only, so a key that decodes is
    // already in canonical form (`base58_spells_a_key_one_way_only`).
    let mut key = [0u8; 33];
    match bs58::decode(text).onto(&mut key[..]) {
        Err(_) => Err(ApiError::bad(
            "invalid_wallet",
            format!("{text:?} is not base58 of at most 32 bytes"),
        )),
        Ok(32) => Ok(text.to_owned()),
        Ok(length) => Err(ApiError::bad(
            "invalid_wallet",
            format!("{text:?} decodes to {length} bytes; a public key is 32"),
        )),
    }
}

fn parse_id(text: &str, what: &'static str) -> Result<i64, ApiError> {
    text.parse::<u64>()
        .ok()
        .and_then(|id| i64::try_from(id).ok())
        .ok_or_else(|| {
            ApiError::bad(
                "invalid_id",
                format!("{what} id {text:?} is not a whole number"),
            )
        })
}

fn limit(text: Option<&str>, default: i64) -> Result<i64, ApiError> {
    let Some(text) = text else { return Ok(default) };
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(ApiError::bad(
            "invalid_limit",
            format!("limit {text:?} must be a whole number from 1 to {MAX_PAGE}"),
        )),
    }
}

fn source(text: Option<&str>) -> Result<Option<i16>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    SOURCES
        .iter()
        .position(|s| *s == text)
        .map(|i| Some(i as i16))
        .ok_or_else(|| {
            ApiError::bad(
                "invalid_source",
                format!("source {text:?} is not one of {}", SOURCES.join(", ")),
            )
        })
}

fn source_name(index: Option<i16>) -> Option<&'static str> {
    index.and_then(|i| SOURCES.get(i as usize)).copied()
}

/// The history's keyset cursor, `h<seq>`: the seq of the last row shown.
pub const HISTORY_CURSOR_PATTERN: &str = "^(h(0|[1-9][0-9]{0,17}))?$";
/// The invitees' keyset cursor, `i<slot>.<invitee as 64 hex digits>`: the last row shown.
pub const INVITEES_CURSOR_PATTERN: &str = "^(i(0|[1-9][0-9]{0,17})\\.[0-9a-f]{64})?$";

/// A cursor's number: decimal, no leading zero, at most 18 digits (so it
/// fits an i64), as the cursor patterns say.
fn cursor_number(text: &str) -> Option<i64> {
    let canonical = !text.is_empty()
        && text.len() <= 18
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// The seq a history cursor names; `None` for no cursor (absent or empty).
fn history_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .strip_prefix('h')
            .and_then(cursor_number)
            .map(Some)
            .ok_or_else(invalid_cursor),
    }
}

fn history_cursor_of(seq: i64) -> String {
    format!("h{seq}")
}

/// The (slot, invitee) an invitees cursor names; `None` for no cursor.
fn invitees_cursor(cursor: Option<&str>) -> Result<Option<(i64, String)>, ApiError> {
    let Some(text) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let parsed = text.strip_prefix('i').and_then(|rest| {
        let (slot, key) = rest.split_once('.')?;
        let lowercase_hex =
            key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let bytes: [u8; 32] = lowercase_hex
            .then(|| {
                (0..32)
                    .map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
            .flatten()?
            .try_into()
            .ok()?;
        Some((cursor_number(slot)?, bs58::encode(bytes).into_string()))
    });
    parsed.map(Some).ok_or_else(invalid_cursor)
}

fn invitees_cursor_of(slot: i64, invitee: &str) -> String {
    // Stored invitees are keys; one that is not would give a cursor the
    // next call refuses (400), never a crash.
    let bytes = bs58::decode(invitee).into_vec().unwrap_or_default();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("i{slot}.{hex}")
}

fn invalid_cursor() -> ApiError {
    ApiError::bad(
        "invalid_cursor",
        "cursor is not one this API returned for this list",
    )
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad("invalid_query", e.body_text()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use anchor_lang::prelude::Pubkey;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn base58_spells_a_key_one_way_only() {
        const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        let mut rng = rand::rngs::StdRng::seed_from_u64(58);
        let mut keys = 0;
        for _ in 0..30_000 {
            let length = rng.gen_range(42..=45);
            let mut text: String = (0..length)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            // Leading '1's are leading zero bytes: the likeliest place for a second spelling.
            let ones = rng.gen_range(0..4);
            text.replace_range(..ones, &"1".repeat(ones));
            if let Ok(wallet) = parse_wallet(&text) {
                keys += 1;
                let bytes = bs58::decode(&text).into_vec().unwrap();
                assert_eq!(bs58::encode(&bytes).into_string(), text);
                assert_eq!(
                    Pubkey::try_from(bytes.as_slice()).unwrap().to_string(),
                    wallet
                );
            }
        }
        assert!(keys > 5_000, "only {keys} random strings were keys");
        for text in ["", "0OIl", "1", "11111111111111111111111111111111111"] {
            assert!(parse_wallet(text).is_err(), "{text:?}");
        }
        assert!(parse_wallet("11111111111111111111111111111111").is_ok());
    }
}
