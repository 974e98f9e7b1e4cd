//! docs/CONFIGURATION.md's sections of this package's binaries are their --help.
//! Regenerate with `SPARKS_BLESS=1 cargo test -p sparks-localnet --test configuration`.

#[test]
fn sparks_localnet_help_is_documented() {
    sparks_docs::help::check(
        "sparks-localnet",
        env!("CARGO_BIN_EXE_sparks-localnet").as_ref(),
    );
}

#[test]
fn localnet_bench_help_is_documented() {
    sparks_docs::help::check(
        "localnet-bench",
        env!("CARGO_BIN_EXE_localnet-bench").as_ref(),
    );
}
