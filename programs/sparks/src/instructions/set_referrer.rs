use anchor_lang::prelude::*;

use crate::account_io::{load_or_create_spark, store};
use crate::error::SparksError;
use crate::events::ReferrerSet;
use crate::state::{Config, SparkAccount};

/// The invitee names its referrer, once. Both SparkAccounts are created if
/// missing, rent paid by `payer` (the app may sponsor it). Refused while the
/// program is paused.
///
/// Accounts: `[signer]` invitee, `[writable, signer]` payer, config,
/// `[writable]` invitee SparkAccount, referrer wallet, `[writable]` referrer
/// SparkAccount, system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct SetReferrer<'info> {
    pub invitee: Signer<'info>,
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    /// CHECK: created or loaded by hand; address fixed by seeds.
    #[account(mut, seeds = [SparkAccount::SEED, invitee.key().as_ref()], bump)]
    pub invitee_spark: UncheckedAccount<'info>,
    /// CHECK: any wallet may refer; checked against the invitee below.
    pub referrer: UncheckedAccount<'info>,
    /// CHECK: created or loaded by hand; address fixed by seeds.
    #[account(mut, seeds = [SparkAccount::SEED, referrer.key().as_ref()], bump)]
    pub referrer_spark: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_set_referrer(ctx: Context<SetReferrer>) -> Result<()> {
    require!(!ctx.accounts.config.paused, SparksError::Paused);

    // Accounts.
    let invitee_key = ctx.accounts.invitee.key();
    let referrer_key = ctx.accounts.referrer.key();
    require_keys_neq!(invitee_key, referrer_key, SparksError::SelfReferral);
    let payer = ctx.accounts.payer.to_account_info();
    let (mut invitee, _) = load_or_create_spark(
        &payer,
        &ctx.accounts.invitee_spark,
        invitee_key,
        ctx.bumps.invitee_spark,
    )?;
    // Guard before creating the referrer's account, so a refusal creates nothing.
    require!(invitee.referrer.is_none(), SparksError::ReferrerAlreadySet);
    let (mut referrer, _) = load_or_create_spark(
        &payer,
        &ctx.accounts.referrer_spark,
        referrer_key,
        ctx.bumps.referrer_spark,
    )?;

    // Guards.
    require!(
        referrer.referrer != Some(invitee_key),
        SparksError::ReferralCycle
    );

    // State change.
    invitee.referrer = Some(referrer_key);
    invitee.bump_seq()?;
    referrer.invitee_count = referrer
        .invitee_count
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    referrer.bump_seq()?;
    store(&ctx.accounts.invitee_spark, &invitee)?;
    store(&ctx.accounts.referrer_spark, &referrer)?;
    emit_cpi!(ReferrerSet { invitee, referrer });
    Ok(())
}
