//! Compute units, as the SBF VM meters the committed bytecode: every
//! instruction in its typical and worst cases, `award_batch` per row, and a
//! bump tried; the figures `idl/compute-units.json` keeps (the client's
//! limits are made from them) must be what this run measured, and every
//! case must fit the limit the client sets. `SPARKS_BLESS=1` rewrites the
//! file; `--nocapture` prints the table docs/BENCHMARKS.md keeps.
//!
//! Each figure is what the instruction's top-level invocation consumed, its
//! CPIs included (its `Program … consumed N of M compute units` line). Every
//! key is derived from a fixed label, so every PDA's bump takes the same
//! tries on every run and the figures repeat exactly. They are counts of
//! this build (upstream LLVM 23, SBPF v3); a platform-tools build makes
//! different code and counts somewhat differently.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use sha2::{Digest, Sha256};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::instructions::{
    AwardArgs, ConfigParams, IssuerParams, UpdatePerkParams, WhitelistTerms,
};
use sparks::state::{PerkClaim, PerkKind, Source, WhitelistEntry};
use sparks_client::budget::{
    self, bump_tries, extra_bump_tries, instruction_name, spark_bump_tries, AwardUnits, BatchUnits,
    ComputeUnits, ExtraTries, VoidUnits, EXAMPLE_MINT_NFT,
};
use sparks_client::instructions::{self as ix, BatchRow};
use sparks_client::pda;
use sparks_tests::{DEFAULT_ISSUER_CAP, DEFAULT_PARAMS, DEFAULT_PERIOD_SECS};

use super::test_perks::perk_params;
use super::test_whitelists::terms;
use super::TestFixture;

/// The committed figures' file, from this crate.
const FIGURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../idl/compute-units.json");
const MARGIN_PERCENT: u32 = 30;

/// A keypair derived from `label`: the same on every run.
fn key(label: &str) -> Keypair {
    Keypair::new_from_array(Sha256::digest(label.as_bytes()).into())
}

/// The first labelled wallet whose SparkAccount's bump takes `tries` tries.
fn wallet_with_bump_tries(label: &str, tries: u32) -> Keypair {
    (0..)
        .map(|n| key(&format!("{label}/{n}")))
        .find(|wallet| spark_bump_tries(&wallet.pubkey()) == tries)
        .expect("some wallet")
}

/// The first labelled wallet whose PDA of `seeds(wallet)` takes `tries` tries.
fn wallet_whose_pda_takes(
    label: &str,
    tries: u32,
    seeds: impl Fn(&Pubkey) -> Vec<Vec<u8>>,
) -> Keypair {
    (0..)
        .map(|n| key(&format!("{label}/{n}")))
        .find(|wallet| {
            let seeds = seeds(&wallet.pubkey());
            let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
            bump_tries(&seeds) == tries
        })
        .expect("some wallet")
}

fn award_args(amount: u64, award_id: u64) -> AwardArgs {
    AwardArgs {
        source: Source::Trading,
        amount,
        reference: [1; 32],
        award_id,
    }
}

/// The issuer's award ids, handed out in order.
#[derive(Default)]
struct AwardIds(u64);

impl AwardIds {
    /// The first of `count` fresh ids.
    fn take(&mut self, count: u64) -> u64 {
        let first = self.0;
        self.0 += count;
        first
    }
}

/// One measured case.
struct Case {
    instruction: &'static str,
    case: String,
    units: u64,
    instruction_sent: Instruction,
    /// A check only: the figures are not made from it, so it tests the
    /// limits on a case they were not fitted to.
    held_out: bool,
}

#[derive(Default)]
struct Cases(Vec<Case>);

impl Cases {
    /// Sends `sent` (with room to spare: the fixture's budget) and records
    /// what its program's invocation consumed.
    async fn measure(
        &mut self,
        f: &mut TestFixture,
        case: &str,
        sent: Instruction,
        signers: &[&Keypair],
    ) -> u64 {
        self.record(f, case, sent, signers, false).await
    }

    /// [`Self::measure`] for a case held out of the figures.
    async fn check(
        &mut self,
        f: &mut TestFixture,
        case: &str,
        sent: Instruction,
        signers: &[&Keypair],
    ) -> u64 {
        self.record(f, case, sent, signers, true).await
    }

    async fn record(
        &mut self,
        f: &mut TestFixture,
        case: &str,
        sent: Instruction,
        signers: &[&Keypair],
        held_out: bool,
    ) -> u64 {
        let program = sent.program_id;
        let instruction = if program == example_mint::ID {
            EXAMPLE_MINT_NFT
        } else {
            instruction_name(&sent.data).expect("a Sparks instruction")
        };
        let one = std::slice::from_ref(&sent);
        if sent.accounts.len() > 20 {
            // As the issuer service sends batches: the issuer pays.
            f.send_v0_paid_by(signers[0], one, signers)
                .await
                .0
                .unwrap_or_else(|e| panic!("{instruction} ({case}): {e:?}"));
        } else {
            f.send(one, signers)
                .await
                .unwrap_or_else(|e| panic!("{instruction} ({case}): {e:?}"));
        }
        let units = f.last_program_units(&program);
        assert_eq!(units.len(), 1, "{instruction} ({case}): {units:?}");
        self.0.push(Case {
            instruction,
            case: case.into(),
            units: units[0],
            instruction_sent: sent,
            held_out,
        });
        units[0]
    }

    fn case(&self, instruction: &str, case: &str) -> &Case {
        self.0
            .iter()
            .find(|c| c.instruction == instruction && c.case == case)
            .unwrap_or_else(|| panic!("no case {instruction} ({case})"))
    }

    /// What a case measured.
    fn units(&self, instruction: &str, case: &str) -> u32 {
        self.case(instruction, case).units()
    }
}

impl Case {
    fn units(&self) -> u32 {
        u32::try_from(self.units).expect("units fit u32")
    }

    /// What the case would have used had each PDA it made the program
    /// search or check taken one bump try.
    fn at_one_try(&self, tries: Tries) -> u32 {
        let extra = extra_bump_tries(&self.instruction_sent);
        self.units() - tries.search * extra.searched - tries.check * extra.checked
    }
}

/// What one more bump costs: searched, and checked above a passed bump.
#[derive(Clone, Copy)]
struct Tries {
    search: u32,
    check: u32,
}

/// Every instruction, typical and worst cases, in one chain.
async fn measure_every_instruction() -> Cases {
    let mut t = Cases::default();
    let mut f = TestFixture::uninitialized().await;
    let admin = f.admin.insecure_clone();
    let a = admin.pubkey();

    // Config and admin.
    t.measure(
        &mut f,
        "creates Config",
        ix::initialize(&a, DEFAULT_PARAMS),
        &[&admin],
    )
    .await;
    let params = ConfigParams {
        referral_trade_share_bps: 1_500,
        ..DEFAULT_PARAMS
    };
    t.measure(&mut f, "", ix::update_config(&a, params), &[&admin])
        .await;
    t.measure(&mut f, "", ix::pause(&a), &[&admin]).await;
    t.measure(&mut f, "", ix::unpause(&a), &[&admin]).await;
    let next_admin = key("next admin");
    f.fund(&next_admin.pubkey(), 1_000_000_000).await;
    t.measure(
        &mut f,
        "",
        ix::propose_admin(&a, Some(next_admin.pubkey())),
        &[&admin],
    )
    .await;
    t.measure(
        &mut f,
        "",
        ix::accept_admin(&next_admin.pubkey()),
        &[&next_admin],
    )
    .await;
    f.send_ok(
        &[ix::propose_admin(&next_admin.pubkey(), Some(a))],
        &[&next_admin],
    )
    .await;
    f.send_ok(&[ix::accept_admin(&a)], &[&admin]).await;

    // Issuers.
    let issuer = key("issuer");
    f.fund(&issuer.pubkey(), 10_000_000_000).await;
    let i = issuer.pubkey();
    let rights = IssuerParams {
        allowed_sources: Source::ALL_BITS,
        cap_per_period: DEFAULT_ISSUER_CAP,
        period_secs: DEFAULT_PERIOD_SECS,
    };
    t.measure(
        &mut f,
        "creates the Issuer",
        ix::upsert_issuer(&a, &i, rights),
        &[&admin],
    )
    .await;
    t.measure(
        &mut f,
        "updates it",
        ix::upsert_issuer(&a, &i, rights),
        &[&admin],
    )
    .await;
    let other = key("other issuer").pubkey();
    f.send_ok(&[ix::upsert_issuer(&a, &other, rights)], &[&admin])
        .await;
    t.measure(&mut f, "", ix::deactivate_issuer(&a, &other), &[&admin])
        .await;

    // Awards, each to a wallet whose SparkAccount's bump takes one try.
    let mut ids = AwardIds::default();
    let existing = wallet_with_bump_tries("existing", 1).pubkey();
    f.send_ok(
        &[ix::award(&i, &existing, None, award_args(10, ids.take(1)))],
        &[&issuer],
    )
    .await;
    t.measure(
        &mut f,
        "existing account",
        ix::award(&i, &existing, None, award_args(10, ids.take(1))),
        &[&issuer],
    )
    .await;
    let new = wallet_with_bump_tries("new", 1).pubkey();
    t.measure(
        &mut f,
        "new account",
        ix::award(&i, &new, None, award_args(10, ids.take(1))),
        &[&issuer],
    )
    .await;
    let prefunded = wallet_with_bump_tries("prefunded", 1).pubkey();
    f.fund(&pda::spark(&prefunded), 1_000_000).await;
    t.measure(
        &mut f,
        "new account, address prefunded",
        ix::award(&i, &prefunded, None, award_args(10, ids.take(1))),
        &[&issuer],
    )
    .await;
    let invitee = wallet_with_bump_tries("invitee", 1);
    f.fund(&invitee.pubkey(), 100_000_000).await;
    let referrer = key("referrer").pubkey();
    f.refer(&invitee, &referrer).await;
    t.measure(
        &mut f,
        "existing account, pays the referrer's share",
        ix::award(
            &i,
            &invitee.pubkey(),
            Some(&referrer),
            award_args(1_000, ids.take(1)),
        ),
        &[&issuer],
    )
    .await;
    let ground = wallet_with_bump_tries("ground", 12).pubkey();
    t.measure(
        &mut f,
        "new account, 12 bump tries",
        ix::award(&i, &ground, None, award_args(10, ids.take(1))),
        &[&issuer],
    )
    .await;
    t.measure(
        &mut f,
        "existing account, 12 bump tries",
        ix::award(&i, &ground, None, award_args(10, ids.take(1))),
        &[&issuer],
    )
    .await;

    // Batches: the most rows of each kind the account locks allow (see
    // test_mainnet_limits), and one row for the base.
    let new_rows: Vec<BatchRow> = (0..28)
        .map(|n| BatchRow {
            wallet: wallet_with_bump_tries(&format!("batch {n}"), 1).pubkey(),
            amount: 5,
            referrer: None,
            creates_account: true,
            prefunded: false,
            pays_referral: false,
        })
        .collect();
    let first = ids.take(1);
    t.measure(
        &mut f,
        "1 new account",
        ix::award_batch(&i, Source::Trading, [2; 32], first, &new_rows[..1]),
        &[&issuer],
    )
    .await;
    let first = ids.take(27);
    t.measure(
        &mut f,
        "27 new accounts",
        ix::award_batch(&i, Source::Trading, [2; 32], first, &new_rows[1..]),
        &[&issuer],
    )
    .await;
    let mut existing_rows = Vec::new();
    for row in &new_rows {
        existing_rows.push(f.batch_row(&row.wallet, Source::Trading, 5).await);
    }
    let first = ids.take(28);
    t.measure(
        &mut f,
        "28 existing accounts",
        ix::award_batch(&i, Source::Trading, [2; 32], first, &existing_rows),
        &[&issuer],
    )
    .await;
    let mut paying_rows = Vec::new();
    for n in 0..19 {
        let invitee = wallet_with_bump_tries(&format!("batch invitee {n}"), 1);
        f.fund(&invitee.pubkey(), 10_000_000).await;
        f.refer(&invitee, &key(&format!("batch referrer {n}")).pubkey())
            .await;
        paying_rows.push(f.batch_row(&invitee.pubkey(), Source::Trading, 1_000).await);
    }
    let first = ids.take(19);
    t.measure(
        &mut f,
        "19 rows paying referrers",
        ix::award_batch(&i, Source::Trading, [2; 32], first, &paying_rows),
        &[&issuer],
    )
    .await;
    // Rows whose addresses a stranger prefunded: three system CPIs each, four
    // trace entries, so 15 fit.
    let prefunded_rows: Vec<BatchRow> = (0..15)
        .map(|n| BatchRow {
            wallet: wallet_with_bump_tries(&format!("prefunded batch {n}"), 1).pubkey(),
            amount: 5,
            referrer: None,
            creates_account: true,
            prefunded: true,
            pays_referral: false,
        })
        .collect();
    for row in &prefunded_rows {
        f.fund(&pda::spark(&row.wallet), 1_000_000).await;
    }
    let first = ids.take(15);
    t.measure(
        &mut f,
        "15 new accounts, addresses prefunded",
        ix::award_batch(&i, Source::Trading, [2; 32], first, &prefunded_rows),
        &[&issuer],
    )
    .await;

    // Held out of the figures: cases the limits must cover without having
    // been made from them.
    let mut mixed = Vec::new();
    for n in 0..23 {
        if n % 2 == 0 {
            let wallet = wallet_with_bump_tries(&format!("mixed new {n}"), 2).pubkey();
            mixed.push(f.batch_row(&wallet, Source::Trading, 5).await);
        } else {
            let invitee = key(&format!("mixed invitee {n}"));
            f.fund(&invitee.pubkey(), 10_000_000).await;
            f.refer(&invitee, &key(&format!("mixed referrer {n}")).pubkey())
                .await;
            mixed.push(f.batch_row(&invitee.pubkey(), Source::Trading, 1_000).await);
        }
    }
    let first = ids.take(23);
    t.check(
        &mut f,
        "23 rows: new (2 bump tries) and paying referrers",
        ix::award_batch(&i, Source::Trading, [2; 32], first, &mixed),
        &[&issuer],
    )
    .await;
    let tried: Vec<BatchRow> = (0..28)
        .map(|n| BatchRow {
            wallet: wallet_with_bump_tries(&format!("tried batch {n}"), 5).pubkey(),
            amount: 5,
            referrer: None,
            creates_account: true,
            prefunded: false,
            pays_referral: false,
        })
        .collect();
    let first = ids.take(28);
    t.check(
        &mut f,
        "28 new accounts, 5 bump tries each",
        ix::award_batch(&i, Source::Trading, [2; 32], first, &tried),
        &[&issuer],
    )
    .await;
    let far = wallet_with_bump_tries("far", 9).pubkey();
    f.fund(&pda::spark(&far), 1_000_000).await;
    t.check(
        &mut f,
        "new account, address prefunded, 9 bump tries",
        ix::award(&i, &far, None, award_args(10, ids.take(1))),
        &[&issuer],
    )
    .await;

    let ahead = ids.take(0) + 100;
    t.measure(&mut f, "1 id", ix::void_award_ids(&i, ahead, 1), &[&issuer])
        .await;
    t.measure(
        &mut f,
        "1,000 ids",
        ix::void_award_ids(&i, ahead + 1, 1_000),
        &[&issuer],
    )
    .await;
    t.measure(&mut f, "", ix::revoke(&a, &existing, 5, 1), &[&admin])
        .await;

    // Referrals: the invitee pays for its account and the referrer's.
    let newcomer = key("newcomer");
    f.fund(&newcomer.pubkey(), 100_000_000).await;
    let n = newcomer.pubkey();
    t.measure(
        &mut f,
        "creates both accounts",
        ix::set_referrer(&n, &n, &key("newcomer's referrer").pubkey()),
        &[&newcomer],
    )
    .await;
    // The same with the invitee's SparkAccount found after 12 tries: what
    // a searched try costs.
    let far_newcomer = wallet_with_bump_tries("far newcomer", 12);
    f.fund(&far_newcomer.pubkey(), 100_000_000).await;
    let fnc = far_newcomer.pubkey();
    t.measure(
        &mut f,
        "creates both accounts, invitee at 12 bump tries",
        ix::set_referrer(&fnc, &fnc, &key("far newcomer's referrer").pubkey()),
        &[&far_newcomer],
    )
    .await;

    // Perks.
    let perk = perk_params(1, PerkKind::DiscordRole, 5);
    t.measure(
        &mut f,
        "",
        ix::create_perk(&a, None, perk.clone()),
        &[&admin],
    )
    .await;
    let update = UpdatePerkParams {
        cost: 6,
        max_supply: perk.max_supply,
        per_wallet_limit: perk.per_wallet_limit,
        starts_at: perk.starts_at,
        ends_at: perk.ends_at,
        active: true,
        uri: perk.uri,
    };
    t.measure(&mut f, "", ix::update_perk(&a, 1, update), &[&admin])
        .await;
    let spender = key("spender");
    f.fund(&spender.pubkey(), 1_000_000_000).await;
    let s = spender.pubkey();
    f.send_ok(
        &[ix::award(&i, &s, None, award_args(1_000, ids.take(1)))],
        &[&issuer],
    )
    .await;
    t.measure(
        &mut f,
        "first claim (creates PerkClaim)",
        ix::redeem_perk(&s, &s, 1, None, u64::MAX),
        &[&spender],
    )
    .await;
    t.measure(
        &mut f,
        "again",
        ix::redeem_perk(&s, &s, 1, None, u64::MAX),
        &[&spender],
    )
    .await;

    // Whitelists, and the example mint consuming a spot by CPI.
    let consumer = example_mint::minter_address().0;
    // Room for every spot the cases below take.
    let terms = |consumer: &Pubkey| WhitelistTerms {
        capacity: 20,
        ..terms(consumer)
    };
    t.measure(
        &mut f,
        "",
        ix::create_whitelist(&a, 9, &a, terms(&consumer)),
        &[&admin],
    )
    .await;
    t.measure(
        &mut f,
        "",
        ix::update_whitelist(&a, 9, terms(&consumer), true),
        &[&admin],
    )
    .await;
    f.send_ok(
        &[ix::create_perk(
            &a,
            Some(9),
            perk_params(2, PerkKind::NftWhitelist, 5),
        )],
        &[&admin],
    )
    .await;
    t.measure(
        &mut f,
        "whitelist perk (creates claim and entry)",
        ix::redeem_perk(&s, &s, 2, Some(9), u64::MAX),
        &[&spender],
    )
    .await;
    let granted = key("granted");
    f.fund(&granted.pubkey(), 1_000_000_000).await;
    let g = granted.pubkey();
    t.measure(
        &mut f,
        "creates the entry",
        ix::grant_whitelist(&a, 9, &g, 1),
        &[&admin],
    )
    .await;
    t.measure(
        &mut f,
        "adds a spot",
        ix::grant_whitelist(&a, 9, &g, 1),
        &[&admin],
    )
    .await;
    let whitelist = pda::whitelist(9);
    let far_granted = wallet_whose_pda_takes("far granted", 10, |w| {
        vec![
            WhitelistEntry::SEED.to_vec(),
            whitelist.to_bytes().to_vec(),
            w.to_bytes().to_vec(),
        ]
    });
    t.check(
        &mut f,
        "creates the entry, 10 bump tries",
        ix::grant_whitelist(&a, 9, &far_granted.pubkey(), 1),
        &[&admin],
    )
    .await;
    let joiner = key("joiner");
    f.fund(&joiner.pubkey(), 1_000_000_000).await;
    let j = joiner.pubkey();
    f.send_ok(
        &[ix::award(&i, &j, None, award_args(5_000, ids.take(1)))],
        &[&issuer],
    )
    .await;
    t.measure(
        &mut f,
        "creates the entry",
        ix::join_whitelist(&j, &j, 9),
        &[&joiner],
    )
    .await;
    let far_joiner = wallet_whose_pda_takes("far joiner", 6, |w| {
        vec![
            WhitelistEntry::SEED.to_vec(),
            whitelist.to_bytes().to_vec(),
            w.to_bytes().to_vec(),
        ]
    });
    f.fund(&far_joiner.pubkey(), 1_000_000_000).await;
    let fj = far_joiner.pubkey();
    f.send_ok(
        &[ix::award(&i, &fj, None, award_args(5_000, ids.take(1)))],
        &[&issuer],
    )
    .await;
    t.check(
        &mut f,
        "creates the entry, 6 bump tries",
        ix::join_whitelist(&fj, &fj, 9),
        &[&far_joiner],
    )
    .await;
    let perk_address = pda::perk(2);
    let far_spender = wallet_whose_pda_takes("far spender", 6, |w| {
        vec![
            PerkClaim::SEED.to_vec(),
            perk_address.to_bytes().to_vec(),
            w.to_bytes().to_vec(),
        ]
    });
    f.fund(&far_spender.pubkey(), 1_000_000_000).await;
    let fs = far_spender.pubkey();
    f.send_ok(
        &[ix::award(&i, &fs, None, award_args(1_000, ids.take(1)))],
        &[&issuer],
    )
    .await;
    t.check(
        &mut f,
        "whitelist perk, claim at 6 bump tries",
        ix::redeem_perk(&fs, &fs, 2, Some(9), u64::MAX),
        &[&far_spender],
    )
    .await;
    let (mint, token) = (key("mint"), key("token account"));
    t.measure(
        &mut f,
        "consume_whitelist_spot by CPI, then SPL Token",
        ix::example_mint_nft(&g, 9, &mint.pubkey(), &token.pubkey()),
        &[&granted, &mint, &token],
    )
    .await;
    let whitelist_admin = key("whitelist admin");
    f.fund(&whitelist_admin.pubkey(), 1_000_000_000).await;
    t.measure(
        &mut f,
        "",
        ix::propose_whitelist_admin(&a, 9, Some(whitelist_admin.pubkey())),
        &[&admin],
    )
    .await;
    t.measure(
        &mut f,
        "",
        ix::accept_whitelist_admin(&whitelist_admin.pubkey(), 9),
        &[&whitelist_admin],
    )
    .await;
    t
}

/// The figures the client's limits are made from, out of the cases.
fn figures(t: &Cases) -> ComputeUnits {
    // A bump checked: the same new-account award, its recipient's bump
    // checked from 12 below the top instead of at it. A bump searched: the
    // same set_referrer, its invitee's PDA searched for 12 tries (the cases
    // differ by their tries and nothing else that costs).
    let per_try = |instruction: &str, far: &str, near: &str, tries: fn(ExtraTries) -> u32| {
        let (far, near) = (t.case(instruction, far), t.case(instruction, near));
        let extra = |c: &Case| tries(extra_bump_tries(&c.instruction_sent));
        (far.units() - near.units()) / (extra(far) - extra(near))
    };
    let tries = Tries {
        search: per_try(
            "set_referrer",
            "creates both accounts, invitee at 12 bump tries",
            "creates both accounts",
            |e| e.searched,
        ),
        check: per_try("award", "new account, 12 bump tries", "new account", |e| {
            e.checked
        }),
    };
    let one_try = |instruction: &str, case: &str| t.case(instruction, case).at_one_try(tries);
    let award = AwardUnits {
        existing_account: one_try("award", "existing account"),
        new_account: one_try("award", "new account"),
        new_account_prefunded: one_try("award", "new account, address prefunded"),
        paying_referrer: one_try("award", "existing account, pays the referrer's share"),
    };
    let one = one_try("award_batch", "1 new account");
    let new_account_row = (one_try("award_batch", "27 new accounts") - one).div_ceil(26);
    let base = one - new_account_row;
    let new_account_prefunded_row =
        (one_try("award_batch", "15 new accounts, addresses prefunded") - base).div_ceil(15);
    let award_batch = BatchUnits {
        base,
        new_account_row,
        new_account_prefunded_row,
        existing_account_row: (one_try("award_batch", "28 existing accounts") - base).div_ceil(28),
        referrer_row: (one_try("award_batch", "19 rows paying referrers") - base).div_ceil(19),
    };
    let per_id =
        (t.units("void_award_ids", "1,000 ids") - t.units("void_award_ids", "1 id")).div_ceil(999);
    let void_award_ids = VoidUnits {
        base: t.units("void_award_ids", "1 id") - per_id,
        per_id,
    };
    let mut instructions = BTreeMap::new();
    for case in &t.0 {
        if case.held_out || ["award", "award_batch", "void_award_ids"].contains(&case.instruction) {
            continue;
        }
        let worst = instructions
            .entry(case.instruction.to_string())
            .or_insert(0);
        *worst = (*worst).max(case.at_one_try(tries));
    }
    ComputeUnits {
        about: "Compute units the SBF VM metered for sbf/deploy/sparks.so (its sha256 below): \
                award and award_batch per part, every other instruction at its worst \
                measured case, each PDA the program searches or checks at one bump try. \
                Clients ask for a figure, plus bump_try for each try beyond one the \
                program searches, bump_check for each it checks above a bump the client \
                passed, plus margin_percent. \
                Measured by tests/tests/sparks/sbf/test_compute_units.rs; SPARKS_BLESS=1 \
                rewrites this file."
            .into(),
        bytecode_sha256: sparks_sbf::manifest::sha256_hex(sparks_sbf::SPARKS.elf),
        margin_percent: MARGIN_PERCENT,
        bump_try: tries.search,
        bump_check: tries.check,
        award,
        award_batch,
        void_award_ids,
        instructions,
    }
}

/// The table docs/BENCHMARKS.md keeps, limits made from `figures`.
fn markdown(t: &Cases, figures: &ComputeUnits) -> String {
    let mut out = String::from(
        "| instruction | case | units | client limit | headroom |\n| --- | --- | ---: | ---: | ---: |\n",
    );
    for c in &t.0 {
        let limit = figures.units_for(&c.instruction_sent);
        let _ = writeln!(
            out,
            "| `{}` | {}{} | {} | {} | {:.0}% |",
            c.instruction,
            c.case,
            if c.held_out { " (held out)" } else { "" },
            c.units,
            limit,
            100.0 * (f64::from(limit) - c.units as f64) / c.units as f64
        );
    }
    out
}

#[tokio::test]
async fn every_instruction_fits_the_limit_the_client_sets() {
    let cases = measure_every_instruction().await;
    let measured = figures(&cases);
    let json = format!(
        "{}\n",
        serde_json::to_string_pretty(&measured).expect("figures serialize")
    );
    println!("{}", markdown(&cases, &measured));
    if std::env::var_os("SPARKS_BLESS").is_some() {
        // The client embeds the file: the next build checks it.
        std::fs::write(FIGURES, &json).expect("write idl/compute-units.json");
        return;
    }
    println!(
        "award_batch: base {} + per row: new account {}, existing account {}, paying a referrer {}; a bump searched {}, checked {}",
        measured.award_batch.base,
        measured.award_batch.new_account_row,
        measured.award_batch.existing_account_row,
        measured.award_batch.referrer_row,
        measured.bump_try,
        measured.bump_check
    );
    assert_eq!(
        budget::measured(),
        &measured,
        "idl/compute-units.json is not what this bytecode measures: \
         `SPARKS_BLESS=1 cargo test -p sparks-tests --test sparks sbf::test_compute_units`, \
         then rebuild (the client embeds it) and commit it"
    );
    for c in &cases.0 {
        let limit = measured.units_for(&c.instruction_sent);
        assert!(
            c.units <= u64::from(limit),
            "{} ({}): {} units, the client asks for {limit}",
            c.instruction,
            c.case,
            c.units
        );
    }
}

#[tokio::test]
async fn a_ground_wallet_costs_what_the_client_counts() {
    // Strangers can pick a wallet whose SparkAccount takes many bump tries
    // (each a hash); the client counts them from the wallet, so its limit
    // still covers the award and a batch row.
    let mut f = TestFixture::new().await;
    let issuer = f.full_issuer().await;
    // The most tries a minute of search found (client/examples/grind_bumps.rs:
    // 12,987,000 wallets on 2 threads): the worst case that remains.
    let found: Pubkey = "JCqqWdUckZ7CkJ9arVHVngHKK1bzErvPHK7tpgpWX3PB"
        .parse()
        .unwrap();
    assert_eq!(spark_bump_tries(&found), 24);
    let mut wallets: Vec<(u32, Pubkey)> = [8, 14]
        .into_iter()
        .map(|tries| {
            let wallet = wallet_with_bump_tries(&format!("ground {tries}"), tries);
            (tries, wallet.pubkey())
        })
        .collect();
    wallets.push((24, found));
    for (tries, wallet) in wallets {
        let award = f.prepare_award(&issuer, &wallet, Source::Trading, 5).await;
        f.send_prepared(&award, &issuer).await.unwrap();
        let used = f.last_program_units(&sparks::ID)[0];
        let limit = budget::units_for(&award.instruction);
        println!(
            "award to a new account whose bump takes {tries} tries: {used} units, limit {limit}"
        );
        assert!(used <= u64::from(limit), "{tries} tries: {used} > {limit}");
    }
    // The dearest: the second-best wallet found (23 tries), its address
    // prefunded by a stranger first (three system CPIs).
    let second: Pubkey = "CxJJrW6DSwDzt7LuYmv43K1nwk2EjCHHyVCLqv4B4A1s"
        .parse()
        .unwrap();
    assert_eq!(spark_bump_tries(&second), 23);
    f.fund(&pda::spark(&second), 1_000_000).await;
    let award = f.prepare_award(&issuer, &second, Source::Trading, 5).await;
    f.send_prepared(&award, &issuer).await.unwrap();
    let used = f.last_program_units(&sparks::ID)[0];
    let limit = budget::units_for(&award.instruction);
    println!(
        "award to a new account at a prefunded address, 23 tries: {used} units, limit {limit}"
    );
    assert!(used <= u64::from(limit), "{used} > {limit}");
}
