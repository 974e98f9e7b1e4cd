use anchor_lang::prelude::*;

use crate::constants::{CLAIM_SEED, MAX_URI_LEN, PERK_SEED};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq, InitSpace)]
pub enum PerkKind {
    DiscordRole,
    /// Redeeming grants one spot in the perk's linked whitelist.
    NftWhitelist,
    TrafficBoost,
    EventTicket,
    PlanUpgrade,
    Custom,
}

/// Longest a string in instruction data can be: a whole transaction packet.
const PACKET_DATA_SIZE: u32 = 1232;

/// Reads a perk's uri from instruction data without trusting its length.
/// borsh allocates up to 1 MiB for whatever length a string claims, and the
/// SBF heap is 32 KiB: a mangled length would abort the program instead of
/// refusing the instruction. No string in a transaction can be longer than
/// the transaction, so a longer claim is refused as malformed data; a uri
/// that fits but is too long is refused later as `UriTooLong`.
pub fn read_uri<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<String> {
    use borsh::io::{Error, ErrorKind};
    let len = <u32 as AnchorDeserialize>::deserialize_reader(reader)?;
    if len > PACKET_DATA_SIZE {
        return Err(Error::new(
            ErrorKind::InvalidData,
            "string longer than a transaction",
        ));
    }
    let mut bytes = vec![0u8; len as usize];
    reader.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidData, "uri is not UTF-8"))
}

/// Something Sparks can be spent on.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Perk {
    pub id: u64,
    pub kind: PerkKind,
    pub cost: u64,
    /// Most redemptions in total; 0 means unlimited.
    pub max_supply: u64,
    pub claimed: u64,
    /// Most redemptions per wallet; 0 means unlimited.
    pub per_wallet_limit: u32,
    /// Redeemable from `starts_at` (inclusive) to `ends_at` (exclusive), unix seconds.
    pub starts_at: i64,
    pub ends_at: i64,
    pub active: bool,
    /// The Whitelist PDA a NftWhitelist perk grants a spot in.
    pub whitelist: Option<Pubkey>,
    #[max_len(MAX_URI_LEN)]
    pub uri: String,
    pub seq: u64,
    pub bump: u8,
}

impl Perk {
    pub const SEED: &'static [u8] = PERK_SEED;

    pub fn is_open(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn supply_left(&self) -> bool {
        self.max_supply == 0 || self.claimed < self.max_supply
    }
}

/// How often one wallet redeemed one perk.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct PerkClaim {
    pub perk: Pubkey,
    pub owner: Pubkey,
    pub times_claimed: u32,
    pub seq: u64,
    pub bump: u8,
}

impl PerkClaim {
    pub const SEED: &'static [u8] = CLAIM_SEED;
}
