//! init, config, pause/unpause, admin hand-over, issuers.

use anchor_lang::prelude::Pubkey;
use anyhow::Context as _;
use serde_json::{json, Value};
use solana_signer::Signer;
use sparks::instructions::{ConfigParams, IssuerParams};
use sparks::state::Issuer;
use sparks_client::{instructions as ix, pda};

use super::views;
use crate::args::{AdminCommand, ConfigArgs, ConfigCommand, IssuerCommand};
use crate::context::Context;
use crate::parse::{parse_sources, unix_now};

pub async fn init(ctx: &Context, args: ConfigArgs) -> anyhow::Result<Value> {
    let admin = ctx.keypair()?;
    let params = ConfigParams {
        referral_trade_share_bps: args.referral_share_bps,
        first_subscription_bonus: args.first_subscription_bonus,
        max_award_per_ix: args.max_award,
    };
    let signature = ctx
        .rpc
        .send(&[ix::initialize(&admin.pubkey(), params)], &admin, &[])
        .await?;
    Ok(
        json!({ "signature": signature.to_string(), "config": pda::config().to_string(), "admin": admin.pubkey().to_string() }),
    )
}

pub async fn config(ctx: &Context, command: ConfigCommand) -> anyhow::Result<Value> {
    let current = ctx
        .rpc
        .config()
        .await?
        .context("the Sparks program is not initialized (run `sparks init`)")?;
    match command {
        ConfigCommand::Show => Ok(views::config(&current)),
        ConfigCommand::Update {
            referral_share_bps,
            first_subscription_bonus,
            max_award,
        } => {
            let admin = ctx.keypair()?;
            let params = ConfigParams {
                referral_trade_share_bps: referral_share_bps
                    .unwrap_or(current.referral_trade_share_bps),
                first_subscription_bonus: first_subscription_bonus
                    .unwrap_or(current.first_subscription_bonus),
                max_award_per_ix: max_award.unwrap_or(current.max_award_per_ix),
            };
            let signature = ctx
                .rpc
                .send(&[ix::update_config(&admin.pubkey(), params)], &admin, &[])
                .await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
    }
}

pub async fn set_paused(ctx: &Context, paused: bool) -> anyhow::Result<Value> {
    let admin = ctx.keypair()?;
    let instruction = if paused {
        ix::pause(&admin.pubkey())
    } else {
        ix::unpause(&admin.pubkey())
    };
    let signature = ctx.rpc.send(&[instruction], &admin, &[]).await?;
    Ok(json!({ "signature": signature.to_string(), "paused": paused }))
}

pub async fn admin(ctx: &Context, command: AdminCommand) -> anyhow::Result<Value> {
    let signer = ctx.keypair()?;
    let instruction = match command {
        AdminCommand::Propose { new_admin } => {
            let new_admin =
                match new_admin.as_str() {
                    "none" => None,
                    key => Some(key.parse::<Pubkey>().map_err(|e| {
                        anyhow::anyhow!("new admin {key:?} is not a public key: {e}")
                    })?),
                };
            ix::propose_admin(&signer.pubkey(), new_admin)
        }
        AdminCommand::Accept => ix::accept_admin(&signer.pubkey()),
    };
    let signature = ctx.rpc.send(&[instruction], &signer, &[]).await?;
    Ok(json!({ "signature": signature.to_string() }))
}

pub async fn issuer(ctx: &Context, command: IssuerCommand) -> anyhow::Result<Value> {
    match command {
        IssuerCommand::Add {
            authority,
            sources,
            cap,
            period_secs,
        } => {
            let admin = ctx.keypair()?;
            let params = IssuerParams {
                allowed_sources: parse_sources(&sources)?,
                cap_per_period: cap,
                period_secs,
            };
            let signature = ctx
                .rpc
                .send(
                    &[ix::upsert_issuer(&admin.pubkey(), &authority, params)],
                    &admin,
                    &[],
                )
                .await?;
            Ok(
                json!({ "signature": signature.to_string(), "issuer": pda::issuer(&authority).to_string() }),
            )
        }
        IssuerCommand::Remove { authority } => {
            let admin = ctx.keypair()?;
            let signature = ctx
                .rpc
                .send(
                    &[ix::deactivate_issuer(&admin.pubkey(), &authority)],
                    &admin,
                    &[],
                )
                .await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
        IssuerCommand::List => {
            let mut issuers = ctx.rpc.all::<Issuer>("Issuer").await?;
            issuers.sort_by_key(|(_, i)| i.authority.to_string());
            let now = unix_now();
            Ok(Value::Array(
                issuers.iter().map(|(_, i)| views::issuer(i, now)).collect(),
            ))
        }
    }
}
