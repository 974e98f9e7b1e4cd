use anchor_lang::prelude::*;

use crate::account_io::{is_uninitialized, load, load_or_create_spark, store};
use crate::awarding::{apply_award, check_award_allowed, referral_owed};
use crate::constants::MAX_BATCH_RECIPIENTS;
use crate::error::SparksError;
use crate::events::SparksAwarded;
use crate::state::{Config, Issuer, Source, SparkAccount};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchRecipient {
    pub amount: u64,
    /// As in [`crate::instructions::AwardArgs::expected_seq`].
    pub expected_seq: u64,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct AwardBatchArgs {
    pub source: Source,
    /// One reference for the batch; each award's event also carries its index.
    pub reference: [u8; 32],
    pub recipients: Vec<BatchRecipient>,
}

/// Awards one source to many wallets in one transaction, with the same rules
/// as `award`; one bad row fails the whole batch.
///
/// Accounts: `[writable, signer]` issuer authority, `[writable]` config,
/// `[writable]` issuer PDA, system program, event authority, program; then in
/// remaining accounts, per recipient in order: wallet, `[writable]` its
/// SparkAccount, and `[writable]` its referrer's SparkAccount only when this
/// award pays the referrer (see `awarding::referral_owed`).
#[event_cpi]
#[derive(Accounts)]
pub struct AwardBatch<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(mut, seeds = [Config::SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut, seeds = [Issuer::SEED, authority.key().as_ref()], bump = issuer.bump)]
    pub issuer: Account<'info, Issuer>,
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

    let payer = ctx.accounts.authority.to_account_info();
    let issuer_key = ctx.accounts.authority.key();
    let now = Clock::get()?.unix_timestamp;
    let mut remaining = ctx.remaining_accounts.iter();
    for (index, row) in args.recipients.iter().enumerate() {
        // Accounts. Each account is loaded and stored within its row, so a
        // wallet (or referrer) that appears twice sees its earlier rows.
        let wallet = remaining.next().ok_or(SparksError::BatchAccountsMismatch)?;
        let spark_info = remaining.next().ok_or(SparksError::BatchAccountsMismatch)?;
        let bump = if is_uninitialized(spark_info) {
            let (address, bump) = Pubkey::find_program_address(
                &[SparkAccount::SEED, wallet.key.as_ref()],
                &crate::ID,
            );
            require_keys_eq!(address, spark_info.key(), SparksError::InvalidPda);
            bump
        } else {
            0 // unused: an existing account is verified by its data
        };
        let (mut recipient, _) = load_or_create_spark(&payer, spark_info, wallet.key(), bump)?;
        let referrer_info =
            match referral_owed(&ctx.accounts.config, &recipient, args.source, row.amount) {
                Some(_) => Some(
                    remaining
                        .next()
                        .ok_or(SparksError::ReferrerAccountMissing)?,
                ),
                None => None,
            };
        let mut referrer = match referrer_info {
            Some(info) => Some(load::<SparkAccount>(info)?),
            None => None,
        };

        // State change.
        let referral = apply_award(
            &mut ctx.accounts.config,
            &mut ctx.accounts.issuer,
            &mut recipient,
            referrer.as_mut(),
            args.source,
            row.amount,
            row.expected_seq,
            now,
        )?;
        store(spark_info, &recipient)?;
        let batch_index = Some(u16::try_from(index).map_err(|_| SparksError::BatchSizeOutOfRange)?);
        let invitee = recipient.owner;
        emit_cpi!(SparksAwarded {
            issuer: issuer_key,
            source: args.source,
            amount: row.amount,
            reference: args.reference,
            batch_index,
            referral_from: None,
            account: recipient,
        });
        if let (Some(share), Some(referrer), Some(info)) = (referral, referrer, referrer_info) {
            store(info, &referrer)?;
            emit_cpi!(SparksAwarded {
                issuer: issuer_key,
                source: Source::Referral,
                amount: share,
                reference: args.reference,
                batch_index,
                referral_from: Some(invitee),
                account: referrer,
            });
        }
    }
    require!(
        remaining.next().is_none(),
        SparksError::BatchAccountsMismatch
    );
    Ok(())
}
