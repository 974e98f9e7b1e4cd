//! The program's one error enum. Variants are never reordered or removed: their
//! numeric codes (6000 + index) are part of the contract and a test pins them.

use anchor_lang::prelude::*;

#[error_code]
pub enum SparksError {
    /// The signer is not the admin of the Config (or of the whitelist).
    #[msg("signer is not the admin")]
    Unauthorized,
    /// `accept_admin` was signed by a key other than the pending admin, or none is pending.
    #[msg("signer is not the pending admin")]
    NotPendingAdmin,
    /// Awards, redeems, joins, consumes and setting a referrer are refused while the program is paused.
    #[msg("the program is paused")]
    Paused,
    /// A basis-point value is above 10 000.
    #[msg("basis points must be at most 10000")]
    InvalidBps,
    /// An amount, cap, period or limit that must be positive is zero.
    #[msg("value must be greater than zero")]
    ZeroValue,
    /// A time window whose start is not before its end.
    #[msg("window start must be before its end")]
    InvalidWindow,
    /// The issuer has been deactivated.
    #[msg("issuer is not active")]
    IssuerInactive,
    /// The issuer is not allowed to award this source.
    #[msg("issuer is not allowed to award this source")]
    SourceNotAllowed,
    /// The amount is above the Config's per-instruction award cap.
    #[msg("amount exceeds the per-instruction award cap")]
    AmountAboveInstructionCap,
    /// The award would take the issuer past its cap for the current period.
    #[msg("issuer cap for this period exceeded")]
    IssuerCapExceeded,
    /// No longer raised: awards are identified by award ids, not by the
    /// recipient's `seq`. Kept so that no later code moves.
    #[msg("expected seq does not match the spark account")]
    SeqMismatch,
    /// Checked arithmetic overflowed.
    #[msg("arithmetic overflow")]
    MathOverflow,
    /// No longer raised: an award that owes a share but was not given the
    /// referrer's account pays the recipient and reports the share unpaid
    /// (`SparksAwarded::referral_unpaid`). Kept so that no later code moves.
    #[msg("referrer spark account is required for this award")]
    ReferrerAccountMissing,
    /// The account passed as the referrer's SparkAccount is not the recipient's referrer.
    #[msg("account passed is not the referrer's spark account")]
    ReferrerAccountMismatch,
    /// A wallet tried to refer itself.
    #[msg("a wallet cannot refer itself")]
    SelfReferral,
    /// The referrer was referred by the invitee: a 2-cycle.
    #[msg("referral would create a cycle")]
    ReferralCycle,
    /// The invitee already has a referrer; it is set once.
    #[msg("referrer already set")]
    ReferrerAlreadySet,
    /// The balance is lower than the amount to spend or revoke.
    #[msg("insufficient spark balance")]
    InsufficientBalance,
    /// The perk is not active.
    #[msg("perk is not active")]
    PerkInactive,
    /// Every unit of the perk's supply has been claimed.
    #[msg("perk supply exhausted")]
    PerkSupplyExhausted,
    /// The wallet has claimed this perk as often as the per-wallet limit allows.
    #[msg("per-wallet limit for this perk reached")]
    PerkWalletLimitReached,
    /// The current time is outside the perk's or whitelist's window.
    #[msg("outside the allowed time window")]
    OutsideWindow,
    /// The whitelist is not active.
    #[msg("whitelist is not active")]
    WhitelistInactive,
    /// The whitelist has granted all the spots its capacity allows.
    #[msg("whitelist is full")]
    WhitelistFull,
    /// The wallet already holds as many spots as the whitelist allows per wallet.
    #[msg("wallet holds the most spots this whitelist allows")]
    WalletSpotLimitReached,
    /// The wallet's lifetime Sparks are below the whitelist's join threshold.
    #[msg("lifetime sparks below the whitelist threshold")]
    BelowJoinThreshold,
    /// The wallet already joined this whitelist by itself.
    #[msg("wallet already joined this whitelist")]
    AlreadyJoined,
    /// `consume_whitelist_spot` was not signed by the whitelist's consumer.
    #[msg("signer is not the whitelist's consumer")]
    WrongConsumer,
    /// Every granted spot has been used.
    #[msg("no whitelist spots left")]
    NoSpotsLeft,
    /// An account the instruction would create already holds program data.
    #[msg("account already initialized")]
    AccountAlreadyInitialized,
    /// An account is owned by another program than the one expected.
    #[msg("account owned by the wrong program")]
    WrongAccountOwner,
    /// An account's address is not the PDA its seeds give.
    #[msg("account address does not match its seeds")]
    InvalidPda,
    /// A NftWhitelist perk was given no whitelist, another kind was given one,
    /// or the whitelist passed is not the perk's.
    #[msg("perk whitelist missing or mismatched")]
    PerkWhitelistMismatch,
    /// `award_batch` was called with no recipients or too many.
    #[msg("batch size out of range")]
    BatchSizeOutOfRange,
    /// `award_batch`'s remaining accounts do not match its recipients.
    #[msg("batch accounts do not match the recipients")]
    BatchAccountsMismatch,
    /// The perk URI is longer than the account can hold.
    #[msg("uri too long")]
    UriTooLong,
    /// An issuer period is shorter than the minimum.
    #[msg("issuer period too short")]
    PeriodTooShort,
    /// A new limit is below what has already been used (supply, capacity).
    #[msg("limit below what is already used")]
    LimitBelowUsage,
    /// The whitelist passed is not the one the entry belongs to.
    #[msg("whitelist entry does not belong to this whitelist and wallet")]
    EntryMismatch,
    /// An award id of this award was used already (paid, or voided by the
    /// issuer): this award can never pay.
    #[msg("award id already used")]
    AwardIdUsed,
    /// An award id lies beyond the issuer's window of open ids; it becomes
    /// usable once the ids below it are used (paid or voided).
    #[msg("award id beyond the issuer's window")]
    AwardIdBeyondWindow,
    /// The perk costs more than the redeemer agreed to pay (`max_cost`).
    #[msg("perk costs more than the agreed maximum")]
    CostAboveMax,
    /// `initialize` of an upgradeable deployment was not signed by the
    /// program's upgrade authority.
    #[msg("initialize must be signed by the program's upgrade authority")]
    NotUpgradeAuthority,
    /// `accept_whitelist_admin` was signed by a key other than the pending one, or none is pending.
    #[msg("signer is not the whitelist's pending admin")]
    NotPendingWhitelistAdmin,
    /// A value, or a total it would make, above `MAX_QUANTITY` (2^63 - 1).
    #[msg("value exceeds 2^63-1, the largest quantity Sparks stores")]
    QuantityTooLarge,
    /// The bump passed for a new account's PDA makes a PDA, but a higher bump
    /// makes one too: only the canonical (highest) bump's address is the
    /// account every other instruction derives.
    #[msg("bump is not the canonical bump of the account's seeds")]
    BumpNotCanonical,
    /// A revoke would take back more than the wallet ever earned, net of
    /// what was revoked before.
    #[msg("revoke exceeds what the wallet earned, net of earlier revocations")]
    RevokeAboveEarned,
}

impl SparksError {
    /// Every variant in code order (`ALL[i]` has code 6000 + i).
    pub const ALL: [SparksError; 47] = [
        SparksError::Unauthorized,
        SparksError::NotPendingAdmin,
        SparksError::Paused,
        SparksError::InvalidBps,
        SparksError::ZeroValue,
        SparksError::InvalidWindow,
        SparksError::IssuerInactive,
        SparksError::SourceNotAllowed,
        SparksError::AmountAboveInstructionCap,
        SparksError::IssuerCapExceeded,
        SparksError::SeqMismatch,
        SparksError::MathOverflow,
        SparksError::ReferrerAccountMissing,
        SparksError::ReferrerAccountMismatch,
        SparksError::SelfReferral,
        SparksError::ReferralCycle,
        SparksError::ReferrerAlreadySet,
        SparksError::InsufficientBalance,
        SparksError::PerkInactive,
        SparksError::PerkSupplyExhausted,
        SparksError::PerkWalletLimitReached,
        SparksError::OutsideWindow,
        SparksError::WhitelistInactive,
        SparksError::WhitelistFull,
        SparksError::WalletSpotLimitReached,
        SparksError::BelowJoinThreshold,
        SparksError::AlreadyJoined,
        SparksError::WrongConsumer,
        SparksError::NoSpotsLeft,
        SparksError::AccountAlreadyInitialized,
        SparksError::WrongAccountOwner,
        SparksError::InvalidPda,
        SparksError::PerkWhitelistMismatch,
        SparksError::BatchSizeOutOfRange,
        SparksError::BatchAccountsMismatch,
        SparksError::UriTooLong,
        SparksError::PeriodTooShort,
        SparksError::LimitBelowUsage,
        SparksError::EntryMismatch,
        SparksError::AwardIdUsed,
        SparksError::AwardIdBeyondWindow,
        SparksError::CostAboveMax,
        SparksError::NotUpgradeAuthority,
        SparksError::NotPendingWhitelistAdmin,
        SparksError::QuantityTooLarge,
        SparksError::BumpNotCanonical,
        SparksError::RevokeAboveEarned,
    ];

    /// The variant behind an on-chain error code, for clients.
    pub fn from_code(code: u32) -> Option<Self> {
        let index = code.checked_sub(anchor_lang::error::ERROR_CODE_OFFSET)?;
        Self::ALL.get(usize::try_from(index).ok()?).copied()
    }
}
