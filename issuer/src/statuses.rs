//! One `getSignatureStatuses` call for every batch in flight: each batch
//! waiting for its send asks here instead of polling the node itself, so
//! the node answers a call per interval rather than one per batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solana_signature::Signature;
use solana_transaction_status_client_types::TransactionStatus;
use sparks_client::rpc::SparksRpc;
use tokio::sync::{watch, Notify};

/// Most signatures one call may ask about.
const PER_CALL: usize = 256;

#[derive(Default)]
struct Board {
    /// Signatures asked about, with how many askers wait on each.
    wanted: HashMap<Signature, usize>,
    /// The latest answer for each.
    answers: HashMap<Signature, Option<TransactionStatus>>,
    /// Polls started.
    started: u64,
}

pub struct StatusPoller {
    rpc: Arc<SparksRpc>,
    board: Mutex<Board>,
    asked: Notify,
    /// Polls completed.
    polls: watch::Sender<u64>,
    every: Duration,
}

impl StatusPoller {
    pub fn new(rpc: Arc<SparksRpc>, every: Duration) -> Self {
        Self {
            rpc,
            board: Mutex::default(),
            asked: Notify::new(),
            polls: watch::Sender::new(0),
            every,
        }
    }

    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node's status-cache answer for `signatures`, from a poll that
    /// started after this call.
    pub async fn statuses(&self, signatures: &[Signature]) -> Vec<Option<TransactionStatus>> {
        let mut polls = self.polls.subscribe();
        // A poll under way may have missed these: the next one has them.
        let next = {
            let mut board = self.board();
            for signature in signatures {
                *board.wanted.entry(*signature).or_default() += 1;
            }
            board.started + 1
        };
        self.asked.notify_one();
        let _ = polls.wait_for(|done| *done >= next).await;
        let mut board = self.board();
        let answers = signatures
            .iter()
            .map(|s| board.answers.get(s).cloned().flatten())
            .collect();
        for signature in signatures {
            if let Some(n) = board.wanted.get_mut(signature) {
                *n -= 1;
                if *n == 0 {
                    board.wanted.remove(signature);
                    board.answers.remove(signature);
                }
            }
        }
        answers
    }

    /// Polls while anyone asks; an RPC failure leaves the answers as they
    /// were (a batch then waits for the next poll).
    pub async fn run(self: Arc<Self>) {
        loop {
            let (poll, wanted) = {
                let mut board = self.board();
                if board.wanted.is_empty() {
                    None
                } else {
                    board.started += 1;
                    Some((
                        board.started,
                        board.wanted.keys().copied().collect::<Vec<_>>(),
                    ))
                }
            }
            .unzip();
            let (Some(poll), Some(wanted)) = (poll, wanted) else {
                self.asked.notified().await;
                continue;
            };
            for chunk in wanted.chunks(PER_CALL) {
                match self.rpc.client().get_signature_statuses(chunk).await {
                    Ok(response) => {
                        let mut board = self.board();
                        for (signature, status) in chunk.iter().zip(response.value) {
                            if board.wanted.contains_key(signature) {
                                board.answers.insert(*signature, status);
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "polling signature statuses"),
                }
            }
            self.polls.send_replace(poll);
            tokio::time::sleep(self.every).await;
        }
    }
}
