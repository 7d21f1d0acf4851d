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
//! On PostgreSQL, several processes each run their own writer; the customer rows a group
//! writes are locked for its transaction (see `customers::load_or_create`).

use super::check::CheckedBatch;
use super::record::{CallResult, record_group, record_one};
use crate::db::{WriteTxn, begin_write};
use crate::error::{AppError, AppResult};
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

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
    /// Starts the writer task. `on_commit` runs after every committed group (it wakes the
    /// event processor).
    pub fn start(
        db: DatabaseConnection,
        store_currency: String,
        on_commit: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_groups(db, store_currency, receiver, on_commit));
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

async fn write_groups(
    db: DatabaseConnection,
    store_currency: String,
    mut receiver: mpsc::Receiver<Job>,
    on_commit: impl Fn(),
) {
    while let Some(first) = receiver.recv().await {
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
        let (batches, replies): (Vec<CheckedBatch>, Vec<_>) =
            jobs.into_iter().map(|job| (job.batch, job.reply)).unzip();
        let answers = write_group(&db, &store_currency, &batches).await;
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

/// Records the group in one transaction; one answer per batch.
async fn write_group(
    db: &DatabaseConnection,
    store_currency: &str,
    batches: &[CheckedBatch],
) -> Vec<CallResult> {
    let grouped = match begin_write(db).await {
        Ok(txn) => match record_group(&txn, store_currency, batches).await {
            Ok(answers) => commit(txn, answers).await,
            Err(e) => {
                // The answer is `e` (or a retry below); a failed rollback adds nothing to it.
                let _ = txn.rollback().await;
                Err(e)
            }
        },
        Err(e) => Err(e.into()),
    };
    match grouped {
        Ok(answers) => answers,
        Err(e) if batches.len() == 1 => vec![Err(e)],
        Err(_) => one_by_one(db, store_currency, batches).await,
    }
}

/// Records each batch in a savepoint of its own, so a failing one fails alone.
async fn one_by_one(
    db: &DatabaseConnection,
    store_currency: &str,
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
        let alone = txn
            .in_savepoint(async |sp| record_one(sp, store_currency, batch).await)
            .await;
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
