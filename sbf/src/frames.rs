//! Stack frames, read from the bytecode. On SBPF v3 every call gets one
//! fixed 4 KiB frame and `r10` points at its top; a function addresses its
//! locals below `r10`. One that reaches further than 4 KiB down writes into
//! its caller's frame, and nothing at run time notices. The linker already
//! refuses larger frames (LLVM's `-bpf-stack-size`); this reads the result
//! independently, as solana-sbpf decodes it.
//!
//! Arguments beyond the fifth travel on the stack: the caller stores them
//! just above its own `r10` (`[r10 + 8]`, …), which is the bottom of the
//! callee's frame, and the callee loads them from `[r10 - 4088]` up. Those
//! loads are the caller's data, not the callee's frame.

use std::sync::Arc;

use solana_sbpf::ebpf;
use solana_sbpf::elf::Executable;
use solana_sbpf::memory_region::MemoryMapping;
use solana_sbpf::program::{BuiltinProgram, SBPFVersion};
use solana_sbpf::vm::{Config, ContextObject};

use crate::toolchain::STACK_FRAME_BYTES as STACK_FRAME;

#[derive(Debug, thiserror::Error)]
pub enum FramesError {
    #[error("not a loadable SBPF v3 program: {0}")]
    Load(String),
}

/// The function with the largest frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargestFrame {
    /// Its first instruction (index into the text section).
    pub function_pc: usize,
    /// How far below `r10` it addresses, in bytes.
    pub bytes: u64,
}

/// Loads `elf` as solana-sbpf does for SBPF v3 and returns the largest
/// frame any function uses.
pub fn largest_frame(elf: &[u8]) -> Result<LargestFrame, FramesError> {
    let loader = BuiltinProgram::<NoContext>::new_loader(Config {
        enabled_sbpf_versions: SBPFVersion::V3..=SBPFVersion::V3,
        ..Config::default()
    });
    let executable = Executable::<NoContext>::load(elf, Arc::new(loader))
        .map_err(|e| FramesError::Load(e.to_string()))?;
    let (_, text) = executable.get_text_bytes();
    Ok(scan(text, executable.get_entrypoint_instruction_offset()))
}

/// Per function (the entrypoint and every internal call target), the
/// lowest `r10`-relative address it loads, stores or computes.
fn scan(text: &[u8], entry_pc: usize) -> LargestFrame {
    let count = text.len() / ebpf::INSN_SIZE;
    let mut starts = vec![entry_pc];
    let mut pc = 0;
    while pc < count {
        let insn = ebpf::get_insn_unchecked(text, pc);
        if insn.opc == ebpf::CALL_IMM && insn.src == 1 {
            starts.push((pc as i64 + 1 + insn.imm) as usize);
        }
        pc += width(insn.opc);
    }
    starts.sort_unstable();
    starts.dedup();

    let mut largest = LargestFrame {
        function_pc: entry_pc,
        bytes: 0,
    };
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(count).min(count);
        let bytes = frame_of(text, start, end);
        if bytes > largest.bytes {
            largest = LargestFrame {
                function_pc: start,
                bytes,
            };
        }
    }
    largest
}

/// Loads this far down read stack-passed arguments (see the module doc).
const ARGUMENT_AREA: i64 = 128;

/// Follows registers holding `r10 + k` through `mov`/`add` within one
/// function; the most negative address it stores to, takes or loads from
/// (arguments aside) is its frame.
fn frame_of(text: &[u8], start: usize, end: usize) -> u64 {
    let frame_bottom = -(STACK_FRAME as i64);
    let mut offset_of: [Option<i64>; 11] = [None; 11];
    offset_of[ebpf::FRAME_PTR_REG] = Some(0);
    let mut lowest: i64 = 0;
    let mut pc = start;
    while pc < end {
        let insn = ebpf::get_insn_unchecked(text, pc);
        let class = insn.opc & ebpf::BPF_CLS_MASK;
        let dst = usize::from(insn.dst).min(10);
        let src = usize::from(insn.src).min(10);
        match insn.opc {
            ebpf::MOV64_REG => offset_of[dst] = offset_of[src],
            ebpf::ADD64_IMM => offset_of[dst] = offset_of[dst].map(|k| k + insn.imm),
            _ if class == ebpf::BPF_LDX => {
                if let Some(k) = offset_of[src] {
                    let address = k + i64::from(insn.off);
                    if address >= frame_bottom + ARGUMENT_AREA {
                        lowest = lowest.min(address);
                    }
                }
                if dst != ebpf::FRAME_PTR_REG {
                    offset_of[dst] = None;
                }
            }
            _ if class == ebpf::BPF_ST || class == ebpf::BPF_STX => {
                if let Some(k) = offset_of[dst] {
                    lowest = lowest.min(k + i64::from(insn.off));
                }
            }
            _ if (class == ebpf::BPF_LD
                || class == ebpf::BPF_ALU64_STORE
                || class == ebpf::BPF_ALU32_LOAD)
                && dst != ebpf::FRAME_PTR_REG =>
            {
                offset_of[dst] = None;
            }
            _ if insn.opc == ebpf::CALL_IMM || insn.opc == ebpf::CALL_REG => {
                // Calls clobber r0-r5.
                for slot in offset_of.iter_mut().take(6) {
                    *slot = None;
                }
            }
            _ => {}
        }
        if let Some(k) = offset_of[dst] {
            if dst != ebpf::FRAME_PTR_REG {
                lowest = lowest.min(k);
            }
        }
        pc += width(insn.opc);
    }
    lowest.unsigned_abs()
}

/// `lddw` takes two slots.
fn width(opcode: u8) -> usize {
    if opcode == ebpf::LD_DW_IMM {
        2
    } else {
        1
    }
}

/// The loader needs a context type; nothing runs here.
struct NoContext;

impl ContextObject for NoContext {
    fn consume(&mut self, _amount: u64) {}

    fn get_remaining(&self) -> u64 {
        0
    }

    fn active_mapping_ptr(&mut self) -> std::ptr::NonNull<MemoryMapping> {
        unreachable!("the frame scan never runs a program")
    }
}
