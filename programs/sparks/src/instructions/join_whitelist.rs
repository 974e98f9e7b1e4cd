use anchor_lang::prelude::*;

use crate::account_io::store;
use crate::error::SparksError;
use crate::events::WhitelistSpotGranted;
use crate::granting::{grant_spots, load_or_create_entry};
use crate::state::{Config, GrantVia, SparkAccount, Whitelist, WhitelistEntry};

/// A wallet whose Sparks earned, net of revocations, reach the whitelist's
/// threshold takes one spot, once. Nothing is spent: joining rewards past
/// activity, and Sparks clawed back for farming do not count.
///
/// Accounts: `[signer]` owner, `[writable, signer]` payer, config, `[writable]`
/// whitelist, owner's SparkAccount, `[writable]` entry PDA, system program,
/// event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct JoinWhitelist<'info> {
    pub owner: Signer<'info>,
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Whitelist::SEED, &whitelist.id.to_le_bytes()], bump = whitelist.bump)]
    pub whitelist: Box<Account<'info, Whitelist>>,
    #[account(seeds = [SparkAccount::SEED, owner.key().as_ref()], bump = spark.bump)]
    pub spark: Box<Account<'info, SparkAccount>>,
    /// CHECK: created or loaded by hand; address fixed by seeds.
    #[account(mut, seeds = [WhitelistEntry::SEED, whitelist.key().as_ref(), owner.key().as_ref()], bump)]
    pub entry: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_join_whitelist(ctx: Context<JoinWhitelist>) -> Result<()> {
    // Guards.
    require!(!ctx.accounts.config.paused, SparksError::Paused);
    let threshold = ctx.accounts.whitelist.min_lifetime_sparks;
    require!(
        threshold > 0 && ctx.accounts.spark.net_earned() >= threshold,
        SparksError::BelowJoinThreshold
    );

    // Accounts.
    let now = Clock::get()?.unix_timestamp;
    let (mut entry, is_new) = load_or_create_entry(
        &ctx.accounts.payer.to_account_info(),
        &ctx.accounts.entry,
        ctx.accounts.whitelist.key(),
        ctx.accounts.owner.key(),
        ctx.bumps.entry,
    )?;
    require!(
        entry.obtained_via & GrantVia::Join.bit() == 0,
        SparksError::AlreadyJoined
    );

    // State change.
    grant_spots(
        &mut ctx.accounts.whitelist,
        &mut entry,
        is_new,
        1,
        GrantVia::Join,
        now,
    )?;
    store(&ctx.accounts.entry, &entry)?;
    let whitelist = Whitelist::clone(&ctx.accounts.whitelist);
    emit_cpi!(WhitelistSpotGranted {
        via: GrantVia::Join,
        spots: 1,
        whitelist,
        entry,
    });
    Ok(())
}
