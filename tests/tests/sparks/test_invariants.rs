//! Property test of the award contract under ordinary traffic: several
//! issuers build awards and batches from the chain's state, keep them in
//! flight and send them in any order, re-send them (the same transaction
//! again, or re-signed as after a blockhash expired), while third parties
//! act on the same wallets (naming them as referrers, earning them referral
//! credits, redeeming, being revoked). An independent model says what each
//! step must do.
//!
//! Checked after every step: every award id is paid exactly once (a send
//! lands exactly when its ids were unused, and its ids are used after);
//! no award is refused because of activity it did not cause; every
//! account's balance, lifetime figures, per-source totals, referrer and
//! `seq` are the model's; each issuer minted what the model says.

use std::collections::{BTreeSet, HashMap};

use anchor_lang::prelude::Pubkey;
use proptest::prelude::*;
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::state::{AwardIdState, PerkKind, Source, SparkAccount};
use sparks_client::instructions as ix;
use super::TestFixture;
use sparks_tests::{PreparedAward, DEFAULT_PARAMS};

const WALLETS: usize = 6;
const ISSUERS: usize = 3;
const PERK_ID: u64 = 1;
const PERK_COST: u64 = 50;

#[derive(Debug, Clone)]
enum Op {
    /// An issuer builds an award (one row) or a batch from the state now.
    Prepare {
        issuer: usize,
        rows: Vec<(usize, u64)>,
        source: Source,
    },
    /// Sends a prepared award in a new transaction (a first send, or a
    /// re-send signed anew as after its blockhash expired).
    Send {
        which: usize,
    },
    /// Sends the very transaction of an earlier send again.
    SendSameTransactionAgain {
        which: usize,
    },
    SetReferrer {
        invitee: usize,
        referrer: usize,
    },
    Redeem {
        wallet: usize,
    },
    Revoke {
        wallet: usize,
        amount: u64,
    },
}

fn source() -> impl Strategy<Value = Source> {
    prop::sample::select(Source::ALL.to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    let wallet = 0..WALLETS;
    let rows = prop::collection::vec((0..WALLETS, 1..3_000u64), 1..5);
    prop_oneof![
        5 => (0..ISSUERS, rows, source()).prop_map(|(issuer, rows, source)| Op::Prepare { issuer, rows, source }),
        5 => any::<usize>().prop_map(|which| Op::Send { which }),
        1 => any::<usize>().prop_map(|which| Op::SendSameTransactionAgain { which }),
        2 => (wallet.clone(), wallet.clone()).prop_map(|(invitee, referrer)| Op::SetReferrer { invitee, referrer }),
        2 => wallet.clone().prop_map(|wallet| Op::Redeem { wallet }),
        1 => (wallet, 1..3_000u64).prop_map(|(wallet, amount)| Op::Revoke { wallet, amount }),
    ]
}

/// The model: what each account must hold, computed without the program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Model {
    accounts: HashMap<usize, Expected>,
    minted: [u64; ISSUERS],
    /// Award ids used, per issuer.
    used: [BTreeSet<u64>; ISSUERS],
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Expected {
    balance: u64,
    earned: u64,
    spent: u64,
    revoked: u64,
    /// Revoked beyond the balance, not yet repaid (the program derives it).
    debt: u64,
    by_source: [u64; Source::COUNT],
    referrer: Option<usize>,
    invitees: u32,
    first_subscription_done: bool,
    seq: u64,
}

/// An award in flight, with what its builder knew.
struct InFlight {
    prepared: PreparedAward,
    issuer: usize,
    source: Source,
    /// Each row: wallet, amount, and whether its referrer's account is
    /// passed (the wallet had a referrer when the award was built).
    rows: Vec<(usize, u64, bool)>,
    /// The last transaction that carried it, and whether it landed.
    sent: Option<(Transaction, bool)>,
}

impl Model {
    fn credit(&mut self, wallet: usize, source: Source, amount: u64) {
        let account = self.accounts.entry(wallet).or_default();
        // A clawback's debt is repaid first.
        let repaid = amount.min(account.debt);
        account.debt -= repaid;
        account.balance += amount - repaid;
        account.earned += amount;
        account.by_source[source.index()] += amount;
        account.seq += 1;
    }

    /// One award row; the referral rule restated independently of the
    /// program. A share is paid only through a passed referrer account.
    fn award(&mut self, issuer: usize, wallet: usize, source: Source, amount: u64, passed: bool) {
        let account = self.accounts.entry(wallet).or_default().clone();
        let referral = match (account.referrer, source) {
            (Some(r), Source::Trading) => Some((
                r,
                amount * u64::from(DEFAULT_PARAMS.referral_trade_share_bps) / 10_000,
            )),
            (Some(r), Source::Subscription) if !account.first_subscription_done => {
                Some((r, DEFAULT_PARAMS.first_subscription_bonus))
            }
            _ => None,
        };
        if source == Source::Subscription {
            self.accounts
                .get_mut(&wallet)
                .unwrap()
                .first_subscription_done = true;
        }
        self.credit(wallet, source, amount);
        self.minted[issuer] += amount;
        if let Some((referrer, share)) = referral.filter(|(_, share)| *share > 0 && passed) {
            self.credit(referrer, Source::Referral, share);
            self.minted[issuer] += share;
        }
    }

    /// Sends `award`: lands exactly when none of its ids was used.
    fn send(&mut self, award: &InFlight) -> bool {
        let ids =
            award.prepared.first_award_id..award.prepared.first_award_id + award.prepared.count;
        if ids.clone().any(|id| self.used[award.issuer].contains(&id)) {
            return false;
        }
        self.used[award.issuer].extend(ids);
        for (wallet, amount, passed) in &award.rows {
            self.award(award.issuer, *wallet, award.source, *amount, *passed);
        }
        true
    }

    fn set_referrer(&mut self, invitee: usize, referrer: usize) -> bool {
        if invitee == referrer
            || self
                .accounts
                .get(&invitee)
                .is_some_and(|a| a.referrer.is_some())
            || self
                .accounts
                .get(&referrer)
                .is_some_and(|a| a.referrer == Some(invitee))
        {
            return false;
        }
        let i = self.accounts.entry(invitee).or_default();
        i.referrer = Some(referrer);
        i.seq += 1;
        let r = self.accounts.entry(referrer).or_default();
        r.invitees += 1;
        r.seq += 1;
        true
    }

    fn take(&mut self, wallet: usize, amount: u64, revoke: bool) -> bool {
        let Some(a) = self.accounts.get_mut(&wallet) else {
            return false;
        };
        if revoke {
            // Up to what it earned in all; beyond the balance, a debt.
            if a.revoked + amount > a.earned {
                return false;
            }
            let taken = amount.min(a.balance);
            a.balance -= taken;
            a.debt += amount - taken;
            a.revoked += amount;
        } else {
            if a.balance < amount {
                return false;
            }
            a.balance -= amount;
            a.spent += amount;
        }
        a.seq += 1;
        true
    }
}

struct World {
    f: TestFixture,
    wallets: Vec<Keypair>,
    issuers: Vec<Keypair>,
    in_flight: Vec<InFlight>,
    model: Model,
}

impl World {
    async fn new() -> Self {
        let mut f = TestFixture::new().await;
        let admin = f.admin.insecure_clone();
        f.send_ok(
            &[ix::create_perk(
                &admin.pubkey(),
                None,
                super::test_perks::perk_params(PERK_ID, PerkKind::Custom, PERK_COST),
            )],
            &[&admin],
        )
        .await;
        let mut issuers = Vec::new();
        for _ in 0..ISSUERS {
            issuers.push(f.full_issuer().await);
        }
        let mut wallets = Vec::new();
        for _ in 0..WALLETS {
            wallets.push(f.funded_wallet(100_000_000).await);
        }
        Self {
            f,
            wallets,
            issuers,
            in_flight: Vec::new(),
            model: Model::default(),
        }
    }

    fn key(&self, wallet: usize) -> Pubkey {
        self.wallets[wallet].pubkey()
    }

    /// Runs `op` on the chain and in the model; they must agree.
    async fn step(&mut self, step: usize, op: &Op) {
        let admin = self.f.admin.insecure_clone();
        let (landed, expected) = match op {
            Op::Prepare {
                issuer,
                rows,
                source,
            } => {
                let issuer_key = self.issuers[*issuer].insecure_clone();
                let pairs: Vec<(Pubkey, u64)> =
                    rows.iter().map(|(w, a)| (self.key(*w), *a)).collect();
                let prepared = if rows.len() == 1 {
                    self.f
                        .prepare_award(&issuer_key, &pairs[0].0, *source, pairs[0].1)
                        .await
                } else {
                    self.f.prepare_batch(&issuer_key, *source, &pairs).await
                };
                let rows = rows
                    .iter()
                    .map(|(w, a)| {
                        let known = self.model.accounts.get(w).and_then(|x| x.referrer);
                        (*w, *a, known.is_some())
                    })
                    .collect();
                self.in_flight.push(InFlight {
                    prepared,
                    issuer: *issuer,
                    source: *source,
                    rows,
                    sent: None,
                });
                return;
            }
            Op::Send { which } => {
                if self.in_flight.is_empty() {
                    return;
                }
                let index = which % self.in_flight.len();
                let issuer = self.issuers[self.in_flight[index].issuer].insecure_clone();
                let tx = self
                    .f
                    .sign(
                        &[self.in_flight[index].prepared.instruction.clone()],
                        &[&issuer],
                    )
                    .await;
                let landed = self.f.send_transaction(tx.clone()).await.is_ok();
                self.in_flight[index].sent = Some((tx, landed));
                let expected = self.model.send(&self.in_flight[index]);
                (landed, expected)
            }
            Op::SendSameTransactionAgain { which } => {
                let sent: Vec<&(Transaction, bool)> = self
                    .in_flight
                    .iter()
                    .filter_map(|a| a.sent.as_ref())
                    .collect();
                if sent.is_empty() {
                    return;
                }
                let (tx, landed_before) = sent[which % sent.len()].clone();
                // The runtime knows the signature: it answers the recorded
                // outcome and runs nothing (the check below sees no change).
                let again = self.f.ctx.banks_client.process_transaction(tx).await;
                (again.is_ok(), landed_before)
            }
            Op::SetReferrer { invitee, referrer } => {
                let invitee_key = self.wallets[*invitee].insecure_clone();
                let landed = self
                    .f
                    .send(
                        &[ix::set_referrer(
                            &invitee_key.pubkey(),
                            &invitee_key.pubkey(),
                            &self.key(*referrer),
                        )],
                        &[&invitee_key],
                    )
                    .await
                    .is_ok();
                (landed, self.model.set_referrer(*invitee, *referrer))
            }
            Op::Redeem { wallet } => {
                let owner = self.wallets[*wallet].insecure_clone();
                let landed = self
                    .f
                    .send(
                        &[ix::redeem_perk(
                            &owner.pubkey(),
                            &owner.pubkey(),
                            PERK_ID,
                            None,
                            PERK_COST,
                        )],
                        &[&owner],
                    )
                    .await
                    .is_ok();
                (landed, self.model.take(*wallet, PERK_COST, false))
            }
            Op::Revoke { wallet, amount } => {
                let landed = self
                    .f
                    .send(
                        &[ix::revoke(&admin.pubkey(), &self.key(*wallet), *amount, 0)],
                        &[&admin],
                    )
                    .await
                    .is_ok();
                (landed, self.model.take(*wallet, *amount, true))
            }
        };
        assert_eq!(
            landed, expected,
            "step {step} ({op:?}): chain {landed}, model {expected}"
        );
        self.check(step, op).await;
    }

    async fn check(&mut self, step: usize, op: &Op) {
        let index_of: HashMap<Pubkey, usize> = self
            .wallets
            .iter()
            .enumerate()
            .map(|(i, w)| (w.pubkey(), i))
            .collect();
        for i in 0..WALLETS {
            let actual: Option<SparkAccount> = self.f.spark(&self.key(i)).await;
            let expected = self.model.accounts.get(&i);
            match (actual, expected) {
                (None, None) => {}
                (Some(a), Some(e)) => {
                    let actual = Expected {
                        balance: a.balance,
                        earned: a.lifetime_earned,
                        spent: a.lifetime_spent,
                        revoked: a.lifetime_revoked,
                        debt: a.debt(),
                        by_source: a.earned_by_source,
                        referrer: a.referrer.map(|r| index_of[&r]),
                        invitees: a.invitee_count,
                        first_subscription_done: a.first_subscription_rewarded,
                        seq: a.seq,
                    };
                    assert_eq!(&actual, e, "wallet {i} after step {step} ({op:?})");
                }
                (a, e) => panic!("wallet {i} after step {step} ({op:?}): chain {a:?}, model {e:?}"),
            }
        }
        for (n, issuer) in self.issuers.iter().enumerate() {
            let state = self.f.issuer_account(&issuer.pubkey()).await;
            assert_eq!(
                state.total_minted, self.model.minted[n],
                "issuer {n} after step {step}"
            );
            for award in self.in_flight.iter().filter(|a| a.issuer == n) {
                let first = award.prepared.first_award_id;
                let used = self.model.used[n].contains(&first);
                assert_eq!(
                    state.award_id_state(first) == AwardIdState::Used,
                    used,
                    "issuer {n} award id {first} after step {step}"
                );
            }
        }
    }
}

async fn run(ops: Vec<Op>) {
    let mut world = World::new().await;
    for (step, op) in ops.iter().enumerate() {
        world.step(step, op).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 64, ..ProptestConfig::default() })]

    /// 6 cases x 80 operations = 480 random operations per run.
    #[test]
    fn awards_in_flight_pay_exactly_once_whatever_else_happens(ops in prop::collection::vec(op(), 80)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
