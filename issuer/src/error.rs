//! The service's errors. The API's: a status and a JSON body
//! `{error, message}`; bad input is a 4xx naming what was wrong, only a
//! failure on our side is a 5xx. The worker's and its lookup tables': what
//! stops a round (the store, the node, building a transaction).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_wallet`.
    pub error: &'static str,
    /// What was wrong, for a human.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{1}")]
    NotFound(&'static str, String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store: {0}")]
    Store(String),
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest(code, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, message) = match self {
            Self::BadRequest(code, message) => (StatusCode::BAD_REQUEST, code, message),
            Self::Unauthorized(message) => (StatusCode::UNAUTHORIZED, "unauthorized", message),
            Self::Forbidden(message) => (StatusCode::FORBIDDEN, "forbidden", message),
            Self::NotFound(code, message) => (StatusCode::NOT_FOUND, code, message),
            Self::Conflict(message) => (StatusCode::CONFLICT, "key_conflict", message),
            Self::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message),
            Self::Store(message) => {
                tracing::error!(%message, "store error serving a request");
                (StatusCode::SERVICE_UNAVAILABLE, "store_error", message)
            }
            Self::Database(error) => {
                tracing::error!(%error, "database error serving a request");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database could not answer; try again".to_owned(),
                )
            }
        };
        (status, Json(ErrorBody { error, message })).into_response()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Rpc(#[from] sparks_client::rpc::RpcError),
    #[error("RPC: {0}")]
    Client(#[from] Box<solana_client::client_error::ClientError>),
    #[error("building a transaction: {0}")]
    Build(String),
}
