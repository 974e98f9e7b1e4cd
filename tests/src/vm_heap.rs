//! The SBF heap, as the VM uses it: a transaction replayed in LiteSVM with
//! register tracing on, every invocation's trace read for the lowest heap
//! address a register held.
//!
//! SBF's bump allocator hands out memory from the top of the 32 KiB heap
//! region downward and keeps its position in the region's first word; every
//! allocation's address passes through a register (`r0` when the allocator
//! returns), so the lowest address inside the region that any register
//! held, but for the allocator's bound (`start + 8`), is where the last
//! allocation started. The heap an invocation used
//! is the region's end less that address: what [`crate::heap`] models
//! natively, here read off the real bytecode in the real VM.
//!
//! The region is the default 32 KiB (the programs do not request more). A
//! register holding a heap address that is not an allocation (a pointer
//! into the middle of a buffer) can only lie above the lowest allocation,
//! so the figure never undercounts; it can only overcount by a pointer
//! computed below the allocator's position, which the allocator never
//! hands out.

use std::sync::{Arc, Mutex};

use anchor_lang::prelude::Pubkey;
use litesvm::{InvocationInspectCallback, LiteSVM};
use solana_account::Account;
use solana_program_runtime::invoke_context::InvokeContext;
use solana_sbpf::ebpf::MM_HEAP_START;
use solana_transaction::sanitized::SanitizedTransaction;
use solana_transaction::versioned::VersionedTransaction;

use crate::heap::SBF_HEAP_BYTES;

/// One invocation's heap, from its register trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInvocation {
    pub program: Pubkey,
    /// 1 for a transaction's instruction, 2 for a CPI it makes, …
    pub depth: usize,
    /// Bytes below the heap region's end down to the lowest allocation.
    pub heap_bytes: u64,
}

/// Collects each invocation's heap after the transaction ran.
#[derive(Default)]
struct HeapMeter {
    invocations: Arc<Mutex<Vec<VmInvocation>>>,
}

impl InvocationInspectCallback for HeapMeter {
    fn before_invocation(
        &self,
        _: &LiteSVM,
        _: &SanitizedTransaction,
        _: &[u16],
        _: &mut InvokeContext,
        _: bool,
    ) {
    }

    fn after_invocation(
        &self,
        _: &LiteSVM,
        _: &SanitizedTransaction,
        _: &[u16],
        invoke_context: &InvokeContext,
        _: bool,
    ) {
        // Above the allocator's position word and its own bound check
        // (`start + 8`, which it compares every position against).
        let region = MM_HEAP_START + 9..MM_HEAP_START + SBF_HEAP_BYTES as u64;
        let invocations = &self.invocations;
        invoke_context.iterate_vm_traces(&|instruction, _executable, trace| {
            let lowest = trace
                .iter()
                .flat_map(|registers| registers[..11].iter())
                .filter(|value| region.contains(value))
                .min();
            let Ok(program) = instruction.get_program_key() else {
                return;
            };
            invocations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(VmInvocation {
                    program: *program,
                    depth: instruction.get_stack_height(),
                    heap_bytes: lowest.map_or(0, |address| region.end - address),
                });
        });
    }
}

/// Runs `tx` once in a LiteSVM holding `accounts` (every account it reads,
/// lookup tables included), the programs as their committed bytecode, the
/// local chain's features and `clock`, and returns each invocation's heap.
pub fn replay(
    accounts: &[(Pubkey, Account)],
    clock: &anchor_lang::solana_program::clock::Clock,
    tx: VersionedTransaction,
) -> Result<Vec<VmInvocation>, String> {
    // The features first: the program runtime (SBPF v3 enabled) is made
    // from them with the builtins.
    let mut svm = LiteSVM::new_debuggable(true)
        .with_feature_set(sparks_localnet::features())
        .with_builtins()
        .with_sigverify(false)
        .with_blockhash_check(false);
    for (id, program) in [
        (sparks::ID, sparks_sbf::SPARKS),
        (example_mint::ID, sparks_sbf::EXAMPLE_MINT),
    ] {
        let elf = with_section_table(program.elf);
        svm.add_program_with_loader(id, &elf, solana_sdk_ids::bpf_loader::id())
            .map_err(|e| e.to_string())?;
    }
    for (address, account) in accounts {
        svm.set_account(*address, account.clone())
            .map_err(|e| e.to_string())?;
    }
    svm.set_sysvar(clock);
    let meter = HeapMeter::default();
    let invocations = meter.invocations.clone();
    svm.set_invocation_inspect_callback(meter);
    svm.send_transaction(tx)
        .map_err(|failed| format!("{:?}: {:?}", failed.err, failed.meta.logs))?;
    let invocations = invocations.lock().unwrap_or_else(|e| e.into_inner());
    Ok(invocations.clone())
}

/// `elf` with a section header table holding only its name table appended.
/// The loader's debugging mode (register tracing) reads symbol names from
/// the section headers and cannot load an SBPF v3 file without any, as
/// sbpf-linker writes it; the program and its code are unchanged.
fn with_section_table(elf: &[u8]) -> Vec<u8> {
    const SHT_STRTAB: u32 = 3;
    assert_eq!(
        u16::from_le_bytes([elf[0x3c], elf[0x3d]]),
        0,
        "the bytecode already has section headers"
    );
    let mut out = elf.to_vec();
    let names_offset = out.len() as u64;
    out.extend_from_slice(b"\0.shstrtab\0");
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let table_offset = out.len() as u64;
    // Section 0 is the null section; section 1 the names.
    out.extend_from_slice(&[0; 64]);
    let mut names = [0u8; 64];
    names[0..4].copy_from_slice(&1u32.to_le_bytes()); // sh_name: ".shstrtab"
    names[4..8].copy_from_slice(&SHT_STRTAB.to_le_bytes());
    names[24..32].copy_from_slice(&names_offset.to_le_bytes()); // sh_offset
    names[32..40].copy_from_slice(&11u64.to_le_bytes()); // sh_size
    names[48..56].copy_from_slice(&1u64.to_le_bytes()); // sh_addralign
    out.extend_from_slice(&names);
    out[0x28..0x30].copy_from_slice(&table_offset.to_le_bytes()); // e_shoff
    out[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    out[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes()); // e_shnum
    out[0x3e..0x40].copy_from_slice(&1u16.to_le_bytes()); // e_shstrndx
    out
}
