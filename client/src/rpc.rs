//! Talking to a Sparks deployment over JSON-RPC: fetching and decoding
//! accounts, sending transactions with confirmation, and the award helper.
//!
//! # Awarding safely (for issuers)
//!
//! Every award carries an award id of its issuer, and the program pays each
//! id at most once (docs/PROGRAM.md, "Awarding"). [`SparksRpc::award`] takes
//! the next id of its issuer and keeps it through every retry: if a
//! transaction's blockhash expires before confirmation, the issuer account
//! says whether the id was used; if not, the *same* award is re-signed with a
//! new blockhash. A retry of an award that landed after all is refused with
//! `AwardIdUsed`, so nothing is paid twice and nothing done by anyone else
//! (a referrer named, another issuer's award, a redemption) can make an
//! award fail. One process allocates the ids of one issuer key.
//!
//! A retry signed within the same blockhash is the very same transaction
//! (same bytes, same signature); the node answers "already processed" and
//! [`SparksRpc::send_signed`] returns that transaction's recorded outcome.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use anchor_lang::prelude::Pubkey;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::{AccountDeserialize, Discriminator};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_client::rpc_config::{RpcAccountInfoConfig, RpcProgramAccountsConfig};
use solana_client::rpc_filter::{Memcmp, RpcFilterType};
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_instruction_error::InstructionError;
use solana_keypair::Keypair;
use solana_rpc_client_api::client_error::{Error as ClientError, ErrorKind as ClientErrorKind};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use sparks::error::SparksError;
use sparks::state::{AwardIdState, Config, Issuer, Source, SparkAccount};

use crate::budget::with_compute_budget;
use crate::{instructions as ix, pda};

/// How many times a transaction is re-signed after its blockhash expired.
const BLOCKHASH_RETRIES: usize = 3;
/// How many fresh award ids an award tries when its id turns out to be used
/// by someone else before it was ever sent (a stale node's answer).
const ID_RETRIES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("the Sparks program refused the transaction: {name} ({code}): {message}")]
    Program {
        code: u32,
        name: String,
        message: String,
    },
    #[error("the transaction failed: {0}")]
    Transaction(TransactionError),
    #[error("RPC request failed: {0}")]
    Client(Box<ClientError>),
    #[error("account {address} does not decode as {kind}: {reason}")]
    Decode {
        address: Pubkey,
        kind: &'static str,
        reason: String,
    },
    #[error("the transaction was not confirmed after {0} fresh blockhashes")]
    Unconfirmed(usize),
    #[error("the transaction's blockhash expired before it was confirmed; it can no longer land")]
    BlockhashExpired,
    #[error("issuer {0} is not registered")]
    NoSuchIssuer(Pubkey),
    #[error(
        "the award was not paid: each of the {tried} award ids reserved for it was used by \
         another sender of this issuer key before it was sent (docs/PROGRAM.md, rule 1)"
    )]
    AwardIdsTaken { tried: usize },
    #[error(
        "award id {award_id}: its outcome is unknown ({error}); retry it under the same award \
         id, it never pays twice"
    )]
    AwardUnresolved { award_id: u64, error: Box<RpcError> },
}

impl RpcError {
    /// A send refused because the node does not know its blockhash (yet:
    /// a node behind the one the blockhash came from; or any more). It says
    /// nothing of the transaction itself.
    pub fn is_blockhash_not_found(&self) -> bool {
        matches!(
            self,
            RpcError::Transaction(TransactionError::BlockhashNotFound)
        )
    }

    /// A send refused because the node has this very transaction already.
    pub fn is_already_processed(&self) -> bool {
        matches!(
            self,
            RpcError::Transaction(TransactionError::AlreadyProcessed)
        )
    }

    /// The Sparks error behind this failure, if it is one.
    pub fn sparks_error(&self) -> Option<SparksError> {
        match self {
            RpcError::Program { code, .. } => SparksError::from_code(*code),
            RpcError::AwardUnresolved { error, .. } => error.sparks_error(),
            _ => None,
        }
    }
}

impl From<ClientError> for RpcError {
    fn from(error: ClientError) -> Self {
        match error.get_transaction_error() {
            Some(tx_error) => from_transaction_error(tx_error),
            None => RpcError::Client(Box::new(error)),
        }
    }
}

/// Names a program error code: ours, or Anchor's own (2000-5000).
pub fn from_transaction_error(error: TransactionError) -> RpcError {
    if let TransactionError::InstructionError(_, InstructionError::Custom(code)) = &error {
        if let Some(sparks) = SparksError::from_code(*code) {
            return RpcError::Program {
                code: *code,
                name: format!("{sparks:?}"),
                message: sparks.to_string(),
            };
        }
        if let Some((name, message)) = anchor_error_name(*code) {
            return RpcError::Program {
                code: *code,
                name: name.into(),
                message: message.into(),
            };
        }
    }
    RpcError::Transaction(error)
}

/// The Anchor framework errors a Sparks caller can meet, by code.
fn anchor_error_name(code: u32) -> Option<(&'static str, &'static str)> {
    Some(match code {
        2001 => (
            "ConstraintHasOne",
            "an account is not the one the instruction names",
        ),
        2003 => ("ConstraintRaw", "an account constraint was violated"),
        2006 => ("ConstraintSeeds", "an account is not at its PDA"),
        3001 => ("AccountDiscriminatorNotFound", "an account has no data"),
        3002 => (
            "AccountDiscriminatorMismatch",
            "an account is of another type",
        ),
        3007 => (
            "AccountOwnedByWrongProgram",
            "an account is owned by another program",
        ),
        3010 => ("AccountNotSigner", "a required signature is missing"),
        3012 => (
            "AccountNotInitialized",
            "an account does not exist (e.g. no such issuer, perk, or spark account)",
        ),
        _ => return None,
    })
}

/// A Sparks deployment behind one RPC endpoint.
pub struct SparksRpc {
    rpc: RpcClient,
    /// Price per compute unit of every transaction sent, in micro-lamports.
    priority_fee: u64,
    /// The award ids of each issuer this process awards for.
    award_ids: Mutex<HashMap<Pubkey, IdAllocator>>,
}

/// One issuer's award ids in this process: the next never handed out, and
/// ids handed out whose award was refused (they never paid and never will,
/// so the next single award takes one instead of leaving a hole).
#[derive(Debug, Default)]
struct IdAllocator {
    next: u64,
    returned: std::collections::BTreeSet<u64>,
}

impl SparksRpc {
    /// Commitment `confirmed`, like the indexer's default.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_commitment(url, CommitmentConfig::confirmed())
    }

    pub fn with_commitment(url: impl Into<String>, commitment: CommitmentConfig) -> Self {
        Self {
            rpc: RpcClient::new_with_commitment(url.into(), commitment),
            priority_fee: 0,
            award_ids: Mutex::new(HashMap::new()),
        }
    }

    /// Pays `micro_lamports` per compute unit on every transaction sent.
    pub fn with_priority_fee(mut self, micro_lamports: u64) -> Self {
        self.priority_fee = micro_lamports;
        self
    }

    pub fn client(&self) -> &RpcClient {
        &self.rpc
    }

    /// A Sparks account of type `T`, or `None` when there is none. An address
    /// that only holds lamports (someone prefunded it) has no account yet.
    pub async fn fetch<T: AccountDeserialize>(
        &self,
        address: &Pubkey,
        kind: &'static str,
    ) -> Result<Option<T>, RpcError> {
        let response = self
            .rpc
            .get_account_with_commitment(address, self.rpc.commitment())
            .await?;
        let Some(account) = response.value else {
            return Ok(None);
        };
        if account.owner != sparks::ID {
            return Ok(None);
        }
        T::try_deserialize(&mut account.data.as_slice())
            .map(Some)
            .map_err(|e| RpcError::Decode {
                address: *address,
                kind,
                reason: e.to_string(),
            })
    }

    pub async fn config(&self) -> Result<Option<Config>, RpcError> {
        self.fetch(&pda::config(), "Config").await
    }

    pub async fn spark(&self, wallet: &Pubkey) -> Result<Option<SparkAccount>, RpcError> {
        self.fetch(&pda::spark(wallet), "SparkAccount").await
    }

    pub async fn issuer(&self, authority: &Pubkey) -> Result<Option<Issuer>, RpcError> {
        self.fetch(&pda::issuer(authority), "Issuer").await
    }

    /// Where award id `id` of `authority` stands on chain.
    pub async fn award_id_state(
        &self,
        authority: &Pubkey,
        id: u64,
    ) -> Result<AwardIdState, RpcError> {
        let issuer = self
            .issuer(authority)
            .await?
            .ok_or(RpcError::NoSuchIssuer(*authority))?;
        Ok(issuer.award_id_state(id))
    }

    /// Reserves `count` consecutive award ids of `authority` for this
    /// process and returns the first: after the highest id used on chain the
    /// first time, then counting on (`refresh` reads the chain again). A
    /// single id is taken from those given back first. One process
    /// allocates the ids of one issuer key.
    pub async fn reserve_award_ids(
        &self,
        authority: &Pubkey,
        count: u64,
        refresh: bool,
    ) -> Result<u64, RpcError> {
        let known = self
            .award_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(authority);
        let from_chain = if known && !refresh {
            None
        } else {
            Some(
                self.issuer(authority)
                    .await?
                    .ok_or(RpcError::NoSuchIssuer(*authority))?
                    .next_award_id(),
            )
        };
        let mut ids = self.award_ids.lock().unwrap_or_else(|e| e.into_inner());
        let allocator = ids.entry(*authority).or_default();
        if let Some(chain) = from_chain {
            allocator.next = allocator.next.max(chain);
        }
        if count == 1 {
            if let Some(id) = allocator.returned.pop_first() {
                return Ok(id);
            }
        }
        let first = allocator.next;
        allocator.next += count;
        Ok(first)
    }

    /// Gives back an award id whose award was refused: it is still open on
    /// chain and no transaction carrying it can land any more.
    pub fn release_award_id(&self, authority: &Pubkey, award_id: u64) {
        let mut ids = self.award_ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.entry(*authority).or_default().returned.insert(award_id);
    }

    /// Every account of type `T` (getProgramAccounts filtered by discriminator).
    pub async fn all<T: AccountDeserialize + Discriminator>(
        &self,
        kind: &'static str,
    ) -> Result<Vec<(Pubkey, T)>, RpcError> {
        let config = RpcProgramAccountsConfig {
            filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
                0,
                T::DISCRIMINATOR.to_vec(),
            ))]),
            account_config: RpcAccountInfoConfig {
                encoding: Some(solana_client::rpc_config::UiAccountEncoding::Base64),
                commitment: Some(self.rpc.commitment()),
                ..RpcAccountInfoConfig::default()
            },
            ..RpcProgramAccountsConfig::default()
        };
        let accounts = self
            .rpc
            .get_program_ui_accounts_with_config(&sparks::ID, config)
            .await?;
        accounts
            .into_iter()
            .map(|(address, account)| {
                let decode_error = |reason: String| RpcError::Decode {
                    address,
                    kind,
                    reason,
                };
                let data = account
                    .data
                    .decode()
                    .ok_or_else(|| decode_error("account data is not base64".into()))?;
                T::try_deserialize(&mut data.as_slice())
                    .map(|value| (address, value))
                    .map_err(|e| decode_error(e.to_string()))
            })
            .collect()
    }

    /// Signs with `payer` (fee payer) and `signers`, sends, and waits for the
    /// commitment. A compute-unit limit (and the priority fee, if any) goes
    /// in front of the instructions. Re-signs the same instructions with a
    /// new blockhash when the old one expired unconfirmed (the old
    /// transaction can then never land). Any `Signer` signs: a keypair, or
    /// a remote signer (a KMS) behind the same trait.
    pub async fn send(
        &self,
        instructions: &[Instruction],
        payer: &(dyn Signer + Sync),
        signers: &[&(dyn Signer + Sync)],
    ) -> Result<Signature, RpcError> {
        let mut keypairs: Vec<&(dyn Signer + Sync)> = vec![payer];
        keypairs.extend(
            signers
                .iter()
                .copied()
                .filter(|s| s.pubkey() != payer.pubkey()),
        );
        let instructions = with_compute_budget(instructions, self.priority_fee);
        for attempt in 0..BLOCKHASH_RETRIES {
            let (blockhash, last_valid_block_height) = self.latest_blockhash().await?;
            let tx = Transaction::new_signed_with_payer(
                &instructions,
                Some(&payer.pubkey()),
                &keypairs,
                blockhash,
            );
            match self.send_and_wait(&tx, Some(last_valid_block_height)).await {
                Err(RpcError::BlockhashExpired) => {
                    tracing::warn!(attempt, "blockhash expired before confirmation; re-signing");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                outcome => return outcome,
            }
        }
        Err(RpcError::Unconfirmed(BLOCKHASH_RETRIES))
    }

    /// A recent blockhash at the client's commitment, and the last block
    /// height at which a transaction signed with it can land.
    pub async fn latest_blockhash(&self) -> Result<(Hash, u64), RpcError> {
        Ok(self
            .rpc
            .get_latest_blockhash_with_commitment(self.rpc.commitment())
            .await?)
    }

    /// Whether a transaction valid through `last_valid_block_height` can no
    /// longer land: the block height at the client's commitment (the one
    /// statuses and award ids are read at) is past it. At `processed` a
    /// node can be ahead of the chain that confirms, so a transaction that
    /// lands in its last valid slots would be taken as expired while its
    /// status and its award id still read as open (docs/PROGRAM.md, rule 3).
    pub async fn blockhash_expired(&self, last_valid_block_height: u64) -> Result<bool, RpcError> {
        let height = self
            .rpc
            .get_block_height_with_commitment(self.rpc.commitment())
            .await?;
        Ok(height > last_valid_block_height)
    }

    /// Sends one signed transaction and waits for the commitment.
    ///
    /// Sending a transaction that was processed before is not an error: the
    /// same instructions, signers and blockhash sign to the same bytes
    /// (ed25519 is deterministic), so a re-run that signs within one blockhash
    /// (e.g. after a killed run) sends that very transaction again. Its
    /// recorded outcome is returned instead.
    pub async fn send_signed(&self, tx: &Transaction) -> Result<Signature, RpcError> {
        self.send_and_wait(tx, None).await
    }

    /// [`Self::send_signed`], knowing the blockhash's last valid block
    /// height when the caller fetched it (else its validity is asked at the
    /// client's commitment).
    async fn send_and_wait(
        &self,
        tx: &Transaction,
        last_valid_block_height: Option<u64>,
    ) -> Result<Signature, RpcError> {
        let Some(&signature) = tx.signatures.first() else {
            return Err(RpcError::Transaction(
                TransactionError::MissingSignatureForFee,
            ));
        };
        match self.rpc.send_transaction(tx).await {
            Ok(_) => {}
            // Refused in preflight: this send never went out.
            Err(error) if blockhash_expired(&error) => return Err(RpcError::BlockhashExpired),
            Err(error) if already_processed(&error) => {
                tracing::info!(%signature, "transaction already processed; awaiting its status");
            }
            Err(error) => return Err(error.into()),
        }
        self.landed(
            &signature,
            &tx.message.recent_blockhash,
            last_valid_block_height,
        )
        .await
        .map(|()| signature)
    }

    /// Waits for `signature` to reach the client's commitment, or for its
    /// blockhash to expire at that commitment without it (it can then never
    /// land). The status is read again after expiry is seen, so a send that
    /// landed in between is not taken for expired.
    async fn landed(
        &self,
        signature: &Signature,
        blockhash: &Hash,
        last_valid_block_height: Option<u64>,
    ) -> Result<(), RpcError> {
        loop {
            let expired = match last_valid_block_height {
                Some(height) => self.blockhash_expired(height).await?,
                None => {
                    !self
                        .rpc
                        .is_blockhash_valid(blockhash, self.rpc.commitment())
                        .await?
                }
            };
            // While it may land, the node's status cache has it; once
            // expired, its ledger is asked too.
            let signatures = std::slice::from_ref(signature);
            let statuses = if expired {
                self.rpc
                    .get_signature_statuses_with_history(signatures)
                    .await?
            } else {
                self.rpc.get_signature_statuses(signatures).await?
            };
            let status = statuses
                .value
                .into_iter()
                .next()
                .flatten()
                .filter(|s| s.satisfies_commitment(self.rpc.commitment()));
            match status {
                Some(status) => return status.status.map_err(from_transaction_error),
                None if expired => return Err(RpcError::BlockhashExpired),
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Awards `amount` Sparks of `source` to `wallet` under the issuer's next
    /// award id (see the module doc). Returns the signature that paid it.
    pub async fn award(
        &self,
        issuer: &Keypair,
        wallet: &Pubkey,
        source: Source,
        amount: u64,
        reference: [u8; 32],
    ) -> Result<Signature, RpcError> {
        let mut refresh = false;
        for _ in 0..ID_RETRIES {
            let award_id = self.reserve_award_ids(&issuer.pubkey(), 1, refresh).await?;
            match self
                .award_with_id(issuer, wallet, source, amount, reference, award_id)
                .await
            {
                Ok(signature) => return Ok(signature),
                // Used before this award was ever sent: another sender (or a
                // stale answer) had it. A fresh id is safe.
                Err(AwardError::UsedBeforeSent { .. }) => refresh = true,
                Err(AwardError::Refused { award_id, error }) => {
                    self.release_award_id(&issuer.pubkey(), award_id);
                    return Err(error);
                }
                Err(AwardError::Unresolved { award_id, error }) => {
                    return Err(RpcError::AwardUnresolved {
                        award_id,
                        error: Box::new(error),
                    })
                }
            }
        }
        // Never `AwardIdUsed`, which rule 4 tells apps to read as "landed":
        // this award was sent under none of those ids, so it did not pay.
        Err(RpcError::AwardIdsTaken { tried: ID_RETRIES })
    }

    /// Awards under `award_id`, exactly once: re-signs after a blockhash
    /// expired only while the id is still open on chain, and takes a refusal
    /// as `AwardIdUsed` after a send for the award having landed. Every
    /// failure says whether the award can still land (`Unresolved`: retry
    /// under the same id, or settle it from the issuer account) or never
    /// will (`Refused`, `UsedBeforeSent`: the id is still open, or was
    /// someone else's).
    pub async fn award_with_id(
        &self,
        issuer: &Keypair,
        wallet: &Pubkey,
        source: Source,
        amount: u64,
        reference: [u8; 32],
        award_id: u64,
    ) -> Result<Signature, AwardError> {
        let unresolved = |error: RpcError| AwardError::Unresolved { award_id, error };
        let account = self.spark(wallet).await.map_err(unresolved)?;
        let instruction = ix::award_for_account(
            &issuer.pubkey(),
            wallet,
            account.as_ref(),
            source,
            amount,
            reference,
            award_id,
        );
        let instructions = with_compute_budget(&[instruction], self.priority_fee);
        // Attempts whose blockhash expired unconfirmed: none of them can land.
        let mut expired: Vec<Signature> = Vec::new();
        for _ in 0..BLOCKHASH_RETRIES {
            let (blockhash, last_valid_block_height) =
                self.latest_blockhash().await.map_err(unresolved)?;
            let tx = Transaction::new_signed_with_payer(
                &instructions,
                Some(&issuer.pubkey()),
                &[issuer],
                blockhash,
            );
            match self.send_and_wait(&tx, Some(last_valid_block_height)).await {
                Ok(signature) => return Ok(signature),
                Err(RpcError::BlockhashExpired) => {
                    expired.push(tx.signatures[0]);
                    // If the id is used, an earlier attempt of this award paid it.
                    let state = self
                        .award_id_state(&issuer.pubkey(), award_id)
                        .await
                        .map_err(unresolved)?;
                    if state == AwardIdState::Used {
                        return self.landed_attempt(award_id, &expired).await;
                    }
                }
                Err(error) if matches!(error.sparks_error(), Some(SparksError::AwardIdUsed)) => {
                    return if expired.is_empty() {
                        Err(AwardError::UsedBeforeSent { award_id })
                    } else {
                        self.landed_attempt(award_id, &expired).await
                    };
                }
                // This attempt failed for good (refused in preflight, or it
                // landed and failed), and every earlier one expired.
                Err(error @ (RpcError::Program { .. } | RpcError::Transaction(_))) => {
                    return Err(AwardError::Refused { award_id, error })
                }
                Err(error) => return Err(unresolved(error)),
            }
        }
        Err(unresolved(RpcError::Unconfirmed(BLOCKHASH_RETRIES)))
    }

    /// Which of an award's earlier attempts landed.
    async fn landed_attempt(
        &self,
        award_id: u64,
        sent: &[Signature],
    ) -> Result<Signature, AwardError> {
        let statuses = self
            .rpc
            .get_signature_statuses_with_history(sent)
            .await
            .map_err(|e| AwardError::Unresolved {
                award_id,
                error: e.into(),
            })?
            .value;
        // No attempt on record as landed: another sender may have used the
        // id, or this node may not have the record. Only the award's event
        // (SparksAwarded with this id) can tell; never guess.
        sent.iter()
            .zip(statuses)
            .find(|(_, status)| status.as_ref().is_some_and(|s| s.err.is_none()))
            .map(|(signature, _)| *signature)
            .ok_or_else(|| AwardError::Unresolved {
                award_id,
                error: RpcError::Decode {
                    address: Pubkey::default(),
                    kind: "award attempts",
                    reason: "the award id is used, but no attempt of this award is on record as \
                             landed at this node; look for its SparksAwarded event"
                        .into(),
                },
            })
    }

    /// Batch rows for `wallets` as they stand now: each recipient's referrer,
    /// and whether the row creates its account or pays a share.
    pub async fn batch_rows(
        &self,
        source: Source,
        rows: &[(Pubkey, u64)],
    ) -> Result<Vec<ix::BatchRow>, RpcError> {
        let config = self.config().await?.ok_or_else(|| RpcError::Decode {
            address: pda::config(),
            kind: "Config",
            reason: "the program is not initialized".into(),
        })?;
        // Each account once, in calls of 100 made at once.
        let mut addresses: Vec<Pubkey> =
            rows.iter().map(|(wallet, _)| pda::spark(wallet)).collect();
        addresses.sort_unstable();
        addresses.dedup();
        let pages = futures::future::try_join_all(
            addresses
                .chunks(100)
                .map(|chunk| self.rpc.get_multiple_accounts(chunk)),
        )
        .await?;
        let mut read = std::collections::HashMap::with_capacity(addresses.len());
        for (address, account) in addresses.iter().zip(pages.into_iter().flatten()) {
            let decoded = match &account {
                Some(a) if a.owner == sparks::ID => Some(
                    SparkAccount::try_deserialize(&mut a.data.as_slice()).map_err(|e| {
                        RpcError::Decode {
                            address: *address,
                            kind: "SparkAccount",
                            reason: e.to_string(),
                        }
                    })?,
                ),
                _ => None,
            };
            let prefunded = decoded.is_none() && account.is_some_and(|a| a.lamports > 0);
            read.insert(*address, (decoded, prefunded));
        }
        let accounts: Vec<(Option<SparkAccount>, bool)> = rows
            .iter()
            .map(|(wallet, _)| {
                read.get(&pda::spark(wallet))
                    .cloned()
                    .unwrap_or((None, false))
            })
            .collect();
        Ok(rows
            .iter()
            .zip(accounts)
            .map(|((wallet, amount), (account, prefunded))| ix::BatchRow {
                prefunded,
                ..ix::BatchRow::for_account(*wallet, *amount, source, &config, account.as_ref())
            })
            .collect())
    }
}

/// How an award under a given id failed.
#[derive(Debug, thiserror::Error)]
pub enum AwardError {
    /// The id is used, but by no attempt of this award: another sender
    /// awarded under it (PROGRAM.md rule 1 broken), or a stale answer.
    #[error("award id {award_id} was used by another award")]
    UsedBeforeSent { award_id: u64 },
    /// The award never landed and never will; the id is still open.
    #[error("award id {award_id} was refused: {error}")]
    Refused { award_id: u64, error: RpcError },
    /// The award may still land: retry under the same id, or settle it
    /// from the issuer account (PROGRAM.md, rule 3).
    #[error("award id {award_id}: outcome unknown: {error}")]
    Unresolved { award_id: u64, error: RpcError },
}

/// Whether a send failed only because its blockhash expired unconfirmed.
fn blockhash_expired(error: &ClientError) -> bool {
    match error.kind() {
        ClientErrorKind::TransactionError(TransactionError::BlockhashNotFound) => true,
        ClientErrorKind::RpcError(solana_rpc_client_api::request::RpcError::ForUser(message)) => {
            message.contains("unable to confirm transaction")
        }
        _ => matches!(
            error.get_transaction_error(),
            Some(TransactionError::BlockhashNotFound)
        ),
    }
}

/// Whether a send was refused because this very transaction (same
/// signature) was processed before. A validator says so in the preflight
/// result; surfpool only in the message.
fn already_processed(error: &ClientError) -> bool {
    if matches!(
        error.get_transaction_error(),
        Some(TransactionError::AlreadyProcessed)
    ) {
        return true;
    }
    match error.kind() {
        ClientErrorKind::RpcError(solana_rpc_client_api::request::RpcError::RpcResponseError {
            message,
            ..
        }) => message.contains(&TransactionError::AlreadyProcessed.to_string()),
        _ => false,
    }
}

/// A Sparks event with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedEvent {
    pub signature: Signature,
    pub slot: u64,
    pub event: crate::events::SparksEvent,
}

/// The Sparks events among a confirmed transaction's inner instructions
/// (emit_cpi self-invocations), in emission order. Failed transactions have
/// none. Undecodable event data is an error, not silently dropped.
pub fn events_in_transaction(
    tx: &solana_transaction_status_client_types::EncodedConfirmedTransactionWithStatusMeta,
) -> Result<Vec<crate::events::SparksEvent>, String> {
    let Some(meta) = &tx.transaction.meta else {
        return Err("transaction has no status meta".into());
    };
    if meta.err.is_some() {
        return Ok(Vec::new());
    }
    let decoded = tx
        .transaction
        .transaction
        .decode()
        .ok_or("transaction is not binary-encoded")?;
    cpi_events(
        decoded.message.static_account_keys(),
        &meta.inner_instructions,
        &sparks::ID,
    )
    .into_iter()
    .collect()
}

/// One inner instruction's data as it arrived: base58 in a JSON-RPC
/// answer, bytes in a Geyser stream. Decoded only for `program`'s own.
#[derive(Debug, Clone, Copy)]
pub enum InnerData<'a> {
    Base58(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> InnerData<'a> {
    fn bytes(self) -> Result<std::borrow::Cow<'a, [u8]>, String> {
        match self {
            InnerData::Base58(text) => bs58::decode(text)
                .into_vec()
                .map(std::borrow::Cow::Owned)
                .map_err(|e| format!("inner instruction data: base58: {e}")),
            InnerData::Bytes(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
        }
    }
}

/// A JSON-RPC answer's inner instructions as (program id index, data).
pub fn ui_inner_instructions(
    inner: &solana_transaction_status_client_types::option_serializer::OptionSerializer<
        Vec<solana_transaction_status_client_types::UiInnerInstructions>,
    >,
) -> Vec<(usize, InnerData<'_>)> {
    use solana_transaction_status_client_types::option_serializer::OptionSerializer;
    use solana_transaction_status_client_types::UiInstruction;
    let OptionSerializer::Some(inner) = inner else {
        return Vec::new();
    };
    inner
        .iter()
        .flat_map(|group| group.instructions.iter())
        .filter_map(|instruction| match instruction {
            UiInstruction::Compiled(compiled) => Some((
                usize::from(compiled.program_id_index),
                InnerData::Base58(&compiled.data),
            )),
            _ => None,
        })
        .collect()
}

/// Every `emit_cpi!` event of `program` among inner instructions given as
/// (program id index into `keys`, data), in order; one that does not
/// decode is `Err(reason)`, so the caller decides whether that stops it.
/// CPIs into `program` that are not events (e.g. a mint's
/// `consume_whitelist_spot`) are skipped. Program ids are always static
/// keys, also in v0 transactions, so `keys` need not hold the addresses
/// loaded from lookup tables.
pub fn inner_events<'a>(
    keys: &[Pubkey],
    inner: impl IntoIterator<Item = (usize, InnerData<'a>)>,
    program: &Pubkey,
) -> Vec<Result<crate::events::SparksEvent, String>> {
    inner
        .into_iter()
        .filter(|(program_index, _)| keys.get(*program_index) == Some(program))
        .filter_map(|(_, data)| match data.bytes() {
            Err(reason) => Some(Err(reason)),
            Ok(data) if !data.starts_with(anchor_lang::event::EVENT_IX_TAG_LE) => None,
            Ok(data) => {
                Some(crate::events::SparksEvent::from_cpi_data(&data).map_err(|e| e.to_string()))
            }
        })
        .collect()
}

/// [`inner_events`] of a JSON-RPC answer's inner instructions.
pub fn cpi_events(
    keys: &[Pubkey],
    inner: &solana_transaction_status_client_types::option_serializer::OptionSerializer<
        Vec<solana_transaction_status_client_types::UiInnerInstructions>,
    >,
    program: &Pubkey,
) -> Vec<Result<crate::events::SparksEvent, String>> {
    inner_events(keys, ui_inner_instructions(inner), program)
}

impl SparksRpc {
    /// Events of the transactions that touched `address`, newest first (up to `limit` transactions).
    pub async fn history(
        &self,
        address: &Pubkey,
        limit: usize,
    ) -> Result<Vec<LocatedEvent>, RpcError> {
        use solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config;
        let signatures = self
            .rpc
            .get_signatures_for_address_with_config(
                address,
                GetConfirmedSignaturesForAddress2Config {
                    limit: Some(limit),
                    commitment: Some(self.rpc.commitment()),
                    ..GetConfirmedSignaturesForAddress2Config::default()
                },
            )
            .await?;
        let mut located = Vec::new();
        for status in signatures.into_iter().filter(|s| s.err.is_none()) {
            let signature: Signature = status.signature.parse().map_err(|e| RpcError::Decode {
                address: *address,
                kind: "signature",
                reason: format!("{e}"),
            })?;
            for event in self.events_of_signature(&signature).await? {
                located.push(LocatedEvent {
                    signature,
                    slot: status.slot,
                    event,
                });
            }
        }
        Ok(located)
    }

    /// Events of one transaction; empty when the node does not have it (yet).
    pub async fn events_of_signature(
        &self,
        signature: &Signature,
    ) -> Result<Vec<crate::events::SparksEvent>, RpcError> {
        let config = solana_client::rpc_config::RpcTransactionConfig {
            encoding: Some(solana_transaction_status_client_types::UiTransactionEncoding::Base64),
            commitment: Some(self.rpc.commitment()),
            max_supported_transaction_version: Some(0),
        };
        let tx = match self
            .rpc
            .get_transaction_with_config(signature, config)
            .await
        {
            Ok(tx) => tx,
            Err(error) => {
                // Not found yet is an RPC error (or a null result) on most nodes.
                tracing::debug!(%signature, %error, "transaction not available");
                return Ok(Vec::new());
            }
        };
        events_in_transaction(&tx).map_err(|reason| RpcError::Decode {
            address: Pubkey::default(),
            kind: "transaction events",
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use solana_rpc_client_api::request::{RpcError as RpcRequestError, RpcResponseErrorData};

    use super::*;

    fn response_error(message: &str, data: RpcResponseErrorData) -> ClientError {
        ClientErrorKind::RpcError(RpcRequestError::RpcResponseError {
            code: -32002,
            message: message.into(),
            data,
        })
        .into()
    }

    fn preflight_failure(err: &str) -> RpcResponseErrorData {
        RpcResponseErrorData::SendTransactionPreflightFailure(
            serde_json::from_value(serde_json::json!({ "err": err })).unwrap(),
        )
    }

    #[test]
    fn a_transaction_sent_twice_is_recognised_as_already_processed() {
        let validator = response_error(
            "Transaction simulation failed: This transaction has already been processed",
            preflight_failure("AlreadyProcessed"),
        );
        let surfpool = response_error(
            "Transaction verification failed for transaction Transaction verification failed: \
             This transaction has already been processed",
            RpcResponseErrorData::Empty,
        );
        let direct: ClientError =
            ClientErrorKind::TransactionError(TransactionError::AlreadyProcessed).into();
        for error in [validator, surfpool, direct] {
            assert!(already_processed(&error), "{error}");
            assert!(!blockhash_expired(&error), "{error}");
        }
    }

    #[test]
    fn other_send_failures_are_not_taken_for_already_processed() {
        let expired = response_error(
            "Transaction simulation failed: Blockhash not found",
            preflight_failure("BlockhashNotFound"),
        );
        let unconfirmed: ClientError = ClientErrorKind::RpcError(RpcRequestError::ForUser(
            "unable to confirm transaction".into(),
        ))
        .into();
        let bad_signature = response_error(
            "Transaction verification failed for transaction x: signature failure",
            RpcResponseErrorData::Empty,
        );
        for error in [&expired, &unconfirmed, &bad_signature] {
            assert!(!already_processed(error), "{error}");
        }
        assert!(blockhash_expired(&expired));
        assert!(blockhash_expired(&unconfirmed));
        assert!(!blockhash_expired(&bad_signature));
    }

    #[tokio::test]
    async fn a_transaction_without_signatures_is_refused_before_sending() {
        // Nothing listens on port 1: the refusal must come before any request.
        let rpc = SparksRpc::new("http://127.0.0.1:1");
        let error = rpc.send_signed(&Transaction::default()).await.unwrap_err();
        assert!(
            matches!(
                error,
                RpcError::Transaction(TransactionError::MissingSignatureForFee)
            ),
            "{error}"
        );
    }
}
