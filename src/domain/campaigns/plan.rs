//! The planner: enrols customers whose anchor has come due by the passage of time — an order
//! still unpaid, a cart left alone, a spell of inactivity, a planned delivery or a birthday
//! coming up. Anchors set by an event (an order placed or paid, a delivery, a registration, a
//! newsletter signup) are enrolled by the event processor instead (see [`super::entry`]).
//!
//! Each campaign keeps `planned_until`, the instant up to which its anchors are enrolled, so
//! a tick reads only the anchors that came due since the last one, through the index on the
//! anchor column. Dates ahead (deliveries, birthdays) are read in the window that leads up to
//! them; enrolling one twice is impossible (unique indexes).

use super::enrol::{Candidates, enrol};
use super::pause_with_reason;
use super::{Anchor, Campaign, CampaignStatus, InactivityBasis};
use crate::db::WriteTxn;
use crate::domain::time::{birthday_in, local_date, start_of_day, zone};
use crate::error::AppResult;
use chrono::{Datelike, Days, NaiveDate};
use chrono_tz::Tz;
use entity::{campaign, customer};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// How long after its date a planned delivery is still enrolled.
const DELIVERY_LOOKBACK_MS: i64 = DAY_MS;

/// Enrols every active campaign's due anchors at `now_ms`; returns the runs created. Each
/// campaign is planned in a savepoint of its own: one that cannot be planned (anything but a
/// database failure, which stops the tick for the next one) is rolled back alone, paused with
/// the reason in `brokenReason`, and the others go on.
pub async fn plan_due_runs(
    txn: &WriteTxn,
    now_ms: i64,
    store_zone: Tz,
    campaigns: &[Campaign],
) -> AppResult<u64> {
    let mut enrolled = 0;
    for campaign in campaigns
        .iter()
        .filter(|c| c.status == CampaignStatus::Active)
    {
        let planned = txn
            .in_savepoint(async |sp| plan_campaign(sp, now_ms, store_zone, campaign).await)
            .await;
        match planned {
            Ok(runs) => enrolled += runs,
            Err(e) if e.is_database_failure() => return Err(e),
            Err(e) => {
                let reason = format!("planning failed: {}", e.public_message());
                tracing::error!(
                    campaign.id = campaign.model.id,
                    error = %e,
                    "a campaign could not be planned and was paused"
                );
                pause_with_reason(txn, campaign.model.id, &reason, now_ms).await?;
            }
        }
    }
    Ok(enrolled)
}

/// Plans one campaign: enrols its due anchors and moves its `planned_until` to `now_ms`.
async fn plan_campaign(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    store_zone: Tz,
    campaign: &Campaign,
) -> AppResult<u64> {
    let mut enrolled = 0;
    let since = planned_since(campaign, now_ms);
    let candidates = match &campaign.anchor {
        Anchor::Birthday {} => {
            for (customer_id, subject, anchor_at) in
                due_birthdays(txn, campaign, now_ms, store_zone).await?
            {
                let candidates = super::enrol::one(customer_id, subject, None, anchor_at);
                enrolled += enrol(txn, campaign, now_ms, candidates).await?;
            }
            None
        }
        _ => due_candidates(campaign, since, now_ms),
    };
    if let Some(candidates) = candidates {
        enrolled += enrol(txn, campaign, now_ms, candidates).await?;
    }
    campaign::Entity::update_many()
        .col_expr(campaign::Column::PlannedUntil, Expr::value(now_ms))
        .filter(campaign::Column::Id.eq(campaign.model.id))
        .exec(txn)
        .await?;
    Ok(enrolled)
}

/// Where the campaign's next planning starts: where the last one stopped, or, before a first
/// tick, at its activation (inactivity: from always, so everyone inactive already is enrolled).
pub(super) fn planned_since(campaign: &Campaign, now_ms: i64) -> i64 {
    campaign
        .model
        .planned_until
        .unwrap_or(match campaign.anchor {
            Anchor::Inactive { .. } => i64::MIN / 2,
            _ => campaign.model.activated_at.unwrap_or(now_ms),
        })
}

/// The rows a time-driven anchor makes due between `since` and `now_ms`, or `None` for anchors
/// enrolled otherwise (by events, or birthdays one by one).
pub(super) fn due_candidates(campaign: &Campaign, since: i64, now_ms: i64) -> Option<Candidates> {
    match &campaign.anchor {
        Anchor::OrderUnpaid { after_hours } => {
            let delay = i64::from(*after_hours) * HOUR_MS;
            Some(Candidates {
                sql: "SELECT o.customer_id AS customer_id, 'order:' || o.id AS subject_key, \
                      o.id AS subject_ref, o.id AS order_id, o.placed_at AS anchor_at FROM orders o \
                      WHERE o.placed_at > ? AND o.placed_at <= ? AND o.paid_at IS NULL \
                      AND o.status = 'placed'"
                    .to_owned(),
                values: vec![(since - delay).into(), (now_ms - delay).into()],
            })
        }
        Anchor::CartAbandoned { idle_hours } => {
            let idle = i64::from(*idle_hours) * HOUR_MS;
            Some(Candidates {
                sql: "SELECT c.id AS customer_id, 'cart:' || c.cart_updated_at AS subject_key, \
                      c.cart_updated_at AS subject_ref, \
                      CAST(NULL AS BIGINT) AS order_id, c.cart_updated_at AS anchor_at \
                      FROM customers c \
                      WHERE c.cart_updated_at > ? AND c.cart_updated_at <= ? \
                      AND (c.last_order_at IS NULL OR c.last_order_at < c.cart_updated_at) \
                      AND EXISTS (SELECT 1 FROM cart_lines l WHERE l.customer_id = c.id)"
                    .to_owned(),
                values: vec![(since - idle).into(), (now_ms - idle).into()],
            })
        }
        Anchor::Inactive { basis, days } => {
            let span = i64::from(*days) * DAY_MS;
            let column = match basis {
                InactivityBasis::LastLogin => "last_login_at",
                InactivityBasis::LastOrder => "last_order_at",
            };
            Some(Candidates {
                sql: format!(
                    "SELECT c.id AS customer_id, 'inactive:' || c.{column} AS subject_key, c.{column} AS subject_ref, \
                     CAST(NULL AS BIGINT) AS order_id, c.{column} AS anchor_at \
                     FROM customers c WHERE c.{column} > ? AND c.{column} <= ?"
                ),
                values: vec![since.saturating_sub(span).into(), (now_ms - span).into()],
            })
        }
        Anchor::PlannedDelivery {} => Some(Candidates {
            sql: "SELECT o.customer_id AS customer_id, 'order:' || o.id AS subject_key, \
                  o.id AS subject_ref, o.id AS order_id, o.planned_delivery_at AS anchor_at \
                  FROM orders o WHERE o.planned_delivery_at > ? \
                  AND o.planned_delivery_at <= ? AND o.status <> 'cancelled' \
                  AND o.delivered_at IS NULL"
                .to_owned(),
            values: vec![
                (now_ms - DELIVERY_LOOKBACK_MS).into(),
                (now_ms + campaign.model.lead_ms).into(),
            ],
        }),
        // Enrolled by the event processor.
        _ => None,
    }
}

/// Birthdays whose local date is near enough, as (customer, subject, anchor): read by month
/// and day through their index (the days around today in every time zone), then placed in
/// each customer's zone.
pub(super) async fn due_birthdays(
    txn: &impl ConnectionTrait,
    campaign: &Campaign,
    now_ms: i64,
    store_zone: Tz,
) -> AppResult<Vec<(i64, (String, i64), i64)>> {
    let lead_days = u64::try_from(campaign.model.lead_ms / DAY_MS).unwrap_or(0);
    let today = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let mut dates: Vec<NaiveDate> = (0..=lead_days + 2)
        .filter_map(|d| today.checked_add_days(Days::new(d)))
        .collect();
    dates.extend(today.checked_sub_days(Days::new(1)));
    let mut month_days: Vec<(i16, i16)> = dates
        .iter()
        .map(|d| (d.month() as i16, d.day() as i16))
        .collect();
    // 29 February birthdays fall on 28 February in other years.
    if dates.iter().any(|d| {
        d.month() == 2 && d.day() == 28 && NaiveDate::from_ymd_opt(d.year(), 2, 29).is_none()
    }) {
        month_days.push((2, 29));
    }
    let mut found: Vec<(i64, i16, i16, Option<String>)> = Vec::new();
    for (month, day) in month_days {
        found.extend(
            customer::Entity::find()
                .select_only()
                .columns([
                    customer::Column::Id,
                    customer::Column::BirthdayMonth,
                    customer::Column::BirthdayDay,
                    customer::Column::TimeZone,
                ])
                .filter(customer::Column::BirthdayMonth.eq(month))
                .filter(customer::Column::BirthdayDay.eq(day))
                .into_tuple::<(i64, i16, i16, Option<String>)>()
                .all(txn)
                .await?,
        );
    }
    let mut due = Vec::new();
    for (customer_id, month, day, time_zone) in found {
        let tz = zone(time_zone.as_deref(), store_zone);
        let local_today = local_date(now_ms, tz);
        for year in [local_today.year(), local_today.year() + 1] {
            let Some(date) = birthday_in(year, month as u32, day as u32) else {
                continue;
            };
            let anchor_at = start_of_day(tz, date);
            // From `lead` before the local date until the day is over.
            if now_ms >= anchor_at - campaign.model.lead_ms && now_ms < anchor_at + DAY_MS {
                due.push((
                    customer_id,
                    (format!("birthday:{year}"), i64::from(year)),
                    anchor_at,
                ));
            }
        }
    }
    Ok(due)
}
