//! Error codes are part of the contract (clients and mint programs match on
//! them): variants are appended, never reordered. This pins every code.

use sparks::error::SparksError as E;

#[test]
fn error_codes_are_stable() {
    let pinned: &[(E, u32)] = &[
        (E::Unauthorized, 6000),
        (E::NotPendingAdmin, 6001),
        (E::Paused, 6002),
        (E::InvalidBps, 6003),
        (E::ZeroValue, 6004),
        (E::InvalidWindow, 6005),
        (E::IssuerInactive, 6006),
        (E::SourceNotAllowed, 6007),
        (E::AmountAboveInstructionCap, 6008),
        (E::IssuerCapExceeded, 6009),
        (E::SeqMismatch, 6010),
        (E::MathOverflow, 6011),
        (E::ReferrerAccountMissing, 6012),
        (E::ReferrerAccountMismatch, 6013),
        (E::SelfReferral, 6014),
        (E::ReferralCycle, 6015),
        (E::ReferrerAlreadySet, 6016),
        (E::InsufficientBalance, 6017),
        (E::PerkInactive, 6018),
        (E::PerkSupplyExhausted, 6019),
        (E::PerkWalletLimitReached, 6020),
        (E::OutsideWindow, 6021),
        (E::WhitelistInactive, 6022),
        (E::WhitelistFull, 6023),
        (E::WalletSpotLimitReached, 6024),
        (E::BelowJoinThreshold, 6025),
        (E::AlreadyJoined, 6026),
        (E::WrongConsumer, 6027),
        (E::NoSpotsLeft, 6028),
        (E::AccountAlreadyInitialized, 6029),
        (E::WrongAccountOwner, 6030),
        (E::InvalidPda, 6031),
        (E::PerkWhitelistMismatch, 6032),
        (E::BatchSizeOutOfRange, 6033),
        (E::BatchAccountsMismatch, 6034),
        (E::UriTooLong, 6035),
        (E::PeriodTooShort, 6036),
        (E::LimitBelowUsage, 6037),
        (E::EntryMismatch, 6038),
        (E::AwardIdUsed, 6039),
        (E::AwardIdBeyondWindow, 6040),
        (E::CostAboveMax, 6041),
        (E::NotUpgradeAuthority, 6042),
        (E::NotPendingWhitelistAdmin, 6043),
        (E::QuantityTooLarge, 6044),
        (E::BumpNotCanonical, 6045),
        (E::RevokeAboveEarned, 6046),
    ];
    for (error, code) in pinned {
        assert_eq!(u32::from(*error), *code, "{error:?}");
        assert_eq!(
            E::from_code(*code).map(u32::from),
            Some(*code),
            "from_code({code})"
        );
    }
    assert_eq!(
        E::ALL.len(),
        pinned.len(),
        "a variant is missing from the pins or from ALL"
    );
    assert!(E::from_code(6000 + pinned.len() as u32).is_none());
    assert!(E::from_code(3012).is_none());
}
