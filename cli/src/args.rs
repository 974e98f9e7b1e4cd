//! Command-line arguments.

use std::path::PathBuf;

use anchor_lang::prelude::Pubkey;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "sparks", version, about = "Administer and award Sparks")]
pub struct Cli {
    /// RPC URL or shorthand: l/localhost, d/devnet, m/mainnet-beta.
    #[arg(
        short = 'u',
        long,
        global = true,
        env = "SPARKS_URL",
        default_value = "localhost"
    )]
    pub url: String,
    /// Signer keypair file (the admin, the issuer, or the wallet, by command).
    #[arg(short = 'k', long, global = true, env = "SPARKS_KEYPAIR")]
    pub keypair: Option<PathBuf>,
    /// The Sparks program id; this build only talks to the one it was built for.
    #[arg(long, global = true, env = "SPARKS_PROGRAM_ID")]
    pub program_id: Option<Pubkey>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Priority fee: micro-lamports per compute unit on every transaction
    /// (each also sets a compute-unit limit; see `sparks_client::budget`).
    #[arg(long, global = true, env = "SPARKS_PRIORITY_FEE", default_value_t = 0)]
    pub priority_fee: u64,
    /// Where this machine keeps the award ids it handed out, per issuer key
    /// (default: ~/.local/state/sparks).
    #[arg(long, global = true, env = "SPARKS_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a new keypair file (Solana CLI format) and print its public key.
    Keygen {
        /// Where to write it (default: the --keypair path).
        #[arg(long)]
        outfile: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the public key of --keypair.
    Address,
    /// Create the Config; the keypair becomes admin.
    Init(ConfigArgs),
    /// Show or change the Config.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Stop awards, redeems, joins and consumes.
    Pause,
    /// Resume after `pause`.
    Unpause,
    /// Two-step admin hand-over.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage issuer keys.
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// Award Sparks to one wallet (the keypair is the issuer).
    Award(AwardArgs),
    /// Award from a CSV of wallet,source,amount,reference; resumable.
    AwardBatch(AwardBatchArgs),
    /// The keypair's award ids (it is the issuer).
    #[command(subcommand)]
    AwardIds(AwardIdsCommand),
    /// Claw back Sparks (admin).
    Revoke(RevokeArgs),
    /// Referral links.
    #[command(subcommand)]
    Referrer(ReferrerCommand),
    /// Perks.
    #[command(subcommand)]
    Perk(PerkCommand),
    /// NFT whitelists.
    #[command(subcommand)]
    Whitelist(WhitelistCommand),
    /// Spark accounts.
    #[command(subcommand)]
    Account(AccountCommand),
}

#[derive(Args, Debug, Clone, Copy)]
pub struct ConfigArgs {
    /// Share of a trading award paid to the referrer, in basis points.
    #[arg(long, default_value_t = 1_000)]
    pub referral_share_bps: u16,
    /// Sparks paid to the referrer on an invitee's first subscription.
    #[arg(long, default_value_t = 500)]
    pub first_subscription_bonus: u64,
    /// Largest amount one award may carry.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_award: u64,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    Show,
    /// Change settings; unspecified ones keep their value.
    Update {
        #[arg(long)]
        referral_share_bps: Option<u16>,
        #[arg(long)]
        first_subscription_bonus: Option<u64>,
        #[arg(long)]
        max_award: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Name the next admin (`none` cancels).
    Propose { new_admin: String },
    /// Become admin (the keypair must be the proposed one).
    Accept,
}

#[derive(Subcommand, Debug)]
pub enum IssuerCommand {
    /// Register or update an issuer (reactivates it).
    Add {
        authority: Pubkey,
        /// Comma-separated: trading,subscription,campaign,referral (or all).
        #[arg(long, default_value = "all")]
        sources: String,
        /// Most Sparks per period.
        #[arg(long)]
        cap: u64,
        #[arg(long, default_value_t = 86_400)]
        period_secs: u32,
    },
    /// Deactivate an issuer.
    Remove { authority: Pubkey },
    /// List issuers.
    List,
}

#[derive(Args, Debug)]
pub struct AwardArgs {
    pub wallet: Pubkey,
    #[arg(long)]
    pub source: String,
    #[arg(long)]
    pub amount: u64,
    /// Your id for this award (up to 32 bytes kept verbatim, longer is hashed).
    #[arg(long, default_value = "")]
    pub reference: String,
    /// The award id to pay it under (default: the issuer's next one). Run
    /// again with the same id to retry an award whose fate you do not know:
    /// it never pays twice.
    #[arg(long)]
    pub award_id: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum AwardIdsCommand {
    /// The lowest open award id and the next one after the highest used.
    Show,
    /// Give up award ids that never paid (refused if any did).
    Void {
        first: u64,
        #[arg(long, default_value_t = 1)]
        count: u16,
    },
}

#[derive(Args, Debug)]
pub struct AwardBatchArgs {
    /// CSV with a header: wallet,source,amount,reference
    pub csv: PathBuf,
    /// Journal of sent chunks (default: <csv>.journal); makes re-runs resume.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Most rows per transaction; fewer when a legacy transaction holds
    /// fewer (new recipients, referrers).
    #[arg(long, default_value_t = 8)]
    pub chunk: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct RevokeArgs {
    pub wallet: Pubkey,
    #[arg(long)]
    pub amount: u64,
    /// Your code for why (kept in the event).
    #[arg(long, default_value_t = 0)]
    pub reason: u16,
}

#[derive(Subcommand, Debug)]
pub enum ReferrerCommand {
    /// The keypair (invitee) names its referrer.
    Set { referrer: Pubkey },
}

#[derive(Args, Debug, Clone)]
pub struct PerkTerms {
    #[arg(long)]
    pub cost: u64,
    /// 0 = unlimited.
    #[arg(long, default_value_t = 0)]
    pub max_supply: u64,
    /// 0 = unlimited.
    #[arg(long, default_value_t = 0)]
    pub per_wallet_limit: u32,
    /// Unix seconds (default: no start limit; the chain's clock, not this
    /// machine's, decides when a window is open).
    #[arg(long)]
    pub starts_at: Option<i64>,
    /// Unix seconds (default: never).
    #[arg(long)]
    pub ends_at: Option<i64>,
    #[arg(long, default_value = "")]
    pub uri: String,
}

#[derive(Subcommand, Debug)]
pub enum PerkCommand {
    Create {
        #[arg(long)]
        id: u64,
        /// discord-role, nft-whitelist, traffic-boost, event-ticket, plan-upgrade, custom
        #[arg(long)]
        kind: String,
        /// The whitelist id, for nft-whitelist perks.
        #[arg(long)]
        whitelist: Option<u64>,
        #[command(flatten)]
        terms: PerkTerms,
    },
    Update {
        #[arg(long)]
        id: u64,
        #[command(flatten)]
        terms: PerkTerms,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        active: bool,
    },
    List,
    /// The keypair spends Sparks on a perk, at most its current cost.
    Redeem {
        id: u64,
        /// The most you agree to pay (default: the cost the perk has now).
        #[arg(long)]
        max_cost: Option<u64>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct WhitelistTermsArgs {
    /// The mint program's consumer PDA (or any signer key).
    #[arg(long)]
    pub consumer: Pubkey,
    #[arg(long)]
    pub capacity: u32,
    #[arg(long, default_value_t = 1)]
    pub spots_per_wallet: u16,
    /// Sparks earned (net of revocations) needed to join; 0 disables joining.
    #[arg(long, default_value_t = 0)]
    pub min_lifetime_sparks: u64,
    #[arg(long)]
    pub starts_at: Option<i64>,
    #[arg(long)]
    pub ends_at: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum WhitelistCommand {
    Create {
        #[arg(long)]
        id: u64,
        #[command(flatten)]
        terms: WhitelistTermsArgs,
        /// Who manages the whitelist (default: the keypair). Another key is
        /// only proposed: it takes over with `whitelist accept-admin`.
        #[arg(long)]
        admin: Option<Pubkey>,
    },
    Update {
        #[arg(long)]
        id: u64,
        #[command(flatten)]
        terms: WhitelistTermsArgs,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        active: bool,
    },
    /// Name the whitelist's next admin, or `none` to withdraw (whitelist admin).
    ProposeAdmin {
        id: u64,
        /// The next admin's public key, or `none`.
        new_admin: String,
    },
    /// Take a whitelist over (the proposed admin).
    AcceptAdmin { id: u64 },
    /// Grant spots (whitelist admin).
    Grant {
        id: u64,
        wallet: Pubkey,
        #[arg(long, default_value_t = 1)]
        spots: u16,
    },
    /// The keypair joins on the Sparks it earned (net of revocations).
    Join { id: u64 },
    /// A whitelist, or one wallet's entry in it.
    Show {
        id: u64,
        #[arg(long)]
        wallet: Option<Pubkey>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountCommand {
    /// Balance, sources and history of a wallet, from the chain.
    Show {
        wallet: Pubkey,
        /// Most transactions of history to read.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// A public key, or `none`.
pub fn parse_optional_pubkey(value: &str) -> Result<Option<Pubkey>, String> {
    if value == "none" {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|e| format!("not a base58 public key or `none`: {e}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
