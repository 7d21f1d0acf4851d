//! Group commit for ingest on SQLite. SQLite has one writer, so concurrent `recordEvents`
//! calls would only queue for it; instead they hand their checked batches to one writer task,
//! which records everything waiting in one transaction — each call inside its own savepoint,
//! so a refused call is rolled back alone — and answers every caller once the transaction has
//! committed. Each call stays all-or-nothing and durable before it returns, while the database
//! sees one commit for many calls. PostgreSQL writes concurrently, so there each call simply
//! runs its own transaction.

use super::record::{CheckedBatch, RecordedEvent, record_checked};
use crate::db::begin_write;
use crate::error::{AppError, AppResult};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{mpsc, oneshot};

/// How many events one group transaction takes at most.
const GROUP_EVENTS: usize = 2000;
/// How many calls may wait for the writer before callers wait to hand theirs over.
const QUEUE_DEPTH: usize = 1024;

struct Job {
    batch: CheckedBatch,
    reply: oneshot::Sender<AppResult<Vec<RecordedEvent>>>,
}

/// The handle request handlers use; cheap to clone.
#[derive(Clone)]
pub struct IngestQueue {
    mode: Mode,
    on_commit: std::sync::Arc<dyn Fn() + Send + Sync>,
}

#[derive(Clone)]
enum Mode {
    Grouped(mpsc::Sender<Job>),
    Direct {
        db: DatabaseConnection,
        store_currency: String,
    },
}

impl IngestQueue {
    /// Starts the writer task. `on_commit` runs after every committed group (it wakes the
    /// event processor).
    pub fn start(
        db: DatabaseConnection,
        store_currency: String,
        on_commit: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let on_commit: std::sync::Arc<dyn Fn() + Send + Sync> = std::sync::Arc::new(on_commit);
        let mode = if db.get_database_backend() == DbBackend::Sqlite {
            let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
            tokio::spawn(write_groups(
                db,
                store_currency,
                receiver,
                on_commit.clone(),
            ));
            Mode::Grouped(sender)
        } else {
            Mode::Direct { db, store_currency }
        };
        Self { mode, on_commit }
    }

    /// Records a checked batch and returns its results once committed.
    pub async fn record(&self, batch: CheckedBatch) -> AppResult<Vec<RecordedEvent>> {
        match &self.mode {
            Mode::Direct { db, store_currency } => {
                let txn = begin_write(db).await?;
                let results = record_checked(&txn, store_currency, batch).await?;
                txn.commit().await?;
                (self.on_commit)();
                Ok(results)
            }
            Mode::Grouped(sender) => {
                let (reply, answer) = oneshot::channel();
                sender
                    .send(Job { batch, reply })
                    .await
                    .map_err(|_| AppError::internal("the ingest writer has stopped"))?;
                answer
                    .await
                    .map_err(|_| AppError::internal("the ingest writer dropped a call"))?
            }
        }
    }
}

async fn write_groups(
    db: DatabaseConnection,
    store_currency: String,
    mut receiver: mpsc::Receiver<Job>,
    on_commit: std::sync::Arc<dyn Fn() + Send + Sync>,
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
        let replies = write_group(&db, &store_currency, jobs).await;
        let committed = replies.iter().any(|(_, result)| result.is_ok());
        for (reply, result) in replies {
            // A caller that went away no longer needs its answer.
            let _ = reply.send(result);
        }
        if committed {
            on_commit();
        }
    }
}

type Reply = (
    oneshot::Sender<AppResult<Vec<RecordedEvent>>>,
    AppResult<Vec<RecordedEvent>>,
);

async fn write_group(db: &DatabaseConnection, store_currency: &str, jobs: Vec<Job>) -> Vec<Reply> {
    let txn = match begin_write(db).await {
        Ok(txn) => txn,
        Err(e) => return fail_all(jobs, &e.to_string()),
    };
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let result = match txn.savepoint().await {
            Ok(savepoint) => match record_checked(&savepoint, store_currency, job.batch).await {
                Ok(results) => savepoint
                    .commit()
                    .await
                    .map(|()| results)
                    .map_err(AppError::from),
                Err(e) => {
                    let _ = savepoint.rollback().await;
                    Err(e)
                }
            },
            Err(e) => Err(AppError::from(e)),
        };
        outcomes.push((job.reply, result));
    }
    if let Err(e) = txn.commit().await {
        let message = e.to_string();
        return outcomes
            .into_iter()
            .map(|(reply, result)| match result {
                Ok(_) => (reply, Err(AppError::internal(message.clone()))),
                refused => (reply, refused),
            })
            .collect();
    }
    outcomes
}

fn fail_all(jobs: Vec<Job>, message: &str) -> Vec<Reply> {
    jobs.into_iter()
        .map(|job| (job.reply, Err(AppError::internal(message.to_owned()))))
        .collect()
}
