//! API keys: who may call Nudge, and with which scope. Only a SHA-256 of each secret is
//! stored; the secret is shown once, when the key is created.

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::values::required_text;
use crate::error::{AppError, AppResult, ViolationCode};
use base64::Engine;
use chrono::{DateTime, Utc};
use entity::api_key;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How often `last_used_at` is written for a busy key: at most once a minute.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;
/// Characters of the secret kept in clear to tell keys apart.
const PREFIX_LEN: usize = 12;

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything.
    Admin,
    /// Storefront operations only; never lists or reads other customers.
    Storefront,
    /// Reads and subscriptions.
    Integrator,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Storefront => "storefront",
            Scope::Integrator => "integrator",
        }
    }

    fn key_tag(self) -> &'static str {
        match self {
            Scope::Admin => "adm",
            Scope::Storefront => "sf",
            Scope::Integrator => "int",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Ok(Scope::Admin),
            "storefront" => Ok(Scope::Storefront),
            "integrator" => Ok(Scope::Integrator),
            other => Err(format!(
                "unknown scope {other:?}: expected admin, storefront or integrator"
            )),
        }
    }
}

/// The caller behind a valid key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub key_id: i64,
    pub key_name: String,
    pub scope: Scope,
}

/// A freshly created key with its secret, which is not stored and cannot be shown again.
pub struct NewKey {
    pub key: api_key::Model,
    pub secret: String,
}

/// Creates a key named `name` with `scope`.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    scope: Scope,
    name: &str,
) -> AppResult<NewKey> {
    let name = required_text(name, 100)
        .map_err(|(code, message)| AppError::invalid(&["name"], code, message))?;
    insert_key(db, now, scope, name).await
}

async fn insert_key(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    scope: Scope,
    name: String,
) -> AppResult<NewKey> {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!(
        "nk_{}_{}",
        scope.key_tag(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let key = api_key::ActiveModel {
        id: ActiveValue::NotSet,
        name: ActiveValue::Set(name),
        scope: ActiveValue::Set(scope.as_str().to_owned()),
        prefix: ActiveValue::Set(secret.chars().take(PREFIX_LEN).collect()),
        key_hash: ActiveValue::Set(hash(&secret)),
        created_at: ActiveValue::Set(to_millis(now)),
        last_used_at: ActiveValue::Set(None),
        revoked_at: ActiveValue::Set(None),
    }
    .insert(db)
    .await?;
    Ok(NewKey { key, secret })
}

/// On a database without any key, creates an admin key named `bootstrap` and returns it, so
/// the first user can sign in. Returns `None` when keys exist already.
pub async fn ensure_bootstrap_key(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> AppResult<Option<NewKey>> {
    if api_key::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    insert_key(db, now, Scope::Admin, "bootstrap".to_owned())
        .await
        .map(Some)
}

/// Every key, newest first (secrets are never returned).
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// Revokes a key; it stops working at once. Revoking twice keeps the first time.
/// `NOT_FOUND` when it does not exist.
pub async fn revoke(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
) -> AppResult<api_key::Model> {
    let txn = begin_write(db).await?;
    let key = api_key::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("API key {id} does not exist")))?;
    let key = if key.revoked_at.is_some() {
        key
    } else {
        let mut active: api_key::ActiveModel = key.into();
        active.revoked_at = ActiveValue::Set(Some(to_millis(now)));
        active.update(&txn).await?
    };
    txn.commit().await?;
    Ok(key)
}

/// The caller behind a key's hash. A missing, unknown or revoked key is `UNAUTHENTICATED`.
async fn authenticate_hash(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    key_hash: &str,
) -> AppResult<Principal> {
    let refused = || AppError::Unauthenticated("the API key is not valid".into());
    // `all` rather than `one`: SQLite re-prepares a statement whose `LIMIT ?` is bound anew,
    // and this runs on every request. The hash is unique, so there is at most one row.
    let key = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(key_hash))
        .all(db)
        .await?
        .pop()
        .ok_or_else(refused)?;
    if key.revoked_at.is_some() {
        return Err(refused());
    }
    let scope = Scope::from_str(&key.scope).map_err(AppError::internal)?;
    let now_ms = to_millis(now);
    if key
        .last_used_at
        .is_none_or(|at| now_ms - at >= LAST_USED_RESOLUTION_MS)
    {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now_ms))
            .filter(api_key::Column::Id.eq(key.id))
            .exec(db)
            .await?;
    }
    Ok(Principal {
        key_id: key.id,
        key_name: key.name,
        scope,
    })
}

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
        self.lock()
            .retain(|_, (principal, _)| principal.key_id != key_id);
        // Nobody listening is fine: no connection holds the key.
        let _ = self.revoked.send(key_id);
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

/// How often a process looks for keys revoked elsewhere.
pub const REVOCATION_POLL: Duration = Duration::from_millis(250);

/// Runs for the life of the process: every [`REVOCATION_POLL`] reads which keys are revoked
/// and [`KeyCache::forget`]s each newly revoked one, so that connections opened with it
/// (WebSockets) close within a fraction of a second, whichever process revoked it. A failed
/// read is logged and tried again at the next poll.
pub async fn watch_revocations(db: DatabaseConnection, keys: KeyCache) {
    let mut known: Option<HashSet<i64>> = None;
    let mut ticker = tokio::time::interval(REVOCATION_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let revoked = match revoked_ids(&db).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "could not read revoked API keys");
                continue;
            }
        };
        if let Some(known) = &known {
            for id in revoked.difference(known) {
                tracing::info!(key.id = id, "an API key was revoked");
                keys.forget(*id);
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

/// The hash a key is stored and cached under.
pub fn key_hash(secret: &str) -> String {
    hash(secret.trim())
}

/// Checks a scope name typed by a person (CLI, API).
pub fn parse_scope(raw: &str) -> AppResult<Scope> {
    Scope::from_str(raw).map_err(|m| AppError::invalid(&["scope"], ViolationCode::Invalid, m))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
