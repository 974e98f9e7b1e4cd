//! The chain's Geyser events as one ordered feed: a bounded replay buffer
//! (the last `replay_slots` slots, what `from_slot` can ask for) and a live
//! broadcast to every subscriber.
//!
//! surfpool reports a slot's confirmation before its block metadata; a
//! validator's plugin sees the block frozen (processed, with its metadata)
//! before the cluster confirms it. The feed restores that order: for each
//! slot, its transactions, `processed`, the block meta, then `confirmed`;
//! `finalized` follows as surfpool roots slots.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use surfpool_core::surfnet::{GeyserEvent, GeyserSlotStatus};
use tokio::sync::broadcast;
use yellowstone_grpc_proto::prelude::{
    BlockHeight, SlotStatus, SubscribeUpdateBlockMeta, SubscribeUpdateTransactionInfo,
    UnixTimestamp,
};

use super::convert;

/// One thing that happened on the chain, in feed order.
#[derive(Debug)]
pub enum Item {
    Transaction(Box<TransactionItem>),
    Slot {
        slot: u64,
        parent: Option<u64>,
        status: SlotStatus,
    },
    BlockMeta(SubscribeUpdateBlockMeta),
}

#[derive(Debug)]
pub struct TransactionItem {
    pub slot: u64,
    pub accounts: Vec<[u8; 32]>,
    pub signature: [u8; 64],
    pub failed: bool,
    pub info: SubscribeUpdateTransactionInfo,
}

impl Item {
    pub fn slot(&self) -> u64 {
        match self {
            Item::Transaction(tx) => tx.slot,
            Item::Slot { slot, .. } => *slot,
            Item::BlockMeta(meta) => meta.slot,
        }
    }
}

/// Live items a subscriber may fall behind by before it is cut off (the
/// server's memory per subscriber is bounded; a provider does the same).
const LIVE_CAPACITY: usize = 65_536;

/// Items the replay buffer keeps at most, whatever the slot count (a busy
/// `--clock` chain would otherwise hold every transaction of 10,000 slots).
const REPLAY_ITEMS: usize = 200_000;

pub struct Feed {
    state: Mutex<State>,
    live: broadcast::Sender<Arc<Item>>,
    replay_slots: u64,
}

#[derive(Default)]
struct State {
    /// With each item's position in the feed.
    replay: VecDeque<(u64, Arc<Item>)>,
    /// Items pushed so far.
    pushed: u64,
    /// Transactions seen per open slot: the next one's index.
    next_index: HashMap<u64, u64>,
    /// Parents of blocks not yet finalized.
    parents: HashMap<u64, Option<u64>>,
    /// A confirmation waiting for its slot's block meta.
    held_confirmation: Option<(u64, Option<u64>)>,
    latest_slot: u64,
    confirmed_slot: u64,
    finalized_slot: u64,
    /// The last block produced: the next one's parent. (surfpool names
    /// `slot - 1`, which is not a block when the clock skipped slots.)
    last_block: Option<u64>,
}

/// A subscription's live items, from feed position `from` on.
pub struct Listener {
    pub receiver: broadcast::Receiver<Arc<Item>>,
    from: u64,
}

/// Why a subscription cannot replay from where it asked.
#[derive(Debug)]
pub struct Unavailable {
    pub from_slot: u64,
    pub first_available: Option<u64>,
}

impl Feed {
    pub fn new(replay_slots: u64) -> Arc<Self> {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Arc::new(Self {
            state: Mutex::new(State::default()),
            live,
            replay_slots: replay_slots.max(1),
        })
    }

    /// The oldest slot a subscription can replay from.
    pub fn first_available(&self) -> Option<u64> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.replay.front().map(|(_, item)| item.slot())
    }

    pub fn latest_slot(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .latest_slot
    }

    pub fn confirmed_slot(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .confirmed_slot
    }

    pub fn finalized_slot(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finalized_slot
    }

    /// A live receiver, taken as a subscription opens (before its first
    /// request is read), and the feed position it starts at.
    pub fn listen(&self) -> Listener {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Listener {
            receiver: self.live.subscribe(),
            from: state.pushed,
        }
    }

    /// The kept items from `from_slot` on that came before `listener`'s
    /// live ones (none is missed or seen twice).
    pub fn replay(
        &self,
        listener: &Listener,
        from_slot: Option<u64>,
    ) -> Result<Vec<Arc<Item>>, Unavailable> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(from_slot) = from_slot else {
            return Ok(Vec::new());
        };
        let first_available = state.replay.front().map(|(_, item)| item.slot());
        // Asking from a slot the buffer no longer holds whole is refused, as
        // a provider refuses it; asking from the future is not.
        if first_available.is_none_or(|first| from_slot < first) && from_slot <= state.latest_slot {
            return Err(Unavailable {
                from_slot,
                first_available,
            });
        }
        Ok(state
            .replay
            .iter()
            .filter(|(seq, item)| *seq < listener.from && item.slot() >= from_slot)
            .map(|(_, item)| item.clone())
            .collect())
    }

    /// Takes one Geyser event of the chain.
    pub fn push(&self, event: &GeyserEvent) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut items = Vec::new();
        if !matches!(event, GeyserEvent::NotifyBlockMetadata(_)) {
            if let Some((slot, parent)) = state.held_confirmation.take() {
                items.push(confirmed(slot, parent));
            }
        }
        match event {
            GeyserEvent::NotifyTransaction(tx, _) => {
                let index = state.next_index.entry(tx.slot).or_default();
                let converted = convert::transaction(tx, *index);
                *index += 1;
                items.push(Item::Transaction(Box::new(TransactionItem {
                    slot: tx.slot,
                    accounts: converted.accounts,
                    signature: converted.signature,
                    failed: converted.failed,
                    info: converted.info,
                })));
            }
            GeyserEvent::UpdateSlotStatus {
                slot,
                parent,
                status,
            } => match status {
                GeyserSlotStatus::Processed => items.push(Item::Slot {
                    slot: *slot,
                    parent: *parent,
                    status: SlotStatus::SlotProcessed,
                }),
                GeyserSlotStatus::Confirmed => {
                    let parent = state.last_block.or(*parent);
                    state.last_block = Some(*slot);
                    state.parents.insert(*slot, parent);
                    items.push(Item::Slot {
                        slot: *slot,
                        parent,
                        status: SlotStatus::SlotProcessed,
                    });
                    state.held_confirmation = Some((*slot, parent));
                    state.confirmed_slot = state.confirmed_slot.max(*slot);
                    state.next_index.retain(|open, _| open > slot);
                }
                GeyserSlotStatus::Rooted => {
                    state.finalized_slot = state.finalized_slot.max(*slot);
                    let parent = state.parents.get(slot).copied().flatten().or(*parent);
                    let finalized = *slot;
                    state.parents.retain(|s, _| *s > finalized);
                    items.push(Item::Slot {
                        slot: *slot,
                        parent,
                        status: SlotStatus::SlotFinalized,
                    });
                }
            },
            GeyserEvent::NotifyBlockMetadata(meta) => {
                let parent_slot = state
                    .parents
                    .get(&meta.slot)
                    .copied()
                    .flatten()
                    .unwrap_or(meta.parent_slot);
                items.push(Item::BlockMeta(SubscribeUpdateBlockMeta {
                    slot: meta.slot,
                    blockhash: meta.blockhash.clone(),
                    rewards: None,
                    block_time: meta.block_time.map(|timestamp| UnixTimestamp { timestamp }),
                    block_height: meta
                        .block_height
                        .map(|block_height| BlockHeight { block_height }),
                    parent_slot,
                    parent_blockhash: meta.parent_blockhash.clone(),
                    executed_transaction_count: meta.executed_transaction_count,
                    entries_count: meta.entry_count,
                    bank_id: 0,
                }));
                if let Some((slot, parent)) = state.held_confirmation.take() {
                    items.push(confirmed(slot, parent));
                }
            }
            // Accounts, entries and startup are not served (see the module doc of `grpc`).
            _ => {}
        }
        for item in items {
            let item = Arc::new(item);
            state.latest_slot = state.latest_slot.max(item.slot());
            let seq = state.pushed;
            state.pushed += 1;
            state.replay.push_back((seq, item.clone()));
            // No subscriber is not an error.
            let _ = self.live.send(item);
        }
        let oldest_kept = state.latest_slot.saturating_sub(self.replay_slots);
        while state
            .replay
            .front()
            .is_some_and(|(_, item)| item.slot() < oldest_kept)
            || state.replay.len() > REPLAY_ITEMS
        {
            state.replay.pop_front();
        }
    }
}

fn confirmed(slot: u64, parent: Option<u64>) -> Item {
    Item::Slot {
        slot,
        parent,
        status: SlotStatus::SlotConfirmed,
    }
}
