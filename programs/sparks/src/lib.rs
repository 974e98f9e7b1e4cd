//! Sparks: non-transferable bonus points.
//!
//! Balances change only by `award` (an active issuer, within its rights and
//! caps, each award id paid at most once), `redeem_perk` (the owner spends), and `revoke` (admin clawback);
//! there is no transfer. Every state change emits an event via `emit_cpi!`.
//! See `docs/PROGRAM.md` for the account and event reference.

use anchor_lang::prelude::*;
// Linked into the SBF build so its memcpy/memset/… are Solana's syscalls.
#[cfg(target_os = "solana")]
use solana_compiler_builtins as _;

pub mod account_io;
pub mod awarding;
pub mod constants;
pub mod emitter;
pub mod error;
pub mod events;
pub mod granting;
pub mod instructions;
pub mod onchain;
pub mod pda;
pub mod state;

pub use instructions::*;
pub use state::Source;

declare_id!("GrEan3C5CYfWj1Ec6DdWFRUJhS8EqCC1rdfZ3SgJ7TwC");

#[program]
pub mod sparks {
    use super::*;

    pub fn initialize(ctx: Context<Initialize>, params: ConfigParams) -> Result<()> {
        handle_initialize(ctx, params)
    }

    pub fn update_config(ctx: Context<UpdateConfig>, params: ConfigParams) -> Result<()> {
        handle_update_config(ctx, params)
    }

    pub fn pause(ctx: Context<SetPaused>) -> Result<()> {
        handle_set_paused(ctx, true)
    }

    pub fn unpause(ctx: Context<SetPaused>) -> Result<()> {
        handle_set_paused(ctx, false)
    }

    pub fn propose_admin(ctx: Context<ProposeAdmin>, new_admin: Option<Pubkey>) -> Result<()> {
        handle_propose_admin(ctx, new_admin)
    }

    pub fn accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
        handle_accept_admin(ctx)
    }

    pub fn upsert_issuer(ctx: Context<UpsertIssuer>, params: IssuerParams) -> Result<()> {
        handle_upsert_issuer(ctx, params)
    }

    pub fn deactivate_issuer(ctx: Context<DeactivateIssuer>) -> Result<()> {
        handle_deactivate_issuer(ctx)
    }

    pub fn set_referrer(ctx: Context<SetReferrer>) -> Result<()> {
        handle_set_referrer(ctx)
    }

    pub fn award(ctx: Context<Award>, args: AwardArgs, recipient_bump: u8) -> Result<()> {
        handle_award(ctx, args, recipient_bump)
    }

    pub fn award_batch<'info>(
        ctx: Context<'info, AwardBatch<'info>>,
        args: AwardBatchArgs,
    ) -> Result<()> {
        handle_award_batch(ctx, args)
    }

    pub fn void_award_ids(
        ctx: Context<VoidAwardIds>,
        first_award_id: u64,
        count: u16,
    ) -> Result<()> {
        handle_void_award_ids(ctx, first_award_id, count)
    }

    pub fn revoke(ctx: Context<Revoke>, amount: u64, reason: u16) -> Result<()> {
        handle_revoke(ctx, amount, reason)
    }

    pub fn create_perk(ctx: Context<CreatePerk>, params: CreatePerkParams) -> Result<()> {
        handle_create_perk(ctx, params)
    }

    pub fn update_perk(ctx: Context<UpdatePerk>, params: UpdatePerkParams) -> Result<()> {
        handle_update_perk(ctx, params)
    }

    pub fn redeem_perk(ctx: Context<RedeemPerk>, max_cost: u64) -> Result<()> {
        handle_redeem_perk(ctx, max_cost)
    }

    pub fn create_whitelist(
        ctx: Context<CreateWhitelist>,
        id: u64,
        whitelist_admin: Pubkey,
        terms: WhitelistTerms,
    ) -> Result<()> {
        handle_create_whitelist(ctx, id, whitelist_admin, terms)
    }

    pub fn update_whitelist(
        ctx: Context<UpdateWhitelist>,
        terms: WhitelistTerms,
        active: bool,
    ) -> Result<()> {
        handle_update_whitelist(ctx, terms, active)
    }

    pub fn propose_whitelist_admin(
        ctx: Context<ProposeWhitelistAdmin>,
        new_admin: Option<Pubkey>,
    ) -> Result<()> {
        handle_propose_whitelist_admin(ctx, new_admin)
    }

    pub fn accept_whitelist_admin(ctx: Context<AcceptWhitelistAdmin>) -> Result<()> {
        handle_accept_whitelist_admin(ctx)
    }

    pub fn grant_whitelist(ctx: Context<GrantWhitelist>, spots: u16, entry_bump: u8) -> Result<()> {
        handle_grant_whitelist(ctx, spots, entry_bump)
    }

    pub fn join_whitelist(ctx: Context<JoinWhitelist>) -> Result<()> {
        handle_join_whitelist(ctx)
    }

    pub fn consume_whitelist_spot(ctx: Context<ConsumeWhitelistSpot>) -> Result<()> {
        handle_consume_whitelist_spot(ctx)
    }
}

#[cfg(test)]
mod size_checks {
    //! Pin every account size: a change here changes rent and the on-chain layout.
    use super::state::*;
    use anchor_lang::Space;

    #[test]
    fn account_sizes_are_pinned() {
        let sizes = [
            8 + Config::INIT_SPACE,
            8 + Issuer::INIT_SPACE,
            8 + SparkAccount::INIT_SPACE,
            8 + Perk::INIT_SPACE,
            8 + PerkClaim::INIT_SPACE,
            8 + Whitelist::INIT_SPACE,
            8 + WhitelistEntry::INIT_SPACE,
        ];
        assert_eq!(sizes, [101, 671, 151, 236, 85, 165, 86]);
    }

    #[test]
    fn enum_indexes_are_pinned() {
        // Indexes and bits are stored on chain; reordering variants corrupts them.
        assert_eq!(Source::ALL.map(Source::index), [0, 1, 2, 3]);
        assert_eq!(Source::ALL_BITS, 0b1111);
        assert_eq!(
            [
                GrantVia::Admin.bit(),
                GrantVia::Join.bit(),
                GrantVia::Perk.bit()
            ],
            [1, 2, 4]
        );
    }
}
