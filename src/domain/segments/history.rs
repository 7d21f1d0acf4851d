//! A segment's member count per day, kept cheaply: every refresh notes its joins and leaves
//! as statistics facts (scope `segment:<id>`), folded into per-day sums like every other
//! figure, so the count at the end of a day is the sum of joins less leaves up to that day —
//! read from a few rows per day, never from the members.

use crate::domain::stats::days::date_of;
use crate::domain::stats::read::{Basis, Range, tallies};
use crate::domain::stats::{Metric, Scope};
use crate::error::AppResult;
use chrono::NaiveDate;
use chrono_tz::Tz;
use sea_orm::DatabaseConnection;

/// One day of a segment's history, in the store's time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayCount {
    pub date: NaiveDate,
    /// Members at the end of the day.
    pub members: i64,
    pub joined: i64,
    pub left: i64,
}

/// Every day of `range`, with the members at its end and the joins and leaves on it.
pub async fn count_history(
    db: &DatabaseConnection,
    segment_id: i64,
    range: Range,
    tz: Tz,
) -> AppResult<Vec<DayCount>> {
    let scope = Scope::Segment(segment_id);
    let net = |joined: i64, left: i64| joined - left;
    let figure = |counts: &crate::domain::stats::read::Counts, metric: Metric| {
        counts
            .get(&(metric, String::new()))
            .copied()
            .unwrap_or_default()
    };
    // Members before the range: every join less every leave up to the day before it. The
    // range and what came before it hold disjoint days, so each fact counts once.
    let first = date_of(1);
    let mut members = 0;
    if range.from > first {
        let before = Range {
            from: first,
            to: range.from.pred_opt().unwrap_or(first),
        };
        let read = tallies(
            db,
            &[],
            std::slice::from_ref(&scope),
            before,
            Basis::Activity,
            tz,
        )
        .await?;
        if let Some(tally) = read.get(&scope) {
            members = net(
                figure(&tally.whole, Metric::Joined),
                figure(&tally.whole, Metric::Left),
            );
        }
    }
    let read = tallies(
        db,
        std::slice::from_ref(&scope),
        &[],
        range,
        Basis::Activity,
        tz,
    )
    .await?;
    let tally = read.get(&scope).cloned().unwrap_or_default();
    let mut days = Vec::new();
    let mut date = range.from;
    while date <= range.to {
        let counts = tally
            .days
            .get(&crate::domain::stats::days::day_number(date))
            .cloned()
            .unwrap_or_default();
        let (joined, left) = (
            figure(&counts, Metric::Joined),
            figure(&counts, Metric::Left),
        );
        members += net(joined, left);
        days.push(DayCount {
            date,
            members,
            joined,
            left,
        });
        let Some(next) = date.succ_opt() else { break };
        date = next;
    }
    Ok(days)
}
