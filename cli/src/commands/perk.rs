//! perk create | update | list | redeem.

use anyhow::Context as _;
use serde_json::{json, Value};
use solana_signer::Signer;
use sparks::instructions::{CreatePerkParams, UpdatePerkParams};
use sparks::state::Perk;
use sparks_client::{instructions as ix, pda};

use super::views;
use crate::args::PerkCommand;
use crate::context::Context;
use crate::parse::parse_kind;

pub async fn perk(ctx: &Context, command: PerkCommand) -> anyhow::Result<Value> {
    match command {
        PerkCommand::Create {
            id,
            kind,
            whitelist,
            terms,
        } => {
            let admin = ctx.keypair()?;
            let params = CreatePerkParams {
                id,
                kind: parse_kind(&kind)?,
                cost: terms.cost,
                max_supply: terms.max_supply,
                per_wallet_limit: terms.per_wallet_limit,
                starts_at: terms.starts_at.unwrap_or(0),
                ends_at: terms.ends_at.unwrap_or(i64::MAX),
                uri: terms.uri,
            };
            let signature = ctx
                .rpc
                .send(
                    &[ix::create_perk(&admin.pubkey(), whitelist, params)],
                    &admin,
                    &[],
                )
                .await?;
            Ok(json!({ "signature": signature.to_string(), "perk": pda::perk(id).to_string() }))
        }
        PerkCommand::Update { id, terms, active } => {
            let admin = ctx.keypair()?;
            let current: Perk = ctx
                .rpc
                .fetch(&pda::perk(id), "Perk")
                .await?
                .with_context(|| format!("no perk {id}"))?;
            let params = UpdatePerkParams {
                cost: terms.cost,
                max_supply: terms.max_supply,
                per_wallet_limit: terms.per_wallet_limit,
                starts_at: terms.starts_at.unwrap_or(current.starts_at),
                ends_at: terms.ends_at.unwrap_or(current.ends_at),
                active,
                uri: if terms.uri.is_empty() {
                    current.uri
                } else {
                    terms.uri
                },
            };
            let signature = ctx
                .rpc
                .send(&[ix::update_perk(&admin.pubkey(), id, params)], &admin, &[])
                .await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
        PerkCommand::List => {
            let mut perks = ctx.rpc.all::<Perk>("Perk").await?;
            perks.sort_by_key(|(_, p)| p.id);
            Ok(Value::Array(
                perks.iter().map(|(_, p)| views::perk(p)).collect(),
            ))
        }
        PerkCommand::Redeem { id, max_cost } => {
            let owner = ctx.keypair()?;
            let current: Perk = ctx
                .rpc
                .fetch(&pda::perk(id), "Perk")
                .await?
                .with_context(|| format!("no perk {id}"))?;
            let whitelist_id = match current.whitelist {
                Some(address) => {
                    let whitelist: sparks::state::Whitelist = ctx
                        .rpc
                        .fetch(&address, "Whitelist")
                        .await?
                        .context("the perk's whitelist is missing")?;
                    Some(whitelist.id)
                }
                None => None,
            };
            let max_cost = max_cost.unwrap_or(current.cost);
            let instruction =
                ix::redeem_perk(&owner.pubkey(), &owner.pubkey(), id, whitelist_id, max_cost);
            let signature = ctx.rpc.send(&[instruction], &owner, &[]).await?;
            let account = ctx.rpc.spark(&owner.pubkey()).await?;
            Ok(
                json!({ "signature": signature.to_string(), "account": account.as_ref().map(views::spark) }),
            )
        }
    }
}
