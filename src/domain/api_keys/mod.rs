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
    PaginatorTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use std::str::FromStr;

mod cache;
mod identity;
pub mod sessions;

pub use cache::{KeyCache, REVOCATION_POLL, REVOCATION_TASK, watch_revocations};
pub use identity::{IdentitySecret, Verification, disable_identity, enable_identity};

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
    /// For a storefront key that verifies customers: the key of their signatures.
    pub identity: Option<IdentitySecret>,
}

impl Principal {
    /// Whether this caller may read or write the customer the shop knows by `external_id`.
    /// Admin and integrator keys, and storefront keys without verification, always may; a
    /// verifying storefront key needs `signature`, the hex HMAC-SHA256 of the external id made
    /// with its identity secret. `FORBIDDEN` otherwise.
    pub fn check_customer(&self, external_id: &str, signature: Option<&str>) -> AppResult<()> {
        let Some(secret) = &self.identity else {
            return Ok(());
        };
        match signature {
            None => Err(AppError::Forbidden(
                "this storefront key verifies customers: send customerSignature, the hex \
                 HMAC-SHA256 of the customer's external id made with the key's identity secret"
                    .into(),
            )),
            Some(signature) if secret.verify(external_id.trim(), signature) => Ok(()),
            Some(_) => Err(AppError::Forbidden(
                "customerSignature is not the signature of this customer".into(),
            )),
        }
    }
}

/// A freshly created key with its secret, which is not stored and cannot be shown again, and
/// for a verifying storefront key its identity secret, shown this once too.
pub struct NewKey {
    pub key: api_key::Model,
    pub secret: String,
    pub identity_secret: Option<IdentitySecret>,
}

/// Creates a key named `name` with `scope`. A storefront key verifies customers unless
/// `verification` is [`Verification::ServerSide`]; other scopes ignore it.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    scope: Scope,
    name: &str,
    verification: Verification,
) -> AppResult<NewKey> {
    let name = required_text(name, 100)
        .map_err(|(code, message)| AppError::invalid(&["name"], code, message))?;
    insert_key(db, now, scope, name, verification).await
}

async fn insert_key(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    scope: Scope,
    name: String,
    verification: Verification,
) -> AppResult<NewKey> {
    let identity_secret = (scope == Scope::Storefront && verification == Verification::Verified)
        .then(IdentitySecret::generate);
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
        identity_required: ActiveValue::Set(identity_secret.is_some()),
        identity_secret: ActiveValue::Set(identity_secret.as_ref().map(|s| s.expose().to_owned())),
    }
    .insert(db)
    .await?;
    Ok(NewKey {
        key,
        secret,
        identity_secret,
    })
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
    insert_key(
        db,
        now,
        Scope::Admin,
        "bootstrap".to_owned(),
        Verification::ServerSide,
    )
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
    let key = get(&txn, id).await?;
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

/// The key with id `id`; `NOT_FOUND` when there is none.
pub(super) async fn get(db: &impl ConnectionTrait, id: i64) -> AppResult<api_key::Model> {
    api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("API key {id} does not exist")))
}

/// The caller behind a key's hash. A missing, unknown or revoked key is `UNAUTHENTICATED`.
pub(super) async fn authenticate_hash(
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
    let identity = match (key.identity_required, key.identity_secret) {
        (true, Some(secret)) => Some(IdentitySecret::from_stored(secret)),
        // Required without a secret cannot be made through Nudge: refuse every customer.
        (true, None) => Some(IdentitySecret::from_stored(String::new())),
        (false, _) => None,
    };
    Ok(Principal {
        key_id: key.id,
        key_name: key.name,
        scope,
        identity,
    })
}

/// The hash a key is stored and cached under.
pub fn key_hash(secret: &str) -> String {
    hash(secret.trim())
}

/// Checks a scope name typed by a person (CLI, API).
pub fn parse_scope(raw: &str) -> AppResult<Scope> {
    Scope::from_str(raw).map_err(|m| AppError::invalid(&["scope"], ViolationCode::Invalid, m))
}

pub(super) fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
