//! API errors: a status and a JSON body `{error, message}`. Bad input is a
//! 4xx naming what was wrong; only a failure on our side is a 5xx.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::json::Json;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_wallet`.
    pub error: &'static str,
    /// What was wrong, for a human.
    pub message: String,
}

/// Clone: one failed query answers every lookup coalesced into it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{1}")]
    NotFound(&'static str, String),
    #[error("database: {0}")]
    Database(Arc<sqlx::Error>),
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest(code, message.into())
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound(code, message.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(Arc::new(error))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, message) = match self {
            Self::BadRequest(code, message) => (StatusCode::BAD_REQUEST, code, message),
            Self::NotFound(code, message) => (StatusCode::NOT_FOUND, code, message),
            Self::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
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
