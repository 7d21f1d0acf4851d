//! The one context type handed to every resolver and job.

use crate::clock::SharedClock;
use crate::config::Settings;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// Shared handles of a running Nudge: database pool, clock and settings.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
}
