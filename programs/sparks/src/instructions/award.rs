use anchor_lang::prelude::*;

use crate::account_io::{load, load_or_create_spark_checked, store};
use crate::awarding::{apply_award, check_award_allowed, Referral};
use crate::emitter::EventEmitter;
use crate::error::SparksError;
use crate::events::SparksAwarded;
use crate::state::{Config, Issuer, Source, SparkAccount};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwardArgs {
    pub source: Source,
    pub amount: u64,
    /// The issuer's own reference (trade id, invoice…), kept in the event.
    pub reference: [u8; 32],
    /// The issuer's id for this award: paid at most once, refused as
    /// `AwardIdUsed` ever after (see docs/PROGRAM.md, "Awarding").
    pub award_id: u64,
}

/// Awards Sparks to a wallet, creating its SparkAccount if needed (the issuer
/// pays the rent, so the wallet needs no SOL), and pays the referrer's share.
///
/// `recipient_bump` is the bump of the recipient's SparkAccount PDA: checked
/// when the award creates the account (it must be the canonical one),
/// unused otherwise. Passing it spares a search a stranger could make long
/// by picking a costly wallet (see `pda`).
///
/// Accounts: `[writable, signer]` issuer authority, config, `[writable]`
/// issuer PDA, recipient wallet, `[writable]` recipient SparkAccount,
/// optional `[writable]` referrer SparkAccount (pass it whenever the
/// recipient has a referrer; without it a share owed is left unpaid),
/// system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct Award<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Issuer::SEED, authority.key().as_ref()], bump = issuer.bump)]
    pub issuer: Box<Account<'info, Issuer>>,
    /// CHECK: any wallet can receive Sparks; it does not sign.
    pub recipient: UncheckedAccount<'info>,
    /// CHECK: loaded by hand (its data proves its address) or created at the address `recipient_bump` is checked to make.
    #[account(mut)]
    pub recipient_spark: UncheckedAccount<'info>,
    /// CHECK: loaded by hand; its data (program-owned, owner == the
    /// recipient's referrer) proves its address.
    #[account(mut)]
    pub referrer_spark: Option<UncheckedAccount<'info>>,
    pub system_program: Program<'info, System>,
}

pub fn handle_award(ctx: Context<Award>, args: AwardArgs, recipient_bump: u8) -> Result<()> {
    // Guards.
    check_award_allowed(&ctx.accounts.config, &ctx.accounts.issuer, args.source)?;
    ctx.accounts.issuer.use_award_ids(args.award_id, 1)?;

    // Accounts.
    let (mut recipient, _) = load_or_create_spark_checked(
        &ctx.accounts.authority.to_account_info(),
        &ctx.accounts.recipient_spark,
        ctx.accounts.recipient.key(),
        recipient_bump,
    )?;
    let referrer_info = ctx
        .accounts
        .referrer_spark
        .as_ref()
        .map(|a| a.to_account_info());
    let mut referrer = match &referrer_info {
        Some(info) if info.key() != ctx.accounts.recipient_spark.key() => {
            Some(load::<SparkAccount>(info)?)
        }
        Some(_) => return err!(SparksError::ReferrerAccountMismatch),
        None => None,
    };

    // State change.
    let now = Clock::get()?.unix_timestamp;
    let referral = apply_award(
        &ctx.accounts.config,
        &mut ctx.accounts.issuer,
        &mut recipient,
        referrer.as_mut(),
        args.source,
        args.amount,
        now,
    )?;
    store(&ctx.accounts.recipient_spark, &recipient)?;
    let mut events = EventEmitter::new(&ctx.accounts.event_authority);
    let issuer = ctx.accounts.authority.key();
    let invitee = recipient.owner;
    events.emit(&SparksAwarded {
        issuer,
        source: args.source,
        amount: args.amount,
        reference: args.reference,
        award_id: args.award_id,
        referral_from: None,
        referral_unpaid: match referral {
            Referral::Unpaid(share) => share,
            _ => 0,
        },
        account: recipient,
    })?;
    if let (Referral::Paid(share), Some(referrer), Some(info)) =
        (referral, referrer, &referrer_info)
    {
        store(info, &referrer)?;
        events.emit(&SparksAwarded {
            issuer,
            source: Source::Referral,
            amount: share,
            reference: args.reference,
            award_id: args.award_id,
            referral_from: Some(invitee),
            referral_unpaid: 0,
            account: referrer,
        })?;
    }
    Ok(())
}
