use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::PerkUpdated;
use crate::instructions::create_perk::validate_terms;
use crate::state::{quantity, Config, Perk};

/// Everything about a perk an admin may change later; kind and whitelist are fixed.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct UpdatePerkParams {
    pub cost: u64,
    pub max_supply: u64,
    pub per_wallet_limit: u32,
    pub starts_at: i64,
    pub ends_at: i64,
    pub active: bool,
    // Read without trusting its length (see `read_uri`); the IDL build does
    // not take the attribute, and the wire format is a string either way.
    #[cfg_attr(
        not(feature = "idl-build"),
        borsh(deserialize_with = "crate::state::read_uri")
    )]
    pub uri: String,
}

/// Accounts: `[signer]` admin, config, `[writable]` perk, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct UpdatePerk<'info> {
    pub admin: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Perk::SEED, &perk.id.to_le_bytes()], bump = perk.bump)]
    pub perk: Box<Account<'info, Perk>>,
}

pub fn handle_update_perk(ctx: Context<UpdatePerk>, params: UpdatePerkParams) -> Result<()> {
    // Guards.
    validate_terms(params.starts_at, params.ends_at, &params.uri)?;
    quantity(params.cost)?;
    quantity(params.max_supply)?;
    let perk = &mut ctx.accounts.perk;
    require!(
        params.max_supply == 0 || params.max_supply >= perk.claimed,
        SparksError::LimitBelowUsage
    );

    // State change.
    perk.cost = params.cost;
    perk.max_supply = params.max_supply;
    perk.per_wallet_limit = params.per_wallet_limit;
    perk.starts_at = params.starts_at;
    perk.ends_at = params.ends_at;
    perk.active = params.active;
    perk.uri = params.uri;
    perk.seq = perk.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    let perk = Perk::clone(perk);
    emit_cpi!(PerkUpdated { perk });
    Ok(())
}
