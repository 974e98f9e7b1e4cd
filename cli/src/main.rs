//! `sparks`: the admin and issuer CLI. Solana CLI conventions: `--url`
//! (local/devnet/mainnet shorthands or a URL), `--keypair` (default
//! `~/.config/solana/id.json`), `--output json|text`.

mod args;
mod award_ids;
mod commands;
mod context;
mod output;
mod parse;

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPARKS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => fail(anyhow::anyhow!("starting the async runtime: {error}")),
    };
    if let Err(error) = runtime.block_on(commands::run(args)) {
        fail(error);
    }
}

/// One line naming the problem (and the program's error name), exit code 1.
fn fail(error: anyhow::Error) -> ! {
    let message = format!("{error:#}").replace('\n', " ");
    eprintln!("error: {message}");
    std::process::exit(1);
}
