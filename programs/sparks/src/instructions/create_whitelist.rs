use anchor_lang::prelude::*;

use crate::account_io::{create_pda_account, space_of, store};
use crate::error::SparksError;
use crate::events::WhitelistCreated;
use crate::state::{quantity, Config, Whitelist};

/// The terms of a whitelist, set at creation and changeable by its admin.
/// The admin itself changes in two steps (`propose_whitelist_admin`).
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhitelistTerms {
    /// The mint program's signer PDA allowed to consume spots.
    pub consumer: Pubkey,
    pub capacity: u32,
    pub spots_per_wallet: u16,
    /// Sparks earned net of revocations a wallet needs to join by itself;
    /// 0 disables `join_whitelist`.
    pub min_lifetime_sparks: u64,
    pub starts_at: i64,
    pub ends_at: i64,
}

impl WhitelistTerms {
    pub fn validate(&self) -> Result<()> {
        require!(self.capacity > 0, SparksError::ZeroValue);
        require!(self.spots_per_wallet > 0, SparksError::ZeroValue);
        require!(self.starts_at < self.ends_at, SparksError::InvalidWindow);
        quantity(self.min_lifetime_sparks)?;
        Ok(())
    }

    pub fn apply(&self, whitelist: &mut Whitelist) {
        whitelist.consumer = self.consumer;
        whitelist.capacity = self.capacity;
        whitelist.spots_per_wallet = self.spots_per_wallet;
        whitelist.min_lifetime_sparks = self.min_lifetime_sparks;
        whitelist.starts_at = self.starts_at;
        whitelist.ends_at = self.ends_at;
    }
}

/// Creates a whitelist; only the Config admin may, and names the
/// whitelist's own admin (who updates it and grants spots). A key other
/// than the creator's only becomes admin by accepting
/// (`accept_whitelist_admin`), as in any later hand-over: until then the
/// creator holds it, so a mistyped key never does.
///
/// Accounts: `[writable, signer]` admin, config, `[writable]` whitelist PDA,
/// system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
#[instruction(id: u64)]
pub struct CreateWhitelist<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump, has_one = admin @ SparksError::Unauthorized)]
    pub config: Account<'info, Config>,
    /// CHECK: created here through `create_pda_account`; address fixed by seeds.
    #[account(mut, seeds = [Whitelist::SEED, &id.to_le_bytes()], bump)]
    pub whitelist: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handle_create_whitelist(
    ctx: Context<CreateWhitelist>,
    id: u64,
    whitelist_admin: Pubkey,
    terms: WhitelistTerms,
) -> Result<()> {
    terms.validate()?;
    quantity(id)?;

    let bump = ctx.bumps.whitelist;
    create_pda_account(
        &ctx.accounts.admin,
        &ctx.accounts.whitelist,
        space_of(Whitelist::INIT_SPACE),
        &[Whitelist::SEED, &id.to_le_bytes(), &[bump]],
    )?;
    let creator = ctx.accounts.admin.key();
    let (admin, pending_admin) = if whitelist_admin == creator {
        (creator, None)
    } else {
        (creator, Some(whitelist_admin))
    };
    let mut whitelist = Whitelist {
        id,
        admin,
        pending_admin,
        consumer: Pubkey::default(),
        capacity: 0,
        entries: 0,
        spots_granted: 0,
        spots_used: 0,
        spots_per_wallet: 0,
        min_lifetime_sparks: 0,
        starts_at: 0,
        ends_at: 0,
        active: true,
        seq: 1,
        bump,
    };
    terms.apply(&mut whitelist);
    store(&ctx.accounts.whitelist, &whitelist)?;
    emit_cpi!(WhitelistCreated { whitelist });
    Ok(())
}
