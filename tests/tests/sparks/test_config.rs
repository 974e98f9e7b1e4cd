//! initialize, update_config, pause/unpause, propose_admin/accept_admin.

use anchor_lang::error::ErrorCode as AnchorError;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::instructions::ConfigParams;
use sparks::state::Source;
use sparks_client::events::SparksEvent;
use sparks_client::{instructions as ix, pda};
use sparks_tests::anchor_codes::err;
use super::TestFixture;
use sparks_tests::{anchor_data, swap_account, unsigned, DEFAULT_PARAMS};

const NEW_PARAMS: ConfigParams = ConfigParams {
    referral_trade_share_bps: 2_500,
    first_subscription_bonus: 42,
    max_award_per_ix: 7_000,
};

#[tokio::test]
async fn initialize_makes_signer_admin_and_emits_config() {
    // Arrange
    let mut f = TestFixture::uninitialized().await;
    let admin = f.admin.insecure_clone();
    // Act
    let events = f
        .send_ok(
            &[ix::initialize(&admin.pubkey(), DEFAULT_PARAMS)],
            &[&admin],
        )
        .await;
    // Assert
    let config = f.config().await;
    assert_eq!(config.admin, admin.pubkey());
    assert_eq!(config.pending_admin, None);
    assert!(!config.paused);
    assert_eq!(
        config.referral_trade_share_bps,
        DEFAULT_PARAMS.referral_trade_share_bps
    );
    assert_eq!(
        config.first_subscription_bonus,
        DEFAULT_PARAMS.first_subscription_bonus
    );
    assert_eq!(config.max_award_per_ix, DEFAULT_PARAMS.max_award_per_ix);
    assert_eq!(config.seq, 1);
    assert_eq!(
        events,
        vec![SparksEvent::ConfigInitialized(
            sparks::events::ConfigInitialized { config }
        )]
    );
}

#[tokio::test]
async fn only_the_upgrade_authority_initializes_an_upgradeable_deployment() {
    // Arrange: the program as the upgradeable loader deploys it, with a
    // ProgramData naming its upgrade authority.
    let mut f = TestFixture::uninitialized().await;
    let authority = f.funded_wallet(1_000_000_000).await;
    f.set_program_data(Some(authority.pubkey()));
    let stranger = f.funded_wallet(1_000_000_000).await;
    // Act + Assert: a stranger who watched the deployment is refused...
    f.assert_rejected(
        &[ix::initialize(&stranger.pubkey(), DEFAULT_PARAMS)],
        &[&stranger],
        SparksError::NotUpgradeAuthority,
    )
    .await;
    // ...and the upgrade authority becomes admin.
    f.send_ok(
        &[ix::initialize(&authority.pubkey(), DEFAULT_PARAMS)],
        &[&authority],
    )
    .await;
    assert_eq!(f.config().await.admin, authority.pubkey());
}

#[tokio::test]
async fn an_immutable_deployment_cannot_be_initialized_late() {
    // Made immutable (no upgrade authority) before initialize: nobody can,
    // so nobody can take the admin role.
    let mut f = TestFixture::uninitialized().await;
    f.set_program_data(None);
    let admin = f.admin.insecure_clone();
    f.assert_rejected(
        &[ix::initialize(&admin.pubkey(), DEFAULT_PARAMS)],
        &[&admin],
        SparksError::NotUpgradeAuthority,
    )
    .await;
}

#[tokio::test]
async fn initialize_with_a_forged_program_data_address_is_refused() {
    let mut f = TestFixture::uninitialized().await;
    let admin = f.admin.insecure_clone();
    let forged = swap_account(
        ix::initialize(&admin.pubkey(), DEFAULT_PARAMS),
        &pda::program_data(),
        &Keypair::new().pubkey(),
    );
    f.assert_rejected_with(&[forged], &[&admin], err(AnchorError::ConstraintSeeds))
        .await;
}

#[tokio::test]
async fn initialize_twice_is_refused() {
    let mut f = TestFixture::new().await;
    let stranger = f.funded_wallet(1_000_000_000).await;
    f.assert_rejected(
        &[ix::initialize(&stranger.pubkey(), DEFAULT_PARAMS)],
        &[&stranger],
        SparksError::AccountAlreadyInitialized,
    )
    .await;
}

#[tokio::test]
async fn initialize_with_share_above_100_percent_is_refused() {
    let mut f = TestFixture::uninitialized().await;
    let admin = f.admin.insecure_clone();
    let params = ConfigParams {
        referral_trade_share_bps: 10_001,
        ..DEFAULT_PARAMS
    };
    f.assert_rejected(
        &[ix::initialize(&admin.pubkey(), params)],
        &[&admin],
        SparksError::InvalidBps,
    )
    .await;
}

#[tokio::test]
async fn initialize_with_zero_award_cap_is_refused() {
    let mut f = TestFixture::uninitialized().await;
    let admin = f.admin.insecure_clone();
    let params = ConfigParams {
        max_award_per_ix: 0,
        ..DEFAULT_PARAMS
    };
    f.assert_rejected(
        &[ix::initialize(&admin.pubkey(), params)],
        &[&admin],
        SparksError::ZeroValue,
    )
    .await;
}

#[tokio::test]
async fn update_config_changes_settings_and_emits_them() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let events = f
        .send_ok(&[ix::update_config(&admin.pubkey(), NEW_PARAMS)], &[&admin])
        .await;
    let config = f.config().await;
    assert_eq!(config.referral_trade_share_bps, 2_500);
    assert_eq!(config.first_subscription_bonus, 42);
    assert_eq!(config.max_award_per_ix, 7_000);
    assert_eq!(config.seq, 2);
    assert_eq!(
        events,
        vec![SparksEvent::ConfigUpdated(sparks::events::ConfigUpdated {
            config
        })]
    );
}

#[tokio::test]
async fn update_config_by_a_stranger_is_refused() {
    let mut f = TestFixture::new().await;
    let stranger = Keypair::new();
    f.assert_rejected(
        &[ix::update_config(&stranger.pubkey(), NEW_PARAMS)],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn update_config_without_the_admin_signature_is_refused() {
    let mut f = TestFixture::new().await;
    let admin = f.admin_key();
    let instruction = unsigned(ix::update_config(&admin, NEW_PARAMS), &admin);
    f.assert_rejected_with(&[instruction], &[], err(AnchorError::AccountNotSigner))
        .await;
}

#[tokio::test]
async fn update_config_with_invalid_values_is_refused() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let bad_bps = ConfigParams {
        referral_trade_share_bps: u16::MAX,
        ..NEW_PARAMS
    };
    f.assert_rejected(
        &[ix::update_config(&admin.pubkey(), bad_bps)],
        &[&admin],
        SparksError::InvalidBps,
    )
    .await;
    let zero_cap = ConfigParams {
        max_award_per_ix: 0,
        ..NEW_PARAMS
    };
    f.assert_rejected(
        &[ix::update_config(&admin.pubkey(), zero_cap)],
        &[&admin],
        SparksError::ZeroValue,
    )
    .await;
}

#[tokio::test]
async fn a_config_owned_by_another_program_is_refused() {
    // Arrange: a forged config at the real address, owned by the attacker's program.
    let mut f = TestFixture::new().await;
    let attacker = f.funded_wallet(1_000_000_000).await;
    let mut forged = f.raw_account(&pda::config()).await.unwrap();
    let mut config = f.config().await;
    config.admin = attacker.pubkey();
    forged.data = anchor_data(&config);
    forged.owner = anchor_lang::solana_program::pubkey::Pubkey::new_unique();
    f.set_account(&pda::config(), forged);
    // Act + Assert
    f.assert_rejected_with(
        &[ix::update_config(&attacker.pubkey(), NEW_PARAMS)],
        &[&attacker],
        err(AnchorError::AccountOwnedByWrongProgram),
    )
    .await;
}

#[tokio::test]
async fn a_config_at_the_wrong_address_is_refused() {
    // Arrange: a genuine-looking, program-owned config at a non-PDA address.
    let mut f = TestFixture::new().await;
    let attacker = f.funded_wallet(1_000_000_000).await;
    let mut forged = f.raw_account(&pda::config()).await.unwrap();
    let mut config = f.config().await;
    config.admin = attacker.pubkey();
    forged.data = anchor_data(&config);
    let fake_address = anchor_lang::solana_program::pubkey::Pubkey::new_unique();
    f.set_account(&fake_address, forged);
    let instruction = swap_account(
        ix::update_config(&attacker.pubkey(), NEW_PARAMS),
        &pda::config(),
        &fake_address,
    );
    // Act + Assert
    f.assert_rejected_with(
        &[instruction],
        &[&attacker],
        err(AnchorError::ConstraintSeeds),
    )
    .await;
}

#[tokio::test]
async fn pause_then_unpause_flips_the_flag_and_emits_it() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let events = f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    let config = f.config().await;
    assert!(config.paused);
    assert_eq!(
        events,
        vec![SparksEvent::PauseChanged(sparks::events::PauseChanged {
            config
        })]
    );

    let events = f.send_ok(&[ix::unpause(&admin.pubkey())], &[&admin]).await;
    let config = f.config().await;
    assert!(!config.paused);
    assert_eq!(config.seq, 3);
    assert_eq!(
        events,
        vec![SparksEvent::PauseChanged(sparks::events::PauseChanged {
            config
        })]
    );
}

#[tokio::test]
async fn pause_by_a_stranger_is_refused() {
    let mut f = TestFixture::new().await;
    let stranger = Keypair::new();
    f.assert_rejected(
        &[ix::pause(&stranger.pubkey())],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    f.assert_rejected(
        &[ix::unpause(&stranger.pubkey())],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn while_paused_admin_work_goes_on_and_awards_stop() {
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    f.send_ok(&[ix::update_config(&admin.pubkey(), NEW_PARAMS)], &[&admin])
        .await;
    let wallet = Keypair::new().pubkey();
    let award = ix::award(
        &issuer.pubkey(),
        &wallet,
        None,
        sparks::instructions::AwardArgs {
            source: Source::Trading,
            amount: 5,
            reference: [0; 32],
            award_id: 0,
        },
    );
    f.assert_rejected(&[award], &[&issuer], SparksError::Paused)
        .await;
}

#[tokio::test]
async fn admin_hand_over_takes_two_steps() {
    // Arrange
    let mut f = TestFixture::new().await;
    let old = f.admin.insecure_clone();
    let new = f.funded_wallet(1_000_000_000).await;
    // Act: propose, then accept.
    let proposed = f
        .send_ok(
            &[ix::propose_admin(&old.pubkey(), Some(new.pubkey()))],
            &[&old],
        )
        .await;
    let config = f.config().await;
    assert_eq!(
        config.admin,
        old.pubkey(),
        "proposing alone changes nothing"
    );
    assert_eq!(config.pending_admin, Some(new.pubkey()));
    assert_eq!(
        proposed,
        vec![SparksEvent::AdminProposed(sparks::events::AdminProposed {
            config
        })]
    );
    let accepted = f.send_ok(&[ix::accept_admin(&new.pubkey())], &[&new]).await;
    // Assert
    let config = f.config().await;
    assert_eq!(config.admin, new.pubkey());
    assert_eq!(config.pending_admin, None);
    assert_eq!(
        accepted,
        vec![SparksEvent::AdminAccepted(sparks::events::AdminAccepted {
            previous_admin: old.pubkey(),
            config
        })]
    );
    f.assert_rejected(
        &[ix::pause(&old.pubkey())],
        &[&old],
        SparksError::Unauthorized,
    )
    .await;
    f.send_ok(&[ix::pause(&new.pubkey())], &[&new]).await;
}

#[tokio::test]
async fn accept_admin_by_the_wrong_key_is_refused() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let intruder = Keypair::new();
    f.assert_rejected(
        &[ix::accept_admin(&intruder.pubkey())],
        &[&intruder],
        SparksError::NotPendingAdmin,
    )
    .await;
    let chosen = Keypair::new();
    f.send_ok(
        &[ix::propose_admin(&admin.pubkey(), Some(chosen.pubkey()))],
        &[&admin],
    )
    .await;
    f.assert_rejected(
        &[ix::accept_admin(&intruder.pubkey())],
        &[&intruder],
        SparksError::NotPendingAdmin,
    )
    .await;
}

#[tokio::test]
async fn propose_admin_by_a_stranger_is_refused() {
    let mut f = TestFixture::new().await;
    let stranger = Keypair::new();
    f.assert_rejected(
        &[ix::propose_admin(
            &stranger.pubkey(),
            Some(stranger.pubkey()),
        )],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn proposing_none_cancels_a_hand_over() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let chosen = Keypair::new();
    f.send_ok(
        &[ix::propose_admin(&admin.pubkey(), Some(chosen.pubkey()))],
        &[&admin],
    )
    .await;
    f.send_ok(&[ix::propose_admin(&admin.pubkey(), None)], &[&admin])
        .await;
    f.assert_rejected(
        &[ix::accept_admin(&chosen.pubkey())],
        &[&chosen],
        SparksError::NotPendingAdmin,
    )
    .await;
}
