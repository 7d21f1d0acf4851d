//! Tags: labels on customers, optionally with a value (`vip=reviewed`).

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::membership::{self, ChangeSource, MembershipOutcome};
use crate::domain::records::delete_by_id;
use crate::domain::segments;
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use entity::{customer, customer_tag, tag};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder,
};
use std::collections::HashMap;

/// The longest tag name.
pub const MAX_TAG_NAME: usize = 64;

/// A tag on one customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerTag {
    pub tag: tag::Model,
    pub value: Option<String>,
    pub set_at: i64,
}

/// Every tag, by name.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<tag::Model>> {
    Ok(tag::Entity::find()
        .order_by_asc(tag::Column::Name)
        .all(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<tag::Model>> {
    Ok(tag::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_by_name(db: &impl ConnectionTrait, name: &str) -> AppResult<Option<tag::Model>> {
    Ok(tag::Entity::find()
        .filter(tag::Column::Name.eq(name.trim()))
        .one(db)
        .await?)
}

/// Creates a tag; its name is unique.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    name: &str,
) -> AppResult<tag::Model> {
    let txn = begin_write(db).await?;
    let name = checked_name(&txn, name, None).await?;
    let now_ms = to_millis(now);
    let saved = tag::ActiveModel {
        id: ActiveValue::NotSet,
        name: ActiveValue::Set(name),
        created_at: ActiveValue::Set(now_ms),
        updated_at: ActiveValue::Set(now_ms),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(saved)
}

/// Renames a tag. `NOT_FOUND` when it does not exist.
pub async fn rename(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    name: &str,
) -> AppResult<tag::Model> {
    let txn = begin_write(db).await?;
    let current = find(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("tag {id} does not exist")))?;
    let name = checked_name(&txn, name, Some(id)).await?;
    let mut active: tag::ActiveModel = current.into();
    active.name = ActiveValue::Set(name);
    active.updated_at = ActiveValue::Set(to_millis(now));
    let saved = active.update(&txn).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a tag and takes it off every customer; the segments that name it follow.
/// `NOT_FOUND` when it does not exist.
pub async fn delete(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    id: i64,
) -> AppResult<()> {
    let txn = begin_write(db).await?;
    delete_by_id::<tag::Entity>(&txn, id, "tag").await?;
    let names =
        |c: &crate::domain::conditions::Condition| c.tag_refs().iter().any(|(_, tag)| *tag == id);
    let followed = segments::follow_deletion(&txn, to_millis(now), names).await?;
    txn.commit().await?;
    membership::announce_logged(bus, followed.logged_upto);
    Ok(())
}

/// Sets a tag (and its value) on a customer. Setting the same value again changes nothing.
pub async fn set_on_customer(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    customer_id: i64,
    tag_id: i64,
    value: Option<String>,
) -> AppResult<MembershipOutcome> {
    let txn = begin_write(db).await?;
    let mut checker = Checker::new();
    let customer = check_ids(&txn, customer_id, tag_id, &mut checker).await?;
    let value = match value {
        Some(raw) if !raw.trim().is_empty() => {
            checker.check("value", required_text(&raw, MAX_TEXT))
        }
        _ => None,
    };
    checker.finish()?;
    let Some(customer) = customer else {
        return Err(AppError::NotFound("no such customer".into()));
    };
    let change = membership::set_tag(
        &txn,
        to_millis(now),
        &customer,
        tag_id,
        value,
        ChangeSource::Admin,
    )
    .await?;
    let followed = segments::follow_customers(
        &txn,
        vec![(customer.id, segments::ADMIN.to_owned())],
        to_millis(now),
    )
    .await?;
    txn.commit().await?;
    membership::announce_logged(bus, followed.logged_upto);
    Ok(membership::conclude(bus, change))
}

/// Takes a tag off a customer.
pub async fn remove_from_customer(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    customer_id: i64,
    tag_id: i64,
) -> AppResult<MembershipOutcome> {
    let txn = begin_write(db).await?;
    let mut checker = Checker::new();
    let customer = check_ids(&txn, customer_id, tag_id, &mut checker).await?;
    checker.finish()?;
    let Some(customer) = customer else {
        return Err(AppError::NotFound("no such customer".into()));
    };
    let change =
        membership::clear_tag(&txn, to_millis(now), &customer, tag_id, ChangeSource::Admin).await?;
    let followed = segments::follow_customers(
        &txn,
        vec![(customer.id, segments::ADMIN.to_owned())],
        to_millis(now),
    )
    .await?;
    txn.commit().await?;
    membership::announce_logged(bus, followed.logged_upto);
    Ok(membership::conclude(bus, change))
}

/// The tags of each customer in `customer_ids`, by tag name.
pub async fn tags_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<CustomerTag>>> {
    let rows = customer_tag::Entity::find()
        .filter(customer_tag::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .find_also_related(tag::Entity)
        .order_by_asc(tag::Column::Name)
        .all(db)
        .await?;
    let mut by_customer: HashMap<i64, Vec<CustomerTag>> = HashMap::new();
    for (link, tag) in rows {
        if let Some(tag) = tag {
            by_customer
                .entry(link.customer_id)
                .or_default()
                .push(CustomerTag {
                    tag,
                    value: link.value,
                    set_at: link.set_at,
                });
        }
    }
    Ok(by_customer)
}

async fn check_ids(
    db: &impl ConnectionTrait,
    customer_id: i64,
    tag_id: i64,
    checker: &mut Checker,
) -> AppResult<Option<customer::Model>> {
    let customer = crate::domain::customers::find(db, customer_id).await?;
    if customer.is_none() {
        checker.refuse("customerId", ViolationCode::NotFound, "no such customer");
    }
    if find(db, tag_id).await?.is_none() {
        checker.refuse("tagId", ViolationCode::NotFound, "no such tag");
    }
    Ok(customer)
}

async fn checked_name(
    db: &impl ConnectionTrait,
    raw: &str,
    own_id: Option<i64>,
) -> AppResult<String> {
    let name = required_text(raw, MAX_TAG_NAME)
        .map_err(|(code, message)| AppError::invalid(&["name"], code, message))?;
    if find_by_name(db, &name)
        .await?
        .is_some_and(|other| Some(other.id) != own_id)
    {
        return Err(AppError::invalid(
            &["name"],
            ViolationCode::Taken,
            "another tag already has this name",
        ));
    }
    Ok(name)
}
