//! The weekly collection: at the configured time in each customer's own time zone
//! (`NUDGE_REPLENISHMENT_SCHEDULE`, Mondays 09:00 by default), every customer without an open
//! predicted cart gets one holding their items due within the look-ahead
//! (`NUDGE_REPLENISHMENT_LOOK_AHEAD_DAYS`, 7): each product once, the quantity of its last
//! order, at its price now. An item is in a cart while a line of an open cart names it, so it
//! is never collected twice: a customer whose cart is still open keeps it (items due
//! meanwhile wait for the next collection after it is decided). Set-based: two statements
//! (the carts, then their lines) for every customer of the zones whose time came; the items
//! are read, never written.
//!
//! When an active campaign is anchored to `replenishmentDue` or an active customer action is
//! triggered by `predictedCartReady`, each new cart is recorded as an event in the same
//! transaction, for the processor to enrol and fire.
//!
//! The clock's tick runs it. A watermark (`replenishment_clock`) says up to when the schedule
//! was looked at, so a collection time the server was down for is caught up at the next tick,
//! and one is never run twice; on PostgreSQL the watermark's row lock makes processes take
//! turns.

use super::CartStatus;
use crate::clock::to_millis;
use crate::config::Replenishment;
use crate::db::{begin_write, raw_statement};
use crate::domain::event_kind::EventKind;
use crate::domain::orders::replenishment::ItemStatus;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::replenishment_clock;
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveValue, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QuerySelect, Value,
};

const DAY_MS: i64 = 86_400_000;

/// What one collection did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// The zones whose collection time came (the store's zone stands for customers without
    /// one).
    pub zones: Vec<String>,
    pub carts: u64,
    pub lines: u64,
}

/// Collects for the zones whose collection time came since the last look, up to `now`.
pub async fn collect(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    store_zone: Tz,
    settings: &Replenishment,
) -> AppResult<Collected> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let mut clock = replenishment_clock::Entity::find_by_id(1);
    if txn.get_database_backend() == DbBackend::Postgres {
        clock = clock.lock(LockType::Update);
    }
    let Some(watermark) = clock.one(&txn).await? else {
        // The first look: from now on.
        replenishment_clock::Entity::insert(replenishment_clock::ActiveModel {
            id: ActiveValue::Set(1),
            checked_up_to: ActiveValue::Set(now_ms),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(replenishment_clock::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        return Ok(Collected::default());
    };
    if watermark.checked_up_to >= now_ms {
        txn.commit().await?;
        return Ok(Collected::default());
    }
    let since = crate::clock::from_millis(watermark.checked_up_to);
    let zones = zones_due(&settings.schedule, since, now);
    let mut collected = Collected::default();
    if !zones.is_empty() {
        let store_included = zones.contains(&store_zone);
        let names: Vec<String> = zones.iter().map(|z| z.name().to_owned()).collect();
        let due_by = now_ms + i64::from(settings.look_ahead_days) * DAY_MS;
        (collected.carts, collected.lines) =
            gather(&txn, &names, store_included, due_by, now_ms).await?;
        collected.zones = names;
    }
    replenishment_clock::Entity::update_many()
        .col_expr(
            replenishment_clock::Column::CheckedUpTo,
            Expr::value(now_ms),
        )
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(collected)
}

/// The zones in which `schedule` had a time after `since` and up to `now`.
pub fn zones_due(schedule: &croner::Cron, since: DateTime<Utc>, now: DateTime<Utc>) -> Vec<Tz> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .copied()
        .filter(|tz| {
            schedule
                .find_next_occurrence(&since.with_timezone(tz), false)
                .is_ok_and(|next| next.with_timezone(&Utc) <= now)
        })
        .collect()
}

/// Makes the carts of the customers in `zones` (and those without a zone when the store's
/// zone is among them), with their lines; returns (carts, lines).
async fn gather(
    txn: &impl ConnectionTrait,
    zones: &[String],
    store_included: bool,
    due_by: i64,
    now_ms: i64,
) -> AppResult<(u64, u64)> {
    let backend = txn.get_database_backend();
    let marks = vec!["?"; zones.len()].join(", ");
    let in_zone = if store_included {
        format!("(c.time_zone IN ({marks}) OR c.time_zone IS NULL)")
    } else {
        format!("c.time_zone IN ({marks})")
    };
    let zone_values = || zones.iter().map(|z| Value::from(z.as_str()));
    // Statuses are written into the text (constants), so the partial indexes on waiting
    // items and open carts serve these statements.
    let waiting = ItemStatus::Waiting.as_str();
    let open = CartStatus::Open.as_str();
    // 1. A cart for each customer with a due item and no open cart.
    let mut values: Vec<Value> = vec![now_ms.into(), now_ms.into(), due_by.into()];
    values.extend(zone_values());
    let carts = txn
        .execute_raw(raw_statement(
            backend,
            &format!(
                "INSERT INTO predicted_carts (customer_id, status, created_at, updated_at) \
                 SELECT DISTINCT i.customer_id, '{open}', ?, ? FROM replenishment_items i \
                 JOIN customers c ON c.id = i.customer_id \
                 WHERE i.status = '{waiting}' AND i.due_at <= ? AND {in_zone} \
                 AND NOT EXISTS (SELECT 1 FROM predicted_carts o \
                 WHERE o.customer_id = i.customer_id AND o.status = '{open}')"
            ),
            values,
        ))
        .await?
        .rows_affected();
    if carts == 0 {
        return Ok((0, 0));
    }
    // 2. Their lines: each due item once, at today's price; a line's position is its
    // product's id (unique in the cart, and no sort of every line). An item is in a cart while
    // a line of an open cart names it: the items themselves are not written, so a collection
    // does not rewrite the whole items table.
    let lines = txn
        .execute_raw(raw_statement(
            backend,
            &format!(
                "INSERT INTO predicted_cart_lines (cart_id, position, product_id, item_id, \
                 quantity, unit_price, currency) \
                 SELECT pc.id, i.product_id, i.product_id, i.id, i.quantity, p.price, p.currency \
                 FROM predicted_carts pc \
                 JOIN replenishment_items i ON i.customer_id = pc.customer_id \
                 JOIN products p ON p.id = i.product_id \
                 WHERE pc.created_at = ? AND pc.status = '{open}' \
                 AND i.status = '{waiting}' AND i.due_at <= ?"
            ),
            [Value::from(now_ms), Value::from(due_by)],
        ))
        .await?
        .rows_affected();
    if listened(txn).await? {
        record_ready(txn, now_ms).await?;
    }
    Ok((carts, lines))
}

/// Whether an active campaign is anchored to gathered carts or an active customer action is
/// triggered by them: only then is each cart recorded as an event.
async fn listened(txn: &impl ConnectionTrait) -> AppResult<bool> {
    let kind = EventKind::PredictedCartReady.as_str();
    let found = txn
        .query_one_raw(raw_statement(
            txn.get_database_backend(),
            "SELECT 1 AS found WHERE EXISTS (SELECT 1 FROM campaigns \
             WHERE status = 'active' AND anchor_kind = 'replenishmentDue') \
             OR EXISTS (SELECT 1 FROM customer_actions WHERE active = ? AND \"trigger\" = ?)",
            [Value::from(true), Value::from(kind)],
        ))
        .await?;
    Ok(found.is_some())
}

/// Records a `predicted_cart_ready` event for each cart gathered at `now_ms`, for the
/// processor to enrol runs and fire actions; its id names the cart, so it is recorded once.
async fn record_ready(txn: &impl ConnectionTrait, now_ms: i64) -> AppResult<()> {
    let backend = txn.get_database_backend();
    let payload = match backend {
        DbBackend::Postgres => {
            "json_build_object('predictedCartReady', json_build_object('cartId', pc.id))"
        }
        _ => "json_object('predictedCartReady', json_object('cartId', pc.id))",
    };
    txn.execute_raw(raw_statement(
        backend,
        &format!(
            "INSERT INTO events (event_id, customer_id, kind, payload, fingerprint, occurred_at, \
             received_at) SELECT 'predicted_cart:' || pc.id, pc.customer_id, ?, {payload}, ?, \
             pc.created_at, ? FROM predicted_carts pc \
             WHERE pc.created_at = ? AND pc.status = '{}' ORDER BY pc.id \
             ON CONFLICT (event_id) DO NOTHING",
            CartStatus::Open.as_str()
        ),
        [
            Value::from(EventKind::PredictedCartReady.as_str()),
            Value::from("nudge:replenishment"),
            Value::from(now_ms),
            Value::from(now_ms),
        ],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn mondays_at_nine_come_zone_by_zone() {
        let schedule: croner::Cron = "0 9 * * MON".parse().expect("cron");
        // Monday 2026-12-07 08:00 UTC is 09:00 in Warsaw (UTC+1) and 08:00 in London.
        let since = Utc.with_ymd_and_hms(2026, 12, 7, 7, 59, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap();
        let zones = zones_due(&schedule, since, now);
        assert!(zones.contains(&chrono_tz::Europe::Warsaw));
        assert!(!zones.contains(&chrono_tz::Europe::London));
        assert!(!zones.contains(&chrono_tz::America::New_York));
        let later = zones_due(
            &schedule,
            now,
            Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
        );
        assert!(later.contains(&chrono_tz::Europe::London));
        assert!(later.contains(&chrono_tz::UTC));
        assert!(!later.contains(&chrono_tz::Europe::Warsaw));
    }
}
