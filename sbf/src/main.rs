//! `sparks-sbf`: builds the programs to SBPF v3 bytecode and checks the
//! committed bytecode against the workspace. `scripts/build-sbf` installs
//! the pinned toolchain and runs `sparks-sbf build`.

mod pipeline;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sparks_sbf::toolchain::Pins;
use sparks_sbf::{workspace_root, PROGRAMS};

#[derive(Parser)]
#[command(
    version,
    about = "The Sparks programs as SBF bytecode (SBPF v3, upstream LLVM + sbpf-linker)"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Builds every program into sbf/deploy (.so + manifest) with the pinned toolchain.
    Build {
        /// Where the patched std, the sysroot and the build are kept.
        #[arg(long, env = "SPARKS_SBF_CACHE")]
        cache: PathBuf,
        /// The pinned sbpf-linker binary.
        #[arg(long, env = "SPARKS_SBPF_LINKER")]
        sbpf_linker: PathBuf,
    },
    /// Checks each committed .so against its manifest and the workspace's inputs.
    Check,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let root = workspace_root();
    match args.command {
        Command::Build { cache, sbpf_linker } => {
            let pipeline = pipeline::Pipeline {
                root,
                cache,
                sbpf_linker,
                pins: Pins::committed(),
            };
            pipeline
                .build(&PROGRAMS)
                .context("building the SBF bytecode")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let mut stale = false;
            for program in PROGRAMS {
                match program.check(&root) {
                    Ok(()) => println!(
                        "{}: sbf/deploy/{} is up to date",
                        program.package, program.file
                    ),
                    Err(error) => {
                        stale = true;
                        println!("{error}");
                    }
                }
            }
            Ok(if stale {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
