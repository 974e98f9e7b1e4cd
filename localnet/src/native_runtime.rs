//! The programs as native builtins that log like deployed SBF programs: the
//! local chain's `--native` mode and the native half of the program suite,
//! where a debugger, a native backtrace or coverage reach the program's Rust
//! (the default runs the committed SBF bytecode, `sparks-sbf`).
//!
//! solana-program-test's builtin wrapper and syscall stubs make a native
//! program run inside the SVM, but a transaction's logs then differ from a validator's:
//! every invocation logs `invoke [n]` and `success` two or three times (the
//! runtime logs them, and so do the wrapper and the CPI stub), `msg!` and
//! `sol_log_data` print to the process's stdout instead of the transaction's
//! log, so there are no `Program log:` or `Program data:` lines and a client
//! cannot read Anchor's `AnchorError … Error Code:` line.
//!
//! This module is that wrapper and those stubs, derived from
//! solana-program-test 3.1.12 (Apache-2.0), with the differences that make
//! the logs a validator's: the runtime alone logs `invoke`/`success`/
//! `failed` (at the right depth), and `sol_log`, `sol_log_data` and
//! `sol_log_compute_units` write `Program log:`, `Program data:` and
//! `Program consumption:` lines into the transaction's log collector.
//! `msg!` reaches `sol_log` through the hook of the vendored solana-msg
//! (`vendor/solana-msg`). What remains different: natively nothing meters
//! compute units, so there are no `consumed … compute units` lines.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::mem::transmute;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

use base64::prelude::{Engine, BASE64_STANDARD};
use solana_account_info::AccountInfo;
use solana_instruction::error::{InstructionError, UNSUPPORTED_SYSVAR};
use solana_instruction::Instruction;
use solana_program_entrypoint::{deserialize, ProcessInstruction, SUCCESS};
use solana_program_error::{ProgramError, ProgramResult};
use solana_program_runtime::invoke_context::InvokeContext;
use solana_program_runtime::serialization::serialize_parameters;
use solana_pubkey::Pubkey;
use solana_sbpf::vm::ContextObject;
use solana_svm_log_collector::ic_msg;
use solana_svm_timings::ExecuteTimings;
use solana_sysvar::program_stubs::{set_syscall_stubs, SyscallStubs};
use solana_sysvar_v4::SysvarSerialize;

thread_local! {
    /// The invoke context of the builtin running on this thread; null
    /// outside one.
    static INVOKE_CONTEXT: Cell<*mut ()> = const { Cell::new(std::ptr::null_mut()) };
    /// The error a failed CPI ended with, for the builtin that made it.
    static CPI_ERROR: Cell<Option<InstructionError>> = const { Cell::new(None) };
}

/// Sets this thread's invoke context for the life of the guard, and puts
/// the one before back when it drops (also on unwind): no stub can reach a
/// context the runtime has freed.
struct ContextGuard(*mut ());

impl ContextGuard {
    fn enter(context: &mut InvokeContext) -> Self {
        let pointer = context as *mut InvokeContext as *mut ();
        Self(INVOKE_CONTEXT.with(|slot| slot.replace(pointer)))
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        INVOKE_CONTEXT.with(|slot| slot.set(self.0));
    }
}

fn invoke_context<'a, 'b>() -> Option<&'a mut InvokeContext<'b, 'b>> {
    let pointer = INVOKE_CONTEXT.with(Cell::get);
    // SAFETY: set by `invoke_native` from the runtime's context for exactly
    // the call of the builtin (`ContextGuard`), during which the runtime
    // keeps the context alive; null otherwise.
    (!pointer.is_null()).then(|| unsafe { &mut *(pointer as *mut InvokeContext<'b, 'b>) })
}

/// Installs the stubs and the log hook, once per process.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        set_syscall_stubs(Box::new(NativeStubs));
        solana_msg::set_native_log_hook(solana_sysvar::program_stubs::sol_log);
    });
}

/// Runs a native program as the runtime's builtin entrypoint does for an
/// SBF program: accounts serialized with the SBF ABI and deserialized for
/// the program, its changes written back. Logs nothing itself. A program
/// whose CPI failed ends with the callee's error, as on SBF (where the
/// failed CPI aborts the caller), not with what the caller made of it.
pub fn invoke_native(
    entry: ProcessInstruction,
    invoke_context: &mut InvokeContext,
) -> Result<u64, Box<dyn std::error::Error>> {
    let _context = ContextGuard::enter(invoke_context);
    CPI_ERROR.with(|e| e.set(None));
    let transaction_context = &invoke_context.transaction_context;
    let instruction_context = transaction_context.get_current_instruction_context()?;
    let indices: HashSet<_> =
        (0..instruction_context.get_number_of_instruction_accounts()).collect();

    // A builtin must consume units; an SBF program would consume many more.
    invoke_context.compute_meter.consume_checked(1)?;

    let direct_account_pointers = invoke_context
        .get_feature_set()
        .direct_account_pointers_in_program_input;
    let (mut parameters, _regions, _lengths, _data_offset) =
        serialize_parameters(&instruction_context, false, false, direct_account_pointers)?;
    // SAFETY: `parameters` was serialized in the layout `deserialize` reads.
    let (program_id, account_infos, input) =
        unsafe { deserialize(&mut parameters.as_slice_mut()[0] as *mut u8) };

    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        entry(program_id, &account_infos, input)
    }));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            let error = CPI_ERROR
                .with(Cell::take)
                .unwrap_or_else(|| InstructionError::from(u64::from(error)));
            return Err(Box::new(error));
        }
        Err(_panic) => return Err(Box::new(InstructionError::ProgramFailedToComplete)),
    }

    let by_key: HashMap<_, _> = account_infos.into_iter().map(|a| (a.key, a)).collect();
    // A CPI may have moved the current instruction context; read it again.
    let transaction_context = &invoke_context.transaction_context;
    let instruction_context = transaction_context.get_current_instruction_context()?;
    for index in indices {
        let mut account = instruction_context.try_borrow_instruction_account(index)?;
        if !account.is_writable() {
            continue;
        }
        if let Some(info) = by_key.get(account.get_key()) {
            if account.get_lamports() != info.lamports() {
                account.set_lamports(info.lamports())?;
            }
            if account.can_data_be_resized(info.data_len()).is_ok() {
                account.set_data_from_slice(&info.data.borrow())?;
            }
            if account.get_owner() != info.owner {
                account.set_owner(info.owner.as_ref())?;
            }
        }
    }
    Ok(0)
}

fn get_sysvar<T: Default + SysvarSerialize + Sized + serde::de::DeserializeOwned + Clone>(
    sysvar: Result<std::sync::Arc<T>, InstructionError>,
    var_addr: *mut u8,
) -> u64 {
    let Some(context) = invoke_context() else {
        return UNSUPPORTED_SYSVAR;
    };
    let cost = context.get_execution_cost().sysvar_base_cost + T::size_of() as u64;
    if context.compute_meter.consume_checked(cost).is_err() {
        panic!("Exceeded compute budget");
    }
    match sysvar {
        Ok(value) => {
            // SAFETY: the program passes a pointer to a `T`.
            unsafe { *(var_addr as *mut T) = T::clone(&value) };
            SUCCESS
        }
        Err(_) => UNSUPPORTED_SYSVAR,
    }
}

struct NativeStubs;

impl SyscallStubs for NativeStubs {
    fn sol_log(&self, message: &str) {
        match invoke_context() {
            Some(context) => {
                ic_msg!(context, "Program log: {}", message);
            }
            None => tracing::debug!(message, "program log outside an instruction"),
        }
    }

    fn sol_log_data(&self, fields: &[&[u8]]) {
        let encoded: Vec<String> = fields.iter().map(|f| BASE64_STANDARD.encode(f)).collect();
        if let Some(context) = invoke_context() {
            ic_msg!(context, "Program data: {}", encoded.join(" "));
        }
    }

    fn sol_log_compute_units(&self) {
        if let Some(context) = invoke_context() {
            let remaining = context.get_remaining();
            ic_msg!(
                context,
                "Program consumption: {} units remaining",
                remaining
            );
        }
    }

    fn sol_remaining_compute_units(&self) -> u64 {
        invoke_context().map_or(0, |context| context.get_remaining())
    }

    fn sol_invoke_signed(
        &self,
        instruction: &Instruction,
        account_infos: &[AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> ProgramResult {
        let context = invoke_context().ok_or(ProgramError::UnsupportedSysvar)?;
        let caller = context
            .transaction_context
            .get_current_instruction_context()
            .and_then(|c| c.get_program_key().copied())
            .map_err(|_| ProgramError::InvalidAccountData)?;
        let signers = signers_seeds
            .iter()
            .map(|seeds| Pubkey::create_program_address(seeds, &caller))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ProgramError::InvalidSeeds)?;
        context
            .prepare_next_cpi_instruction(instruction.clone(), &signers)
            .map_err(|error| {
                // A privilege escalation, a missing account…: as on SBF, the
                // transaction fails with this error.
                CPI_ERROR.with(|e| e.set(Some(error.clone())));
                program_error(error)
            })?;

        // The caller's AccountInfo changes go to the callee's accounts.
        let transaction_context = &context.transaction_context;
        let caller_context = transaction_context
            .get_current_instruction_context()
            .map_err(program_error)?;
        let callee_context = transaction_context
            .get_next_instruction_context()
            .map_err(program_error)?;
        let mut written_back = Vec::new();
        for callee_account in callee_context.instruction_accounts().iter() {
            let key = transaction_context
                .get_key_of_account_at_index(callee_account.index_in_transaction)
                .map_err(program_error)?;
            // As the SBF runtime does, a callee account the caller did not
            // pass is an error (solana-program-test panics here).
            let info_index = account_infos
                .iter()
                .position(|info| info.unsigned_key() == key)
                .ok_or(ProgramError::NotEnoughAccountKeys)?;
            let info = &account_infos[info_index];
            let index_in_caller = caller_context
                .get_index_of_account_in_instruction(callee_account.index_in_transaction)
                .map_err(program_error)?;
            let mut account = caller_context
                .try_borrow_instruction_account(index_in_caller)
                .map_err(program_error)?;
            if account.get_lamports() != info.lamports() {
                account
                    .set_lamports(info.lamports())
                    .map_err(program_error)?;
            }
            let data = info.try_borrow_data()?;
            match account.can_data_be_resized(data.len()) {
                Ok(()) => account.set_data_from_slice(&data).map_err(program_error)?,
                Err(error) if account.get_data() != *data => return Err(program_error(error)),
                Err(_) => {}
            }
            if account.get_owner() != info.owner {
                account
                    .set_owner(info.owner.as_ref())
                    .map_err(program_error)?;
            }
            if callee_account.is_writable() {
                written_back.push((callee_account.index_in_transaction, info_index));
            }
        }

        // The runtime logs the callee's invoke and success/failure lines.
        let mut units = 0;
        if let Err(error) = context.process_instruction(&mut units, &mut ExecuteTimings::default())
        {
            CPI_ERROR.with(|e| e.set(Some(error.clone())));
            return Err(program_error(error));
        }

        // The callee's changes come back into the caller's AccountInfos.
        let transaction_context = &context.transaction_context;
        let caller_context = transaction_context
            .get_current_instruction_context()
            .map_err(program_error)?;
        for (index_in_transaction, info_index) in written_back {
            let index_in_caller = caller_context
                .get_index_of_account_in_instruction(index_in_transaction)
                .map_err(program_error)?;
            let account = caller_context
                .try_borrow_instruction_account(index_in_caller)
                .map_err(program_error)?;
            let info = &account_infos[info_index];
            **info.try_borrow_mut_lamports()? = account.get_lamports();
            if info.owner != account.get_owner() {
                // SAFETY: as in solana-program-test: the system program may
                // assign the account; AccountInfo keeps its owner by reference.
                #[allow(mutable_transmutes)]
                let owner = unsafe { transmute::<&Pubkey, &mut Pubkey>(info.owner) };
                *owner = *account.get_owner();
            }
            let data = account.get_data();
            if info.data_len() != data.len() {
                info.resize(data.len())?;
            }
            info.try_borrow_mut_data()?.clone_from_slice(data);
        }
        Ok(())
    }

    fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
        match invoke_context() {
            Some(c) => get_sysvar(c.environment_config.sysvar_cache().get_clock(), var_addr),
            None => UNSUPPORTED_SYSVAR,
        }
    }

    fn sol_get_epoch_schedule_sysvar(&self, var_addr: *mut u8) -> u64 {
        match invoke_context() {
            Some(c) => get_sysvar(
                c.environment_config.sysvar_cache().get_epoch_schedule(),
                var_addr,
            ),
            None => UNSUPPORTED_SYSVAR,
        }
    }

    fn sol_get_epoch_rewards_sysvar(&self, var_addr: *mut u8) -> u64 {
        match invoke_context() {
            Some(c) => get_sysvar(
                c.environment_config.sysvar_cache().get_epoch_rewards(),
                var_addr,
            ),
            None => UNSUPPORTED_SYSVAR,
        }
    }

    #[allow(deprecated)]
    fn sol_get_fees_sysvar(&self, var_addr: *mut u8) -> u64 {
        match invoke_context() {
            Some(c) => get_sysvar(c.environment_config.sysvar_cache().get_fees(), var_addr),
            None => UNSUPPORTED_SYSVAR,
        }
    }

    fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
        match invoke_context() {
            Some(c) => get_sysvar(c.environment_config.sysvar_cache().get_rent(), var_addr),
            None => UNSUPPORTED_SYSVAR,
        }
    }

    fn sol_get_last_restart_slot(&self, var_addr: *mut u8) -> u64 {
        match invoke_context() {
            Some(c) => get_sysvar(
                c.environment_config.sysvar_cache().get_last_restart_slot(),
                var_addr,
            ),
            None => UNSUPPORTED_SYSVAR,
        }
    }

    fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
        let context = invoke_context()?;
        let (program_id, data) = context.transaction_context.get_return_data();
        Some((*program_id, data.to_vec()))
    }

    fn sol_set_return_data(&self, data: &[u8]) {
        let Some(context) = invoke_context() else {
            return;
        };
        let transaction_context = &mut context.transaction_context;
        let caller = transaction_context
            .get_current_instruction_context()
            .and_then(|c| c.get_program_key().copied());
        if let Ok(caller) = caller {
            let _ = transaction_context.set_return_data(caller, data.to_vec());
        }
    }

    fn sol_get_stack_height(&self) -> u64 {
        invoke_context().map_or(0, |c| c.get_stack_height() as u64)
    }
}

/// The caller sees a `ProgramError`; errors it cannot express reach the
/// runtime intact through `CPI_ERROR`.
fn program_error(error: InstructionError) -> ProgramError {
    ProgramError::try_from(error).unwrap_or(ProgramError::Custom(u32::MAX))
}
