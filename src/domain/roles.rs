//! Roles: named customer groups whose recommended products storefronts show to members.

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::membership::{self, ChangeSource, MembershipOutcome};
use crate::domain::records::delete_by_id;
use crate::domain::segments;
use crate::domain::stale::{Stale, stale};
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use entity::{customer, customer_role, product, role, role_product};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder,
};
use std::collections::{HashMap, HashSet};

/// The most products one role may recommend.
pub const MAX_RECOMMENDED: usize = 100;

/// Fields of a role; on update, `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct RoleInput {
    pub name: Option<String>,
    pub system_name: Option<String>,
    pub priority: Option<i32>,
    /// The shop's product ids, in the order storefronts should show them.
    pub recommended_products: Option<Vec<String>>,
}

/// Every role, highest priority first.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<role::Model>> {
    Ok(role::Entity::find()
        .order_by_desc(role::Column::Priority)
        .order_by_asc(role::Column::Id)
        .all(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<role::Model>> {
    Ok(role::Entity::find_by_id(id).one(db).await?)
}

pub async fn find_by_system_name(
    db: &impl ConnectionTrait,
    system_name: &str,
) -> AppResult<Option<role::Model>> {
    Ok(role::Entity::find()
        .filter(role::Column::SystemName.eq(system_name.trim()))
        .one(db)
        .await?)
}

/// Creates a role. `name` and `systemName` are required; `systemName` is unique.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    input: RoleInput,
) -> AppResult<role::Model> {
    let txn = begin_write(db).await?;
    let mut checker = Checker::new();
    for (field, value) in [("name", &input.name), ("systemName", &input.system_name)] {
        if value.is_none() {
            checker.refuse(field, ViolationCode::Blank, "must not be blank");
        }
    }
    let now_ms = to_millis(now);
    let blank = role::Model {
        id: 0,
        name: String::new(),
        system_name: String::new(),
        priority: 0,
        created_at: now_ms,
        updated_at: now_ms,
    };
    let (model, products) = apply(&txn, blank, input, checker).await?;
    let mut active: role::ActiveModel = model.into();
    active = active.reset_all();
    active.id = ActiveValue::NotSet;
    let saved = active.insert(&txn).await?;
    if let Some(products) = products {
        replace_products(&txn, saved.id, &products).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// Changes a role. `NOT_FOUND` when it does not exist.
pub async fn update(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    input: RoleInput,
) -> AppResult<role::Model> {
    let txn = begin_write(db).await?;
    let current = find(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("role {id} does not exist")))?;
    let (mut model, products) = apply(&txn, current, input, Checker::new()).await?;
    model.updated_at = to_millis(now);
    let active: role::ActiveModel = model.into();
    let saved = active.reset_all().update(&txn).await?;
    if let Some(products) = products {
        replace_products(&txn, saved.id, &products).await?;
    }
    // Its priority or products decide what its members are recommended.
    stale(&txn, Stale::Everyone).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a role and its memberships. `NOT_FOUND` when it does not exist.
pub async fn delete(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    id: i64,
) -> AppResult<()> {
    let txn = begin_write(db).await?;
    delete_by_id::<role::Entity>(&txn, id, "role").await?;
    stale(&txn, Stale::Everyone).await?;
    let names = |c: &crate::domain::conditions::Condition| {
        c.role_refs().iter().any(|(_, role)| *role == id)
    };
    let followed = segments::follow_deletion(&txn, to_millis(now), names).await?;
    txn.commit().await?;
    membership::announce_logged(bus, followed.logged_upto);
    Ok(())
}

/// Puts a customer in a role. Unknown customer or role → `Invalid` on `customerId` / `roleId`.
pub async fn assign(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    customer_id: i64,
    role_id: i64,
) -> AppResult<MembershipOutcome> {
    let txn = begin_write(db).await?;
    let customer = check_membership_ids(&txn, customer_id, role_id).await?;
    let change = membership::grant_role(
        &txn,
        to_millis(now),
        &customer,
        role_id,
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

/// Takes a customer out of a role. Unknown ids → `Invalid`.
pub async fn remove(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    customer_id: i64,
    role_id: i64,
) -> AppResult<MembershipOutcome> {
    let txn = begin_write(db).await?;
    let customer = check_membership_ids(&txn, customer_id, role_id).await?;
    let change = membership::revoke_role(
        &txn,
        to_millis(now),
        &customer,
        role_id,
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

/// The roles of each customer in `customer_ids`, highest priority first.
pub async fn roles_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<role::Model>>> {
    let rows = customer_role::Entity::find()
        .filter(customer_role::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .find_also_related(role::Entity)
        .order_by_desc(role::Column::Priority)
        .order_by_asc(role::Column::Id)
        .all(db)
        .await?;
    let mut by_customer: HashMap<i64, Vec<role::Model>> = HashMap::new();
    for (membership, role) in rows {
        if let Some(role) = role {
            by_customer
                .entry(membership.customer_id)
                .or_default()
                .push(role);
        }
    }
    Ok(by_customer)
}

/// The recommended products of each role in `role_ids`, in the role's order.
pub async fn products_of_roles(
    db: &impl ConnectionTrait,
    role_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<product::Model>>> {
    let rows = role_product::Entity::find()
        .filter(role_product::Column::RoleId.is_in(role_ids.iter().copied()))
        .find_also_related(product::Entity)
        .order_by_asc(role_product::Column::Position)
        .all(db)
        .await?;
    let mut by_role: HashMap<i64, Vec<product::Model>> = HashMap::new();
    for (link, product) in rows {
        if let Some(product) = product {
            by_role.entry(link.role_id).or_default().push(product);
        }
    }
    Ok(by_role)
}

async fn check_membership_ids(
    db: &impl ConnectionTrait,
    customer_id: i64,
    role_id: i64,
) -> AppResult<customer::Model> {
    let mut checker = Checker::new();
    let customer = crate::domain::customers::find(db, customer_id).await?;
    if customer.is_none() {
        checker.refuse("customerId", ViolationCode::NotFound, "no such customer");
    }
    if find(db, role_id).await?.is_none() {
        checker.refuse("roleId", ViolationCode::NotFound, "no such role");
    }
    checker.finish()?;
    customer.ok_or_else(|| AppError::NotFound("no such customer".into()))
}

/// Validates `input` onto `model`; also resolves recommended products to their ids.
async fn apply(
    db: &impl ConnectionTrait,
    mut model: role::Model,
    input: RoleInput,
    mut checker: Checker,
) -> AppResult<(role::Model, Option<Vec<i64>>)> {
    if let Some(raw) = input.name
        && let Some(name) = checker.check("name", required_text(&raw, MAX_TEXT))
    {
        model.name = name;
    }
    if let Some(raw) = input.system_name
        && let Some(system_name) = checker.check("systemName", parse_system_name(&raw))
    {
        let holder = find_by_system_name(db, &system_name).await?;
        if holder.is_some_and(|other| other.id != model.id) {
            checker.refuse(
                "systemName",
                ViolationCode::Taken,
                "another role already has this system name",
            );
        }
        model.system_name = system_name;
    }
    if let Some(priority) = input.priority {
        model.priority = priority;
    }
    let products = match input.recommended_products {
        None => None,
        Some(external_ids) => Some(resolve_products(db, &external_ids, &mut checker).await?),
    };
    checker.finish()?;
    Ok((model, products))
}

async fn resolve_products(
    db: &impl ConnectionTrait,
    external_ids: &[String],
    checker: &mut Checker,
) -> AppResult<Vec<i64>> {
    if external_ids.len() > MAX_RECOMMENDED {
        checker.refuse(
            "recommendedProducts",
            ViolationCode::OutOfRange,
            format!("a role recommends at most {MAX_RECOMMENDED} products"),
        );
        return Ok(Vec::new());
    }
    let found: HashMap<String, i64> = product::Entity::find()
        .filter(product::Column::ExternalId.is_in(external_ids.iter().map(|s| s.trim())))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.external_id, p.id))
        .collect();
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    let mut nested = Checker::new();
    for (index, external_id) in external_ids.iter().enumerate() {
        match found.get(external_id.trim()) {
            Some(id) if seen.insert(*id) => ids.push(*id),
            Some(_) => {}
            None => nested.refuse(
                &index.to_string(),
                ViolationCode::NotFound,
                format!("no product has external id {:?}", external_id.trim()),
            ),
        }
    }
    checker.absorb("recommendedProducts", nested.into_violations());
    Ok(ids)
}

async fn replace_products(
    db: &impl ConnectionTrait,
    role_id: i64,
    product_ids: &[i64],
) -> AppResult<()> {
    role_product::Entity::delete_many()
        .filter(role_product::Column::RoleId.eq(role_id))
        .exec(db)
        .await?;
    if product_ids.is_empty() {
        return Ok(());
    }
    let rows = product_ids
        .iter()
        .enumerate()
        .map(|(position, product_id)| role_product::ActiveModel {
            role_id: ActiveValue::Set(role_id),
            product_id: ActiveValue::Set(*product_id),
            position: ActiveValue::Set(position as i32),
        });
    role_product::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A role's system name: lower-case letters, digits, `_` and `-`, 1–64 characters.
fn parse_system_name(raw: &str) -> Result<String, (ViolationCode, String)> {
    let name = required_text(raw, 64)?;
    if name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Ok(name)
    } else {
        Err((
            ViolationCode::Invalid,
            "may hold only lower-case letters, digits, `_` and `-`".into(),
        ))
    }
}
