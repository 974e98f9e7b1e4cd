//! The app's side of the webhooks, in miniature: a receiver that checks
//! each delivery's Standard Webhooks signature, applies each `webhook-id`
//! once, and "grants" what was redeemed (prints the Discord role, the boosted
//! post, the ticket…), so earn → redeem → fulfilled is visible in the demo.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use standardwebhooks::Webhook;

pub struct Fulfilment {
    pub url: String,
    /// Perks and spots granted (each delivery once).
    pub granted: Arc<AtomicU64>,
    secret: Arc<Mutex<Option<Webhook>>>,
}

struct Shared {
    secret: Arc<Mutex<Option<Webhook>>>,
    seen: Mutex<HashSet<String>>,
    granted: Arc<AtomicU64>,
}

impl Fulfilment {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}/sparks-webhooks", listener.local_addr()?);
        let secret = Arc::new(Mutex::new(None));
        let granted = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            secret: secret.clone(),
            seen: Mutex::new(HashSet::new()),
            granted: granted.clone(),
        });
        let app = Router::new()
            .route("/sparks-webhooks", post(receive))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            url,
            granted,
            secret,
        })
    }

    /// The subscription's secret, once `webhooks add` made it.
    pub fn set_secret(&self, secret: &str) -> Result<(), standardwebhooks::WebhookError> {
        *self.secret.lock().unwrap_or_else(|e| e.into_inner()) = Some(Webhook::new(secret)?);
        Ok(())
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let verified = {
        let secret = shared.secret.lock().unwrap_or_else(|e| e.into_inner());
        secret.as_ref().map(|hook| hook.verify(&body, &headers))
    };
    match verified {
        Some(Ok(())) => {}
        // Not signed by our subscription: refuse it (the sender retries).
        _ => return StatusCode::UNAUTHORIZED,
    }
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !shared
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id)
    {
        return StatusCode::NO_CONTENT; // a repeat: already granted
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if let Some(line) = grant(&event) {
        shared.granted.fetch_add(1, Ordering::SeqCst);
        println!("  fulfilled     : {line}");
    }
    StatusCode::NO_CONTENT
}

fn short(text: &str) -> String {
    if text.len() > 12 {
        format!("{}…{}", &text[..4], &text[text.len() - 4..])
    } else {
        text.to_owned()
    }
}

/// What the app would do for this event, in words.
fn grant(event: &Value) -> Option<String> {
    let data = &event["data"];
    let wallet = short(data["wallet"].as_str().unwrap_or("?"));
    match event["type"].as_str()? {
        "perk.redeemed" => {
            let perk = &data["perk"];
            let name = perk["uri"]
                .as_str()
                .and_then(|u| u.rsplit('/').next())
                .unwrap_or("perk");
            Some(match perk["kind"].as_str()? {
                "discord_role" => format!("Discord role \"{name}\" granted to {wallet}"),
                "traffic_boost" => format!("post boosted (\"{name}\") for {wallet}"),
                "event_ticket" => format!("ticket for \"{name}\" issued to {wallet}"),
                "plan_upgrade" => format!("plan upgraded (\"{name}\") for {wallet}"),
                "nft_whitelist" => format!("whitelist spot \"{name}\" confirmed for {wallet}"),
                _ => format!("perk \"{name}\" delivered to {wallet}"),
            })
        }
        "whitelist.spot_granted" => Some(format!(
            "whitelist #{} spot granted to {wallet} (via {})",
            data["whitelist"]["id"].as_str().unwrap_or("?"),
            data["via"].as_str().unwrap_or("?")
        )),
        "whitelist.spot_consumed" => Some(format!(
            "whitelist #{} spot used by {wallet}: NFT minted",
            data["whitelist"]["id"].as_str().unwrap_or("?")
        )),
        _ => None,
    }
}
