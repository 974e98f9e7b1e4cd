use anchor_lang::prelude::*;

use crate::error::SparksError;
use crate::events::WhitelistSpotConsumed;
use crate::state::{Config, Whitelist, WhitelistEntry};

/// Uses one of a wallet's spots. Called by CPI from the whitelist's mint
/// program, which signs as `consumer` (its PDA); the wallet signs too, so a
/// consumer cannot spend spots of wallets that are not minting.
///
/// Accounts: `[signer]` consumer, `[signer]` wallet, config, `[writable]`
/// whitelist, `[writable]` entry, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct ConsumeWhitelistSpot<'info> {
    pub consumer: Signer<'info>,
    pub wallet: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(
        mut,
        seeds = [Whitelist::SEED, &whitelist.id.to_le_bytes()],
        bump = whitelist.bump,
        has_one = consumer @ SparksError::WrongConsumer,
    )]
    pub whitelist: Box<Account<'info, Whitelist>>,
    #[account(
        mut,
        seeds = [WhitelistEntry::SEED, whitelist.key().as_ref(), wallet.key().as_ref()],
        bump = entry.bump,
    )]
    pub entry: Account<'info, WhitelistEntry>,
}

pub fn handle_consume_whitelist_spot(ctx: Context<ConsumeWhitelistSpot>) -> Result<()> {
    // Guards.
    require!(!ctx.accounts.config.paused, SparksError::Paused);
    let whitelist = &mut ctx.accounts.whitelist;
    require!(whitelist.active, SparksError::WhitelistInactive);
    require!(
        whitelist.is_open(Clock::get()?.unix_timestamp),
        SparksError::OutsideWindow
    );
    let entry = &mut ctx.accounts.entry;
    require!(entry.spots_left() > 0, SparksError::NoSpotsLeft);

    // State change.
    entry.spots_used += 1; // < spots_granted, so no overflow
    entry.seq = entry.seq.checked_add(1).ok_or(SparksError::MathOverflow)?;
    whitelist.spots_used = whitelist
        .spots_used
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    whitelist.seq = whitelist
        .seq
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    let whitelist = Whitelist::clone(whitelist);
    let entry = (**entry).clone();
    emit_cpi!(WhitelistSpotConsumed {
        consumer: ctx.accounts.consumer.key(),
        whitelist,
        entry,
    });
    Ok(())
}
