//! Events, emitted with `emit_cpi!` by every instruction that changes state.
//! Each carries the changed accounts as they are after the change (with their
//! new `seq`), so an indexer can rebuild every projection from events alone.

use anchor_lang::prelude::*;

use crate::state::{
    Config, GrantVia, Issuer, Perk, PerkClaim, Source, SparkAccount, Whitelist, WhitelistEntry,
};

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigInitialized {
    pub config: Config,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUpdated {
    pub config: Config,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseChanged {
    pub config: Config,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminProposed {
    pub config: Config,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAccepted {
    pub previous_admin: Pubkey,
    pub config: Config,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerUpserted {
    pub issuer: Issuer,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerDeactivated {
    pub issuer: Issuer,
}

/// Both accounts change: the invitee gains a referrer, the referrer an invitee.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrerSet {
    pub invitee: SparkAccount,
    pub referrer: SparkAccount,
}

/// New Sparks credited to `account.owner`. A referral credit is its own event
/// with `source == Referral` and `referral_from` naming the invitee.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparksRevoked {
    pub admin: Pubkey,
    pub amount: u64,
    pub reason: u16,
    pub account: SparkAccount,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerkCreated {
    pub perk: Perk,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerkUpdated {
    pub perk: Perk,
}

/// `perk.cost` Sparks burned from `account`.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerkRedeemed {
    pub perk: Perk,
    pub claim: PerkClaim,
    pub account: SparkAccount,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistCreated {
    pub whitelist: Whitelist,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistUpdated {
    pub whitelist: Whitelist,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistSpotGranted {
    pub via: GrantVia,
    pub spots: u16,
    pub whitelist: Whitelist,
    pub entry: WhitelistEntry,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistSpotConsumed {
    pub consumer: Pubkey,
    pub whitelist: Whitelist,
    pub entry: WhitelistEntry,
}
