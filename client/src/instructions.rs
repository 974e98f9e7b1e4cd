//! One builder per program instruction, from the program's generated
//! `accounts` and `instruction` types. Builders only assemble instructions;
//! sending them is the caller's business.

use anchor_lang::prelude::{AccountMeta, Pubkey};
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{system_program, InstructionData, ToAccountMetas};
use sparks::instructions::{
    AwardArgs, BatchRecipient, ConfigParams, CreatePerkParams, IssuerParams, UpdatePerkParams,
    WhitelistTerms,
};
use sparks::state::{Config, Source, SparkAccount};
use sparks::{accounts, instruction};

use crate::pda;

fn build(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction {
        program_id: sparks::ID,
        accounts: accounts.to_account_metas(None),
        data: data.data(),
    }
}

pub fn initialize(admin: &Pubkey, params: ConfigParams) -> Instruction {
    build(
        accounts::Initialize {
            admin: *admin,
            config: pda::config(),
            program_data: pda::program_data(),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::Initialize { params },
    )
}

pub fn update_config(admin: &Pubkey, params: ConfigParams) -> Instruction {
    build(
        accounts::UpdateConfig {
            admin: *admin,
            config: pda::config(),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::UpdateConfig { params },
    )
}

fn set_paused_accounts(admin: &Pubkey) -> accounts::SetPaused {
    accounts::SetPaused {
        admin: *admin,
        config: pda::config(),
        event_authority: pda::event_authority(),
        program: sparks::ID,
    }
}

pub fn pause(admin: &Pubkey) -> Instruction {
    build(set_paused_accounts(admin), instruction::Pause {})
}

pub fn unpause(admin: &Pubkey) -> Instruction {
    build(set_paused_accounts(admin), instruction::Unpause {})
}

pub fn propose_admin(admin: &Pubkey, new_admin: Option<Pubkey>) -> Instruction {
    build(
        accounts::ProposeAdmin {
            admin: *admin,
            config: pda::config(),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::ProposeAdmin { new_admin },
    )
}

pub fn accept_admin(new_admin: &Pubkey) -> Instruction {
    build(
        accounts::AcceptAdmin {
            new_admin: *new_admin,
            config: pda::config(),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::AcceptAdmin {},
    )
}

pub fn upsert_issuer(admin: &Pubkey, authority: &Pubkey, params: IssuerParams) -> Instruction {
    build(
        accounts::UpsertIssuer {
            admin: *admin,
            config: pda::config(),
            authority: *authority,
            issuer: pda::issuer(authority),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::UpsertIssuer { params },
    )
}

pub fn deactivate_issuer(admin: &Pubkey, authority: &Pubkey) -> Instruction {
    build(
        accounts::DeactivateIssuer {
            admin: *admin,
            config: pda::config(),
            issuer: pda::issuer(authority),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::DeactivateIssuer {},
    )
}

pub fn set_referrer(invitee: &Pubkey, payer: &Pubkey, referrer: &Pubkey) -> Instruction {
    build(
        accounts::SetReferrer {
            invitee: *invitee,
            payer: *payer,
            config: pda::config(),
            invitee_spark: pda::spark(invitee),
            referrer: *referrer,
            referrer_spark: pda::spark(referrer),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::SetReferrer {},
    )
}

/// `referrer` is the recipient's referrer wallet, if it has one: pass it
/// whenever it is known (a share the award owes is paid only through it).
pub fn award(
    issuer: &Pubkey,
    recipient: &Pubkey,
    referrer: Option<&Pubkey>,
    args: AwardArgs,
) -> Instruction {
    let (recipient_spark, recipient_bump) = pda::spark_with_bump(recipient);
    build(
        accounts::Award {
            authority: *issuer,
            config: pda::config(),
            issuer: pda::issuer(issuer),
            recipient: *recipient,
            recipient_spark,
            referrer_spark: referrer.map(pda::spark),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::Award {
            args,
            recipient_bump,
        },
    )
}

/// An award to `wallet` given its SparkAccount as last read (`None` when it
/// does not exist), naming its referrer if it has one. `award_id` is the
/// issuer's id for this award: resending the same instruction can never pay
/// twice (see `rpc` and docs/PROGRAM.md, "Awarding").
pub fn award_for_account(
    issuer: &Pubkey,
    wallet: &Pubkey,
    account: Option<&SparkAccount>,
    source: Source,
    amount: u64,
    reference: [u8; 32],
    award_id: u64,
) -> Instruction {
    let args = AwardArgs {
        source,
        amount,
        reference,
        award_id,
    };
    award(
        issuer,
        wallet,
        account.and_then(|a| a.referrer).as_ref(),
        args,
    )
}

/// One row of an `award_batch`, with what the builder knows of the
/// recipient as last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRow {
    pub wallet: Pubkey,
    pub amount: u64,
    /// The recipient's referrer, passed whenever it has one.
    pub referrer: Option<Pubkey>,
    /// Whether the row may create the recipient's account (it did not
    /// exist when read).
    pub creates_account: bool,
    /// Whether the address of that account held lamports when read (anyone
    /// may send lamports to it): creating it then takes three system CPIs
    /// (transfer, allocate, assign) instead of one.
    pub prefunded: bool,
    /// Whether the row may pay its referrer a share (it owed one when read).
    pub pays_referral: bool,
}

impl BatchRow {
    /// The row for `wallet` given its SparkAccount as last read (`None` when
    /// it does not exist). State read earlier can only overstate what a row
    /// costs: an account read as missing may exist by now, a share read as
    /// owed may be paid by now, and a referrer set since is not passed (the
    /// program then leaves its share unpaid and says so in the event).
    pub fn for_account(
        wallet: Pubkey,
        amount: u64,
        source: Source,
        config: &Config,
        account: Option<&SparkAccount>,
    ) -> Self {
        Self {
            wallet,
            amount,
            referrer: account.and_then(|a| a.referrer),
            creates_account: account.is_none(),
            prefunded: false,
            pays_referral: account.is_some_and(|a| {
                sparks::awarding::referral_owed(config, a, source, amount).is_some()
            }),
        }
    }

    /// Entries the row adds to the transaction's instruction trace at most:
    /// its event, the account creation (three CPIs on a prefunded address),
    /// the referral credit's event. Lamports sent to the address after it
    /// was read make the row cost more than this: the batch then fails with
    /// `MaxInstructionTraceLengthExceeded`, uses none of its ids, and is
    /// packed again from the state read anew.
    pub fn trace_entries(&self) -> usize {
        let creation = match (self.creates_account, self.prefunded) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 3,
        };
        1 + creation + usize::from(self.pays_referral)
    }
}

/// Awards `rows` as award ids `first_award_id ..`: the batch lands whole or
/// not at all, and never twice.
pub fn award_batch(
    issuer: &Pubkey,
    source: Source,
    reference: [u8; 32],
    first_award_id: u64,
    rows: &[BatchRow],
) -> Instruction {
    let mut metas = accounts::AwardBatch {
        authority: *issuer,
        config: pda::config(),
        issuer: pda::issuer(issuer),
        system_program: system_program::ID,
        event_authority: pda::event_authority(),
        program: sparks::ID,
    }
    .to_account_metas(None);
    let mut recipients = Vec::with_capacity(rows.len());
    for row in rows {
        let (spark, bump) = pda::spark_with_bump(&row.wallet);
        metas.push(AccountMeta::new_readonly(row.wallet, false));
        metas.push(AccountMeta::new(spark, false));
        if let Some(referrer) = row.referrer {
            metas.push(AccountMeta::new(pda::spark(&referrer), false));
        }
        recipients.push(BatchRecipient {
            amount: row.amount,
            with_referrer: row.referrer.is_some(),
            bump,
        });
    }
    Instruction {
        program_id: sparks::ID,
        accounts: metas,
        data: instruction::AwardBatch {
            args: sparks::instructions::AwardBatchArgs {
                source,
                reference,
                first_award_id,
                recipients,
            },
        }
        .data(),
    }
}

/// Gives up award ids `first_award_id .. + count` that never paid.
pub fn void_award_ids(issuer: &Pubkey, first_award_id: u64, count: u16) -> Instruction {
    build(
        accounts::VoidAwardIds {
            authority: *issuer,
            issuer: pda::issuer(issuer),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::VoidAwardIds {
            first_award_id,
            count,
        },
    )
}

pub fn revoke(admin: &Pubkey, owner: &Pubkey, amount: u64, reason: u16) -> Instruction {
    build(
        accounts::Revoke {
            admin: *admin,
            config: pda::config(),
            spark: pda::spark(owner),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::Revoke { amount, reason },
    )
}

/// `whitelist_id` must be given for NftWhitelist perks, and only for them.
pub fn create_perk(
    admin: &Pubkey,
    whitelist_id: Option<u64>,
    params: CreatePerkParams,
) -> Instruction {
    build(
        accounts::CreatePerk {
            admin: *admin,
            config: pda::config(),
            perk: pda::perk(params.id),
            whitelist: whitelist_id.map(pda::whitelist),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::CreatePerk { params },
    )
}

pub fn update_perk(admin: &Pubkey, perk_id: u64, params: UpdatePerkParams) -> Instruction {
    build(
        accounts::UpdatePerk {
            admin: *admin,
            config: pda::config(),
            perk: pda::perk(perk_id),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::UpdatePerk { params },
    )
}

/// `whitelist_id`: the perk's linked whitelist, for NftWhitelist perks.
/// `max_cost`: the most the owner agreed to pay (the cost it was shown).
pub fn redeem_perk(
    owner: &Pubkey,
    payer: &Pubkey,
    perk_id: u64,
    whitelist_id: Option<u64>,
    max_cost: u64,
) -> Instruction {
    let perk = pda::perk(perk_id);
    let whitelist = whitelist_id.map(pda::whitelist);
    build(
        accounts::RedeemPerk {
            owner: *owner,
            payer: *payer,
            config: pda::config(),
            perk,
            spark: pda::spark(owner),
            claim: pda::claim(&perk, owner),
            whitelist,
            whitelist_entry: whitelist.map(|w| pda::whitelist_entry(&w, owner)),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::RedeemPerk { max_cost },
    )
}

/// `whitelist_admin` manages the whitelist after creation (update, grant).
pub fn create_whitelist(
    admin: &Pubkey,
    id: u64,
    whitelist_admin: &Pubkey,
    terms: WhitelistTerms,
) -> Instruction {
    build(
        accounts::CreateWhitelist {
            admin: *admin,
            config: pda::config(),
            whitelist: pda::whitelist(id),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::CreateWhitelist {
            id,
            whitelist_admin: *whitelist_admin,
            terms,
        },
    )
}

pub fn update_whitelist(
    admin: &Pubkey,
    id: u64,
    terms: WhitelistTerms,
    active: bool,
) -> Instruction {
    build(
        accounts::UpdateWhitelist {
            admin: *admin,
            whitelist: pda::whitelist(id),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::UpdateWhitelist { terms, active },
    )
}

/// The whitelist's admin names its successor (`None` cancels).
pub fn propose_whitelist_admin(admin: &Pubkey, id: u64, new_admin: Option<Pubkey>) -> Instruction {
    build(
        accounts::ProposeWhitelistAdmin {
            admin: *admin,
            whitelist: pda::whitelist(id),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::ProposeWhitelistAdmin { new_admin },
    )
}

pub fn accept_whitelist_admin(new_admin: &Pubkey, id: u64) -> Instruction {
    build(
        accounts::AcceptWhitelistAdmin {
            new_admin: *new_admin,
            whitelist: pda::whitelist(id),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::AcceptWhitelistAdmin {},
    )
}

pub fn grant_whitelist(admin: &Pubkey, id: u64, wallet: &Pubkey, spots: u16) -> Instruction {
    let whitelist = pda::whitelist(id);
    let (entry, entry_bump) = sparks::onchain::whitelist_entry_address(&whitelist, wallet);
    build(
        accounts::GrantWhitelist {
            admin: *admin,
            whitelist,
            wallet: *wallet,
            entry,
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::GrantWhitelist { spots, entry_bump },
    )
}

pub fn join_whitelist(owner: &Pubkey, payer: &Pubkey, id: u64) -> Instruction {
    let whitelist = pda::whitelist(id);
    build(
        accounts::JoinWhitelist {
            owner: *owner,
            payer: *payer,
            config: pda::config(),
            whitelist,
            spark: pda::spark(owner),
            entry: pda::whitelist_entry(&whitelist, owner),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::JoinWhitelist {},
    )
}

/// Direct call (the consumer signs itself); mint programs use the CPI instead.
pub fn consume_whitelist_spot(consumer: &Pubkey, wallet: &Pubkey, id: u64) -> Instruction {
    let whitelist = pda::whitelist(id);
    build(
        accounts::ConsumeWhitelistSpot {
            consumer: *consumer,
            wallet: *wallet,
            config: pda::config(),
            whitelist,
            entry: pda::whitelist_entry(&whitelist, wallet),
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::ConsumeWhitelistSpot {},
    )
}

/// The example mint's `mint_nft`: `mint` and `token_account` are fresh keypairs
/// that sign the transaction.
pub fn example_mint_nft(
    minter: &Pubkey,
    whitelist_id: u64,
    mint: &Pubkey,
    token_account: &Pubkey,
) -> Instruction {
    let whitelist = pda::whitelist(whitelist_id);
    Instruction {
        program_id: example_mint::ID,
        accounts: example_mint::accounts::MintNft {
            minter: *minter,
            mint_authority: example_mint::minter_address().0,
            mint: *mint,
            token_account: *token_account,
            sparks_config: pda::config(),
            whitelist,
            whitelist_entry: pda::whitelist_entry(&whitelist, minter),
            sparks_event_authority: pda::event_authority(),
            sparks_program: sparks::ID,
            token_program: example_mint::TOKEN_PROGRAM_ID,
            system_program: system_program::ID,
        }
        .to_account_metas(None),
        data: example_mint::instruction::MintNft {}.data(),
    }
}
