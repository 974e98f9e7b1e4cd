//! award, revoke, referrer.

use serde_json::{json, Value};
use solana_signer::Signer;
use sparks_client::instructions as ix;

use super::{parse_source, reference_bytes, views};
use crate::args::{AwardArgs, ReferrerCommand, RevokeArgs};
use crate::context::Context;

pub async fn award(ctx: &Context, args: AwardArgs) -> anyhow::Result<Value> {
    let issuer = ctx.keypair()?;
    let source = parse_source(&args.source)?;
    let signature = ctx
        .rpc
        .award(
            &issuer,
            &args.wallet,
            source,
            args.amount,
            reference_bytes(&args.reference),
        )
        .await?;
    let account = ctx.rpc.spark(&args.wallet).await?;
    Ok(json!({ "signature": signature.to_string(), "account": account.as_ref().map(views::spark) }))
}

pub async fn revoke(ctx: &Context, args: RevokeArgs) -> anyhow::Result<Value> {
    let admin = ctx.keypair()?;
    let instruction = ix::revoke(&admin.pubkey(), &args.wallet, args.amount, args.reason);
    let signature = ctx.rpc.send(&[instruction], &admin, &[]).await?;
    let account = ctx.rpc.spark(&args.wallet).await?;
    Ok(json!({ "signature": signature.to_string(), "account": account.as_ref().map(views::spark) }))
}

pub async fn referrer(ctx: &Context, command: ReferrerCommand) -> anyhow::Result<Value> {
    let ReferrerCommand::Set { referrer } = command;
    let invitee = ctx.keypair()?;
    let instruction = ix::set_referrer(&invitee.pubkey(), &invitee.pubkey(), &referrer);
    let signature = ctx.rpc.send(&[instruction], &invitee, &[]).await?;
    Ok(
        json!({ "signature": signature.to_string(), "invitee": invitee.pubkey().to_string(), "referrer": referrer.to_string() }),
    )
}
