//! Local time for campaigns: instants are UTC epoch milliseconds, and "09:00 on the birthday"
//! or "Monday to Friday, 9 to 20" are read in the customer's IANA time zone.

use super::SendWindow;
use chrono::{Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;

/// The customer's time zone, or the store's when theirs is missing or unknown.
pub fn zone(customer_zone: Option<&str>, store_default: Tz) -> Tz {
    customer_zone
        .and_then(|name| name.parse().ok())
        .unwrap_or(store_default)
}

/// The local date of an instant.
pub fn local_date(at_ms: i64, tz: Tz) -> NaiveDate {
    tz.timestamp_millis_opt(at_ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// The instant of a local date and time. A time skipped by a daylight-saving change is taken
/// as the first instant after the gap; a repeated time as its first occurrence.
pub fn local_instant(tz: Tz, date: NaiveDate, hour: u32, minute: u32) -> i64 {
    let time = NaiveTime::from_hms_opt(hour.min(23), minute.min(59), 0).unwrap_or_default();
    let mut local = date.and_time(time);
    // Gaps are at most a few hours long; step forward until the clock exists again.
    for _ in 0..(24 * 4) {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.timestamp_millis(),
            LocalResult::Ambiguous(first, _) => return first.timestamp_millis(),
            LocalResult::None => local += chrono::Duration::minutes(15),
        }
    }
    date.and_time(time).and_utc().timestamp_millis()
}

/// The local midnight that starts `date`.
pub fn start_of_day(tz: Tz, date: NaiveDate) -> i64 {
    local_instant(tz, date, 0, 0)
}

/// The anchor's local date moved by `offset_days`, at a local hour and minute.
pub fn wait_until(anchor_at_ms: i64, tz: Tz, offset_days: i32, hour: u32, minute: u32) -> i64 {
    let anchor_date = local_date(anchor_at_ms, tz);
    let date = if offset_days >= 0 {
        anchor_date.checked_add_days(Days::new(u64::from(offset_days.unsigned_abs())))
    } else {
        anchor_date.checked_sub_days(Days::new(u64::from(offset_days.unsigned_abs())))
    }
    .unwrap_or(anchor_date);
    local_instant(tz, date, hour, minute)
}

/// A birthday's date in `year`: 29 February is 28 February in years without one.
pub fn birthday_in(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, month, day).or_else(|| {
        (month == 2 && day == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

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

    fn tz(name: &str) -> Tz {
        name.parse().expect("zone")
    }

    #[test]
    fn the_same_local_hour_is_a_different_instant_in_each_zone() {
        let date = NaiveDate::from_ymd_opt(2027, 3, 10).expect("date");
        assert_eq!(
            local_instant(tz("Pacific/Auckland"), date, 9, 0),
            ms("2027-03-09T20:00:00Z")
        );
        assert_eq!(
            local_instant(tz("America/Los_Angeles"), date, 9, 0),
            ms("2027-03-10T17:00:00Z")
        );
    }

    #[test]
    fn a_time_skipped_by_daylight_saving_is_taken_after_the_gap() {
        // Los Angeles skips 02:00–03:00 on 14 March 2027.
        let date = NaiveDate::from_ymd_opt(2027, 3, 14).expect("date");
        assert_eq!(
            local_instant(tz("America/Los_Angeles"), date, 2, 30),
            ms("2027-03-14T10:00:00Z")
        );
    }

    #[test]
    fn waits_count_local_days_from_the_anchor() {
        let la = tz("America/Los_Angeles");
        // 23:30 on 1 June in Los Angeles is already 2 June in UTC.
        let anchor = ms("2027-06-02T06:30:00Z");
        assert_eq!(
            wait_until(anchor, la, -2, 10, 0),
            ms("2027-05-30T17:00:00Z")
        );
        assert_eq!(wait_until(anchor, la, 0, 9, 15), ms("2027-06-01T16:15:00Z"));
        assert_eq!(wait_until(anchor, la, 3, 8, 0), ms("2027-06-04T15:00:00Z"));
    }

    #[test]
    fn the_29th_of_february_is_the_28th_in_other_years() {
        assert_eq!(
            birthday_in(2027, 2, 29),
            NaiveDate::from_ymd_opt(2027, 2, 28)
        );
        assert_eq!(
            birthday_in(2028, 2, 29),
            NaiveDate::from_ymd_opt(2028, 2, 29)
        );
        assert_eq!(birthday_in(2027, 4, 31), None);
    }

    #[test]
    fn a_message_outside_the_window_waits_for_the_next_allowed_local_time() {
        let berlin = tz("Europe/Berlin");
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
