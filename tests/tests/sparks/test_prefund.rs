//! Anyone can send lamports to an address before its account exists. Every
//! account Sparks creates must still be creatable afterwards, or a stranger
//! could lock a wallet (or the whole program) out for the price of a transfer.

use anchor_lang::prelude::Pubkey;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::instructions::IssuerParams;
use sparks::state::{PerkKind, Source};
use sparks_client::{instructions as ix, pda};
use super::TestFixture;
use sparks_tests::DEFAULT_PARAMS;

/// The smallest transfer a fresh address accepts (rent exemption of an empty
/// account, below any Sparks account's rent, so creation must top it up) and
/// a generous one (above rent, so creation must only allocate and assign).
const PREFUNDS: [u64; 2] = [890_880, 1_000_000_000];

/// Asserts `address` is now a live Sparks account holding at least rent.
async fn assert_created(f: &mut TestFixture, address: &Pubkey, prefund: u64) {
    let account = f.raw_account(address).await.expect("account exists");
    assert_eq!(account.owner, sparks::ID);
    let rent = f
        .ctx
        .banks_client
        .get_rent()
        .await
        .unwrap()
        .minimum_balance(account.data.len());
    assert!(account.lamports >= rent.max(prefund), "not rent exempt");
}

#[tokio::test]
async fn a_prefunded_config_address_does_not_block_initialize() {
    for prefund in PREFUNDS {
        let mut f = TestFixture::uninitialized().await;
        f.fund(&pda::config(), prefund).await;
        let admin = f.admin.insecure_clone();
        f.send_ok(
            &[ix::initialize(&admin.pubkey(), DEFAULT_PARAMS)],
            &[&admin],
        )
        .await;
        assert_created(&mut f, &pda::config(), prefund).await;
    }
}

#[tokio::test]
async fn a_prefunded_issuer_address_does_not_block_upsert() {
    for prefund in PREFUNDS {
        let mut f = TestFixture::new().await;
        let authority = Keypair::new().pubkey();
        f.fund(&pda::issuer(&authority), prefund).await;
        let admin = f.admin.insecure_clone();
        let params = IssuerParams {
            allowed_sources: 1,
            cap_per_period: 10,
            period_secs: 3_600,
        };
        f.send_ok(
            &[ix::upsert_issuer(&admin.pubkey(), &authority, params)],
            &[&admin],
        )
        .await;
        assert_created(&mut f, &pda::issuer(&authority), prefund).await;
    }
}

#[tokio::test]
async fn a_prefunded_spark_address_does_not_block_an_award() {
    for prefund in PREFUNDS {
        let mut f = TestFixture::new().await;
        let issuer = f.full_issuer().await;
        let wallet = Keypair::new().pubkey();
        f.fund(&pda::spark(&wallet), prefund).await;
        f.award(&issuer, &wallet, Source::Trading, 10)
            .await
            .unwrap();
        assert_created(&mut f, &pda::spark(&wallet), prefund).await;
        assert_eq!(f.spark(&wallet).await.unwrap().balance, 10);
    }
}

#[tokio::test]
async fn prefunded_spark_addresses_do_not_block_a_batch() {
    for prefund in PREFUNDS {
        let mut f = TestFixture::new().await;
        let issuer = f.full_issuer().await;
        let wallets: Vec<Pubkey> = (0..3).map(|_| Keypair::new().pubkey()).collect();
        let mut rows = Vec::new();
        for wallet in &wallets {
            f.fund(&pda::spark(wallet), prefund).await;
            rows.push(f.batch_row(wallet, Source::Campaign, 5).await);
        }
        f.send_ok(
            &[ix::award_batch(
                &issuer.pubkey(),
                Source::Campaign,
                [0; 32],
                0,
                &rows,
            )],
            &[&issuer],
        )
        .await;
        for wallet in &wallets {
            assert_created(&mut f, &pda::spark(wallet), prefund).await;
        }
    }
}

#[tokio::test]
async fn prefunded_spark_addresses_do_not_block_set_referrer() {
    for prefund in PREFUNDS {
        let mut f = TestFixture::new().await;
        let invitee = f.funded_wallet(1_000_000_000).await;
        let referrer = Keypair::new().pubkey();
        f.fund(&pda::spark(&invitee.pubkey()), prefund).await;
        f.fund(&pda::spark(&referrer), prefund).await;
        f.refer(&invitee, &referrer).await;
        assert_created(&mut f, &pda::spark(&invitee.pubkey()), prefund).await;
        assert_created(&mut f, &pda::spark(&referrer), prefund).await;
    }
}

#[tokio::test]
async fn prefunded_perk_and_claim_addresses_do_not_block_redemption() {
    for prefund in PREFUNDS {
        let mut f = TestFixture::new().await;
        let admin = f.admin.insecure_clone();
        f.fund(&pda::perk(8), prefund).await;
        f.send_ok(
            &[ix::create_perk(
                &admin.pubkey(),
                None,
                super::test_perks::perk_params(8, PerkKind::DiscordRole, 5),
            )],
            &[&admin],
        )
        .await;
        assert_created(&mut f, &pda::perk(8), prefund).await;
        let issuer = f.full_issuer().await;
        let wallet = f.funded_wallet(1_000_000_000).await;
        f.award(&issuer, &wallet.pubkey(), Source::Trading, 5)
            .await
            .unwrap();
        let claim = pda::claim(&pda::perk(8), &wallet.pubkey());
        f.fund(&claim, prefund).await;
        f.send_ok(
            &[ix::redeem_perk(
                &wallet.pubkey(),
                &wallet.pubkey(),
                8,
                None,
                u64::MAX,
            )],
            &[&wallet],
        )
        .await;
        assert_created(&mut f, &claim, prefund).await;
    }
}

#[tokio::test]
async fn prefunded_whitelist_and_entry_addresses_do_not_block_grant_join_or_perk() {
    for prefund in PREFUNDS {
        // Arrange
        let mut f = TestFixture::new().await;
        let admin = f.admin.insecure_clone();
        f.fund(&pda::whitelist(3), prefund).await;
        let terms = super::test_whitelists::terms(&Pubkey::new_unique());
        f.send_ok(
            &[ix::create_whitelist(
                &admin.pubkey(),
                3,
                &admin.pubkey(),
                terms,
            )],
            &[&admin],
        )
        .await;
        assert_created(&mut f, &pda::whitelist(3), prefund).await;
        f.send_ok(
            &[ix::create_perk(
                &admin.pubkey(),
                Some(3),
                super::test_perks::perk_params(4, PerkKind::NftWhitelist, 1),
            )],
            &[&admin],
        )
        .await;
        let issuer = f.full_issuer().await;
        let whitelist = pda::whitelist(3);
        // Act + Assert: an entry by grant, one by join, one by perk.
        let granted = Keypair::new().pubkey();
        f.fund(&pda::whitelist_entry(&whitelist, &granted), prefund)
            .await;
        f.send_ok(
            &[ix::grant_whitelist(&admin.pubkey(), 3, &granted, 1)],
            &[&admin],
        )
        .await;
        assert_created(&mut f, &pda::whitelist_entry(&whitelist, &granted), prefund).await;

        let joiner = f.funded_wallet(1_000_000_000).await;
        f.award(&issuer, &joiner.pubkey(), Source::Trading, 5_000)
            .await
            .unwrap();
        f.fund(&pda::whitelist_entry(&whitelist, &joiner.pubkey()), prefund)
            .await;
        f.send_ok(
            &[ix::join_whitelist(&joiner.pubkey(), &joiner.pubkey(), 3)],
            &[&joiner],
        )
        .await;
        assert_created(
            &mut f,
            &pda::whitelist_entry(&whitelist, &joiner.pubkey()),
            prefund,
        )
        .await;

        let buyer = f.funded_wallet(1_000_000_000).await;
        f.award(&issuer, &buyer.pubkey(), Source::Trading, 5)
            .await
            .unwrap();
        f.fund(&pda::whitelist_entry(&whitelist, &buyer.pubkey()), prefund)
            .await;
        f.send_ok(
            &[ix::redeem_perk(
                &buyer.pubkey(),
                &buyer.pubkey(),
                4,
                Some(3),
                u64::MAX,
            )],
            &[&buyer],
        )
        .await;
        assert_created(
            &mut f,
            &pda::whitelist_entry(&whitelist, &buyer.pubkey()),
            prefund,
        )
        .await;
    }
}
