//! The one context type handed to every resolver and job.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::api_keys::KeyCache;
use crate::domain::deliveries::Senders;
use crate::domain::ingest::IngestQueue;
use crate::domain::storefront::shelves::Shelves;
use crate::events::EventBus;
use crate::supervisor::Supervisor;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// Shared handles of a running Nudge: database pool, clock, event bus, senders and settings.
#[derive(Clone)]
pub struct AppState {
    /// The pool that serves requests.
    pub db: DatabaseConnection,
    /// The pool of background work (ingest writers, processor, runner, dispatcher, ticks):
    /// however busy the API is, the engine keeps its connections.
    pub work_db: DatabaseConnection,
    pub clock: SharedClock,
    pub bus: EventBus,
    /// Woken after events are recorded, so the processor handles them at once.
    pub processor_wake: Arc<tokio::sync::Notify>,
    /// The group-commit writer of storefront events.
    pub ingest: IngestQueue,
    /// API keys checked lately.
    pub keys: KeyCache,
    /// What storefronts were shown lately, by customer.
    pub shelves: Arc<Shelves>,
    /// The mailer, the SMS client, the tracking-link signer and the dispatcher's bell.
    pub senders: Senders,
    /// Woken when webhook messages are queued by hand (tests, replays), so this process's
    /// webhook sender looks at once.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    pub settings: Arc<Settings>,
    /// The process's long-running tasks, restarted when they fail.
    pub supervisor: Supervisor,
}
