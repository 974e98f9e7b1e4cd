//! Turning decoded transactions into the rows one store batch writes.
//!
//! Pure and synchronous, so the hot path's CPU work is testable and
//! measurable without a database. Projections keep, per key, only the state
//! with the highest `seq` in the batch (the database applies the same rule
//! against what it already holds), so a batch never updates a row twice.

use std::collections::BTreeMap;

use anchor_lang::prelude::Pubkey;
use sparks::state::{Config, Issuer, Perk, PerkClaim, SparkAccount, Whitelist, WhitelistEntry};
use sparks_client::events::SparksEvent;
use sparks_client::pda;

use crate::decoder::{DecodedEvent, Origin, Problem};

/// One transaction of the program as the source delivers it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedTransaction {
    pub signature: String,
    pub slot: u64,
    pub block_time: Option<i64>,
    /// Already finalized when fetched (older transactions of a backfill).
    pub finalized: bool,
    pub events: Vec<DecodedEvent>,
    pub problems: Vec<Problem>,
}

impl IndexedTransaction {
    pub fn failed(&self) -> bool {
        self.problems
            .iter()
            .any(|p| matches!(p, Problem::Failed(_)))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RowError {
    /// Postgres bigint holds up to 2^63-1; a larger u64 is refused, not wrapped.
    #[error("{field} = {value} exceeds the store's bigint range (transaction {signature})")]
    OutOfRange {
        field: &'static str,
        value: u64,
        signature: String,
    },
}

#[derive(Default)]
pub struct TransactionRows {
    pub signature: Vec<String>,
    pub slot: Vec<i64>,
    pub block_time: Vec<Option<i64>>,
    pub failed: Vec<bool>,
    pub event_count: Vec<i32>,
    pub finalized: Vec<bool>,
}

#[derive(Default)]
pub struct EventRows {
    pub signature: Vec<String>,
    pub event_index: Vec<i32>,
    pub slot: Vec<i64>,
    pub block_time: Vec<Option<i64>>,
    pub kind: Vec<String>,
    pub wallet: Vec<Option<String>>,
    pub origin: Vec<String>,
    pub payload: Vec<Vec<u8>>,
}

#[derive(Default)]
pub struct ProblemRows {
    pub signature: Vec<String>,
    pub position: Vec<i32>,
    pub slot: Vec<i64>,
    pub kind: Vec<String>,
    pub detail: Vec<String>,
}

#[derive(Default)]
pub struct LedgerRows {
    pub signature: Vec<String>,
    pub event_index: Vec<i32>,
    pub wallet: Vec<String>,
    pub seq: Vec<i64>,
    pub slot: Vec<i64>,
    pub block_time: Vec<Option<i64>>,
    pub kind: Vec<String>,
    pub source: Vec<Option<i16>>,
    pub amount: Vec<i64>,
    pub balance_after: Vec<i64>,
    pub issuer: Vec<Option<String>>,
    pub reference: Vec<Option<Vec<u8>>>,
    pub counterparty: Vec<Option<String>>,
}

#[derive(Default)]
pub struct ReferralRows {
    pub invitee: Vec<String>,
    pub referrer: Vec<String>,
    pub signature: Vec<String>,
    pub slot: Vec<i64>,
    pub block_time: Vec<Option<i64>>,
}

/// Where a projected state was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub slot: u64,
    pub block_time: Option<i64>,
}

/// Per key, the state with the highest seq. Kept in key order: batches
/// committing at the same time then lock shared rows in the same order, so
/// they wait for each other instead of deadlocking.
pub struct Latest<K, V> {
    map: BTreeMap<K, (u64, V, Seen)>,
}

impl<K, V> Default for Latest<K, V> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }
}

impl<K: Ord, V> Latest<K, V> {
    fn offer(&mut self, key: K, seq: u64, value: V, seen: Seen) {
        match self.map.get(&key) {
            Some((held, _, _)) if *held >= seq => {}
            _ => {
                self.map.insert(key, (seq, value, seen));
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The held state of `key` and where it was seen.
    pub fn get(&self, key: &K) -> Option<(&V, &Seen)> {
        self.map.get(key).map(|(_, value, seen)| (value, seen))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    /// Keeps only the keys `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.map.retain(|key, _| keep(key));
    }

    /// Takes `other`'s states where they are newer.
    pub fn merge(&mut self, other: Self) {
        for (key, (seq, value, seen)) in other.map {
            self.offer(key, seq, value, seen);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V, &Seen)> {
        self.map
            .iter()
            .map(|(key, (_, value, seen))| (key, value, seen))
    }
}

/// Everything one batch writes.
#[derive(Default)]
pub struct BatchRows {
    pub transactions: TransactionRows,
    pub events: EventRows,
    pub problems: ProblemRows,
    pub ledger: LedgerRows,
    pub referrals: ReferralRows,
    pub config: Latest<Pubkey, Config>,
    pub issuers: Latest<Pubkey, Issuer>,
    pub spark_accounts: Latest<Pubkey, SparkAccount>,
    pub perks: Latest<Pubkey, Perk>,
    pub claims: Latest<Pubkey, PerkClaim>,
    pub whitelists: Latest<Pubkey, Whitelist>,
    pub entries: Latest<Pubkey, WhitelistEntry>,
    /// The transactions with an event webhook subscriptions may name, in
    /// batch order (the outbox's row; see `webhooks::outbox`).
    pub notifiable: Vec<String>,
}

pub(crate) fn int(value: u64, field: &'static str, signature: &str) -> Result<i64, RowError> {
    i64::try_from(value).map_err(|_| RowError::OutOfRange {
        field,
        value,
        signature: signature.to_owned(),
    })
}

pub fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::InnerInstruction => "inner_instruction",
        Origin::Log => "log",
    }
}

pub fn problem_kind(problem: &Problem) -> (&'static str, String) {
    match problem {
        Problem::Failed(error) => ("failed", error.clone()),
        Problem::Malformed(reason) => ("malformed", reason.clone()),
        Problem::LogTruncated => ("log_truncated", "the node truncated the log".into()),
        Problem::Unfetchable(reason) => ("unfetchable", reason.clone()),
        Problem::OutOfRange(reason) => ("out_of_range", reason.clone()),
        Problem::Undecodable { origin, reason } => {
            ("undecodable", format!("{}: {reason}", origin_name(*origin)))
        }
    }
}

/// The wallet an event is about, for the events table's `wallet` column.
pub fn event_wallet(event: &SparksEvent) -> Option<Pubkey> {
    match event {
        SparksEvent::ReferrerSet(e) => Some(e.invitee.owner),
        SparksEvent::SparksAwarded(e) => Some(e.account.owner),
        SparksEvent::SparksRevoked(e) => Some(e.account.owner),
        SparksEvent::PerkRedeemed(e) => Some(e.account.owner),
        SparksEvent::WhitelistSpotGranted(e) => Some(e.entry.wallet),
        SparksEvent::WhitelistSpotConsumed(e) => Some(e.entry.wallet),
        SparksEvent::IssuerUpserted(e) => Some(e.issuer.authority),
        SparksEvent::IssuerDeactivated(e) => Some(e.issuer.authority),
        SparksEvent::AwardIdsVoided(e) => Some(e.issuer),
        SparksEvent::ConfigInitialized(_)
        | SparksEvent::ConfigUpdated(_)
        | SparksEvent::PauseChanged(_)
        | SparksEvent::AdminProposed(_)
        | SparksEvent::AdminAccepted(_)
        | SparksEvent::PerkCreated(_)
        | SparksEvent::PerkUpdated(_)
        | SparksEvent::WhitelistCreated(_)
        | SparksEvent::WhitelistUpdated(_)
        | SparksEvent::WhitelistAdminProposed(_)
        | SparksEvent::WhitelistAdminAccepted(_) => None,
    }
}

impl BatchRows {
    /// The lowest slot among the batch's transactions not yet final.
    pub fn oldest_unfinalized_slot(&self) -> Option<i64> {
        let t = &self.transactions;
        t.slot
            .iter()
            .zip(&t.finalized)
            .filter(|(_, finalized)| !**finalized)
            .map(|(slot, _)| *slot)
            .min()
    }

    pub fn build(transactions: &[IndexedTransaction]) -> Result<Self, RowError> {
        let mut rows = Self::default();
        for tx in transactions {
            rows.add_transaction(tx)?;
        }
        Ok(rows)
    }

    fn add_transaction(&mut self, tx: &IndexedTransaction) -> Result<(), RowError> {
        let slot = int(tx.slot, "slot", &tx.signature)?;
        let t = &mut self.transactions;
        t.signature.push(tx.signature.clone());
        t.slot.push(slot);
        t.block_time.push(tx.block_time);
        t.failed.push(tx.failed());
        t.event_count.push(tx.events.len() as i32);
        t.finalized.push(tx.finalized);
        for (position, problem) in tx.problems.iter().enumerate() {
            let (kind, detail) = problem_kind(problem);
            let p = &mut self.problems;
            p.signature.push(tx.signature.clone());
            p.position.push(position as i32);
            p.slot.push(slot);
            p.kind.push(kind.to_owned());
            p.detail.push(detail);
        }
        for decoded in &tx.events {
            let e = &mut self.events;
            e.signature.push(tx.signature.clone());
            e.event_index.push(decoded.index as i32);
            e.slot.push(slot);
            e.block_time.push(tx.block_time);
            e.kind.push(decoded.event.name().to_owned());
            e.wallet
                .push(event_wallet(&decoded.event).map(|key| key.to_string()));
            e.origin.push(origin_name(decoded.origin).to_owned());
            e.payload.push(decoded.event.to_log_data());
            if crate::webhooks::events::is_notifiable(&decoded.event)
                && self.notifiable.last() != Some(&tx.signature)
            {
                self.notifiable.push(tx.signature.clone());
            }
            self.project(tx, decoded)?;
        }
        Ok(())
    }

    /// Applies one event to the projections (used for fresh batches and for
    /// rebuilding projections from the stored events).
    pub fn project(
        &mut self,
        tx: &IndexedTransaction,
        decoded: &DecodedEvent,
    ) -> Result<(), RowError> {
        let seen = Seen {
            slot: tx.slot,
            block_time: tx.block_time,
        };
        let sig = tx.signature.as_str();
        match &decoded.event {
            SparksEvent::ConfigInitialized(e) => self.config_state(&e.config, seen),
            SparksEvent::ConfigUpdated(e) => self.config_state(&e.config, seen),
            SparksEvent::PauseChanged(e) => self.config_state(&e.config, seen),
            SparksEvent::AdminProposed(e) => self.config_state(&e.config, seen),
            SparksEvent::AdminAccepted(e) => self.config_state(&e.config, seen),
            SparksEvent::IssuerUpserted(e) => self.issuer_state(&e.issuer, seen),
            SparksEvent::IssuerDeactivated(e) => self.issuer_state(&e.issuer, seen),
            SparksEvent::ReferrerSet(e) => {
                self.spark_state(&e.invitee, seen);
                self.spark_state(&e.referrer, seen);
                let r = &mut self.referrals;
                r.invitee.push(e.invitee.owner.to_string());
                r.referrer.push(e.referrer.owner.to_string());
                r.signature.push(sig.to_owned());
                r.slot.push(int(tx.slot, "slot", sig)?);
                r.block_time.push(tx.block_time);
            }
            SparksEvent::SparksAwarded(e) => {
                let amount = int(e.amount, "amount", sig)?;
                let kind = if e.referral_from.is_some() {
                    "referral_share"
                } else {
                    "award"
                };
                self.ledger_row(tx, decoded.index, &e.account, kind, amount)?;
                let l = &mut self.ledger;
                l.source.push(Some(e.source as i16));
                l.issuer.push(Some(e.issuer.to_string()));
                l.reference.push(Some(e.reference.to_vec()));
                l.counterparty
                    .push(e.referral_from.map(|key| key.to_string()));
                self.spark_state(&e.account, seen);
            }
            SparksEvent::SparksRevoked(e) => {
                let amount = -int(e.amount, "amount", sig)?;
                self.ledger_row(tx, decoded.index, &e.account, "revoke", amount)?;
                let l = &mut self.ledger;
                l.source.push(None);
                l.issuer.push(None);
                l.reference.push(Some(e.reason.to_le_bytes().to_vec()));
                l.counterparty.push(Some(e.admin.to_string()));
                self.spark_state(&e.account, seen);
            }
            SparksEvent::PerkRedeemed(e) => {
                let amount = -int(e.perk.cost, "cost", sig)?;
                self.ledger_row(tx, decoded.index, &e.account, "redeem", amount)?;
                let l = &mut self.ledger;
                l.source.push(None);
                l.issuer.push(None);
                l.reference.push(None);
                l.counterparty.push(Some(pda::perk(e.perk.id).to_string()));
                self.spark_state(&e.account, seen);
                self.perk_state(&e.perk, seen);
                let claim = pda::claim(&pda::perk(e.perk.id), &e.claim.owner);
                self.claims.offer(claim, e.claim.seq, e.claim.clone(), seen);
            }
            SparksEvent::PerkCreated(e) => self.perk_state(&e.perk, seen),
            SparksEvent::PerkUpdated(e) => self.perk_state(&e.perk, seen),
            SparksEvent::WhitelistCreated(e) => self.whitelist_state(&e.whitelist, seen),
            SparksEvent::WhitelistUpdated(e) => self.whitelist_state(&e.whitelist, seen),
            SparksEvent::WhitelistAdminProposed(e) => self.whitelist_state(&e.whitelist, seen),
            SparksEvent::WhitelistAdminAccepted(e) => self.whitelist_state(&e.whitelist, seen),
            // The issuer's own bookkeeping: kept in `events`, no projection.
            SparksEvent::AwardIdsVoided(_) => {}
            SparksEvent::WhitelistSpotGranted(e) => {
                self.whitelist_state(&e.whitelist, seen);
                self.entry_state(&e.entry, seen);
            }
            SparksEvent::WhitelistSpotConsumed(e) => {
                self.whitelist_state(&e.whitelist, seen);
                self.entry_state(&e.entry, seen);
            }
        }
        Ok(())
    }

    /// The columns every ledger row shares; the caller pushes the rest.
    fn ledger_row(
        &mut self,
        tx: &IndexedTransaction,
        event_index: u32,
        account: &SparkAccount,
        kind: &str,
        amount: i64,
    ) -> Result<(), RowError> {
        let sig = tx.signature.as_str();
        let l = &mut self.ledger;
        l.signature.push(sig.to_owned());
        l.event_index.push(event_index as i32);
        l.wallet.push(account.owner.to_string());
        l.seq.push(int(account.seq, "seq", sig)?);
        l.slot.push(int(tx.slot, "slot", sig)?);
        l.block_time.push(tx.block_time);
        l.kind.push(kind.to_owned());
        l.amount.push(amount);
        l.balance_after.push(int(account.balance, "balance", sig)?);
        Ok(())
    }

    fn config_state(&mut self, config: &Config, seen: Seen) {
        self.config
            .offer(pda::config(), config.seq, config.clone(), seen);
    }

    fn issuer_state(&mut self, issuer: &Issuer, seen: Seen) {
        self.issuers
            .offer(issuer.authority, issuer.seq, issuer.clone(), seen);
    }

    fn spark_state(&mut self, account: &SparkAccount, seen: Seen) {
        self.spark_accounts
            .offer(account.owner, account.seq, account.clone(), seen);
    }

    fn perk_state(&mut self, perk: &Perk, seen: Seen) {
        self.perks
            .offer(pda::perk(perk.id), perk.seq, perk.clone(), seen);
    }

    fn whitelist_state(&mut self, whitelist: &Whitelist, seen: Seen) {
        self.whitelists.offer(
            pda::whitelist(whitelist.id),
            whitelist.seq,
            whitelist.clone(),
            seen,
        );
    }

    fn entry_state(&mut self, entry: &WhitelistEntry, seen: Seen) {
        let address = pda::whitelist_entry(&entry.whitelist, &entry.wallet);
        self.entries.offer(address, entry.seq, entry.clone(), seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparks::events::{SparksAwarded, SparksRevoked};
    use sparks::state::Source;

    fn account(owner: Pubkey, balance: u64, seq: u64) -> SparkAccount {
        let mut account = SparkAccount::new(owner, 255);
        account.balance = balance;
        account.seq = seq;
        account
    }

    fn tx(signature: &str, slot: u64, events: Vec<SparksEvent>) -> IndexedTransaction {
        IndexedTransaction {
            signature: signature.into(),
            slot,
            block_time: Some(1_700_000_000),
            finalized: false,
            events: events
                .into_iter()
                .enumerate()
                .map(|(index, event)| DecodedEvent {
                    index: index as u32,
                    origin: Origin::InnerInstruction,
                    event,
                })
                .collect(),
            problems: Vec::new(),
        }
    }

    fn awarded(account: SparkAccount, amount: u64) -> SparksEvent {
        SparksEvent::SparksAwarded(SparksAwarded {
            issuer: Pubkey::new_unique(),
            source: Source::Campaign,
            amount,
            reference: [0; 32],
            award_id: 0,
            referral_from: None,
            referral_unpaid: 0,
            account,
        })
    }

    #[test]
    fn a_batch_keeps_the_newest_state_of_each_account_whatever_the_order() {
        let wallet = Pubkey::new_unique();
        // seq 2 arrives before seq 1 (shuffled delivery).
        let rows = BatchRows::build(&[
            tx("b", 20, vec![awarded(account(wallet, 30, 2), 20)]),
            tx("a", 10, vec![awarded(account(wallet, 10, 1), 10)]),
        ])
        .unwrap();
        let states: Vec<_> = rows.spark_accounts.iter().collect();
        assert_eq!(states.len(), 1);
        let (_, state, seen) = states[0];
        assert_eq!((state.seq, state.balance, seen.slot), (2, 30, 20));
        // Both ledger rows are kept; each is keyed by where it happened.
        assert_eq!(rows.ledger.signature, ["b", "a"]);
        assert_eq!(rows.ledger.amount, [20, 10]);
    }

    #[test]
    fn spending_and_revoking_are_negative_ledger_amounts() {
        let wallet = Pubkey::new_unique();
        let revoked = SparksEvent::SparksRevoked(SparksRevoked {
            admin: Pubkey::new_unique(),
            amount: 4,
            reason: 9,
            account: account(wallet, 6, 2),
        });
        let rows = BatchRows::build(&[tx(
            "s",
            1,
            vec![awarded(account(wallet, 10, 1), 10), revoked],
        )])
        .unwrap();
        assert_eq!(rows.ledger.kind, ["award", "revoke"]);
        assert_eq!(rows.ledger.amount, [10, -4]);
        assert_eq!(rows.ledger.balance_after, [10, 6]);
        assert_eq!(rows.events.kind, ["SparksAwarded", "SparksRevoked"]);
        assert_eq!(
            rows.events.wallet,
            [Some(wallet.to_string()), Some(wallet.to_string())]
        );
    }

    #[test]
    fn the_largest_quantity_the_program_stores_fits() {
        let wallet = Pubkey::new_unique();
        let largest = i64::MAX as u64;
        let rows = BatchRows::build(&[tx(
            "x",
            1,
            vec![awarded(account(wallet, largest, 1), largest)],
        )])
        .unwrap();
        assert_eq!(rows.ledger.amount, [i64::MAX]);
        assert_eq!(rows.ledger.balance_after, [i64::MAX]);
    }

    #[test]
    fn an_amount_beyond_bigint_is_refused_not_wrapped() {
        let wallet = Pubkey::new_unique();
        let huge = u64::MAX;
        let error = BatchRows::build(&[tx("x", 1, vec![awarded(account(wallet, huge, 1), huge)])])
            .err()
            .expect("refused");
        assert_eq!(
            error,
            RowError::OutOfRange {
                field: "amount",
                value: huge,
                signature: "x".into()
            }
        );
    }

    #[test]
    fn problems_are_rows_with_their_reason() {
        let mut failed = tx("f", 3, Vec::new());
        failed.problems = vec![Problem::Failed("InstructionError(0, Custom(6010))".into())];
        let rows = BatchRows::build(&[failed]).unwrap();
        assert_eq!(rows.transactions.failed, [true]);
        assert_eq!(rows.problems.kind, ["failed"]);
        assert_eq!(rows.problems.detail, ["InstructionError(0, Custom(6010))"]);
    }
}
