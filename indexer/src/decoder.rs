//! Decoding a confirmed transaction into Sparks events.
//!
//! Events reach an indexer two ways: as `emit_cpi!` self-invocations (inner
//! instructions: event-ix tag, discriminator, borsh), which survive log
//! truncation, and as `Program data:` log lines (discriminator, borsh,
//! base64) when a program also uses `emit!`. Both are read; an event seen
//! both ways counts once. Log lines are attributed by following the invoke
//! stack, so another program's `Program data:` is never taken for ours.
//!
//! Nothing here panics on chain input: a failed transaction, a truncated log
//! or data that does not decode is reported as a [`Problem`] beside whatever
//! did decode, for the store to record.

use anchor_lang::prelude::Pubkey;
use base64::Engine as _;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta;
use sparks_client::events::SparksEvent;
use sparks_client::rpc::{ui_inner_instructions, InnerData};

/// Where an event was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    InnerInstruction,
    /// Only in the logs (a `Program data:` line with no matching inner event).
    Log,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedEvent {
    /// Position in the transaction's event list; with the signature, the
    /// event's identity (the `events` table key).
    pub index: u32,
    pub origin: Origin,
    pub event: SparksEvent,
}

/// Something the indexer must record and skip, never crash on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The transaction failed; it changed no state.
    Failed(String),
    /// The node's log was cut short; events may still come from inner instructions.
    LogTruncated,
    /// Data under our program that is not an event we know.
    Undecodable { origin: Origin, reason: String },
    /// The response lacks what decoding needs (meta, binary transaction…).
    Malformed(String),
    /// The node refuses to return it for good (e.g. a transaction version
    /// this client cannot read); `reindex --problems` asks again.
    Unfetchable(String),
    /// An event carries a quantity above 2^63 - 1, which the program never
    /// stores (`MAX_QUANTITY`) and the store's columns cannot hold: the
    /// transaction is recorded and skipped whole, not retried forever.
    OutOfRange(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedTransaction {
    pub slot: u64,
    pub events: Vec<DecodedEvent>,
    pub problems: Vec<Problem>,
}

/// What decoding reads of a transaction, whichever way it arrived (a
/// JSON-RPC `getTransaction` answer or a Yellowstone stream update).
pub struct Parts<'a> {
    /// The keys instruction indexes refer to: the message's own, then (v0)
    /// the writable and read-only addresses loaded from lookup tables.
    pub keys: Vec<Pubkey>,
    /// Every inner instruction: its program's index in `keys` and its data.
    pub inner: Vec<(usize, InnerData<'a>)>,
    pub logs: &'a [String],
}

/// Decodes one transaction of `program` (the Sparks program id) as a
/// JSON-RPC node returns it.
pub fn decode(
    tx: &EncodedConfirmedTransactionWithStatusMeta,
    program: &Pubkey,
) -> DecodedTransaction {
    let mut decoded = DecodedTransaction {
        slot: tx.slot,
        events: Vec::new(),
        problems: Vec::new(),
    };
    let Some(meta) = &tx.transaction.meta else {
        decoded
            .problems
            .push(Problem::Malformed("no status meta".into()));
        return decoded;
    };
    if let Some(err) = &meta.err {
        decoded.problems.push(Problem::Failed(format!("{err:?}")));
        return decoded;
    }
    let logs: &[String] = match &meta.log_messages {
        OptionSerializer::Some(logs) => logs,
        _ => &[],
    };
    let (keys, inner) = match tx.transaction.transaction.decode() {
        Some(transaction) => (
            account_keys(
                transaction.message.static_account_keys(),
                &meta.loaded_addresses,
            ),
            ui_inner_instructions(&meta.inner_instructions),
        ),
        None => {
            decoded.problems.push(Problem::Malformed(
                "transaction is not binary-encoded".into(),
            ));
            (Vec::new(), Vec::new())
        }
    };
    decode_parts(Parts { keys, inner, logs }, program, decoded)
}

/// The events in `parts`, added to `decoded` (which carries the slot and
/// any problem found reading the transaction).
pub fn decode_parts(
    parts: Parts<'_>,
    program: &Pubkey,
    mut decoded: DecodedTransaction,
) -> DecodedTransaction {
    let inner = inner_events(&parts.keys, parts.inner, program, &mut decoded.problems);
    let logged = log_events(parts.logs, program, &mut decoded.problems);
    decoded.events = merge(inner, logged);
    if let Some((field, value)) = decoded.events.iter().find_map(|e| out_of_range(&e.event)) {
        decoded.problems.push(Problem::OutOfRange(format!(
            "{field} = {value} exceeds 2^63-1"
        )));
        decoded.events.clear();
    }
    decoded
}

/// The first stored quantity of `event` above `i64::MAX`, if any.
pub fn out_of_range(event: &SparksEvent) -> Option<(&'static str, u64)> {
    use sparks::state::{Config, Issuer, Perk, SparkAccount, Whitelist};
    fn account(a: &SparkAccount) -> [(&'static str, u64); 9] {
        [
            ("balance", a.balance),
            ("lifetime_earned", a.lifetime_earned),
            ("lifetime_spent", a.lifetime_spent),
            ("lifetime_revoked", a.lifetime_revoked),
            ("earned_trading", a.earned_by_source[0]),
            ("earned_subscription", a.earned_by_source[1]),
            ("earned_campaign", a.earned_by_source[2]),
            ("earned_referral", a.earned_by_source[3]),
            ("seq", a.seq),
        ]
    }
    fn config(c: &Config) -> Vec<(&'static str, u64)> {
        vec![
            ("first_subscription_bonus", c.first_subscription_bonus),
            ("max_award_per_ix", c.max_award_per_ix),
            ("seq", c.seq),
        ]
    }
    fn issuer(i: &Issuer) -> Vec<(&'static str, u64)> {
        vec![("cap_per_period", i.cap_per_period), ("seq", i.seq)]
    }
    fn perk(p: &Perk) -> Vec<(&'static str, u64)> {
        vec![
            ("perk id", p.id),
            ("cost", p.cost),
            ("max_supply", p.max_supply),
            ("claimed", p.claimed),
            ("seq", p.seq),
        ]
    }
    fn whitelist(w: &Whitelist) -> Vec<(&'static str, u64)> {
        vec![
            ("whitelist id", w.id),
            ("min_lifetime_sparks", w.min_lifetime_sparks),
            ("seq", w.seq),
        ]
    }
    use SparksEvent as E;
    let values: Vec<(&'static str, u64)> = match event {
        E::ConfigInitialized(e) => config(&e.config),
        E::ConfigUpdated(e) => config(&e.config),
        E::PauseChanged(e) => config(&e.config),
        E::AdminProposed(e) => config(&e.config),
        E::AdminAccepted(e) => config(&e.config),
        E::IssuerUpserted(e) => issuer(&e.issuer),
        E::IssuerDeactivated(e) => issuer(&e.issuer),
        E::ReferrerSet(e) => [account(&e.invitee), account(&e.referrer)].concat(),
        E::SparksAwarded(e) => [vec![("amount", e.amount)], account(&e.account).to_vec()].concat(),
        E::SparksRevoked(e) => [vec![("amount", e.amount)], account(&e.account).to_vec()].concat(),
        E::AwardIdsVoided(_) => Vec::new(),
        E::PerkCreated(e) => perk(&e.perk),
        E::PerkUpdated(e) => perk(&e.perk),
        E::PerkRedeemed(e) => [
            perk(&e.perk),
            vec![("claim seq", e.claim.seq)],
            account(&e.account).to_vec(),
        ]
        .concat(),
        E::WhitelistCreated(e) => whitelist(&e.whitelist),
        E::WhitelistUpdated(e) => whitelist(&e.whitelist),
        E::WhitelistAdminProposed(e) => whitelist(&e.whitelist),
        E::WhitelistAdminAccepted(e) => whitelist(&e.whitelist),
        E::WhitelistSpotGranted(e) => {
            [whitelist(&e.whitelist), vec![("entry seq", e.entry.seq)]].concat()
        }
        E::WhitelistSpotConsumed(e) => {
            [whitelist(&e.whitelist), vec![("entry seq", e.entry.seq)]].concat()
        }
    };
    values
        .into_iter()
        .find(|(_, value)| i64::try_from(*value).is_err())
}

/// The keys instruction indexes refer to: the message's own, then (v0) the
/// writable and read-only addresses loaded from lookup tables.
fn account_keys(
    static_keys: &[Pubkey],
    loaded: &OptionSerializer<solana_transaction_status_client_types::UiLoadedAddresses>,
) -> Vec<Pubkey> {
    let mut keys = static_keys.to_vec();
    if let OptionSerializer::Some(loaded) = loaded {
        keys.extend(
            loaded
                .writable
                .iter()
                .chain(&loaded.readonly)
                .map(|key| key.parse::<Pubkey>().unwrap_or_default()),
        );
    }
    keys
}

/// `emit_cpi!` events: our program's inner instructions tagged as events.
fn inner_events(
    keys: &[Pubkey],
    inner: Vec<(usize, InnerData<'_>)>,
    program: &Pubkey,
    problems: &mut Vec<Problem>,
) -> Vec<SparksEvent> {
    let mut events = Vec::new();
    for result in sparks_client::rpc::inner_events(keys, inner, program) {
        match result {
            Ok(event) => events.push(event),
            Err(reason) => problems.push(Problem::Undecodable {
                origin: Origin::InnerInstruction,
                reason,
            }),
        }
    }
    events
}

/// `Program data:` payloads logged while our program was the one executing.
fn log_events(logs: &[String], program: &Pubkey, problems: &mut Vec<Problem>) -> Vec<SparksEvent> {
    let program = program.to_string();
    let mut stack: Vec<&str> = Vec::new();
    let mut events = Vec::new();
    for line in logs {
        if line == "Log truncated" {
            problems.push(Problem::LogTruncated);
            break;
        }
        let Some(rest) = line.strip_prefix("Program ") else {
            continue;
        };
        if let Some(payload) = rest.strip_prefix("data: ") {
            if stack.last() != Some(&program.as_str()) {
                continue; // another program's data
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(payload.split_whitespace().next().unwrap_or_default())
                .map_err(|e| format!("base64: {e}"))
                .and_then(|bytes| SparksEvent::from_log_data(&bytes).map_err(|e| e.to_string()));
            match decoded {
                Ok(event) => events.push(event),
                Err(reason) => problems.push(Problem::Undecodable {
                    origin: Origin::Log,
                    reason,
                }),
            }
            continue;
        }
        let mut words = rest.split_whitespace();
        let (Some(id), Some(verb)) = (words.next(), words.next()) else {
            continue;
        };
        match verb {
            "invoke" => stack.push(id),
            "success" | "failed:" => {
                // Pop the innermost frame of this program (logs can repeat lines natively).
                if let Some(position) = stack.iter().rposition(|frame| *frame == id) {
                    stack.truncate(position);
                }
            }
            _ => {}
        }
    }
    events
}

/// Inner-instruction events, then any logged event that no inner event
/// accounts for. Equal events are matched one to one, so an event emitted
/// twice is kept twice.
fn merge(inner: Vec<SparksEvent>, logged: Vec<SparksEvent>) -> Vec<DecodedEvent> {
    let mut unmatched: Vec<Option<&SparksEvent>> = inner.iter().map(Some).collect();
    let mut log_only = Vec::new();
    for event in &logged {
        match unmatched
            .iter_mut()
            .find(|slot| slot.is_some_and(|e| e == event))
        {
            Some(slot) => *slot = None,
            None => log_only.push(event.clone()),
        }
    }
    inner
        .into_iter()
        .map(|event| (Origin::InnerInstruction, event))
        .chain(log_only.into_iter().map(|event| (Origin::Log, event)))
        .enumerate()
        .map(|(index, (origin, event))| DecodedEvent {
            index: index as u32,
            origin,
            event,
        })
        .collect()
}
