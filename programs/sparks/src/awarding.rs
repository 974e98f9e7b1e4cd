//! The award rules, shared by `award` and `award_batch`, so both enforce
//! exactly the same checks in the same order.

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

/// What the recipient's referrer is owed for this award, if anything. Pure, so
/// `award_batch` can tell which recipients need their referrer's account.
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

/// Applies one award to `recipient` (and its referrer's share to `referrer`).
/// Returns the referral credit paid, if any. On error nothing is committed:
/// the caller writes accounts back only after success.
#[allow(clippy::too_many_arguments)]
pub fn apply_award(
    config: &mut Config,
    issuer: &mut Issuer,
    recipient: &mut SparkAccount,
    referrer: Option<&mut SparkAccount>,
    source: Source,
    amount: u64,
    expected_seq: u64,
    now: i64,
) -> Result<Option<u64>> {
    require!(amount > 0, SparksError::ZeroValue);
    require!(
        amount <= config.max_award_per_ix,
        SparksError::AmountAboveInstructionCap
    );
    require!(recipient.seq == expected_seq, SparksError::SeqMismatch);

    let referral = referral_owed(config, recipient, source, amount);
    if source == Source::Subscription {
        // The first subscription is the first one, referrer or not: setting a
        // referrer later does not make a later subscription "first".
        recipient.first_subscription_rewarded = true;
    }
    recipient.credit(source, amount)?;
    let mut minted = amount;
    if let Some(share) = referral {
        let referrer = referrer.ok_or(SparksError::ReferrerAccountMissing)?;
        require!(
            Some(referrer.owner) == recipient.referrer,
            SparksError::ReferrerAccountMismatch
        );
        referrer.credit(Source::Referral, share)?;
        minted = checked_add(minted, share)?;
    }

    issuer.charge(minted, now)?;
    config.record_minted(minted)?;
    Ok(referral)
}
