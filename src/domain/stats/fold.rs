//! The folder: moves noted facts into the per-scope, per-day sums and deletes them, in one
//! transaction, so each fact is counted exactly once whatever crashes. On PostgreSQL several
//! processes fold side by side, each taking facts no other holds (`SKIP LOCKED`); sums are
//! written in key order, so two folders never wait on each other in a circle.

use super::Dims;
use super::days::days_of;
use crate::db::{begin_write, in_list};
use crate::error::AppResult;
use chrono_tz::Tz;
use entity::{stat_day, stat_fact};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::BTreeMap;
use std::time::Duration;

/// Facts taken per transaction.
pub const ROUND: u64 = 5_000;
/// The folder's task name.
pub const TASK: &str = "statistics folder";
/// How often the folder looks for facts.
const EVERY: Duration = Duration::from_secs(1);

/// A sum's key: scope, day, cohort day, metric, key.
type SumKey = (String, i32, i32, String, String);

/// Folds up to [`ROUND`] facts; returns how many.
pub async fn fold_once(db: &DatabaseConnection, tz: Tz) -> AppResult<usize> {
    let any = stat_fact::Entity::find()
        .select_only()
        .column(stat_fact::Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .all(db)
        .await?;
    if any.is_empty() {
        return Ok(0);
    }
    let txn = begin_write(db).await?;
    let facts = stat_fact::Entity::find()
        .order_by_asc(stat_fact::Column::Id)
        .limit(ROUND)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    let mut sums: BTreeMap<SumKey, i64> = BTreeMap::new();
    for fact in &facts {
        let (day, cohort) = days_of(fact, tz);
        for scope in Dims::of_fact(fact).scopes() {
            let key = (
                scope.key(),
                day,
                cohort,
                fact.metric.clone(),
                fact.key.clone(),
            );
            *sums.entry(key).or_default() += fact.delta;
        }
    }
    let rows: Vec<stat_day::ActiveModel> = sums
        .into_iter()
        .filter(|(_, value)| *value != 0)
        .map(
            |((scope, day, cohort, metric, key), value)| stat_day::ActiveModel {
                scope: ActiveValue::Set(scope),
                day: ActiveValue::Set(day),
                cohort: ActiveValue::Set(cohort),
                metric: ActiveValue::Set(metric),
                key: ActiveValue::Set(key),
                value: ActiveValue::Set(value),
            },
        )
        .collect();
    for chunk in rows.chunks(400) {
        stat_day::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([
                    stat_day::Column::Scope,
                    stat_day::Column::Day,
                    stat_day::Column::Cohort,
                    stat_day::Column::Metric,
                    stat_day::Column::Key,
                ])
                .value(
                    stat_day::Column::Value,
                    Expr::cust("stat_days.value + excluded.value"),
                )
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    let ids: Vec<i64> = facts.iter().map(|f| f.id).collect();
    for chunk in ids.chunks(1_000) {
        stat_fact::Entity::delete_many()
            .filter(stat_fact::Column::Id.is_in(in_list(chunk.iter().copied())))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(facts.len())
}

/// Folds every fact there is now (tests and `nudge tick` drive it to a known state).
pub async fn fold_all(db: &DatabaseConnection, tz: Tz) -> AppResult<usize> {
    let mut total = 0;
    loop {
        let folded = fold_once(db, tz).await?;
        total += folded;
        if (folded as u64) < ROUND {
            return Ok(total);
        }
    }
}

/// Runs the folder until the process stops.
pub async fn run(db: DatabaseConnection, tz: Tz, supervisor: crate::supervisor::Supervisor) {
    let mut unvacuumed = 0;
    let mut vacuumed = std::time::Instant::now();
    loop {
        supervisor.check(TASK);
        match fold_all(&db, tz).await {
            Ok(folded) if folded > 0 => {
                metrics::counter!("nudge_stat_facts_folded_total").increment(folded as u64);
                unvacuumed += folded;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "folding statistics failed"),
        }
        if unvacuumed > 0 && vacuumed.elapsed() >= VACUUM_EVERY {
            if let Err(e) = vacuum(&db).await {
                tracing::warn!(error = %e, "vacuuming the statistics fact queue failed");
            }
            (unvacuumed, vacuumed) = (0, std::time::Instant::now());
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// How often the fact queue is vacuumed on PostgreSQL, at most.
const VACUUM_EVERY: Duration = Duration::from_secs(60);

/// Vacuums the fact queue on PostgreSQL. Every fact is inserted and deleted: without a vacuum
/// (autovacuum off, or behind) its dead rows would pile up and every read that adds the facts
/// not folded yet would walk them. SQLite reuses the freed pages itself.
pub async fn vacuum(db: &DatabaseConnection) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("VACUUM stat_facts").await?;
    }
    Ok(())
}
