//! keygen and address: enough key handling to use Sparks without the Solana CLI.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_signer::Signer;

use crate::context::Context;

pub fn keygen(ctx: &Context, outfile: Option<PathBuf>, force: bool) -> anyhow::Result<Value> {
    let path = outfile.unwrap_or_else(|| ctx.keypair_path().to_path_buf());
    if path.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", path.display());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let keypair = Keypair::new();
    solana_keypair::write_keypair_file(&keypair, &path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(json!({ "pubkey": keypair.pubkey().to_string(), "outfile": path.display().to_string() }))
}

/// The bare public key (text) or a JSON string, like `solana-keygen pubkey`.
pub fn address(ctx: &Context) -> anyhow::Result<Value> {
    Ok(json!(ctx.keypair()?.pubkey().to_string()))
}
