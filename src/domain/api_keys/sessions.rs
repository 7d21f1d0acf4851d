//! Console sessions: a person signs in with an admin or integrator key once and carries a
//! random token in a cookie instead. Only the token's SHA-256 is stored. A session lasts
//! `NUDGE_CONSOLE_SESSION_MINUTES` from sign-in and ends earlier when its person signs out or
//! its key is revoked: every request checks the key again through the [`KeyCache`]. Sessions
//! live in the database, so every server process of one PostgreSQL knows them.

use super::{KeyCache, Principal, Scope, hash};
use crate::clock::to_millis;
use crate::error::{AppError, AppResult};
use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{api_key, console_session};
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect,
};
use std::time::Duration;

/// A session just opened: the token for the cookie (never stored) and the caller.
pub struct Opened {
    pub token: String,
    pub principal: Principal,
}

/// Exchanges a key for a session of `lifetime`. Storefront keys may not sign in
/// (`FORBIDDEN`); an unknown or revoked key is `UNAUTHENTICATED`. Sessions that ended more
/// than a day ago are deleted on the way.
pub async fn open(
    db: &DatabaseConnection,
    keys: &KeyCache,
    now: DateTime<Utc>,
    secret: &str,
    lifetime: Duration,
) -> AppResult<Opened> {
    let principal = keys.authenticate(db, now, secret).await?;
    if principal.scope == Scope::Storefront {
        return Err(AppError::Forbidden(
            "a storefront key cannot sign in to the console: use an admin or integrator key".into(),
        ));
    }
    let now_ms = to_millis(now);
    console_session::Entity::delete_many()
        .filter(console_session::Column::ExpiresAt.lt(now_ms - 86_400_000))
        .exec(db)
        .await?;
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = now + chrono::Duration::from_std(lifetime).map_err(AppError::internal)?;
    console_session::ActiveModel {
        id: ActiveValue::NotSet,
        token_hash: ActiveValue::Set(hash(&token)),
        api_key_id: ActiveValue::Set(principal.key_id),
        created_at: ActiveValue::Set(now_ms),
        expires_at: ActiveValue::Set(to_millis(expires_at)),
        revoked_at: ActiveValue::Set(None),
    }
    .insert(db)
    .await?;
    Ok(Opened { token, principal })
}

/// The caller behind a session token, with the hash of its key (for a WebSocket that checks
/// the key again on every operation). An unknown, expired or signed-out session, or one whose
/// key was revoked, is `UNAUTHENTICATED`.
pub async fn resolve(
    db: &DatabaseConnection,
    keys: &KeyCache,
    now: DateTime<Utc>,
    token: &str,
) -> AppResult<(Principal, String)> {
    let ended = || AppError::Unauthenticated("the console session has ended: sign in again".into());
    // `all` rather than `one`, as for keys: no `LIMIT ?` to re-prepare on SQLite.
    let session = console_session::Entity::find()
        .filter(console_session::Column::TokenHash.eq(hash(token.trim())))
        .all(db)
        .await?
        .pop()
        .filter(|s| s.revoked_at.is_none() && s.expires_at > to_millis(now))
        .ok_or_else(ended)?;
    let key_hash = api_key::Entity::find()
        .select_only()
        .column(api_key::Column::KeyHash)
        .filter(api_key::Column::Id.eq(session.api_key_id))
        .into_tuple::<String>()
        .all(db)
        .await?
        .pop()
        .ok_or_else(ended)?;
    let principal = keys
        .authenticate_hash(db, now, &key_hash)
        .await
        .map_err(|_| ended())?;
    Ok((principal, key_hash))
}

/// Ends a session (signing out). Ending an unknown or ended session does nothing.
pub async fn close(db: &DatabaseConnection, now: DateTime<Utc>, token: &str) -> AppResult<()> {
    console_session::Entity::update_many()
        .col_expr(
            console_session::Column::RevokedAt,
            Expr::value(to_millis(now)),
        )
        .filter(console_session::Column::TokenHash.eq(hash(token.trim())))
        .filter(console_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
