use anchor_lang::prelude::*;

use crate::account_io::{load, load_or_create_spark, store};
use crate::awarding::{apply_award, check_award_allowed};
use crate::error::SparksError;
use crate::events::SparksAwarded;
use crate::state::{Config, Issuer, Source, SparkAccount};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwardArgs {
    pub source: Source,
    pub amount: u64,
    /// The issuer's own id for this award (trade id, invoice…), kept in the event.
    pub reference: [u8; 32],
    /// The recipient SparkAccount's `seq` as the issuer last read it (0 if it
    /// does not exist). A retry of an award that already landed sees a newer
    /// `seq` and is refused, so an award is paid at most once.
    pub expected_seq: u64,
}

/// Awards Sparks to a wallet, creating its SparkAccount if needed (the issuer
/// pays the rent, so the wallet needs no SOL), and pays the referrer's share.
///
/// Accounts: `[writable, signer]` issuer authority, `[writable]` config,
/// `[writable]` issuer PDA, recipient wallet, `[writable]` recipient
/// SparkAccount, optional `[writable]` referrer SparkAccount (required when the
/// award pays a referral share), system program, event authority, program.
#[event_cpi]
#[derive(Accounts)]
pub struct Award<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Issuer::SEED, authority.key().as_ref()], bump = issuer.bump)]
    pub issuer: Account<'info, Issuer>,
    /// CHECK: any wallet can receive Sparks; it does not sign.
    pub recipient: UncheckedAccount<'info>,
    /// CHECK: created or loaded by hand; address fixed by seeds.
    #[account(mut, seeds = [SparkAccount::SEED, recipient.key().as_ref()], bump)]
    pub recipient_spark: UncheckedAccount<'info>,
    /// CHECK: loaded by hand when the award pays a referral share; its data
    /// (program-owned, owner == the recipient's referrer) proves its address.
    #[account(mut)]
    pub referrer_spark: Option<UncheckedAccount<'info>>,
    pub system_program: Program<'info, System>,
}

pub fn handle_award(ctx: Context<Award>, args: AwardArgs) -> Result<()> {
    // Guards.
    check_award_allowed(&ctx.accounts.config, &ctx.accounts.issuer, args.source)?;

    // Accounts.
    let (mut recipient, _) = load_or_create_spark(
        &ctx.accounts.authority.to_account_info(),
        &ctx.accounts.recipient_spark,
        ctx.accounts.recipient.key(),
        ctx.bumps.recipient_spark,
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
        &mut ctx.accounts.config,
        &mut ctx.accounts.issuer,
        &mut recipient,
        referrer.as_mut(),
        args.source,
        args.amount,
        args.expected_seq,
        now,
    )?;
    store(&ctx.accounts.recipient_spark, &recipient)?;
    let issuer = ctx.accounts.authority.key();
    let invitee = recipient.owner;
    emit_cpi!(SparksAwarded {
        issuer,
        source: args.source,
        amount: args.amount,
        reference: args.reference,
        batch_index: None,
        referral_from: None,
        account: recipient,
    });
    if let (Some(share), Some(referrer), Some(info)) = (referral, referrer, &referrer_info) {
        store(info, &referrer)?;
        emit_cpi!(SparksAwarded {
            issuer,
            source: Source::Referral,
            amount: share,
            reference: args.reference,
            batch_index: None,
            referral_from: Some(invitee),
            account: referrer,
        });
    }
    Ok(())
}
