//! Local time: instants are UTC epoch milliseconds, and "09:00 on the birthday" or "the
//! customer's Monday" are read in the customer's IANA time zone (the store's when unknown).

use chrono::{Days, LocalResult, NaiveDate, NaiveTime, TimeZone};
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

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
}
