use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::SparksRevoked;
use crate::state::{Config, SparkAccount};

/// Admin clawback (fraud, wash trading, a mistaken award). Takes the
/// balance, and what was already spent as a debt later awards repay first
/// (`SparkAccount::revoke`); never more than the wallet earned in all.
///
/// Accounts: `[signer]` admin, config, `[writable]` SparkAccount,
/// event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct Revoke<'info> {
    pub admin: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [SparkAccount::SEED, spark.owner.as_ref()], bump = spark.bump)]
    pub spark: Box<Account<'info, SparkAccount>>,
}

/// `reason` is the operator's code for why (documented off-chain), kept in the event.
pub fn handle_revoke(ctx: Context<Revoke>, amount: u64, reason: u16) -> Result<()> {
    require!(amount > 0, SparksError::ZeroValue);

    let spark = &mut ctx.accounts.spark;
    spark.revoke(amount)?;
    let account = SparkAccount::clone(spark);
    let admin = ctx.accounts.admin.key();
    emit_cpi!(SparksRevoked {
        admin,
        amount,
        reason,
        account
    });
    Ok(())
}
