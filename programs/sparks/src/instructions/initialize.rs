use anchor_lang::prelude::*;
use anchor_lang::solana_program::bpf_loader_upgradeable;

use crate::account_io::{create_pda_account, space_of};
use crate::error::SparksError;
use crate::events::ConfigInitialized;
use crate::instructions::update_config::ConfigParams;
use crate::state::Config;

/// Creates the Config; the signer becomes the admin. On an upgradeable
/// deployment only the program's upgrade authority may: otherwise anyone
/// watching the deployment could initialize first and take the admin role.
///
/// Accounts: `[writable, signer]` admin (pays rent), `[writable]` config PDA,
/// the program's ProgramData (the upgradeable loader's PDA of the program
/// id), system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct Initialize<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    /// CHECK: created here through `create_pda_account`; address fixed by seeds.
    #[account(mut, seeds = [Config::SEED], bump)]
    pub config: UncheckedAccount<'info>,
    /// CHECK: address fixed by seeds; read by `check_upgrade_authority`.
    #[account(seeds = [crate::ID.as_ref()], bump, seeds::program = bpf_loader_upgradeable::ID)]
    pub program_data: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

/// Where the upgradeable loader keeps the program (its ProgramData exists,
/// owned by the loader), the admin must be its upgrade authority. A program
/// without ProgramData (a builtin, as on the native test runtime, or another
/// loader) has no upgrade authority to ask, so its first caller becomes admin.
fn check_upgrade_authority(program_data: &AccountInfo, admin: &Pubkey) -> Result<()> {
    if *program_data.owner != bpf_loader_upgradeable::ID {
        return Ok(());
    }
    let data = program_data.try_borrow_data()?;
    let state = ProgramData::try_deserialize(&mut &data[..])?;
    require!(
        state.upgrade_authority_address == Some(*admin),
        SparksError::NotUpgradeAuthority
    );
    Ok(())
}

pub fn handle_initialize(ctx: Context<Initialize>, params: ConfigParams) -> Result<()> {
    // Guards.
    params.validate()?;
    check_upgrade_authority(&ctx.accounts.program_data, ctx.accounts.admin.key)?;

    // State change.
    let bump = ctx.bumps.config;
    create_pda_account(
        &ctx.accounts.admin,
        &ctx.accounts.config,
        space_of(Config::INIT_SPACE),
        &[Config::SEED, &[bump]],
    )?;
    let mut config = Config {
        admin: ctx.accounts.admin.key(),
        pending_admin: None,
        paused: false,
        referral_trade_share_bps: 0,
        first_subscription_bonus: 0,
        max_award_per_ix: 0,
        seq: 1,
        bump,
    };
    params.apply(&mut config);
    crate::account_io::store(&ctx.accounts.config, &config)?;
    emit_cpi!(ConfigInitialized { config });
    Ok(())
}
