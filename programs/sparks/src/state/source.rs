use anchor_lang::prelude::*;

/// Where Sparks came from. The declaration order (never change it) indexes
/// [`crate::state::SparkAccount::earned_by_source`] and the issuer's allowed-source bit set.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum Source {
    Trading,
    Subscription,
    Campaign,
    /// Credited automatically to a referrer; an issuer may also be allowed to
    /// award it directly (e.g. an off-chain referral campaign).
    Referral,
}

impl Source {
    pub const COUNT: usize = 4;
    pub const ALL: [Source; Source::COUNT] = [
        Source::Trading,
        Source::Subscription,
        Source::Campaign,
        Source::Referral,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }

    /// This source's bit in an issuer's `allowed_sources`.
    pub const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Every source bit set: an issuer allowed to award anything.
    pub const ALL_BITS: u8 = (1 << Source::COUNT) - 1;
}
