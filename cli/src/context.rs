//! What every command needs: the RPC endpoint, the signer, the output format.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use solana_keypair::Keypair;
use sparks_client::rpc::SparksRpc;

use crate::args::{Cli, OutputFormat};

pub struct Context {
    pub rpc: SparksRpc,
    pub output: OutputFormat,
    /// Micro-lamports per compute unit, on every transaction sent.
    pub priority_fee: u64,
    /// The award-id allocator's directory (`crate::award_ids`).
    pub state_dir: PathBuf,
    keypair_path: PathBuf,
}

impl Context {
    pub fn new(cli: &Cli) -> anyhow::Result<Self> {
        if let Some(program_id) = cli.program_id {
            if program_id != sparks::ID {
                bail!(
                    "this build of sparks talks to program {}, not {program_id}",
                    sparks::ID
                );
            }
        }
        let keypair_path = match &cli.keypair {
            Some(path) => path.clone(),
            None => dirs::home_dir()
                .context("no home directory for the default keypair; pass --keypair")?
                .join(".config/solana/id.json"),
        };
        Ok(Self {
            rpc: SparksRpc::new(resolve_url(&cli.url)?).with_priority_fee(cli.priority_fee),
            output: cli.output,
            priority_fee: cli.priority_fee,
            state_dir: cli
                .state_dir
                .clone()
                .unwrap_or_else(crate::award_ids::default_dir),
            keypair_path,
        })
    }

    pub fn keypair_path(&self) -> &std::path::Path {
        &self.keypair_path
    }

    /// Reserves `count` award ids of `issuer` through this machine's
    /// allocator, never below the chain's next id.
    pub async fn reserve_award_ids(
        &self,
        issuer: &anchor_lang::prelude::Pubkey,
        count: u64,
    ) -> anyhow::Result<u64> {
        let chain_next = self
            .rpc
            .issuer(issuer)
            .await?
            .with_context(|| format!("{issuer} is not a registered issuer"))?
            .next_award_id();
        crate::award_ids::reserve(&self.state_dir, issuer, count, chain_next)
    }

    /// The signer; read only by commands that sign.
    pub fn keypair(&self) -> anyhow::Result<Keypair> {
        solana_keypair::read_keypair_file(&self.keypair_path).map_err(|e| {
            anyhow::anyhow!("cannot read keypair {}: {e}", self.keypair_path.display())
        })
    }
}

/// Solana CLI shorthands, or a URL as given.
pub fn resolve_url(url: &str) -> anyhow::Result<String> {
    Ok(match url {
        "l" | "localhost" => "http://127.0.0.1:8899".into(),
        "d" | "devnet" => "https://api.devnet.solana.com".into(),
        "m" | "mainnet-beta" | "mainnet" => "https://api.mainnet-beta.solana.com".into(),
        "t" | "testnet" => "https://api.testnet.solana.com".into(),
        url if url.starts_with("http://") || url.starts_with("https://") => url.into(),
        other => bail!("--url must be a URL or one of l, d, m, t; got {other:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::resolve_url;

    #[test]
    fn shorthands_resolve_like_the_solana_cli() {
        assert_eq!(resolve_url("l").unwrap(), "http://127.0.0.1:8899");
        assert_eq!(
            resolve_url("devnet").unwrap(),
            "https://api.devnet.solana.com"
        );
        assert_eq!(resolve_url("http://x:1").unwrap(), "http://x:1");
        assert!(resolve_url("ftp://x").is_err());
    }
}
