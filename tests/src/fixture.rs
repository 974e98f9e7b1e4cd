//! `TestFixture`: a bank with the programs loaded, an initialized Config, and
//! helpers so each test reads as a story.
//!
//! Every transaction is simulated first (natively, only simulation reports
//! inner instructions, which is where `emit_cpi!` events live) and then
//! processed; the two results must agree.

use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::clock::Clock;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::AccountDeserialize;
use solana_account::Account;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_program_test::ProgramTestContext;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use sparks::error::SparksError;
use sparks::instructions::{ConfigParams, IssuerParams};
use sparks::state::{AwardIdState, Config, Issuer, Source, SparkAccount};
use sparks_client::events::SparksEvent;
use sparks_client::{instructions as ix, pda};

use crate::runtime::{program_test, Native, Runtime};

/// Settings every fixture starts with unless a test says otherwise.
pub const DEFAULT_PARAMS: ConfigParams = ConfigParams {
    referral_trade_share_bps: 1_000, // 10 %
    first_subscription_bonus: 500,
    max_award_per_ix: 1_000_000,
};

pub const DEFAULT_ISSUER_CAP: u64 = 10_000_000;
pub const DEFAULT_PERIOD_SECS: u32 = 86_400;
/// Clock the fixture starts at (2026-01-01T00:00:00Z).
pub const START_TIME: i64 = 1_767_225_600;

/// A finished transaction: its events, in emission order.
pub type Events = Vec<SparksEvent>;

/// A bank with the programs run as `R` says (natively by default).
pub struct TestFixture<R: Runtime = Native> {
    pub ctx: ProgramTestContext,
    pub admin: Keypair,
    nonce: u32,
    /// The next award id of each issuer.
    award_ids: HashMap<Pubkey, u64>,
    /// Compute units the last transaction's simulation consumed, and its logs.
    last_units: u64,
    last_logs: Vec<String>,
    /// Whether each transaction is first replayed in the VM heap meter
    /// (`crate::vm_heap`), and what the last replay measured.
    meter_vm_heap: bool,
    last_vm_heap: Vec<crate::vm_heap::VmInvocation>,
    runtime: PhantomData<R>,
}

impl<R: Runtime> TestFixture<R> {
    /// Programs loaded, Config initialized with [`DEFAULT_PARAMS`], clock at [`START_TIME`].
    pub async fn new() -> Self {
        let mut fixture = Self::uninitialized().await;
        let admin = fixture.admin.insecure_clone();
        fixture
            .send_ok(
                &[ix::initialize(&admin.pubkey(), DEFAULT_PARAMS)],
                &[&admin],
            )
            .await;
        fixture
    }

    /// Programs loaded and a funded admin, but no Config yet.
    pub async fn uninitialized() -> Self {
        let ctx = program_test::<R>().start_with_context().await;
        crate::heap::install_metered_stubs();
        // `msg!` (Anchor's error lines among them) into the transaction's log.
        solana_msg::set_native_log_hook(solana_sysvar::program_stubs::sol_log);
        let mut fixture = Self {
            ctx,
            admin: Keypair::new(),
            nonce: 0,
            award_ids: HashMap::new(),
            last_units: 0,
            last_logs: Vec::new(),
            meter_vm_heap: false,
            last_vm_heap: Vec::new(),
            runtime: PhantomData,
        };
        let admin = fixture.admin.pubkey();
        fixture.fund(&admin, 100_000_000_000).await;
        fixture.set_time(START_TIME).await;
        fixture
    }

    /// Whether the programs run as SBF bytecode (see [`Runtime`]).
    pub fn runs_bytecode(&self) -> bool {
        R::BYTECODE
    }

    /// Compute units the last transaction sent used (its simulation's
    /// `units_consumed`, the compute-budget instruction included). Only
    /// the SBF VM meters: natively a builtin counts one unit.
    pub fn last_units(&self) -> u64 {
        self.last_units
    }

    /// Replays every transaction calling Sparks from now on in the VM heap
    /// meter before it is sent (SBF bytecode only; see `crate::vm_heap`).
    pub fn meter_vm_heap(&mut self) {
        assert!(R::BYTECODE, "the VM heap meter replays the bytecode");
        self.meter_vm_heap = true;
    }

    /// Each invocation's heap in the last transaction's VM replay.
    pub fn last_vm_heap(&self) -> &[crate::vm_heap::VmInvocation] {
        &self.last_vm_heap
    }

    /// Every non-program account `tx` names, lookup tables and the
    /// addresses they load included, as the bank holds them now.
    async fn accounts_of(&mut self, tx: &VersionedTransaction) -> Vec<(Pubkey, Account)> {
        let mut keys: Vec<Pubkey> = tx.message.static_account_keys().to_vec();
        for lookup in tx.message.address_table_lookups().unwrap_or_default() {
            let table = self
                .raw_account(&lookup.account_key)
                .await
                .expect("lookup table");
            let state =
                solana_address_lookup_table_interface::state::AddressLookupTable::deserialize(
                    &table.data,
                )
                .expect("a lookup table");
            keys.push(lookup.account_key);
            keys.extend(state.addresses.iter().copied());
        }
        let mut accounts = Vec::new();
        for key in keys {
            if let Some(account) = self.raw_account(&key).await {
                if !account.executable {
                    accounts.push((key, account));
                }
            }
        }
        accounts
    }

    /// The last transaction's simulation's logs.
    pub fn last_logs(&self) -> &[String] {
        &self.last_logs
    }

    /// What each top-level instruction of `program` in the last transaction
    /// consumed, CPIs included, in order, from its `Program … consumed N of
    /// M compute units` log lines (the SBF VM writes them; natively none).
    pub fn last_program_units(&self, program: &Pubkey) -> Vec<u64> {
        program_units(&self.last_logs, program)
    }

    pub fn admin_key(&self) -> Pubkey {
        self.admin.pubkey()
    }

    /// Moves lamports from the fee payer to `to` (any address, PDAs included).
    pub async fn fund(&mut self, to: &Pubkey, lamports: u64) {
        let payer = self.ctx.payer.pubkey();
        let transfer =
            anchor_lang::solana_program::system_instruction::transfer(&payer, to, lamports);
        self.send(&[transfer], &[]).await.expect("funding transfer");
    }

    /// A new wallet holding `sol` lamports.
    pub async fn funded_wallet(&mut self, lamports: u64) -> Keypair {
        let wallet = Keypair::new();
        self.fund(&wallet.pubkey(), lamports).await;
        wallet
    }

    /// Registers an issuer with the given sources and cap; returns its key.
    pub async fn issuer(&mut self, allowed_sources: u8, cap_per_period: u64) -> Keypair {
        let issuer = self.funded_wallet(10_000_000_000).await;
        let admin = self.admin.insecure_clone();
        self.send_ok(
            &[ix::upsert_issuer(
                &admin.pubkey(),
                &issuer.pubkey(),
                IssuerParams {
                    allowed_sources,
                    cap_per_period,
                    period_secs: DEFAULT_PERIOD_SECS,
                },
            )],
            &[&admin],
        )
        .await;
        issuer
    }

    /// An issuer allowed every source with the default cap.
    pub async fn full_issuer(&mut self) -> Keypair {
        self.issuer(Source::ALL_BITS, DEFAULT_ISSUER_CAP).await
    }

    /// `invitee` names `referrer` (invitee signs and pays).
    pub async fn refer(&mut self, invitee: &Keypair, referrer: &Pubkey) {
        let instruction = ix::set_referrer(&invitee.pubkey(), &invitee.pubkey(), referrer);
        self.send_ok(&[instruction], &[invitee]).await;
    }

    /// A batch row for `wallet` as an issuer would pack it from the account
    /// as it is now.
    pub async fn batch_row(
        &mut self,
        wallet: &Pubkey,
        source: Source,
        amount: u64,
    ) -> ix::BatchRow {
        let config = self.config().await;
        let account = self.spark(wallet).await;
        ix::BatchRow::for_account(*wallet, amount, source, &config, account.as_ref())
    }

    /// Awards under the issuer's next award id, naming the recipient's
    /// referrer if it has one (as the client helper does).
    pub async fn award(
        &mut self,
        issuer: &Keypair,
        wallet: &Pubkey,
        source: Source,
        amount: u64,
    ) -> Result<Events, TransactionError> {
        let prepared = self.prepare_award(issuer, wallet, source, amount).await;
        self.send(&[prepared.instruction], &[issuer]).await
    }

    /// Sends and expects success; returns the events.
    pub async fn send_ok(&mut self, instructions: &[Instruction], signers: &[&Keypair]) -> Events {
        match self.send(instructions, signers).await {
            Ok(events) => events,
            Err(err) => panic!("transaction failed: {err:?}"),
        }
    }

    /// Simulates (for events) then processes a transaction paid by the
    /// fixture's fee payer.
    pub async fn send(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Result<Events, TransactionError> {
        let tx = self.sign(instructions, signers).await;
        self.send_transaction(tx).await
    }

    /// A transaction of `instructions`, paid by the fixture's fee payer. A
    /// compute-limit instruction with a fresh value keeps identical retries
    /// from being deduplicated by signature.
    pub async fn sign(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> Transaction {
        self.nonce += 1;
        let mut all = vec![ComputeBudgetInstruction::set_compute_unit_limit(
            1_400_000 - self.nonce,
        )];
        all.extend_from_slice(instructions);
        let payer = self.ctx.payer.insecure_clone();
        let mut keypairs: Vec<&Keypair> = vec![&payer];
        keypairs.extend_from_slice(signers);
        let blockhash = self
            .ctx
            .get_new_latest_blockhash()
            .await
            .unwrap_or(self.ctx.last_blockhash);
        Transaction::new_signed_with_payer(&all, Some(&payer.pubkey()), &keypairs, blockhash)
    }

    /// Simulates then processes an already signed (legacy or v0) transaction.
    pub async fn send_transaction(
        &mut self,
        tx: impl Into<VersionedTransaction>,
    ) -> Result<Events, TransactionError> {
        let tx: VersionedTransaction = tx.into();
        let runs_sparks = tx.message.static_account_keys().contains(&sparks::ID);
        if self.meter_vm_heap && runs_sparks {
            let accounts = self.accounts_of(&tx).await;
            let clock = self
                .ctx
                .banks_client
                .get_sysvar::<Clock>()
                .await
                .expect("clock");
            self.last_vm_heap =
                crate::vm_heap::replay(&accounts, &clock, tx.clone()).expect("VM heap replay");
        }
        let simulated = self
            .ctx
            .banks_client
            .simulate_transaction(tx.clone())
            .await
            .expect("simulate transport");
        let sim_result = simulated.result.expect("simulation result");
        self.last_units = simulated
            .simulation_details
            .as_ref()
            .map_or(0, |details| details.units_consumed);
        self.last_logs = simulated
            .simulation_details
            .as_ref()
            .map(|details| details.logs.clone())
            .unwrap_or_default();
        // SPARKS_TEST_LOGS=1: a failed transaction's logs on stderr.
        if sim_result.is_err() && std::env::var_os("SPARKS_TEST_LOGS").is_some() {
            for line in &self.last_logs {
                eprintln!("  {line}");
            }
        }
        let events = match (&sim_result, simulated.simulation_details) {
            (Ok(()), Some(details)) => events_of(
                tx.message.static_account_keys(),
                &details.inner_instructions.unwrap_or_default(),
            ),
            _ => Vec::new(),
        };
        // Refused before it runs: a validator drops it (no fee, nothing
        // committed), and the bank would wait for it forever.
        if let Err(error) = &sim_result {
            if dropped_before_running(error) {
                return Err(error.clone());
            }
        }
        let processed = self.ctx.banks_client.process_transaction(tx).await;
        let processed: Result<(), TransactionError> = match processed {
            Ok(()) => Ok(()),
            Err(solana_program_test::BanksClientError::TransactionError(e)) => Err(e),
            Err(solana_program_test::BanksClientError::SimulationError { err, .. }) => Err(err),
            Err(other) => panic!("transport error: {other:?}"),
        };
        assert_eq!(processed, sim_result, "simulation and processing disagree");
        processed.map(|()| events)
    }

    /// Sends a transaction that must fail with `expected` and change no account.
    pub async fn assert_rejected(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
        expected: SparksError,
    ) {
        self.assert_rejected_with(
            instructions,
            signers,
            InstructionError::Custom(expected.into()),
        )
        .await;
    }

    /// Like [`Self::assert_rejected`] for a non-Sparks instruction error
    /// (Anchor's own checks, the runtime's signer checks…).
    pub async fn assert_rejected_with(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
        expected: InstructionError,
    ) {
        let before = self.snapshot(instructions).await;
        let result = self.send(instructions, signers).await;
        match result {
            Err(TransactionError::InstructionError(_, actual)) => {
                assert_eq!(actual, expected, "wrong error")
            }
            other => panic!("expected {expected:?}, got {other:?}"),
        }
        let after = self.snapshot(instructions).await;
        assert_eq!(before, after, "a rejected transaction changed accounts");
    }

    /// Every account an instruction list names, as it is now.
    pub async fn snapshot(
        &mut self,
        instructions: &[Instruction],
    ) -> BTreeMap<Pubkey, Option<Account>> {
        let mut keys: Vec<Pubkey> = instructions
            .iter()
            .flat_map(|i| i.accounts.iter().map(|m| m.pubkey))
            .collect();
        keys.sort();
        keys.dedup();
        let mut snapshot = BTreeMap::new();
        for key in keys {
            let account = self
                .ctx
                .banks_client
                .get_account(key)
                .await
                .expect("get_account");
            snapshot.insert(key, account);
        }
        snapshot
    }

    /// A Sparks account, or `None` when there is none yet. An address that
    /// only holds lamports (prefunded, system-owned) has no account.
    pub async fn account<T: AccountDeserialize>(&mut self, address: &Pubkey) -> Option<T> {
        let account = self
            .ctx
            .banks_client
            .get_account(*address)
            .await
            .expect("get_account")?;
        if account.owner != sparks::ID {
            return None;
        }
        Some(T::try_deserialize(&mut account.data.as_slice()).expect("decode account"))
    }

    pub async fn raw_account(&mut self, address: &Pubkey) -> Option<Account> {
        self.ctx
            .banks_client
            .get_account(*address)
            .await
            .expect("get_account")
    }

    pub async fn spark(&mut self, wallet: &Pubkey) -> Option<SparkAccount> {
        self.account(&pda::spark(wallet)).await
    }

    pub async fn config(&mut self) -> Config {
        self.account(&pda::config()).await.expect("config exists")
    }

    pub async fn now(&mut self) -> i64 {
        self.ctx
            .banks_client
            .get_sysvar::<Clock>()
            .await
            .expect("clock")
            .unix_timestamp
    }

    pub async fn set_time(&mut self, unix_timestamp: i64) {
        let mut clock: Clock = self.ctx.banks_client.get_sysvar().await.expect("clock");
        clock.unix_timestamp = unix_timestamp;
        self.ctx.set_sysvar(&clock);
    }

    pub async fn advance_time(&mut self, seconds: i64) {
        let now = self.now().await;
        self.set_time(now + seconds).await;
    }
}

/// Errors a validator refuses a transaction with before running it, so it
/// is never committed (others, such as a failed instruction or too little
/// rent left, are committed with the fee).
fn dropped_before_running(error: &TransactionError) -> bool {
    matches!(
        error,
        TransactionError::TooManyAccountLocks
            | TransactionError::AccountLoadedTwice
            | TransactionError::AccountInUse
            | TransactionError::AccountNotFound
            | TransactionError::InsufficientFundsForFee
            | TransactionError::BlockhashNotFound
            | TransactionError::AlreadyProcessed
            | TransactionError::SanitizeFailure
            | TransactionError::AddressLookupTableNotFound
            | TransactionError::InvalidAddressLookupTableOwner
            | TransactionError::InvalidAddressLookupTableData
            | TransactionError::InvalidAddressLookupTableIndex
            | TransactionError::DuplicateInstruction(_)
    )
}

/// The units each top-level invocation of `program` consumed, from a
/// transaction's logs. An invocation's line comes after its CPIs' lines, so
/// the depth of each `invoke [n]` is tracked.
pub fn program_units(logs: &[String], program: &Pubkey) -> Vec<u64> {
    let prefix = format!("Program {program} ");
    let mut depth = 0usize;
    let mut units = Vec::new();
    for line in logs {
        let Some(rest) = line.strip_prefix("Program ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(_id), Some(verb)) = (words.next(), words.next()) else {
            continue;
        };
        match verb {
            "invoke" => depth += 1,
            "success" | "failed:" => depth = depth.saturating_sub(1),
            "consumed" if depth == 1 && line.starts_with(&prefix) => {
                if let Some(n) = words.next().and_then(|n| n.parse().ok()) {
                    units.push(n);
                }
            }
            _ => {}
        }
    }
    units
}

/// Decodes every Sparks event among a transaction's inner instructions.
/// Anything under the Sparks program id that is not an event (there is none
/// today) is skipped; a malformed event fails the test.
/// Program ids are always static keys, so `keys` need not include the
/// addresses a v0 transaction loads from lookup tables.
pub fn events_of(
    keys: &[Pubkey],
    inner: &[Vec<solana_message::inner_instruction::InnerInstruction>],
) -> Events {
    inner
        .iter()
        .flatten()
        .filter(|i| keys.get(usize::from(i.instruction.program_id_index)) == Some(&sparks::ID))
        .filter(|i| {
            i.instruction
                .data
                .starts_with(anchor_lang::event::EVENT_IX_TAG_LE)
        })
        .map(|i| SparksEvent::from_cpi_data(&i.instruction.data).expect("event decodes"))
        .collect()
}

/// The error code Anchor uses for a Sparks error.
pub fn code(err: SparksError) -> u32 {
    err.into()
}

/// Anchor's own error codes the tests assert (anchor_lang::error::ErrorCode).
pub mod anchor_codes {
    use anchor_lang::error::ErrorCode;
    use solana_instruction_error::InstructionError;

    pub fn err(code: ErrorCode) -> InstructionError {
        InstructionError::Custom(code.into())
    }
}

/// Drops the signer flag of `key` from an instruction, to prove the program
/// (not just the client) insists on that signature.
pub fn unsigned(mut instruction: Instruction, key: &Pubkey) -> Instruction {
    for meta in &mut instruction.accounts {
        if meta.pubkey == *key {
            meta.is_signer = false;
        }
    }
    instruction
}

/// Replaces every occurrence of account `from` with `to` in an instruction.
pub fn swap_account(mut instruction: Instruction, from: &Pubkey, to: &Pubkey) -> Instruction {
    for meta in &mut instruction.accounts {
        if meta.pubkey == *from {
            meta.pubkey = *to;
        }
    }
    instruction
}

impl<R: Runtime> TestFixture<R> {
    /// Writes an account directly into the bank (forged accounts for
    /// wrong-owner and wrong-PDA tests).
    pub fn set_account(&mut self, address: &Pubkey, account: Account) {
        self.ctx.set_account(address, &account.into());
    }
}

/// Account data as Anchor lays it out (discriminator + borsh), for forgeries.
pub fn anchor_data<T: anchor_lang::AccountSerialize>(value: &T) -> Vec<u8> {
    let mut data = Vec::new();
    value.try_serialize(&mut data).expect("serialize");
    data
}

/// The SparksAwarded events of a transaction, in order.
pub fn awarded(events: &[SparksEvent]) -> Vec<sparks::events::SparksAwarded> {
    events
        .iter()
        .filter_map(|e| match e {
            SparksEvent::SparksAwarded(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

impl<R: Runtime> TestFixture<R> {
    /// A slot the SlotHashes sysvar holds right now (lookup tables need one).
    async fn recent_slot(&mut self) -> u64 {
        let sysvar = anchor_lang::pubkey!("SysvarS1otHashes111111111111111111111111111");
        let data = self.raw_account(&sysvar).await.expect("slot hashes").data;
        // bincode Vec<(Slot, Hash)>: u64 length, then 40-byte entries, newest first.
        u64::from_le_bytes(data[8..16].try_into().expect("an entry"))
    }

    /// Creates a lookup table holding `addresses` and moves a slot on so it is usable.
    pub async fn lookup_table(
        &mut self,
        addresses: Vec<Pubkey>,
    ) -> solana_message::AddressLookupTableAccount {
        use solana_address_lookup_table_interface::instruction::{
            create_lookup_table, extend_lookup_table,
        };
        let slot = self.ctx.banks_client.get_root_slot().await.expect("slot");
        self.ctx.warp_to_slot(slot + 2).expect("warp");
        let recent = self.recent_slot().await;
        let payer = self.ctx.payer.pubkey();
        let (create, table) = create_lookup_table(payer, payer, recent);
        self.send(&[create], &[])
            .await
            .expect("create lookup table");
        for chunk in addresses.chunks(20) {
            let extend = extend_lookup_table(table, payer, Some(payer), chunk.to_vec());
            self.send(&[extend], &[])
                .await
                .expect("extend lookup table");
        }
        let slot = self.ctx.banks_client.get_root_slot().await.expect("slot");
        self.ctx.warp_to_slot(slot + 2).expect("warp");
        solana_message::AddressLookupTableAccount {
            key: table,
            addresses,
        }
    }

    /// Sends `instructions` as one v0 transaction whose non-signer, non-program
    /// accounts come from a fresh lookup table. Returns the events and the
    /// serialized transaction size.
    pub async fn send_v0(
        &mut self,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> (Result<Events, TransactionError>, usize) {
        let payer = self.ctx.payer.insecure_clone();
        self.send_v0_paid_by(&payer, instructions, signers).await
    }

    /// [`Self::send_v0`] with `payer` paying the fee, as an issuer pays for
    /// its batches (one account fewer to lock than a separate fee payer).
    pub async fn send_v0_paid_by(
        &mut self,
        payer: &Keypair,
        instructions: &[Instruction],
        signers: &[&Keypair],
    ) -> (Result<Events, TransactionError>, usize) {
        // As `sign` does for legacy transactions: room for any instruction
        // unless the caller set its own budget.
        let mut instructions = instructions.to_vec();
        if !instructions
            .iter()
            .any(sparks_client::budget::is_budget_instruction)
        {
            self.nonce += 1;
            instructions.insert(
                0,
                ComputeBudgetInstruction::set_compute_unit_limit(1_400_000 - self.nonce),
            );
        }
        let instructions = instructions.as_slice();
        let programs: Vec<Pubkey> = instructions.iter().map(|i| i.program_id).collect();
        let mut addresses: Vec<Pubkey> = Vec::new();
        for meta in instructions.iter().flat_map(|i| i.accounts.iter()) {
            if !meta.is_signer
                && !programs.contains(&meta.pubkey)
                && !addresses.contains(&meta.pubkey)
            {
                addresses.push(meta.pubkey);
            }
        }
        let table = self.lookup_table(addresses).await;
        let blockhash = self
            .ctx
            .get_new_latest_blockhash()
            .await
            .expect("blockhash");
        let message = solana_message::v0::Message::try_compile(
            &payer.pubkey(),
            instructions,
            &[table],
            blockhash,
        )
        .expect("compile v0");
        let message = solana_message::VersionedMessage::V0(message);
        let mut keypairs: Vec<&Keypair> = vec![payer];
        keypairs.extend(signers.iter().filter(|k| k.pubkey() != payer.pubkey()));
        let size = 1 + 64 * keypairs.len() + message.serialize().len();
        let tx = VersionedTransaction::try_new(message, &keypairs).expect("sign v0");
        (self.send_transaction(tx).await, size)
    }
}

/// An award built now and sent later, as an issuer with many awards in
/// flight builds them.
#[derive(Debug, Clone)]
pub struct PreparedAward {
    pub instruction: Instruction,
    pub issuer: Pubkey,
    /// Its award ids: `first_award_id .. first_award_id + count`.
    pub first_award_id: u64,
    pub count: u64,
}

impl<R: Runtime> TestFixture<R> {
    /// The next award id of `issuer`, as its single id allocator hands them out.
    pub fn next_award_id(&mut self, issuer: &Pubkey, count: u64) -> u64 {
        let next = self.award_ids.entry(*issuer).or_insert(0);
        let id = *next;
        *next += count;
        id
    }

    /// An award to `wallet` built from the chain's state as it is now.
    pub async fn prepare_award(
        &mut self,
        issuer: &Keypair,
        wallet: &Pubkey,
        source: Source,
        amount: u64,
    ) -> PreparedAward {
        let account = self.spark(wallet).await;
        let award_id = self.next_award_id(&issuer.pubkey(), 1);
        let instruction = ix::award_for_account(
            &issuer.pubkey(),
            wallet,
            account.as_ref(),
            source,
            amount,
            [award_id as u8; 32],
            award_id,
        );
        PreparedAward {
            instruction,
            issuer: issuer.pubkey(),
            first_award_id: award_id,
            count: 1,
        }
    }

    /// A batch built from the chain's state as it is now, by the client's
    /// own row builder.
    pub async fn prepare_batch(
        &mut self,
        issuer: &Keypair,
        source: Source,
        rows: &[(Pubkey, u64)],
    ) -> PreparedAward {
        let mut built = Vec::new();
        for (wallet, amount) in rows {
            built.push(self.batch_row(wallet, source, *amount).await);
        }
        let first = self.next_award_id(&issuer.pubkey(), rows.len() as u64);
        let instruction =
            ix::award_batch(&issuer.pubkey(), source, [first as u8; 32], first, &built);
        PreparedAward {
            instruction,
            issuer: issuer.pubkey(),
            first_award_id: first,
            count: rows.len() as u64,
        }
    }

    /// The issuer's recovery rule for an award whose fate it does not know:
    /// its award id is used on chain.
    pub async fn award_was_paid(&mut self, prepared: &PreparedAward) -> bool {
        self.issuer_account(&prepared.issuer)
            .await
            .award_id_state(prepared.first_award_id)
            == AwardIdState::Used
    }

    /// Sends a prepared award (or batch), through a lookup table (the issuer
    /// paying, as the issuer service sends) when it is too large for a
    /// legacy transaction.
    pub async fn send_prepared(
        &mut self,
        prepared: &PreparedAward,
        issuer: &Keypair,
    ) -> Result<Events, TransactionError> {
        if prepared.instruction.accounts.len() > 20 {
            self.send_v0_paid_by(issuer, std::slice::from_ref(&prepared.instruction), &[])
                .await
                .0
        } else {
            self.send(std::slice::from_ref(&prepared.instruction), &[issuer])
                .await
        }
    }

    pub async fn issuer_account(&mut self, authority: &Pubkey) -> Issuer {
        self.account(&pda::issuer(authority))
            .await
            .expect("issuer exists")
    }

    /// Writes the upgradeable loader's ProgramData of the Sparks program,
    /// as a cluster's loader keeps it for a deployed program (natively the
    /// program is a builtin and has none).
    pub fn set_program_data(&mut self, upgrade_authority: Option<Pubkey>) {
        let mut data = vec![3, 0, 0, 0]; // UpgradeableLoaderState::ProgramData
        data.extend_from_slice(&7u64.to_le_bytes()); // deployment slot
        match upgrade_authority {
            Some(authority) => {
                data.push(1);
                data.extend_from_slice(authority.as_ref());
            }
            None => data.push(0),
        }
        let account = Account {
            lamports: 1_000_000_000,
            data,
            owner: anchor_lang::solana_program::bpf_loader_upgradeable::ID,
            executable: false,
            rent_epoch: 0,
        };
        self.set_account(&pda::program_data(), account);
    }
}
