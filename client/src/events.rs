//! Decoding the program's events from `emit_cpi!` inner-instruction data
//! (8-byte event-ix tag, 8-byte event discriminator, borsh payload) and from
//! `Program data:` log payloads (discriminator + borsh).

use anchor_lang::event::EVENT_IX_TAG_LE;
use anchor_lang::{AnchorDeserialize, Discriminator};
use sparks::events::*;

/// Every event the program emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SparksEvent {
    ConfigInitialized(ConfigInitialized),
    ConfigUpdated(ConfigUpdated),
    PauseChanged(PauseChanged),
    AdminProposed(AdminProposed),
    AdminAccepted(AdminAccepted),
    IssuerUpserted(IssuerUpserted),
    IssuerDeactivated(IssuerDeactivated),
    ReferrerSet(ReferrerSet),
    SparksAwarded(SparksAwarded),
    AwardIdsVoided(AwardIdsVoided),
    SparksRevoked(SparksRevoked),
    PerkCreated(PerkCreated),
    PerkUpdated(PerkUpdated),
    PerkRedeemed(PerkRedeemed),
    WhitelistCreated(WhitelistCreated),
    WhitelistUpdated(WhitelistUpdated),
    WhitelistAdminProposed(WhitelistAdminProposed),
    WhitelistAdminAccepted(WhitelistAdminAccepted),
    WhitelistSpotGranted(WhitelistSpotGranted),
    WhitelistSpotConsumed(WhitelistSpotConsumed),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("data is not an emit_cpi event instruction (missing event-ix tag)")]
    NotEventInstruction,
    #[error("data is shorter than an event discriminator")]
    TooShort,
    #[error("unknown event discriminator {0:02x?}")]
    UnknownDiscriminator([u8; 8]),
    #[error("event {name} did not decode: {reason}")]
    Malformed { name: &'static str, reason: String },
}

/// Runs `$body` on the event inside any variant, with `$name` its name.
macro_rules! for_each_event {
    ($value:expr, $event:ident, $name:ident => $body:expr) => {
        for_each_event!(@arms $value, $event, $name, $body,
            ConfigInitialized, ConfigUpdated, PauseChanged, AdminProposed, AdminAccepted,
            IssuerUpserted, IssuerDeactivated, ReferrerSet, SparksAwarded, AwardIdsVoided,
            SparksRevoked, PerkCreated, PerkUpdated, PerkRedeemed, WhitelistCreated,
            WhitelistUpdated, WhitelistAdminProposed, WhitelistAdminAccepted,
            WhitelistSpotGranted, WhitelistSpotConsumed)
    };
    (@arms $value:expr, $event:ident, $name:ident, $body:expr, $($variant:ident),+) => {
        match $value {
            $(SparksEvent::$variant($event) => {
                let $name = stringify!($variant);
                $body
            })+
        }
    };
}

macro_rules! decode_by_discriminator {
    ($disc:expr, $payload:expr, $($name:ident),+ $(,)?) => {{
        $(
            if $disc == $name::DISCRIMINATOR {
                let mut reader: &[u8] = $payload;
                let event = $name::deserialize(&mut reader).map_err(|e| DecodeError::Malformed {
                    name: stringify!($name),
                    reason: e.to_string(),
                })?;
                if !reader.is_empty() {
                    return Err(DecodeError::Malformed {
                        name: stringify!($name),
                        reason: format!("{} trailing bytes", reader.len()),
                    });
                }
                return Ok(SparksEvent::$name(event));
            }
        )+
    }};
}

impl SparksEvent {
    /// Decodes the data of an `emit_cpi!` inner instruction of this program.
    pub fn from_cpi_data(data: &[u8]) -> Result<Self, DecodeError> {
        let payload = data
            .strip_prefix(EVENT_IX_TAG_LE)
            .ok_or(DecodeError::NotEventInstruction)?;
        Self::from_log_data(payload)
    }

    /// Decodes an event payload: discriminator followed by borsh data (what a
    /// `Program data:` log line carries, base64-decoded).
    pub fn from_log_data(data: &[u8]) -> Result<Self, DecodeError> {
        if data.len() < 8 {
            return Err(DecodeError::TooShort);
        }
        let (disc, payload) = data.split_at(8);
        decode_by_discriminator!(
            disc,
            payload,
            ConfigInitialized,
            ConfigUpdated,
            PauseChanged,
            AdminProposed,
            AdminAccepted,
            IssuerUpserted,
            IssuerDeactivated,
            ReferrerSet,
            SparksAwarded,
            AwardIdsVoided,
            SparksRevoked,
            PerkCreated,
            PerkUpdated,
            PerkRedeemed,
            WhitelistCreated,
            WhitelistUpdated,
            WhitelistAdminProposed,
            WhitelistAdminAccepted,
            WhitelistSpotGranted,
            WhitelistSpotConsumed,
        );
        let mut unknown = [0u8; 8];
        unknown.copy_from_slice(disc);
        Err(DecodeError::UnknownDiscriminator(unknown))
    }

    /// The event's name as the IDL spells it.
    pub fn name(&self) -> &'static str {
        for_each_event!(self, _event, name => name)
    }

    /// The event as a `Program data:` line carries it (discriminator +
    /// borsh): what an indexer stores, and [`Self::from_log_data`] inverts.
    pub fn to_log_data(&self) -> Vec<u8> {
        use anchor_lang::Event as _;
        for_each_event!(self, event, _name => event.data())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_lang::Event;
    use sparks::state::{Source, SparkAccount};

    fn awarded() -> SparksAwarded {
        let mut account = SparkAccount::new(anchor_lang::prelude::Pubkey::new_unique(), 254);
        account.balance = 10;
        account.seq = 1;
        SparksAwarded {
            issuer: anchor_lang::prelude::Pubkey::new_unique(),
            source: Source::Trading,
            amount: 10,
            reference: [7; 32],
            award_id: 3,
            referral_from: None,
            referral_unpaid: 0,
            account,
        }
    }

    #[test]
    fn cpi_event_round_trips() {
        // Arrange
        let event = awarded();
        let mut data = EVENT_IX_TAG_LE.to_vec();
        data.extend(event.data());
        // Act
        let decoded = SparksEvent::from_cpi_data(&data);
        // Assert
        assert_eq!(decoded, Ok(SparksEvent::SparksAwarded(event)));
    }

    #[test]
    fn instruction_data_without_tag_is_not_an_event() {
        let data = anchor_lang::InstructionData::data(&sparks::instruction::Pause {});
        assert_eq!(
            SparksEvent::from_cpi_data(&data),
            Err(DecodeError::NotEventInstruction)
        );
    }

    #[test]
    fn unknown_discriminator_is_reported() {
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8, 0];
        assert_eq!(
            SparksEvent::from_log_data(&data),
            Err(DecodeError::UnknownDiscriminator([1, 2, 3, 4, 5, 6, 7, 8]))
        );
    }

    #[test]
    fn truncated_payload_is_malformed() {
        let data = awarded().data();
        let result = SparksEvent::from_log_data(&data[..data.len() - 3]);
        assert!(matches!(
            result,
            Err(DecodeError::Malformed {
                name: "SparksAwarded",
                ..
            })
        ));
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut data = awarded().data();
        data.push(0);
        let result = SparksEvent::from_log_data(&data);
        assert!(matches!(result, Err(DecodeError::Malformed { .. })));
    }

    #[test]
    fn every_event_discriminator_is_distinct() {
        let discs: Vec<&[u8]> = vec![
            ConfigInitialized::DISCRIMINATOR,
            ConfigUpdated::DISCRIMINATOR,
            PauseChanged::DISCRIMINATOR,
            AdminProposed::DISCRIMINATOR,
            AdminAccepted::DISCRIMINATOR,
            IssuerUpserted::DISCRIMINATOR,
            IssuerDeactivated::DISCRIMINATOR,
            ReferrerSet::DISCRIMINATOR,
            SparksAwarded::DISCRIMINATOR,
            AwardIdsVoided::DISCRIMINATOR,
            SparksRevoked::DISCRIMINATOR,
            PerkCreated::DISCRIMINATOR,
            PerkUpdated::DISCRIMINATOR,
            PerkRedeemed::DISCRIMINATOR,
            WhitelistCreated::DISCRIMINATOR,
            WhitelistUpdated::DISCRIMINATOR,
            WhitelistAdminProposed::DISCRIMINATOR,
            WhitelistAdminAccepted::DISCRIMINATOR,
            WhitelistSpotGranted::DISCRIMINATOR,
            WhitelistSpotConsumed::DISCRIMINATOR,
        ];
        let unique: std::collections::HashSet<_> = discs.iter().collect();
        assert_eq!(unique.len(), discs.len());
    }

    #[test]
    fn log_data_round_trips() {
        let event = SparksEvent::SparksAwarded(awarded());
        let bytes = event.to_log_data();
        assert_eq!(&bytes[..8], SparksAwarded::DISCRIMINATOR);
        assert_eq!(SparksEvent::from_log_data(&bytes), Ok(event.clone()));
        assert_eq!(event.name(), "SparksAwarded");
    }
}
