//! Which streamed slots are confirmed and complete: the stream's proof rules.
//!
//! Transactions arrive at `processed` and wait here by slot. A slot is
//! stored once it is confirmed *and* its ancestry links, slot by slot
//! through parents this stream reported, down to a slot the mirror is
//! already complete through (`complete_through`). A parent the stream never
//! reported is a gap (a reconnect past the cursor, a skipped message, a
//! buffer dropped for memory): only the RPC listing can fill it, and until
//! a repair proves the mirror complete past it, nothing above it is stored.
//! A confirmed slot implies its ancestors; a slot under a newer confirmed
//! or finalized one that is not among its ancestors was on a dropped fork
//! and is discarded (it was never stored, so nothing rolls back).
//!
//! A repair never drops what the stream holds: transactions it brought
//! that the listing did not (still processed when listed) are stored when
//! their slot confirms, and the store's signature check keeps anything the
//! listing did store from being stored twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use yellowstone_grpc_proto::prelude::SubscribeUpdateTransactionInfo;

#[derive(Default)]
struct Slot {
    parent: Option<u64>,
    block_time: Option<i64>,
    confirmed: bool,
    /// By signature (a duplicate replaces, never adds), with the position
    /// in the block that orders them.
    transactions: HashMap<Vec<u8>, SubscribeUpdateTransactionInfo>,
}

/// A confirmed slot's transactions, in block order.
#[derive(Debug)]
pub struct ConfirmedSlot {
    pub slot: u64,
    pub block_time: Option<i64>,
    pub transactions: Vec<SubscribeUpdateTransactionInfo>,
}

/// What a confirmation makes ready.
#[derive(Debug)]
pub enum Ready {
    /// Confirmed slots to store, oldest first; the mirror is then complete
    /// through `through`.
    Store {
        slots: Vec<ConfirmedSlot>,
        through: u64,
    },
    /// The confirmed slot's ancestry breaks at `missing`, which the stream
    /// never reported: repair through RPC.
    Gap {
        confirmed: u64,
        missing: u64,
    },
    Nothing,
}

pub struct Tracker {
    complete_through: u64,
    /// Slots above `complete_through`, and confirmed ones at or below it
    /// still to store.
    slots: BTreeMap<u64, Slot>,
    buffered: usize,
    max_buffered: usize,
    /// Newest confirmed slot whose ancestry has not linked yet.
    unlinked: Option<u64>,
    /// Slots up to this one may be held in part (a connection that did not
    /// replay began inside one; the buffer overflowed): only a repair
    /// proving the mirror through it lets them count.
    untrusted_through: u64,
    /// The next message's slot is where the connection begins.
    awaiting_first: bool,
    /// The slot the connection was asked to replay from.
    replay_from: Option<u64>,
    /// Slots known confirmed (recent ones): a transaction arriving after
    /// its slot was stored is stored late only if its slot is one of them.
    confirmed_slots: BTreeSet<u64>,
}

/// What became of a streamed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Waiting for its slot to confirm and link.
    Waiting,
    /// Its slot is confirmed and already stored: store it now
    /// ([`Tracker::late`]).
    Late,
    /// Too many were waiting: the unconfirmed were dropped (their
    /// confirmation will find a gap and repair it).
    Overflowed,
}

/// A reported parent, unless it is not below its slot (nonsense from the
/// wire, which would otherwise send the ancestry walk round in a loop):
/// then none, which the walk takes for a gap.
fn below(slot: u64, parent: Option<u64>) -> Option<u64> {
    parent.filter(|parent| *parent < slot)
}

/// Confirmed slots remembered for late transactions.
const CONFIRMED_KEPT: usize = 10_000;

impl Tracker {
    pub fn new(complete_through: u64, max_buffered: usize) -> Self {
        Self {
            complete_through,
            slots: BTreeMap::new(),
            buffered: 0,
            max_buffered: max_buffered.max(1),
            unlinked: None,
            untrusted_through: 0,
            awaiting_first: true,
            replay_from: None,
            confirmed_slots: BTreeSet::new(),
        }
    }

    /// The slot the mirror is complete through.
    pub fn complete_through(&self) -> u64 {
        self.complete_through
    }

    /// Transactions held, waiting for their slots to confirm.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// A new connection. One that replays from `whole_from` resends every
    /// slot from there on whole (what lies before it and after the mirror
    /// needs a repair); one at the live tip (`None`) may begin inside a
    /// slot, so what it and the last one held is untrusted until a repair.
    /// Either way the first slot it brings is checked ([`Tracker::seen`]).
    pub fn reconnected(&mut self, whole_from: Option<u64>) {
        match whole_from {
            Some(slot) => {
                self.untrusted_through = self.untrusted_through.max(slot.saturating_sub(1));
            }
            None => {
                let newest = self.slots.keys().next_back().copied().unwrap_or(0);
                self.untrusted_through = self.untrusted_through.max(newest);
            }
        }
        self.replay_from = whole_from;
        self.awaiting_first = true;
        self.slots.retain(|_, slot| slot.confirmed);
        self.recount();
    }

    /// A connection that did not replay can only hold in part the slots
    /// that had begun before it was open: up to `processed_tip`, the RPC
    /// node's newest slot read once it was, and up to the first slot it
    /// brings (the stream's node may be ahead of the RPC node).
    pub fn began_after(&mut self, processed_tip: u64) {
        self.untrusted_through = self.untrusted_through.max(processed_tip);
    }

    /// Every streamed message's slot, first of all. A replay that begins
    /// above the slot it was asked from (an endpoint that ignored
    /// `from_slot`) and a live connection may both begin inside their
    /// first slot.
    fn seen(&mut self, slot: u64) {
        if !self.awaiting_first {
            return;
        }
        self.awaiting_first = false;
        let whole = self.replay_from.is_some_and(|from| slot <= from);
        if !whole {
            self.untrusted_through = self.untrusted_through.max(slot);
        }
    }

    /// Holds a streamed transaction.
    pub fn transaction(&mut self, slot: u64, info: SubscribeUpdateTransactionInfo) -> Held {
        self.seen(slot);
        let entry = self.slots.entry(slot).or_default();
        // One that arrives after its confirmed slot was stored is stored
        // late, on its own; one of a slot never confirmed waits (a fork's
        // is dropped at finalization).
        let late = slot <= self.complete_through && self.confirmed_slots.contains(&slot);
        if late {
            entry.confirmed = true;
        }
        if entry
            .transactions
            .insert(info.signature.clone(), info)
            .is_none()
        {
            self.buffered += 1;
        }
        if self.buffered > self.max_buffered {
            let newest = self.slots.keys().next_back().copied().unwrap_or(0);
            self.untrusted_through = self.untrusted_through.max(newest);
            self.slots.retain(|_, slot| slot.confirmed);
            self.recount();
            return Held::Overflowed;
        }
        if late {
            Held::Late
        } else {
            Held::Waiting
        }
    }

    pub fn block_meta(&mut self, slot: u64, parent: u64, block_time: Option<i64>) {
        self.seen(slot);
        let entry = self.slots.entry(slot).or_default();
        entry.parent = below(slot, Some(parent)).or(entry.parent);
        entry.block_time = block_time;
    }

    pub fn processed(&mut self, slot: u64, parent: Option<u64>) {
        self.seen(slot);
        if slot > self.complete_through {
            let entry = self.slots.entry(slot).or_default();
            entry.parent = below(slot, parent).or(entry.parent);
        }
    }

    /// The cluster confirmed `slot`.
    pub fn confirmed(&mut self, slot: u64, parent: Option<u64>) -> Ready {
        self.seen(slot);
        let parent = below(slot, parent);
        self.remember_confirmed(slot);
        if slot <= self.complete_through {
            // Proven by a repair, or stored already: whatever of it is held
            // (what the listing may have missed, a late transaction) is
            // stored now, on its own.
            if let Some(entry) = self.slots.get_mut(&slot) {
                entry.confirmed = true;
            }
            return self.late();
        }
        let entry = self.slots.entry(slot).or_default();
        entry.parent = parent.or(entry.parent);
        entry.confirmed = true;
        if self.unlinked.is_none_or(|unlinked| slot > unlinked) {
            self.unlinked = Some(slot);
        }
        self.link()
    }

    /// The cluster finalized `slot`: what is not its ancestor and not above
    /// it was on a dropped fork.
    pub fn finalized(&mut self, slot: u64, parent: Option<u64>) -> Ready {
        let ready = self.confirmed(slot, parent);
        let dropped: Vec<u64> = self
            .slots
            .range(..=slot)
            .filter(|(_, s)| !s.confirmed)
            .map(|(s, _)| *s)
            .collect();
        for s in dropped {
            self.slots.remove(&s);
        }
        self.recount();
        ready
    }

    /// A repair proved the mirror complete through `through`.
    pub fn repaired(&mut self, through: u64) -> Ready {
        self.complete_through = self.complete_through.max(through);
        self.link()
    }

    /// Links the newest confirmed slot down to `complete_through`.
    fn link(&mut self) -> Ready {
        let ready = self.link_chain();
        if let Ready::Gap { confirmed, missing } = &ready {
            tracing::debug!(
                confirmed,
                missing,
                complete_through = self.complete_through,
                untrusted_through = self.untrusted_through,
                held = ?self.slots.iter().rev().take(8).map(|(s, e)| (*s, e.parent, e.confirmed)).collect::<Vec<_>>(),
                "the confirmed slot does not link"
            );
        }
        ready
    }

    fn link_chain(&mut self) -> Ready {
        let Some(newest) = self.unlinked else {
            return self.late();
        };
        if newest <= self.complete_through {
            self.unlinked = None;
            return self.late();
        }
        let mut chain = vec![newest];
        let mut at = newest;
        loop {
            let Some(parent) = self.slots.get(&at).and_then(|s| s.parent) else {
                return Ready::Gap {
                    confirmed: newest,
                    missing: at.saturating_sub(1),
                };
            };
            if parent <= self.complete_through {
                break;
            }
            if !self.slots.contains_key(&parent) {
                return Ready::Gap {
                    confirmed: newest,
                    missing: parent,
                };
            }
            chain.push(parent);
            at = parent;
        }
        if at <= self.untrusted_through && self.untrusted_through > self.complete_through {
            return Ready::Gap {
                confirmed: newest,
                missing: self.untrusted_through,
            };
        }
        for slot in &chain {
            if let Some(entry) = self.slots.get_mut(slot) {
                entry.confirmed = true;
            }
            self.remember_confirmed(*slot);
        }
        // Slots under the newest confirmed one that are not its ancestors
        // were on another fork.
        let forked: Vec<u64> = self
            .slots
            .range(..newest)
            .filter(|(s, entry)| {
                **s > self.complete_through && !chain.contains(s) && !entry.confirmed
            })
            .map(|(s, _)| *s)
            .collect();
        for slot in forked {
            self.slots.remove(&slot);
        }
        self.complete_through = newest;
        self.unlinked = None;
        self.late()
    }

    /// Every confirmed slot at or below `complete_through`, oldest first:
    /// what a repair proved, late transactions ([`Held::Late`]).
    pub fn late(&mut self) -> Ready {
        let ready: Vec<u64> = self
            .slots
            .range(..=self.complete_through)
            .filter(|(_, s)| s.confirmed)
            .map(|(s, _)| *s)
            .collect();
        let mut slots = Vec::new();
        for slot in ready {
            let Some(entry) = self.slots.remove(&slot) else {
                continue;
            };
            let mut transactions: Vec<_> = entry.transactions.into_values().collect();
            transactions.sort_by_key(|tx| tx.index);
            slots.push(ConfirmedSlot {
                slot,
                block_time: entry.block_time,
                transactions,
            });
        }
        self.recount();
        if slots.is_empty() && self.unlinked.is_some() {
            return Ready::Nothing;
        }
        Ready::Store {
            slots,
            through: self.complete_through,
        }
    }

    fn remember_confirmed(&mut self, slot: u64) {
        self.confirmed_slots.insert(slot);
        while self.confirmed_slots.len() > CONFIRMED_KEPT {
            self.confirmed_slots.pop_first();
        }
    }

    fn recount(&mut self) {
        self.buffered = self.slots.values().map(|s| s.transactions.len()).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(signature: u8, index: u64) -> SubscribeUpdateTransactionInfo {
        SubscribeUpdateTransactionInfo {
            signature: vec![signature; 64],
            index,
            ..Default::default()
        }
    }

    /// A tracker whose connection replays from the slot after `complete`.
    fn replaying(complete: u64, max_buffered: usize) -> Tracker {
        let mut tracker = Tracker::new(complete, max_buffered);
        tracker.reconnected(Some(complete + 1));
        tracker
    }

    fn stored(ready: Ready) -> (Vec<(u64, Vec<u8>)>, u64) {
        match ready {
            Ready::Store { slots, through } => (
                slots
                    .into_iter()
                    .map(|s| {
                        (
                            s.slot,
                            s.transactions.iter().map(|t| t.signature[0]).collect(),
                        )
                    })
                    .collect(),
                through,
            ),
            other => panic!("expected slots to store, got {other:?}"),
        }
    }

    #[test]
    fn a_confirmed_slot_linked_to_the_mirror_is_stored_in_block_order() {
        let mut tracker = replaying(10, 100);
        tracker.transaction(11, tx(2, 1));
        tracker.transaction(11, tx(1, 0));
        tracker.transaction(11, tx(1, 0)); // duplicate
        tracker.processed(11, Some(10));
        let (slots, through) = stored(tracker.confirmed(11, Some(10)));
        assert_eq!(slots, vec![(11, vec![1, 2])]);
        assert_eq!(through, 11);
        assert_eq!(tracker.buffered(), 0);
    }

    #[test]
    fn a_confirmation_confirms_its_ancestors_and_drops_other_forks() {
        let mut tracker = replaying(10, 100);
        tracker.transaction(11, tx(1, 0));
        tracker.processed(11, Some(10));
        tracker.transaction(12, tx(2, 0)); // fork off 10, never confirmed
        tracker.processed(12, Some(10));
        tracker.transaction(13, tx(3, 0));
        tracker.processed(13, Some(11));
        let (slots, through) = stored(tracker.confirmed(13, Some(11)));
        assert_eq!(slots, vec![(11, vec![1]), (13, vec![3])]);
        assert_eq!(through, 13);
        assert_eq!(
            tracker.buffered(),
            0,
            "the dropped fork's transaction is gone"
        );
    }

    #[test]
    fn an_unreported_parent_is_a_gap_until_a_repair_covers_it() {
        let mut tracker = replaying(10, 100);
        // The stream starts at 14: 11..=13 were never reported.
        tracker.transaction(14, tx(4, 0));
        tracker.processed(14, Some(13));
        match tracker.confirmed(14, Some(13)) {
            Ready::Gap { confirmed, missing } => assert_eq!((confirmed, missing), (14, 13)),
            other => panic!("expected a gap, got {other:?}"),
        }
        assert_eq!(
            tracker.buffered(),
            1,
            "nothing dropped while the gap is open"
        );
        // A repair that stops short of 13 leaves the gap; one through 13
        // leaves 14, where the stream began (asked from 11), to prove.
        assert!(matches!(tracker.repaired(12), Ready::Gap { .. }));
        assert!(matches!(
            tracker.repaired(13),
            Ready::Gap { missing: 14, .. }
        ));
        let (slots, through) = stored(tracker.repaired(14));
        assert_eq!(slots, vec![(14, vec![4])]);
        assert_eq!(through, 14);
    }

    #[test]
    fn a_repair_past_held_slots_keeps_them_for_their_confirmation() {
        let mut tracker = replaying(10, 100);
        tracker.transaction(15, tx(5, 0));
        tracker.processed(15, Some(14));
        // The RPC listing proved the mirror through 20, but slot 15's
        // transaction was still processed then (not listed).
        let (slots, _) = stored(tracker.repaired(20));
        assert!(slots.is_empty());
        let (slots, through) = stored(tracker.confirmed(15, Some(14)));
        assert_eq!(slots, vec![(15, vec![5])]);
        assert_eq!(through, 20);
    }

    #[test]
    fn a_transaction_after_its_slot_was_stored_is_stored_late() {
        let mut tracker = replaying(10, 100);
        tracker.processed(11, Some(10));
        stored(tracker.confirmed(11, Some(10)));
        assert_eq!(tracker.transaction(11, tx(7, 0)), Held::Late);
        let (slots, _) = stored(tracker.late());
        assert_eq!(slots, vec![(11, vec![7])]);
    }

    #[test]
    fn a_parent_not_below_its_slot_is_a_gap_not_a_loop() {
        let mut tracker = replaying(10, 100);
        tracker.processed(11, Some(11));
        tracker.block_meta(11, 12, None);
        assert!(matches!(
            tracker.confirmed(11, Some(11)),
            Ready::Gap { missing: 10, .. }
        ));
    }

    #[test]
    fn a_replay_that_begins_above_the_slot_asked_for_is_untrusted() {
        // Asked from 11; the endpoint ignored it and began inside 15.
        let mut tracker = replaying(10, 100);
        tracker.transaction(15, tx(5, 3));
        tracker.processed(15, Some(10));
        assert!(matches!(
            tracker.confirmed(15, Some(10)),
            Ready::Gap { missing: 15, .. }
        ));
        let (slots, through) = stored(tracker.repaired(15));
        assert_eq!((slots, through), (vec![(15, vec![5])], 15));
    }

    #[test]
    fn a_live_connection_is_untrusted_up_to_its_first_slot_even_above_the_rpc_tip() {
        let mut tracker = Tracker::new(10, 100);
        tracker.reconnected(None);
        // The RPC node was at 11; the stream's node was already inside 12.
        tracker.began_after(11);
        tracker.transaction(12, tx(2, 1));
        tracker.processed(12, Some(11));
        stored(tracker.repaired(11));
        assert!(matches!(
            tracker.confirmed(12, Some(11)),
            Ready::Gap { missing: 12, .. }
        ));
    }

    #[test]
    fn a_full_buffer_drops_the_unconfirmed_and_the_confirmation_then_finds_a_gap() {
        let mut tracker = replaying(10, 2);
        tracker.processed(11, Some(10));
        assert_eq!(tracker.transaction(11, tx(1, 0)), Held::Waiting);
        assert_eq!(tracker.transaction(11, tx(2, 1)), Held::Waiting);
        assert_eq!(tracker.transaction(11, tx(3, 2)), Held::Overflowed);
        assert_eq!(tracker.buffered(), 0);
        assert!(matches!(
            tracker.confirmed(11, Some(10)),
            Ready::Gap { missing: 11, .. }
        ));
        let (slots, through) = stored(tracker.repaired(11));
        assert_eq!(slots, vec![(11, vec![])]);
        assert_eq!(through, 11);
    }

    #[test]
    fn a_connection_that_does_not_replay_may_begin_inside_a_slot() {
        let mut tracker = Tracker::new(10, 100);
        tracker.reconnected(None);
        // Slot 11's first transaction went by before this connection began.
        tracker.transaction(11, tx(2, 1));
        tracker.processed(11, Some(10));
        assert!(matches!(
            tracker.confirmed(11, Some(10)),
            Ready::Gap { missing: 11, .. }
        ));
        // The listing, proving the mirror through 11, stored both.
        let (slots, through) = stored(tracker.repaired(11));
        assert_eq!(slots, vec![(11, vec![2])]);
        assert_eq!(through, 11);
        // From here the connection is trusted.
        tracker.transaction(12, tx(3, 0));
        let (slots, _) = stored(tracker.confirmed(12, Some(11)));
        assert_eq!(slots, vec![(12, vec![3])]);
    }

    #[test]
    fn a_transaction_of_an_unconfirmed_slot_below_a_repair_waits_for_confirmation() {
        let mut tracker = replaying(10, 100);
        stored(tracker.repaired(20));
        // Slot 15 was on a fork the RPC listing never saw.
        tracker.transaction(15, tx(9, 0));
        tracker.processed(16, Some(14));
        let (slots, _) = stored(tracker.confirmed(21, Some(20)));
        assert!(slots.iter().all(|(_, sigs)| !sigs.contains(&9)));
        let (slots, _) = stored(tracker.finalized(21, Some(20)));
        assert!(slots.iter().all(|(_, sigs)| !sigs.contains(&9)));
        assert_eq!(tracker.buffered(), 0, "the fork's transaction is dropped");
    }

    #[test]
    fn a_finalized_slot_drops_unconfirmed_slots_below_it() {
        let mut tracker = replaying(10, 100);
        tracker.processed(11, Some(10));
        tracker.transaction(11, tx(1, 0));
        tracker.processed(12, Some(10));
        tracker.transaction(12, tx(2, 0));
        let (slots, _) = stored(tracker.finalized(12, Some(10)));
        assert_eq!(slots, vec![(12, vec![2])]);
        assert_eq!(tracker.buffered(), 0);
    }
}
