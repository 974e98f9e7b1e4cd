//! create_whitelist, update_whitelist, grant_whitelist, join_whitelist,
//! consume_whitelist_spot, and the example mint program on top of them.

use anchor_lang::prelude::Pubkey;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_program_pack::Pack;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::events::{
    WhitelistCreated, WhitelistSpotConsumed, WhitelistSpotGranted, WhitelistUpdated,
};
use sparks::instructions::WhitelistTerms;
use sparks::state::{GrantVia, Source, Whitelist, WhitelistEntry};
use sparks_client::events::SparksEvent;
use sparks_client::{instructions as ix, pda};
use super::TestFixture;
use sparks_tests::START_TIME;

pub const SPOTS_PER_WALLET: u16 = 2;
const CAPACITY: u32 = 5;
const JOIN_THRESHOLD: u64 = 1_000;
const ID: u64 = 77;

pub fn terms(consumer: &Pubkey) -> WhitelistTerms {
    WhitelistTerms {
        consumer: *consumer,
        capacity: CAPACITY,
        spots_per_wallet: SPOTS_PER_WALLET,
        min_lifetime_sparks: JOIN_THRESHOLD,
        starts_at: START_TIME,
        ends_at: START_TIME + 3_600,
    }
}

/// A fixture with whitelist [`ID`] administered by the Config admin.
async fn with_whitelist(consumer: &Pubkey) -> TestFixture {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(
        &[ix::create_whitelist(
            &admin.pubkey(),
            ID,
            &admin.pubkey(),
            terms(consumer),
        )],
        &[&admin],
    )
    .await;
    f
}

fn grant(
    f: &TestFixture,
    wallet: &Pubkey,
    spots: u16,
) -> anchor_lang::solana_program::instruction::Instruction {
    ix::grant_whitelist(&f.admin_key(), ID, wallet, spots)
}

/// A fixture with whitelist [`ID`] created by the Config admin and named
/// for a funded team key, which has not accepted it yet: (fixture, admin,
/// team, consumer).
async fn named_for_a_team() -> (TestFixture, Keypair, Keypair, Pubkey) {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let team = f.funded_wallet(1_000_000_000).await;
    let consumer = Pubkey::new_unique();
    f.send_ok(
        &[ix::create_whitelist(
            &admin.pubkey(),
            ID,
            &team.pubkey(),
            terms(&consumer),
        )],
        &[&admin],
    )
    .await;
    (f, admin, team, consumer)
}

async fn entry(f: &mut TestFixture, wallet: &Pubkey) -> Option<WhitelistEntry> {
    f.account(&pda::whitelist_entry(&pda::whitelist(ID), wallet))
        .await
}

async fn whitelist(f: &mut TestFixture) -> Whitelist {
    f.account(&pda::whitelist(ID)).await.unwrap()
}

#[tokio::test]
async fn create_whitelist_stores_it_and_emits_it() {
    let consumer = Pubkey::new_unique();
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let events = f
        .send_ok(
            &[ix::create_whitelist(
                &admin.pubkey(),
                ID,
                &admin.pubkey(),
                terms(&consumer),
            )],
            &[&admin],
        )
        .await;
    let state = whitelist(&mut f).await;
    assert_eq!(
        (state.id, state.admin, state.consumer, state.capacity),
        (ID, admin.pubkey(), consumer, CAPACITY)
    );
    assert_eq!(
        (
            state.entries,
            state.spots_granted,
            state.spots_used,
            state.seq
        ),
        (0, 0, 0, 1)
    );
    assert!(state.active);
    assert_eq!(
        events,
        vec![SparksEvent::WhitelistCreated(WhitelistCreated {
            whitelist: state
        })]
    );
}

#[tokio::test]
async fn create_whitelist_by_a_stranger_or_with_bad_terms_is_refused() {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    let stranger = f.funded_wallet(1_000_000_000).await;
    let good = terms(&Pubkey::new_unique());
    f.assert_rejected(
        &[ix::create_whitelist(
            &stranger.pubkey(),
            ID,
            &stranger.pubkey(),
            good,
        )],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
    for (bad, expected) in [
        (
            WhitelistTerms {
                capacity: 0,
                ..good
            },
            SparksError::ZeroValue,
        ),
        (
            WhitelistTerms {
                spots_per_wallet: 0,
                ..good
            },
            SparksError::ZeroValue,
        ),
        (
            WhitelistTerms {
                ends_at: good.starts_at,
                ..good
            },
            SparksError::InvalidWindow,
        ),
    ] {
        f.assert_rejected(
            &[ix::create_whitelist(
                &admin.pubkey(),
                ID,
                &admin.pubkey(),
                bad,
            )],
            &[&admin],
            expected,
        )
        .await;
    }
}

#[tokio::test]
async fn a_whitelist_named_for_another_admin_is_the_creators_until_it_accepts() {
    // Naming another key at creation is a hand-over like any other: the
    // named key holds nothing until it signs (a mistyped key never does).
    let (mut f, admin, team, consumer) = named_for_a_team().await;
    let created = whitelist(&mut f).await;
    assert_eq!(
        (created.admin, created.pending_admin),
        (admin.pubkey(), Some(team.pubkey()))
    );
    f.assert_rejected(
        &[ix::update_whitelist(&team.pubkey(), ID, terms(&consumer), true)],
        &[&team],
        SparksError::Unauthorized,
    )
    .await;
    f.send_ok(&[ix::accept_whitelist_admin(&team.pubkey(), ID)], &[&team])
        .await;
    let accepted = whitelist(&mut f).await;
    assert_eq!((accepted.admin, accepted.pending_admin), (team.pubkey(), None));
}

#[tokio::test]
async fn the_whitelist_admin_updates_terms() {
    // Arrange: the whitelist is handed to a project team's key.
    let (mut f, admin, team, consumer) = named_for_a_team().await;
    f.send_ok(&[ix::accept_whitelist_admin(&team.pubkey(), ID)], &[&team])
        .await;
    // Act
    let new_terms = WhitelistTerms {
        capacity: 50,
        ..terms(&consumer)
    };
    let events = f
        .send_ok(
            &[ix::update_whitelist(&team.pubkey(), ID, new_terms, false)],
            &[&team],
        )
        .await;
    // Assert
    let state = whitelist(&mut f).await;
    // Created (1), accepted by the team (2), updated (3).
    assert_eq!((state.capacity, state.active, state.seq), (50, false, 3));
    assert_eq!(
        events,
        vec![SparksEvent::WhitelistUpdated(WhitelistUpdated {
            whitelist: state
        })]
    );
    f.assert_rejected(
        &[ix::update_whitelist(&admin.pubkey(), ID, new_terms, true)],
        &[&admin],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn capacity_cannot_drop_below_granted_spots() {
    let consumer = Pubkey::new_unique();
    let mut f = with_whitelist(&consumer).await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[grant(&f, &Pubkey::new_unique(), 2)], &[&admin])
        .await;
    f.send_ok(&[grant(&f, &Pubkey::new_unique(), 1)], &[&admin])
        .await;
    let cut = WhitelistTerms {
        capacity: 2,
        ..terms(&consumer)
    };
    f.assert_rejected(
        &[ix::update_whitelist(&admin.pubkey(), ID, cut, true)],
        &[&admin],
        SparksError::LimitBelowUsage,
    )
    .await;
}

#[tokio::test]
async fn grant_creates_an_entry_and_emits_both_states() {
    let mut f = with_whitelist(&Pubkey::new_unique()).await;
    let admin = f.admin.insecure_clone();
    let wallet = Pubkey::new_unique();
    let events = f.send_ok(&[grant(&f, &wallet, 2)], &[&admin]).await;
    let entry = entry(&mut f, &wallet).await.unwrap();
    assert_eq!(
        (
            entry.wallet,
            entry.spots_granted,
            entry.spots_used,
            entry.obtained_via,
            entry.seq
        ),
        (wallet, 2, 0, GrantVia::Admin.bit(), 1)
    );
    let state = whitelist(&mut f).await;
    assert_eq!((state.entries, state.spots_granted, state.seq), (1, 2, 2));
    assert_eq!(
        events,
        vec![SparksEvent::WhitelistSpotGranted(WhitelistSpotGranted {
            via: GrantVia::Admin,
            spots: 2,
            whitelist: state,
            entry
        })]
    );
}

#[tokio::test]
async fn grant_respects_wallet_limit_capacity_window_and_activity() {
    let consumer = Pubkey::new_unique();
    let mut f = with_whitelist(&consumer).await;
    let admin = f.admin.insecure_clone();
    let wallet = Pubkey::new_unique();
    f.send_ok(&[grant(&f, &wallet, 2)], &[&admin]).await;
    f.assert_rejected(
        &[grant(&f, &wallet, 1)],
        &[&admin],
        SparksError::WalletSpotLimitReached,
    )
    .await;
    f.send_ok(&[grant(&f, &Pubkey::new_unique(), 2)], &[&admin])
        .await;
    f.assert_rejected(
        &[grant(&f, &Pubkey::new_unique(), 2)],
        &[&admin],
        SparksError::WhitelistFull,
    )
    .await;
    f.assert_rejected(
        &[grant(&f, &Pubkey::new_unique(), 0)],
        &[&admin],
        SparksError::ZeroValue,
    )
    .await;
    let stranger = f.funded_wallet(1_000_000_000).await;
    f.assert_rejected(
        &[ix::grant_whitelist(
            &stranger.pubkey(),
            ID,
            &Pubkey::new_unique(),
            1,
        )],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
    f.send_ok(
        &[ix::update_whitelist(
            &admin.pubkey(),
            ID,
            terms(&consumer),
            false,
        )],
        &[&admin],
    )
    .await;
    f.assert_rejected(
        &[grant(&f, &Pubkey::new_unique(), 1)],
        &[&admin],
        SparksError::WhitelistInactive,
    )
    .await;
    f.send_ok(
        &[ix::update_whitelist(
            &admin.pubkey(),
            ID,
            terms(&consumer),
            true,
        )],
        &[&admin],
    )
    .await;
    f.set_time(START_TIME + 3_600).await;
    f.assert_rejected(
        &[grant(&f, &Pubkey::new_unique(), 1)],
        &[&admin],
        SparksError::OutsideWindow,
    )
    .await;
}

#[tokio::test]
async fn a_wallet_with_enough_lifetime_sparks_joins_once() {
    // Arrange: a wallet one Spark short of the threshold.
    let mut f = with_whitelist(&Pubkey::new_unique()).await;
    let issuer = f.full_issuer().await;
    let wallet = f.funded_wallet(1_000_000_000).await;
    f.award(
        &issuer,
        &wallet.pubkey(),
        Source::Trading,
        JOIN_THRESHOLD - 1,
    )
    .await
    .unwrap();
    let join = ix::join_whitelist(&wallet.pubkey(), &wallet.pubkey(), ID);
    f.assert_rejected(
        std::slice::from_ref(&join),
        &[&wallet],
        SparksError::BelowJoinThreshold,
    )
    .await;
    f.award(&issuer, &wallet.pubkey(), Source::Trading, 1)
        .await
        .unwrap();
    // Act
    let events = f.send_ok(std::slice::from_ref(&join), &[&wallet]).await;
    // Assert
    let entry = entry(&mut f, &wallet.pubkey()).await.unwrap();
    assert_eq!(
        (entry.spots_granted, entry.obtained_via),
        (1, GrantVia::Join.bit())
    );
    assert!(
        matches!(&events[..], [SparksEvent::WhitelistSpotGranted(g)] if g.via == GrantVia::Join && g.entry == entry)
    );
    assert_eq!(
        f.spark(&wallet.pubkey()).await.unwrap().balance,
        JOIN_THRESHOLD,
        "joining spends nothing"
    );
    f.assert_rejected(&[join], &[&wallet], SparksError::AlreadyJoined)
        .await;
}

#[tokio::test]
async fn revoked_sparks_do_not_count_toward_the_threshold() {
    // Farmed Sparks clawed back must not buy a spot.
    let mut f = with_whitelist(&Pubkey::new_unique()).await;
    let issuer = f.full_issuer().await;
    let farmer = f.funded_wallet(1_000_000_000).await;
    f.award(&issuer, &farmer.pubkey(), Source::Trading, JOIN_THRESHOLD)
        .await
        .unwrap();
    let admin = f.admin.insecure_clone();
    f.send_ok(
        &[ix::revoke(&admin.pubkey(), &farmer.pubkey(), 600, 1)],
        &[&admin],
    )
    .await;
    let join = ix::join_whitelist(&farmer.pubkey(), &farmer.pubkey(), ID);
    f.assert_rejected(
        std::slice::from_ref(&join),
        &[&farmer],
        SparksError::BelowJoinThreshold,
    )
    .await;
    // Earning the clawed-back amount again makes it eligible.
    f.award(&issuer, &farmer.pubkey(), Source::Trading, 600)
        .await
        .unwrap();
    f.send_ok(&[join], &[&farmer]).await;
}

#[tokio::test]
async fn joining_is_off_when_the_threshold_is_zero_and_while_paused() {
    let consumer = Pubkey::new_unique();
    let mut f = with_whitelist(&consumer).await;
    let issuer = f.full_issuer().await;
    let wallet = f.funded_wallet(1_000_000_000).await;
    f.award(&issuer, &wallet.pubkey(), Source::Trading, 5_000)
        .await
        .unwrap();
    let admin = f.admin.insecure_clone();
    let join = ix::join_whitelist(&wallet.pubkey(), &wallet.pubkey(), ID);
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    f.assert_rejected(std::slice::from_ref(&join), &[&wallet], SparksError::Paused)
        .await;
    f.send_ok(&[ix::unpause(&admin.pubkey())], &[&admin]).await;
    let closed = WhitelistTerms {
        min_lifetime_sparks: 0,
        ..terms(&consumer)
    };
    f.send_ok(
        &[ix::update_whitelist(&admin.pubkey(), ID, closed, true)],
        &[&admin],
    )
    .await;
    f.assert_rejected(&[join], &[&wallet], SparksError::BelowJoinThreshold)
        .await;
}

#[tokio::test]
async fn the_consumer_uses_spots_within_the_window_and_never_beyond_the_grant() {
    // Arrange: a consumer key (the role a mint program's PDA plays).
    let consumer = Keypair::new();
    let mut f = with_whitelist(&consumer.pubkey()).await;
    let admin = f.admin.insecure_clone();
    let wallet = Keypair::new();
    f.send_ok(&[grant(&f, &wallet.pubkey(), 1)], &[&admin])
        .await;
    let consume = ix::consume_whitelist_spot(&consumer.pubkey(), &wallet.pubkey(), ID);
    // Before the window opens.
    f.set_time(START_TIME - 1).await;
    f.assert_rejected(
        std::slice::from_ref(&consume),
        &[&consumer, &wallet],
        SparksError::OutsideWindow,
    )
    .await;
    f.set_time(START_TIME).await;
    // Act
    let events = f
        .send_ok(std::slice::from_ref(&consume), &[&consumer, &wallet])
        .await;
    // Assert
    let entry = entry(&mut f, &wallet.pubkey()).await.unwrap();
    assert_eq!(
        (entry.spots_granted, entry.spots_used, entry.seq),
        (1, 1, 2)
    );
    let state = whitelist(&mut f).await;
    assert_eq!(state.spots_used, 1);
    assert_eq!(
        events,
        vec![SparksEvent::WhitelistSpotConsumed(WhitelistSpotConsumed {
            consumer: consumer.pubkey(),
            whitelist: state,
            entry
        })]
    );
    f.assert_rejected(&[consume], &[&consumer, &wallet], SparksError::NoSpotsLeft)
        .await;
}

#[tokio::test]
async fn consume_by_a_wrong_signer_or_while_paused_or_after_the_window_is_refused() {
    let consumer = Keypair::new();
    let mut f = with_whitelist(&consumer.pubkey()).await;
    let admin = f.admin.insecure_clone();
    let wallet = Keypair::new();
    f.send_ok(&[grant(&f, &wallet.pubkey(), 2)], &[&admin])
        .await;
    let impostor = Keypair::new();
    f.assert_rejected(
        &[ix::consume_whitelist_spot(
            &impostor.pubkey(),
            &wallet.pubkey(),
            ID,
        )],
        &[&impostor, &wallet],
        SparksError::WrongConsumer,
    )
    .await;
    // The wallet must sign too: a consumer cannot burn spots of wallets not minting.
    let unsigned = sparks_tests::unsigned(
        ix::consume_whitelist_spot(&consumer.pubkey(), &wallet.pubkey(), ID),
        &wallet.pubkey(),
    );
    f.assert_rejected_with(
        &[unsigned],
        &[&consumer],
        sparks_tests::anchor_codes::err(anchor_lang::error::ErrorCode::AccountNotSigner),
    )
    .await;
    let consume = ix::consume_whitelist_spot(&consumer.pubkey(), &wallet.pubkey(), ID);
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    f.assert_rejected(
        std::slice::from_ref(&consume),
        &[&consumer, &wallet],
        SparksError::Paused,
    )
    .await;
    f.send_ok(&[ix::unpause(&admin.pubkey())], &[&admin]).await;
    f.set_time(START_TIME + 3_600).await;
    f.assert_rejected(
        &[consume],
        &[&consumer, &wallet],
        SparksError::OutsideWindow,
    )
    .await;
}

#[tokio::test]
async fn the_whitelist_admin_hands_over_in_two_steps() {
    let mut f = with_whitelist(&Pubkey::new_unique()).await;
    let admin = f.admin.insecure_clone();
    let team = f.funded_wallet(1_000_000_000).await;
    f.send_ok(
        &[ix::propose_whitelist_admin(
            &admin.pubkey(),
            ID,
            Some(team.pubkey()),
        )],
        &[&admin],
    )
    .await;
    // Proposed is not handed over: the old admin still rules.
    assert_eq!(whitelist(&mut f).await.admin, admin.pubkey());
    f.send_ok(&[grant(&f, &Pubkey::new_unique(), 1)], &[&admin])
        .await;
    let stranger = f.funded_wallet(1_000_000_000).await;
    f.assert_rejected(
        &[ix::accept_whitelist_admin(&stranger.pubkey(), ID)],
        &[&stranger],
        SparksError::NotPendingWhitelistAdmin,
    )
    .await;
    let events = f
        .send_ok(&[ix::accept_whitelist_admin(&team.pubkey(), ID)], &[&team])
        .await;
    let state = whitelist(&mut f).await;
    assert_eq!((state.admin, state.pending_admin), (team.pubkey(), None));
    assert!(
        matches!(&events[..], [SparksEvent::WhitelistAdminAccepted(e)]
        if e.previous_admin == admin.pubkey() && e.whitelist == state)
    );
    f.assert_rejected(
        &[grant(&f, &Pubkey::new_unique(), 1)],
        &[&admin],
        SparksError::Unauthorized,
    )
    .await;
}

#[tokio::test]
async fn a_mistyped_whitelist_admin_can_be_withdrawn() {
    let mut f = with_whitelist(&Pubkey::new_unique()).await;
    let admin = f.admin.insecure_clone();
    let typo = Keypair::new();
    f.send_ok(
        &[ix::propose_whitelist_admin(
            &admin.pubkey(),
            ID,
            Some(typo.pubkey()),
        )],
        &[&admin],
    )
    .await;
    f.send_ok(
        &[ix::propose_whitelist_admin(&admin.pubkey(), ID, None)],
        &[&admin],
    )
    .await;
    assert_eq!(whitelist(&mut f).await.pending_admin, None);
    let stranger = f.funded_wallet(1_000_000_000).await;
    f.assert_rejected(
        &[ix::propose_whitelist_admin(
            &stranger.pubkey(),
            ID,
            Some(stranger.pubkey()),
        )],
        &[&stranger],
        SparksError::Unauthorized,
    )
    .await;
}

/// `sparks::onchain::verify_whitelist_entry` as a mint program calls it,
/// on the accounts as they are on chain now.
async fn verify(
    f: &mut TestFixture,
    wallet: &Pubkey,
    consumer: &Pubkey,
) -> anchor_lang::Result<()> {
    let whitelist = pda::whitelist(ID);
    let keys = [
        pda::whitelist_entry(&whitelist, wallet),
        whitelist,
        pda::config(),
    ];
    let mut raw = Vec::new();
    for key in &keys {
        raw.push(f.raw_account(key).await.unwrap());
    }
    let now = f.now().await;
    let [entry, list, config] = &mut raw[..] else {
        unreachable!()
    };
    let infos = [(&keys[0], entry), (&keys[1], list), (&keys[2], config)].map(|(key, account)| {
        anchor_lang::prelude::AccountInfo::new(
            key,
            false,
            false,
            &mut account.lamports,
            &mut account.data,
            &account.owner,
            false,
        )
    });
    sparks::onchain::verify_whitelist_entry(&infos[0], &infos[1], &infos[2], wallet, consumer, now)
        .map(|_| ())
}

fn code_of(result: anchor_lang::Result<()>) -> Option<u32> {
    match result {
        Ok(()) => None,
        Err(anchor_lang::error::Error::AnchorError(e)) => Some(e.error_code_number),
        Err(other) => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn verify_whitelist_entry_judges_as_consume_would() {
    let consumer = Pubkey::new_unique();
    let mut f = with_whitelist(&consumer).await;
    let admin = f.admin.insecure_clone();
    let wallet = Keypair::new().pubkey();
    f.send_ok(&[grant(&f, &wallet, 1)], &[&admin]).await;
    assert_eq!(code_of(verify(&mut f, &wallet, &consumer).await), None);
    // Another program's PDA: the spot is not its to use (it could verify
    // and never consume).
    assert_eq!(
        code_of(verify(&mut f, &wallet, &Pubkey::new_unique()).await),
        Some(SparksError::WrongConsumer.into())
    );
    // Inactive whitelist.
    let current = terms(&consumer);
    f.send_ok(
        &[ix::update_whitelist(&admin.pubkey(), ID, current, false)],
        &[&admin],
    )
    .await;
    assert_eq!(
        code_of(verify(&mut f, &wallet, &consumer).await),
        Some(SparksError::WhitelistInactive.into())
    );
    f.send_ok(
        &[ix::update_whitelist(&admin.pubkey(), ID, current, true)],
        &[&admin],
    )
    .await;
    // Outside the window.
    f.set_time(START_TIME + 3_600).await;
    assert_eq!(
        code_of(verify(&mut f, &wallet, &consumer).await),
        Some(SparksError::OutsideWindow.into())
    );
    f.set_time(START_TIME).await;
    // The program paused.
    f.send_ok(&[ix::pause(&admin.pubkey())], &[&admin]).await;
    assert_eq!(
        code_of(verify(&mut f, &wallet, &consumer).await),
        Some(SparksError::Paused.into())
    );
}

// ---- the example mint program -------------------------------------------

/// Mint error code of `example_mint::MintError::NotWhitelisted`.
fn not_whitelisted() -> InstructionError {
    InstructionError::Custom(example_mint::MintError::NotWhitelisted.into())
}

async fn mint_fixture() -> (TestFixture, Keypair) {
    let mut f = with_whitelist(&example_mint::minter_address().0).await;
    let minter = f.funded_wallet(1_000_000_000).await;
    (f, minter)
}

#[tokio::test]
async fn the_example_mint_consumes_a_spot_and_mints_one_nft() {
    // Arrange
    let (mut f, minter) = mint_fixture().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[grant(&f, &minter.pubkey(), 1)], &[&admin])
        .await;
    let (mint, token) = (Keypair::new(), Keypair::new());
    // Act
    let events = f
        .send_ok(
            &[ix::example_mint_nft(
                &minter.pubkey(),
                ID,
                &mint.pubkey(),
                &token.pubkey(),
            )],
            &[&minter, &mint, &token],
        )
        .await;
    // Assert: one token, no authority left to mint another.
    let mint_state = spl_token_interface::state::Mint::unpack(
        &f.raw_account(&mint.pubkey()).await.unwrap().data,
    )
    .unwrap();
    assert_eq!(mint_state.supply, 1);
    assert_eq!(mint_state.decimals, 0);
    assert!(mint_state.mint_authority.is_none());
    let token_state = spl_token_interface::state::Account::unpack(
        &f.raw_account(&token.pubkey()).await.unwrap().data,
    )
    .unwrap();
    assert_eq!(
        (token_state.amount, token_state.owner),
        (1, minter.pubkey())
    );
    let entry = entry(&mut f, &minter.pubkey()).await.unwrap();
    assert_eq!(entry.spots_used, 1);
    assert!(
        matches!(&events[..], [SparksEvent::WhitelistSpotConsumed(c)] if c.consumer == example_mint::minter_address().0)
    );
}

#[tokio::test]
async fn the_example_mint_refuses_a_second_nft_for_one_spot() {
    let (mut f, minter) = mint_fixture().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(&[grant(&f, &minter.pubkey(), 1)], &[&admin])
        .await;
    let (mint, token) = (Keypair::new(), Keypair::new());
    f.send_ok(
        &[ix::example_mint_nft(
            &minter.pubkey(),
            ID,
            &mint.pubkey(),
            &token.pubkey(),
        )],
        &[&minter, &mint, &token],
    )
    .await;
    let (mint2, token2) = (Keypair::new(), Keypair::new());
    f.assert_rejected_with(
        &[ix::example_mint_nft(
            &minter.pubkey(),
            ID,
            &mint2.pubkey(),
            &token2.pubkey(),
        )],
        &[&minter, &mint2, &token2],
        not_whitelisted(),
    )
    .await;
    assert!(f.raw_account(&mint2.pubkey()).await.is_none(), "no NFT");
}

#[tokio::test]
async fn a_wallet_without_a_spot_gets_a_clear_error_and_no_nft() {
    let (mut f, minter) = mint_fixture().await;
    let (mint, token) = (Keypair::new(), Keypair::new());
    f.assert_rejected_with(
        &[ix::example_mint_nft(
            &minter.pubkey(),
            ID,
            &mint.pubkey(),
            &token.pubkey(),
        )],
        &[&minter, &mint, &token],
        not_whitelisted(),
    )
    .await;
    assert!(f.raw_account(&mint.pubkey()).await.is_none());
}

#[tokio::test]
async fn the_example_mint_cannot_use_a_whitelist_it_is_not_consumer_of() {
    // The whitelist names another consumer: the mint's own check
    // (`verify_whitelist_entry` with its PDA) refuses it before the CPI,
    // which Sparks would refuse as `WrongConsumer`.
    let mut f = with_whitelist(&Pubkey::new_unique()).await;
    let admin = f.admin.insecure_clone();
    let minter = f.funded_wallet(1_000_000_000).await;
    f.send_ok(&[grant(&f, &minter.pubkey(), 1)], &[&admin])
        .await;
    let (mint, token) = (Keypair::new(), Keypair::new());
    f.assert_rejected_with(
        &[ix::example_mint_nft(
            &minter.pubkey(),
            ID,
            &mint.pubkey(),
            &token.pubkey(),
        )],
        &[&minter, &mint, &token],
        not_whitelisted(),
    )
    .await;
}
