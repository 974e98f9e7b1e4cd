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

/// `referrer` is the recipient's referrer wallet, if it has one; pass it
/// whenever it is known (the program needs it when the award pays a share).
pub fn award(
    issuer: &Pubkey,
    recipient: &Pubkey,
    referrer: Option<&Pubkey>,
    args: AwardArgs,
) -> Instruction {
    build(
        accounts::Award {
            authority: *issuer,
            config: pda::config(),
            issuer: pda::issuer(issuer),
            recipient: *recipient,
            recipient_spark: pda::spark(recipient),
            referrer_spark: referrer.map(pda::spark),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::Award { args },
    )
}

/// An award to `wallet` given its SparkAccount as last read (`None` when it
/// does not exist): sends its `seq` as `expected_seq` and names its referrer.
/// Build it once and resend the same instruction on retry (see `rpc`).
pub fn award_for_account(
    issuer: &Pubkey,
    wallet: &Pubkey,
    account: Option<&SparkAccount>,
    source: Source,
    amount: u64,
    reference: [u8; 32],
) -> Instruction {
    let args = AwardArgs {
        source,
        amount,
        reference,
        expected_seq: account.map_or(0, |a| a.seq),
    };
    award(
        issuer,
        wallet,
        account.and_then(|a| a.referrer).as_ref(),
        args,
    )
}

/// One row of an `award_batch`, with what the builder must know of the
/// recipient's state: its referrer, when this award pays one a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRow {
    pub wallet: Pubkey,
    pub amount: u64,
    pub expected_seq: u64,
    /// The referrer to credit, only when the program will pay it for this row
    /// (see `sparks::awarding::referral_owed`).
    pub paid_referrer: Option<Pubkey>,
}

impl BatchRow {
    /// The row for `wallet` given its SparkAccount as last read (`None` when it
    /// does not exist): its `seq`, and its referrer where the program's own
    /// rule (`referral_owed`) says this award pays it.
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
            expected_seq: account.map_or(0, |a| a.seq),
            paid_referrer: account.and_then(|a| {
                sparks::awarding::referral_owed(config, a, source, amount).and(a.referrer)
            }),
        }
    }
}

pub fn award_batch(
    issuer: &Pubkey,
    source: Source,
    reference: [u8; 32],
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
    for row in rows {
        metas.push(AccountMeta::new_readonly(row.wallet, false));
        metas.push(AccountMeta::new(pda::spark(&row.wallet), false));
        if let Some(referrer) = row.paid_referrer {
            metas.push(AccountMeta::new(pda::spark(&referrer), false));
        }
    }
    let recipients = rows
        .iter()
        .map(|row| BatchRecipient {
            amount: row.amount,
            expected_seq: row.expected_seq,
        })
        .collect();
    Instruction {
        program_id: sparks::ID,
        accounts: metas,
        data: instruction::AwardBatch {
            args: sparks::instructions::AwardBatchArgs {
                source,
                reference,
                recipients,
            },
        }
        .data(),
    }
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
pub fn redeem_perk(
    owner: &Pubkey,
    payer: &Pubkey,
    perk_id: u64,
    whitelist_id: Option<u64>,
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
        instruction::RedeemPerk {},
    )
}

pub fn create_whitelist(admin: &Pubkey, id: u64, terms: WhitelistTerms) -> Instruction {
    build(
        accounts::CreateWhitelist {
            admin: *admin,
            config: pda::config(),
            whitelist: pda::whitelist(id),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::CreateWhitelist { id, terms },
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

pub fn grant_whitelist(admin: &Pubkey, id: u64, wallet: &Pubkey, spots: u16) -> Instruction {
    let whitelist = pda::whitelist(id);
    build(
        accounts::GrantWhitelist {
            admin: *admin,
            whitelist,
            wallet: *wallet,
            entry: pda::whitelist_entry(&whitelist, wallet),
            system_program: system_program::ID,
            event_authority: pda::event_authority(),
            program: sparks::ID,
        },
        instruction::GrantWhitelist { spots },
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
