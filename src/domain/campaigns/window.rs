//! The send window: the local days and hours a campaign's messages may go out.

use super::SendWindow;
use crate::domain::time::local_instant;
use chrono::{Datelike, Days, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;

/// The first instant at or after `at_ms` inside the send window, in local time `tz`.
pub fn next_allowed(window: &SendWindow, tz: Tz, at_ms: i64) -> i64 {
    let Some(local) = tz.timestamp_millis_opt(at_ms).single() else {
        return at_ms;
    };
    let day_allowed =
        |date: NaiveDate| window.weekdays.is_empty() || window.weekdays.contains(&date.weekday());
    let today = local.date_naive();
    if day_allowed(today) && (window.start_hour..window.end_hour).contains(&local.hour()) {
        return at_ms;
    }
    for ahead in 0..=7u64 {
        let Some(date) = today.checked_add_days(Days::new(ahead)) else {
            break;
        };
        if !day_allowed(date) {
            continue;
        }
        let opens = local_instant(tz, date, window.start_hour, 0);
        if opens > at_ms {
            return opens;
        }
    }
    at_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc, Weekday};

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("instant")
            .with_timezone(&Utc)
            .timestamp_millis()
    }

    #[test]
    fn a_message_outside_the_window_waits_for_the_next_allowed_local_time() {
        let berlin = "Europe/Berlin".parse::<Tz>().expect("zone");
        let weekdays = SendWindow {
            start_hour: 9,
            end_hour: 20,
            weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
        };
        // Wednesday 10:00 local: inside.
        let inside = ms("2027-06-02T08:00:00Z");
        assert_eq!(next_allowed(&weekdays, berlin, inside), inside);
        // Wednesday 21:00 local: Thursday 09:00.
        assert_eq!(
            next_allowed(&weekdays, berlin, ms("2027-06-02T19:00:00Z")),
            ms("2027-06-03T07:00:00Z")
        );
        // Wednesday 07:00 local: the same day at 09:00.
        assert_eq!(
            next_allowed(&weekdays, berlin, ms("2027-06-02T05:00:00Z")),
            ms("2027-06-02T07:00:00Z")
        );
        // Saturday noon: Monday 09:00.
        assert_eq!(
            next_allowed(&weekdays, berlin, ms("2027-06-05T10:00:00Z")),
            ms("2027-06-07T07:00:00Z")
        );
        let all_day = SendWindow {
            start_hour: 0,
            end_hour: 24,
            weekdays: vec![],
        };
        assert_eq!(next_allowed(&all_day, berlin, inside), inside);
    }
}
