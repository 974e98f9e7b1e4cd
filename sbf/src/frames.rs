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
/// function, in the order of its code (not its branches: a pointer made on
/// one path and used after a join is followed as if the path were
/// straight, which is how LLVM lays out frame addressing); the most
/// negative address it stores to, takes or loads from (arguments aside) is
/// its frame. The linker's own check (`-bpf-stack-size`) is exact; this is
/// the independent reading of the result.
fn frame_of(text: &[u8], start: usize, end: usize) -> u64 {
    let frame_bottom = -(STACK_FRAME as i64);
    let mut offset_of: [Option<i64>; 11] = [None; 11];
    offset_of[ebpf::FRAME_PTR_REG] = Some(0);
    let mut lowest: i64 = 0;
    let mut pc = start;
    while pc < end {
        let insn = ebpf::get_insn_unchecked(text, pc);
        let class = insn.opc & ebpf::BPF_CLS_MASK;
        let (dst, src) = (usize::from(insn.dst), usize::from(insn.src));
        if dst > ebpf::FRAME_PTR_REG || src > ebpf::FRAME_PTR_REG {
            // Not a register the verifier accepts; nothing to follow.
            pc += width(insn.opc);
            continue;
        }
        match insn.opc {
            ebpf::MOV64_REG => offset_of[dst] = offset_of[src],
            ebpf::ADD64_IMM => offset_of[dst] = offset_of[dst].map(|k| k + insn.imm),
            _ if class == ebpf::BPF_LDX => {
                if let Some(k) = offset_of[src] {
                    let address = k + i64::from(insn.off);
                    let argument = (frame_bottom..frame_bottom + ARGUMENT_AREA).contains(&address);
                    if !argument {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One 8-byte instruction.
    fn insn(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
        let mut bytes = [0; 8];
        bytes[0] = opc;
        bytes[1] = (src << 4) | dst;
        bytes[2..4].copy_from_slice(&off.to_le_bytes());
        bytes[4..8].copy_from_slice(&imm.to_le_bytes());
        bytes
    }

    const STXDW: u8 = ebpf::BPF_STX | ebpf::BPF_MEM | ebpf::BPF_DW;
    const LDXDW: u8 = ebpf::BPF_LDX | ebpf::BPF_MEM | ebpf::BPF_DW;

    fn frame(code: &[[u8; 8]]) -> u64 {
        let text: Vec<u8> = code.iter().flatten().copied().collect();
        scan(&text, 0).bytes
    }

    #[test]
    fn a_store_below_the_frame_is_seen() {
        // stxdw [r10-4100], r1; exit
        let over = frame(&[insn(STXDW, 10, 1, -4100, 0), insn(ebpf::EXIT, 0, 0, 0, 0)]);
        assert_eq!(over, 4100);
        assert!(over > STACK_FRAME);
    }

    #[test]
    fn a_pointer_made_from_r10_is_followed() {
        // mov64 r2, r10; add64 r2, -3000; stxdw [r2-200], r1
        let bytes = frame(&[
            insn(ebpf::MOV64_REG, 2, 10, 0, 0),
            insn(ebpf::ADD64_IMM, 2, 0, 0, -3000),
            insn(STXDW, 2, 1, -200, 0),
        ]);
        assert_eq!(bytes, 3200);
    }

    #[test]
    fn loads_of_stack_arguments_are_not_the_frame_but_loads_below_it_are() {
        // ldxdw r1, [r10-4088]: the sixth argument, in the caller's store.
        assert_eq!(frame(&[insn(LDXDW, 1, 10, -4088, 0)]), 0);
        // ldxdw r1, [r10-4100]: the caller's frame.
        assert_eq!(frame(&[insn(LDXDW, 1, 10, -4100, 0)]), 4100);
    }

    #[test]
    fn a_register_overwritten_is_no_longer_followed() {
        // mov64 r2, r10; mov64 r2, 7 (alu); stxdw [r2-5000], r1
        let bytes = frame(&[
            insn(ebpf::MOV64_REG, 2, 10, 0, 0),
            insn(ebpf::MOV64_IMM, 2, 0, 0, 7),
            insn(STXDW, 2, 1, -5000, 0),
        ]);
        assert_eq!(bytes, 0);
    }
}
