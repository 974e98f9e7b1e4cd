//! The committed bytecode is what the workspace builds: each `.so` is the
//! file its manifest describes, built from the programs' sources, the
//! Cargo.lock and the toolchain as they are now; it loads as SBPF v3, and no
//! function's stack frame passes 4 KiB. A change to any of those inputs
//! fails here until `./scripts/build-sbf` rebuilds the bytecode.

use std::fs;
use std::path::Path;

use sparks_sbf::frames::largest_frame;
use sparks_sbf::toolchain::STACK_FRAME_BYTES;
use sparks_sbf::{workspace_root, Manifest, Stale, PROGRAMS};

#[test]
fn the_committed_bytecode_is_built_from_the_workspace_as_it_is() {
    let root = workspace_root();
    let stale: Vec<String> = PROGRAMS
        .iter()
        .filter_map(|program| program.check(&root).err())
        .map(|error| error.to_string())
        .collect();
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

#[test]
fn the_committed_bytecode_is_sbpf_v3_within_4_kib_frames() {
    for program in PROGRAMS {
        let manifest = program.manifest().expect("manifest parses");
        assert_eq!(manifest.so.sbpf_version, 3, "{}", program.package);
        let frame = largest_frame(program.elf).expect("loads as SBPF v3");
        assert!(
            frame.bytes <= STACK_FRAME_BYTES,
            "{}: the function at pc {} uses {} bytes of stack",
            program.package,
            frame.function_pc,
            frame.bytes
        );
        assert_eq!(frame.bytes, manifest.largest_stack_frame_bytes);
    }
}

/// A copy of what the stale check reads, to change.
fn copy_workspace(to: &Path) {
    let root = workspace_root();
    for file in ["Cargo.toml", "Cargo.lock"] {
        fs::copy(root.join(file), to.join(file)).unwrap();
    }
    for dir in ["programs", "vendor"] {
        for entry in walkdir::WalkDir::new(root.join(dir)) {
            let entry = entry.unwrap();
            let target = to.join(entry.path().strip_prefix(&root).unwrap());
            if entry.file_type().is_dir() {
                fs::create_dir_all(&target).unwrap();
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
}

#[test]
fn a_changed_input_or_file_is_caught_and_says_how_to_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    copy_workspace(dir.path());
    let program = sparks_sbf::SPARKS;
    let manifest: Manifest = program.manifest().unwrap();
    manifest
        .check(dir.path(), program.elf)
        .expect("an exact copy is up to date");

    // One character of the program's source.
    let source = dir.path().join("programs/sparks/src/constants.rs");
    let text = fs::read_to_string(&source).unwrap();
    fs::write(&source, text.replacen("pub const", "pub  const", 1)).unwrap();
    let error = manifest.check(dir.path(), program.elf).unwrap_err();
    assert!(
        matches!(&error, Stale::Changed { parts, .. } if parts == "sources"),
        "{error}"
    );
    assert!(error.to_string().contains("./scripts/build-sbf"), "{error}");
    fs::write(&source, text).unwrap();

    // A dependency the program links, moved to another version.
    let lock = dir.path().join("Cargo.lock");
    let text = fs::read_to_string(&lock).unwrap();
    let moved = text.replacen(
        "name = \"anchor-lang\"\nversion = \"1.2.2\"",
        "name = \"anchor-lang\"\nversion = \"1.2.3\"",
        1,
    );
    assert_ne!(moved, text, "anchor-lang 1.2.2 is locked");
    fs::write(&lock, &moved).unwrap();
    let error = manifest.check(dir.path(), program.elf).unwrap_err();
    assert!(
        matches!(&error, Stale::Changed { parts, .. } if parts == "Cargo.lock"),
        "{error}"
    );
    fs::write(&lock, text).unwrap();

    // A feature of a workspace dependency: the lock stays, the build moves.
    let workspace = dir.path().join("Cargo.toml");
    let text = fs::read_to_string(&workspace).unwrap();
    let featured = text.replacen(
        r#"features = ["event-cpi"]"#,
        r#"features = ["event-cpi", "lazy-account"]"#,
        1,
    );
    assert_ne!(featured, text, "anchor-lang has the event-cpi feature");
    fs::write(&workspace, &featured).unwrap();
    let error = manifest.check(dir.path(), program.elf).unwrap_err();
    assert!(
        matches!(&error, Stale::Changed { parts, .. } if parts.starts_with("workspace")),
        "{error}"
    );
    fs::write(&workspace, text).unwrap();

    // The file itself.
    let mut elf = program.elf.to_vec();
    elf[200] ^= 1;
    let error = manifest.check(dir.path(), &elf).unwrap_err();
    assert!(matches!(error, Stale::Replaced { .. }), "{error}");
}
