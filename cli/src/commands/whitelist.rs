//! whitelist create | update | grant | join | show.

use anyhow::Context as _;
use serde_json::{json, Value};
use solana_signer::Signer;
use sparks::instructions::WhitelistTerms;
use sparks::state::{Whitelist, WhitelistEntry};
use sparks_client::{instructions as ix, pda};

use super::views;
use crate::args::{WhitelistCommand, WhitelistTermsArgs};
use crate::context::Context;

fn terms(args: WhitelistTermsArgs) -> WhitelistTerms {
    WhitelistTerms {
        consumer: args.consumer,
        capacity: args.capacity,
        spots_per_wallet: args.spots_per_wallet,
        min_lifetime_sparks: args.min_lifetime_sparks,
        starts_at: args.starts_at.unwrap_or(0),
        ends_at: args.ends_at.unwrap_or(i64::MAX),
    }
}

pub async fn whitelist(ctx: &Context, command: WhitelistCommand) -> anyhow::Result<Value> {
    match command {
        WhitelistCommand::Create {
            id,
            terms: args,
            admin: whitelist_admin,
        } => {
            let admin = ctx.keypair()?;
            let whitelist_admin = whitelist_admin.unwrap_or(admin.pubkey());
            let instruction =
                ix::create_whitelist(&admin.pubkey(), id, &whitelist_admin, terms(args));
            let signature = ctx.rpc.send(&[instruction], &admin, &[]).await?;
            let mut out = json!({ "signature": signature.to_string(), "whitelist": pda::whitelist(id).to_string() });
            if whitelist_admin != admin.pubkey() {
                // Named, not yet admin: it accepts first.
                out["pending_admin"] = json!(whitelist_admin.to_string());
            }
            Ok(out)
        }
        WhitelistCommand::Update {
            id,
            terms: args,
            active,
        } => {
            let admin = ctx.keypair()?;
            let instruction = ix::update_whitelist(&admin.pubkey(), id, terms(args), active);
            let signature = ctx.rpc.send(&[instruction], &admin, &[]).await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
        WhitelistCommand::ProposeAdmin { id, new_admin } => {
            let new_admin =
                crate::args::parse_optional_pubkey(&new_admin).map_err(anyhow::Error::msg)?;
            let admin = ctx.keypair()?;
            let instruction = ix::propose_whitelist_admin(&admin.pubkey(), id, new_admin);
            let signature = ctx.rpc.send(&[instruction], &admin, &[]).await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
        WhitelistCommand::AcceptAdmin { id } => {
            let new_admin = ctx.keypair()?;
            let instruction = ix::accept_whitelist_admin(&new_admin.pubkey(), id);
            let signature = ctx.rpc.send(&[instruction], &new_admin, &[]).await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
        WhitelistCommand::Grant { id, wallet, spots } => {
            let admin = ctx.keypair()?;
            let signature = ctx
                .rpc
                .send(
                    &[ix::grant_whitelist(&admin.pubkey(), id, &wallet, spots)],
                    &admin,
                    &[],
                )
                .await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
        WhitelistCommand::Join { id } => {
            let owner = ctx.keypair()?;
            let signature = ctx
                .rpc
                .send(
                    &[ix::join_whitelist(&owner.pubkey(), &owner.pubkey(), id)],
                    &owner,
                    &[],
                )
                .await?;
            Ok(json!({ "signature": signature.to_string() }))
        }
        WhitelistCommand::Show { id, wallet } => {
            let address = pda::whitelist(id);
            let whitelist: Whitelist = ctx
                .rpc
                .fetch(&address, "Whitelist")
                .await?
                .with_context(|| format!("no whitelist {id}"))?;
            let mut view = views::whitelist(&whitelist);
            if let Some(wallet) = wallet {
                let entry: Option<WhitelistEntry> = ctx
                    .rpc
                    .fetch(&pda::whitelist_entry(&address, &wallet), "WhitelistEntry")
                    .await?;
                view["entry"] = match entry {
                    Some(entry) => views::entry(&entry),
                    None => {
                        json!({ "wallet": wallet.to_string(), "spots_granted": 0, "spots_used": 0, "spots_left": 0 })
                    }
                };
            }
            Ok(view)
        }
    }
}
