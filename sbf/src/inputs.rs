//! What a program's bytecode is built from, hashed: the sources of every path
//! crate it links (the program, the programs it calls, the vendored
//! solana-msg), the Cargo.lock entries of every crate it depends on, the
//! workspace's build profiles, patches, package defaults and the
//! `[workspace.dependencies]` entries of those crates (their features), and
//! the toolchain's files and flags. A manifest keeps each hash, so a stale check can say which moved.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::toolchain;

#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("Cargo.lock has no package `{0}`")]
    NotLocked(String),
    #[error("`{0}` is a path dependency found under neither programs/ nor vendor/")]
    UnknownPathCrate(String),
}

/// The hashes of one program's inputs (hex sha256 each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// Every file of the path crates it links, by path.
    pub sources: String,
    /// The Cargo.lock entries (name, version, source, checksum) of every
    /// crate it depends on.
    pub cargo_lock: String,
    /// The workspace's `[profile]`, `[patch]` and `[workspace.package]`
    /// tables and the `[workspace.dependencies]` entries of the crates it
    /// links.
    pub workspace: String,
    /// The target spec, the std patch, the pins and the flags.
    pub toolchain: String,
}

impl Inputs {
    /// The inputs of `package` in the workspace at `root`.
    pub fn of(root: &Path, package: &str) -> Result<Self, InputsError> {
        let lock = Lockfile::read(&root.join("Cargo.lock"))?;
        let closure = lock.closure(package)?;
        let path_crates = path_crates(root)?;

        let mut sources = Sha256::new();
        let mut locked = Sha256::new();
        for entry in &closure {
            match &entry.source {
                Some(source) => {
                    let checksum = entry.checksum.as_deref().unwrap_or("");
                    let line = format!("{} {} {source} {checksum}\n", entry.name, entry.version);
                    locked.update(line.as_bytes());
                }
                None => {
                    let dir = path_crates
                        .get(&entry.name)
                        .ok_or_else(|| InputsError::UnknownPathCrate(entry.name.clone()))?;
                    hash_tree(root, dir, &mut sources)?;
                }
            }
        }

        Ok(Self {
            sources: hex::encode(sources.finalize()),
            cargo_lock: hex::encode(locked.finalize()),
            workspace: workspace_hash(root, &closure)?,
            toolchain: toolchain_hash(),
        })
    }

    /// The names of the parts that differ from `other`.
    pub fn differences(&self, other: &Inputs) -> Vec<&'static str> {
        let mut parts = Vec::new();
        if self.sources != other.sources {
            parts.push("sources");
        }
        if self.cargo_lock != other.cargo_lock {
            parts.push("Cargo.lock");
        }
        if self.workspace != other.workspace {
            parts.push("workspace profile, patches, package or dependency entries");
        }
        if self.toolchain != other.toolchain {
            parts.push("toolchain (target spec, std patch, pins or flags)");
        }
        parts
    }
}

#[derive(Debug, Deserialize)]
struct Lockfile {
    package: Vec<LockedPackage>,
}

#[derive(Debug, Clone, Deserialize)]
struct LockedPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

impl Lockfile {
    fn read(path: &Path) -> Result<Self, InputsError> {
        let text = read(path)?;
        toml::from_str(&text).map_err(|e| InputsError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// `package` (a path crate) and everything it depends on, sorted.
    fn closure(&self, package: &str) -> Result<Vec<&LockedPackage>, InputsError> {
        let root = self
            .package
            .iter()
            .position(|p| p.name == package && p.source.is_none())
            .ok_or_else(|| InputsError::NotLocked(package.into()))?;
        let mut seen = BTreeSet::from([root]);
        let mut queue = vec![root];
        while let Some(index) = queue.pop() {
            for dependency in &self.package[index].dependencies {
                let found = self.resolve(dependency)?;
                if seen.insert(found) {
                    queue.push(found);
                }
            }
        }
        let mut closure: Vec<&LockedPackage> = seen.into_iter().map(|i| &self.package[i]).collect();
        closure.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        Ok(closure)
    }

    /// A dependency line: `name`, `name version` or `name version (source)`.
    fn resolve(&self, dependency: &str) -> Result<usize, InputsError> {
        let mut words = dependency.split_whitespace();
        let name = words.next().unwrap_or_default();
        let version = words.next();
        self.package
            .iter()
            .position(|p| p.name == name && version.is_none_or(|v| p.version == v))
            .ok_or_else(|| InputsError::NotLocked(dependency.into()))
    }
}

/// The path crates a program may link: the programs and the vendored crates.
fn path_crates(root: &Path) -> Result<BTreeMap<String, PathBuf>, InputsError> {
    #[derive(Deserialize)]
    struct Manifest {
        package: Package,
    }
    #[derive(Deserialize)]
    struct Package {
        name: String,
    }
    let mut crates = BTreeMap::new();
    for parent in ["programs", "vendor"] {
        let dir = root.join(parent);
        let entries = fs::read_dir(&dir).map_err(|source| InputsError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let manifest_path = entry.path().join("Cargo.toml");
            if !manifest_path.is_file() {
                continue;
            }
            let manifest: Manifest =
                toml::from_str(&read(&manifest_path)?).map_err(|e| InputsError::Parse {
                    path: manifest_path.clone(),
                    message: e.to_string(),
                })?;
            crates.insert(manifest.package.name, entry.path());
        }
    }
    Ok(crates)
}

/// Every file under `dir`, by its path from `root`, in a stable order.
fn hash_tree(root: &Path, dir: &Path, hasher: &mut Sha256) -> Result<(), InputsError> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let contents = fs::read(&file).map_err(|source| InputsError::Read {
            path: file.clone(),
            source,
        })?;
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(&contents);
    }
    Ok(())
}

/// What the root Cargo.toml says about the build of these crates: a feature
/// added to a workspace dependency changes the bytecode but not Cargo.lock.
fn workspace_hash(root: &Path, closure: &[&LockedPackage]) -> Result<String, InputsError> {
    let path = root.join("Cargo.toml");
    let manifest: toml::Table = toml::from_str(&read(&path)?).map_err(|e| InputsError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut hasher = Sha256::new();
    let mut part = |name: &str, value: Option<&toml::Value>| {
        let value = value.map(ToString::to_string).unwrap_or_default();
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    };
    part("profile", manifest.get("profile"));
    part("patch", manifest.get("patch"));
    let workspace = manifest.get("workspace");
    part(
        "workspace.package",
        workspace.and_then(|w| w.get("package")),
    );
    let dependencies = workspace.and_then(|w| w.get("dependencies"));
    let names: BTreeSet<&str> = closure.iter().map(|p| p.name.as_str()).collect();
    for name in names {
        if let Some(entry) = dependencies.and_then(|d| d.get(name)) {
            part(name, Some(entry));
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn toolchain_hash() -> String {
    let mut hasher = Sha256::new();
    for part in [
        toolchain::TARGET_SPEC,
        toolchain::STD_PATCH,
        toolchain::PINS_TOML,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    for flag in toolchain::flags() {
        hasher.update(flag.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

fn read(path: &Path) -> Result<String, InputsError> {
    fs::read_to_string(path).map_err(|source| InputsError::Read {
        path: path.to_owned(),
        source,
    })
}
