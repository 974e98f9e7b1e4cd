//! What operators and the page ask about the service itself: its configuration and health.

use axum::extract::State;

use super::*;
use crate::api::model::*;
use crate::api::AppState;

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, `::1`).
fn is_loopback_url(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[utoipa::path(get, path = "/v1/config", tag = "operations",
    responses((status = 200, body = ClientConfig)))]
pub async fn config(State(app): State<AppState>) -> Api<ClientConfig> {
    let config = &app.config;
    Ok(Json(ClientConfig {
        program_id: config.program_id.clone(),
        // The indexer's own URL may carry a provider's key: it is offered
        // only when it points at this machine (a local chain).
        rpc_url: config
            .public_rpc_url
            .clone()
            .or_else(|| config.rpc_url.clone().filter(|url| is_loopback_url(url))),
        cluster: config.cluster.clone(),
        max_lag_seconds: config.max_lag_seconds,
    }))
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = crate::api::error::ErrorBody)))]
pub async fn health(State(app): State<AppState>) -> Api<Health> {
    let cursor = sqlx::query!(
        "SELECT slot, caught_up_slot, finalized_slot,
                extract(epoch FROM now() - caught_up_at)::float8 AS lag_seconds
         FROM cursor"
    )
    .fetch_one(&app.pool)
    .await
    .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?;
    let tip = app.chain_tip().await;
    let lag_slots = tip.map(|tip| (tip as i64 - cursor.caught_up_slot).max(0));
    if let Some(lag) = lag_slots {
        metrics::gauge!("sparks_indexing_lag_slots").set(lag as f64);
    }
    if let Some(lag) = cursor.lag_seconds {
        metrics::gauge!("sparks_indexing_lag_seconds").set(lag);
    }
    let lagging = cursor
        .lag_seconds
        .is_none_or(|s| s > app.config.max_lag_seconds);
    let webhooks = crate::webhooks::subscriptions::stats(&app.pool)
        .await
        .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?
        .into_iter()
        .map(|s| WebhookHealth {
            subscription: s.id,
            state: if s.disabled { "disabled" } else { "active" },
            disabled_reason: s.disabled_reason,
            pending: s.pending,
            retrying: s.retrying,
            dead: s.dead,
            oldest_pending_seconds: s.oldest_pending_seconds,
        })
        .collect();
    Ok(Json(Health {
        webhooks,
        status: if lagging { "lagging" } else { "ok" },
        database: true,
        last_indexed_slot: cursor.slot,
        caught_up_slot: cursor.caught_up_slot,
        finalized_slot: cursor.finalized_slot,
        lag_slots,
        lag_seconds: cursor.lag_seconds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_offered_as_the_public_rpc_url() {
        for url in [
            "http://127.0.0.1:8899",
            "http://localhost:8899/",
            "http://[::1]:8899",
            "http://127.0.0.2",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://mainnet.helius-rpc.com/?api-key=secret",
            "https://api.devnet.solana.com",
            "http://127.0.0.1.example.com",
            "http://user@10.0.0.1:8899",
            "127.0.0.1:8899",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }
}
