//! The worker's address lookup tables: a v0 `award_batch` names each hot
//! account by a one-byte index instead of its 32 bytes, so a transaction
//! carries up to 28 rows (mainnet's 64 account locks bind: a row names two
//! or three accounts) instead of 11 (the packet binds).
//!
//! Which accounts are hot:
//! - the accounts every batch names (Config, the issuer PDA, the event
//!   authority, the system program), at start;
//! - a referrer's SparkAccount, the first time a row credits it (a
//!   referrer is credited by every invitee);
//! - a recipient (its wallet and SparkAccount) the second time it is
//!   awarded: a one-off recipient would cost an extension (and its rent)
//!   for nothing.
//!
//! The tables are the issuer key's (it creates, extends and pays for them)
//! and are recorded in Postgres before the create is sent. An extension is
//! usable from the slot after it; until then the table is offered without
//! its new addresses. Tables are never deactivated: past `max_tables` full
//! tables, new hot accounts go in transactions as before.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use anchor_lang::prelude::Pubkey;
use solana_address_lookup_table_interface::instruction::{
    create_lookup_table, extend_lookup_table,
};
use solana_address_lookup_table_interface::state::AddressLookupTable;
use solana_message::AddressLookupTableAccount;
use solana_signer::Signer;
use sparks_client::instructions::BatchRow;
use sparks_client::pda;
use sparks_client::rpc::{RpcError, SparksRpc};

use crate::error::WorkerError;
use crate::store::Store;

/// Addresses one table holds.
pub const TABLE_CAPACITY: usize = 256;
/// Addresses one extension adds (a legacy transaction of one extend fits 28).
const EXTEND_CHUNK: usize = 24;
/// Extensions sent at once.
const EXTENSIONS_AT_ONCE: usize = 8;
/// Recipients remembered as seen once, before the memory starts over.
const SEEN_ONCE_CAP: usize = 200_000;

/// One table as last read from the chain.
#[derive(Debug, Clone)]
struct Table {
    address: Pubkey,
    addresses: Vec<Pubkey>,
    /// How many of `addresses` a transaction may use now.
    usable: usize,
}

#[derive(Debug, Default)]
struct State {
    tables: Vec<Table>,
    /// In a table (usable or not) or queued for one.
    known: HashSet<Pubkey>,
    queued: Vec<Pubkey>,
    seen_once: HashSet<Pubkey>,
    /// Some table has addresses not usable yet.
    settling: bool,
    /// No room is left in `max_tables` tables (said once).
    full: bool,
}

pub struct LookupTables {
    store: Store,
    rpc: Arc<SparksRpc>,
    signer: Arc<dyn Signer + Send + Sync>,
    max_tables: usize,
    state: Mutex<State>,
}

impl LookupTables {
    /// The issuer key's tables as recorded and found on chain; none are
    /// created or used when `max_tables` is 0 (legacy transactions).
    pub async fn load(
        store: Store,
        rpc: Arc<SparksRpc>,
        signer: Arc<dyn Signer + Send + Sync>,
        max_tables: usize,
    ) -> Result<Self, WorkerError> {
        let issuer = signer.pubkey();
        let mut state = State::default();
        if max_tables > 0 {
            for recorded in store.lookup_tables(&issuer.to_string()).await? {
                let Ok(address) = Pubkey::from_str(&recorded) else {
                    continue;
                };
                match read_table(&rpc, &address).await? {
                    Some(table) => state.tables.push(table),
                    // Its create never landed.
                    None => store.forget_lookup_table(&recorded).await?,
                }
            }
            for table in &state.tables {
                state.known.extend(table.addresses.iter().copied());
                state.settling |= table.usable < table.addresses.len();
            }
            for address in [
                pda::config(),
                pda::issuer(&issuer),
                pda::event_authority(),
                anchor_lang::system_program::ID,
            ] {
                state.queue(address);
            }
        }
        Ok(Self {
            store,
            rpc,
            signer,
            max_tables,
            state: Mutex::new(state),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a claimed round's rows: what became hot is queued for a table.
    pub fn note(&self, rows: &[BatchRow]) {
        if self.max_tables == 0 {
            return;
        }
        let mut state = self.state();
        for row in rows {
            if let Some(referrer) = row.referrer {
                state.queue(pda::spark(&referrer));
            }
            let spark = pda::spark(&row.wallet);
            if state.known.contains(&spark) {
                continue;
            }
            if state.seen_once.remove(&row.wallet) {
                state.queue(row.wallet);
                state.queue(spark);
            } else {
                if state.seen_once.len() >= SEEN_ONCE_CAP {
                    state.seen_once.clear();
                }
                state.seen_once.insert(row.wallet);
            }
        }
    }

    /// The usable part of every table holding one of `rows`' accounts (or
    /// the accounts every batch names).
    pub fn for_rows(&self, rows: &[BatchRow]) -> Vec<AddressLookupTableAccount> {
        if self.max_tables == 0 {
            return Vec::new();
        }
        let mut wanted: HashSet<Pubkey> = HashSet::with_capacity(rows.len() * 3 + 1);
        wanted.insert(pda::config());
        for row in rows {
            wanted.insert(row.wallet);
            wanted.insert(pda::spark(&row.wallet));
            if let Some(referrer) = row.referrer {
                wanted.insert(pda::spark(&referrer));
            }
        }
        self.state()
            .tables
            .iter()
            .filter(|t| t.addresses[..t.usable].iter().any(|a| wanted.contains(a)))
            .map(|t| AddressLookupTableAccount {
                key: t.address,
                addresses: t.addresses[..t.usable].to_vec(),
            })
            .collect()
    }

    /// Usable addresses, and tables.
    pub fn sizes(&self) -> (usize, usize) {
        let state = self.state();
        (
            state.tables.iter().map(|t| t.usable).sum(),
            state.tables.len(),
        )
    }

    /// One round of upkeep: a new table when the newest is full, up to
    /// `EXTENSIONS_AT_ONCE` extensions with queued addresses sent at once,
    /// then what became usable.
    pub async fn upkeep(&self) -> Result<(), WorkerError> {
        if self.max_tables == 0 {
            return Ok(());
        }
        let create = {
            let mut state = self.state();
            let room = state
                .tables
                .last()
                .map_or(0, |t| TABLE_CAPACITY - t.addresses.len());
            let create = room == 0 && !state.queued.is_empty();
            if create && state.tables.len() >= self.max_tables {
                if !state.full {
                    tracing::warn!(
                        tables = state.tables.len(),
                        "the lookup tables are full: new hot accounts stay in transactions"
                    );
                    state.full = true;
                }
                return Ok(());
            }
            create
        };
        if create {
            self.create().await?;
        }
        // Chunks of the newest table's room; extensions of one table in
        // flight together each add at its end, in whatever order they land.
        let (table, chunks) = {
            let mut state = self.state();
            let Some(table) = state.tables.last() else {
                return Ok(());
            };
            let (table, room) = (table.address, TABLE_CAPACITY - table.addresses.len());
            let n = state
                .queued
                .len()
                .min(room)
                .min(EXTEND_CHUNK * EXTENSIONS_AT_ONCE);
            let taken: Vec<Pubkey> = state.queued.drain(..n).collect();
            (
                table,
                taken
                    .chunks(EXTEND_CHUNK)
                    .map(<[Pubkey]>::to_vec)
                    .collect::<Vec<_>>(),
            )
        };
        let sent = futures::future::join_all(chunks.into_iter().map(|chunk| async move {
            let outcome = self.extend(table, &chunk).await;
            (chunk, outcome)
        }))
        .await;
        let mut failed = None;
        let mut unsure = Vec::new();
        for (chunk, outcome) in sent {
            match outcome {
                Ok(()) => {
                    let mut state = self.state();
                    if let Some(t) = state.tables.iter_mut().find(|t| t.address == table) {
                        t.addresses.extend_from_slice(&chunk);
                    }
                    state.settling = true;
                }
                Err(error) => {
                    unsure.extend(chunk);
                    failed = Some(error);
                }
            }
        }
        if !unsure.is_empty() {
            // A failed send may have landed: the chain says which to queue
            // again (until it answers, all of them).
            let on_chain: HashSet<Pubkey> = match read_table(&self.rpc, &table).await {
                Ok(Some(read)) => {
                    let held = read.addresses.iter().copied().collect();
                    let mut state = self.state();
                    if let Some(t) = state.tables.iter_mut().find(|t| t.address == table) {
                        *t = read;
                    }
                    state.settling = true;
                    held
                }
                _ => HashSet::new(),
            };
            let mut state = self.state();
            let mut back: Vec<Pubkey> = unsure
                .into_iter()
                .filter(|a| !on_chain.contains(a))
                .collect();
            back.append(&mut state.queued);
            state.queued = back;
        }
        self.refresh().await?;
        failed.map_or(Ok(()), Err)
    }

    async fn create(&self) -> Result<(), WorkerError> {
        let issuer = self.signer.pubkey();
        let slot = self.rpc.client().get_slot().await.map_err(Box::new)?;
        let (create, table) = create_lookup_table(issuer, issuer, slot);
        self.store
            .add_lookup_table(&issuer.to_string(), &table.to_string())
            .await?;
        self.rpc.send(&[create], self.signer.as_ref(), &[]).await?;
        tracing::info!(%table, "created an address lookup table");
        self.state().tables.push(Table {
            address: table,
            addresses: Vec::new(),
            usable: 0,
        });
        Ok(())
    }

    async fn extend(&self, table: Pubkey, chunk: &[Pubkey]) -> Result<(), WorkerError> {
        let issuer = self.signer.pubkey();
        let extend = extend_lookup_table(table, issuer, Some(issuer), chunk.to_vec());
        self.rpc.send(&[extend], self.signer.as_ref(), &[]).await?;
        Ok(())
    }

    /// Re-reads the tables with addresses not usable yet.
    async fn refresh(&self) -> Result<(), WorkerError> {
        let settling: Vec<Pubkey> = {
            let state = self.state();
            if !state.settling {
                return Ok(());
            }
            state
                .tables
                .iter()
                .filter(|t| t.usable < t.addresses.len())
                .map(|t| t.address)
                .collect()
        };
        let mut still = false;
        for address in settling {
            if let Some(read) = read_table(&self.rpc, &address).await? {
                still |= read.usable < read.addresses.len();
                let mut state = self.state();
                if let Some(t) = state.tables.iter_mut().find(|t| t.address == address) {
                    *t = read;
                }
            } else {
                still = true;
            }
        }
        self.state().settling = still;
        Ok(())
    }
}

impl State {
    fn queue(&mut self, address: Pubkey) {
        if self.known.insert(address) {
            self.queued.push(address);
        }
    }
}

/// A table as the chain has it now, with what a transaction may use of it.
async fn read_table(rpc: &SparksRpc, address: &Pubkey) -> Result<Option<Table>, WorkerError> {
    let response = rpc
        .client()
        .get_account_with_commitment(address, rpc.client().commitment())
        .await
        .map_err(Box::new)?;
    let Some(account) = response.value else {
        return Ok(None);
    };
    let table = AddressLookupTable::deserialize(&account.data).map_err(|e| RpcError::Decode {
        address: *address,
        kind: "AddressLookupTable",
        reason: e.to_string(),
    })?;
    // Addresses extended in the slot a transaction runs in are not usable
    // by it; a later transaction runs past the slot read.
    let usable = if response.context.slot > table.meta.last_extended_slot {
        table.addresses.len()
    } else {
        usize::from(table.meta.last_extended_slot_start_index)
    };
    Ok(Some(Table {
        address: *address,
        addresses: table.addresses.to_vec(),
        usable,
    }))
}
