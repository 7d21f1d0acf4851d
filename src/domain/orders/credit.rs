//! Crediting orders to messages. An order is credited to at most one marketing message: the
//! one the customer clicked most recently within the click window before the order, else the
//! one a person opened most recently within the open window (machine opens do not count),
//! else — SMS only — the one delivered most recently within the SMS window. The credit is
//! kept with the order (which message, which touch and when, and why), decided once when the
//! order is first seen; later writes of the order only change what it counts: a cancelled or
//! refunded order takes its conversion and revenue back out, a total that changes moves the
//! revenue by the difference. Each change is a fact, so the statistics follow exactly.

use super::OrderStatus;
use crate::clock::from_millis;
use crate::config::Attribution;
use crate::db::in_list;
use crate::domain::message::{Channel, Purpose};
use crate::domain::records::group_by;
use crate::domain::stats::{Dims, Fact, Metric, note};
use crate::error::AppResult;
use entity::{delivery, delivery_event, order, order_credit};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};
use std::collections::HashMap;
use std::time::Duration;

/// What earned a message an order's credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    Click,
    Open,
    Delivery,
}

impl Touch {
    pub fn as_str(self) -> &'static str {
        match self {
            Touch::Click => "click",
            Touch::Open => "open",
            Touch::Delivery => "delivery",
        }
    }

    /// The touch of a stored text (`None`: not one Nudge writes).
    pub fn from_stored(s: &str) -> Option<Self> {
        [Touch::Click, Touch::Open, Touch::Delivery]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// The delivery event that is this touch.
    fn event_kind(self) -> &'static str {
        match self {
            Touch::Click => "clicked",
            Touch::Open => "opened",
            Touch::Delivery => "delivered",
        }
    }
}

/// A message's touch found for an order.
struct Found {
    touch: Touch,
    at_ms: i64,
    delivery: delivery::Model,
    window: Duration,
}

/// Whether an order counts now.
fn is_live(o: &order::Model) -> bool {
    !OrderStatus::from_stored(&o.status).is_void()
}

/// Brings the credits of `orders` up to date inside the caller's transaction: credits an
/// order seen for the first time, and moves what a credited one counts to what it should.
pub async fn reconcile(
    txn: &impl ConnectionTrait,
    orders: &[order::Model],
    windows: &Attribution,
    store_currency: &str,
    now_ms: i64,
) -> AppResult<()> {
    let mut facts = Vec::new();
    for o in orders {
        let mut existing = order_credit::Entity::find_by_id(o.id);
        if txn.get_database_backend() == DbBackend::Postgres {
            // Two writes of one order at once move what it counts once each, in turn.
            existing = existing.lock(LockType::Update);
        }
        let existing = existing.one(txn).await?;
        let live = is_live(o);
        let revenue = if live && o.currency == store_currency {
            o.total
        } else {
            0
        };
        match existing {
            Some(credit) => {
                if credit.counted == live && credit.revenue == revenue {
                    continue;
                }
                let dims = dims_of(&credit);
                let conversions = i64::from(live) - i64::from(credit.counted);
                facts.push(
                    Fact::one(Metric::Conversions, dims.clone(), now_ms, credit.sent_at)
                        .times(conversions),
                );
                facts.push(
                    Fact::one(Metric::Revenue, dims, now_ms, credit.sent_at)
                        .times(revenue - credit.revenue),
                );
                let mut active: order_credit::ActiveModel = credit.into();
                active.counted = ActiveValue::Set(live);
                active.revenue = ActiveValue::Set(revenue);
                active.updated_at = ActiveValue::Set(now_ms);
                active.update(txn).await?;
            }
            None => {
                let Some(found) = find_touch(txn, o, windows).await? else {
                    continue;
                };
                let d = &found.delivery;
                let sent_ms = d.sent_at.unwrap_or(found.at_ms);
                let dims = Dims::of_sent(d, d.locale.as_deref());
                if live {
                    facts.push(Fact::one(
                        Metric::Conversions,
                        dims.clone(),
                        o.placed_at,
                        sent_ms,
                    ));
                    facts.push(
                        Fact::one(Metric::Revenue, dims.clone(), o.placed_at, sent_ms)
                            .times(revenue),
                    );
                }
                let reason = explain(&found, o, store_currency);
                order_credit::Entity::insert(order_credit::ActiveModel {
                    order_id: ActiveValue::Set(o.id),
                    delivery_id: ActiveValue::Set(Some(d.id)),
                    channel: ActiveValue::Set(d.channel.clone()),
                    campaign_id: ActiveValue::Set(dims.campaign_id),
                    step_id: ActiveValue::Set(dims.step_id),
                    action_id: ActiveValue::Set(dims.action_id),
                    template_id: ActiveValue::Set(dims.template_id),
                    locale: ActiveValue::Set(dims.locale),
                    touch: ActiveValue::Set(found.touch.as_str().to_owned()),
                    touched_at: ActiveValue::Set(found.at_ms),
                    sent_at: ActiveValue::Set(sent_ms),
                    window_ms: ActiveValue::Set(found.window.as_millis() as i64),
                    counted: ActiveValue::Set(live),
                    revenue: ActiveValue::Set(if live { revenue } else { 0 }),
                    currency: ActiveValue::Set(store_currency.to_owned()),
                    reason: ActiveValue::Set(reason),
                    credited_at: ActiveValue::Set(now_ms),
                    updated_at: ActiveValue::Set(now_ms),
                })
                .exec_without_returning(txn)
                .await?;
            }
        }
    }
    note(txn, facts).await
}

/// The credits of `order_ids` (an order without one was credited to no message).
pub async fn credits_of(
    db: &impl ConnectionTrait,
    order_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<order_credit::Model>>> {
    let rows = order_credit::Entity::find()
        .filter(order_credit::Column::OrderId.is_in(in_list(order_ids.iter().copied())))
        .all(db)
        .await?;
    Ok(group_by(rows, |c| c.order_id))
}

/// The dimensions a credit counts under.
fn dims_of(c: &order_credit::Model) -> Dims {
    Dims {
        channel: Some(c.channel.clone()),
        campaign_id: c.campaign_id,
        step_id: c.step_id.clone(),
        action_id: c.action_id,
        template_id: c.template_id,
        locale: c.locale.clone(),
        segment_id: None,
    }
}

/// The touch that earns `o`'s credit, by the rules in order: click, open, SMS delivery.
async fn find_touch(
    txn: &impl ConnectionTrait,
    o: &order::Model,
    windows: &Attribution,
) -> AppResult<Option<Found>> {
    let rules = [
        (Touch::Click, windows.click_window, None),
        (Touch::Open, windows.open_window, None),
        (Touch::Delivery, windows.sms_window, Some(Channel::Sms)),
    ];
    for (touch, window, channel) in rules {
        if window.is_zero() {
            continue;
        }
        let since = o.placed_at - window.as_millis() as i64;
        let mut touched = delivery_event::Entity::find()
            .select_only()
            .column(delivery_event::Column::DeliveryId)
            .column(delivery_event::Column::At)
            .join(
                JoinType::InnerJoin,
                delivery_event::Relation::Delivery.def(),
            )
            .filter(delivery::Column::CustomerId.eq(o.customer_id))
            .filter(delivery::Column::Purpose.eq(Purpose::Marketing.as_str()))
            .filter(delivery_event::Column::Kind.eq(touch.event_kind()))
            .filter(delivery_event::Column::At.gte(since))
            .filter(delivery_event::Column::At.lte(o.placed_at));
        if let Some(channel) = channel {
            touched = touched.filter(delivery::Column::Channel.eq(channel.as_str()));
        }
        let latest: Option<(i64, i64)> = touched
            .order_by_desc(delivery_event::Column::At)
            .order_by_desc(delivery_event::Column::Id)
            .limit(1)
            .into_tuple()
            .one(txn)
            .await?;
        if let Some((delivery_id, at_ms)) = latest
            && let Some(delivery) = delivery::Entity::find_by_id(delivery_id).one(txn).await?
        {
            return Ok(Some(Found {
                touch,
                at_ms,
                delivery,
                window,
            }));
        }
    }
    Ok(None)
}

/// Why the order went to this message, in a sentence an admin can check.
fn explain(found: &Found, o: &order::Model, store_currency: &str) -> String {
    let d = &found.delivery;
    let source = match (d.campaign_id, d.step_id.as_deref(), d.action_id) {
        (Some(c), Some(step), _) => format!("campaign {c}, step {step:?}"),
        (Some(c), None, _) => format!("campaign {c}"),
        (None, _, Some(a)) => format!("customer action {a}"),
        _ => "a message".into(),
    };
    let rule = match found.touch {
        Touch::Click => "the most recent click",
        Touch::Open => "no click in its window; the most recent open by a person",
        Touch::Delivery => "no click or open in their windows; the most recent SMS delivered",
    };
    let before = Duration::from_millis((o.placed_at - found.at_ms).max(0) as u64);
    let mut reason = format!(
        "{rule}: {} {} of {source} ({}) at {}, {} before the order, within the {} window",
        d.channel,
        found.touch.as_str(),
        format_args!("delivery {}", d.id),
        from_millis(found.at_ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        span(before),
        span(found.window),
    );
    if o.currency != store_currency {
        reason.push_str(&format!(
            "; the order is in {}, not the store currency {store_currency}, so it adds no revenue",
            o.currency
        ));
    }
    reason
}

/// A duration as people say it: `3 days 2 h`, `5 h 20 min`, `40 s`.
fn span(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (1, 0, _) => "1 day".into(),
        (d, 0, _) => format!("{d} days"),
        (d, h, _) => format!("{d} {} {h} h", if d == 1 { "day" } else { "days" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(span(Duration::from_secs(40)), "40 s");
        assert_eq!(span(Duration::from_secs(7_500)), "2 h 5 min");
        assert_eq!(span(Duration::from_secs(5 * 86_400)), "5 days");
        assert_eq!(span(Duration::from_secs(86_400 + 7_200)), "1 day 2 h");
    }
}
