//! The award rules, shared by `award` and `award_batch`, so both enforce
//! exactly the same checks in the same order.
//!
//! An award names an award id of its issuer; the issuer's window pays each
//! id at most once (`Issuer::use_award_ids`). Nothing else about the
//! recipient is asked of the award: other activity on its account (a
//! stranger naming it as referrer, another issuer's award to one of its
//! invitees, a redemption) cannot make it fail.

use anchor_lang::prelude::*;

use crate::constants::MAX_BPS;
use crate::error::SparksError;
use crate::state::{checked_add, Config, Issuer, Source, SparkAccount};

/// Checks that hold for a whole award instruction, before any recipient.
pub fn check_award_allowed(config: &Config, issuer: &Issuer, source: Source) -> Result<()> {
    require!(!config.paused, SparksError::Paused);
    require!(issuer.active, SparksError::IssuerInactive);
    require!(issuer.allows(source), SparksError::SourceNotAllowed);
    Ok(())
}

/// What the recipient's referrer is owed for this award, if anything. Pure,
/// so an issuer can tell which recipients need their referrer's account.
pub fn referral_owed(
    config: &Config,
    recipient: &SparkAccount,
    source: Source,
    amount: u64,
) -> Option<u64> {
    recipient.referrer?;
    let owed = match source {
        // share <= amount, so the quotient fits in u64.
        Source::Trading => {
            (u128::from(amount) * u128::from(config.referral_trade_share_bps) / u128::from(MAX_BPS))
                as u64
        }
        Source::Subscription if !recipient.first_subscription_rewarded => {
            config.first_subscription_bonus
        }
        _ => 0,
    };
    (owed > 0).then_some(owed)
}

/// What an award did for the recipient's referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Referral {
    /// Nothing was owed.
    None,
    /// The share was credited to the referrer.
    Paid(u64),
    /// A share was owed but the award did not pass the referrer's account
    /// (the recipient named its referrer after the issuer read its account).
    /// The award is paid all the same; the event says what was not.
    Unpaid(u64),
}

/// Applies one award to `recipient` (and its referrer's share to `referrer`,
/// when passed). On error nothing is committed: the caller writes accounts
/// back only after success.
pub fn apply_award(
    config: &Config,
    issuer: &mut Issuer,
    recipient: &mut SparkAccount,
    referrer: Option<&mut SparkAccount>,
    source: Source,
    amount: u64,
    now: i64,
) -> Result<Referral> {
    require!(amount > 0, SparksError::ZeroValue);
    require!(
        amount <= config.max_award_per_ix,
        SparksError::AmountAboveInstructionCap
    );
    if let Some(referrer) = &referrer {
        // An account passed as the referrer's must be it: a wrong one is the
        // issuer's mistake, never the recipient's doing.
        require!(
            Some(referrer.owner) == recipient.referrer,
            SparksError::ReferrerAccountMismatch
        );
    }

    let owed = referral_owed(config, recipient, source, amount);
    if source == Source::Subscription {
        // The first subscription is the first one, referrer or not: setting a
        // referrer later does not make a later subscription "first".
        recipient.first_subscription_rewarded = true;
    }
    recipient.credit(source, amount)?;
    let (referral, minted) = match (owed, referrer) {
        (None, _) => (Referral::None, amount),
        (Some(share), None) => (Referral::Unpaid(share), amount),
        (Some(share), Some(referrer)) => {
            referrer.credit(Source::Referral, share)?;
            (Referral::Paid(share), checked_add(amount, share)?)
        }
    };
    issuer.charge(minted, now)?;
    Ok(referral)
}
