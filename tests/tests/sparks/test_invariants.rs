//! Property test: random sequences of awards, batches, referrals, redemptions
//! and revocations, checked after every step against an independent model.
//!
//! Invariants: sum of balances == Config outstanding; each account's `seq`
//! grew by exactly the number of changes the model made to it; balances move
//! only as award/redeem/revoke say (nothing moves between wallets); a refused
//! operation changes nothing.

use std::collections::HashMap;

use anchor_lang::prelude::Pubkey;
use proptest::prelude::*;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::state::{PerkKind, Source, SparkAccount};
use sparks_client::instructions as ix;
use sparks_tests::{TestFixture, DEFAULT_PARAMS};

const WALLETS: usize = 6;
const PERK_ID: u64 = 1;
const PERK_COST: u64 = 50;

#[derive(Debug, Clone)]
enum Op {
    Award {
        wallet: usize,
        source: Source,
        amount: u64,
    },
    Batch {
        wallets: Vec<usize>,
        source: Source,
        amount: u64,
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
    prop_oneof![
        4 => (wallet.clone(), source(), 1..5_000u64).prop_map(|(wallet, source, amount)| Op::Award { wallet, source, amount }),
        2 => (prop::collection::btree_set(0..WALLETS, 1..4), source(), 1..2_000u64)
            .prop_map(|(w, source, amount)| Op::Batch { wallets: w.into_iter().collect(), source, amount }),
        2 => (wallet.clone(), wallet.clone()).prop_map(|(invitee, referrer)| Op::SetReferrer { invitee, referrer }),
        2 => wallet.clone().prop_map(|wallet| Op::Redeem { wallet }),
        1 => (wallet, 1..3_000u64).prop_map(|(wallet, amount)| Op::Revoke { wallet, amount }),
    ]
}

/// The model: what each account must hold, computed without the program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Model {
    accounts: HashMap<usize, Expected>,
    outstanding: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Expected {
    balance: u64,
    earned: u64,
    spent: u64,
    revoked: u64,
    by_source: [u64; Source::COUNT],
    referrer: Option<usize>,
    invitees: u32,
    first_subscription_done: bool,
    seq: u64,
}

impl Model {
    fn credit(&mut self, wallet: usize, source: Source, amount: u64) {
        let account = self.accounts.entry(wallet).or_default();
        account.balance += amount;
        account.earned += amount;
        account.by_source[source.index()] += amount;
        account.seq += 1;
        self.outstanding += amount;
    }

    /// One award row; the referral rule restated independently of the program.
    fn award(&mut self, wallet: usize, source: Source, amount: u64) {
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
        if let Some((referrer, share)) = referral.filter(|(_, share)| *share > 0) {
            self.credit(referrer, Source::Referral, share);
        }
    }

    /// Applies `op`; `Err(())` when the program must refuse it (model unchanged).
    fn apply(&mut self, op: &Op) -> Result<(), ()> {
        let mut next = self.clone();
        match op {
            Op::Award {
                wallet,
                source,
                amount,
            } => next.award(*wallet, *source, *amount),
            Op::Batch {
                wallets,
                source,
                amount,
            } => {
                // Rows carry the seq read before the batch; a row whose account
                // an earlier row changed (as a referrer) is stale: all fail.
                let before: HashMap<usize, u64> =
                    wallets.iter().map(|w| (*w, self.seq(*w))).collect();
                for wallet in wallets {
                    if next.seq(*wallet) != before[wallet] {
                        return Err(());
                    }
                    next.award(*wallet, *source, *amount);
                }
            }
            Op::SetReferrer { invitee, referrer } => {
                if invitee == referrer
                    || next
                        .accounts
                        .get(invitee)
                        .is_some_and(|a| a.referrer.is_some())
                    || next
                        .accounts
                        .get(referrer)
                        .is_some_and(|a| a.referrer == Some(*invitee))
                {
                    return Err(());
                }
                let i = next.accounts.entry(*invitee).or_default();
                i.referrer = Some(*referrer);
                i.seq += 1;
                let r = next.accounts.entry(*referrer).or_default();
                r.invitees += 1;
                r.seq += 1;
            }
            Op::Redeem { wallet } => {
                let a = next
                    .accounts
                    .get_mut(wallet)
                    .filter(|a| a.balance >= PERK_COST)
                    .ok_or(())?;
                a.balance -= PERK_COST;
                a.spent += PERK_COST;
                a.seq += 1;
                next.outstanding -= PERK_COST;
            }
            Op::Revoke { wallet, amount } => {
                let a = next
                    .accounts
                    .get_mut(wallet)
                    .filter(|a| a.balance >= *amount)
                    .ok_or(())?;
                a.balance -= amount;
                a.revoked += amount;
                a.seq += 1;
                next.outstanding -= amount;
            }
        }
        *self = next;
        Ok(())
    }

    fn seq(&self, wallet: usize) -> u64 {
        self.accounts.get(&wallet).map_or(0, |a| a.seq)
    }
}

async fn execute(f: &mut TestFixture, wallets: &[Keypair], issuer: &Keypair, op: &Op) -> bool {
    let admin = f.admin.insecure_clone();
    let key = |i: usize| wallets[i].pubkey();
    let result = match op {
        Op::Award {
            wallet,
            source,
            amount,
        } => f.award(issuer, &key(*wallet), *source, *amount).await,
        Op::Batch {
            wallets: rows,
            source,
            amount,
        } => {
            let mut batch = Vec::new();
            for wallet in rows {
                batch.push(f.batch_row(&key(*wallet), *source, *amount).await);
            }
            f.send(
                &[ix::award_batch(&issuer.pubkey(), *source, [0; 32], &batch)],
                &[issuer],
            )
            .await
        }
        Op::SetReferrer { invitee, referrer } => {
            let invitee = &wallets[*invitee];
            f.send(
                &[ix::set_referrer(
                    &invitee.pubkey(),
                    &invitee.pubkey(),
                    &key(*referrer),
                )],
                &[invitee],
            )
            .await
        }
        Op::Redeem { wallet } => {
            let owner = &wallets[*wallet];
            f.send(
                &[ix::redeem_perk(
                    &owner.pubkey(),
                    &owner.pubkey(),
                    PERK_ID,
                    None,
                )],
                &[owner],
            )
            .await
        }
        Op::Revoke { wallet, amount } => {
            f.send(
                &[ix::revoke(&admin.pubkey(), &key(*wallet), *amount, 0)],
                &[&admin],
            )
            .await
        }
    };
    result.is_ok()
}

async fn assert_matches(
    f: &mut TestFixture,
    wallets: &[Keypair],
    model: &Model,
    step: usize,
    op: &Op,
) {
    let index_of: HashMap<Pubkey, usize> = wallets
        .iter()
        .enumerate()
        .map(|(i, w)| (w.pubkey(), i))
        .collect();
    let mut sum = 0u64;
    for (i, wallet) in wallets.iter().enumerate() {
        let actual: Option<SparkAccount> = f.spark(&wallet.pubkey()).await;
        let expected = model.accounts.get(&i);
        match (actual, expected) {
            (None, None) => {}
            (Some(a), Some(e)) => {
                sum += a.balance;
                let actual = Expected {
                    balance: a.balance,
                    earned: a.lifetime_earned,
                    spent: a.lifetime_spent,
                    revoked: a.lifetime_revoked,
                    by_source: a.earned_by_source,
                    referrer: a.referrer.map(|r| index_of[&r]),
                    invitees: a.invitee_count,
                    first_subscription_done: a.first_subscription_rewarded,
                    seq: a.seq,
                };
                assert_eq!(&actual, e, "wallet {i} after step {step} ({op:?})");
                assert_eq!(a.lifetime_earned, a.earned_by_source.iter().sum::<u64>());
                assert_eq!(
                    a.balance,
                    a.lifetime_earned - a.lifetime_spent - a.lifetime_revoked
                );
            }
            (a, e) => panic!("wallet {i} after step {step} ({op:?}): chain {a:?}, model {e:?}"),
        }
    }
    let config = f.config().await;
    assert_eq!(
        sum, config.outstanding,
        "sum of balances != outstanding after step {step}"
    );
    assert_eq!(config.outstanding, model.outstanding);
    assert_eq!(
        config.outstanding,
        config.total_awarded - config.total_spent - config.total_revoked
    );
}

async fn run(ops: Vec<Op>) {
    let mut f = TestFixture::new().await;
    let admin = f.admin.insecure_clone();
    f.send_ok(
        &[ix::create_perk(
            &admin.pubkey(),
            None,
            crate::test_perks::perk_params(PERK_ID, PerkKind::Custom, PERK_COST),
        )],
        &[&admin],
    )
    .await;
    let issuer = f.full_issuer().await;
    let mut wallets = Vec::new();
    for _ in 0..WALLETS {
        wallets.push(f.funded_wallet(100_000_000).await);
    }
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let expected = model.apply(op).is_ok();
        let landed = execute(&mut f, &wallets, &issuer, op).await;
        assert_eq!(
            landed, expected,
            "step {step} ({op:?}): chain {landed}, model {expected}"
        );
        assert_matches(&mut f, &wallets, &model, step, op).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_iters: 64, ..ProptestConfig::default() })]

    /// 6 cases x 60 operations = 360 random operations per run.
    #[test]
    fn random_operations_keep_every_invariant(ops in prop::collection::vec(op(), 60)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
