use anchor_lang::prelude::*;

use crate::account_io::{create_pda_account, is_uninitialized, load, space_of, store};
use crate::constants::MIN_ISSUER_PERIOD_SECS;
use crate::error::SparksError;
use crate::events::IssuerUpserted;
use crate::state::{quantity, Config, Issuer, Source};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuerParams {
    /// Bit set of [`Source::bit`].
    pub allowed_sources: u8,
    pub cap_per_period: u64,
    pub period_secs: u32,
}

/// Registers an issuer key or changes its rights; (re)activates it. What it
/// minted within its cap window stays charged (even across a new period
/// length), and its award ids stay used, so re-upserting resets neither.
///
/// Accounts: `[writable, signer]` admin (pays rent), config, issuer authority,
/// `[writable]` issuer PDA, system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct UpsertIssuer<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
    /// CHECK: any key may be an issuer; it signs its awards.
    pub authority: UncheckedAccount<'info>,
    /// CHECK: created or loaded by hand (see `account_io`); address fixed by seeds.
    #[account(mut, seeds = [Issuer::SEED, authority.key().as_ref()], bump)]
    pub issuer: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_upsert_issuer(ctx: Context<UpsertIssuer>, params: IssuerParams) -> Result<()> {
    // Guards.
    require!(
        params.allowed_sources & !Source::ALL_BITS == 0,
        SparksError::SourceNotAllowed
    );
    require!(params.cap_per_period > 0, SparksError::ZeroValue);
    quantity(params.cap_per_period)?;
    require!(
        params.period_secs >= MIN_ISSUER_PERIOD_SECS,
        SparksError::PeriodTooShort
    );

    // State change.
    let now = Clock::get()?.unix_timestamp;
    let info = &ctx.accounts.issuer;
    let mut issuer = if is_uninitialized(info) {
        let bump = ctx.bumps.issuer;
        let authority = ctx.accounts.authority.key();
        create_pda_account(
            &ctx.accounts.admin,
            info,
            space_of(Issuer::INIT_SPACE),
            &[Issuer::SEED, authority.as_ref(), &[bump]],
        )?;
        Issuer::new(authority, bump)
    } else {
        load::<Issuer>(info)?
    };
    issuer.allowed_sources = params.allowed_sources;
    issuer.cap_per_period = params.cap_per_period;
    issuer.set_period(params.period_secs, now);
    issuer.active = true;
    issuer.seq = issuer.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    store(info, &issuer)?;
    emit_cpi!(IssuerUpserted { issuer });
    Ok(())
}
