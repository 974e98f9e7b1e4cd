//! Events, emitted with `emit_cpi!` by every instruction that changes state.
//! Each carries the changed accounts as they are after the change (with their
//! new `seq`), so an indexer can rebuild every projection from events alone.

use anchor_lang::prelude::*;

use crate::state::{
    Config, GrantVia, Issuer, Perk, PerkClaim, Source, SparkAccount, Whitelist, WhitelistEntry,
};

#[event]
pub struct ConfigInitialized {
    pub config: Config,
}

#[event]
pub struct ConfigUpdated {
    pub config: Config,
}

#[event]
pub struct PauseChanged {
    pub config: Config,
}

#[event]
pub struct AdminProposed {
    pub config: Config,
}

#[event]
pub struct AdminAccepted {
    pub previous_admin: Pubkey,
    pub config: Config,
}

#[event]
pub struct IssuerUpserted {
    pub issuer: Issuer,
}

#[event]
pub struct IssuerDeactivated {
    pub issuer: Issuer,
}

/// Both accounts change: the invitee gains a referrer, the referrer an invitee.
#[event]
pub struct ReferrerSet {
    pub invitee: SparkAccount,
    pub referrer: SparkAccount,
}

/// New Sparks credited to `account.owner`. A referral credit is its own event
/// with `source == Referral` and `referral_from` naming the invitee.
#[event]
pub struct SparksAwarded {
    /// The issuer's authority key.
    pub issuer: Pubkey,
    pub source: Source,
    pub amount: u64,
    pub reference: [u8; 32],
    /// Position in an `award_batch`; `None` for a single `award`.
    pub batch_index: Option<u16>,
    pub referral_from: Option<Pubkey>,
    pub account: SparkAccount,
}

#[event]
pub struct SparksRevoked {
    pub admin: Pubkey,
    pub amount: u64,
    pub reason: u16,
    pub account: SparkAccount,
}

#[event]
pub struct PerkCreated {
    pub perk: Perk,
}

#[event]
pub struct PerkUpdated {
    pub perk: Perk,
}

/// `perk.cost` Sparks burned from `account`.
#[event]
pub struct PerkRedeemed {
    pub perk: Perk,
    pub claim: PerkClaim,
    pub account: SparkAccount,
}

#[event]
pub struct WhitelistCreated {
    pub whitelist: Whitelist,
}

#[event]
pub struct WhitelistUpdated {
    pub whitelist: Whitelist,
}

#[event]
pub struct WhitelistSpotGranted {
    pub via: GrantVia,
    pub spots: u16,
    pub whitelist: Whitelist,
    pub entry: WhitelistEntry,
}

#[event]
pub struct WhitelistSpotConsumed {
    pub consumer: Pubkey,
    pub whitelist: Whitelist,
    pub entry: WhitelistEntry,
}
