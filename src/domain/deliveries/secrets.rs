//! Secrets every process of one database shares, made once: the first process to need one
//! stores a random value, and every process reads that value.

use crate::clock::to_millis;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::app_secret;
use rand::RngCore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ConnectionTrait, EntityTrait};

/// The key of tracking-link signatures.
pub const TRACKING: &str = "tracking";

/// The secret `name`, created (32 random bytes, hex) if it does not exist yet.
pub async fn ensure(
    db: &impl ConnectionTrait,
    name: &str,
    now: DateTime<Utc>,
) -> AppResult<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    app_secret::Entity::insert(app_secret::ActiveModel {
        name: ActiveValue::Set(name.to_owned()),
        value: ActiveValue::Set(hex::encode(bytes)),
        created_at: ActiveValue::Set(to_millis(now)),
    })
    .on_conflict(
        OnConflict::column(app_secret::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let stored = app_secret::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| crate::error::AppError::internal("a stored secret vanished"))?;
    Ok(stored.value)
}
