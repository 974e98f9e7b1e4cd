//! docs/CONFIGURATION.md's sections of this package's binaries are their --help.
//! Regenerate with `SPARKS_BLESS=1 cargo test -p sparks-indexer --test configuration`.

#[test]
fn sparks_indexer_help_is_documented() {
    sparks_docs::help::check(
        "sparks-indexer",
        env!("CARGO_BIN_EXE_sparks-indexer").as_ref(),
    );
}
