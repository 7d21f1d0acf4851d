//! Orders as the shop reports them (`upsertOrders`), in one transaction: the orders area
//! writes them and brings the customers' order facts up to date, then those customers'
//! segments follow (reason `admin`). This stage sits above both areas it touches.

use crate::clock::to_millis;
use crate::config::StoreSettings;
use crate::db::begin_write;
use crate::domain::orders::{self, MAX_BATCH, OrderInput};
use crate::domain::{membership, segments};
use crate::error::{AppError, AppResult, ViolationCode};
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use entity::order;

/// Creates or replaces orders by external id, all or nothing (see [`orders::upsert_in`]).
/// Returns the orders in input order.
pub async fn upsert(
    db: &sea_orm::DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    store: &StoreSettings,
    inputs: Vec<OrderInput>,
) -> AppResult<Vec<order::Model>> {
    if inputs.len() > MAX_BATCH {
        return Err(AppError::invalid(
            &["orders"],
            ViolationCode::OutOfRange,
            format!("at most {MAX_BATCH} orders per call"),
        ));
    }
    let txn = begin_write(db).await?;
    let saved = orders::upsert_in(&txn, now, store, inputs).await?;
    let mut touched: Vec<(i64, String)> = saved
        .iter()
        .map(|o| (o.customer_id, segments::ADMIN.to_owned()))
        .collect();
    touched.sort_unstable();
    touched.dedup();
    let followed = segments::follow_customers(&txn, touched, to_millis(now)).await?;
    txn.commit().await?;
    membership::announce_logged(bus, followed.logged_upto);
    Ok(saved)
}
