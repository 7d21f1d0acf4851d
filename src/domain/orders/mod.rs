//! The mirror of the shop's orders, and the customer facts derived from them.

pub mod carts;
pub mod credit;
pub mod replenishment;
mod validate;

use validate::validate;

use crate::clock::to_millis;
use crate::config::StoreSettings;
use crate::db::{in_list, raw_statement};
use crate::domain::records::group_by;
use crate::domain::validate::Checker;
use crate::error::{AppResult, FieldViolation, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{customer, order, order_line, product};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeSet, HashMap};

/// The most orders one upsert call may carry.
pub const MAX_BATCH: usize = 100;
/// The most lines one order may have.
pub const MAX_LINES: usize = 500;

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    /// Paid back: it counts no more, like a cancelled one.
    Refunded,
    /// Asked for by the customer through Nudge (a confirmed predicted cart), for the shop to
    /// create: it counts only once the shop reports it.
    Requested,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Requested => "requested",
        }
    }

    /// Whether an order in this status does not count (cancelled, refunded, or only
    /// requested so far).
    pub fn is_void(self) -> bool {
        matches!(
            self,
            OrderStatus::Cancelled | OrderStatus::Refunded | OrderStatus::Requested
        )
    }

    /// The stored texts of the statuses of orders that do not count, for a filter.
    pub fn void() -> [&'static str; 3] {
        [
            OrderStatus::Cancelled,
            OrderStatus::Refunded,
            OrderStatus::Requested,
        ]
        .map(OrderStatus::as_str)
    }

    /// Reads the stored spelling; anything unknown reads as placed.
    pub fn from_stored(s: &str) -> Self {
        match s {
            "paid" => OrderStatus::Paid,
            "shipped" => OrderStatus::Shipped,
            "delivered" => OrderStatus::Delivered,
            "cancelled" => OrderStatus::Cancelled,
            "refunded" => OrderStatus::Refunded,
            "requested" => OrderStatus::Requested,
            _ => OrderStatus::Placed,
        }
    }
}

/// One line of an order.
#[derive(Clone, Debug)]
pub struct OrderLineInput {
    pub product_external_id: String,
    pub quantity: i32,
    /// A decimal amount in the order's currency.
    pub unit_price: String,
}

/// An order as the shop describes it. Upserting replaces every field and all lines.
#[derive(Clone, Debug)]
pub struct OrderInput {
    pub external_id: String,
    pub customer_external_id: String,
    pub status: OrderStatus,
    pub payment_method: Option<String>,
    pub total: String,
    pub currency: String,
    pub placed_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub planned_delivery_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub lines: Vec<OrderLineInput>,
}

pub async fn find_by_external_id(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> AppResult<Option<order::Model>> {
    Ok(order::Entity::find()
        .filter(order::Column::ExternalId.eq(external_id.trim()))
        .one(db)
        .await?)
}

/// A customer's most recent orders, newest first.
pub async fn recent_of_customer(
    db: &impl ConnectionTrait,
    customer_id: i64,
    limit: u64,
) -> AppResult<Vec<order::Model>> {
    Ok(order::Entity::find()
        .filter(order::Column::CustomerId.eq(customer_id))
        .order_by_desc(order::Column::PlacedAt)
        .order_by_desc(order::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The latest `limit` orders of each of `customer_ids`, newest first, as
/// [`recent_of_customer`] gives them: one statement for them all.
pub async fn recent_of_customers(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
    limit: u64,
) -> AppResult<HashMap<i64, Vec<order::Model>>> {
    if customer_ids.is_empty() || limit == 0 {
        return Ok(HashMap::new());
    }
    let ids = in_list(customer_ids.iter().copied());
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "SELECT * FROM (SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.customer_id \
         ORDER BY o.placed_at DESC, o.id DESC) AS nth FROM orders o \
         WHERE o.customer_id IN ({marks})) ranked WHERE nth <= ? \
         ORDER BY customer_id, placed_at DESC, id DESC"
    );
    let mut values: Vec<sea_orm::Value> = ids.into_iter().map(Into::into).collect();
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    let statement = raw_statement(db.get_database_backend(), &sql, values);
    let rows = order::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?;
    Ok(group_by(rows, |o| o.customer_id))
}

/// The lines of each of `order_ids` with their products, in order.
pub async fn lines_of(
    db: &impl ConnectionTrait,
    order_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<(order_line::Model, Option<product::Model>)>>> {
    let rows = order_line::Entity::find()
        .filter(order_line::Column::OrderId.is_in(in_list(order_ids.iter().copied())))
        .find_also_related(product::Entity)
        .order_by_asc(order_line::Column::Position)
        .all(db)
        .await?;
    Ok(group_by(rows, |(line, _)| line.order_id))
}

/// The lines of an order with their products, in order.
pub async fn lines(
    db: &impl ConnectionTrait,
    order_id: i64,
) -> AppResult<Vec<(order_line::Model, Option<product::Model>)>> {
    let mut lines = lines_of(db, &[order_id]).await?;
    Ok(lines.remove(&order_id).unwrap_or_default())
}

/// Creates or replaces orders by external id inside the caller's transaction (all or nothing),
/// then brings the order facts of every affected customer (orders count, lifetime spent in the
/// store currency, last order) up to date. Unknown customers or products are refused;
/// violations are indexed by input position. Orders are credited to messages
/// ([`credit`]) in the same transaction.
pub async fn upsert_in(
    txn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    store: &StoreSettings,
    inputs: Vec<OrderInput>,
) -> AppResult<Vec<order::Model>> {
    let mut checker = Checker::new();
    let customer_refs: Vec<String> = inputs
        .iter()
        .map(|o| o.customer_external_id.trim().to_owned())
        .collect();
    let product_refs: Vec<String> = inputs
        .iter()
        .flat_map(|o| &o.lines)
        .map(|l| l.product_external_id.trim().to_owned())
        .collect();
    let customers = ids_by_external_id::<customer::Entity, _>(
        txn,
        customer::Column::ExternalId,
        customer_refs,
        |m| (m.external_id, m.id),
    )
    .await?;
    let products = ids_by_external_id::<product::Entity, _>(
        txn,
        product::Column::ExternalId,
        product_refs,
        |m| (m.external_id, m.id),
    )
    .await?;
    let now_ms = to_millis(now);
    let mut rows = Vec::with_capacity(inputs.len());
    let mut positions = HashMap::new();
    for (index, input) in inputs.into_iter().enumerate() {
        match validate(input, &customers, &products) {
            Ok(row) => {
                if positions.insert(row.external_id.clone(), index).is_some() {
                    checker.absorb(
                        &index.to_string(),
                        vec![FieldViolation::new(
                            &["externalId"],
                            ViolationCode::Taken,
                            "appears twice in this call",
                        )],
                    );
                }
                rows.push(row);
            }
            Err(violations) => checker.absorb(&index.to_string(), violations),
        }
    }
    checker.finish()?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let external_ids: Vec<String> = rows.iter().map(|r| r.external_id.clone()).collect();
    let previous_owners: Vec<i64> = order::Entity::find()
        .filter(order::Column::ExternalId.is_in(external_ids.iter().cloned()))
        .all(txn)
        .await?
        .into_iter()
        .map(|o| o.customer_id)
        .collect();
    let mut affected: BTreeSet<i64> = previous_owners.into_iter().collect();
    affected.extend(rows.iter().map(|r| r.customer_id));

    let active = rows.iter().map(|row| order::ActiveModel {
        id: ActiveValue::NotSet,
        external_id: ActiveValue::Set(row.external_id.clone()),
        customer_id: ActiveValue::Set(row.customer_id),
        status: ActiveValue::Set(row.status.as_str().to_owned()),
        payment_method: ActiveValue::Set(row.payment_method.clone()),
        total: ActiveValue::Set(row.total),
        currency: ActiveValue::Set(row.currency.clone()),
        placed_at: ActiveValue::Set(row.placed_at),
        paid_at: ActiveValue::Set(row.paid_at),
        planned_delivery_at: ActiveValue::Set(row.planned_delivery_at),
        delivered_at: ActiveValue::Set(row.delivered_at),
        cancelled_at: ActiveValue::Set(row.cancelled_at),
        created_at: ActiveValue::Set(now_ms),
        updated_at: ActiveValue::Set(now_ms),
    });
    order::Entity::insert_many(active)
        .on_conflict(
            OnConflict::column(order::Column::ExternalId)
                .update_columns([
                    order::Column::CustomerId,
                    order::Column::Status,
                    order::Column::PaymentMethod,
                    order::Column::Total,
                    order::Column::Currency,
                    order::Column::PlacedAt,
                    order::Column::PaidAt,
                    order::Column::PlannedDeliveryAt,
                    order::Column::DeliveredAt,
                    order::Column::CancelledAt,
                    order::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    let mut saved = order::Entity::find()
        .filter(order::Column::ExternalId.is_in(external_ids.iter().cloned()))
        .all(txn)
        .await?;
    let order_ids: HashMap<String, i64> = saved
        .iter()
        .map(|o| (o.external_id.clone(), o.id))
        .collect();
    order_line::Entity::delete_many()
        .filter(order_line::Column::OrderId.is_in(order_ids.values().copied()))
        .exec(txn)
        .await?;
    let lines: Vec<order_line::ActiveModel> = rows
        .iter()
        .flat_map(|row| {
            let order_id = order_ids.get(&row.external_id).copied().unwrap_or_default();
            row.lines
                .iter()
                .enumerate()
                .map(move |(position, line)| order_line::ActiveModel {
                    id: ActiveValue::NotSet,
                    order_id: ActiveValue::Set(order_id),
                    position: ActiveValue::Set(position as i32),
                    product_id: ActiveValue::Set(line.product_id),
                    quantity: ActiveValue::Set(line.quantity),
                    unit_price: ActiveValue::Set(line.unit_price),
                })
        })
        .collect();
    if !lines.is_empty() {
        order_line::Entity::insert_many(lines)
            .exec_without_returning(txn)
            .await?;
    }
    for customer_id in affected {
        refresh_order_facts(txn, customer_id, store, now_ms).await?;
    }
    let currency = &store.currency;
    credit::reconcile(txn, &saved, &store.attribution, currency, now_ms).await?;
    saved.sort_by_key(|o| positions.get(&o.external_id).copied().unwrap_or(usize::MAX));
    Ok(saved)
}

/// Recomputes a customer's orders count, lifetime spent (orders in the store currency) and
/// last order time from their orders that are not cancelled, and their replenishment due
/// dates ([`replenishment`]).
pub async fn refresh_order_facts(
    db: &impl ConnectionTrait,
    customer_id: i64,
    store: &StoreSettings,
    now_ms: i64,
) -> AppResult<()> {
    let store_currency = store.currency.as_str();
    let live = || {
        order::Entity::find()
            .filter(order::Column::CustomerId.eq(customer_id))
            .filter(order::Column::Status.is_not_in(OrderStatus::void()))
    };
    let (count, last): (i64, Option<i64>) = live()
        .select_only()
        .column_as(Expr::col(order::Column::Id).count(), "count")
        .column_as(Expr::col(order::Column::PlacedAt).max(), "last")
        .into_tuple()
        .one(db)
        .await?
        .unwrap_or((0, None));
    let spent: Option<i64> = live()
        .filter(order::Column::Currency.eq(store_currency))
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(total), 0) AS BIGINT)"),
            "spent",
        )
        .into_tuple()
        .one(db)
        .await?;
    customer::Entity::update_many()
        .col_expr(customer::Column::OrdersCount, Expr::value(count as i32))
        .col_expr(
            customer::Column::TotalSpent,
            Expr::value(spent.unwrap_or(0)),
        )
        .col_expr(customer::Column::LastOrderAt, Expr::value(last))
        .filter(customer::Column::Id.eq(customer_id))
        .exec(db)
        .await?;
    replenishment::refresh(db, customer_id, store.replenishment.basis, now_ms).await
}

/// Looks up many rows by external id at once.
async fn ids_by_external_id<E, C>(
    db: &C,
    column: E::Column,
    external_ids: Vec<String>,
    pair: impl Fn(E::Model) -> (String, i64),
) -> AppResult<HashMap<String, i64>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let wanted: BTreeSet<String> = external_ids.into_iter().collect();
    let mut found = HashMap::with_capacity(wanted.len());
    let wanted: Vec<String> = wanted.into_iter().collect();
    for chunk in wanted.chunks(500) {
        for model in E::find()
            .filter(column.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            let (k, v) = pair(model);
            found.insert(k, v);
        }
    }
    Ok(found)
}

/// The order's place among its customer's orders that are not cancelled, by placing time
/// (1 = the first).
pub async fn nth_of(txn: &impl ConnectionTrait, found: &order::Model) -> AppResult<i32> {
    use sea_orm::sea_query::Condition;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let before = order::Entity::find()
        .filter(order::Column::CustomerId.eq(found.customer_id))
        .filter(order::Column::Status.is_not_in(OrderStatus::void()))
        .filter(
            Condition::any()
                .add(order::Column::PlacedAt.lt(found.placed_at))
                .add(
                    Condition::all()
                        .add(order::Column::PlacedAt.eq(found.placed_at))
                        .add(order::Column::Id.lt(found.id)),
                ),
        )
        .count(txn)
        .await?;
    Ok(i32::try_from(before).unwrap_or(i32::MAX - 1) + 1)
}
