//! Every quantity the program stores is at most 2^63 - 1 (`MAX_QUANTITY`),
//! so each fits the signed 64-bit columns it is mirrored into: the largest
//! is accepted, one more is refused with `QuantityTooLarge` and changes
//! nothing.

use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::constants::MAX_QUANTITY;
use sparks::error::SparksError;
use sparks::instructions::{ConfigParams, IssuerParams, UpdatePerkParams};
use sparks::state::{PerkKind, Source};
use sparks_client::instructions as ix;
use super::TestFixture;
use sparks_tests::DEFAULT_PARAMS;

use super::test_perks::perk_params;
use super::test_whitelists::terms;

const TOO_LARGE: u64 = MAX_QUANTITY + 1;

#[test]
fn the_largest_quantity_is_the_largest_signed_64_bit_integer() {
    assert_eq!(MAX_QUANTITY, i64::MAX as u64);
}

#[tokio::test]
async fn config_settings_take_the_largest_quantity_and_refuse_one_more() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    for (largest, too_large) in [
        (
            ConfigParams {
                first_subscription_bonus: MAX_QUANTITY,
                ..DEFAULT_PARAMS
            },
            ConfigParams {
                first_subscription_bonus: TOO_LARGE,
                ..DEFAULT_PARAMS
            },
        ),
        (
            ConfigParams {
                max_award_per_ix: MAX_QUANTITY,
                ..DEFAULT_PARAMS
            },
            ConfigParams {
                max_award_per_ix: TOO_LARGE,
                ..DEFAULT_PARAMS
            },
        ),
    ] {
        f.assert_rejected(
            &[ix::update_config(&admin.pubkey(), too_large)],
            &[&admin],
            SparksError::QuantityTooLarge,
        )
        .await;
        f.send_ok(&[ix::update_config(&admin.pubkey(), largest)], &[&admin])
            .await;
    }
}

#[tokio::test]
async fn an_issuer_cap_takes_the_largest_quantity_and_refuses_one_more() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let issuer = Keypair::new().pubkey();
    let params = |cap_per_period| IssuerParams {
        allowed_sources: Source::ALL_BITS,
        cap_per_period,
        period_secs: 86_400,
    };
    f.assert_rejected(
        &[ix::upsert_issuer(
            &admin.pubkey(),
            &issuer,
            params(TOO_LARGE),
        )],
        &[&admin],
        SparksError::QuantityTooLarge,
    )
    .await;
    f.send_ok(
        &[ix::upsert_issuer(
            &admin.pubkey(),
            &issuer,
            params(MAX_QUANTITY),
        )],
        &[&admin],
    )
    .await;
}

#[tokio::test]
async fn perk_ids_costs_and_supplies_take_the_largest_quantity_and_refuse_one_more() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let largest = |id| {
        let mut p = perk_params(id, PerkKind::DiscordRole, MAX_QUANTITY);
        p.max_supply = MAX_QUANTITY;
        p
    };
    let mut refused = vec![perk_params(TOO_LARGE, PerkKind::DiscordRole, 1)];
    refused.push(perk_params(5, PerkKind::DiscordRole, TOO_LARGE));
    let mut supply = perk_params(5, PerkKind::DiscordRole, 1);
    supply.max_supply = TOO_LARGE;
    refused.push(supply);
    for params in refused {
        f.assert_rejected(
            &[ix::create_perk(&admin.pubkey(), None, params)],
            &[&admin],
            SparksError::QuantityTooLarge,
        )
        .await;
    }
    for id in [MAX_QUANTITY, 5] {
        f.send_ok(
            &[ix::create_perk(&admin.pubkey(), None, largest(id))],
            &[&admin],
        )
        .await;
    }
    // Updates hold to the same bound.
    let update = |cost, max_supply| UpdatePerkParams {
        cost,
        max_supply,
        per_wallet_limit: 0,
        starts_at: largest(5).starts_at,
        ends_at: largest(5).ends_at,
        active: true,
        uri: largest(5).uri,
    };
    for (cost, supply) in [(TOO_LARGE, 1), (1, TOO_LARGE)] {
        f.assert_rejected(
            &[ix::update_perk(&admin.pubkey(), 5, update(cost, supply))],
            &[&admin],
            SparksError::QuantityTooLarge,
        )
        .await;
    }
    f.send_ok(
        &[ix::update_perk(
            &admin.pubkey(),
            5,
            update(MAX_QUANTITY, MAX_QUANTITY),
        )],
        &[&admin],
    )
    .await;
}

#[tokio::test]
async fn whitelist_ids_and_thresholds_take_the_largest_quantity_and_refuse_one_more() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let consumer = Keypair::new().pubkey();
    let threshold = |min_lifetime_sparks| sparks::instructions::WhitelistTerms {
        min_lifetime_sparks,
        ..terms(&consumer)
    };
    for (id, terms) in [(TOO_LARGE, threshold(1)), (9, threshold(TOO_LARGE))] {
        f.assert_rejected(
            &[ix::create_whitelist(
                &admin.pubkey(),
                id,
                &admin.pubkey(),
                terms,
            )],
            &[&admin],
            SparksError::QuantityTooLarge,
        )
        .await;
    }
    for id in [MAX_QUANTITY, 9] {
        f.send_ok(
            &[ix::create_whitelist(
                &admin.pubkey(),
                id,
                &admin.pubkey(),
                threshold(MAX_QUANTITY),
            )],
            &[&admin],
        )
        .await;
    }
    f.assert_rejected(
        &[ix::update_whitelist(
            &admin.pubkey(),
            9,
            threshold(TOO_LARGE),
            true,
        )],
        &[&admin],
        SparksError::QuantityTooLarge,
    )
    .await;
    f.send_ok(
        &[ix::update_whitelist(
            &admin.pubkey(),
            9,
            threshold(MAX_QUANTITY),
            true,
        )],
        &[&admin],
    )
    .await;
}
