use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::WhitelistUpdated;
use crate::instructions::create_whitelist::WhitelistTerms;
use crate::state::Whitelist;

/// The whitelist's admin changes its terms or (de)activates it. Capacity
/// cannot drop below the spots already granted. The admin is not a term:
/// it changes in two steps (`propose_whitelist_admin`).
///
/// Accounts: `[signer]` whitelist admin, `[writable]` whitelist, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct UpdateWhitelist<'info> {
    pub admin: Signer<'info>,
    #[account(
        mut,
        seeds = [Whitelist::SEED, &whitelist.id.to_le_bytes()],
        bump = whitelist.bump,
        has_one = admin @ SparksError::Unauthorized,
    )]
    pub whitelist: Box<Account<'info, Whitelist>>,
}

pub fn handle_update_whitelist(
    ctx: Context<UpdateWhitelist>,
    terms: WhitelistTerms,
    active: bool,
) -> Result<()> {
    terms.validate()?;
    let whitelist = &mut ctx.accounts.whitelist;
    require!(
        terms.capacity >= whitelist.spots_granted,
        SparksError::LimitBelowUsage
    );

    terms.apply(whitelist);
    whitelist.active = active;
    whitelist.seq = whitelist
        .seq
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    let whitelist = Whitelist::clone(whitelist);
    emit_cpi!(WhitelistUpdated { whitelist });
    Ok(())
}
