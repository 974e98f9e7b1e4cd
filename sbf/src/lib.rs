//! The Sparks programs as SBF bytecode.
//!
//! `deploy/` holds each program's `.so` (SBPF v3, built by `sparks-sbf build`
//! from this workspace with upstream LLVM and sbpf-linker) and its manifest:
//! what it was built from and with. The local chain and the program tests
//! load these bytes, so nothing here needs a toolchain; the manifest test
//! fails once a program's inputs no longer match what its bytecode was built
//! from.

use std::path::{Path, PathBuf};

pub mod frames;
pub mod inputs;
pub mod manifest;
pub mod toolchain;

pub use manifest::{Manifest, Stale};

/// One program's committed bytecode.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// The Cargo package it is built from.
    pub package: &'static str,
    /// Its file name in `deploy/` (the library name, as Anchor names it).
    pub file: &'static str,
    pub elf: &'static [u8],
    manifest_json: &'static str,
}

pub const SPARKS: Program = Program {
    package: "sparks",
    file: "sparks.so",
    elf: include_bytes!("../deploy/sparks.so"),
    manifest_json: include_str!("../deploy/sparks.json"),
};

pub const EXAMPLE_MINT: Program = Program {
    package: "example-mint",
    file: "example_mint.so",
    elf: include_bytes!("../deploy/example_mint.so"),
    manifest_json: include_str!("../deploy/example_mint.json"),
};

pub const PROGRAMS: [Program; 2] = [SPARKS, EXAMPLE_MINT];

impl Program {
    pub fn manifest(&self) -> Result<Manifest, Stale> {
        Manifest::parse(self.package, self.manifest_json)
    }

    /// Whether this bytecode is what the workspace at `root` builds.
    pub fn check(&self, root: &Path) -> Result<(), Stale> {
        let manifest = self.manifest()?;
        if manifest.package != self.package || manifest.so.file != self.file {
            return Err(Stale::Unreadable {
                package: self.package.into(),
                message: format!(
                    "it describes {} of package {}, not {} of {}",
                    manifest.so.file, manifest.package, self.file, self.package
                ),
            });
        }
        manifest.check(root, self.elf)
    }

    /// The manifest's file name in `deploy/`.
    pub fn manifest_file(&self) -> String {
        format!("{}.json", self.file.trim_end_matches(".so"))
    }
}

/// The workspace of the clone this process runs in. A build cache shared
/// by clones at other paths keeps the path a library was first compiled in
/// (cargo does not rebuild it for a new path), so the root is found from the
/// running package (cargo sets `CARGO_MANIFEST_DIR` for tests and `cargo
/// run`), the compile-time path only as a fallback.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|toml| toml.contains("[workspace]"))
        })
        .map(Path::to_path_buf)
        .unwrap_or(start)
}
