//! Previewing a campaign at an instant without writing anything: who a tick would enrol (for
//! anchors set by events: whose event came in the day before), whether they are in the
//! audience, and which message would go out first, and when.

use super::context::{Ctx, holds};
use super::enrol::{Candidates, admission_filter};
use super::flow::next_after;
use super::plan::{due_birthdays, due_candidates, planned_since};
use super::window::next_allowed;
use super::{Anchor, Campaign, StepAction, Wait};
use crate::config::StoreSettings;
use crate::db::raw_statement;
use crate::domain::orders::replenishment::CART_SUBJECT;
use crate::domain::time::{wait_until, zone};
use crate::error::AppResult;
use entity::customer;
use sea_orm::{ConnectionTrait, EntityTrait};

const DAY_MS: i64 = 86_400_000;

/// One customer a tick at the instant would enrol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewEntry {
    pub customer_id: i64,
    pub subject_key: String,
    pub anchor_at: i64,
    pub in_audience: bool,
    /// The first message step the run would send, if any.
    pub step_id: Option<String>,
    /// When that message would go out (waits and the send window included).
    pub sends_at: Option<i64>,
}

/// Up to `limit` customers a tick at `at_ms` would enrol, with what would happen to them.
pub async fn preview_audience(
    db: &impl ConnectionTrait,
    campaign: &Campaign,
    at_ms: i64,
    store: &StoreSettings,
    limit: usize,
) -> AppResult<Vec<PreviewEntry>> {
    let since = planned_since(campaign, at_ms);
    let mut rows = Vec::new();
    match &campaign.anchor {
        // Birthdays are found one by one; they are asked of the database in chunks of rows.
        Anchor::Birthday {} => {
            let due = due_birthdays(db, campaign, at_ms, store.time_zone).await?;
            for chunk in due.chunks(BIRTHDAY_CHUNK) {
                if rows.len() >= limit {
                    break;
                }
                let wanted = limit - rows.len();
                rows.extend(admitted(db, campaign, at_ms, birthday_rows(chunk), wanted).await?);
            }
        }
        _ => {
            let candidates = due_candidates(campaign, since.min(at_ms), at_ms)
                .unwrap_or_else(|| recent_events(campaign, at_ms));
            rows = admitted(db, campaign, at_ms, candidates, limit).await?;
        }
    }
    rows.truncate(limit);
    let mut entries = Vec::with_capacity(rows.len());
    for (customer_id, subject_key, anchor_at, order_id) in rows {
        let Some(customer) = customer::Entity::find_by_id(customer_id).one(db).await? else {
            continue;
        };
        let ctx = Ctx {
            campaign,
            store,
            now_ms: at_ms,
            tz: zone(customer.time_zone.as_deref(), store.time_zone),
            customer,
            order_id,
            run: None,
        };
        let in_audience = holds(db, &ctx, &campaign.audience).await?;
        let (step_id, sends_at) = if in_audience {
            first_message(db, &ctx, anchor_at).await?
        } else {
            (None, None)
        };
        entries.push(PreviewEntry {
            customer_id,
            subject_key,
            anchor_at,
            in_audience,
            step_id,
            sends_at,
        });
    }
    Ok(entries)
}

/// Birthdays asked of the database at once.
const BIRTHDAY_CHUNK: usize = 200;

/// Up to `limit` of the candidates a tick at `at_ms` would really enrol (not kept out by an
/// earlier run, the once-ever rule or the re-entry delay), by customer id.
async fn admitted(
    db: &impl ConnectionTrait,
    campaign: &Campaign,
    at_ms: i64,
    candidates: Candidates,
    limit: usize,
) -> AppResult<Vec<(i64, String, i64, Option<i64>)>> {
    let (admitted, admitted_values) = admission_filter(campaign, at_ms);
    let sql = format!(
        "SELECT d.customer_id, d.subject_key, d.anchor_at, d.order_id FROM ({}) d \
         WHERE {admitted} ORDER BY d.customer_id LIMIT {limit}",
        candidates.sql
    );
    let mut values = candidates.values;
    values.extend(admitted_values);
    Ok(db
        .query_all_raw(raw_statement(db.get_database_backend(), &sql, values))
        .await?
        .into_iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<i64>(0)?,
                r.try_get_by_index::<String>(1)?,
                r.try_get_by_index::<i64>(2)?,
                r.try_get_by_index::<Option<i64>>(3)?,
            ))
        })
        .collect::<Result<_, sea_orm::DbErr>>()?)
}

/// Birthdays as candidate rows: a `UNION ALL` of one row each (never empty: the caller
/// passes a chunk).
fn birthday_rows(due: &[(i64, (String, i64), i64)]) -> Candidates {
    let mut rows = Vec::with_capacity(due.len());
    let mut values = Vec::with_capacity(due.len() * 4);
    for (customer_id, (subject_key, subject_ref), anchor_at) in due.iter().cloned() {
        rows.push(
            "SELECT CAST(? AS BIGINT) AS customer_id, CAST(? AS TEXT) AS subject_key, \
             CAST(? AS BIGINT) AS subject_ref, CAST(NULL AS BIGINT) AS order_id, \
             CAST(? AS BIGINT) AS anchor_at",
        );
        values.extend([
            customer_id.into(),
            subject_key.into(),
            subject_ref.into(),
            anchor_at.into(),
        ]);
    }
    Candidates {
        sql: rows.join(" UNION ALL "),
        values,
    }
}

/// Anchors set by events, over the day before `at_ms`.
fn recent_events(campaign: &Campaign, at_ms: i64) -> Candidates {
    let order = |column: &str| {
        format!(
            "SELECT o.customer_id AS customer_id, 'order:' || o.id AS subject_key, \
             o.id AS subject_ref, o.id AS order_id, o.{column} AS anchor_at FROM orders o \
             WHERE o.{column} > ? AND o.{column} <= ?"
        )
    };
    let customer = |column: &str, subject: &str| {
        format!(
            "SELECT c.id AS customer_id, {subject} AS subject_key, c.{column} AS subject_ref, \
             CAST(NULL AS BIGINT) AS order_id, c.{column} AS anchor_at FROM customers c WHERE c.{column} > ? AND c.{column} <= ?"
        )
    };
    if let Anchor::SegmentJoined { segment_id } = campaign.anchor {
        return Candidates {
            sql: "SELECT m.customer_id AS customer_id, \
                  'segment:' || m.segment_id || ':' || m.joined_at AS subject_key, \
                  m.joined_at AS subject_ref, CAST(NULL AS BIGINT) AS order_id, \
                  m.joined_at AS anchor_at FROM segment_members m \
                  WHERE m.segment_id = ? AND m.joined_at > ? AND m.joined_at <= ?"
                .to_owned(),
            values: vec![segment_id.into(), (at_ms - DAY_MS).into(), at_ms.into()],
        };
    }
    if let Anchor::ReplenishmentDue {} = campaign.anchor {
        return Candidates {
            sql: format!(
                "SELECT pc.customer_id AS customer_id, '{CART_SUBJECT}' || pc.id AS subject_key, \
                 pc.id AS subject_ref, CAST(NULL AS BIGINT) AS order_id, \
                 pc.created_at AS anchor_at FROM predicted_carts pc \
                 WHERE pc.created_at > ? AND pc.created_at <= ?"
            ),
            values: vec![(at_ms - DAY_MS).into(), at_ms.into()],
        };
    }
    let sql = match campaign.anchor {
        Anchor::OrderPaid {} => order("paid_at"),
        Anchor::Delivered {} => order("delivered_at"),
        Anchor::Registered {} => customer("registered_at", "'registered'"),
        Anchor::NewsletterSubscribed {} => {
            customer("email_consent_at", "'newsletter:' || c.email_consent_at")
        }
        _ => order("placed_at"),
    };
    Candidates {
        sql,
        values: vec![(at_ms - DAY_MS).into(), at_ms.into()],
    }
}

/// The first message the flow would send, and when: the flow starts where the runner starts
/// it ([`Campaign::run_starts_at`]), filters are decided
/// now, waits add up, nothing goes out before the context's instant, and the send window
/// applies.
async fn first_message(
    db: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    anchor_at: i64,
) -> AppResult<(Option<String>, Option<i64>)> {
    let steps = &ctx.campaign.steps;
    let mut at = ctx
        .campaign
        .run_starts_at(anchor_at, ctx.now_ms, ctx.now_ms);
    let mut current = steps.first();
    while let Some(step) = current {
        let mut next = next_after(steps, &step.id);
        match &step.action {
            StepAction::Wait(Wait::Duration { minutes }) => at += minutes * 60_000,
            StepAction::Wait(Wait::Until {
                offset_days,
                hour,
                minute,
            }) => at = at.max(wait_until(anchor_at, ctx.tz, *offset_days, *hour, *minute)),
            StepAction::Filter { condition, yes, no } => {
                let branch = if holds(db, ctx, condition).await? {
                    yes
                } else {
                    no
                };
                if let Some(first) = branch.first() {
                    next = Some(first);
                }
            }
            StepAction::Message { audience, .. } => {
                let included = match audience {
                    Some(a) => holds(db, ctx, a).await?,
                    None => true,
                };
                if included {
                    let at = at.max(ctx.now_ms);
                    let sends = match &ctx.campaign.send_window {
                        Some(window) => next_allowed(window, ctx.tz, at),
                        None => at,
                    };
                    return Ok((Some(step.id.clone()), Some(sends)));
                }
            }
            StepAction::Effect { .. } => {}
        }
        current = next;
    }
    Ok((None, None))
}
