//! The webhook sender: claims due messages from the webhook outbox in order per customer
//! ([`claim`]), signs each as the Standard Webhooks specification says, posts it, and records
//! the outcome ([`record`]). It lives above deliveries: an endpoint it disables is told to the
//! shop's staff by email.

pub mod claim;
pub mod record;

use crate::clock::{SharedClock, to_millis};
use crate::config::Settings;
use crate::delivery::webhook::{Posted, WebhookClient};
use crate::domain::lease;
use crate::domain::webhooks::outbox::message_id;
use crate::domain::webhooks::signature;
use crate::error::AppResult;
use crate::events::EventBus;
use claim::{Claimed, claim_due};
use record::{Finished, Recorder};
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// The sender's task name.
pub const TASK: &str = "webhook sender";

/// Sends what is due in the webhook outbox.
#[derive(Clone)]
pub struct WebhookSender {
    db: DatabaseConnection,
    clock: SharedClock,
    client: WebhookClient,
    settings: Arc<Settings>,
    /// This process's name on the leases it takes.
    owner: String,
    wake: Arc<Notify>,
}

impl WebhookSender {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        settings: Arc<Settings>,
        wake: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        let hooks = &settings.webhooks;
        let client = WebhookClient::new(hooks.connect_timeout, hooks.timeout, hooks.allow_private)?;
        Ok(Self {
            db,
            clock,
            client,
            settings,
            owner: lease::owner_name(),
            wake,
        })
    }

    /// Runs until the process ends: a round whenever woken — by hand, or by membership
    /// changes announced on `bus` (with PostgreSQL, those of every process) — and at least
    /// every poll interval.
    pub async fn run(self, supervisor: crate::supervisor::Supervisor, bus: EventBus) {
        let hooks = &self.settings.webhooks;
        let mut changes = bus.subscribe();
        loop {
            supervisor.check(TASK);
            let claimed = match self.send_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "a webhook sender round failed");
                    0
                }
            };
            if claimed < hooks.batch {
                tokio::select! {
                    () = self.wake.notified() => {}
                    heard = changes.recv() => {
                        if matches!(heard, Err(RecvError::Closed)) {
                            tokio::time::sleep(hooks.poll).await;
                        }
                    }
                    () = tokio::time::sleep(hooks.poll) => {}
                }
                // One round answers every change announced meanwhile.
                while !matches!(
                    changes.try_recv(),
                    Err(TryRecvError::Empty | TryRecvError::Closed)
                ) {}
            }
        }
    }

    /// One round: claims what is due now, sends it, records the outcomes. Returns how many
    /// messages it claimed.
    pub async fn send_once(&self) -> AppResult<usize> {
        let hooks = &self.settings.webhooks;
        let now_ms = to_millis(self.clock.now());
        let lease_until = now_ms + i64::try_from(hooks.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let claimed = claim_due(&self.db, now_ms, &self.owner, hooks.batch, lease_until).await?;
        let count = claimed.len();
        let recorder = Recorder {
            db: &self.db,
            owner: &self.owner,
            settings: hooks,
            staff_email: self.settings.store.staff_email.as_deref(),
        };
        lease::pump(
            claimed,
            hooks.concurrency,
            |c| self.send_one(c),
            |group| recorder.record(group),
        )
        .await?;
        Ok(count)
    }

    async fn send_one(&self, claimed: Claimed) -> Finished {
        let started = self.clock.now();
        let started_ms = to_millis(started);
        let id = message_id(&claimed.message);
        let posted = match claimed.endpoint.signing_secrets(started_ms) {
            Ok(secrets) => {
                let timestamp = started.timestamp();
                let headers = [
                    ("webhook-id", id.clone()),
                    ("webhook-timestamp", timestamp.to_string()),
                    (
                        "webhook-signature",
                        signature::header(&secrets, &id, timestamp, claimed.body.as_bytes()),
                    ),
                ];
                self.client
                    .post(&claimed.endpoint.model.url, &headers, claimed.body.clone())
                    .await
            }
            Err(e) => Posted {
                status: None,
                answer: None,
                error: Some(e.to_string()),
                latency: std::time::Duration::ZERO,
            },
        };
        let outcome = if posted.succeeded() {
            "succeeded"
        } else {
            "failed"
        };
        metrics::counter!("nudge_webhook_attempts_total", "outcome" => outcome).increment(1);
        metrics::histogram!("nudge_webhook_latency_seconds").record(posted.latency.as_secs_f64());
        tracing::info!(
            webhook.message = claimed.message.id,
            webhook.endpoint = claimed.message.endpoint_id,
            webhook.attempt = claimed.message.attempts,
            webhook.status = posted.status,
            outcome,
            "webhook attempt"
        );
        Finished {
            finished_ms: to_millis(self.clock.now()),
            claimed,
            started_ms,
            posted,
        }
    }
}
