//! Fuzz: every instruction of the program, sent with mangled data (random
//! bytes, a valid discriminator with a random or truncated tail, flipped
//! bytes) and mangled accounts (shuffled, missing, duplicated, swapped for
//! other program accounts or strangers, writable/signer flags changed).
//!
//! Whatever arrives, the program must not panic (natively a panic surfaces
//! as `ProgramFailedToComplete`; a panic hook tells the program's own from
//! the native CPI stub's, see [`is_runtime_refusal`]), a rejected
//! transaction must leave every account byte-for-byte as it was, and an
//! accepted one must have been signed by a key holding the role the
//! instruction needs, change only the accounts that role may change
//! ([`check_roles`]), and keep the books: every account's balance is what
//! it earned less what it spent and lost, and the issuers minted exactly
//! what the accounts earned.
//!
//! `PROPTEST_CASES=<n>` runs more cases (default 24 fixtures × 12 sends).

use std::collections::BTreeSet;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::{AccountMeta, Instruction};
use anchor_lang::solana_program::system_program;
use anchor_lang::AccountDeserialize;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction_error::TransactionError;
use sparks::instructions::{
    AwardArgs, ConfigParams, CreatePerkParams, IssuerParams, UpdatePerkParams, WhitelistTerms,
};
use sparks::state::{
    Config, Issuer, Perk, PerkClaim, PerkKind, Source, SparkAccount, Whitelist, WhitelistEntry,
};
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::pda;
use super::TestFixture;
use sparks_tests::DEFAULT_PARAMS;

const SENDS_PER_CASE: usize = 12;
const PERK_ID: u64 = 1;
const WHITELIST_ID: u64 = 1;

/// The actors and accounts every case starts from.
struct World {
    fixture: TestFixture,
    issuer: Keypair,
    /// Wallets with Spark accounts (the first has a referrer, the second is it).
    wallets: Vec<Keypair>,
    consumer: Keypair,
    stranger: Keypair,
}

impl World {
    async fn new() -> Self {
        let mut fixture = TestFixture::new().await;
        let admin = fixture.admin.insecure_clone();
        let issuer = fixture.full_issuer().await;
        let mut wallets = Vec::new();
        for _ in 0..3 {
            wallets.push(fixture.funded_wallet(1_000_000_000).await);
        }
        let consumer = fixture.funded_wallet(1_000_000_000).await;
        let stranger = fixture.funded_wallet(1_000_000_000).await;
        fixture.refer(&wallets[0], &wallets[1].pubkey()).await;
        for wallet in &wallets {
            fixture
                .award(&issuer, &wallet.pubkey(), Source::Campaign, 5_000)
                .await
                .expect("award");
        }
        let terms = WhitelistTerms {
            consumer: consumer.pubkey(),
            capacity: 10,
            spots_per_wallet: 2,
            min_lifetime_sparks: 100,
            starts_at: 0,
            ends_at: i64::MAX,
        };
        fixture
            .send_ok(
                &[
                    ix::create_whitelist(&admin.pubkey(), WHITELIST_ID, &admin.pubkey(), terms),
                    ix::create_perk(&admin.pubkey(), Some(WHITELIST_ID), perk_params()),
                    ix::grant_whitelist(&admin.pubkey(), WHITELIST_ID, &wallets[2].pubkey(), 1),
                ],
                &[&admin],
            )
            .await;
        Self {
            fixture,
            issuer,
            wallets,
            consumer,
            stranger,
        }
    }

    fn keypairs(&self) -> Vec<&Keypair> {
        let mut keys: Vec<&Keypair> = vec![&self.fixture.admin, &self.issuer];
        keys.extend(self.wallets.iter());
        keys.extend([&self.consumer, &self.stranger]);
        keys
    }

    /// One valid instruction of each kind, as a well-behaved client builds them.
    fn templates(&self) -> Vec<Instruction> {
        let admin = self.fixture.admin.pubkey();
        let issuer = self.issuer.pubkey();
        let [a, b, c] = [0, 1, 2].map(|i| self.wallets[i].pubkey());
        let stranger = self.stranger.pubkey();
        let terms = WhitelistTerms {
            consumer: self.consumer.pubkey(),
            capacity: 5,
            spots_per_wallet: 1,
            min_lifetime_sparks: 0,
            starts_at: 0,
            ends_at: i64::MAX,
        };
        let award = AwardArgs {
            source: Source::Trading,
            amount: 1_000,
            reference: [7; 32],
            award_id: 100,
        };
        let row = |wallet: Pubkey, referrer: Option<Pubkey>| BatchRow {
            wallet,
            amount: 300,
            referrer,
            creates_account: false,
            prefunded: false,
            pays_referral: referrer.is_some(),
        };
        vec![
            ix::initialize(&admin, DEFAULT_PARAMS),
            ix::update_config(
                &admin,
                ConfigParams {
                    referral_trade_share_bps: 2_000,
                    ..DEFAULT_PARAMS
                },
            ),
            ix::pause(&admin),
            ix::unpause(&admin),
            ix::propose_admin(&admin, Some(stranger)),
            ix::accept_admin(&stranger),
            ix::upsert_issuer(
                &admin,
                &stranger,
                IssuerParams {
                    allowed_sources: Source::ALL_BITS,
                    cap_per_period: 1_000,
                    period_secs: 60,
                },
            ),
            ix::deactivate_issuer(&admin, &issuer),
            ix::set_referrer(&c, &c, &b),
            ix::award(&issuer, &a, Some(&b), award),
            ix::award_batch(
                &issuer,
                Source::Trading,
                [8; 32],
                200,
                &[row(a, Some(b)), row(c, None), row(stranger, None)],
            ),
            ix::void_award_ids(&issuer, 300, 2),
            ix::revoke(&admin, &a, 100, 1),
            ix::create_perk(
                &admin,
                None,
                CreatePerkParams {
                    id: 2,
                    ..perk_params()
                },
            ),
            ix::update_perk(
                &admin,
                PERK_ID,
                UpdatePerkParams {
                    cost: 10,
                    max_supply: 5,
                    per_wallet_limit: 1,
                    starts_at: 0,
                    ends_at: i64::MAX,
                    active: true,
                    uri: "https://sparks.example/perks/1".into(),
                },
            ),
            ix::redeem_perk(&b, &b, PERK_ID, Some(WHITELIST_ID), u64::MAX),
            ix::create_whitelist(&admin, 2, &admin, terms),
            ix::update_whitelist(&admin, WHITELIST_ID, terms, false),
            ix::grant_whitelist(&admin, WHITELIST_ID, &a, 1),
            ix::propose_whitelist_admin(&admin, WHITELIST_ID, Some(stranger)),
            ix::accept_whitelist_admin(&stranger, WHITELIST_ID),
            ix::join_whitelist(&b, &b, WHITELIST_ID),
            ix::consume_whitelist_spot(&self.consumer.pubkey(), &c, WHITELIST_ID),
        ]
    }

    /// Addresses a mangled account list may borrow from: actors, every
    /// program account of the fixture, programs, and a stranger's PDAs.
    fn address_pool(&self) -> Vec<Pubkey> {
        let mut pool: Vec<Pubkey> = self.keypairs().iter().map(|k| k.pubkey()).collect();
        let wallets: Vec<Pubkey> = self.wallets.iter().map(|w| w.pubkey()).collect();
        let whitelist = pda::whitelist(WHITELIST_ID);
        pool.extend(wallets.iter().map(pda::spark));
        pool.extend([
            pda::config(),
            pda::issuer(&self.issuer.pubkey()),
            pda::perk(PERK_ID),
            whitelist,
            pda::whitelist_entry(&whitelist, &wallets[2]),
            pda::spark(&self.stranger.pubkey()),
            pda::event_authority(),
            sparks::ID,
            system_program::ID,
            Pubkey::new_unique(),
        ]);
        pool
    }

    /// Every account whose bytes must not move on a rejection, and whose
    /// balances add up to the supply on success: the pool, every address
    /// an instruction of this case named so far (an earlier accepted send
    /// may have created an account there), and the Spark account of each.
    fn watched(&self, named: &mut BTreeSet<Pubkey>, instruction: &Instruction) -> Vec<Pubkey> {
        named.extend(instruction.accounts.iter().map(|m| m.pubkey));
        let mut keys: BTreeSet<Pubkey> = self.address_pool().into_iter().collect();
        keys.extend(named.iter().copied());
        let sparks: Vec<Pubkey> = keys.iter().map(pda::spark).collect();
        keys.extend(sparks);
        keys.into_iter().collect()
    }
}

fn perk_params() -> CreatePerkParams {
    CreatePerkParams {
        id: PERK_ID,
        kind: PerkKind::NftWhitelist,
        cost: 200,
        max_supply: 10,
        per_wallet_limit: 2,
        starts_at: 0,
        ends_at: i64::MAX,
        uri: "https://sparks.example/perks/1".into(),
    }
}

/// One way to mangle an instruction.
#[derive(Debug, Clone)]
enum Mangle {
    RandomData(Vec<u8>),
    /// The valid discriminator, then these bytes.
    RandomTail(Vec<u8>),
    Truncate(usize),
    Extend(Vec<u8>),
    FlipByte {
        at: usize,
        xor: u8,
    },
    Shuffle(u64),
    Drop(usize),
    Duplicate(usize),
    Replace {
        at: usize,
        with: usize,
    },
    ToggleWritable(usize),
    /// Clears the signer flag (the transaction then lacks that signature).
    Unsign(usize),
    /// A signer replaced by another key we hold, which signs instead: the
    /// wrong role signing.
    Impersonate {
        signer: usize,
        with: usize,
    },
}

fn mangle() -> impl Strategy<Value = Mangle> {
    let bytes = |max| prop::collection::vec(any::<u8>(), 0..max);
    prop_oneof![
        bytes(64).prop_map(Mangle::RandomData),
        bytes(160).prop_map(Mangle::RandomTail),
        (0..200usize).prop_map(Mangle::Truncate),
        bytes(32).prop_map(Mangle::Extend),
        (any::<usize>(), 1..=255u8).prop_map(|(at, xor)| Mangle::FlipByte { at, xor }),
        any::<u64>().prop_map(Mangle::Shuffle),
        any::<usize>().prop_map(Mangle::Drop),
        any::<usize>().prop_map(Mangle::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(at, with)| Mangle::Replace { at, with }),
        any::<usize>().prop_map(Mangle::ToggleWritable),
        any::<usize>().prop_map(Mangle::Unsign),
        (any::<usize>(), any::<usize>())
            .prop_map(|(signer, with)| Mangle::Impersonate { signer, with }),
        (any::<usize>(), any::<usize>())
            .prop_map(|(signer, with)| Mangle::Impersonate { signer, with }),
    ]
}

/// Applies `mangle`; signer flags end up only on keys we hold.
fn apply(mangle: &Mangle, ix: &mut Instruction, pool: &[Pubkey], signers: &[Pubkey]) {
    let metas = &mut ix.accounts;
    let pick = |n: usize, len: usize| (len > 0).then(|| n % len);
    match mangle {
        Mangle::RandomData(data) => ix.data = data.clone(),
        Mangle::RandomTail(tail) => {
            ix.data.truncate(8);
            ix.data.extend_from_slice(tail);
        }
        Mangle::Truncate(len) => ix.data.truncate(*len % (ix.data.len() + 1)),
        Mangle::Extend(bytes) => ix.data.extend_from_slice(bytes),
        Mangle::FlipByte { at, xor } => {
            if let Some(i) = pick(*at, ix.data.len()) {
                ix.data[i] ^= xor;
            }
        }
        Mangle::Shuffle(seed) => {
            let mut state = *seed | 1;
            for i in (1..metas.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                metas.swap(i, (state % (i as u64 + 1)) as usize);
            }
        }
        Mangle::Drop(at) => {
            if let Some(i) = pick(*at, metas.len()) {
                metas.remove(i);
            }
        }
        Mangle::Duplicate(at) => {
            if let Some(i) = pick(*at, metas.len()) {
                let copy = metas[i].clone();
                metas.insert(i, copy);
            }
        }
        Mangle::Replace { at, with } => {
            if let Some(i) = pick(*at, metas.len()) {
                let key = pool[*with % pool.len()];
                let is_signer = metas[i].is_signer && signers.contains(&key);
                metas[i] = if metas[i].is_writable {
                    AccountMeta::new(key, is_signer)
                } else {
                    AccountMeta::new_readonly(key, is_signer)
                };
            }
        }
        Mangle::ToggleWritable(at) => {
            if let Some(i) = pick(*at, metas.len()) {
                metas[i].is_writable = !metas[i].is_writable;
            }
        }
        Mangle::Unsign(at) => {
            if let Some(i) = pick(*at, metas.len()) {
                metas[i].is_signer = false;
            }
        }
        Mangle::Impersonate { signer, with } => {
            let signing: Vec<usize> = (0..metas.len()).filter(|i| metas[*i].is_signer).collect();
            if let (Some(i), false) = (pick(*signer, signing.len()), signers.is_empty()) {
                metas[signing[i]].pubkey = signers[*with % signers.len()];
            }
        }
    }
}

/// The books over the program accounts among `keys`: each account's
/// balance is what it earned less what it spent and was revoked, plus what
/// revocations could not take yet (a debt, never more than it spent), no
/// more was revoked than earned, and the issuers minted exactly what the
/// accounts earned.
async fn check_books(world: &mut World, keys: &[Pubkey]) -> Result<(), String> {
    let (mut earned, mut minted) = (0u128, 0u128);
    for key in keys {
        match world.fixture.raw_account(key).await.map(|a| decode(&a)) {
            Some(Some(Decoded::Spark(spark))) => {
                let (account_earned, spent, revoked) = (
                    u128::from(spark.lifetime_earned),
                    u128::from(spark.lifetime_spent),
                    u128::from(spark.lifetime_revoked),
                );
                let debt = (u128::from(spark.balance) + spent + revoked)
                    .checked_sub(account_earned)
                    .ok_or(format!("{key}: balance below earned - spent - revoked"))?;
                if revoked > account_earned || debt > spent {
                    return Err(format!(
                        "{key}: revoked {revoked} of {account_earned} earned, \
                         debt {debt} of {spent} spent"
                    ));
                }
                earned += u128::from(spark.lifetime_earned);
            }
            Some(Some(Decoded::Issuer(issuer))) => minted += u128::from(issuer.total_minted),
            _ => {}
        }
    }
    if earned != minted {
        return Err(format!("accounts earned {earned}, issuers minted {minted}"));
    }
    Ok(())
}

/// A program account, decoded by its discriminator.
#[derive(Debug, Clone, PartialEq)]
enum Decoded {
    Config(Config),
    Issuer(Box<Issuer>),
    Spark(SparkAccount),
    Perk(Perk),
    Claim(PerkClaim),
    Whitelist(Whitelist),
    Entry(WhitelistEntry),
}

fn decode(account: &solana_account::Account) -> Option<Decoded> {
    if account.owner != sparks::ID {
        return None;
    }
    let data = &mut account.data.as_slice();
    Config::try_deserialize(&mut &**data)
        .map(Decoded::Config)
        .or_else(|_| Issuer::try_deserialize(&mut &**data).map(|i| Decoded::Issuer(Box::new(i))))
        .or_else(|_| SparkAccount::try_deserialize(&mut &**data).map(Decoded::Spark))
        .or_else(|_| Perk::try_deserialize(&mut &**data).map(Decoded::Perk))
        .or_else(|_| PerkClaim::try_deserialize(&mut &**data).map(Decoded::Claim))
        .or_else(|_| Whitelist::try_deserialize(&mut &**data).map(Decoded::Whitelist))
        .or_else(|_| WhitelistEntry::try_deserialize(&mut &**data).map(Decoded::Entry))
        .ok()
}

type Snapshot = std::collections::BTreeMap<Pubkey, Option<solana_account::Account>>;

/// The instruction an accepted send ran, by its discriminator.
fn instruction_name(data: &[u8]) -> Option<&'static str> {
    use anchor_lang::Discriminator;
    use sparks::instruction as i;
    let names: [(&[u8], &str); 23] = [
        (i::Initialize::DISCRIMINATOR, "initialize"),
        (i::UpdateConfig::DISCRIMINATOR, "update_config"),
        (i::Pause::DISCRIMINATOR, "pause"),
        (i::Unpause::DISCRIMINATOR, "unpause"),
        (i::ProposeAdmin::DISCRIMINATOR, "propose_admin"),
        (i::AcceptAdmin::DISCRIMINATOR, "accept_admin"),
        (i::UpsertIssuer::DISCRIMINATOR, "upsert_issuer"),
        (i::DeactivateIssuer::DISCRIMINATOR, "deactivate_issuer"),
        (i::SetReferrer::DISCRIMINATOR, "set_referrer"),
        (i::Award::DISCRIMINATOR, "award"),
        (i::AwardBatch::DISCRIMINATOR, "award_batch"),
        (i::VoidAwardIds::DISCRIMINATOR, "void_award_ids"),
        (i::Revoke::DISCRIMINATOR, "revoke"),
        (i::CreatePerk::DISCRIMINATOR, "create_perk"),
        (i::UpdatePerk::DISCRIMINATOR, "update_perk"),
        (i::RedeemPerk::DISCRIMINATOR, "redeem_perk"),
        (i::CreateWhitelist::DISCRIMINATOR, "create_whitelist"),
        (i::UpdateWhitelist::DISCRIMINATOR, "update_whitelist"),
        (
            i::ProposeWhitelistAdmin::DISCRIMINATOR,
            "propose_whitelist_admin",
        ),
        (
            i::AcceptWhitelistAdmin::DISCRIMINATOR,
            "accept_whitelist_admin",
        ),
        (i::GrantWhitelist::DISCRIMINATOR, "grant_whitelist"),
        (i::JoinWhitelist::DISCRIMINATOR, "join_whitelist"),
        (
            i::ConsumeWhitelistSpot::DISCRIMINATOR,
            "consume_whitelist_spot",
        ),
    ];
    names
        .iter()
        .find(|(disc, _)| data.starts_with(disc))
        .map(|(_, name)| *name)
}

/// An accepted instruction was signed by a key holding the role it needs,
/// and changed only what that role may change: program accounts of the
/// kinds the instruction touches, belonging to the signer where the role
/// is the owner's (a wallet's Spark account, claim, whitelist entry), and
/// lamports only of signers (they pay rent) and of accounts it created.
fn check_roles(
    name: &str,
    signers: &[Pubkey],
    before: &Snapshot,
    after: &Snapshot,
) -> Result<(), String> {
    let state = |key: &Pubkey| before.get(key).cloned().flatten().as_ref().and_then(decode);
    let config = match state(&pda::config()) {
        Some(Decoded::Config(c)) => c,
        other => return Err(format!("no config before: {other:?}")),
    };
    let signed = |key: &Pubkey| signers.contains(key);
    let is_admin = signers.contains(&config.admin);
    for (key, was) in before {
        let now = after.get(key).cloned().flatten();
        if *was == now {
            continue;
        }
        let created = was.as_ref().is_none_or(|a| a.owner != sparks::ID)
            && now.as_ref().is_some_and(|a| a.owner == sparks::ID);
        let decoded_now = now.as_ref().and_then(decode);
        let only_lamports = match (was, &now) {
            (Some(w), Some(n)) => w.data == n.data && w.owner == n.owner,
            _ => false,
        };
        if only_lamports {
            if signed(key) {
                continue;
            }
            return Err(format!(
                "{name} moved lamports of {key}, which did not sign"
            ));
        }
        let before_state = state(key);
        let allowed = match (&decoded_now, &before_state) {
            (Some(Decoded::Config(_)), _) => match name {
                "update_config" | "pause" | "unpause" | "propose_admin" => is_admin,
                "accept_admin" => config.pending_admin.is_some_and(|p| signed(&p)),
                _ => false,
            },
            (Some(Decoded::Issuer(now)), was_issuer) => match name {
                "upsert_issuer" | "deactivate_issuer" => is_admin,
                "award" | "award_batch" => {
                    matches!(was_issuer, Some(Decoded::Issuer(i)) if i.active)
                        && signed(&now.authority)
                }
                "void_award_ids" => signed(&now.authority),
                _ => false,
            },
            (Some(Decoded::Spark(now)), _) => match name {
                "award" | "award_batch" => signers.iter().any(
                    |s| matches!(state(&pda::issuer(s)), Some(Decoded::Issuer(i)) if i.active),
                ),
                "revoke" => is_admin,
                "redeem_perk" => signed(&now.owner),
                // The invitee (signer) and the referrer it names.
                "set_referrer" => {
                    signed(&now.owner)
                        || signers.iter().any(|s| {
                            let invitee = after.get(&pda::spark(s)).cloned().flatten();
                            matches!(invitee.as_ref().and_then(decode),
                                Some(Decoded::Spark(i)) if i.referrer == Some(now.owner))
                        })
                }
                _ => false,
            },
            (Some(Decoded::Perk(_)), _) => match name {
                "create_perk" | "update_perk" => is_admin,
                "redeem_perk" => true, // claimed += 1, by the signing owner
                _ => false,
            },
            (Some(Decoded::Claim(claim)), _) => name == "redeem_perk" && signed(&claim.owner),
            (Some(Decoded::Whitelist(now)), was_whitelist) => {
                let was = match was_whitelist {
                    Some(Decoded::Whitelist(w)) => Some(w),
                    _ => None,
                };
                match name {
                    "create_whitelist" => is_admin,
                    "update_whitelist" | "grant_whitelist" | "propose_whitelist_admin" => {
                        was.is_some_and(|w| signed(&w.admin))
                    }
                    "accept_whitelist_admin" => {
                        was.is_some_and(|w| w.pending_admin.is_some_and(|p| signed(&p)))
                    }
                    "join_whitelist" | "redeem_perk" => true, // spots granted to the signer
                    "consume_whitelist_spot" => signed(&now.consumer),
                    _ => false,
                }
            }
            (Some(Decoded::Entry(entry)), _) => {
                let whitelist = match state(&entry.whitelist) {
                    Some(Decoded::Whitelist(w)) => Some(w),
                    _ => None,
                };
                match name {
                    "grant_whitelist" => whitelist.is_some_and(|w| signed(&w.admin)),
                    "join_whitelist" | "redeem_perk" => signed(&entry.wallet),
                    "consume_whitelist_spot" => {
                        signed(&entry.wallet) && whitelist.is_some_and(|w| signed(&w.consumer))
                    }
                    _ => false,
                }
            }
            // A program account removed, or data that decodes as nothing.
            (None, _) => false,
        };
        if !allowed {
            return Err(format!(
                "{name} signed by {signers:?} changed {key} ({}{:?})",
                if created { "created " } else { "" },
                decoded_now
            ));
        }
    }
    Ok(())
}

async fn fuzz_case(sends: Vec<(usize, Vec<Mangle>)>) -> Result<usize, TestCaseError> {
    let mut world = World::new().await;
    let templates = world.templates();
    let pool = world.address_pool();
    let mut named = BTreeSet::new();
    let mut rejected = 0;
    for (which, mangles) in sends {
        let mut instruction = templates[which % templates.len()].clone();
        let holders: Vec<Pubkey> = world.keypairs().iter().map(|k| k.pubkey()).collect();
        for mangle in &mangles {
            apply(mangle, &mut instruction, &pool, &holders);
        }
        let signers: Vec<Keypair> = world
            .keypairs()
            .into_iter()
            .filter(|k| {
                instruction
                    .accounts
                    .iter()
                    .any(|m| m.is_signer && m.pubkey == k.pubkey())
            })
            .map(|k| k.insecure_clone())
            .collect();
        let watched = world.watched(&mut named, &instruction);
        let probe = Instruction::new_with_bytes(
            sparks::ID,
            &[],
            watched
                .iter()
                .map(|k| AccountMeta::new_readonly(*k, false))
                .collect(),
        );
        let before = world.fixture.snapshot(std::slice::from_ref(&probe)).await;
        take_panics();
        let signer_refs: Vec<&Keypair> = signers.iter().collect();
        let result = world
            .fixture
            .send(std::slice::from_ref(&instruction), &signer_refs)
            .await;
        match result {
            Ok(_) => {
                let after = world.fixture.snapshot(std::slice::from_ref(&probe)).await;
                let name = instruction_name(&instruction.data).unwrap_or("unknown");
                let signed: Vec<Pubkey> = signers.iter().map(|k| k.pubkey()).collect();
                if let Err(violation) = check_roles(name, &signed, &before, &after) {
                    prop_assert!(false, "accepted {:?}: {}", mangles, violation);
                }
                if let Err(broken) = check_books(&mut world, &watched).await {
                    prop_assert!(false, "accepted {:?} broke the books: {}", mangles, broken);
                }
            }
            Err(error) => {
                rejected += 1;
                let panics = take_panics();
                let program_panics: Vec<&String> =
                    panics.iter().filter(|at| !is_runtime_refusal(at)).collect();
                prop_assert!(
                    program_panics.is_empty(),
                    "the program panicked at {:?} on {:?} of instruction #{}",
                    program_panics,
                    mangles,
                    which % templates.len()
                );
                let failed_to_complete = matches!(
                    error,
                    TransactionError::InstructionError(
                        _,
                        InstructionError::ProgramFailedToComplete
                    )
                );
                if world.fixture.runs_bytecode() {
                    // On SBF a program panic is the VM's ProgramFailedToComplete
                    // (the runtime refuses a bad CPI with its own error).
                    prop_assert!(
                        !failed_to_complete,
                        "the program failed to complete on {:?} of instruction #{}: {:?}",
                        mangles,
                        which % templates.len(),
                        world.fixture.last_logs()
                    );
                } else if failed_to_complete {
                    prop_assert!(
                        !panics.is_empty(),
                        "ProgramFailedToComplete without a panic"
                    );
                }
                let after = world.fixture.snapshot(std::slice::from_ref(&probe)).await;
                prop_assert!(
                    before == after,
                    "rejected ({:?}) {:?} of instruction #{} changed accounts",
                    error,
                    mangles,
                    which % templates.len()
                );
            }
        }
    }
    Ok(rejected)
}

/// Where panics happened since the last [`take_panics`] (file:line), and on
/// which thread: the hook is process-wide, and the native and SBF suites
/// fuzz at once.
static PANICS: std::sync::Mutex<Vec<(std::thread::ThreadId, String)>> =
    std::sync::Mutex::new(Vec::new());

/// Records each panic's location, then reports it as usual.
fn record_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(at) = info.location() {
                PANICS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((
                        std::thread::current().id(),
                        format!("{}:{}", at.file(), at.line()),
                    ));
            }
            report(info);
        }));
    });
}

/// This thread's panics since the last call (the case's runtime runs the
/// natively built program on this thread).
fn take_panics() -> Vec<String> {
    let this = std::thread::current().id();
    let mut panics = PANICS.lock().unwrap_or_else(|e| e.into_inner());
    let (mine, others): (Vec<_>, Vec<_>) = panics.drain(..).partition(|(on, _)| *on == this);
    *panics = others;
    mine.into_iter().map(|(_, at)| at).collect()
}

/// solana-program-test's native CPI stub unwraps where the SBF runtime
/// returns an error (a CPI naming an account the transaction lacks:
/// `MissingAccount`); such a panic is the runtime refusing the CPI, not
/// the program panicking.
fn is_runtime_refusal(location: &str) -> bool {
    location.contains("/solana-program-test-")
        // Another test's assertion failing on a thread of its own: the hook
        // is process-wide.
        || location.starts_with("tests/tests/")
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 32, ..ProptestConfig::default() })]

    #[test]
    fn mangled_instructions_never_panic_and_change_nothing_when_refused(
        sends in prop::collection::vec((any::<usize>(), prop::collection::vec(mangle(), 1..4)), SENDS_PER_CASE)
    ) {
        record_panics();
        let rejected = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(fuzz_case(sends))?;
        // Nearly everything mangled must be refused; a case where everything
        // passes means the mangling is not reaching the program.
        prop_assert!(rejected > 0, "no mangled instruction was refused");
    }
}
