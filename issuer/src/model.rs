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
/// The largest amount a request may carry: 2^53 - 1, the largest integer
/// every JSON reader (JavaScript's numbers among them) reads exactly.
pub const MAX_JSON_AMOUNT: u64 = (1 << 53) - 1;

/// An amount as JSON writes a whole number: `5` or, as JSON Schema's
/// integers include it, `5.0`. A number with a fraction is read as the
/// parser's double, so a fraction below its precision (`1.0000000000000001`)
/// reads as the whole number it rounds to; whole numbers up to 2^53 - 1 are
/// exact.
fn whole_amount(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        let value = n.as_f64()?;
        (value.fract() == 0.0 && (0.0..=MAX_JSON_AMOUNT as f64).contains(&value))
            .then_some(value as u64)
    })
}
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

/// The body of `POST /v1/awards` as the API documents it: one award
/// request, or an array of 1 to 1,000.
#[allow(dead_code)]
#[derive(ToSchema)]
#[serde(untagged)]
pub enum AwardRequests {
    One(AwardRequestBody),
    Many(AwardBatch),
}

/// 1 to 1,000 award requests, landed as one call.
#[allow(dead_code)]
pub struct AwardBatch(Vec<AwardRequestBody>);

// By hand: utoipa's derive takes no item bounds on a newtype.
impl utoipa::PartialSchema for AwardBatch {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(utoipa::openapi::Ref::from_schema_name("AwardRequestBody"))
            .min_items(Some(1))
            .max_items(Some(MAX_BATCH))
            .description(Some(
                "1 to 1,000 award requests, accepted or refused together",
            ))
            .into()
    }
}

impl ToSchema for AwardBatch {}

/// One award request as the API documents it. A field not listed here is
/// refused.
#[allow(dead_code)]
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardRequestBody {
    /// The app's idempotency key (a trade id), unique per issuer: sent
    /// again, it answers the first request; with another body, 409.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$"
    )]
    pub key: String,
    /// The recipient, a base58 public key.
    #[schema(pattern = "^[1-9A-HJ-NP-Za-km-z]{32,44}$")]
    pub wallet: String,
    #[schema(pattern = "^(trading|subscription|campaign|referral)$")]
    pub source: String,
    /// Sparks, from 1 to 2^53 - 1, and at most the program's limit per
    /// award (the Config's `max_award_per_ix`; above it: 400 `amount_over_cap`).
    #[schema(minimum = 1, maximum = 9007199254740991_u64)]
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
    // Characters, not bytes, as JSON Schema's maxLength counts them.
    let length = key.chars().count();
    if length == 0 || length > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "invalid_key",
            format!(
                "{}: 1 to {MAX_KEY_LEN} characters, none of them a control character",
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
        Some(Value::Number(n)) => whole_amount(n).ok_or_else(|| {
            ApiError::bad(
                "invalid_amount",
                format!(
                    "{}: a whole number of Sparks, from 1 to {MAX_JSON_AMOUNT}",
                    at("amount")
                ),
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
            format!("{}: from 1 to {MAX_JSON_AMOUNT}", at("amount")),
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
    if amount > MAX_JSON_AMOUNT {
        return Err(ApiError::bad(
            "invalid_amount",
            format!("{}: from 1 to {MAX_JSON_AMOUNT}", at("amount")),
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

    fn bad_code(error: ApiError) -> &'static str {
        match error {
            ApiError::BadRequest(code, _) => code,
            other => panic!("{other:?}"),
        }
    }

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
    fn amounts_and_keys_are_read_as_the_schema_states_them() {
        let w = wallet();
        let amount = |amount: Value| {
            parse_body(
                &json!({"key": "k", "wallet": w, "source": "trading", "amount": amount}),
                u64::MAX,
            )
            .map(|requests| requests[0].amount)
            .map_err(bad_code)
        };
        // JSON Schema's integers include 5.0.
        assert_eq!(amount(json!(5.0)), Ok(5));
        assert_eq!(amount(json!(5.5)), Err("invalid_amount"));
        assert_eq!(amount(json!(MAX_JSON_AMOUNT)), Ok(MAX_JSON_AMOUNT));
        assert_eq!(amount(json!(MAX_JSON_AMOUNT + 1)), Err("invalid_amount"));
        assert_eq!(amount(json!(1e300)), Err("invalid_amount"));
        // maxLength counts characters: 128 of them, whatever their bytes.
        let key = |key: String| {
            parse_body(
                &json!({"key": key, "wallet": w, "source": "trading", "amount": 1}),
                1_000,
            )
            .map(|_| ())
            .map_err(bad_code)
        };
        assert_eq!(key("é".repeat(128)), Ok(()));
        assert_eq!(key("é".repeat(129)), Err("invalid_key"));
        assert_eq!(key("a\u{85}b".into()), Err("invalid_key"));
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
