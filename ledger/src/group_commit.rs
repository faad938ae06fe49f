//! Group commit: requests wait in a bounded queue in front of the ledger, and
//! one applier per process takes whatever has arrived (up to a batch size,
//! with no fixed wait: the next batch is what queued while the previous one
//! committed) and applies it with [`Ledger::apply_batch`] in one SERIALIZABLE
//! transaction. Every request gets its own answer.
//!
//! Every batch holds the database's writer lock (`store::lock_writer`) while
//! it runs, so batches, of this process or of any other on the database,
//! never abort each other on a hot account, and one transaction's fsync
//! serves a whole batch. Exactly-once is the batch's: a request whose idempotency key an
//! earlier request of the same batch carries is answered with that request's
//! replay (or refused as a reused key), as applying them one after another
//! would; a later batch finds the record the earlier one stored.
//!
//! Not applied: a request whose deadline passed while it waited
//! ([`LedgerError::DeadlineExpired`]), and one whose caller stopped waiting
//! (its answer has nowhere to go; the client retries under the same key). A
//! full queue refuses at once ([`LedgerError::Overloaded`]). A batch that
//! fails as a whole is split in halves and each applied again, so that one bad
//! request can neither fail nor starve the others; only a database that is
//! unavailable fails every request of the batch.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::LedgerError;
use crate::metrics::{self, NotApplied};
use crate::service::{ApplyCommand, ApplyResponse, Ledger};
use crate::store::StoreError;

/// The queue and batch limits, each with its unit in its name.
#[derive(Debug, Clone)]
pub struct GroupCommitOptions {
    /// Requests waiting at most; one more is refused at once.
    pub queue_capacity_max: usize,
    /// Commands applied in one transaction at most; at most the ledger's
    /// `batch_size_max`.
    pub batch_size_max: usize,
    /// Batches in flight at once: while one holds the database's writer
    /// lock, the next is formed and waits for it.
    pub appliers_max: usize,
}

impl Default for GroupCommitOptions {
    fn default() -> GroupCommitOptions {
        GroupCommitOptions {
            queue_capacity_max: 4_096,
            batch_size_max: 256,
            appliers_max: 1,
        }
    }
}

type Answer = Result<ApplyResponse, LedgerError>;

struct Job {
    command: ApplyCommand,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Answer>,
    /// When it queued: its queue wait is measured from here.
    queued_at: Instant,
}

/// The queue in front of one ledger. Cloning shares the queue; the applier
/// ends once every clone is dropped and the queue is empty.
#[derive(Clone)]
pub struct GroupCommit {
    ledger: Ledger,
    sender: mpsc::Sender<Job>,
    queue_capacity_max: usize,
}

impl GroupCommit {
    /// Starts the appliers on a thread of their own (a current-thread tokio
    /// runtime) with a pool of their own, one connection per applier: their
    /// round trips to the database never wait for a worker thread busy with
    /// requests (measured: +21% payments a second at 64 clients,
    /// docs/benchmarks.md). They stop once every clone of the queue is dropped
    /// and it is empty.
    pub fn start(ledger: Ledger, options: GroupCommitOptions) -> GroupCommit {
        assert!(options.queue_capacity_max >= 1);
        assert!(options.batch_size_max >= 1);
        assert!(options.batch_size_max <= ledger.options().batch_size_max);
        assert!(options.appliers_max >= 1);
        let (sender, receiver) = mpsc::channel(options.queue_capacity_max);
        let receiver = std::sync::Arc::new(tokio::sync::Mutex::new(receiver));
        let applier_ledger = ledger
            .with_pool_of(options.appliers_max)
            .expect("a pool like the ledger's builds");
        let appliers_max = options.appliers_max;
        let batch_size_max = options.batch_size_max;
        std::thread::Builder::new()
            .name("ledger-applier".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the appliers");
                runtime.block_on(async move {
                    let appliers: Vec<_> = (0..appliers_max)
                        .map(|_| {
                            tokio::spawn(applier(
                                applier_ledger.clone(),
                                receiver.clone(),
                                batch_size_max,
                            ))
                        })
                        .collect();
                    for applier in appliers {
                        let _ = applier.await;
                    }
                    applier_ledger.close();
                });
            })
            .expect("spawn the appliers' thread");
        GroupCommit {
            ledger,
            sender,
            queue_capacity_max: options.queue_capacity_max,
        }
    }

    /// Applies `command` in the next batch and returns its own answer.
    /// `time_left` is the caller's deadline: past it, the request is not
    /// applied. A malformed command is refused before it queues.
    pub async fn apply(&self, command: ApplyCommand, time_left: Option<Duration>) -> Answer {
        self.submit(command, time_left)?.answer().await
    }

    /// Queues `command` now (requests are applied in the order they were
    /// submitted) and returns where its answer will arrive; refused at once
    /// when malformed or when the queue is full.
    pub fn submit(
        &self,
        command: ApplyCommand,
        time_left: Option<Duration>,
    ) -> Result<PendingAnswer, LedgerError> {
        self.ledger.check_command(&command)?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            command,
            deadline: time_left.map(|left| Instant::now() + left),
            reply,
            queued_at: Instant::now(),
        };
        self.sender.try_send(job).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => {
                metrics::record_group_commit_not_applied(NotApplied::QueueFull);
                LedgerError::Overloaded {
                    queue_capacity_max: self.queue_capacity_max,
                }
            }
            mpsc::error::TrySendError::Closed(_) => {
                LedgerError::Unavailable(StoreError::Unreachable {
                    detail: "the ledger's applier has stopped".to_owned(),
                })
            }
        })?;
        Ok(PendingAnswer(answer))
    }
}

/// The answer to a submitted request, once its batch is applied. Dropping it
/// before the batch starts withdraws the request: it is not applied.
#[derive(Debug)]
pub struct PendingAnswer(oneshot::Receiver<Answer>);

impl PendingAnswer {
    pub async fn answer(self) -> Answer {
        self.0.await.unwrap_or_else(|_| {
            Err(LedgerError::Unavailable(StoreError::Unreachable {
                detail: "the ledger's applier stopped before answering".to_owned(),
            }))
        })
    }
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queue_capacity_max", &self.queue_capacity_max)
            .field(
                "waiting",
                &(self.queue_capacity_max - self.sender.capacity()),
            )
            .finish()
    }
}

async fn applier(
    ledger: Ledger,
    receiver: std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    batch_size_max: usize,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(batch_size_max);
    metrics::record_group_commit_pool(ledger.pool_status());
    // One applier at a time takes a batch; it applies it without the lock,
    // so the next applier forms the next batch meanwhile.
    loop {
        let (taken, queue_depth) = {
            let mut receiver = receiver.lock().await;
            let taken = receiver.recv_many(&mut jobs, batch_size_max).await;
            (taken, receiver.len())
        };
        if taken == 0 {
            break;
        }
        metrics::record_group_commit_batch_taken(taken, queue_depth);
        let now = Instant::now();
        let mut batch = Batch::default();
        for job in jobs.drain(..) {
            metrics::record_group_commit_queue_wait(now.saturating_duration_since(job.queued_at));
            if job.reply.is_closed() {
                // The caller is gone: nobody would learn the answer.
                metrics::record_group_commit_not_applied(NotApplied::CallerGone);
                continue;
            }
            if job.deadline.is_some_and(|deadline| deadline <= now) {
                metrics::record_group_commit_not_applied(NotApplied::DeadlineExpired);
                let _ = job.reply.send(Err(LedgerError::DeadlineExpired));
                continue;
            }
            batch.commands.push(job.command);
            batch.deadlines.push(job.deadline);
            batch.replies.push(job.reply);
        }
        apply_splitting(&ledger, batch).await;
        metrics::record_group_commit_pool(ledger.pool_status());
    }
}

/// Requests applied together, side by side: the commands as the ledger
/// takes them, and each one's deadline and reply.
#[derive(Default)]
struct Batch {
    commands: Vec<ApplyCommand>,
    deadlines: Vec<Option<Instant>>,
    replies: Vec<oneshot::Sender<Answer>>,
}

impl Batch {
    /// The requests from `at` on, leaving the first `at` here.
    fn split_off(&mut self, at: usize) -> Batch {
        Batch {
            commands: self.commands.split_off(at),
            deadlines: self.deadlines.split_off(at),
            replies: self.replies.split_off(at),
        }
    }

    /// How long the batch's statements may run: until the last of its
    /// callers' deadlines, when every caller has one (so nothing waits in the
    /// database for callers that are all gone); else the ledger's own limit.
    fn time_left(&self) -> Option<Duration> {
        let now = Instant::now();
        self.deadlines
            .iter()
            .copied()
            .collect::<Option<Vec<Instant>>>()?
            .into_iter()
            .max()
            .map(|deadline| {
                deadline
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1))
            })
    }
}

/// Applies the batch; if it fails as a whole, applies each half on its own,
/// down to single requests, which then get their own error.
async fn apply_splitting(ledger: &Ledger, batch: Batch) {
    // Each split halves a batch: at most 2n - 1 batches for n requests.
    let mut batches = vec![batch];
    while let Some(mut batch) = batches.pop() {
        assert_eq!(batch.commands.len(), batch.replies.len());
        if batch.commands.is_empty() {
            continue;
        }
        metrics::record_group_commit_batch_applied();
        match ledger
            .apply_batch_within(&batch.commands, batch.time_left())
            .await
        {
            Ok(answers) => {
                assert_eq!(answers.len(), batch.replies.len());
                for (reply, answer) in batch.replies.into_iter().zip(answers) {
                    let _ = reply.send(answer);
                }
            }
            Err(LedgerError::Unavailable(cause)) => {
                // Every request would fail the same way: answer them all.
                let detail = cause.to_string();
                tracing::warn!(error = %detail, requests = batch.replies.len(), "batch not applied");
                let mut replies = batch.replies.into_iter();
                if let Some(first) = replies.next() {
                    let _ = first.send(Err(LedgerError::Unavailable(cause)));
                }
                for reply in replies {
                    let _ = reply.send(Err(LedgerError::Unavailable(StoreError::Unreachable {
                        detail: detail.clone(),
                    })));
                }
            }
            Err(error) if batch.commands.len() == 1 => {
                let reply = batch.replies.pop().expect("one reply");
                let _ = reply.send(Err(error));
            }
            Err(error) => {
                tracing::debug!(%error, requests = batch.commands.len(), "batch failed, splitting it");
                metrics::record_group_commit_batch_split();
                let right = batch.split_off(batch.commands.len() / 2);
                // Left first: requests keep their order.
                batches.push(right);
                batches.push(batch);
            }
        }
    }
}
