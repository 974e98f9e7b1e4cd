//! JSON response bodies serialized straight into a `Vec<u8>`.
//!
//! axum's `Json` serializes through `bytes::buf::Writer<BytesMut>`, so every
//! token serde_json writes (a quote, a key, a comma) goes through the
//! generic `Write::write_all` loop and `BytesMut`'s capacity checks. A
//! history page is a few hundred tokens: 15.3 µs that way, 9.8 µs into a
//! `Vec<u8>` (`benches/responses.rs`), whose writer is an inlined
//! `extend_from_slice`; the finished Vec becomes the body without a copy.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Room for a summary or a default-size history page without regrowing.
const INITIAL_CAPACITY: usize = 4096;

/// A response whose body is `T` as JSON (`application/json`).
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(INITIAL_CAPACITY);
        let mut response = match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => Response::new(Body::from(body)),
            // Only a Serialize impl that fails gets here (ours do not).
            Err(error) => {
                tracing::error!(%error, "serializing a response");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"error":"internal","message":"the answer could not be serialized"}"#,
                )
                    .into_response()
            }
        };
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_body_is_the_value_as_json() {
        #[derive(Serialize)]
        struct Page {
            entries: Vec<&'static str>,
            next: Option<u64>,
        }
        let response = Json(Page {
            entries: vec!["a\"b", "c"],
            next: None,
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"entries":["a\"b","c"],"next":null}"#);
    }

    #[tokio::test]
    async fn a_value_that_cannot_be_serialized_is_a_json_500() {
        struct Broken;
        impl Serialize for Broken {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("broken"))
            }
        }
        let response = Json(Broken).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["error"], "internal");
    }
}
