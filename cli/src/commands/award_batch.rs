//! `sparks award-batch`: award from a CSV (wallet,source,amount,reference),
//! resumable without ever paying a row twice.
//!
//! Rows are grouped by source (file order kept) and packed into
//! `award_batch` transactions as the client packs them (legacy transactions,
//! at most `--chunk` rows each), under award ids from this machine's
//! allocator (`crate::award_ids`, shared with `sparks award`). The fsynced
//! journal records each chunk's rows and ids before it is first sent, the
//! signature of every transaction before it is sent, and the signature that
//! landed. A chunk lands whole or not at all, and its ids pay at most once:
//!
//! - a re-run rebuilds the journaled chunks exactly (same rows, same ids)
//!   and packs only the rows no chunk holds yet;
//! - a chunk journaled but not confirmed is looked up on chain: all its ids
//!   open means it never landed (and none of its transactions can land once
//!   this re-send uses them), so it is sent again under the same ids; all
//!   used means one of its journaled transactions landed, which is checked;
//!   anything else (ids used by another award, some used and some open)
//!   stops the run with the chunk's rows named, never skipping them.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anchor_lang::prelude::Pubkey;
use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::Transaction;
use sparks::error::SparksError;
use sparks::state::{AwardIdState, Source};
use sparks_client::budget::with_compute_budget;
use sparks_client::instructions as ix;
use sparks_client::packing::{does_not_fit, pack_award_batches, Sending};
use sparks_client::rpc::RpcError;

use crate::args::AwardBatchArgs;
use crate::context::Context;
use crate::parse::{parse_source, reference_bytes};

#[derive(Debug, Clone)]
struct Row {
    line: usize,
    wallet: Pubkey,
    source: Source,
    amount: u64,
    reference: [u8; 32],
}

/// One transaction's worth of rows: `rows` index the CSV's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chunk {
    rows: Vec<usize>,
    first_award_id: u64,
}

pub async fn award_batch(ctx: &Context, args: AwardBatchArgs) -> anyhow::Result<Value> {
    if args.chunk == 0 || args.chunk > sparks::constants::MAX_BATCH_RECIPIENTS {
        bail!(
            "--chunk must be between 1 and {}",
            sparks::constants::MAX_BATCH_RECIPIENTS
        );
    }
    let (rows, digest) = read_rows(&args.csv)?;
    let issuer = ctx.keypair()?;
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| with_suffix(&args.csv, ".journal"));
    let mut journal = Journal::open(&journal_path, &digest)?;

    let progress = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(rows.len() as u64)
    };
    let (mut sent, mut skipped, mut chunks) = (0usize, 0usize, 0usize);
    // Chunks from an earlier run first, exactly as they were.
    for chunk in journal.chunks.clone() {
        chunks += 1;
        if send_chunk(ctx, &issuer, &mut journal, &rows, &chunk).await? {
            sent += chunk.rows.len();
        } else {
            skipped += chunk.rows.len();
        }
        progress.inc(chunk.rows.len() as u64);
    }
    // Then the rows no chunk holds yet, by source in file order.
    let pending: Vec<usize> = (0..rows.len()).filter(|i| !journal.holds(*i)).collect();
    for source in Source::ALL {
        let group: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|i| rows[*i].source == source)
            .collect();
        for part in group.chunks(args.chunk) {
            for chunk in pack(ctx, &issuer, &rows, part).await? {
                chunks += 1;
                journal.chunk(&chunk)?;
                if send_chunk(ctx, &issuer, &mut journal, &rows, &chunk).await? {
                    sent += chunk.rows.len();
                } else {
                    skipped += chunk.rows.len();
                }
                progress.inc(chunk.rows.len() as u64);
            }
        }
    }
    progress.finish_and_clear();
    Ok(json!({
        "rows": rows.len(),
        "chunks": chunks,
        "rows_sent": sent,
        "rows_already_applied": skipped,
        "journal": journal_path.display().to_string(),
    }))
}

/// Packs `part` (rows of one source) into chunks that fit a legacy
/// transaction, under fresh award ids.
async fn pack(
    ctx: &Context,
    issuer: &Keypair,
    rows: &[Row],
    part: &[usize],
) -> anyhow::Result<Vec<Chunk>> {
    let source = rows[part[0]].source;
    let batch_rows = built_rows(ctx, rows, part).await?;
    let first = ctx
        .reserve_award_ids(&issuer.pubkey(), part.len() as u64)
        .await?;
    let sending = Sending {
        payer: &issuer.pubkey(),
        lookup_tables: &[],
        micro_lamports_per_unit: ctx.priority_fee,
    };
    let packed = pack_award_batches(
        &issuer.pubkey(),
        source,
        |_| [0; 32],
        first,
        &batch_rows,
        sending,
    );
    Ok(packed
        .into_iter()
        .map(|batch| Chunk {
            rows: part[batch.rows.clone()].to_vec(),
            first_award_id: batch.first_award_id,
        })
        .collect())
}

/// Batch rows for CSV rows `indexes`, from the chain's state now.
async fn built_rows(
    ctx: &Context,
    rows: &[Row],
    indexes: &[usize],
) -> Result<Vec<ix::BatchRow>, RpcError> {
    let source = rows[indexes[0]].source;
    let pairs: Vec<(Pubkey, u64)> = indexes
        .iter()
        .map(|i| (rows[*i].wallet, rows[*i].amount))
        .collect();
    ctx.rpc.batch_rows(source, &pairs).await
}

/// Sends one chunk unless it already landed; returns whether it was sent now.
async fn send_chunk(
    ctx: &Context,
    issuer: &Keypair,
    journal: &mut Journal,
    rows: &[Row],
    chunk: &Chunk,
) -> anyhow::Result<bool> {
    if journal.is_done(chunk.first_award_id) {
        return Ok(false);
    }
    match chunk_state(ctx, issuer, chunk).await? {
        ChunkIds::Open => {}
        ChunkIds::Used => {
            return settle_landed(ctx, journal, rows, chunk)
                .await
                .map(|()| false)
        }
        ChunkIds::Mixed => bail!(
            "{}: some of award ids {} are used and some open: not this chunk's doing; \
             nothing more is sent for it",
            lines(rows, chunk),
            id_range(chunk)
        ),
    }
    let batch_rows = built_rows(ctx, rows, &chunk.rows)
        .await
        .map_err(|e| chunk_error(rows, chunk, e.into()))?;
    let source = rows[chunk.rows[0]].source;
    let instruction = ix::award_batch(
        &issuer.pubkey(),
        source,
        chunk_reference(rows, chunk),
        chunk.first_award_id,
        &batch_rows,
    );
    let sending = Sending {
        payer: &issuer.pubkey(),
        lookup_tables: &[],
        micro_lamports_per_unit: ctx.priority_fee,
    };
    if let Some(reason) = does_not_fit(&instruction, &batch_rows, sending) {
        bail!(
            "{}: the chunk no longer fits a transaction ({reason}); the chain changed since it \
             was packed: void its ids with `sparks award-ids void {} --count {}` and remove its \
             `chunk` line from the journal",
            lines(rows, chunk),
            chunk.first_award_id,
            chunk.rows.len()
        );
    }
    let instructions = with_compute_budget(&[instruction], ctx.priority_fee);
    for _ in 0..BLOCKHASH_RETRIES {
        let blockhash = ctx.rpc.client().get_latest_blockhash().await?;
        let tx = Transaction::new_signed_with_payer(
            &instructions,
            Some(&issuer.pubkey()),
            &[issuer],
            blockhash,
        );
        journal.sent(chunk.first_award_id, &tx.signatures[0])?;
        match ctx.rpc.send_signed(&tx).await {
            Ok(signature) => {
                journal.done(chunk.first_award_id, &signature.to_string())?;
                return Ok(true);
            }
            // Expired unconfirmed: it can no longer land. Used ids mean an
            // earlier transaction of this chunk landed after all.
            Err(RpcError::BlockhashExpired) => {
                if chunk_state(ctx, issuer, chunk).await? != ChunkIds::Open {
                    return settle_landed(ctx, journal, rows, chunk)
                        .await
                        .map(|()| false);
                }
            }
            Err(error) if matches!(error.sparks_error(), Some(SparksError::AwardIdUsed)) => {
                return settle_landed(ctx, journal, rows, chunk)
                    .await
                    .map(|()| false);
            }
            Err(error) => return Err(chunk_error(rows, chunk, error.into())),
        }
    }
    Err(chunk_error(
        rows,
        chunk,
        RpcError::Unconfirmed(BLOCKHASH_RETRIES).into(),
    ))
}

/// How many blockhashes one chunk is tried with before the run stops.
const BLOCKHASH_RETRIES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkIds {
    Open,
    Used,
    Mixed,
}

async fn chunk_state(ctx: &Context, issuer: &Keypair, chunk: &Chunk) -> anyhow::Result<ChunkIds> {
    let state = ctx
        .rpc
        .issuer(&issuer.pubkey())
        .await?
        .with_context(|| format!("{} is not a registered issuer", issuer.pubkey()))?;
    let ids = chunk.first_award_id..chunk.first_award_id + chunk.rows.len() as u64;
    let used = ids
        .clone()
        .filter(|id| state.award_id_state(*id) == AwardIdState::Used)
        .count();
    Ok(match used {
        0 => ChunkIds::Open,
        n if n == ids.count() => ChunkIds::Used,
        _ => ChunkIds::Mixed,
    })
}

/// The chunk's ids are used: one of its own journaled transactions must
/// have landed; otherwise another award used them and the rows are unpaid.
async fn settle_landed(
    ctx: &Context,
    journal: &mut Journal,
    rows: &[Row],
    chunk: &Chunk,
) -> anyhow::Result<()> {
    let sent = journal.sent_for(chunk.first_award_id);
    let statuses = if sent.is_empty() {
        Vec::new()
    } else {
        ctx.rpc
            .client()
            .get_signature_statuses_with_history(&sent)
            .await?
            .value
    };
    match sent
        .iter()
        .zip(statuses)
        .find(|(_, status)| status.as_ref().is_some_and(|s| s.err.is_none()))
    {
        Some((signature, _)) => {
            journal.done(chunk.first_award_id, &signature.to_string())?;
            Ok(())
        }
        None => bail!(
            "{}: award ids {} are used, but by none of this chunk's transactions on record: \
             another award used them (one sender per issuer key), and these rows are NOT paid; \
             remove the chunk's line from the journal to pack them again under new ids",
            lines(rows, chunk),
            id_range(chunk)
        ),
    }
}

fn id_range(chunk: &Chunk) -> String {
    format!(
        "{}..{}",
        chunk.first_award_id,
        chunk.first_award_id + chunk.rows.len() as u64
    )
}

fn lines(rows: &[Row], chunk: &Chunk) -> String {
    let lines: Vec<String> = chunk
        .rows
        .iter()
        .map(|i| rows[*i].line.to_string())
        .collect();
    format!("rows on lines {}", lines.join(","))
}

fn chunk_error(rows: &[Row], chunk: &Chunk, error: anyhow::Error) -> anyhow::Error {
    error.context(format!(
        "{} (award ids from {}; run again to resume: nothing is paid twice)",
        lines(rows, chunk),
        chunk.first_award_id
    ))
}

/// The on-chain reference of a chunk: a hash of its rows.
fn chunk_reference(rows: &[Row], chunk: &Chunk) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"sparks-award-batch-v2");
    for row in chunk.rows.iter().map(|i| &rows[*i]) {
        hasher.update([row.source.index() as u8]);
        hasher.update(row.wallet.as_ref());
        hasher.update(row.amount.to_le_bytes());
        hasher.update(row.reference);
    }
    hasher.finalize().into()
}

/// The CSV's rows and the SHA-256 of the file (a journal belongs to one CSV).
fn read_rows(path: &Path) -> anyhow::Result<(Vec<Row>, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
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
    Ok((rows, digest))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Append-only and fsynced: `csv <sha256>` once, `chunk <first award id>
/// <row,row,…>` before a chunk is first sent, `sent <first award id>
/// <signature>` before each of its transactions is sent, and `done <first
/// award id> <signature>` once it landed. A line torn by a crash (no
/// newline) is cut off when the journal is opened; any other line that does
/// not read stops the run.
struct Journal {
    file: File,
    chunks: Vec<Chunk>,
    held: HashMap<usize, u64>,
    sent: HashMap<u64, Vec<Signature>>,
    done: HashSet<u64>,
}

impl Journal {
    fn open(path: &Path, digest: &str) -> anyhow::Result<Self> {
        let mut journal_digest = None;
        let mut chunks = Vec::new();
        let mut sent: HashMap<u64, Vec<Signature>> = HashMap::new();
        let mut done = HashSet::new();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .with_context(|| format!("reading {}", path.display()))?;
        if !text.is_empty() && !text.ends_with('\n') {
            let keep = text.rfind('\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)
                .with_context(|| format!("cutting the torn last line of {}", path.display()))?;
            text.truncate(keep);
        }
        for (number, line) in text.lines().enumerate() {
            let bad = || {
                anyhow::anyhow!(
                    "{} line {}: {line:?} does not read",
                    path.display(),
                    number + 1
                )
            };
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["csv", sha] => journal_digest = Some(sha.to_string()),
                ["chunk", first, list] => {
                    let rows = list
                        .split(',')
                        .map(str::parse)
                        .collect::<Result<Vec<usize>, _>>()
                        .map_err(|_| bad())?;
                    let first_award_id = first.parse().map_err(|_| bad())?;
                    chunks.push(Chunk {
                        rows,
                        first_award_id,
                    });
                }
                ["sent", first, signature] => {
                    let first: u64 = first.parse().map_err(|_| bad())?;
                    sent.entry(first)
                        .or_default()
                        .push(signature.parse().map_err(|_| bad())?);
                }
                ["done", first, _] => {
                    done.insert(first.parse().map_err(|_| bad())?);
                }
                _ => return Err(bad()),
            }
        }
        if let Some(journal_digest) = &journal_digest {
            if journal_digest != digest {
                bail!(
                    "{} belongs to another version of the CSV; resume with the CSV it was \
                     written for, or move the journal away to start over",
                    path.display()
                );
            }
        }
        let held = chunks
            .iter()
            .flat_map(|c| c.rows.iter().map(|r| (*r, c.first_award_id)))
            .collect();
        let mut journal = Self {
            file,
            chunks,
            held,
            sent,
            done,
        };
        if journal_digest.is_none() {
            journal.append(&format!("csv {digest}"))?;
        }
        Ok(journal)
    }

    fn holds(&self, row: usize) -> bool {
        self.held.contains_key(&row)
    }

    fn is_done(&self, first_award_id: u64) -> bool {
        self.done.contains(&first_award_id)
    }

    fn sent_for(&self, first_award_id: u64) -> Vec<Signature> {
        self.sent.get(&first_award_id).cloned().unwrap_or_default()
    }

    fn chunk(&mut self, chunk: &Chunk) -> anyhow::Result<()> {
        let list: Vec<String> = chunk.rows.iter().map(usize::to_string).collect();
        self.append(&format!(
            "chunk {} {}",
            chunk.first_award_id,
            list.join(",")
        ))?;
        for row in &chunk.rows {
            self.held.insert(*row, chunk.first_award_id);
        }
        self.chunks.push(chunk.clone());
        Ok(())
    }

    fn sent(&mut self, first_award_id: u64, signature: &Signature) -> anyhow::Result<()> {
        self.append(&format!("sent {first_award_id} {signature}"))?;
        self.sent
            .entry(first_award_id)
            .or_default()
            .push(*signature);
        Ok(())
    }

    fn done(&mut self, first_award_id: u64, signature: &str) -> anyhow::Result<()> {
        self.append(&format!("done {first_award_id} {signature}"))?;
        self.done.insert(first_award_id);
        Ok(())
    }

    /// One write per record, newline included, so a crash tears at most the
    /// last line (cut off on the next open).
    fn append(&mut self, line: &str) -> anyhow::Result<()> {
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .context("writing the journal")?;
        self.file.sync_data().context("syncing the journal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_torn_by_a_crash_is_cut_and_the_journal_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, "csv abc\nchunk 0 0,1,2\ndone 0 5Sig\nchunk 3 3,4").unwrap();
        let mut journal = Journal::open(&path, "abc").unwrap();
        assert_eq!(journal.chunks.len(), 1, "the torn chunk line is dropped");
        assert!(journal.is_done(0) && !journal.holds(3));
        journal
            .chunk(&Chunk {
                rows: vec![3, 4],
                first_award_id: 3,
            })
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "csv abc\nchunk 0 0,1,2\ndone 0 5Sig\nchunk 3 3,4\n");
        let again = Journal::open(&path, "abc").unwrap();
        assert!(again.holds(3) && again.holds(4));
    }

    #[test]
    fn a_line_that_does_not_read_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, "csv abc\ndone 0 x chunk 3 3,4\n").unwrap();
        assert!(Journal::open(&path, "abc").is_err());
        std::fs::write(&path, "csv other\n").unwrap();
        assert!(
            Journal::open(&path, "abc").is_err(),
            "another CSV's journal"
        );
    }
}
