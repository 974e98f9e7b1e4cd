//! Request coalescing: concurrent lookups of one kind share one query.
//!
//! Under load most of a point lookup's cost is per query, not per row: a
//! round trip, a Postgres executor start, a wake-up on each side. Here a few
//! workers take lookups from a queue; each takes whatever has queued (up to
//! `max_batch`) and answers it with one query. Nothing waits to fill a batch:
//! an idle worker takes a lone lookup at once, so a quiet API answers as
//! fast as before and a busy one sends fewer, larger queries. (The
//! `dataloader` crate instead yields to the scheduler to gather keys, which
//! delays every lookup, and caches results, which a live mirror must not.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use super::error::ApiError;

type Reply<V> = oneshot::Sender<Result<V, ApiError>>;
type Queue<K, V> = Arc<Mutex<mpsc::UnboundedReceiver<(K, Reply<V>)>>>;
type Load<K, V> =
    dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = Result<Vec<V>, ApiError>> + Send>> + Send + Sync;

pub struct Coalescer<K, V> {
    load: Arc<Load<K, V>>,
    /// None when `max_batch` is 1: each lookup runs its own query in the caller.
    queue: Option<mpsc::UnboundedSender<(K, Reply<V>)>>,
}

impl<K: Send + 'static, V: Send + 'static> Coalescer<K, V> {
    /// `load` answers a batch with one value per key, in the keys' order.
    /// Spawns `workers` tasks (so must run inside a Tokio runtime); they end
    /// when the coalescer is dropped.
    /// `name` labels the `sparks_api_batch_size` histogram.
    pub fn new<F, Fut>(name: &'static str, workers: usize, max_batch: usize, load: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<V>, ApiError>> + Send + 'static,
    {
        let load: Arc<Load<K, V>> = Arc::new(move |keys| Box::pin(load(keys)));
        if max_batch <= 1 {
            return Self { load, queue: None };
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(name, receiver.clone(), load.clone(), max_batch));
        }
        Self {
            load,
            queue: Some(sender),
        }
    }

    pub async fn get(&self, key: K) -> Result<V, ApiError> {
        let Some(queue) = &self.queue else {
            return single((self.load)(vec![key]).await?);
        };
        let (reply, answer) = oneshot::channel();
        queue
            .send((key, reply))
            .map_err(|_| ApiError::Unavailable("the API is shutting down".into()))?;
        answer
            .await
            .map_err(|_| ApiError::Unavailable("the lookup was dropped".into()))?
    }
}

fn single<V>(values: Vec<V>) -> Result<V, ApiError> {
    values
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Unavailable("a lookup returned no answer".into()))
}

/// One worker: while one worker's query runs, the next collects a batch.
async fn work<K, V>(
    name: &'static str,
    queue: Queue<K, V>,
    load: Arc<Load<K, V>>,
    max_batch: usize,
) {
    let batch_sizes = metrics::histogram!("sparks_api_batch_size", "read" => name);
    loop {
        let mut batch = Vec::new();
        {
            let mut queue = queue.lock().await;
            match queue.recv().await {
                Some(lookup) => batch.push(lookup),
                None => return,
            }
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(lookup) => batch.push(lookup),
                    Err(_) => break,
                }
            }
        }
        let (keys, replies): (Vec<K>, Vec<Reply<V>>) = batch.into_iter().unzip();
        let expected = keys.len();
        batch_sizes.record(expected as f64);
        match load(keys).await {
            Ok(values) if values.len() == expected => {
                for (reply, value) in replies.into_iter().zip(values) {
                    let _ = reply.send(Ok(value));
                }
            }
            Ok(values) => {
                let error = ApiError::Unavailable(format!(
                    "a batch of {expected} lookups returned {} answers",
                    values.len()
                ));
                tracing::error!(%error, "coalesced lookup");
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Doubles each key; records each batch's size.
    fn doubler(
        workers: usize,
        max_batch: usize,
        sizes: Arc<std::sync::Mutex<Vec<usize>>>,
    ) -> Coalescer<u64, u64> {
        Coalescer::new("test", workers, max_batch, move |keys: Vec<u64>| {
            let sizes = sizes.clone();
            async move {
                sizes.lock().unwrap().push(keys.len());
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                Ok(keys.into_iter().map(|k| k * 2).collect())
            }
        })
    }

    #[tokio::test]
    async fn concurrent_lookups_share_batches_and_each_gets_its_own_answer() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let coalescer = Arc::new(doubler(2, 8, sizes.clone()));
        let lookups: Vec<_> = (0..100u64)
            .map(|k| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { (k, coalescer.get(k).await) })
            })
            .collect();
        for lookup in lookups {
            let (k, answer) = lookup.await.unwrap();
            assert_eq!(answer.unwrap(), k * 2);
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 100);
        assert!(sizes.iter().all(|&n| n <= 8), "{sizes:?}");
        assert!(sizes.len() < 100, "no lookups were coalesced: {sizes:?}");
    }

    #[tokio::test]
    async fn a_lone_lookup_is_answered_without_waiting_for_company() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let coalescer = doubler(2, 8, sizes.clone());
        for k in 0..3 {
            assert_eq!(coalescer.get(k).await.unwrap(), k * 2);
        }
        assert_eq!(*sizes.lock().unwrap(), [1, 1, 1]);
    }

    #[tokio::test]
    async fn a_batch_of_one_runs_in_the_caller() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let coalescer = doubler(2, 1, sizes.clone());
        assert!(coalescer.queue.is_none());
        assert_eq!(coalescer.get(21).await.unwrap(), 42);
        assert_eq!(*sizes.lock().unwrap(), [1]);
    }

    #[tokio::test]
    async fn a_failed_or_short_batch_fails_every_lookup_in_it_and_the_next_batch_runs() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let coalescer = Arc::new(Coalescer::new("test", 1, 8, move |keys: Vec<u64>| {
            let call = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                match call {
                    0 => Err(ApiError::Unavailable("down".into())),
                    1 => Ok(keys.into_iter().skip(1).collect()),
                    _ => Ok(keys),
                }
            }
        }));
        // The first lookup occupies the only worker; the rest queue behind it.
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.get(0).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let queued: Vec<_> = (1..4u64)
            .map(|k| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { coalescer.get(k).await })
            })
            .collect();
        assert!(matches!(first.await.unwrap(), Err(ApiError::Unavailable(m)) if m == "down"));
        for lookup in queued {
            let error = lookup.await.unwrap().unwrap_err();
            assert!(error.to_string().contains("returned 2 answers"), "{error}");
        }
        assert_eq!(coalescer.get(7).await.unwrap(), 7);
    }
}
