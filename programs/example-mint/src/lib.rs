//! An example NFT mint that sells only to wallets holding a Sparks whitelist
//! spot. In one instruction it checks the wallet's WhitelistEntry with the
//! read-only helper, consumes the spot by CPI (signing as the whitelist's
//! consumer PDA), and mints a one-of-one SPL token (0 decimals, supply 1,
//! mint authority then removed).

use anchor_lang::prelude::*;
// Linked into the SBF build so its memcpy/memset/… are Solana's syscalls.
use anchor_spl::token::{self, Mint, MintTo, SetAuthority, Token, TokenAccount};
#[cfg(target_os = "solana")]
use solana_compiler_builtins as _;
use sparks::program::Sparks;
use sparks::state::{Config, Whitelist};

declare_id!("4qQ8gHsNtSy7WQb6LG7tyJULn6cpqm13MxRoKZSkCyEo");

/// The SPL Token program this mint uses, re-exported for clients.
pub use anchor_spl::token::ID as TOKEN_PROGRAM_ID;

/// Seed of the PDA that is both the whitelist's consumer and the mint authority.
pub const MINTER_SEED: &[u8] = b"minter";

/// The PDA a whitelist must name as `consumer` for this program to mint from it.
pub fn minter_address() -> (Pubkey, u8) {
    Pubkey::find_program_address(&[MINTER_SEED], &ID)
}

#[error_code]
pub enum MintError {
    /// The wallet holds no spot it can use now: no entry, no spot left, the
    /// whitelist inactive or outside its window, or Sparks paused.
    #[msg("wallet holds no whitelist spot")]
    NotWhitelisted,
}

#[program]
pub mod example_mint {
    use super::*;

    pub fn mint_nft(ctx: Context<MintNft>) -> Result<()> {
        handle_mint_nft(ctx)
    }
}

/// Accounts: `[writable, signer]` minter (pays), minter PDA, `[writable,
/// signer]` new mint, `[writable, signer]` new token account, Sparks config,
/// `[writable]` whitelist, `[writable]` whitelist entry, Sparks event
/// authority, Sparks program, token program, system program, rent.
#[derive(Accounts)]
pub struct MintNft<'info> {
    #[account(mut)]
    pub minter: Signer<'info>,
    /// CHECK: a PDA of this program with no data; signs the consume and the mint.
    #[account(seeds = [MINTER_SEED], bump)]
    pub mint_authority: UncheckedAccount<'info>,
    #[account(init, payer = minter, mint::decimals = 0, mint::authority = mint_authority)]
    pub mint: Box<Account<'info, Mint>>,
    #[account(init, payer = minter, token::mint = mint, token::authority = minter)]
    pub token_account: Box<Account<'info, TokenAccount>>,
    pub sparks_config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub whitelist: Box<Account<'info, Whitelist>>,
    /// CHECK: verified by `sparks::onchain::verify_whitelist_entry`.
    #[account(mut)]
    pub whitelist_entry: UncheckedAccount<'info>,
    /// CHECK: checked by the Sparks program during the CPI.
    pub sparks_event_authority: UncheckedAccount<'info>,
    pub sparks_program: Program<'info, Sparks>,
    pub token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

fn handle_mint_nft(ctx: Context<MintNft>) -> Result<()> {
    // Guards: a clear error of our own before any CPI.
    let minter = ctx.accounts.minter.key();
    sparks::onchain::verify_whitelist_entry(
        &ctx.accounts.whitelist_entry,
        &ctx.accounts.whitelist.to_account_info(),
        &ctx.accounts.sparks_config.to_account_info(),
        &minter,
        ctx.accounts.mint_authority.key,
        Clock::get()?.unix_timestamp,
    )
    .map_err(|_| error!(MintError::NotWhitelisted))?;

    let signer: &[&[&[u8]]] = &[&[MINTER_SEED, &[ctx.bumps.mint_authority]]];

    // Use the spot.
    sparks::cpi::consume_whitelist_spot(CpiContext::new_with_signer(
        sparks::ID,
        sparks::cpi::accounts::ConsumeWhitelistSpot {
            consumer: ctx.accounts.mint_authority.to_account_info(),
            wallet: ctx.accounts.minter.to_account_info(),
            config: ctx.accounts.sparks_config.to_account_info(),
            whitelist: ctx.accounts.whitelist.to_account_info(),
            entry: ctx.accounts.whitelist_entry.to_account_info(),
            event_authority: ctx.accounts.sparks_event_authority.to_account_info(),
            program: ctx.accounts.sparks_program.to_account_info(),
        },
        signer,
    ))?;

    // Mint exactly one token, then drop the mint authority so none can follow.
    token::mint_to(
        CpiContext::new_with_signer(
            token::ID,
            MintTo {
                mint: ctx.accounts.mint.to_account_info(),
                to: ctx.accounts.token_account.to_account_info(),
                authority: ctx.accounts.mint_authority.to_account_info(),
            },
            signer,
        ),
        1,
    )?;
    token::set_authority(
        CpiContext::new_with_signer(
            token::ID,
            SetAuthority {
                account_or_mint: ctx.accounts.mint.to_account_info(),
                current_authority: ctx.accounts.mint_authority.to_account_info(),
            },
            signer,
        ),
        token::spl_token::instruction::AuthorityType::MintTokens,
        None,
    )
}
