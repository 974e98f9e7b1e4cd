use anchor_lang::prelude::*;

use crate::account_io::{load, load_or_create_spark_checked, store};
use crate::awarding::{apply_award, check_award_allowed, Referral};
use crate::constants::MAX_BATCH_RECIPIENTS;
use crate::emitter::EventEmitter;
use crate::error::SparksError;
use crate::events::SparksAwarded;
use crate::state::{Config, Issuer, Source, SparkAccount};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchRecipient {
    pub amount: u64,
    /// Whether the recipient's referrer's SparkAccount follows its own in the
    /// remaining accounts. Pass it whenever the recipient has a referrer;
    /// without it a share owed is left unpaid (and said so in the event).
    pub with_referrer: bool,
    /// The bump of the recipient's SparkAccount PDA: checked when the row
    /// creates the account (it must be the canonical one), unused otherwise.
    pub bump: u8,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AwardBatchArgs {
    pub source: Source,
    /// One reference for the batch, kept in every event.
    pub reference: [u8; 32],
    /// Row `i` is award id `first_award_id + i`; the ids are used all at
    /// once, so a batch lands whole or not at all.
    pub first_award_id: u64,
    pub recipients: Vec<BatchRecipient>,
}

/// Awards one source to many wallets in one transaction, with the same rules
/// as `award`. A wallet may appear in several rows, and as another row's
/// referrer: each row sees the rows before it.
///
/// Accounts: `[writable, signer]` issuer authority, config, `[writable]`
/// issuer PDA, system program, event authority, program; then in remaining
/// accounts, per recipient in order: wallet, `[writable]` its SparkAccount,
/// and `[writable]` its referrer's SparkAccount when the row says
/// `with_referrer`.
#[event_cpi]
#[derive(Accounts)]
pub struct AwardBatch<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Issuer::SEED, authority.key().as_ref()], bump = issuer.bump)]
    pub issuer: Box<Account<'info, Issuer>>,
    pub system_program: Program<'info, System>,
}

pub fn handle_award_batch<'info>(
    ctx: Context<'info, AwardBatch<'info>>,
    args: AwardBatchArgs,
) -> Result<()> {
    // Guards.
    require!(
        !args.recipients.is_empty() && args.recipients.len() <= MAX_BATCH_RECIPIENTS,
        SparksError::BatchSizeOutOfRange
    );
    check_award_allowed(&ctx.accounts.config, &ctx.accounts.issuer, args.source)?;
    ctx.accounts
        .issuer
        .use_award_ids(args.first_award_id, args.recipients.len() as u64)?;

    let payer = ctx.accounts.authority.to_account_info();
    let issuer_key = ctx.accounts.authority.key();
    let now = Clock::get()?.unix_timestamp;
    let mut events = EventEmitter::new(&ctx.accounts.event_authority);
    let mut remaining = ctx.remaining_accounts.iter();
    for (index, row) in args.recipients.iter().enumerate() {
        // Accounts. Each account is loaded and stored within its row, so a
        // wallet (or referrer) that appears twice sees its earlier rows.
        let wallet = remaining.next().ok_or(SparksError::BatchAccountsMismatch)?;
        let spark_info = remaining.next().ok_or(SparksError::BatchAccountsMismatch)?;
        let referrer_info = if row.with_referrer {
            Some(remaining.next().ok_or(SparksError::BatchAccountsMismatch)?)
        } else {
            None
        };
        let (mut recipient, _) =
            load_or_create_spark_checked(&payer, spark_info, wallet.key(), row.bump)?;
        let mut referrer = match referrer_info {
            Some(info) if info.key() == spark_info.key() => {
                return err!(SparksError::ReferrerAccountMismatch)
            }
            Some(info) => Some(load::<SparkAccount>(info)?),
            None => None,
        };

        // State change.
        let referral = apply_award(
            &ctx.accounts.config,
            &mut ctx.accounts.issuer,
            &mut recipient,
            referrer.as_mut(),
            args.source,
            row.amount,
            now,
        )?;
        store(spark_info, &recipient)?;
        let award_id = args.first_award_id + index as u64;
        let invitee = recipient.owner;
        events.emit(&SparksAwarded {
            issuer: issuer_key,
            source: args.source,
            amount: row.amount,
            reference: args.reference,
            award_id,
            referral_from: None,
            referral_unpaid: match referral {
                Referral::Unpaid(share) => share,
                _ => 0,
            },
            account: recipient,
        })?;
        if let (Referral::Paid(share), Some(referrer), Some(info)) =
            (referral, referrer, referrer_info)
        {
            store(info, &referrer)?;
            events.emit(&SparksAwarded {
                issuer: issuer_key,
                source: Source::Referral,
                amount: share,
                reference: args.reference,
                award_id,
                referral_from: Some(invitee),
                referral_unpaid: 0,
                account: referrer,
            })?;
        }
    }
    require!(
        remaining.next().is_none(),
        SparksError::BatchAccountsMismatch
    );
    Ok(())
}
