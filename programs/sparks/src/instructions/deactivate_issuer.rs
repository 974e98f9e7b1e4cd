use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::IssuerDeactivated;
use crate::state::{Config, Issuer};

/// Stops an issuer from awarding (e.g. its key leaked). `upsert_issuer` reactivates.
///
/// Accounts: `[signer]` admin, config, `[writable]` issuer, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct DeactivateIssuer<'info> {
    pub admin: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Issuer::SEED, issuer.authority.as_ref()], bump = issuer.bump)]
    pub issuer: Box<Account<'info, Issuer>>,
}

pub fn handle_deactivate_issuer(ctx: Context<DeactivateIssuer>) -> Result<()> {
    let issuer = &mut ctx.accounts.issuer;
    issuer.active = false;
    issuer.seq = issuer.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    let issuer = Issuer::clone(issuer);
    emit_cpi!(IssuerDeactivated { issuer });
    Ok(())
}
