use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::AwardIdsVoided;
use crate::state::Issuer;

/// The issuer gives up award ids that never paid (a request it cancelled, a
/// transaction it will not send again), so its window can move past them.
/// All or nothing: refused with `AwardIdUsed` if any of them was paid, so a
/// success proves that none of them ever paid, or ever will.
///
/// Accounts: `[signer]` issuer authority, `[writable]` issuer PDA, event
/// authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct VoidAwardIds<'info> {
    pub authority: Signer<'info>,
    #[account(mut, seeds = [Issuer::SEED, authority.key().as_ref()], bump = issuer.bump)]
    pub issuer: Box<Account<'info, Issuer>>,
}

pub fn handle_void_award_ids(
    ctx: Context<VoidAwardIds>,
    first_award_id: u64,
    count: u16,
) -> Result<()> {
    require!(count > 0, SparksError::ZeroValue);
    let issuer = &mut ctx.accounts.issuer;
    issuer.use_award_ids(first_award_id, u64::from(count))?;
    let event = AwardIdsVoided {
        issuer: issuer.authority,
        first_award_id,
        count,
        award_id_floor: issuer.award_id_floor,
    };
    emit_cpi!(event);
    Ok(())
}
