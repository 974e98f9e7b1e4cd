//! `sparks award-batch`: award from a CSV (wallet,source,amount,reference),
//! resumable without ever paying a row twice.
//!
//! Rows are grouped by source and cut into fixed chunks in file order, so a
//! re-run builds exactly the same chunks. Each chunk is one `award_batch`
//! instruction whose on-chain `reference` is a hash of its rows. Before a
//! chunk is sent, the journal records the `expected_seq` of each row; after
//! confirmation it records the signature.
//!
//! On a re-run a chunk is skipped when the journal says it is done or its
//! reference is found in the chain history. A chunk that was sent but never
//! confirmed is re-sent with the **same** expected seqs: if the earlier
//! attempt landed, the program refuses it (`SeqMismatch`) and the reference
//! lookup confirms it; if a seq moved for another reason, the old transaction
//! can never land either, so reading fresh seqs and sending again is safe.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anchor_lang::prelude::Pubkey;
use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use solana_keypair::Keypair;
use solana_signer::Signer;
use sparks::error::SparksError;
use sparks::state::Source;
use sparks_client::events::SparksEvent;
use sparks_client::rpc::{legacy_transaction_size, RpcError, PACKET_DATA_SIZE};
use sparks_client::{instructions as ix, pda};

use crate::args::AwardBatchArgs;
use crate::commands::{parse_source, reference_bytes};
use crate::context::Context;

#[derive(Debug, Clone)]
struct Row {
    line: usize,
    wallet: Pubkey,
    source: Source,
    amount: u64,
    reference: [u8; 32],
}

struct Chunk {
    source: Source,
    rows: Vec<Row>,
    reference: [u8; 32],
}

pub async fn award_batch(ctx: &Context, args: AwardBatchArgs) -> anyhow::Result<Value> {
    if args.chunk == 0 || args.chunk > 9 {
        bail!(
            "--chunk must be between 1 and 9 (a legacy transaction holds at most 9 new recipients)"
        );
    }
    let rows = read_rows(&args.csv)?;
    let chunks = chunk_rows(&rows, args.chunk);
    let issuer = ctx.keypair()?;
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| with_suffix(&args.csv, ".journal"));
    let mut journal = Journal::open(&journal_path)?;

    let progress = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(rows.len() as u64)
    };
    let (mut sent, mut skipped) = (0usize, 0usize);
    for chunk in &chunks {
        if send_chunk(ctx, &issuer, &mut journal, chunk).await? {
            sent += chunk.rows.len();
        } else {
            skipped += chunk.rows.len();
        }
        progress.inc(chunk.rows.len() as u64);
    }
    progress.finish_and_clear();
    Ok(json!({
        "rows": rows.len(),
        "chunks": chunks.len(),
        "rows_sent": sent,
        "rows_already_applied": skipped,
        "journal": journal_path.display().to_string(),
    }))
}

/// Sends one chunk unless it already landed; returns whether it was sent now.
async fn send_chunk(
    ctx: &Context,
    issuer: &Keypair,
    journal: &mut Journal,
    chunk: &Chunk,
) -> anyhow::Result<bool> {
    let key = hex::encode(chunk.reference);
    match journal.state(&key) {
        Some(JournalState::Done) => return Ok(false),
        Some(JournalState::Sent(seqs)) => {
            let seqs = seqs.clone();
            match send(ctx, issuer, chunk, Some(&seqs)).await {
                Ok(signature) => {
                    journal.done(&key, &signature)?;
                    return Ok(true);
                }
                Err(error) if matches!(error.sparks_error(), Some(SparksError::SeqMismatch)) => {
                    if applied_on_chain(ctx, chunk).await? {
                        journal.done(&key, "found-on-chain")?;
                        return Ok(false);
                    }
                    // A seq moved for another reason: the old attempt can no
                    // longer land, so a fresh send below is safe.
                }
                Err(error) => return Err(chunk_error(chunk, error)),
            }
        }
        None => {
            if applied_on_chain(ctx, chunk).await? {
                journal.done(&key, "found-on-chain")?;
                return Ok(false);
            }
        }
    }
    let rows = fresh_rows(ctx, chunk).await?;
    journal.sent(
        &key,
        &rows.iter().map(|r| r.expected_seq).collect::<Vec<_>>(),
    )?;
    let signature = send_rows(ctx, issuer, chunk, &rows)
        .await
        .map_err(|e| chunk_error(chunk, e))?;
    journal.done(&key, &signature)?;
    Ok(true)
}

fn chunk_error(chunk: &Chunk, error: RpcError) -> anyhow::Error {
    let lines: Vec<String> = chunk.rows.iter().map(|r| r.line.to_string()).collect();
    anyhow::anyhow!("rows on lines {}: {error}", lines.join(","))
}

async fn fresh_rows(ctx: &Context, chunk: &Chunk) -> Result<Vec<ix::BatchRow>, RpcError> {
    let pairs: Vec<(Pubkey, u64)> = chunk.rows.iter().map(|r| (r.wallet, r.amount)).collect();
    ctx.rpc.batch_rows(chunk.source, &pairs).await
}

/// Sends with journaled seqs (a retry) or the current ones.
async fn send(
    ctx: &Context,
    issuer: &Keypair,
    chunk: &Chunk,
    seqs: Option<&[u64]>,
) -> Result<String, RpcError> {
    let mut rows = fresh_rows(ctx, chunk).await?;
    if let Some(seqs) = seqs {
        for (row, seq) in rows.iter_mut().zip(seqs) {
            row.expected_seq = *seq;
        }
    }
    send_rows(ctx, issuer, chunk, &rows).await
}

async fn send_rows(
    ctx: &Context,
    issuer: &Keypair,
    chunk: &Chunk,
    rows: &[ix::BatchRow],
) -> Result<String, RpcError> {
    let instruction = ix::award_batch(&issuer.pubkey(), chunk.source, chunk.reference, rows);
    let size = legacy_transaction_size(std::slice::from_ref(&instruction), &issuer.pubkey());
    if size > PACKET_DATA_SIZE {
        return Err(RpcError::Decode {
            address: Pubkey::default(),
            kind: "chunk",
            reason: format!("{size} bytes exceed a transaction; use a smaller --chunk"),
        });
    }
    ctx.rpc
        .send(&[instruction], issuer, &[])
        .await
        .map(|s| s.to_string())
}

/// Whether the chain holds this chunk's award (looked up by its reference in
/// the first row's account history).
async fn applied_on_chain(ctx: &Context, chunk: &Chunk) -> Result<bool, RpcError> {
    let first = &chunk.rows[0];
    let history = ctx.rpc.history(&pda::spark(&first.wallet), 1_000).await?;
    Ok(history.iter().any(|located| {
        matches!(&located.event, SparksEvent::SparksAwarded(a)
            if a.reference == chunk.reference && a.account.owner == first.wallet && a.referral_from.is_none())
    }))
}

fn read_rows(path: &Path) -> anyhow::Result<Vec<Row>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let headers = reader.headers().context("reading the CSV header")?.clone();
    let expected = ["wallet", "source", "amount", "reference"];
    if headers.iter().collect::<Vec<_>>() != expected {
        bail!(
            "the CSV header must be {}, got {}",
            expected.join(","),
            headers.iter().collect::<Vec<_>>().join(",")
        );
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.with_context(|| format!("line {line}"))?;
        let field = |i: usize| record.get(i).unwrap_or_default();
        let wallet = field(0).parse::<Pubkey>().map_err(|e| {
            anyhow::anyhow!(
                "line {line}: wallet {:?} is not a public key: {e}",
                field(0)
            )
        })?;
        let source = parse_source(field(1)).with_context(|| format!("line {line}"))?;
        let amount = field(2)
            .parse::<u64>()
            .map_err(|e| anyhow::anyhow!("line {line}: amount {:?}: {e}", field(2)))?;
        if amount == 0 {
            bail!("line {line}: amount must be positive");
        }
        rows.push(Row {
            line,
            wallet,
            source,
            amount,
            reference: reference_bytes(field(3)),
        });
    }
    if rows.is_empty() {
        bail!("{} has no rows", path.display());
    }
    Ok(rows)
}

/// Same rows, same chunks, same references, on every run.
fn chunk_rows(rows: &[Row], size: usize) -> Vec<Chunk> {
    let mut by_source: Vec<(Source, Vec<Row>)> = Vec::new();
    for row in rows {
        match by_source.iter_mut().find(|(s, _)| *s == row.source) {
            Some((_, group)) => group.push(row.clone()),
            None => by_source.push((row.source, vec![row.clone()])),
        }
    }
    by_source
        .into_iter()
        .flat_map(|(source, group)| {
            group
                .chunks(size)
                .map(|rows| Chunk {
                    source,
                    reference: chunk_reference(source, rows),
                    rows: rows.to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn chunk_reference(source: Source, rows: &[Row]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"sparks-award-batch-v1");
    hasher.update([source.index() as u8]);
    for row in rows {
        hasher.update(row.wallet.as_ref());
        hasher.update(row.amount.to_le_bytes());
        hasher.update(row.reference);
    }
    hasher.finalize().into()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

enum JournalState {
    Sent(Vec<u64>),
    Done,
}

/// Append-only, fsynced: `sent <ref> <seq,seq,…>` before a send, `done <ref> <signature>` after.
struct Journal {
    file: File,
    states: HashMap<String, JournalState>,
}

impl Journal {
    fn open(path: &Path) -> anyhow::Result<Self> {
        let mut states = HashMap::new();
        if path.exists() {
            let reader = BufReader::new(
                File::open(path).with_context(|| format!("reading {}", path.display()))?,
            );
            for line in reader.lines() {
                let line = line?;
                let mut parts = line.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("sent"), Some(key), Some(seqs)) => {
                        let seqs = seqs
                            .split(',')
                            .map(str::parse)
                            .collect::<Result<Vec<u64>, _>>();
                        // A later `sent` for the same chunk (a fresh re-send) replaces the earlier one.
                        if let (Ok(seqs), false) =
                            (seqs, matches!(states.get(key), Some(JournalState::Done)))
                        {
                            states.insert(key.to_string(), JournalState::Sent(seqs));
                        }
                    }
                    (Some("done"), Some(key), _) => {
                        states.insert(key.to_string(), JournalState::Done);
                    }
                    // A torn last line from a crash: ignore it; the chain decides.
                    _ => {}
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        Ok(Self { file, states })
    }

    fn state(&self, key: &str) -> Option<&JournalState> {
        self.states.get(key)
    }

    fn sent(&mut self, key: &str, seqs: &[u64]) -> anyhow::Result<()> {
        let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
        self.append(&format!("sent {key} {}", list.join(",")))?;
        self.states
            .insert(key.to_string(), JournalState::Sent(seqs.to_vec()));
        Ok(())
    }

    fn done(&mut self, key: &str, signature: &str) -> anyhow::Result<()> {
        self.append(&format!("done {key} {signature}"))?;
        self.states.insert(key.to_string(), JournalState::Done);
        Ok(())
    }

    fn append(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.file, "{line}").context("writing the journal")?;
        self.file.sync_data().context("syncing the journal")
    }
}
