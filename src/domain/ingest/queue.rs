//! Group commit for ingest. Concurrent `recordEvents` calls hand their checked batches to one
//! writer task, which records everything waiting in one transaction with the statements of
//! one call (see [`record_group`]) and answers every caller once the transaction has
//! committed. Each call stays all-or-nothing and durable before it returns, while the database
//! sees a few statements and one commit for many calls.
//!
//! A call refused by a check against the database is refused alone. When something fails
//! once writing began, the group's work is rolled back and its calls are recorded again one by
//! one, each in a savepoint of its own, so one bad call never fails the others.
//!
//! Before each group a writer waits while the processor is too far behind (see [`backlog`]).
//!
//! On PostgreSQL a process runs several writers (`NUDGE_INGEST_WRITERS`), as several processes
//! do, so one group's round trips overlap another's work: the customer rows a group writes are
//! locked for its transaction, in one order (see `customers::load_or_create`), and a call that
//! collides with another writer's copy of the same event id is recorded again once that one
//! has committed (see [`write_group`]). On SQLite, where one transaction writes at a time, there
//! is one writer.

use super::backlog::Gate;
use super::check::CheckedBatch;
use super::record::{CallResult, record_group, record_one};
use crate::config::StoreSettings;
use crate::db::{WriteTxn, begin_write};
use crate::error::{AppError, AppResult};
use crate::supervisor::Supervisor;
use sea_orm::{DatabaseConnection, DbBackend};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// How many events one group transaction takes at most.
const GROUP_EVENTS: usize = 2000;
/// How many calls may wait for the writer before callers wait to hand theirs over.
const QUEUE_DEPTH: usize = 1024;

struct Job {
    batch: CheckedBatch,
    reply: oneshot::Sender<CallResult>,
}

/// The handle request handlers use; cheap to clone.
#[derive(Clone)]
pub struct IngestQueue {
    sender: mpsc::Sender<Job>,
}

impl IngestQueue {
    /// Starts `writers` writer tasks (one on SQLite), each holding its next group while more
    /// than `max_backlog` events wait for the processor (never, when 0). `on_commit` runs
    /// after every committed group (it wakes the event processor).
    pub fn start(
        supervisor: &Supervisor,
        db: DatabaseConnection,
        store: StoreSettings,
        writers: usize,
        max_backlog: u64,
        on_commit: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        let on_commit: Arc<dyn Fn() + Send + Sync> = Arc::new(on_commit);
        let writers = match db.get_database_backend() {
            DbBackend::Sqlite => 1,
            _ => writers.max(1),
        };
        for n in 1..=writers {
            let name = format!("ingest writer {n}");
            let (db, store, task) = (db.clone(), store.clone(), name.clone());
            let (receiver, on_commit, faults) =
                (receiver.clone(), on_commit.clone(), supervisor.clone());
            // A writer that fails drops the replies of the calls it held (their callers get
            // an error at once) and is started again; the queue waits for it meanwhile.
            supervisor.spawn(name, move || {
                write_groups(
                    db.clone(),
                    store.clone(),
                    receiver.clone(),
                    on_commit.clone(),
                    Gate::new(max_backlog),
                    faults.clone(),
                    task.clone(),
                )
            });
        }
        Self { sender }
    }

    /// Records a checked batch and returns its results once committed.
    pub async fn record(&self, batch: CheckedBatch) -> AppResult<Vec<super::RecordedEvent>> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { batch, reply })
            .await
            .map_err(|_| AppError::internal("the ingest writer has stopped"))?;
        answer
            .await
            .map_err(|_| AppError::internal("the ingest writer dropped a call"))?
    }
}

/// One writer: takes what waits (while it holds the receiver, the other writers wait for their
/// turn to take), waits while the processor is too far behind, records it, answers, and comes
/// back for more.
async fn write_groups(
    db: DatabaseConnection,
    store: StoreSettings,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    on_commit: Arc<dyn Fn() + Send + Sync>,
    mut gate: Gate,
    supervisor: Supervisor,
    name: String,
) {
    while let Some(jobs) = take_group(&receiver, &mut gate, &db).await {
        supervisor.check(&name);
        let (batches, replies): (Vec<CheckedBatch>, Vec<_>) =
            jobs.into_iter().map(|job| (job.batch, job.reply)).unzip();
        let answers = write_group(&db, &store, &batches).await;
        let committed = answers.iter().any(Result::is_ok);
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A caller that went away no longer needs its answer.
            let _ = reply.send(answer);
        }
        if committed {
            on_commit();
        }
    }
}

/// The calls waiting for a writer once the gate lets a group through, up to [`GROUP_EVENTS`]
/// events (the calls that came while it was held included); `None` once the queue closed.
async fn take_group(
    receiver: &Mutex<mpsc::Receiver<Job>>,
    gate: &mut Gate,
    db: &DatabaseConnection,
) -> Option<Vec<Job>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    gate.admit(db).await;
    let mut events = first.batch.len();
    let mut jobs = vec![first];
    while events < GROUP_EVENTS {
        match receiver.try_recv() {
            Ok(job) => {
                events += job.batch.len();
                jobs.push(job);
            }
            Err(_) => break,
        }
    }
    Some(jobs)
}

/// How often a group that PostgreSQL chose to break a deadlock is tried again.
const DEADLOCK_TRIES: usize = 5;

/// Records the group in one transaction; one answer per batch. A group whose transaction
/// PostgreSQL gave up to break a deadlock (with the event processor's round, say) is simply
/// tried again.
async fn write_group(
    db: &DatabaseConnection,
    store: &StoreSettings,
    batches: &[CheckedBatch],
) -> Vec<CallResult> {
    let mut tries = 0;
    let grouped = loop {
        tries += 1;
        let grouped = match begin_write(db).await {
            Ok(txn) => match record_group(&txn, store, batches).await {
                Ok(answers) => commit(txn, answers).await,
                Err(e) => {
                    // The answer is `e` (or a retry below); a failed rollback adds nothing.
                    let _ = txn.rollback().await;
                    Err(e)
                }
            },
            Err(e) => Err(e.into()),
        };
        match grouped {
            Err(e) if e.is_deadlock() && tries < DEADLOCK_TRIES => {
                tracing::debug!(tries, "an ingest group met a deadlock; trying again");
            }
            grouped => break grouped,
        }
    };
    match grouped {
        Ok(answers) => answers,
        // A call refused while applied is refused alone; a database error — such as another
        // writer's copy of one of its event ids, committed while this group waited for the
        // customer's lock (a unique violation: `Conflict`) — is worth one more try, which
        // finds that copy and answers from it.
        Err(e)
            if batches.len() == 1
                && !matches!(e, AppError::Internal(_) | AppError::Conflict(_)) =>
        {
            vec![Err(e)]
        }
        Err(_) => one_by_one(db, store, batches).await,
    }
}

/// Records each batch in a savepoint of its own, so a failing one fails alone.
async fn one_by_one(
    db: &DatabaseConnection,
    store: &StoreSettings,
    batches: &[CheckedBatch],
) -> Vec<CallResult> {
    let txn = match begin_write(db).await {
        Ok(txn) => txn,
        Err(e) => {
            let message = e.to_string();
            return (0..batches.len())
                .map(|_| Err(AppError::internal(message.clone())))
                .collect();
        }
    };
    let mut answers = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut tries = 0;
        let alone = loop {
            tries += 1;
            let alone = txn
                .in_savepoint(async |sp| record_one(sp, store, batch).await)
                .await;
            match alone {
                // Another writer's copy of one of its event ids committed while this one
                // waited: the next try finds that copy. Each conflict is one more id found, so
                // a call meets at most as many as it has events.
                Err(AppError::Conflict(_)) if tries <= batch.len() => {}
                alone => break alone,
            }
        };
        answers.push(alone);
    }
    let committed = txn.commit().await;
    answers
        .into_iter()
        .map(|answer| match (&committed, answer) {
            (Err(e), Ok(_)) => Err(AppError::internal(e.to_string())),
            (_, answer) => answer,
        })
        .collect()
}

/// Commits; the answers stand only if the commit does.
async fn commit(txn: WriteTxn, answers: Vec<CallResult>) -> AppResult<Vec<CallResult>> {
    txn.commit().await?;
    Ok(answers)
}
