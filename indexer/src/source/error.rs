//! What an RPC failure means for the indexer.
//!
//! Three kinds, because each asks for a different reaction: a *transient*
//! failure (throttling, a node behind or restarting, a dropped connection)
//! is retried with backoff; a *permanent* one concerns one request only (a
//! transaction in a version this client cannot read, a block the node
//! pruned) and is recorded, not retried forever; a *fatal* one says the
//! configuration is wrong (a node without transaction history, a method or
//! parameter the endpoint refuses, an API key it rejects) and stops the
//! indexer with the node's message.

use std::time::Duration;

use solana_client::client_error::{ClientError, ClientErrorKind};
use solana_client::rpc_custom_error as code;
use solana_client::rpc_request::RpcError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Transient,
    Permanent,
    Fatal,
}

/// The JSON-RPC error code of a node's answer, if it was one.
pub fn rpc_code(error: &ClientError) -> Option<i64> {
    match error.kind() {
        ClientErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) => Some(*code),
        _ => None,
    }
}

/// JSON-RPC 2.0's own codes: the request itself is wrong.
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const PARSE_ERROR: i64 = -32700;

pub fn classify(error: &ClientError) -> ErrorClass {
    match error.kind() {
        ClientErrorKind::RpcError(RpcError::RpcResponseError { code, .. }) => match *code {
            code::JSON_RPC_SERVER_ERROR_UNSUPPORTED_TRANSACTION_VERSION
            | code::JSON_RPC_SERVER_ERROR_BLOCK_CLEANED_UP
            | code::JSON_RPC_SERVER_ERROR_SLOT_SKIPPED
            | code::JSON_RPC_SERVER_ERROR_LONG_TERM_STORAGE_SLOT_SKIPPED => ErrorClass::Permanent,
            code::JSON_RPC_SERVER_ERROR_TRANSACTION_HISTORY_NOT_AVAILABLE
            | code::JSON_RPC_SERVER_ERROR_KEY_EXCLUDED_FROM_SECONDARY_INDEX
            | INVALID_REQUEST
            | METHOD_NOT_FOUND
            | INVALID_PARAMS
            | PARSE_ERROR => ErrorClass::Fatal,
            // Block not available yet, node unhealthy or behind, minimum
            // context slot not reached, scan error, long-term storage
            // unreachable, internal error, and codes this client does not know.
            _ => ErrorClass::Transient,
        },
        ClientErrorKind::Reqwest(error) => match error.status() {
            Some(status) if status.as_u16() == 429 || status.is_server_error() => {
                ErrorClass::Transient
            }
            // 401/403: the key is refused; 404/405: not a JSON-RPC endpoint.
            Some(status) if [401, 403, 404, 405].contains(&status.as_u16()) => ErrorClass::Fatal,
            _ => ErrorClass::Transient,
        },
        // Connection errors, timeouts, an answer cut short or not yet there
        // (`null` where a value was expected).
        _ => ErrorClass::Transient,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{call} failed after retrying for {elapsed:?}: {message}")]
    Rpc {
        call: &'static str,
        elapsed: Duration,
        message: String,
    },
    /// Concerns this request only: recorded, not retried.
    #[error("{call} refused for good: {message}")]
    Permanent { call: &'static str, message: String },
    /// The endpoint or the configuration cannot work; nothing to retry.
    #[error("{call}: the node refuses this configuration: {message}")]
    Fatal { call: &'static str, message: String },
    #[error("the node returned an invalid signature {0:?}")]
    BadSignature(String),
    #[error("{0}")]
    Config(String),
    /// The listing never proved it reached the cursor (see `listing`).
    #[error(
        "the node's signature list did not reach the cursor {cursor} (slot {slot}) after \
         retrying for {elapsed:?}: {reason}. The cursor stays where it is; if this persists, \
         the node is behind or does not have that transaction (check `sparks-indexer verify`, \
         or use an archival endpoint)"
    )]
    ListingIncomplete {
        cursor: String,
        slot: u64,
        elapsed: Duration,
        reason: String,
    },
    /// The node no longer keeps the slots the cursor is in.
    #[error(
        "the node's ledger starts at slot {first_available}, after the cursor's slot {slot}: \
         it cannot list what came after the cursor. Use an archival RPC endpoint, or index a \
         slot range with `sparks-indexer backfill --from <slot> --until <slot>`"
    )]
    CursorBeforeLedger { slot: u64, first_available: u64 },
}

impl SourceError {
    pub fn class(&self) -> ErrorClass {
        match self {
            SourceError::Rpc { .. } | SourceError::ListingIncomplete { .. } => {
                ErrorClass::Transient
            }
            SourceError::Permanent { .. } | SourceError::BadSignature(_) => ErrorClass::Permanent,
            SourceError::Fatal { .. }
            | SourceError::Config(_)
            | SourceError::CursorBeforeLedger { .. } => ErrorClass::Fatal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_client::rpc_request::RpcResponseErrorData;

    fn node_error(code: i64) -> ClientError {
        ClientError::from(ClientErrorKind::RpcError(RpcError::RpcResponseError {
            code,
            message: "x".into(),
            data: RpcResponseErrorData::Empty,
        }))
    }

    #[test]
    fn node_answers_are_classified_by_code() {
        for (code, class) in [
            (-32004, ErrorClass::Transient), // block not available
            (-32005, ErrorClass::Transient), // node behind
            (-32016, ErrorClass::Transient), // min context slot not reached
            (-32603, ErrorClass::Transient), // internal error
            (-32015, ErrorClass::Permanent), // unsupported transaction version
            (-32007, ErrorClass::Permanent), // slot skipped
            (-32011, ErrorClass::Fatal),     // no transaction history on this node
            (-32602, ErrorClass::Fatal),     // invalid params (e.g. processed)
            (-32601, ErrorClass::Fatal),     // method not found
        ] {
            assert_eq!(classify(&node_error(code)), class, "code {code}");
        }
    }

    #[test]
    fn a_null_where_a_value_was_expected_is_transient() {
        let error = ClientError::from(ClientErrorKind::RpcError(RpcError::ParseError(
            "invalid type: null".into(),
        )));
        assert_eq!(classify(&error), ErrorClass::Transient);
    }
}
