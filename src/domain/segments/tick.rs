//! Time passing: a segment whose condition reads `daysSince` (itself or through the segments
//! it names) changes with nothing but the clock. Each tick finds exactly the customers whose
//! dates crossed one of its boundaries since the segment was last checked — range queries on
//! the indexed date columns, never a scan of all customers — refreshes them (reason
//! `time:<fact> <days>d`) and moves the segment's `checked_up_to` on (a tick that finds nobody
//! writes nothing). Idempotent: a second tick at the same instant finds nothing; on PostgreSQL
//! one process ticks at a time.

use super::refresh::{Candidates, Crossing, Refreshed, refresh};
use super::{Segment, in_dependency_order, list};
use crate::clock::to_millis;
use crate::db::{begin_write, raw_statement};
use crate::domain::membership::announce_logged;
use crate::error::AppResult;
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use entity::segment;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, Value,
};
use std::collections::HashMap;

/// The advisory lock that lets one PostgreSQL process tick segments at a time.
const TICK_LOCK: i64 = 0x6e75_6467_6573_6567; // "nudgeseg"

/// Brings every time-dependent segment up to `now`; returns what changed.
pub async fn tick(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
) -> AppResult<Refreshed> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        let row = txn
            .query_one_raw(raw_statement(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(?) AS taken",
                [TICK_LOCK.into()],
            ))
            .await?;
        let taken = match row {
            Some(row) => row.try_get::<bool>("", "taken")?,
            None => false,
        };
        if !taken {
            txn.rollback().await?;
            return Ok(Refreshed::default());
        }
    }
    let segments = in_dependency_order(list(&txn).await?)?;
    let mut crossings: HashMap<i64, Vec<Crossing>> = HashMap::new();
    let mut due: Vec<(&Segment, Vec<Crossing>)> = Vec::new();
    for s in &segments {
        let from = s.model.checked_up_to;
        let mut own: Vec<Crossing> = if now_ms > from {
            s.condition
                .time_boundaries()
                .into_iter()
                .flat_map(|(fact, range)| Crossing::of(fact, range.min, range.max, from, now_ms))
                .collect()
        } else {
            Vec::new()
        };
        // A segment that names a time-dependent one changes when that one does.
        for named in s.depends_on() {
            if let Some(theirs) = crossings.get(&named) {
                own.extend(theirs.iter().cloned());
            }
        }
        own.dedup();
        if !own.is_empty() {
            crossings.insert(s.id(), own.clone());
            due.push((s, own));
        }
    }
    if due.is_empty() {
        txn.rollback().await?;
        return Ok(Refreshed::default());
    }
    // Segments with the same boundary share a span: each is looked at once.
    let mut every: Vec<Crossing> = Vec::new();
    for crossing in due.iter().flat_map(|(_, c)| c.iter()) {
        if !every.contains(crossing) {
            every.push(crossing.clone());
        }
    }
    if !anyone_crossed(&txn, &every).await? {
        // Nothing to write, not even how far the check went: the next tick looks again from
        // the same instant, over a span that grows until somebody is in it. A quiet tick
        // writes nothing and waits for no commit.
        txn.rollback().await?;
        return Ok(Refreshed::default());
    }
    let mut total = Refreshed::default();
    for (segment, crossed) in &due {
        let candidates = Candidates::Crossed(crossed.clone());
        total.add(refresh(&txn, std::slice::from_ref(*segment), &candidates, now_ms).await?);
    }
    segment::Entity::update_many()
        .col_expr(segment::Column::CheckedUpTo, Expr::value(now_ms))
        .filter(segment::Column::Id.is_in(due.iter().map(|(s, _)| s.id())))
        .filter(segment::Column::CheckedUpTo.lt(now_ms))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    announce_logged(bus, total.logged_upto);
    Ok(total)
}

/// Whether any customer's date lies in one of the crossed spans: one look per span, each along
/// its date's index (ordered by the date, the first row only), so the plan does not rest on
/// estimates. An OR of the spans did: with dates on whole days, a span that starts at a
/// common date was estimated to hold many customers, and PostgreSQL scanned them all for a
/// row that was not there (70–220 ms a tick instead of 1).
async fn anyone_crossed(txn: &impl ConnectionTrait, crossings: &[Crossing]) -> AppResult<bool> {
    if crossings.is_empty() {
        return Ok(false);
    }
    let mut sql = String::from("SELECT found FROM (");
    let mut values = Vec::new();
    for (i, x) in crossings.iter().enumerate() {
        let column = x.column();
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!(
            "SELECT found FROM (SELECT 1 AS found FROM customers c \
             WHERE {column} > ? AND {column} <= ? ORDER BY {column} LIMIT 1) s{i}"
        ));
        values.extend([Value::from(x.after), Value::from(x.upto)]);
    }
    sql.push_str(") spans LIMIT 1");
    let found = txn
        .query_one_raw(raw_statement(txn.get_database_backend(), &sql, values))
        .await?;
    Ok(found.is_some())
}
