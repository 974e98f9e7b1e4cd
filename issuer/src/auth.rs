//! Bearer tokens: random, shown once, stored as SHA-256. Each is bound to
//! one issuer key and the award sources it may use.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every token starts with, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "spk_";

/// A new token: the prefix and 32 random bytes in base58.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", bs58::encode(bytes).into_string())
}

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares digests in constant time (the lookup found the row by digest;
/// this keeps the final check free of timing differences too).
pub fn matches(stored: &[u8], presented: &[u8]) -> bool {
    stored.ct_eq(presented).into()
}

/// The token in an `Authorization: Bearer …` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && token.starts_with(TOKEN_PREFIX))
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert!(matches(&digest(&a), &digest(&a)));
        assert!(!matches(&digest(&a), &digest(&b)));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer spk_abc"), Some("spk_abc"));
        assert_eq!(bearer("bearer spk_abc"), Some("spk_abc"));
        assert_eq!(bearer("Basic spk_abc"), None);
        assert_eq!(bearer("Bearer abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }
}
