//! The suppression list: addresses no message goes to on a channel, whatever consent says —
//! unsubscribed through a link, a STOP reply, a bounce reported by the provider, or added by
//! an admin.

use crate::clock::to_millis;
use crate::domain::page::{Page, PageRequest, fetch_page};
use crate::domain::templates::Channel;
use crate::domain::values::{EmailAddress, PhoneNumber};
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::suppression;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter,
};

/// Suppresses `address` (already normalised) on `channel`; a second call
/// keeps the first reason.
pub async fn suppress(
    db: &impl ConnectionTrait,
    channel: Channel,
    address: &str,
    reason: &str,
    customer_id: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    suppression::Entity::insert(suppression::ActiveModel {
        id: ActiveValue::NotSet,
        channel: ActiveValue::Set(channel.as_str().to_owned()),
        address: ActiveValue::Set(address.to_owned()),
        reason: ActiveValue::Set(reason.to_owned()),
        customer_id: ActiveValue::Set(customer_id),
        created_at: ActiveValue::Set(to_millis(now)),
    })
    .on_conflict(
        OnConflict::columns([suppression::Column::Channel, suppression::Column::Address])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Adds an address by hand; refuses a malformed one.
pub async fn add(
    db: &DatabaseConnection,
    channel: Channel,
    raw_address: &str,
    now: DateTime<Utc>,
) -> AppResult<suppression::Model> {
    let address = normalise(channel, raw_address)
        .map_err(|(code, message)| AppError::invalid(&["address"], code, message))?;
    suppress(db, channel, &address, "manual", None, now).await?;
    suppression::Entity::find()
        .filter(suppression::Column::Channel.eq(channel.as_str()))
        .filter(suppression::Column::Address.eq(address.as_str()))
        .one(db)
        .await?
        .ok_or_else(|| AppError::internal("a suppression vanished after it was written"))
}

/// An address as the suppression list stores it: a lower-case email, an E.164 number.
pub fn normalise(channel: Channel, raw: &str) -> Result<String, (ViolationCode, String)> {
    match channel {
        Channel::Sms => PhoneNumber::parse(raw).map(|p| p.as_str().to_owned()),
        Channel::Email => EmailAddress::parse(raw).map(|e| e.as_str().to_owned()),
    }
}

/// Lifts a suppression; the customer's consent stays as it is.
pub async fn remove(db: &DatabaseConnection, id: i64) -> AppResult<()> {
    crate::domain::records::delete_by_id::<suppression::Entity>(db, id, "suppression").await
}

/// A page of the list, optionally of one channel.
pub async fn list(
    db: &impl ConnectionTrait,
    channel: Option<Channel>,
    page: PageRequest,
) -> AppResult<Page<suppression::Model>> {
    let mut condition = Condition::all();
    if let Some(channel) = channel {
        condition = condition.add(suppression::Column::Channel.eq(channel.as_str()));
    }
    let select = suppression::Entity::find().filter(condition);
    Ok(fetch_page(db, select, suppression::Column::Id, page).await?)
}
