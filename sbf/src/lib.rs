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

/// The workspace this crate was compiled in.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sbf/ sits in the workspace")
        .to_owned()
}
