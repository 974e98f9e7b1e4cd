//! Account sizes and the rent each costs, from the bank's own Rent sysvar.
//! `cargo test -p sparks-tests --test sparks sizes -- --nocapture` prints the table.

use anchor_lang::Space;
use sparks::state::*;
use super::TestFixture;

#[tokio::test]
async fn account_sizes_and_rent() {
    let f = TestFixture::uninitialized().await;
    let rent = f.ctx.banks_client.get_rent().await.unwrap();
    let rows = [
        ("Config", 8 + Config::INIT_SPACE, "once"),
        (
            "Issuer",
            8 + Issuer::INIT_SPACE,
            "per issuer key (admin pays)",
        ),
        (
            "SparkAccount",
            8 + SparkAccount::INIT_SPACE,
            "per wallet (issuer or sponsor pays)",
        ),
        ("Perk", 8 + Perk::INIT_SPACE, "per perk (admin pays)"),
        (
            "PerkClaim",
            8 + PerkClaim::INIT_SPACE,
            "per wallet and perk (redeemer's payer)",
        ),
        (
            "Whitelist",
            8 + Whitelist::INIT_SPACE,
            "per whitelist (admin pays)",
        ),
        (
            "WhitelistEntry",
            8 + WhitelistEntry::INIT_SPACE,
            "per wallet and whitelist",
        ),
    ];
    println!("| account | bytes | rent (lamports) | rent (SOL) | created |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for (name, size, who) in rows {
        let lamports = rent.minimum_balance(size);
        println!(
            "| {name} | {size} | {lamports} | {:.6} | {who} |",
            lamports as f64 / 1e9
        );
        assert!(size <= 10_240, "{name} must fit a single CPI allocation");
    }
}
