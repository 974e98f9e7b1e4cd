//! `sparks award-batch`: award from a CSV (wallet,source,amount,reference),
//! resumable without ever paying a row twice.
//!
//! Rows are grouped by source (file order kept) and packed into
//! `award_batch` transactions as the client packs them (legacy transactions,
//! at most `--chunk` rows each). Before a chunk is sent the fsynced journal
//! records its rows and the award ids it carries; after confirmation, its
//! signature. A chunk lands whole or not at all, and its award ids pay at
//! most once, so:
//!
//! - a re-run rebuilds the journaled chunks exactly (same rows, same ids)
//!   and packs only the rows no chunk holds yet;
//! - a chunk journaled but not confirmed is looked up on chain: its first
//!   award id used means it landed; open means it never did (its old
//!   transaction can no longer land once the id is used by this re-send),
//!   so it is sent again under the same ids, and a refusal as `AwardIdUsed`
//!   means an earlier attempt landed after all.
//!
//! One process allocates the award ids of one issuer key: run one
//! `award-batch` (or issuer service) per key at a time.

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
use sparks::state::{AwardIdState, Source};
use sparks_client::instructions as ix;
use sparks_client::packing::{does_not_fit, pack_award_batches, Sending};
use sparks_client::rpc::RpcError;

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
        .rpc
        .reserve_award_ids(&issuer.pubkey(), part.len() as u64, false)
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
    let state = ctx
        .rpc
        .award_id_state(&issuer.pubkey(), chunk.first_award_id)
        .await?;
    if state == AwardIdState::Used {
        journal.done(chunk.first_award_id, "found-on-chain")?;
        return Ok(false);
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
             was packed: void award ids {} .. {} with `sparks award-ids void` and remove its \
             `chunk` line from the journal",
            lines(rows, chunk),
            chunk.first_award_id,
            chunk.first_award_id + chunk.rows.len() as u64
        );
    }
    match ctx.rpc.send(&[instruction], issuer, &[]).await {
        Ok(signature) => {
            journal.done(chunk.first_award_id, &signature.to_string())?;
            Ok(true)
        }
        // An earlier attempt of this very chunk landed after all.
        Err(error) if matches!(error.sparks_error(), Some(SparksError::AwardIdUsed)) => {
            journal.done(chunk.first_award_id, "found-on-chain")?;
            Ok(false)
        }
        Err(error) => Err(chunk_error(rows, chunk, error.into())),
    }
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

/// Append-only and fsynced:
/// `csv <sha256>` once, `chunk <first award id> <row,row,…>` before a chunk
/// is first sent, `done <first award id> <signature>` once it landed.
struct Journal {
    file: File,
    chunks: Vec<Chunk>,
    held: HashMap<usize, u64>,
    done: std::collections::HashSet<u64>,
}

impl Journal {
    fn open(path: &Path, digest: &str) -> anyhow::Result<Self> {
        let mut journal_digest = None;
        let mut chunks = Vec::new();
        let mut done = std::collections::HashSet::new();
        if path.exists() {
            let reader = BufReader::new(
                File::open(path).with_context(|| format!("reading {}", path.display()))?,
            );
            for line in reader.lines() {
                let line = line?;
                let mut parts = line.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("csv"), Some(sha), None) => journal_digest = Some(sha.to_string()),
                    (Some("chunk"), Some(first), Some(list)) => {
                        let rows = list
                            .split(',')
                            .map(str::parse)
                            .collect::<Result<Vec<usize>, _>>();
                        if let (Ok(first_award_id), Ok(rows)) = (first.parse(), rows) {
                            chunks.push(Chunk {
                                rows,
                                first_award_id,
                            });
                        }
                    }
                    (Some("done"), Some(first), _) => {
                        if let Ok(first) = first.parse() {
                            done.insert(first);
                        }
                    }
                    // A torn last line from a crash: ignore it; the chain decides.
                    _ => {}
                }
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
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        if journal_digest.is_none() {
            writeln!(file, "csv {digest}").context("writing the journal")?;
            file.sync_data().context("syncing the journal")?;
        }
        Ok(Self {
            file,
            chunks,
            held,
            done,
        })
    }

    fn holds(&self, row: usize) -> bool {
        self.held.contains_key(&row)
    }

    fn is_done(&self, first_award_id: u64) -> bool {
        self.done.contains(&first_award_id)
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

    fn done(&mut self, first_award_id: u64, signature: &str) -> anyhow::Result<()> {
        self.append(&format!("done {first_award_id} {signature}"))?;
        self.done.insert(first_award_id);
        Ok(())
    }

    fn append(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.file, "{line}").context("writing the journal")?;
        self.file.sync_data().context("syncing the journal")
    }
}
