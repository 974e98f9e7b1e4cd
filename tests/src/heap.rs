//! The SBF heap, measured natively.
//!
//! On SBF every program invocation (a CPI into the same program included)
//! gets its own 32 KiB heap with a bump allocator that never frees: an
//! allocation moves a pointer down (`pos = (pos - size) & !(align - 1)`),
//! `dealloc` does nothing and `realloc` allocates anew. Natively the program
//! runs on the process allocator, so running out of heap goes unnoticed.
//!
//! [`MeteringAllocator`] (the test binary's global allocator) replays every
//! allocation the program makes on that model, one frame per invocation:
//! [`metered_sparks_entry`] opens a frame around the program (and first makes
//! the allocations SBF's entrypoint makes, which natively the runtime makes
//! before the program runs: the `Vec<AccountInfo>` of its accounts, and for
//! each distinct account the two `Rc<RefCell<…>>` of its lamports and data),
//! and [`install_metered_stubs`] pauses the frame while the native syscall
//! stubs run (on SBF that work is the runtime's, not the program's heap).
//! What a frame used is kept as an [`InvocationReport`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Mutex, Once};

use anchor_lang::prelude::{AccountInfo, Pubkey};
use anchor_lang::solana_program::entrypoint::ProgramResult;
use anchor_lang::solana_program::instruction::Instruction;

/// The heap one SBF invocation gets (solana-program-entrypoint's HEAP_LENGTH).
pub const SBF_HEAP_BYTES: usize = 32 * 1024;
/// SBF's bump allocator keeps its position in the heap's first word.
const BUMP_POINTER_BYTES: i64 = 8;
const MAX_DEPTH: usize = 16;

/// One invocation's heap, as the SBF bump allocator would have used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationReport {
    pub program: Pubkey,
    /// The invocation's first account (the signer of most instructions).
    pub first_account: Option<Pubkey>,
    /// The instruction's first 8 bytes (its Anchor discriminator).
    pub discriminator: [u8; 8],
    /// 1 for a transaction's instruction, 2 for a CPI it makes, …
    pub depth: usize,
    /// Bytes the bump allocator would have handed out, alignment included.
    pub heap_bytes: usize,
    pub allocations: usize,
}

impl InvocationReport {
    /// Whether it would have run out of heap on SBF.
    pub fn exceeds_sbf_heap(&self) -> bool {
        self.heap_bytes as i64 > SBF_HEAP_BYTES as i64 - BUMP_POINTER_BYTES
    }
}

#[derive(Clone, Copy)]
struct Frame {
    /// Offset of the bump pointer from the heap's start; starts at the end.
    position: i64,
    allocations: usize,
    paused: bool,
}

impl Frame {
    const NEW: Frame = Frame {
        position: SBF_HEAP_BYTES as i64,
        allocations: 0,
        paused: false,
    };
}

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static FRAMES: [Cell<Frame>; MAX_DEPTH] = const { [const { Cell::new(Frame::NEW) }; MAX_DEPTH] };
}

static REPORTS: Mutex<Vec<InvocationReport>> = Mutex::new(Vec::new());

/// The process allocator, with every allocation of a metered frame replayed
/// on the SBF bump allocator's model.
pub struct MeteringAllocator;

fn record(layout: Layout) {
    let _ = DEPTH.try_with(|depth| {
        let depth = depth.get();
        if depth == 0 || depth > MAX_DEPTH {
            return;
        }
        let _ = FRAMES.try_with(|frames| {
            let cell = &frames[depth - 1];
            let mut frame = cell.get();
            if frame.paused {
                return;
            }
            let align = layout.align() as i64;
            frame.position = (frame.position - layout.size() as i64).div_euclid(align) * align;
            frame.allocations += 1;
            cell.set(frame);
        });
    });
}

unsafe impl GlobalAlloc for MeteringAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SBF's allocator has no realloc of its own: the default allocates
        // the new size and copies, whether the block grows or shrinks.
        if let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) {
            record(new_layout);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Sets the current frame's pause flag; returns what it was.
fn set_paused(paused: bool) -> bool {
    let depth = DEPTH.with(Cell::get);
    if depth == 0 || depth > MAX_DEPTH {
        return false;
    }
    FRAMES.with(|frames| {
        let mut frame = frames[depth - 1].get();
        let was = frame.paused;
        frame.paused = paused;
        frames[depth - 1].set(frame);
        was
    })
}

/// Leaves a frame when dropped, also when the program unwinds (a panic),
/// so the next invocation on this thread is metered at the right depth.
struct FrameGuard;

impl Drop for FrameGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Puts the pause flag back when dropped, also on unwind.
struct PauseGuard(bool);

impl Drop for PauseGuard {
    fn drop(&mut self) {
        set_paused(self.0);
    }
}

/// Runs `program` in a metered frame and keeps its report.
pub fn metered(
    entry: fn(&Pubkey, &[AccountInfo], &[u8]) -> ProgramResult,
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let guard = FrameGuard;
    if depth <= MAX_DEPTH {
        FRAMES.with(|frames| frames[depth - 1].set(Frame::NEW));
    }
    entrypoint_allocations(accounts);
    let result = entry(program_id, accounts, data);
    let frame = FRAMES.with(|frames| frames[depth.min(MAX_DEPTH) - 1].get());
    drop(guard);
    let mut discriminator = [0; 8];
    let n = data.len().min(8);
    discriminator[..n].copy_from_slice(&data[..n]);
    // The report is written outside any frame (or in the caller's paused one).
    let report = InvocationReport {
        program: *program_id,
        first_account: accounts.first().map(|a| *a.key),
        discriminator,
        depth,
        heap_bytes: (SBF_HEAP_BYTES as i64 - frame.position).max(0) as usize,
        allocations: frame.allocations,
    };
    REPORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(report);
    result
}

/// What SBF's `entrypoint!` allocates before the program runs
/// (solana-program-entrypoint's `deserialize`): the `Vec<AccountInfo>`, and
/// for each distinct account an `Rc<RefCell<&mut u64>>` (lamports) and an
/// `Rc<RefCell<&mut [u8]>>` (data); a duplicate shares its first's. The
/// bump allocator never frees, so the values are dropped at once.
fn entrypoint_allocations(accounts: &[AccountInfo]) {
    let infos: Vec<AccountInfo> = Vec::with_capacity(accounts.len());
    drop(infos);
    // Without allocating: a set here would be counted too.
    for (i, account) in accounts.iter().enumerate() {
        if !accounts[..i]
            .iter()
            .any(|earlier| earlier.key == account.key)
        {
            drop(Rc::new(RefCell::new(std::ptr::null_mut::<u64>())));
            drop(Rc::new(RefCell::new(std::ptr::slice_from_raw_parts_mut(
                std::ptr::null_mut::<u8>(),
                0,
            ))));
        }
    }
}

/// The Sparks program, metered.
pub fn metered_sparks_entry(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    metered(
        sparks_client::native::sparks_entry,
        program_id,
        accounts,
        data,
    )
}

/// The example mint, metered.
pub fn metered_example_mint_entry(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    metered(
        sparks_client::native::example_mint_entry,
        program_id,
        accounts,
        data,
    )
}

/// Every report so far whose invocation's first account is `key`.
pub fn reports_for(key: &Pubkey) -> Vec<InvocationReport> {
    REPORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|r| r.first_account.as_ref() == Some(key))
        .cloned()
        .collect()
}

/// Installs the syscall stubs solana-program-test set up, wrapped so that a
/// frame is paused while they run, where the programs call them. Call after
/// the first bank has been set up.
///
/// solana-program-test 4.2 installs its stubs into the runtime's
/// solana-sysvar 4; Anchor 1.2's programs (and their CPIs, through
/// solana-invoke) call solana-sysvar 3's. The wrapper bridges the two.
pub fn install_metered_stubs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let inner = solana_sysvar_v4::program_stubs::set_syscall_stubs(Box::new(Placeholder));
        solana_sysvar::program_stubs::set_syscall_stubs(Box::new(PausingStubs { inner }));
    });
}

/// Left in solana-sysvar 4's place: nothing natively run calls through it
/// (Anchor's programs use solana-sysvar 3's), and a call would be a CPI or
/// a sysvar read silently skipped, so it panics.
struct Placeholder;
impl solana_sysvar_v4::program_stubs::SyscallStubs for Placeholder {
    fn sol_invoke_signed(
        &self,
        _: &Instruction,
        _: &[AccountInfo],
        _: &[&[&[u8]]],
    ) -> ProgramResult {
        panic!("a CPI through solana-sysvar 4's stubs; the programs' go through solana-sysvar 3's")
    }
    fn sol_get_sysvar(&self, _: *const u8, _: *mut u8, _: u64, _: u64) -> u64 {
        panic!("a sysvar read through solana-sysvar 4's stubs; the programs' go through solana-sysvar 3's")
    }
}

/// solana-program-test's stubs, each run with the calling frame paused.
struct PausingStubs {
    inner: Box<dyn solana_sysvar_v4::program_stubs::SyscallStubs>,
}

fn paused<T>(f: impl FnOnce() -> T) -> T {
    let _restore = PauseGuard(set_paused(true));
    f()
}

impl solana_sysvar::program_stubs::SyscallStubs for PausingStubs {
    fn sol_log(&self, message: &str) {
        paused(|| self.inner.sol_log(message))
    }
    fn sol_log_compute_units(&self) {
        paused(|| self.inner.sol_log_compute_units())
    }
    fn sol_remaining_compute_units(&self) -> u64 {
        paused(|| self.inner.sol_remaining_compute_units())
    }
    fn sol_invoke_signed(
        &self,
        instruction: &Instruction,
        account_infos: &[AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> ProgramResult {
        paused(|| {
            self.inner
                .sol_invoke_signed(instruction, account_infos, signers_seeds)
        })
    }
    fn sol_get_sysvar(
        &self,
        sysvar_id_addr: *const u8,
        var_addr: *mut u8,
        offset: u64,
        length: u64,
    ) -> u64 {
        paused(|| {
            self.inner
                .sol_get_sysvar(sysvar_id_addr, var_addr, offset, length)
        })
    }
    fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
        paused(|| self.inner.sol_get_clock_sysvar(var_addr))
    }
    fn sol_get_epoch_schedule_sysvar(&self, var_addr: *mut u8) -> u64 {
        paused(|| self.inner.sol_get_epoch_schedule_sysvar(var_addr))
    }
    fn sol_get_fees_sysvar(&self, var_addr: *mut u8) -> u64 {
        paused(|| self.inner.sol_get_fees_sysvar(var_addr))
    }
    fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
        paused(|| self.inner.sol_get_rent_sysvar(var_addr))
    }
    fn sol_get_epoch_rewards_sysvar(&self, var_addr: *mut u8) -> u64 {
        paused(|| self.inner.sol_get_epoch_rewards_sysvar(var_addr))
    }
    fn sol_get_last_restart_slot(&self, var_addr: *mut u8) -> u64 {
        paused(|| self.inner.sol_get_last_restart_slot(var_addr))
    }
    fn sol_get_epoch_stake(&self, vote_address: *const u8) -> u64 {
        paused(|| self.inner.sol_get_epoch_stake(vote_address))
    }
    unsafe fn sol_memcpy(&self, dst: *mut u8, src: *const u8, n: usize) {
        paused(|| unsafe { self.inner.sol_memcpy(dst, src, n) })
    }
    unsafe fn sol_memmove(&self, dst: *mut u8, src: *const u8, n: usize) {
        paused(|| unsafe { self.inner.sol_memmove(dst, src, n) })
    }
    unsafe fn sol_memcmp(&self, s1: *const u8, s2: *const u8, n: usize, result: *mut i32) {
        paused(|| unsafe { self.inner.sol_memcmp(s1, s2, n, result) })
    }
    unsafe fn sol_memset(&self, s: *mut u8, c: u8, n: usize) {
        paused(|| unsafe { self.inner.sol_memset(s, c, n) })
    }
    fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
        paused(|| self.inner.sol_get_return_data())
    }
    fn sol_set_return_data(&self, data: &[u8]) {
        paused(|| self.inner.sol_set_return_data(data))
    }
    fn sol_log_data(&self, fields: &[&[u8]]) {
        paused(|| self.inner.sol_log_data(fields))
    }
    fn sol_get_processed_sibling_instruction(&self, index: usize) -> Option<Instruction> {
        paused(|| self.inner.sol_get_processed_sibling_instruction(index))
    }
    fn sol_get_stack_height(&self) -> u64 {
        paused(|| self.inner.sol_get_stack_height())
    }
}
