//! The build: std for `target_os = "solana"` from the pinned nightly's
//! sources and the committed patch (rustc-build-sysroot), each program
//! compiled against it to LLVM bitcode and linked by sbpf-linker into SBPF
//! v3, its frames checked, and the `.so` written to `deploy/` with its
//! manifest.
//!
//! Paths are remapped (workspace, cargo home, std sources) so the bytecode
//! does not depend on where the build ran.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use rustc_build_sysroot::{BuildMode, SysrootBuilder, SysrootConfig, SysrootStatus};
use sparks_sbf::inputs::Inputs;
use sparks_sbf::manifest::{sha256_hex, Manifest, SharedObject, Toolchain};
use sparks_sbf::toolchain::{self, Pins};
use sparks_sbf::{frames, Program};

pub struct Pipeline {
    pub root: PathBuf,
    /// Where the patched std, the sysroot and the build go.
    pub cache: PathBuf,
    pub sbpf_linker: PathBuf,
    pub pins: Pins,
}

/// What `rustc -vV` of the pinned nightly says.
struct Rustc {
    meta: rustc_version::VersionMeta,
    sysroot: PathBuf,
    /// The first line of `rustc -vV`, e.g. `rustc 1.101.0-nightly (92b5b8c87 2026-10-29)`.
    release: String,
}

impl Pipeline {
    pub fn build(&self, programs: &[Program]) -> Result<Vec<Manifest>> {
        fs::create_dir_all(&self.cache)?;
        let rustc = self.rustc()?;
        let linker_version = self.linker_version()?;
        let library = self.patched_std(&rustc)?;
        let sysroot = self.sysroot(&rustc, &library)?;
        let llvm_dir = self.llvm_dir(&rustc)?;
        let target_dir = self.target_dir(&sysroot)?;

        let mut manifests = Vec::new();
        for program in programs {
            eprintln!("sparks-sbf: building {} (SBPF v3)", program.package);
            let so = self.compile(program, &rustc, &sysroot, &llvm_dir, &target_dir)?;
            let manifest = self.manifest(program, &so, &rustc, &linker_version)?;
            let deploy = self.root.join("sbf/deploy");
            fs::write(deploy.join(program.file), &so)?;
            fs::write(deploy.join(program.manifest_file()), manifest.to_json())?;
            eprintln!(
                "sparks-sbf: {} -> sbf/deploy/{} ({} bytes, largest frame {} bytes)",
                program.package,
                program.file,
                so.len(),
                manifest.largest_stack_frame_bytes
            );
            manifests.push(manifest);
        }
        Ok(manifests)
    }

    fn nightly(&self) -> String {
        format!("+{}", self.pins.nightly)
    }

    fn rustc(&self) -> Result<Rustc> {
        let mut command = Command::new("rustc");
        command.arg(self.nightly()).arg("-vV");
        scrub(&mut command);
        let output = command.output().context("running rustc")?;
        ensure!(
            output.status.success(),
            "the pinned toolchain {} is not installed (scripts/build-sbf installs it): {}",
            self.pins.nightly,
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout)?;
        let meta = rustc_version::version_meta_for(&text)?;
        let mut command = Command::new("rustc");
        command.arg(self.nightly()).args(["--print", "sysroot"]);
        scrub(&mut command);
        let sysroot = String::from_utf8(command.output()?.stdout)?.trim().into();
        Ok(Rustc {
            meta,
            sysroot,
            release: text.lines().next().unwrap_or_default().to_owned(),
        })
    }

    fn linker_version(&self) -> Result<String> {
        let output = Command::new(&self.sbpf_linker)
            .arg("--version")
            .output()
            .with_context(|| format!("running {}", self.sbpf_linker.display()))?;
        let text = String::from_utf8(output.stdout)?;
        let version = text.lines().next().unwrap_or_default().trim().to_owned();
        ensure!(
            version == format!("sbpf-linker {}", self.pins.sbpf_linker),
            "{} is `{version}`, the pin is {}",
            self.sbpf_linker.display(),
            self.pins.sbpf_linker
        );
        Ok(version)
    }

    /// A copy of the nightly's `library/` with the std patch applied, kept
    /// (same path, same mtimes) while the toolchain and the patch stay the
    /// same, so the sysroot is not rebuilt for nothing.
    fn patched_std(&self, rustc: &Rustc) -> Result<PathBuf> {
        let source = rustc.sysroot.join("lib/rustlib/src/rust/library");
        ensure!(
            source.join("std/Cargo.toml").is_file(),
            "{} has no rust-src (scripts/build-sbf installs it)",
            self.pins.nightly
        );
        let dir = self.cache.join("std");
        let library = dir.join("library");
        let stamp_path = dir.join("stamp");
        let stamp = format!(
            "{} {}\n",
            rustc.release,
            sha256_hex(toolchain::STD_PATCH.as_bytes())
        );
        if library.is_dir() && fs::read_to_string(&stamp_path).ok().as_deref() == Some(&stamp) {
            return Ok(library);
        }
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        copy_tree(&source, &library)?;
        let patch = dir.join("std-solana.patch");
        fs::write(&patch, toolchain::STD_PATCH)?;
        // Outside any repository, so git applies the patch to these files.
        let status = Command::new("git")
            .current_dir(&library)
            .env("GIT_CEILING_DIRECTORIES", &dir)
            .args(["apply", "-p1"])
            .arg(&patch)
            .status()
            .context("running git apply")?;
        ensure!(
            status.success(),
            "the std patch does not apply to {}'s sources",
            self.pins.nightly
        );
        fs::write(&stamp_path, stamp)?;
        Ok(library)
    }

    /// The pinned toolchain's own cargo, running its own rustc (not the
    /// rustup proxies, which put the toolchain's folders on the paths).
    fn cargo(&self, rustc: &Rustc) -> Command {
        let mut cargo = Command::new(rustc.sysroot.join("bin/cargo"));
        scrub(&mut cargo);
        cargo
            .env("RUSTC", rustc.sysroot.join("bin/rustc"))
            .arg("-Zjson-target-spec");
        cargo
    }

    fn sysroot(&self, rustc: &Rustc, library: &Path) -> Result<PathBuf> {
        let sysroot = self.cache.join("sysroot");
        let cargo = self.cargo(rustc);
        let mut flags: Vec<OsString> = toolchain::RUSTFLAGS.iter().map(Into::into).collect();
        flags.push(remap(library, &format!("/rustc/{}/library", commit(rustc))));
        let status = SysrootBuilder::new(&sysroot, self.target_spec())
            .build_mode(BuildMode::Build)
            .sysroot_config(SysrootConfig::WithStd {
                std_features: Vec::new(),
            })
            .rustflags(flags)
            .cargo(cargo)
            .rustc_version(rustc.meta.clone())
            .when_build_required(|| {
                eprintln!("sparks-sbf: building std for {}", toolchain::TARGET_NAME)
            })
            .build_from_source(library)
            .context("building the SBF sysroot")?;
        if status == SysrootStatus::AlreadyCached {
            eprintln!(
                "sparks-sbf: std for {} is up to date",
                toolchain::TARGET_NAME
            );
        }
        Ok(sysroot)
    }

    /// A folder whose only LLVM is the nightly's own, for sbpf-linker to
    /// load (the toolchain's folder also holds a linker script of that name
    /// that dlopen cannot load).
    fn llvm_dir(&self, rustc: &Rustc) -> Result<PathBuf> {
        let lib = rustc.sysroot.join("lib");
        let llvm = fs::read_dir(&lib)?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libLLVM.so."))
            })
            .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))?;
        let dir = self.cache.join("llvm");
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        std::os::unix::fs::symlink(&llvm, dir.join(llvm.file_name().expect("a file name")))?;
        Ok(dir)
    }

    /// One build folder per sysroot: cargo does not notice a new std.
    fn target_dir(&self, sysroot: &Path) -> Result<PathBuf> {
        let hash_file = sysroot
            .join("lib/rustlib")
            .join(toolchain::TARGET_NAME)
            .join(".rustc-build-sysroot-hash");
        let hash = fs::read_to_string(&hash_file)
            .with_context(|| format!("reading {}", hash_file.display()))?;
        let name = format!("target-{}", hash.trim());
        for entry in fs::read_dir(&self.cache)?.flatten() {
            let other = entry.file_name();
            let other = other.to_string_lossy();
            if other.starts_with("target-") && other != name {
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(self.cache.join(name))
    }

    fn compile(
        &self,
        program: &Program,
        rustc: &Rustc,
        sysroot: &Path,
        llvm_dir: &Path,
        target_dir: &Path,
    ) -> Result<Vec<u8>> {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
            .context("neither CARGO_HOME nor HOME is set")?;
        let mut flags: Vec<OsString> = vec![format!("--sysroot={}", sysroot.display()).into()];
        flags.extend(toolchain::rustc_flags().into_iter().map(OsString::from));
        flags.push(format!("-Clinker={}", self.sbpf_linker.display()).into());
        flags.push(remap(&self.root, "/sparks"));
        flags.push(remap(&cargo_home, "/cargo"));

        let mut command = self.cargo(rustc);
        command
            .current_dir(&self.root)
            .args(toolchain::CARGO_ARGS)
            .args(["-p", program.package])
            .arg("--target")
            .arg(self.target_spec())
            .env("CARGO_TARGET_DIR", target_dir)
            .env(
                "CARGO_ENCODED_RUSTFLAGS",
                rustc_build_sysroot::encode_rustflags(&flags),
            )
            .env("LD_LIBRARY_PATH", llvm_dir);
        let status = command.status().context("running cargo")?;
        ensure!(status.success(), "building {} failed", program.package);

        let library = program.file.trim_end_matches(".so");
        let output = target_dir
            .join(toolchain::TARGET_NAME)
            .join("release")
            .join(format!("lib{library}.so"));
        fs::read(&output).with_context(|| format!("reading {}", output.display()))
    }

    fn manifest(
        &self,
        program: &Program,
        so: &[u8],
        rustc: &Rustc,
        linker_version: &str,
    ) -> Result<Manifest> {
        let sbpf_version = sbpf_version(so)?;
        ensure!(
            sbpf_version == 3,
            "{} is SBPF v{sbpf_version}, not v3",
            program.file
        );
        let frame = frames::largest_frame(so)?;
        if frame.bytes > toolchain::STACK_FRAME_BYTES {
            bail!(
                "{}: the function at pc {} uses a {}-byte stack frame; SBF frames are {} bytes. Box the large values it keeps on the stack",
                program.package,
                frame.function_pc,
                frame.bytes,
                toolchain::STACK_FRAME_BYTES
            );
        }
        let profile = {
            let manifest: toml::Table =
                toml::from_str(&fs::read_to_string(self.root.join("Cargo.toml"))?)?;
            manifest
                .get("profile")
                .and_then(|p| p.get("release"))
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        Ok(Manifest {
            package: program.package.into(),
            so: SharedObject {
                file: program.file.into(),
                sha256: sha256_hex(so),
                bytes: so.len() as u64,
                sbpf_version,
            },
            inputs: Inputs::of(&self.root, program.package)?,
            toolchain: Toolchain {
                pins: self.pins.clone(),
                rustc: rustc.release.clone(),
                llvm: rustc
                    .meta
                    .llvm_version
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                sbpf_linker: linker_version.into(),
                target_spec_sha256: sha256_hex(toolchain::TARGET_SPEC.as_bytes()),
                std_patch_sha256: sha256_hex(toolchain::STD_PATCH.as_bytes()),
            },
            flags: toolchain::flags(),
            profile: profile.trim().replace('\n', "; "),
            largest_stack_frame_bytes: frame.bytes,
            stack_frame_limit_bytes: toolchain::STACK_FRAME_BYTES,
        })
    }

    fn target_spec(&self) -> PathBuf {
        self.root
            .join("sbf/toolchain")
            .join(format!("{}.json", toolchain::TARGET_NAME))
    }
}

/// A build script or a shell may have picked another toolchain.
fn scrub(command: &mut Command) {
    command
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
}

fn remap(from: &Path, to: &str) -> OsString {
    format!("--remap-path-prefix={}={to}", from.display()).into()
}

fn commit(rustc: &Rustc) -> &str {
    rustc.meta.commit_hash.as_deref().unwrap_or("unknown")
}

/// SBPF versions live in the ELF header's `e_flags` (offset 48).
fn sbpf_version(elf: &[u8]) -> Result<u32> {
    let flags = elf
        .get(48..52)
        .context("not an ELF file")?
        .try_into()
        .map(u32::from_le_bytes)?;
    Ok(flags)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry?;
        let target = to.join(entry.path().strip_prefix(from)?);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
