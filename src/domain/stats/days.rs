//! The days figures are counted on: days since 1970-01-01 of the local date in the store's
//! time zone, fixed when a fact is folded or read.

use super::Metric;
use super::metric::ALL_TIME;
use crate::domain::time::local_date;
use chrono::NaiveDate;
use chrono_tz::Tz;
use entity::stat_fact;

/// Days since 1970-01-01 of the local date of `at_ms` in `tz`.
pub fn day_of(at_ms: i64, tz: Tz) -> i32 {
    day_number(local_date(at_ms, tz))
}

/// Days since 1970-01-01 of `date`.
pub fn day_number(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

/// The date of a day number.
pub fn date_of(day: i32) -> NaiveDate {
    NaiveDate::default() + chrono::Days::new(day.max(0) as u64)
}

/// The (day, cohort day) a fact counts on.
pub(super) fn days_of(fact: &stat_fact::Model, tz: Tz) -> (i32, i32) {
    match Metric::from_stored(&fact.metric) {
        Some(metric) if metric.is_gauge() => (ALL_TIME, ALL_TIME),
        _ => (day_of(fact.at, tz), day_of(fact.cohort, tz)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_the_local_date_in_the_store_zone() {
        let tz: Tz = "America/New_York".parse().unwrap();
        // 2026-03-01 03:00 UTC is still 28 February in New York.
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T03:00:00Z")
            .unwrap()
            .timestamp_millis();
        let date = date_of(day_of(at, tz));
        assert_eq!(date, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        assert_eq!(day_number(NaiveDate::default()), 0);
    }
}
