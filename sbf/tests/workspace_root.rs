//! The workspace is the clone the tests run in, not the one the library was
//! first compiled in: a build cache shared by clones at other paths reuses
//! the library, and a path baked in at compile time pointed at a clone that
//! was gone (CI: "reading /check/work/main/Cargo.lock: No such file").

use std::path::Path;

#[test]
fn the_workspace_root_follows_the_running_package() {
    let clone = tempfile::tempdir().unwrap();
    std::fs::write(
        clone.path().join("Cargo.toml"),
        "[workspace]\nmembers = [\"sbf\"]\n",
    )
    .unwrap();
    std::fs::create_dir(clone.path().join("sbf")).unwrap();
    // What cargo sets for a test of the package `sbf` in that clone.
    std::env::set_var("CARGO_MANIFEST_DIR", clone.path().join("sbf"));
    assert_eq!(sparks_sbf::workspace_root(), clone.path());
    // Run from this clone, it is this clone.
    std::env::set_var("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        sparks_sbf::workspace_root(),
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
    );
}
