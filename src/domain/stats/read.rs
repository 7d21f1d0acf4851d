//! Reading figures: the folded sums of a range of days, plus the facts not folded yet, read
//! in one snapshot so a fact folded meanwhile is counted once. Cost depends on the days and
//! figures asked for, never on how many messages or tracking hits there were.

use super::days::{day_number, days_of};
use super::metric::ALL_TIME;
use super::{Dims, Metric, Scope};
use crate::domain::time::local_date;
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::NaiveDate;
use chrono_tz::Tz;
use entity::{stat_day, stat_fact};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    AccessMode, ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, IsolationLevel,
    QueryFilter, QuerySelect, TransactionTrait,
};
use std::collections::{BTreeMap, HashMap};

/// The longest range one read may ask for, in days.
pub const MAX_DAYS: i64 = 400;
/// Days read when a range is not given: the last 30, today included.
pub const DEFAULT_DAYS: u64 = 30;

/// Which day a figure counts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The day it happened (the open, the click, the order).
    Activity,
    /// The day its message was sent (or its run entered): a cohort.
    Cohort,
}

/// Days from `from` to `to`, both included, in the store's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Range {
    /// A range, refused (at `path`) when reversed, longer than [`MAX_DAYS`] or before 1970.
    pub fn new(from: NaiveDate, to: NaiveDate, path: &[&str]) -> AppResult<Self> {
        if to < from {
            return Err(AppError::invalid(
                path,
                ViolationCode::OutOfRange,
                "`to` is before `from`",
            ));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(AppError::invalid(
                path,
                ViolationCode::OutOfRange,
                format!("at most {MAX_DAYS} days at once"),
            ));
        }
        if day_number(from) <= ALL_TIME {
            return Err(AppError::invalid(
                path,
                ViolationCode::OutOfRange,
                "`from` must be after 1970-01-01",
            ));
        }
        Ok(Range { from, to })
    }

    /// The range a caller asks for: `to` is today (in `tz`, at `now_ms`) when not given, and
    /// `from` the [`DEFAULT_DAYS`]th day before `to`, both included.
    pub fn asked(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        now_ms: i64,
        tz: Tz,
    ) -> AppResult<Self> {
        let to = to.unwrap_or_else(|| local_date(now_ms, tz));
        let from = from.unwrap_or_else(|| to - chrono::Days::new(DEFAULT_DAYS - 1));
        Range::new(from, to, &["from"])
    }

    fn days(&self) -> (i32, i32) {
        (day_number(self.from), day_number(self.to))
    }
}

/// Sums by (metric, key).
pub type Counts = BTreeMap<(Metric, String), i64>;

/// One scope's figures over a range: per day (or only for the whole range), and the gauges
/// now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub days: BTreeMap<i32, Counts>,
    /// Sums over the range not split by day (scopes read whole).
    pub whole: Counts,
    /// Runs going now (whatever the range).
    pub active: i64,
}

impl Tally {
    /// The sums over every day of the range.
    pub fn totals(&self) -> Counts {
        let mut totals = self.whole.clone();
        for counts in self.days.values() {
            for (k, v) in counts {
                *totals.entry(k.clone()).or_default() += v;
            }
        }
        totals
    }
}

/// The facts not folded yet that may count in `scope`.
fn pending_filter(scope: &Scope) -> Condition {
    let all = Condition::all();
    match scope {
        Scope::Shop => all,
        Scope::Channel(c) => all.add(stat_fact::Column::Channel.eq(c.as_str())),
        Scope::Campaign(id) | Scope::Step(id, _) => all.add(stat_fact::Column::CampaignId.eq(*id)),
        Scope::Action(id) => all.add(stat_fact::Column::ActionId.eq(*id)),
        Scope::Template(id) | Scope::Variant(id, _) => {
            all.add(stat_fact::Column::TemplateId.eq(*id))
        }
        Scope::Segment(id) => all.add(stat_fact::Column::SegmentId.eq(*id)),
    }
}

/// The figures of each of `daily` per day, and of each of `whole` over the whole range only
/// (fewer rows to read: a campaign's steps need their totals, not their days), over `range`
/// by `basis`.
pub async fn tallies(
    db: &DatabaseConnection,
    daily: &[Scope],
    whole: &[Scope],
    range: Range,
    basis: Basis,
    tz: Tz,
) -> AppResult<HashMap<Scope, Tally>> {
    let scopes: Vec<Scope> = daily.iter().chain(whole).cloned().collect();
    let mut out: HashMap<Scope, Tally> = scopes
        .iter()
        .map(|s| (s.clone(), Tally::default()))
        .collect();
    if scopes.is_empty() {
        return Ok(out);
    }
    let by_key: HashMap<String, Scope> = scopes.iter().map(|s| (s.key(), s.clone())).collect();
    let split: HashMap<&Scope, bool> = daily
        .iter()
        .map(|s| (s, true))
        .chain(whole.iter().map(|s| (s, false)))
        .collect();
    let (from, to) = range.days();
    // One snapshot: a fact the folder moves meanwhile is seen in one place, not both.
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    };
    let day_column = match basis {
        Basis::Activity => stat_day::Column::Day,
        Basis::Cohort => stat_day::Column::Cohort,
    };
    let in_range = || {
        Condition::any().add(day_column.between(from, to)).add(
            Condition::all()
                .add(stat_day::Column::Day.eq(ALL_TIME))
                .add(stat_day::Column::Metric.eq(Metric::Active.as_str())),
        )
    };
    let keys = |list: &[Scope]| list.iter().map(Scope::key).collect::<Vec<_>>();
    let mut rows: Vec<(String, Option<i32>, String, String, i64)> = Vec::new();
    if !daily.is_empty() {
        let by_day: Vec<(String, i32, String, String, i64)> = stat_day::Entity::find()
            .select_only()
            .column(stat_day::Column::Scope)
            .column(day_column)
            .column(stat_day::Column::Metric)
            .column(stat_day::Column::Key)
            .column_as(Expr::cust("CAST(SUM(value) AS BIGINT)"), "value")
            .filter(stat_day::Column::Scope.is_in(keys(daily)))
            .filter(in_range())
            .group_by(stat_day::Column::Scope)
            .group_by(day_column)
            .group_by(stat_day::Column::Metric)
            .group_by(stat_day::Column::Key)
            .into_tuple()
            .all(&txn)
            .await?;
        rows.extend(
            by_day
                .into_iter()
                .map(|(s, d, m, k, v)| (s, Some(d), m, k, v)),
        );
    }
    if !whole.is_empty() {
        let summed: Vec<(String, String, String, i64)> = stat_day::Entity::find()
            .select_only()
            .column(stat_day::Column::Scope)
            .column(stat_day::Column::Metric)
            .column(stat_day::Column::Key)
            .column_as(Expr::cust("CAST(SUM(value) AS BIGINT)"), "value")
            .filter(stat_day::Column::Scope.is_in(keys(whole)))
            .filter(in_range())
            .group_by(stat_day::Column::Scope)
            .group_by(stat_day::Column::Metric)
            .group_by(stat_day::Column::Key)
            .into_tuple()
            .all(&txn)
            .await?;
        rows.extend(summed.into_iter().map(|(s, m, k, v)| (s, None, m, k, v)));
    }
    let mut pending_filters = Condition::any();
    for scope in &scopes {
        pending_filters = pending_filters.add(pending_filter(scope));
    }
    let pending = stat_fact::Entity::find()
        .filter(pending_filters)
        .all(&txn)
        .await?;
    txn.commit().await?;
    // `day` is `None` for a row already summed over the range.
    let mut add = |scope: &Scope, day: Option<i32>, metric: Metric, key: String, value: i64| {
        let Some(tally) = out.get_mut(scope) else {
            return;
        };
        if metric.is_gauge() {
            tally.active += value;
            return;
        }
        let counts = match day {
            Some(day) if !(from..=to).contains(&day) => return,
            Some(day) if split.get(scope).copied().unwrap_or(true) => {
                tally.days.entry(day).or_default()
            }
            _ => &mut tally.whole,
        };
        *counts.entry((metric, key)).or_default() += value;
    };
    for (scope, day, metric, key, value) in rows {
        if let (Some(scope), Some(metric)) = (by_key.get(&scope), Metric::from_stored(&metric)) {
            add(scope, day, metric, key, value);
        }
    }
    for fact in pending {
        let Some(metric) = Metric::from_stored(&fact.metric) else {
            continue;
        };
        let (day, cohort) = days_of(&fact, tz);
        let day = match basis {
            Basis::Activity => day,
            Basis::Cohort => cohort,
        };
        let dims = Dims::of_fact(&fact);
        for scope in scopes.iter().filter(|s| s.covers(&dims)) {
            add(scope, Some(day), metric, fact.key.clone(), fact.delta);
        }
    }
    Ok(out)
}
