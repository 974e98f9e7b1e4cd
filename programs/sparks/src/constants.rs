//! Seeds and limits. Seeds are part of the public contract: the client, the
//! indexer and mint programs derive every address from these constants.

/// Seed of the singleton [`crate::state::Config`].
pub const CONFIG_SEED: &[u8] = b"config";
/// Seed of an [`crate::state::Issuer`], followed by the issuer's authority.
pub const ISSUER_SEED: &[u8] = b"issuer";
/// Seed of a [`crate::state::SparkAccount`], followed by the owner wallet.
pub const SPARK_SEED: &[u8] = b"spark";
/// Seed of a [`crate::state::Perk`], followed by the perk id (u64 little-endian).
pub const PERK_SEED: &[u8] = b"perk";
/// Seed of a [`crate::state::PerkClaim`], followed by the perk and the owner.
pub const CLAIM_SEED: &[u8] = b"claim";
/// Seed of a [`crate::state::Whitelist`], followed by the whitelist id (u64 little-endian).
pub const WHITELIST_SEED: &[u8] = b"whitelist";
/// Seed of a [`crate::state::WhitelistEntry`], followed by the whitelist and the wallet.
pub const WHITELIST_ENTRY_SEED: &[u8] = b"wl_entry";

/// Largest quantity the program stores: amounts, balances and lifetime
/// totals, caps, costs, supplies, join thresholds and perk and whitelist ids
/// are at most 2^63 - 1, so every one fits a signed 64-bit integer wherever
/// it is mirrored (Postgres `bigint`, Java's `long`, `BigInt64Array`).
/// Larger values are refused with `QuantityTooLarge`.
pub const MAX_QUANTITY: u64 = i64::MAX as u64;

/// Basis points in one whole.
pub const MAX_BPS: u16 = 10_000;
/// Longest perk URI, in bytes; bounds the Perk account size.
pub const MAX_URI_LEN: usize = 128;
/// Most recipients one `award_batch` accepts. The transaction's limits bite
/// first (64-entry instruction trace, 64 account locks; see
/// docs/PROGRAM.md); this bounds the instruction data the program parses.
pub const MAX_BATCH_RECIPIENTS: usize = 64;
/// Shortest issuer cap period, so a cap cannot be reset every slot.
pub const MIN_ISSUER_PERIOD_SECS: u32 = 60;
/// Award ids an issuer may have open at once: ids from its floor (the lowest
/// id not yet used) up to `floor + AWARD_ID_WINDOW - 1`. 4096 ids cover
/// ~45 awards a second for the ~90 s a dropped transaction's blockhash lives.
pub const AWARD_ID_WINDOW: usize = 4096;
/// Slices an issuer's cap period is cut into; the cap holds over any
/// period-long window, at the price of capacity coming back one slice
/// (`period / CAP_SLICES`) later than a fixed window would give it.
pub const CAP_SLICES: usize = 8;
