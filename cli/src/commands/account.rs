//! account show: balance, sources and history, read from the chain.

use serde_json::{json, Value};
use sparks_client::pda;

use super::views;
use crate::args::AccountCommand;
use crate::context::Context;

pub async fn account(ctx: &Context, command: AccountCommand) -> anyhow::Result<Value> {
    let AccountCommand::Show { wallet, limit } = command;
    let Some(account) = ctx.rpc.spark(&wallet).await? else {
        return Ok(json!({ "wallet": wallet.to_string(), "balance": 0, "history": [] }));
    };
    let history: Vec<Value> = ctx
        .rpc
        .history(&pda::spark(&wallet), limit)
        .await?
        .iter()
        .filter_map(|located| {
            let mut line = views::history_line(&located.event, &wallet)?;
            line["signature"] = json!(located.signature.to_string());
            line["slot"] = json!(located.slot);
            Some(line)
        })
        .collect();
    let mut view = views::spark(&account);
    view["history"] = Value::Array(history);
    Ok(view)
}
