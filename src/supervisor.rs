//! Every long-running task of a process runs under the [`Supervisor`]: a task that panics or
//! returns is logged with its cause and started again after a backoff (100 ms, doubling to
//! 30 s, back to 100 ms once it has run a minute). A task that keeps failing — `GIVE_UP_AFTER`
//! failures with no healthy minute between them — cannot be restarted: the supervisor then
//! reports a fatal failure, and the server stops with a non-zero exit so that its process
//! manager starts it afresh.
//!
//! Tests (and operators' drills) can make a task fail on purpose: [`Supervisor::inject_fault`]
//! arms a fault that the task trips at the top of its next round ([`Supervisor::check`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a task must run before its failures are forgiven.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);
/// Failures in a row after which a task is given up.
const GIVE_UP_AFTER: u32 = 10;

/// What the supervisor knows of one task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskState {
    /// Times it was started again after a failure.
    pub restarts: u64,
    /// Why it last failed, if it ever did.
    pub last_failure: Option<String>,
    /// Whether it is running now (false while it waits to be restarted).
    pub running: bool,
}

#[derive(Default)]
struct Board {
    tasks: HashMap<String, TaskState>,
    faults: HashSet<String>,
}

/// The supervisor of one process's tasks; cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    board: Arc<Mutex<Board>>,
    fatal: watch::Sender<Option<String>>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self {
            board: Arc::default(),
            fatal: watch::channel(None).0,
        }
    }
}

impl Supervisor {
    /// Runs the task `make()` builds, under supervision, for the life of the runtime: built
    /// again and restarted each time it ends.
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (this, name) = (self.clone(), name.into());
        tokio::spawn(async move {
            let name = name.as_str();
            let mut backoff = FIRST_BACKOFF;
            let mut failures = 0_u32;
            loop {
                this.update(name, |t| t.running = true);
                let started = Instant::now();
                let cause = match tokio::spawn(make()).await {
                    Ok(()) => "the task returned".to_owned(),
                    Err(e) if e.is_panic() => panic_message(e.into_panic()),
                    // The runtime is shutting down.
                    Err(_) => return,
                };
                if started.elapsed() >= HEALTHY_AFTER {
                    failures = 0;
                    backoff = FIRST_BACKOFF;
                }
                failures += 1;
                this.update(name, |t| {
                    t.running = false;
                    t.last_failure = Some(cause.clone());
                });
                if failures >= GIVE_UP_AFTER {
                    tracing::error!(
                        task = name,
                        cause = %cause,
                        "a task failed {failures} times in a row; giving up"
                    );
                    let _ = this
                        .fatal
                        .send(Some(format!("the {name} task keeps failing: {cause}")));
                    return;
                }
                tracing::error!(
                    task = name,
                    cause = %cause,
                    restart_in_ms = backoff.as_millis() as u64,
                    "a task failed; restarting it"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                this.update(name, |t| t.restarts += 1);
            }
        });
    }

    /// What is known of every task, by name.
    pub fn tasks(&self) -> HashMap<String, TaskState> {
        self.lock().tasks.clone()
    }

    /// Resolves once a task was given up, with why; the server then stops.
    pub async fn fatal(&self) -> String {
        let mut fatal = self.fatal.subscribe();
        loop {
            if let Some(reason) = fatal.borrow_and_update().clone() {
                return reason;
            }
            if fatal.changed().await.is_err() {
                // The supervisor is gone with the process: nothing is fatal any more.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Arms a fault: the task `name` panics at its next [`Supervisor::check`].
    pub fn inject_fault(&self, name: &str) {
        self.lock().faults.insert(name.to_owned());
    }

    /// Called by a task at the top of each round: panics if a fault was armed for it.
    pub fn check(&self, name: &str) {
        if self.lock().faults.remove(name) {
            panic!("fault injected into the {name} task");
        }
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut TaskState)) {
        change(self.lock().tasks.entry(name.to_owned()).or_default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        // Every change is one call: a panic elsewhere cannot leave the board half-written.
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        format!("panicked: {text}")
    } else if let Some(text) = payload.downcast_ref::<String>() {
        format!("panicked: {text}")
    } else {
        "panicked".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_failing_task_is_restarted_with_backoff_and_given_up_when_it_keeps_failing() {
        let supervisor = Supervisor::default();
        let starts = Arc::new(AtomicU32::new(0));
        let counted = starts.clone();
        supervisor.spawn("flaky", move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                panic!("boom");
            }
        });

        let reason = supervisor.fatal().await;

        assert_eq!(starts.load(Ordering::SeqCst), GIVE_UP_AFTER);
        assert!(
            reason.contains("flaky") && reason.contains("boom"),
            "{reason}"
        );
        let state = &supervisor.tasks()["flaky"];
        assert_eq!(state.restarts, u64::from(GIVE_UP_AFTER - 1));
        assert!(!state.running);
    }

    #[tokio::test(start_paused = true)]
    async fn an_injected_fault_fails_the_task_once_and_it_comes_back() {
        let supervisor = Supervisor::default();
        let rounds = Arc::new(AtomicU32::new(0));
        let (counted, checker) = (rounds.clone(), supervisor.clone());
        supervisor.spawn("worker", move || {
            let (counted, checker) = (counted.clone(), checker.clone());
            async move {
                loop {
                    checker.check("worker");
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;

        supervisor.inject_fault("worker");
        tokio::time::sleep(Duration::from_millis(500)).await;

        let state = &supervisor.tasks()["worker"];
        assert_eq!(state.restarts, 1);
        assert!(state.running);
        assert!(
            state
                .last_failure
                .as_deref()
                .is_some_and(|f| f.contains("fault injected")),
            "{state:?}"
        );
    }
}
