use anchor_lang::prelude::*;

use crate::account_io::{create_pda_account, space_of, store};
use crate::constants::MAX_URI_LEN;
use crate::error::SparksError;
use crate::events::PerkCreated;
use crate::state::{quantity, Config, Perk, PerkKind, Whitelist};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct CreatePerkParams {
    pub id: u64,
    pub kind: PerkKind,
    pub cost: u64,
    /// 0 means unlimited.
    pub max_supply: u64,
    /// 0 means unlimited.
    pub per_wallet_limit: u32,
    pub starts_at: i64,
    pub ends_at: i64,
    // Read without trusting its length (see `read_uri`); the IDL build does
    // not take the attribute, and the wire format is a string either way.
    #[cfg_attr(
        not(feature = "idl-build"),
        borsh(deserialize_with = "crate::state::read_uri")
    )]
    pub uri: String,
}

/// Creates a perk. A NftWhitelist perk must be given its whitelist account,
/// other kinds must not.
///
/// Accounts: `[writable, signer]` admin, config, `[writable]` perk PDA,
/// optional whitelist, system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
#[instruction(params: CreatePerkParams)]
pub struct CreatePerk<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
    /// CHECK: created here through `create_pda_account`; address fixed by seeds.
    #[account(mut, seeds = [Perk::SEED, &params.id.to_le_bytes()], bump)]
    pub perk: UncheckedAccount<'info>,
    pub whitelist: Option<Box<Account<'info, Whitelist>>>,
    pub system_program: Program<'info, System>,
}

pub fn handle_create_perk(ctx: Context<CreatePerk>, params: CreatePerkParams) -> Result<()> {
    // Guards.
    validate_terms(params.starts_at, params.ends_at, &params.uri)?;
    quantity(params.id)?;
    quantity(params.cost)?;
    quantity(params.max_supply)?;
    let whitelist = ctx.accounts.whitelist.as_ref().map(|w| w.key());
    require!(
        (params.kind == PerkKind::NftWhitelist) == whitelist.is_some(),
        SparksError::PerkWhitelistMismatch
    );

    // State change.
    let bump = ctx.bumps.perk;
    create_pda_account(
        &ctx.accounts.admin,
        &ctx.accounts.perk,
        space_of(Perk::INIT_SPACE),
        &[Perk::SEED, &params.id.to_le_bytes(), &[bump]],
    )?;
    let perk = Perk {
        id: params.id,
        kind: params.kind,
        cost: params.cost,
        max_supply: params.max_supply,
        claimed: 0,
        per_wallet_limit: params.per_wallet_limit,
        starts_at: params.starts_at,
        ends_at: params.ends_at,
        active: true,
        whitelist,
        uri: params.uri,
        seq: 1,
        bump,
    };
    store(&ctx.accounts.perk, &perk)?;
    emit_cpi!(PerkCreated { perk });
    Ok(())
}

pub(crate) fn validate_terms(starts_at: i64, ends_at: i64, uri: &str) -> Result<()> {
    require!(starts_at < ends_at, SparksError::InvalidWindow);
    require!(uri.len() <= MAX_URI_LEN, SparksError::UriTooLong);
    Ok(())
}
