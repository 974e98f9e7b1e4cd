//! Standard Webhooks signatures (standardwebhooks.com), with the spec's own
//! Rust implementation: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`
//! with the secret's bytes. During a rotation's grace period the header
//! carries a signature with each secret, space-separated, so receivers
//! holding either verify.

use base64::Engine as _;
use rand::RngCore;
use standardwebhooks::Webhook;

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("the subscription's secret is not a Standard Webhooks secret (whsec_ + base64): {0}")]
    BadSecret(String),
}

/// A new secret: `whsec_` + 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The `webhook-signature` header's value.
pub fn signature_header(
    secret: &str,
    previous: Option<&str>,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    let sign = |secret: &str| {
        Webhook::new(secret)
            .and_then(|hook| hook.sign(message_id, timestamp, body))
            .map_err(|e| SigningError::BadSecret(e.to_string()))
    };
    let mut header = sign(secret)?;
    if let Some(previous) = previous {
        header.push(' ');
        header.push_str(&sign(previous)?);
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_secrets_sign_during_a_rotation_and_each_verifies() {
        let (old, new) = (new_secret(), new_secret());
        let header = signature_header(&new, Some(&old), "evt_x_0", 1_700_000_000, b"{}").unwrap();
        assert_eq!(header.split(' ').count(), 2);
        // The spec's example: its secret and message sign to its signature.
        let spec = signature_header(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            None,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(spec, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(signature_header("not base64!", None, "m", 0, b"").is_err());
    }
}
