//! `sparks-indexer webhooks …`: manage the app's subscriptions.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use sparks_indexer::webhooks::subscriptions::{self, NewSubscription};

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe a URL to event types; prints its id and signing secret.
    Add(AddArgs),
    /// Every subscription with its delivery counts (`--failed`: dead-lettered deliveries).
    List {
        /// The dead-lettered deliveries instead, newest first.
        #[arg(long)]
        failed: bool,
        /// How many failed deliveries to show.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Stop delivering to a subscription (its pending deliveries wait).
    Disable {
        id: i64,
        #[arg(long, default_value = "disabled by an operator")]
        reason: String,
    },
    /// A new signing secret; the old one keeps signing too for the grace period.
    RotateSecret {
        id: i64,
        /// Hours both secrets sign.
        #[arg(long, default_value_t = 24.0)]
        grace_hours: f64,
    },
    /// Send a subscription's deliveries of a slot range again (and re-enable it).
    Replay {
        id: i64,
        #[arg(long)]
        from_slot: i64,
        #[arg(long)]
        to_slot: Option<i64>,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// Where to POST (http or https).
    #[arg(long)]
    url: String,
    /// Event types (repeatable or comma-separated): sparks.awarded, sparks.revoked,
    /// referrer.set, perk.redeemed, perk.created, perk.updated,
    /// whitelist.spot_granted, whitelist.spot_consumed.
    #[arg(long = "event", value_delimiter = ',', required = true)]
    events: Vec<String>,
    /// Only perk events of these kinds (discord_role, nft_whitelist, traffic_boost,
    /// event_ticket, plan_upgrade, custom).
    #[arg(long = "perk-kind", value_delimiter = ',')]
    perk_kinds: Vec<String>,
    /// Only perk events of these perk ids.
    #[arg(long = "perk-id", value_delimiter = ',')]
    perk_ids: Vec<i64>,
    /// Deliver at `confirmed` (rollbacks then send `*.rolled_back`) or only once `finalized`.
    #[arg(long, default_value = "confirmed")]
    commitment: String,
    /// Hours a delivery is retried before it is dead-lettered.
    #[arg(long, default_value_t = 24.0)]
    retry_hours: f64,
    /// Deliveries in flight at once to this URL.
    #[arg(long, default_value_t = 8)]
    max_in_flight: i32,
}

fn hours(h: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        h.is_finite() && h > 0.0,
        "hours must be a positive number, not {h}"
    );
    Ok(Duration::from_secs_f64(h * 3600.0))
}

pub async fn run(pool: &sqlx::PgPool, command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Add(args) => {
            let new = NewSubscription {
                url: args.url,
                event_types: args.events,
                perk_kinds: args.perk_kinds,
                perk_ids: args.perk_ids,
                commitment: args.commitment,
                retry_for: hours(args.retry_hours)?,
                max_in_flight: args.max_in_flight,
            };
            let (id, secret) = subscriptions::add(pool, &new).await?;
            println!("subscription #{id}: {}", new.url);
            println!("signing secret (shown once; verify `webhook-signature` with it): {secret}");
        }
        WebhooksCommand::List { failed: false, .. } => {
            for s in subscriptions::list(pool).await? {
                println!("{}", serde_json::to_string(&s)?);
            }
        }
        WebhooksCommand::List {
            failed: true,
            limit,
        } => {
            for d in subscriptions::failed(pool, limit).await? {
                println!("{}", serde_json::to_string(&d)?);
            }
        }
        WebhooksCommand::Disable { id, reason } => {
            subscriptions::disable(pool, id, &reason).await?;
            println!("subscription #{id} disabled");
        }
        WebhooksCommand::RotateSecret { id, grace_hours } => {
            let grace = hours(grace_hours)?;
            let secret = subscriptions::rotate_secret(pool, id, grace).await?;
            println!("subscription #{id}: new signing secret {secret}");
            println!("the previous secret also signs for {grace_hours} h");
        }
        WebhooksCommand::Replay {
            id,
            from_slot,
            to_slot,
        } => {
            let to = to_slot.unwrap_or(i64::MAX);
            anyhow::ensure!(
                from_slot <= to,
                "--from-slot {from_slot} is past --to-slot {to}"
            );
            let due = subscriptions::replay(pool, id, from_slot, to)
                .await
                .context("replaying")?;
            println!("subscription #{id}: {due} deliveries due again");
        }
    }
    Ok(())
}
