//! Award requests as the app sends them, validated field by field so each
//! error names the field (and, in a batch, the index) that was wrong.

use anchor_lang::prelude::Pubkey;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Requests in one `POST /v1/awards`.
pub const MAX_BATCH: usize = 1_000;
/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 128;

const FIELDS: [&str; 5] = ["key", "wallet", "source", "amount", "reference"];

/// The award sources, as the API names them.
pub const SOURCES: [&str; 4] = ["trading", "subscription", "campaign", "referral"];

/// One validated award request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardRequest {
    pub key: String,
    pub wallet: Pubkey,
    pub source: &'static str,
    pub amount: u64,
    pub reference: [u8; 32],
}

impl AwardRequest {
    /// SHA-256 over the fields: the same key sent again with another body
    /// is a conflict, with the same body a replay.
    pub fn body_digest(&self) -> Vec<u8> {
        let mut hash = Sha256::new();
        hash.update(self.key.as_bytes());
        hash.update([0]);
        hash.update(self.wallet.to_bytes());
        hash.update(self.source.as_bytes());
        hash.update([0]);
        hash.update(self.amount.to_le_bytes());
        hash.update(self.reference);
        hash.finalize().to_vec()
    }
}

/// An award request's state, as `GET /v1/awards/{key}` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct AwardView {
    pub key: String,
    pub wallet: String,
    pub source: String,
    pub amount: u64,
    /// 32 bytes, hex.
    pub reference: String,
    /// `pending | sending | landed | finalized | failed`.
    #[schema(pattern = "^(pending|sending|landed|finalized|failed)$")]
    pub state: String,
    pub award_id: Option<u64>,
    pub signature: Option<String>,
    pub slot: Option<u64>,
    pub failure: Option<String>,
    pub created_at: String,
}

/// One award request as the API documents it (the body is one of these,
/// or an array of 1 to 1,000); parsed by [`parse_body`].
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct AwardRequestBody {
    /// The app's idempotency key (a trade id), unique per issuer: sent
    /// again, it answers the first request; with another body, 409.
    #[schema(min_length = 1, max_length = 128)]
    pub key: String,
    /// The recipient, a base58 public key.
    #[schema(pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")]
    pub wallet: String,
    #[schema(pattern = "^(trading|subscription|campaign|referral)$")]
    pub source: String,
    /// Sparks, from 1 to the program's limit per award.
    #[schema(minimum = 1)]
    pub amount: u64,
    /// 32 bytes as 64 hex digits; requests sharing source and reference
    /// are packed into the same transactions. Zeros when absent.
    #[schema(pattern = "^[0-9a-fA-F]{64}$", nullable)]
    pub reference: Option<String>,
}

/// The body of `POST /v1/awards`: one request object, or an array of them.
/// The body as JSON, refusing an object that names a field twice:
/// serde_json keeps the last one silently, so `"amount":1,"amount":9` would
/// be accepted as 9 while the app's own parser may have read 1.
pub fn parse_json(body: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::Deserialize;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = strict::StrictValue::deserialize(&mut deserializer)?.0;
    deserializer.end()?;
    Ok(value)
}

mod strict {
    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    /// A JSON value whose objects name each field once.
    pub struct StrictValue(pub Value);

    impl<'de> Deserialize<'de> for StrictValue {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(StrictVisitor)
        }
    }

    struct StrictVisitor;

    impl<'de> Visitor<'de> for StrictVisitor {
        type Value = StrictValue;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
            Ok(StrictValue(Value::Bool(v)))
        }
        fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
            Ok(StrictValue(v.into()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
            Ok(StrictValue(v.into()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
            Ok(StrictValue(v.into()))
        }
        fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
            Ok(StrictValue(v.into()))
        }
        fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
            Ok(StrictValue(v.into()))
        }
        fn visit_unit<E>(self) -> Result<StrictValue, E> {
            Ok(StrictValue(Value::Null))
        }
        fn visit_none<E>(self) -> Result<StrictValue, E> {
            Ok(StrictValue(Value::Null))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
            let mut items = Vec::new();
            while let Some(StrictValue(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(StrictValue(Value::Array(items)))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    return Err(de::Error::custom(format!("field {key:?} appears twice")));
                }
                let StrictValue(value) = map.next_value()?;
                object.insert(key, value);
            }
            Ok(StrictValue(Value::Object(object)))
        }
    }
}

pub fn parse_body(body: &Value, max_amount: u64) -> Result<Vec<AwardRequest>, ApiError> {
    match body {
        Value::Object(object) => Ok(vec![parse_one(object, None, max_amount)?]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ApiError::bad(
                    "empty_batch",
                    "the array holds no award request",
                ));
            }
            if items.len() > MAX_BATCH {
                return Err(ApiError::bad(
                    "batch_too_large",
                    format!(
                        "{} award requests in one call; at most {MAX_BATCH}",
                        items.len()
                    ),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(object) => parse_one(object, Some(i), max_amount),
                    _ => Err(ApiError::bad(
                        "invalid_body",
                        format!("[{i}]: an award request is a JSON object"),
                    )),
                })
                .collect()
        }
        _ => Err(ApiError::bad(
            "invalid_body",
            "the body is an award request object or an array of them",
        )),
    }
}

fn parse_one(
    object: &Map<String, Value>,
    index: Option<usize>,
    max_amount: u64,
) -> Result<AwardRequest, ApiError> {
    let at = |field: &str| match index {
        Some(i) => format!("[{i}].{field}"),
        None => field.to_owned(),
    };
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad(
            "unknown_field",
            format!(
                "{}: unknown field; the fields are {}",
                at(unknown),
                FIELDS.join(", ")
            ),
        ));
    }
    let text = |field: &'static str| -> Result<&str, ApiError> {
        match object.get(field) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(ApiError::bad(
                "invalid_type",
                format!("{}: must be a string", at(field)),
            )),
            None => Err(ApiError::bad(
                "missing_field",
                format!("{}: required", at(field)),
            )),
        }
    };
    let key = text("key")?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "invalid_key",
            format!(
                "{}: 1 to {MAX_KEY_LEN} bytes without control characters",
                at("key")
            ),
        ));
    }
    let wallet_text = text("wallet")?;
    let wallet = bs58::decode(wallet_text)
        .into_vec()
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(Pubkey::new_from_array)
        .ok_or_else(|| {
            ApiError::bad(
                "invalid_wallet",
                format!(
                    "{}: {wallet_text:?} is not a base58 public key",
                    at("wallet")
                ),
            )
        })?;
    let source_text = text("source")?;
    let source = SOURCES
        .iter()
        .find(|s| **s == source_text)
        .copied()
        .ok_or_else(|| {
            ApiError::bad(
                "invalid_source",
                format!(
                    "{}: {source_text:?} is not one of {}",
                    at("source"),
                    SOURCES.join(", ")
                ),
            )
        })?;
    let amount = match object.get("amount") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            ApiError::bad(
                "invalid_amount",
                format!("{}: a whole number of Sparks, at least 1", at("amount")),
            )
        })?,
        Some(_) => {
            return Err(ApiError::bad(
                "invalid_type",
                format!("{}: must be a number", at("amount")),
            ))
        }
        None => {
            return Err(ApiError::bad(
                "missing_field",
                format!("{}: required", at("amount")),
            ))
        }
    };
    if amount == 0 {
        return Err(ApiError::bad(
            "invalid_amount",
            format!("{}: at least 1", at("amount")),
        ));
    }
    if amount > max_amount {
        return Err(ApiError::bad(
            "amount_over_cap",
            format!(
                "{}: {amount} is over the program's limit of {max_amount} per award",
                at("amount")
            ),
        ));
    }
    let reference = match object.get("reference") {
        None | Some(Value::Null) => [0u8; 32],
        Some(Value::String(s)) => hex::decode(s)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| {
                ApiError::bad(
                    "invalid_reference",
                    format!("{}: 32 bytes as 64 hex digits", at("reference")),
                )
            })?,
        Some(_) => {
            return Err(ApiError::bad(
                "invalid_type",
                format!("{}: must be a string", at("reference")),
            ))
        }
    };
    Ok(AwardRequest {
        key: key.to_owned(),
        wallet,
        source,
        amount,
        reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(body: Value) -> &'static str {
        match parse_body(&body, 1_000) {
            Err(ApiError::BadRequest(code, _)) => code,
            other => panic!("{other:?}"),
        }
    }

    fn wallet() -> String {
        Pubkey::new_unique().to_string()
    }

    #[test]
    fn one_or_many_requests_parse() {
        let one = json!({"key": "t-1", "wallet": wallet(), "source": "trading", "amount": 40});
        assert_eq!(parse_body(&one, 1_000).unwrap().len(), 1);
        let many = json!([one.clone(), one]);
        assert_eq!(parse_body(&many, 1_000).unwrap().len(), 2);
    }

    #[test]
    fn each_bad_field_has_its_code() {
        let w = wallet();
        assert_eq!(code(json!("x")), "invalid_body");
        assert_eq!(code(json!([])), "empty_batch");
        assert_eq!(code(json!([1])), "invalid_body");
        assert_eq!(
            code(json!({"key": "k", "wallet": w, "source": "trading", "amount": 1, "x": 1})),
            "unknown_field"
        );
        assert_eq!(
            code(json!({"wallet": w, "source": "trading", "amount": 1})),
            "missing_field"
        );
        assert_eq!(
            code(json!({"key": "", "wallet": w, "source": "trading", "amount": 1})),
            "invalid_key"
        );
        assert_eq!(
            code(json!({"key": "k", "wallet": "nope", "source": "trading", "amount": 1})),
            "invalid_wallet"
        );
        assert_eq!(
            code(json!({"key": "k", "wallet": w, "source": "gift", "amount": 1})),
            "invalid_source"
        );
        assert_eq!(
            code(json!({"key": "k", "wallet": w, "source": "trading", "amount": 0})),
            "invalid_amount"
        );
        assert_eq!(
            code(json!({"key": "k", "wallet": w, "source": "trading", "amount": -3})),
            "invalid_amount"
        );
        assert_eq!(
            code(json!({"key": "k", "wallet": w, "source": "trading", "amount": "3"})),
            "invalid_type"
        );
        assert_eq!(
            code(json!({"key": "k", "wallet": w, "source": "trading", "amount": 1001})),
            "amount_over_cap"
        );
        assert_eq!(
            code(
                json!({"key": "k", "wallet": w, "source": "trading", "amount": 1, "reference": "ab"})
            ),
            "invalid_reference"
        );
        let many: Vec<Value> = (0..=MAX_BATCH).map(|_| json!({})).collect();
        assert_eq!(code(Value::Array(many)), "batch_too_large");
    }

    #[test]
    fn the_body_digest_changes_with_every_field() {
        let base = parse_body(
            &json!({"key": "k", "wallet": wallet(), "source": "trading", "amount": 5}),
            1_000,
        )
        .unwrap()
        .remove(0);
        let mut other = base.clone();
        other.amount = 6;
        assert_ne!(base.body_digest(), other.body_digest());
        let mut other = base.clone();
        other.reference[0] = 1;
        assert_ne!(base.body_digest(), other.body_digest());
        assert_eq!(base.body_digest(), base.clone().body_digest());
    }
}
