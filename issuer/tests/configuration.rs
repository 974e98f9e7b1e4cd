//! docs/CONFIGURATION.md's sections of this package's binaries are their --help.
//! Regenerate with `SPARKS_BLESS=1 cargo test -p sparks-issuer --test configuration`.

#[test]
fn sparks_issuer_help_is_documented() {
    sparks_docs::help::check(
        "sparks-issuer",
        env!("CARGO_BIN_EXE_sparks-issuer").as_ref(),
    );
}
