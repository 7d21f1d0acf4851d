//! The keys a server has checked lately, and how each process learns of revocations.

use super::{Principal, authenticate_hash, hash};
use crate::error::AppResult;
use crate::supervisor::Supervisor;
use chrono::{DateTime, Utc};
use entity::api_key;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Valid keys a server has seen lately, so that a request does not read its key from the
/// database every time. An entry is trusted for [`KeyCache::TTL`]; refusals are never kept.
/// A key revoked through this server is forgotten at once ([`KeyCache::forget`]); a key
/// revoked by another process (another server, `nudge keys revoke`) is refused here within
/// the TTL, and [`watch_revocations`] tells this process's open connections within
/// [`REVOCATION_POLL`].
#[derive(Clone)]
pub struct KeyCache {
    entries: std::sync::Arc<std::sync::Mutex<HashMap<String, (Principal, Instant)>>>,
    revoked: broadcast::Sender<i64>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            entries: std::sync::Arc::default(),
            revoked: broadcast::channel(256).0,
        }
    }
}

impl KeyCache {
    /// How long a checked key is trusted without asking the database again.
    pub const TTL: Duration = Duration::from_secs(1);

    /// The caller a secret belongs to; an unknown or revoked key is `UNAUTHENTICATED`.
    pub async fn authenticate(
        &self,
        db: &DatabaseConnection,
        now: DateTime<Utc>,
        secret: &str,
    ) -> AppResult<Principal> {
        self.authenticate_hash(db, now, &hash(secret.trim())).await
    }

    /// Like [`KeyCache::authenticate`], with the key's hash ([`key_hash`]), for a connection
    /// that checks its key again on every operation without keeping the secret.
    pub async fn authenticate_hash(
        &self,
        db: &DatabaseConnection,
        now: DateTime<Utc>,
        key_hash: &str,
    ) -> AppResult<Principal> {
        if let Some(principal) = self.fresh(key_hash) {
            return Ok(principal);
        }
        let principal = authenticate_hash(db, now, key_hash).await?;
        self.lock()
            .insert(key_hash.to_owned(), (principal.clone(), Instant::now()));
        Ok(principal)
    }

    /// Stops trusting a key (after it was revoked) and tells whoever holds it open.
    pub fn forget(&self, key_id: i64) {
        self.refresh(key_id);
        // Nobody listening is fine: no connection holds the key.
        let _ = self.revoked.send(key_id);
    }

    /// Stops trusting what was checked of a key whose settings changed (not revoked).
    pub fn refresh(&self, key_id: i64) {
        self.lock()
            .retain(|_, (principal, _)| principal.key_id != key_id);
    }

    /// The ids of keys revoked from now on, as this process learns of them.
    pub fn revocations(&self) -> broadcast::Receiver<i64> {
        self.revoked.subscribe()
    }

    fn fresh(&self, key_hash: &str) -> Option<Principal> {
        let mut entries = self.lock();
        match entries.get(key_hash) {
            Some((principal, checked)) if checked.elapsed() < Self::TTL => Some(principal.clone()),
            Some(_) => {
                entries.remove(key_hash);
                None
            }
            None => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Principal, Instant)>> {
        // A panic while holding the lock leaves the map consistent: every change is one call.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The revocation watcher's task name.
pub const REVOCATION_TASK: &str = "revocation watcher";

/// How often a process looks for keys revoked elsewhere.
pub const REVOCATION_POLL: Duration = Duration::from_millis(250);

/// Runs for the life of the process: every [`REVOCATION_POLL`] reads which keys are revoked
/// and [`KeyCache::forget`]s each newly revoked one, so that connections opened with it
/// (WebSockets) close within a fraction of a second, whichever process revoked it. A failed
/// read is logged and tried again at the next poll.
pub async fn watch_revocations(db: DatabaseConnection, keys: KeyCache, supervisor: Supervisor) {
    let mut known: Option<HashSet<i64>> = None;
    let mut ticker = tokio::time::interval(REVOCATION_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        supervisor.check(REVOCATION_TASK);
        let revoked = match revoked_ids(&db).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "could not read revoked API keys");
                continue;
            }
        };
        match &known {
            Some(known) => {
                for id in revoked.difference(known) {
                    tracing::info!(key.id = id, "an API key was revoked");
                    keys.forget(*id);
                }
            }
            // The first look (at start, or after a restart of this task): a key revoked before
            // it may be cached already, or hold a WebSocket opened just before; forgetting
            // every revoked key closes those too.
            None => {
                for id in &revoked {
                    keys.forget(*id);
                }
            }
        }
        known = Some(revoked);
    }
}

async fn revoked_ids(db: &DatabaseConnection) -> AppResult<HashSet<i64>> {
    Ok(api_key::Entity::find()
        .select_only()
        .column(api_key::Column::Id)
        .filter(api_key::Column::RevokedAt.is_not_null())
        .into_tuple::<i64>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}
