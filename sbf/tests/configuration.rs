//! docs/CONFIGURATION.md's sections of this package's binaries are their --help.
//! Regenerate with `SPARKS_BLESS=1 cargo test -p sparks-sbf --test configuration`.

#[test]
fn sparks_sbf_help_is_documented() {
    sparks_docs::help::check("sparks-sbf", env!("CARGO_BIN_EXE_sparks-sbf").as_ref());
}
