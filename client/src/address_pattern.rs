//! The regular expression of exactly the base58 strings that spell a
//! 32-byte key, for the APIs' OpenAPI documents: a schema that allows any
//! 32–44 base58 characters allows strings that decode to 31 or 43 bytes,
//! which the APIs refuse.
//!
//! A key with `k` leading zero bytes is spelt `k` ones, then the base58
//! numeral of the other `32 - k` bytes (its first byte not zero): a numeral
//! no smaller than `256^(31-k)` and no larger than `256^(32-k) - 1`, written
//! without a leading `1`. The pattern is the union over `k` of those ranges,
//! each written digit by digit as regular expressions for numerals between
//! two bounds are (about 70 KB; built once).

use std::sync::OnceLock;

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Any base58 digit.
const ANY: &str = "[1-9A-HJ-NP-Za-km-z]";

/// `^…$` matching exactly the base58 spellings of 32-byte keys. Compiled,
/// it needs more than the `regex` crate's default 10 MiB size limit (the
/// test raises it to 64 MiB); other consumers may need the same.
pub fn address_pattern() -> &'static str {
    static PATTERN: OnceLock<String> = OnceLock::new();
    PATTERN.get_or_init(build)
}

fn digit(c: u8) -> usize {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .expect("a base58 digit")
}

/// A character class of the digits `lo..=hi`, or `None` if empty.
fn class(lo: usize, hi: usize) -> Option<String> {
    if lo > hi {
        return None;
    }
    let chars = &ALPHABET[lo..=hi];
    if chars.len() == 1 {
        return Some((chars[0] as char).to_string());
    }
    let mut out = String::from("[");
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while j + 1 < chars.len() && chars[j + 1] == chars[j] + 1 {
            j += 1;
        }
        out.push(chars[i] as char);
        if j > i + 1 {
            out.push('-');
        }
        if j > i {
            out.push(chars[j] as char);
        }
        i = j + 1;
    }
    out.push(']');
    Some(out)
}

fn any(count: usize) -> String {
    match count {
        0 => String::new(),
        1 => ANY.to_owned(),
        n => format!("{ANY}{{{n}}}"),
    }
}

/// Numerals as long as `bound` on one side of it: `bound` itself, and at
/// each position its prefix, then a digit `other` allows there (given the
/// position and `bound`'s digit), then any digits.
fn beside(bound: &str, other: impl Fn(usize, usize) -> Option<String>) -> Vec<String> {
    let mut alternatives: Vec<String> = bound
        .bytes()
        .enumerate()
        .filter_map(|(i, c)| {
            let digits = other(i, digit(c))?;
            Some(format!(
                "{}{digits}{}",
                &bound[..i],
                any(bound.len() - i - 1)
            ))
        })
        .collect();
    alternatives.push(bound.to_owned());
    alternatives
}

/// Numerals as long as `bound` and no larger; the first digit at least `first`.
fn at_most(bound: &str, first: usize) -> Vec<String> {
    beside(bound, |i, d| {
        let lowest = if i == 0 { first } else { 0 };
        d.checked_sub(1).and_then(|below| class(lowest, below))
    })
}

/// Numerals as long as `bound` and no smaller.
fn at_least(bound: &str) -> Vec<String> {
    beside(bound, |_, d| class(d + 1, 57))
}

/// Numerals (no leading `1`) from `lo` to `hi`, both included.
fn between(lo: &str, hi: &str) -> Vec<String> {
    if lo.len() == hi.len() {
        let common = lo
            .bytes()
            .zip(hi.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        if common == lo.len() {
            return vec![lo.to_owned()];
        }
        let prefix = &lo[..common];
        let (a, b) = (lo.as_bytes()[common], hi.as_bytes()[common]);
        let mut alternatives: Vec<String> = at_least(&lo[common + 1..])
            .into_iter()
            .map(|rest| format!("{prefix}{}{rest}", a as char))
            .collect();
        if let Some(middle) = digit(b)
            .checked_sub(1)
            .and_then(|below| class(digit(a) + 1, below))
        {
            alternatives.push(format!("{prefix}{middle}{}", any(lo.len() - common - 1)));
        }
        alternatives.extend(
            at_most(&hi[common + 1..], 0)
                .into_iter()
                .map(|rest| format!("{prefix}{}{rest}", b as char)),
        );
        return alternatives;
    }
    let mut alternatives = at_least(lo);
    for length in lo.len() + 1..hi.len() {
        alternatives.push(format!(
            "{}{}",
            class(1, 57).expect("digits"),
            any(length - 1)
        ));
    }
    alternatives.extend(at_most(hi, 1));
    alternatives
}

fn build() -> String {
    let mut branches = Vec::new();
    for zeros in 0..=32usize {
        let ones = match zeros {
            0 => String::new(),
            1 => "1".to_owned(),
            n => format!("1{{{n}}}"),
        };
        if zeros == 32 {
            branches.push(ones);
            continue;
        }
        let width = 32 - zeros;
        let mut lowest = vec![0u8; width];
        lowest[0] = 1;
        let highest = vec![0xffu8; width];
        let lo = bs58::encode(&lowest).into_string();
        let hi = bs58::encode(&highest).into_string();
        branches.push(format!("{ones}(?:{})", between(&lo, &hi).join("|")));
    }
    format!("^(?:{})$", branches.join("|"))
}

/// The pattern the APIs' handlers write on a wallet parameter or field
/// (a literal, as utoipa's attributes need one); [`ExactAddresses`]
/// replaces each schema carrying it with a reference to [`ADDRESS_SCHEMA`].
pub const ADDRESS_PLACEHOLDER: &str = "^[1-9A-HJ-NP-Za-km-z]{32,44}$";
/// The component schema of a 32-byte key in base58.
pub const ADDRESS_SCHEMA: &str = "Address";

/// A utoipa modifier: every schema whose pattern is [`ADDRESS_PLACEHOLDER`]
/// becomes a reference to the `Address` component, whose pattern is
/// [`address_pattern`]: exactly the strings the APIs accept as keys.
#[cfg(feature = "openapi")]
pub struct ExactAddresses;

#[cfg(feature = "openapi")]
impl utoipa::Modify for ExactAddresses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};

        let mut value = serde_json::to_value(&*openapi).expect("an OpenAPI document serializes");
        replace_placeholders(&mut value);
        *openapi = serde_json::from_value(value).expect("the same document, with references");
        openapi
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .insert(
                ADDRESS_SCHEMA.to_owned(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "A 32-byte public key in base58: 32 to 44 characters whose decoding is \
                         exactly 32 bytes (the pattern says which).",
                    ))
                    .min_length(Some(32))
                    .max_length(Some(44))
                    .pattern(Some(address_pattern()))
                    .examples(["GrEan3C5CYfWj1Ec6DdWFRUJhS8EqCC1rdfZ3SgJ7TwC"])
                    .into(),
            );
    }
}

/// Each object whose `pattern` is the placeholder becomes `{"$ref": …}`,
/// keeping its description.
#[cfg(feature = "openapi")]
fn replace_placeholders(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            if object.get("pattern").and_then(|p| p.as_str()) == Some(ADDRESS_PLACEHOLDER) {
                let mut reference = serde_json::Map::new();
                reference.insert(
                    "$ref".into(),
                    format!("#/components/schemas/{ADDRESS_SCHEMA}").into(),
                );
                if let Some(description) = object.get("description") {
                    reference.insert("description".into(), description.clone());
                }
                *object = reference;
                return;
            }
            object.values_mut().for_each(replace_placeholders);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(replace_placeholders),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the APIs accept: base58 that decodes to exactly 32 bytes.
    fn is_key(text: &str) -> bool {
        bs58::decode(text)
            .into_vec()
            .is_ok_and(|bytes| bytes.len() == 32)
    }

    /// The base58 numeral of `n` (no leading `1`).
    fn numeral(mut n: u64) -> String {
        let mut digits = Vec::new();
        while n > 0 {
            digits.push(ALPHABET[(n % 58) as usize]);
            n /= 58;
        }
        digits.reverse();
        String::from_utf8(digits).unwrap()
    }

    #[test]
    fn numeral_ranges_match_exactly_their_numerals() {
        // Bounds of equal and of different lengths, against every numeral
        // from 1 to 58^3.
        for (lo, hi) in [
            (1, 57),
            (58, 3363),
            (100, 140),
            (59, 60),
            (7, 40_000),
            (3000, 3000),
        ] {
            let pattern = format!("^(?:{})$", between(&numeral(lo), &numeral(hi)).join("|"));
            let pattern = regex::Regex::new(&pattern).unwrap();
            for n in 1..58u64.pow(3) {
                assert_eq!(
                    pattern.is_match(&numeral(n)),
                    (lo..=hi).contains(&n),
                    "{n} in {lo}..={hi}"
                );
            }
        }
    }

    #[test]
    fn the_pattern_matches_exactly_the_spellings_of_32_byte_keys() {
        let pattern = regex::RegexBuilder::new(address_pattern())
            .size_limit(1 << 26)
            .build()
            .expect("a valid pattern");
        // A small deterministic generator: no dependency for randomness.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut keys, mut checked) = (0, 0);
        for round in 0..60_000 {
            let text = if round % 2 == 0 {
                // Keys, with runs of leading zero bytes.
                let zeros = (next() % 40).saturating_sub(7) as usize;
                let mut bytes = [0u8; 32];
                for byte in bytes.iter_mut().skip(zeros.min(32)) {
                    *byte = next() as u8;
                }
                bs58::encode(bytes).into_string()
            } else {
                // Base58 strings of key-like lengths, some with leading ones.
                let length = 30 + (next() % 17) as usize;
                let ones = if next() % 3 == 0 {
                    (next() as usize) % (length + 1)
                } else {
                    0
                };
                (0..length)
                    .map(|i| {
                        if i < ones {
                            '1'
                        } else {
                            ALPHABET[(next() % 58) as usize] as char
                        }
                    })
                    .collect()
            };
            checked += 1;
            keys += usize::from(is_key(&text));
            assert_eq!(pattern.is_match(&text), is_key(&text), "{text:?}");
        }
        assert!(
            keys > 30_000 && checked - keys > 20_000,
            "{keys} keys of {checked}"
        );
        for text in [
            "1".repeat(32),
            "1".repeat(31),
            "1".repeat(33),
            "1".repeat(43),
            "J".repeat(32),
        ] {
            assert_eq!(pattern.is_match(&text), is_key(&text), "{text:?}");
        }
        assert!(pattern.is_match(&anchor_lang::prelude::Pubkey::new_unique().to_string()));
    }
}
