//! Events, emitted by self-CPI (`emit_cpi!`, or `emitter::EventEmitter` on
//! the award paths) by every instruction that changes state.
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
/// with `source == Referral`, `referral_from` naming the invitee and the
/// invitee's award id.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparksAwarded {
    /// The issuer's authority key.
    pub issuer: Pubkey,
    pub source: Source,
    pub amount: u64,
    pub reference: [u8; 32],
    /// The issuer's id for this award, paid at most once.
    pub award_id: u64,
    pub referral_from: Option<Pubkey>,
    /// A referral share this award owed but did not pay, because the award
    /// did not pass the referrer's account (the recipient named its referrer
    /// after the issuer read its account); 0 when nothing was left unpaid.
    pub referral_unpaid: u64,
    pub account: SparkAccount,
}

/// The issuer gave up award ids that never paid; they can never pay now.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwardIdsVoided {
    /// The issuer's authority key.
    pub issuer: Pubkey,
    pub first_award_id: u64,
    pub count: u16,
    /// The issuer's floor after voiding: every id below it is used.
    pub award_id_floor: u64,
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
pub struct WhitelistAdminProposed {
    pub whitelist: Whitelist,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhitelistAdminAccepted {
    pub previous_admin: Pubkey,
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
