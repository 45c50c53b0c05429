//! Concurrent single calls coalesced into batched ones.
//!
//! Under load, many requests ask the same small question at the same moment — does
//! video 7 exist, does video 9 — or make the same small write — hold cache key
//! `a`, hold key `b`. Each alone is a round trip (a Thrift call, a Redis command);
//! together they are one. A [`Coalescer`] takes single items from any number of
//! callers and hands them to its batch function, several at a time:
//!
//! - **No timer, no added wait when idle.** The first item of an idle coalescer is
//!   sent at once, alone; the items that arrive while that call runs wait for it
//!   and then go together (as group commit does). At most `max_in_flight` calls run
//!   at once, each with at most `max_batch` items.
//! - **Each caller gets its own answer** — the batch function answers every item,
//!   in order — or the batch's error.
//! - **Cancellation-safe.** Batches are sent by a task of their own, so a caller
//!   that goes away (its request cancelled) does not cancel the others' call; its
//!   answer is dropped. A batch function that panics fails its batch and what is
//!   queued behind it ([`Error::NoAnswer`]), never leaves a caller waiting.
//!
//! Used where a hot path makes one-item calls of a batch API: the gateway's
//! existence checks (`MGetVideos` / `MGetUsers` with one id) and the cache's
//! invalidations (`fanone_cache`).

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

type BatchFn<K, V, E> =
    dyn Fn(Vec<K>) -> Pin<Box<dyn Future<Output = Result<Vec<V>, E>> + Send>> + Send + Sync;

/// Why an item got no answer of its batch function.
#[derive(Debug, thiserror::Error)]
pub enum Error<E> {
    /// The batch function failed; every item of that batch gets its error.
    #[error(transparent)]
    Call(E),
    /// The batch function answered a different number of items than it was given
    /// (a bug in it), or its task ended without answering (the runtime shuts down).
    #[error("batch {0}: no answer for this item")]
    NoAnswer(&'static str),
}

/// Coalesces single items into calls of a batch function; cheap to clone (shared).
pub struct Coalescer<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Clone for Coalescer<K, V, E> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K, V, E> {
    name: &'static str,
    max_batch: usize,
    max_in_flight: usize,
    call: Box<BatchFn<K, V, E>>,
    state: Mutex<State<K, V, E>>,
}

type Waiter<V, E> = oneshot::Sender<Result<V, Error<E>>>;

struct State<K, V, E> {
    queue: VecDeque<(K, Waiter<V, E>)>,
    in_flight: usize,
}

impl<K, V, E> Coalescer<K, V, E>
where
    K: Send + 'static,
    V: Send + 'static,
    E: Clone + Send + 'static,
{
    /// A coalescer named `name` (metrics, errors) over `call`, which receives up to
    /// `max_batch` items and must answer each, in the order given.
    pub fn new<F, Fut>(name: &'static str, max_batch: usize, max_in_flight: usize, call: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<V>, E>> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                name,
                max_batch: max_batch.max(1),
                max_in_flight: max_in_flight.max(1),
                call: Box::new(move |items| Box::pin(call(items))),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    in_flight: 0,
                }),
            }),
        }
    }

    /// The answer for `item`, from the next batch that has room.
    pub async fn call(&self, item: K) -> Result<V, Error<E>> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut state = self.inner.lock();
            state.queue.push_back((item, tx));
            if state.in_flight < self.inner.max_in_flight {
                state.in_flight += 1;
                true
            } else {
                false
            }
        };
        if start {
            tokio::spawn(send_batches(self.inner.clone()));
        }
        rx.await.unwrap_or(Err(Error::NoAnswer(self.inner.name)))
    }
}

impl<K, V, E> Inner<K, V, E> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V, E>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running sender. It leaves the in-flight count under the queue's lock when it
/// finds the queue empty. If instead it is dropped mid-way — the batch function
/// panicked or its task was aborted — it leaves the count then, and if it was the
/// last sender it fails what is still queued, rather than leave those callers
/// waiting for a sender that will never come (later calls start a new one).
struct Sender<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
    finished: bool,
}

impl<K, V, E> Drop for Sender<K, V, E> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let orphans: Vec<_> = {
            let mut state = self.inner.lock();
            state.in_flight -= 1;
            if state.in_flight == 0 {
                state.queue.drain(..).collect()
            } else {
                Vec::new()
            }
        };
        for (_, tx) in orphans {
            let _ = tx.send(Err(Error::NoAnswer(self.inner.name)));
        }
    }
}

/// One sender: takes what is queued (up to `max_batch`), calls, answers, and goes
/// on until the queue is empty.
async fn send_batches<K, V, E: Clone>(inner: Arc<Inner<K, V, E>>) {
    let mut sender = Sender {
        inner,
        finished: false,
    };
    loop {
        let inner = &sender.inner;
        let batch: Vec<_> = {
            let mut state = inner.lock();
            if state.queue.is_empty() {
                // under the lock: a caller queueing now sees this sender gone
                state.in_flight -= 1;
                drop(state);
                sender.finished = true;
                return;
            }
            let n = state.queue.len().min(inner.max_batch);
            state.queue.drain(..n).collect()
        };
        let (items, waiters): (Vec<K>, Vec<Waiter<V, E>>) = batch.into_iter().unzip();
        metrics::histogram!("fanone_batch_items", "batch" => inner.name).record(items.len() as f64);
        match (inner.call)(items).await {
            Ok(answers) if answers.len() == waiters.len() => {
                for (tx, v) in waiters.into_iter().zip(answers) {
                    let _ = tx.send(Ok(v));
                }
            }
            Ok(answers) => {
                tracing::error!(
                    batch = inner.name,
                    items = waiters.len(),
                    answers = answers.len(),
                    "batch function answered a different number of items"
                );
                for tx in waiters {
                    let _ = tx.send(Err(Error::NoAnswer(inner.name)));
                }
            }
            Err(e) => {
                for tx in waiters {
                    let _ = tx.send(Err(Error::Call(e.clone())));
                }
            }
        }
    }
}
