use anchor_lang::prelude::*;

use crate::account_io::{create_pda_account, is_uninitialized, load, space_of, store};
use crate::error::SparksError;
use crate::events::{PerkRedeemed, WhitelistSpotGranted};
use crate::granting::{grant_spots, load_or_create_entry};
use crate::state::{
    checked_add, Config, GrantVia, Perk, PerkClaim, SparkAccount, Whitelist, WhitelistEntry,
};

/// The owner spends `perk.cost` Sparks on a perk, at most `max_cost` (the
/// cost it agreed to: a price change that lands first cannot charge it
/// more). The Sparks are burned, not paid to anyone. A NftWhitelist perk
/// also grants one spot in its whitelist.
///
/// Accounts: `[signer]` owner, `[writable, signer]` payer (rent of new
/// claim/entry accounts; may be the owner or the app), config,
/// `[writable]` perk, `[writable]` owner's SparkAccount, `[writable]` claim
/// PDA, optional `[writable]` whitelist and `[writable]` whitelist entry (both
/// required for NftWhitelist perks), system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct RedeemPerk<'info> {
    pub owner: Signer<'info>,
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Perk::SEED, &perk.id.to_le_bytes()], bump = perk.bump)]
    pub perk: Box<Account<'info, Perk>>,
    #[account(
        mut,
        seeds = [SparkAccount::SEED, owner.key().as_ref()],
        bump = spark.bump,
    )]
    pub spark: Box<Account<'info, SparkAccount>>,
    /// CHECK: created or loaded by hand; address fixed by seeds.
    #[account(mut, seeds = [PerkClaim::SEED, perk.key().as_ref(), owner.key().as_ref()], bump)]
    pub claim: UncheckedAccount<'info>,
    #[account(mut, seeds = [Whitelist::SEED, &whitelist.id.to_le_bytes()], bump = whitelist.bump)]
    pub whitelist: Option<Box<Account<'info, Whitelist>>>,
    /// CHECK: created or loaded by hand; address checked against the whitelist below.
    #[account(mut)]
    pub whitelist_entry: Option<UncheckedAccount<'info>>,
    pub system_program: Program<'info, System>,
}

pub fn handle_redeem_perk(ctx: Context<RedeemPerk>, max_cost: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let owner = ctx.accounts.owner.key();
    let perk_key = ctx.accounts.perk.key();

    // Guards.
    require!(!ctx.accounts.config.paused, SparksError::Paused);
    let perk = &ctx.accounts.perk;
    require!(perk.active, SparksError::PerkInactive);
    require!(perk.is_open(now), SparksError::OutsideWindow);
    require!(perk.supply_left(), SparksError::PerkSupplyExhausted);
    require!(perk.cost <= max_cost, SparksError::CostAboveMax);
    require!(
        ctx.accounts.whitelist.as_ref().map(|w| w.key()) == perk.whitelist,
        SparksError::PerkWhitelistMismatch
    );

    // Accounts.
    let payer = ctx.accounts.payer.to_account_info();
    let claim_info = &ctx.accounts.claim;
    let mut claim = if is_uninitialized(claim_info) {
        let bump = ctx.bumps.claim;
        create_pda_account(
            &payer,
            claim_info,
            space_of(PerkClaim::INIT_SPACE),
            &[PerkClaim::SEED, perk_key.as_ref(), owner.as_ref(), &[bump]],
        )?;
        PerkClaim {
            perk: perk_key,
            owner,
            times_claimed: 0,
            seq: 0,
            bump,
        }
    } else {
        load::<PerkClaim>(claim_info)?
    };
    require!(
        perk.per_wallet_limit == 0 || claim.times_claimed < perk.per_wallet_limit,
        SparksError::PerkWalletLimitReached
    );

    // State change.
    let cost = perk.cost;
    ctx.accounts.spark.spend(cost)?;
    let perk = &mut ctx.accounts.perk;
    perk.claimed = checked_add(perk.claimed, 1)?;
    perk.seq = checked_add(perk.seq, 1)?;
    claim.times_claimed = claim
        .times_claimed
        .checked_add(1)
        .ok_or(SparksError::MathOverflow)?;
    claim.seq = checked_add(claim.seq, 1)?;
    store(claim_info, &claim)?;
    let granted = grant_perk_spot(
        ctx.accounts.whitelist.as_deref_mut(),
        ctx.accounts.whitelist_entry.as_ref(),
        &payer,
        owner,
        now,
    )?;

    let perk = (**ctx.accounts.perk).clone();
    let account = (**ctx.accounts.spark).clone();
    emit_cpi!(PerkRedeemed {
        perk,
        claim,
        account
    });
    if let Some((whitelist, entry)) = granted {
        emit_cpi!(WhitelistSpotGranted {
            via: GrantVia::Perk,
            spots: 1,
            whitelist,
            entry,
        });
    }
    Ok(())
}

/// For a NftWhitelist perk: one spot in the linked whitelist.
fn grant_perk_spot<'info>(
    whitelist: Option<&mut Account<'info, Whitelist>>,
    entry_info: Option<&UncheckedAccount<'info>>,
    payer: &AccountInfo<'info>,
    owner: Pubkey,
    now: i64,
) -> Result<Option<(Whitelist, WhitelistEntry)>> {
    let Some(whitelist) = whitelist else {
        return Ok(None);
    };
    let entry_info = entry_info.ok_or(SparksError::PerkWhitelistMismatch)?;
    let whitelist_key = whitelist.key();
    let (address, bump) = Pubkey::find_program_address(
        &[WhitelistEntry::SEED, whitelist_key.as_ref(), owner.as_ref()],
        &crate::ID,
    );
    require_keys_eq!(address, entry_info.key(), SparksError::InvalidPda);
    let (mut entry, is_new) = load_or_create_entry(payer, entry_info, whitelist_key, owner, bump)?;
    grant_spots(whitelist, &mut entry, is_new, 1, GrantVia::Perk, now)?;
    store(entry_info, &entry)?;
    Ok(Some(((**whitelist).clone(), entry)))
}
