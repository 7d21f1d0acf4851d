//! Claiming due deliveries, and the checks made at send time.
//!
//! One transaction takes up to `limit` deliveries that are due — queued ones whose time has
//! come, and claimed ones whose lease ran out (their process died) — skipping rows another
//! dispatcher holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one dispatcher). On
//! PostgreSQL it also locks the customers concerned, in id order, so two dispatchers never
//! both pass a frequency cap for the same customer. Each delivery then gets its verdict:
//! skipped (no address, no consent, suppressed, over the cap — with the reason), deferred to
//! the end of the recipient's quiet hours, or claimed: `sending`, with a lease, one more
//! attempt, and the address it goes to. What follows a skip ([`Follow`]) is written in the
//! same transaction.

use super::follow::{Follow, Settled};
use super::{Purpose, Status, settle};
use crate::clock::{from_millis, to_millis};
use crate::config::{DeliverySettings, QuietHours};
use crate::db::begin_write;
use crate::domain::lease;
use crate::domain::stats::metric::SkipReason;
use crate::domain::stats::{self, Fact, Metric};
use crate::domain::templates::Channel;
use crate::domain::time::{local_instant, zone};
use crate::domain::values::PhoneNumber;
use crate::error::AppResult;
use chrono::{DateTime, Days, Timelike, Utc};
use chrono_tz::Tz;
use entity::{customer, delivery, delivery_event, suppression};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;

/// A delivery this process may now send, with its customer.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub delivery: delivery::Model,
    pub customer: Option<customer::Model>,
    /// The email address or E.164 number it goes to.
    pub address: String,
}

/// What one claim did: the deliveries to send now, and how many due ones it judged in all
/// (sent, skipped or deferred).
#[derive(Debug, Default)]
pub struct Claim {
    pub claimed: Vec<Claimed>,
    pub judged: usize,
}

/// What the checks decided for one delivery.
#[derive(Debug)]
enum Verdict {
    Claim(String),
    Skip(SkipReason, String),
    Defer { until_ms: i64, reason: String },
}

/// Who takes the deliveries, how many at most, and what follows a skip.
pub struct Claimant<'a> {
    pub owner: &'a str,
    pub limit: usize,
    pub follow: &'a dyn Follow,
}

/// Claims due deliveries for `claimant`; records skips and deferrals on the way.
pub async fn claim_due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    settings: &DeliverySettings,
    store_zone: Tz,
    claimant: Claimant<'_>,
) -> AppResult<Claim> {
    let Claimant {
        owner,
        limit,
        follow,
    } = claimant;
    let now_ms = to_millis(now);
    // Look before taking the write lock: an idle dispatcher must not hold up SQLite's writer.
    let any_due = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Id)
        .filter(lease::due::<delivery::Entity>(now_ms))
        .limit(1)
        .into_tuple::<i64>()
        .all(db)
        .await?;
    if any_due.is_empty() {
        return Ok(Claim::default());
    }
    let txn = begin_write(db).await?;
    let due = delivery::Entity::find()
        .filter(lease::due::<delivery::Entity>(now_ms))
        .order_by_asc(delivery::Column::DueAt)
        .order_by_asc(delivery::Column::Id)
        .limit(limit as u64)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&txn)
        .await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Claim::default());
    }
    let judged = due.len();
    let mut customer_ids: Vec<i64> = due.iter().filter_map(|d| d.customer_id).collect();
    customer_ids.sort_unstable();
    customer_ids.dedup();
    let mut customers = customer::Entity::find()
        .filter(customer::Column::Id.is_in(customer_ids.iter().copied()))
        .order_by_asc(customer::Column::Id);
    if txn.get_database_backend() == DbBackend::Postgres {
        customers = customers.lock(LockType::Update);
    }
    let customers: HashMap<i64, customer::Model> = customers
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let addresses: Vec<String> = due
        .iter()
        .filter_map(|d| address_of(d, d.customer_id.and_then(|id| customers.get(&id))))
        .collect();
    let suppressed: HashMap<(String, String), String> = suppression::Entity::find()
        .filter(suppression::Column::Address.is_in(addresses))
        .all(&txn)
        .await?
        .into_iter()
        .map(|s| ((s.channel, s.address), s.reason))
        .collect();
    let batch: Vec<i64> = due.iter().map(|d| d.id).collect();
    let mut last_sent = last_marketing_sends(&txn, &customer_ids, &batch, now_ms, settings).await?;

    let lease_until = now_ms + settings.lease.as_millis() as i64;
    let mut claimed = Vec::new();
    let mut skipped = Vec::new();
    let mut facts = Vec::new();
    for d in due {
        let customer = d.customer_id.and_then(|id| customers.get(&id));
        let verdict = judge(
            &d,
            customer,
            &suppressed,
            &mut last_sent,
            settings,
            store_zone,
            now_ms,
        );
        let update = delivery::Entity::update_many().filter(delivery::Column::Id.eq(d.id));
        match verdict {
            Verdict::Skip(code, reason) => {
                if Purpose::from_stored(&d.purpose).is_marketing() {
                    facts.push(Fact::of_message(Metric::Skipped, &d, now_ms).keyed(code.as_str()));
                }
                settle(update, Status::Skipped, Some(reason.clone()), now_ms)
                    .col_expr(delivery::Column::SentAt, Expr::value(Option::<i64>::None))
                    .exec(&txn)
                    .await?;
                if d.run_id.is_some() {
                    skipped.push(Settled {
                        delivery_id: d.id,
                        at_ms: now_ms,
                        status: Status::Skipped,
                        reason: Some(reason),
                    });
                }
            }
            Verdict::Defer { until_ms, reason } => {
                update
                    .col_expr(
                        delivery::Column::Status,
                        Expr::value(Status::Queued.as_str()),
                    )
                    .col_expr(delivery::Column::DueAt, Expr::value(until_ms))
                    .col_expr(delivery::Column::Reason, Expr::value(reason.clone()))
                    .col_expr(delivery::Column::UpdatedAt, Expr::value(now_ms))
                    .exec(&txn)
                    .await?;
                record_event(&txn, d.id, "deferred", now_ms, Some(reason)).await?;
                facts.push(Fact::of_message(Metric::Deferred, &d, now_ms));
            }
            Verdict::Claim(address) => {
                let mut delivery = d;
                delivery.attempts += 1;
                delivery.lease_owner = Some(owner.to_owned());
                delivery.lease_until = Some(lease_until);
                claimed.push(Claimed {
                    customer: delivery
                        .customer_id
                        .and_then(|id| customers.get(&id).cloned()),
                    delivery,
                    address,
                });
            }
        }
    }
    if !claimed.is_empty() {
        // One statement for the whole batch; the address is recorded with the outcome.
        let ids = claimed.iter().map(|c| c.delivery.id);
        lease::take::<delivery::Entity>(ids, owner, lease_until, now_ms)
            // Holds the frequency cap's slot while the message is in flight.
            .col_expr(delivery::Column::SentAt, Expr::value(now_ms))
            .exec(&txn)
            .await?;
    }
    stats::note(&txn, facts).await?;
    let changes = if skipped.is_empty() {
        Vec::new()
    } else {
        follow.settled(&txn, skipped).await?
    };
    txn.commit().await?;
    follow.announce(changes);
    Ok(Claim { claimed, judged })
}

/// The address a delivery goes to: its own recipient (staff, test), else the customer's.
fn address_of(d: &delivery::Model, customer: Option<&customer::Model>) -> Option<String> {
    if let Some(recipient) = &d.recipient {
        return Some(recipient.clone());
    }
    let customer = customer?;
    match Channel::from_stored(&d.channel) {
        Channel::Sms => customer.phone.clone(),
        Channel::Email => customer.email.as_ref().map(|e| e.to_ascii_lowercase()),
    }
}

fn judge(
    d: &delivery::Model,
    customer: Option<&customer::Model>,
    suppressed: &HashMap<(String, String), String>,
    last_sent: &mut HashMap<(i64, String), i64>,
    settings: &DeliverySettings,
    store_zone: Tz,
    now_ms: i64,
) -> Verdict {
    let purpose = Purpose::from_stored(&d.purpose);
    let channel = Channel::from_stored(&d.channel);
    let sms = channel == Channel::Sms;
    if d.customer_id.is_some() && customer.is_none() && d.recipient.is_none() {
        return Verdict::Skip(
            SkipReason::CustomerGone,
            "the customer no longer exists".into(),
        );
    }
    let Some(address) = address_of(d, customer) else {
        return Verdict::Skip(
            SkipReason::NoContact,
            format!(
                "the customer has no {}",
                if sms { "phone number" } else { "email address" }
            ),
        );
    };
    if sms && PhoneNumber::parse(&address).is_err() {
        return Verdict::Skip(
            SkipReason::InvalidAddress,
            "the phone number is not in E.164 form".into(),
        );
    }
    if let Some(reason) = suppressed.get(&(d.channel.clone(), address.clone())) {
        return Verdict::Skip(SkipReason::Suppressed, format!("suppressed: {reason}"));
    }
    if !purpose.is_marketing() {
        return Verdict::Claim(address);
    }
    if let Some(c) = customer {
        let consent = if sms { c.sms_consent } else { c.email_consent };
        if !consent {
            return Verdict::Skip(
                SkipReason::NoConsent,
                format!("no {} consent", channel.label()),
            );
        }
    }
    let tz = zone(customer.and_then(|c| c.time_zone.as_deref()), store_zone);
    if let Some(quiet) = settings.quiet_hours
        && let Some(until_ms) = quiet_until(quiet, tz, now_ms)
    {
        return Verdict::Defer {
            until_ms,
            reason: format!(
                "quiet hours {}–{} in {tz}",
                quiet.start.format("%H:%M"),
                quiet.end.format("%H:%M")
            ),
        };
    }
    let cap = if sms {
        settings.sms_cap
    } else {
        settings.email_cap
    };
    if let (Some(cap), Some(customer_id)) = (cap, d.customer_id) {
        let key = (customer_id, d.channel.clone());
        let cap_ms = cap.as_millis() as i64;
        if let Some(last) = last_sent.get(&key)
            && now_ms - last < cap_ms
        {
            return Verdict::Skip(
                SkipReason::FrequencyCap,
                format!(
                    "frequency cap: one marketing {} per {} h",
                    channel.label(),
                    cap.as_secs() / 3600
                ),
            );
        }
        last_sent.insert(key, now_ms);
    }
    Verdict::Claim(address)
}

/// When the quiet hours that hold `now` end, or `None` outside them.
fn quiet_until(quiet: QuietHours, tz: Tz, now_ms: i64) -> Option<i64> {
    let local = from_millis(now_ms).with_timezone(&tz);
    if !quiet.contains(local.time()) {
        return None;
    }
    let end = |date| local_instant(tz, date, quiet.end.hour(), quiet.end.minute());
    let today = local.date_naive();
    let at = end(today);
    if at > now_ms {
        Some(at)
    } else {
        today.checked_add_days(Days::new(1)).map(end)
    }
}

/// The newest marketing send per (customer, channel) within the longest cap, not counting
/// the deliveries being judged (a recovered lease holds its own earlier slot).
async fn last_marketing_sends(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
    judged: &[i64],
    now_ms: i64,
    settings: &DeliverySettings,
) -> AppResult<HashMap<(i64, String), i64>> {
    let longest = [settings.email_cap, settings.sms_cap]
        .into_iter()
        .flatten()
        .max();
    let Some(longest) = longest else {
        return Ok(HashMap::new());
    };
    let since = now_ms - longest.as_millis() as i64;
    let rows: Vec<(Option<i64>, String, Option<i64>)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::CustomerId)
        .column(delivery::Column::Channel)
        .column_as(delivery::Column::SentAt.max(), "sent_at")
        .filter(delivery::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(delivery::Column::Purpose.eq(Purpose::Marketing.as_str()))
        .filter(delivery::Column::SentAt.gte(since))
        .filter(delivery::Column::Id.is_not_in(judged.iter().copied()))
        .group_by(delivery::Column::CustomerId)
        .group_by(delivery::Column::Channel)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(customer, channel, at)| Some(((customer?, channel), at?)))
        .collect())
}

/// Records something that happened to a delivery.
pub async fn record_event(
    db: &impl ConnectionTrait,
    delivery_id: i64,
    kind: &str,
    at_ms: i64,
    detail: Option<String>,
) -> AppResult<()> {
    delivery_event::Entity::insert(delivery_event::ActiveModel {
        id: ActiveValue::NotSet,
        delivery_id: ActiveValue::Set(delivery_id),
        kind: ActiveValue::Set(kind.to_owned()),
        at: ActiveValue::Set(at_ms),
        detail: ActiveValue::Set(detail),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
