//! One module per command group; `run` dispatches.

mod account;
mod admin;
mod award;
mod award_batch;
mod keys;
mod perk;
mod whitelist;

pub mod views;

use crate::args::{Cli, Command};
use crate::context::Context;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::new(&cli)?;
    let result = match cli.command {
        Command::Keygen { outfile, force } => keys::keygen(&ctx, outfile, force)?,
        Command::Address => keys::address(&ctx)?,
        Command::Init(args) => admin::init(&ctx, args).await?,
        Command::Config(command) => admin::config(&ctx, command).await?,
        Command::Pause => admin::set_paused(&ctx, true).await?,
        Command::Unpause => admin::set_paused(&ctx, false).await?,
        Command::Admin(command) => admin::admin(&ctx, command).await?,
        Command::Issuer(command) => admin::issuer(&ctx, command).await?,
        Command::Award(args) => award::award(&ctx, args).await?,
        Command::AwardBatch(args) => award_batch::award_batch(&ctx, args).await?,
        Command::AwardIds(command) => award::award_ids(&ctx, command).await?,
        Command::Revoke(args) => award::revoke(&ctx, args).await?,
        Command::Referrer(command) => award::referrer(&ctx, command).await?,
        Command::Perk(command) => perk::perk(&ctx, command).await?,
        Command::Whitelist(command) => whitelist::whitelist(&ctx, command).await?,
        Command::Account(command) => account::account(&ctx, command).await?,
    };
    crate::output::print(ctx.output, &result);
    Ok(())
}
