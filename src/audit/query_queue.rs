//! The work queue an audit's attack runs go through: many runs in flight at once, their
//! model queries merged into large batches.
//!
//! An attack solves one problem at a time and asks the model about one image, or a handful,
//! per query; run one after another, every query would pay for a whole batch, and a
//! gradient attack at batch 1 gets a fraction of what the model can do at batch 64. Here up
//! to [`QueueSize::workers`] runs are in flight, each on a worker thread of its own, and
//! each sees the model through a [`Queued`] handle. A query waits until every run still in
//! flight is waiting for one, or until [`QueueSize::rows`] rows are pending; then the
//! calling thread (inside the caller's rayon pool, where the model splits the batch into
//! its parallel chunks) runs all pending forward queries as one batch and all pending
//! gradient queries as another, and hands each run its rows back. A run that finishes or
//! gives up early leaves the queue; the next (sample, target) run takes its place.
//!
//! A run's result does not depend on which other rows share its batches: the model computes
//! each row on its own (tract accumulates every output in the same order whatever the batch
//! size and the row's position in it; the tests in `tests.rs` compare audits run one query at
//! a time with audits through the full queue, byte for byte). Only the `seconds` of a record,
//! which now include the time its queries waited for a batch, vary between runs.
//!
//! The first error, from an attack or from the model, stops the queue: pending and later
//! queries fail at once, no new run starts, and that first error is returned.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use ndarray::{
    concatenate, Array, Array2, Array4, ArrayView, ArrayView2, ArrayView4, Axis, Dimension,
    RemoveAxis,
};

use crate::error::{Error, Result};
use crate::model::{Classifier, Differentiable, LogitSeeds, CHUNK};

/// How many runs are in flight and how large a batch grows before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSize {
    /// Runs in flight at once, each on a thread of its own.
    pub workers: usize,
    /// Pending rows that start a batch before every run is waiting.
    pub rows: usize,
}

impl QueueSize {
    /// Enough runs in flight for a batch of two chunks per thread of the current rayon
    /// pool (64 rows on 2 threads), between 32 and 512.
    pub fn for_current_pool() -> Self {
        let rows = (rayon::current_num_threads() * CHUNK * 2).clamp(32, 512);
        QueueSize {
            workers: rows,
            rows,
        }
    }

    /// One run at a time, each query on its own: the order an attack's reference code
    /// queries in.
    pub const ONE_AT_A_TIME: QueueSize = QueueSize {
        workers: 1,
        rows: 1,
    };
}

/// `work(i, model)` for every `i` in `0..runs`, up to `size.workers` at once, every model
/// query of `work` merged with the others' into batches of `model`; the results in order.
pub fn run_queued<T, F>(
    model: &dyn Differentiable,
    runs: usize,
    size: QueueSize,
    work: F,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, &dyn Differentiable) -> Result<T> + Sync,
{
    let queue = Queue {
        model,
        state: Mutex::new(State::default()),
        queued: Condvar::new(),
        answered: Condvar::new(),
        flush_rows: size.rows.max(1),
    };
    let workers = size.workers.clamp(1, runs.max(1));
    queue.lock().active = workers;
    let next = AtomicUsize::new(0);
    let handle = Queued { queue: &queue };
    let finished: Vec<Vec<(usize, T)>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let _leave = Leave(&queue);
                    let mut done = Vec::new();
                    while !queue.lock().stopping {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= runs {
                            break;
                        }
                        match work(i, &handle) {
                            Ok(result) => done.push((i, result)),
                            Err(e) => {
                                queue.fail(e);
                                break;
                            }
                        }
                    }
                    done
                })
            })
            .collect();
        queue.dispatch();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    if let Some(e) = queue.lock().failed.take() {
        return Err(e);
    }
    let mut results: Vec<Option<T>> = (0..runs).map(|_| None).collect();
    for (i, result) in finished.into_iter().flatten() {
        results[i] = Some(result);
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.ok_or_else(|| Error::Internal {
                message: format!("run {i} of the query queue never finished"),
            })
        })
        .collect()
}

/// A query: images, and for a gradient query the seeds of its vector-Jacobian products.
struct Query {
    images: Array4<f32>,
    seed: Option<LogitSeeds>,
}

/// The logits of a query's rows, and their gradients for a gradient query.
type Answer = (Array2<f32>, Option<Array4<f32>>);

#[derive(Default)]
struct State {
    /// Workers that have not finished.
    active: usize,
    /// Workers blocked on a query that has not been answered.
    waiting: usize,
    /// Queries not yet taken by the dispatcher, by id.
    pending: Vec<(u64, Query)>,
    /// Rows of the pending queries.
    pending_rows: usize,
    /// Answers not yet collected, by query id; `None` when the queue stopped.
    answers: HashMap<u64, Option<Answer>>,
    next_id: u64,
    /// The first error, which stops the queue.
    failed: Option<Error>,
    /// Whether the queue stopped after an error.
    stopping: bool,
}

struct Queue<'m> {
    model: &'m dyn Differentiable,
    state: Mutex<State>,
    /// Wakes the dispatcher: a query was queued, a worker left, or the queue stopped.
    queued: Condvar,
    /// Wakes the workers: answers are ready, or the queue stopped.
    answered: Condvar,
    flush_rows: usize,
}

impl Queue<'_> {
    /// The state; a worker that panicked while holding it left it consistent, since every
    /// update under the lock is a handful of assignments.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'g>(&self, on: &Condvar, guard: MutexGuard<'g, State>) -> MutexGuard<'g, State> {
        on.wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `e` unless an earlier error was recorded, and stops the queue.
    fn fail(&self, e: Error) {
        let mut state = self.lock();
        if state.failed.is_none() {
            state.failed = Some(e);
        }
        state.stopping = true;
        self.queued.notify_one();
        self.answered.notify_all();
    }

    /// Queues `query` and blocks until the dispatcher answers it.
    fn ask(&self, query: Query) -> Result<Answer> {
        let mut state = self.lock();
        if state.stopping {
            return Err(stopped());
        }
        let id = state.next_id;
        state.next_id += 1;
        state.pending_rows += query.images.shape()[0];
        state.pending.push((id, query));
        state.waiting += 1;
        self.queued.notify_one();
        loop {
            if let Some(answer) = state.answers.remove(&id) {
                return answer.ok_or_else(stopped);
            }
            state = self.wait(&self.answered, state);
        }
    }

    /// Runs pending queries in batches until every worker has left.
    fn dispatch(&self) {
        loop {
            let (queries, stopping) = {
                let mut state = self.lock();
                loop {
                    let ready = state.waiting == state.active
                        || state.pending_rows >= self.flush_rows
                        || state.stopping;
                    if !state.pending.is_empty() && ready {
                        break;
                    }
                    if state.active == 0 {
                        return;
                    }
                    state = self.wait(&self.queued, state);
                }
                state.pending_rows = 0;
                (std::mem::take(&mut state.pending), state.stopping)
            };
            let answers = if stopping {
                Ok(Vec::new())
            } else {
                self.answer(&queries)
            };
            let mut state = self.lock();
            state.waiting -= queries.len();
            match answers {
                Ok(answers) if !stopping => {
                    for ((id, _), answer) in queries.iter().zip(answers) {
                        state.answers.insert(*id, Some(answer));
                    }
                }
                result => {
                    if let Err(e) = result {
                        if state.failed.is_none() {
                            state.failed = Some(e);
                        }
                    }
                    state.stopping = true;
                    for (id, _) in &queries {
                        state.answers.insert(*id, None);
                    }
                }
            }
            self.answered.notify_all();
        }
    }

    /// The answers to `queries`, in order: the forward queries as one batch of the model,
    /// the gradient queries as another.
    fn answer(&self, queries: &[(u64, Query)]) -> Result<Vec<Answer>> {
        let forward: Vec<&Query> = queries
            .iter()
            .map(|(_, q)| q)
            .filter(|q| q.seed.is_none())
            .collect();
        let gradient: Vec<(&Query, &LogitSeeds)> = queries
            .iter()
            .filter_map(|(_, q)| q.seed.as_ref().map(|seed| (q, seed)))
            .collect();
        let mut forward_rows = Vec::new().into_iter();
        if !forward.is_empty() {
            let images = stack(forward.iter().map(|q| q.images.view()))?;
            let logits = self.model.logits(images.view())?;
            forward_rows = split(logits, forward.iter().map(|q| rows(q)))?.into_iter();
        }
        let mut gradient_rows = Vec::new().into_iter();
        if !gradient.is_empty() {
            let images = stack(gradient.iter().map(|(q, _)| q.images.view()))?;
            let seeds = LogitSeeds::concatenate(gradient.iter().map(|(_, seeds)| *seeds))?;
            let (logits, grads) = self.model.vjp_seeds(images.view(), &seeds)?;
            let logits = split(logits, gradient.iter().map(|(q, _)| rows(q)))?;
            let grads = split(grads, gradient.iter().map(|(q, _)| rows(q)))?;
            gradient_rows = logits
                .into_iter()
                .zip(grads)
                .collect::<Vec<_>>()
                .into_iter();
        }
        queries
            .iter()
            .map(|(_, q)| {
                let answer = if q.seed.is_some() {
                    gradient_rows.next().map(|(l, g)| (l, Some(g)))
                } else {
                    forward_rows.next().map(|l| (l, None))
                };
                answer.ok_or_else(|| Error::Internal {
                    message: "a batch of the query queue lost a query".into(),
                })
            })
            .collect()
    }
}

/// The error a query gets once the queue stopped; the queue reports the error that
/// stopped it instead.
fn stopped() -> Error {
    Error::Internal {
        message: "the audit stopped after an error".into(),
    }
}

/// The rows of a query.
fn rows(query: &Query) -> usize {
    query.images.shape()[0]
}

/// `parts` joined along the sample axis.
fn stack<'a, D>(parts: impl Iterator<Item = ArrayView<'a, f32, D>>) -> Result<Array<f32, D>>
where
    D: Dimension + RemoveAxis,
{
    let views: Vec<_> = parts.collect();
    concatenate(Axis(0), &views).map_err(|e| Error::Internal {
        message: format!("batching queries failed: {e}"),
    })
}

/// `batch` cut back into consecutive parts of `sizes` rows.
fn split<D>(batch: Array<f32, D>, sizes: impl Iterator<Item = usize>) -> Result<Vec<Array<f32, D>>>
where
    D: Dimension + RemoveAxis,
{
    let mut start = 0;
    let mut parts = Vec::new();
    for n in sizes {
        if start + n > batch.shape()[0] {
            return Err(Error::Internal {
                message: "the model answered fewer rows than the batch had".into(),
            });
        }
        parts.push(
            batch
                .slice_axis(Axis(0), (start..start + n).into())
                .to_owned(),
        );
        start += n;
    }
    Ok(parts)
}

/// Marks a worker as gone when it returns or unwinds, so that the dispatcher never waits
/// for it.
struct Leave<'q, 'm>(&'q Queue<'m>);

impl Drop for Leave<'_, '_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.active -= 1;
        if std::thread::panicking() {
            state.stopping = true;
            self.0.answered.notify_all();
        }
        self.0.queued.notify_one();
    }
}

/// The model as a run in the queue sees it: every query waits for its batch.
struct Queued<'q, 'm> {
    queue: &'q Queue<'m>,
}

impl Classifier for Queued<'_, '_> {
    fn input_chw(&self) -> [usize; 3] {
        self.queue.model.input_chw()
    }

    fn classes(&self) -> usize {
        self.queue.model.classes()
    }

    fn logits(&self, images: ArrayView4<f32>) -> Result<Array2<f32>> {
        let query = Query {
            images: images.to_owned(),
            seed: None,
        };
        Ok(self.queue.ask(query)?.0)
    }
}

impl Differentiable for Queued<'_, '_> {
    fn vjp(
        &self,
        images: ArrayView4<f32>,
        seed: ArrayView2<f32>,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        self.vjp_seeds(images, &LogitSeeds::fixed(seed))
    }

    fn vjp_seeds(
        &self,
        images: ArrayView4<f32>,
        seeds: &LogitSeeds,
    ) -> Result<(Array2<f32>, Array4<f32>)> {
        if seeds.rows() != images.shape()[0] || seeds.classes() != self.classes() {
            // The model's own check gives the error; asking it directly keeps the message.
            return self.queue.model.vjp_seeds(images, seeds);
        }
        let query = Query {
            images: images.to_owned(),
            seed: Some(seeds.clone()),
        };
        match self.queue.ask(query)? {
            (logits, Some(grads)) => Ok((logits, grads)),
            (_, None) => Err(Error::Internal {
                message: "a gradient query was answered without gradients".into(),
            }),
        }
    }
}
