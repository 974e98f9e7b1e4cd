//! A real HTTP receiver for webhook tests: records every request (headers
//! and body, as sent), answers as scripted (ok, 500, slow, 429 with
//! Retry-After, 410, or not at all), and applies each `webhook-id`'s effect
//! once, the way a receiver deduplicating on it does.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;

/// How the receiver answers the next requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    Error500,
    /// Answers after this long (past the sender's timeout).
    Slow(Duration),
    /// 429 with `Retry-After` in seconds.
    TooMany(u64),
    Gone,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Shared {
    mode: Mutex<Option<Mode>>,
    received: Mutex<Vec<Received>>,
    /// Each id's effect, applied once: (id, body) in the order applied.
    applied: Mutex<Vec<(String, String)>>,
    seen: Mutex<HashSet<String>>,
}

pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let mode = shared.mode.lock().unwrap().unwrap_or(Mode::Ok);
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let status = match mode {
        Mode::Ok => StatusCode::NO_CONTENT,
        Mode::Error500 => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
        Mode::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        Mode::Gone => StatusCode::GONE,
    };
    let received = Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        status: status.as_u16(),
    };
    shared.received.lock().unwrap().push(received.clone());
    if status.is_success() && shared.seen.lock().unwrap().insert(received.id.clone()) {
        shared
            .applied
            .lock()
            .unwrap()
            .push((received.id, received.body));
    }
    match mode {
        Mode::TooMany(seconds) => (status, [("retry-after", seconds.to_string())]).into_response(),
        _ => status.into_response(),
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// A URL on a free port nobody listens on yet (the receiver is down);
    /// [`Receiver::start_on`] brings it up there.
    pub fn down() -> (String, u16) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        (format!("http://127.0.0.1:{port}/hooks"), port)
    }

    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        Self::serve(listener)
    }

    fn serve(listener: TcpListener) -> Self {
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/hooks", post(handle))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = Some(mode);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Effects applied, once per `webhook-id`, in the order applied.
    pub fn applied(&self) -> Vec<(String, String)> {
        self.shared.applied.lock().unwrap().clone()
    }
}
