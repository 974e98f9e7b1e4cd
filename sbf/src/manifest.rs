//! The provenance manifest written beside each `.so`: what it was built
//! from and with, and what it is. The stale check compares a manifest with
//! the workspace as it is now.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::inputs::{Inputs, InputsError};
use crate::toolchain::{self, Pins};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The Cargo package the bytecode is built from.
    pub package: String,
    pub so: SharedObject,
    /// The hash of each kind of input (see `inputs.rs`).
    pub inputs: Inputs,
    pub toolchain: Toolchain,
    /// Every flag beyond the target spec's defaults.
    pub flags: Vec<String>,
    /// The workspace's release profile, as the build used it.
    pub profile: String,
    /// The largest stack frame any function addresses, from the bytecode.
    pub largest_stack_frame_bytes: u64,
    pub stack_frame_limit_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedObject {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
    /// The SBPF version in the ELF header (`e_flags`).
    pub sbpf_version: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toolchain {
    pub pins: Pins,
    /// `rustc -vV` of the pinned nightly: release, commit, LLVM.
    pub rustc: String,
    pub llvm: String,
    /// `sbpf-linker --version`.
    pub sbpf_linker: String,
    pub target_spec_sha256: String,
    pub std_patch_sha256: String,
}

/// Why the committed bytecode of a program cannot be trusted as built from
/// the workspace as it is now.
#[derive(Debug, thiserror::Error)]
pub enum Stale {
    #[error("{package}: the manifest does not parse: {message}")]
    Unreadable { package: String, message: String },
    #[error("{package}: {file} is not the file its manifest describes (sha256 {actual}, manifest {expected})")]
    Replaced {
        package: String,
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{package}: the bytecode was built from other inputs than the workspace's: {parts}. Rebuild it with ./scripts/build-sbf and commit sbf/deploy")]
    Changed { package: String, parts: String },
    #[error(transparent)]
    Inputs(#[from] InputsError),
}

impl Manifest {
    pub fn parse(package: &str, json: &str) -> Result<Self, Stale> {
        serde_json::from_str(json).map_err(|e| Stale::Unreadable {
            package: package.into(),
            message: e.to_string(),
        })
    }

    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a manifest serializes");
        json.push('\n');
        json
    }

    /// Whether `so` is the described file and the workspace at `root` still
    /// has the inputs it was built from.
    pub fn check(&self, root: &Path, so: &[u8]) -> Result<(), Stale> {
        let actual = sha256_hex(so);
        if actual != self.so.sha256 {
            return Err(Stale::Replaced {
                package: self.package.clone(),
                file: self.so.file.clone(),
                expected: self.so.sha256.clone(),
                actual,
            });
        }
        let now = Inputs::of(root, &self.package)?;
        let parts = self.inputs.differences(&now);
        if !parts.is_empty() || self.toolchain.pins != Pins::committed() {
            let mut parts = parts.join(", ");
            if parts.is_empty() {
                parts = "toolchain pins".into();
            }
            return Err(Stale::Changed {
                package: self.package.clone(),
                parts,
            });
        }
        if self.flags != toolchain::flags() {
            return Err(Stale::Changed {
                package: self.package.clone(),
                parts: "flags".into(),
            });
        }
        Ok(())
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
