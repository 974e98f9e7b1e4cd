//! award, revoke, referrer.

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use solana_signer::Signer;
use sparks_client::instructions as ix;
use sparks_client::rpc::AwardError;

use super::views;
use crate::args::{AwardArgs, AwardIdsCommand, ReferrerCommand, RevokeArgs};
use crate::context::Context;
use crate::parse::{parse_source, reference_bytes, unix_now};

pub async fn award(ctx: &Context, args: AwardArgs) -> anyhow::Result<Value> {
    let issuer = ctx.keypair()?;
    let source = parse_source(&args.source)?;
    let reference = reference_bytes(&args.reference);
    let award_id = match args.award_id {
        Some(id) => id,
        None => ctx.reserve_award_ids(&issuer.pubkey(), 1).await?,
    };
    // Said before sending, so a run killed half way leaves the id to retry with.
    eprintln!("award id {award_id}");
    let outcome = ctx
        .rpc
        .award_with_id(
            &issuer,
            &args.wallet,
            source,
            args.amount,
            reference,
            award_id,
        )
        .await;
    let signature = match outcome {
        Ok(signature) => signature,
        Err(AwardError::UsedBeforeSent { .. }) if args.award_id.is_some() => bail!(
            "award id {award_id} was used already (by an earlier run of this award, or by \
             another award): nothing was paid now"
        ),
        Err(AwardError::UsedBeforeSent { .. }) => bail!(
            "award id {award_id} was used by another sender with this issuer key: nothing was \
             paid now; run one sender per issuer key"
        ),
        Err(AwardError::Refused { error, .. }) => {
            // It can never land now: void the id so the issuer's window
            // does not stay pinned on it.
            let void = ix::void_award_ids(&issuer.pubkey(), award_id, 1);
            let voided = match ctx.rpc.send(&[void], &issuer, &[]).await {
                Ok(_) => "voided".to_string(),
                Err(e) => {
                    format!("not voided ({e}): void it with `sparks award-ids void {award_id}`")
                }
            };
            return Err(anyhow::Error::new(error).context(format!(
                "award id {award_id} was refused; nothing was paid; the id is {voided}"
            )));
        }
        Err(AwardError::Unresolved { error, .. }) => {
            return Err(anyhow::Error::new(error).context(format!(
                "award id {award_id}: outcome unknown; run again with --award-id {award_id}: \
                 it never pays twice"
            )))
        }
    };
    let account = ctx.rpc.spark(&args.wallet).await?;
    Ok(json!({
        "signature": signature.to_string(),
        "award_id": award_id,
        "account": account.as_ref().map(views::spark),
    }))
}

pub async fn award_ids(ctx: &Context, command: AwardIdsCommand) -> anyhow::Result<Value> {
    let issuer = ctx.keypair()?;
    match command {
        AwardIdsCommand::Show => {
            let state = ctx
                .rpc
                .issuer(&issuer.pubkey())
                .await?
                .with_context(|| format!("{} is not a registered issuer", issuer.pubkey()))?;
            Ok(views::issuer(&state, unix_now()))
        }
        AwardIdsCommand::Void { first, count } => {
            let instruction = ix::void_award_ids(&issuer.pubkey(), first, count);
            let signature = ctx.rpc.send(&[instruction], &issuer, &[]).await?;
            Ok(json!({
                "signature": signature.to_string(),
                "voided": { "first": first, "count": count },
            }))
        }
    }
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
