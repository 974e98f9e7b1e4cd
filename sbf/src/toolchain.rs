//! The pinned SBF toolchain (`toolchain/toolchain.toml`) and the flags every
//! build uses. Both are inputs of the bytecode: a manifest records them, and
//! changing any of them makes the committed `.so` files stale.

use serde::{Deserialize, Serialize};

/// The target spec: bpfel with `target_os = "solana"` (so Anchor and the
/// Solana crates take their on-chain paths and std builds), linked by
/// sbpf-linker into SBPF v3.
pub const TARGET_SPEC: &str = include_str!("../toolchain/sbpf-solana.json");
/// The target's name, as rustc derives it from the spec's file name.
pub const TARGET_NAME: &str = "sbpf-solana";
/// std for `target_os = "solana"`: allocator, io errors, thread-locals,
/// randomness, the panic path into the program's `custom_panic`, no
/// writable statics.
pub const STD_PATCH: &str = include_str!("../toolchain/std-solana.patch");
/// The pins, as committed.
pub const PINS_TOML: &str = include_str!("../toolchain/toolchain.toml");

/// The largest stack frame a function may use: SBF gives each call one
/// 4 KiB frame, and a function that addresses below it writes into its
/// caller's frame.
pub const STACK_FRAME_BYTES: u64 = 4096;

/// Flags for every crate of the build, std included. Atomics become plain
/// loads and stores (a program runs on one thread; SBF has no atomics).
pub const RUSTFLAGS: &[&str] = &["-Cpasses=lower-atomic"];

/// LLVM options sbpf-linker passes to the BPF backend: the frame limit (a
/// larger frame is an error, so the link fails) and the BPF v4
/// instructions SBPF v3 lacks.
pub const LLVM_ARGS: &[&str] = &[
    "-bpf-stack-size=4096",
    "-disable-movsx",
    "-disable-ldsx",
    "-disable-bswap",
    "-disable-gotol",
    "-disable-gotox",
];

/// Pinned versions of the tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    /// A rustup toolchain name, e.g. `nightly-2026-10-30`.
    pub nightly: String,
    /// The sbpf-linker release on crates.io.
    #[serde(rename = "sbpf-linker")]
    pub sbpf_linker: String,
}

impl Pins {
    pub fn committed() -> Self {
        toml::from_str(PINS_TOML).expect("sbf/toolchain/toolchain.toml parses")
    }
}

/// How cargo builds each program (the package and target come after).
pub const CARGO_ARGS: &[&str] = &["build", "--release", "--locked", "--lib"];

/// The rustc flags every program crate gets (beyond the sysroot, the linker
/// path and the path remaps, which name this machine's folders).
pub fn rustc_flags() -> Vec<String> {
    let mut flags: Vec<String> = RUSTFLAGS.iter().map(|f| f.to_string()).collect();
    flags.push(format!("-Clink-arg=--llvm-args={}", LLVM_ARGS.join(",")));
    // sbpf-linker writes a copy to ./target/deploy unless told not to.
    flags.push("-Clink-arg=--deploy=false".into());
    flags
}

/// Every flag of the build, cargo's and rustc's, in one list for manifests
/// and input hashes.
pub fn flags() -> Vec<String> {
    let mut flags: Vec<String> = CARGO_ARGS.iter().map(|a| format!("cargo {a}")).collect();
    flags.extend(rustc_flags());
    flags
}
