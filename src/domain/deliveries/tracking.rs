//! What recipients and providers tell Nudge about sent messages: opens (a pixel), clicks (a
//! redirect), unsubscribes (a page and the one-click POST), the SMS provider's status reports
//! and inbound STOP replies. Tokens are checked by the caller's [`TokenSigner`]; a token that
//! does not verify, or names a delivery that is gone, is answered as not found.

use super::claim::record_event;
use super::hooks::{self, Told};
use super::suppressions::suppress;
use super::{Purpose, Status, query};
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::delivery::tokens::{TokenPurpose, TokenSigner};
use crate::domain::stats::machine::{OpenKind, judge_open};
use crate::domain::stats::{self, Fact, Metric};
use crate::domain::templates::Channel;
use crate::domain::webhooks::event::EventType;
use crate::error::AppResult;
use chrono::{DateTime, Utc};
use entity::{customer, delivery, delivery_event};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use serde_json::json;
use std::time::Duration;

/// Words that, as a whole SMS reply, revoke SMS consent (the carriers' standard set).
const STOP_WORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Words that lift a STOP suppression.
const START_WORDS: &[&str] = &["START", "UNSTOP", "YES"];

/// Records an open from `user_agent`; `false` when the token is not an open token of an
/// existing delivery. An open that looks automatic ([`judge_open`]) is recorded and counted
/// apart (`machineOpened`); a person's first open is the message's unique open.
pub async fn open(
    db: &DatabaseConnection,
    signer: &TokenSigner,
    token: &str,
    user_agent: Option<&str>,
    machine_window: Duration,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let Some(t) = signer
        .verify(token)
        .filter(|t| t.purpose == TokenPurpose::Open)
    else {
        return Ok(false);
    };
    let Some(d) = query::find(db, t.delivery_id).await? else {
        return Ok(false);
    };
    let now_ms = to_millis(now);
    let since_send = d
        .sent_at
        .map(|sent| Duration::from_millis((now_ms - sent).max(0) as u64));
    let txn = begin_write(db).await?;
    let d = lock(&txn, d).await?;
    let mut facts = Vec::new();
    match judge_open(user_agent, since_send, machine_window) {
        OpenKind::Machine(why) => {
            record_event(&txn, d.id, MACHINE_OPENED, now_ms, Some(why.to_owned())).await?;
            facts.push(Fact::of_sent(Metric::MachineOpens, &d, now_ms));
        }
        OpenKind::Human => {
            record_event(&txn, d.id, "opened", now_ms, None).await?;
            facts.push(Fact::of_sent(Metric::Opens, &d, now_ms));
            if d.opened_at.is_none() {
                mark(&txn, d.id, delivery::Column::OpenedAt, now_ms).await?;
                facts.push(Fact::of_sent(Metric::UniqueOpens, &d, now_ms));
            }
            let first = json!({ "first": d.opened_at.is_none() });
            tell_one(&txn, EventType::MessageOpened, &d, now_ms, first).await?;
        }
    }
    note_marketing(&txn, &d, facts).await?;
    txn.commit().await?;
    Ok(true)
}

/// Tells endpoints of one outcome of `d`.
async fn tell_one(
    txn: &impl sea_orm::ConnectionTrait,
    event_type: EventType,
    d: &delivery::Model,
    at_ms: i64,
    extra: serde_json::Value,
) -> AppResult<()> {
    let told = Told {
        event_type,
        delivery: d.clone(),
        at_ms,
        extra,
    };
    hooks::tell(txn, vec![told], at_ms).await
}

/// The delivery event of an open that looks automatic.
pub const MACHINE_OPENED: &str = "machineOpened";

/// Reads the delivery again inside the write transaction, locked for the rest of it on
/// PostgreSQL (SQLite has one writer at a time), so that two hits at once decide "first" once.
async fn lock(
    txn: &impl sea_orm::ConnectionTrait,
    d: delivery::Model,
) -> AppResult<delivery::Model> {
    let mut again = delivery::Entity::find_by_id(d.id);
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        again = again.lock(LockType::Update);
    }
    Ok(again.one(txn).await?.unwrap_or(d))
}

/// Notes `facts` when `d` is a marketing message (staff and test messages are not counted).
async fn note_marketing(
    txn: &impl sea_orm::ConnectionTrait,
    d: &delivery::Model,
    facts: Vec<Fact>,
) -> AppResult<()> {
    if Purpose::from_stored(&d.purpose).is_marketing() {
        stats::note(txn, facts).await?;
    }
    Ok(())
}

/// Records a click and returns where the link goes.
pub async fn click(
    db: &DatabaseConnection,
    signer: &TokenSigner,
    token: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<String>> {
    let Some(t) = signer.verify(token) else {
        return Ok(None);
    };
    let TokenPurpose::Click(index) = t.purpose else {
        return Ok(None);
    };
    let Some(d) = query::find(db, t.delivery_id).await? else {
        return Ok(None);
    };
    let Some(target) = d
        .links
        .as_ref()
        .and_then(|links| links.get(index as usize))
        .and_then(|url| url.as_str())
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let d = lock(&txn, d).await?;
    let link_seen = delivery_event::Entity::find()
        .filter(delivery_event::Column::DeliveryId.eq(d.id))
        .filter(delivery_event::Column::Kind.eq("clicked"))
        .filter(delivery_event::Column::Detail.eq(target.as_str()))
        .count(&txn)
        .await?
        > 0;
    record_event(&txn, d.id, "clicked", now_ms, Some(target.clone())).await?;
    let mut facts = vec![
        Fact::of_sent(Metric::Clicks, &d, now_ms),
        Fact::of_sent(Metric::LinkClicks, &d, now_ms).keyed(target.as_str()),
    ];
    if !link_seen {
        facts.push(Fact::of_sent(Metric::LinkUniqueClicks, &d, now_ms).keyed(target.as_str()));
    }
    if d.clicked_at.is_none() {
        mark(&txn, d.id, delivery::Column::ClickedAt, now_ms).await?;
        facts.push(Fact::of_sent(Metric::UniqueClicks, &d, now_ms));
    }
    // A click proves a person opened the message, even with images blocked.
    if d.opened_at.is_none() {
        mark(&txn, d.id, delivery::Column::OpenedAt, now_ms).await?;
        facts.push(Fact::of_sent(Metric::UniqueOpens, &d, now_ms));
    }
    note_marketing(&txn, &d, facts).await?;
    let extra = json!({ "url": target, "first": d.clicked_at.is_none() });
    tell_one(&txn, EventType::MessageClicked, &d, now_ms, extra).await?;
    txn.commit().await?;
    Ok(Some(target))
}

/// The message as it was sent, for "view in browser": its HTML, or its text.
pub async fn view(
    db: &DatabaseConnection,
    signer: &TokenSigner,
    token: &str,
) -> AppResult<Option<(bool, String)>> {
    let Some(t) = signer
        .verify(token)
        .filter(|t| t.purpose == TokenPurpose::View)
    else {
        return Ok(None);
    };
    let Some(d) = query::find(db, t.delivery_id).await? else {
        return Ok(None);
    };
    Ok(match (d.rendered_html, d.rendered_text) {
        (Some(html), _) => Some((true, html)),
        (None, Some(text)) => Some((false, text)),
        (None, None) => None,
    })
}

/// Whether an unsubscribe token is valid (the page shows its form only then).
pub async fn unsubscribe_target(
    db: &DatabaseConnection,
    signer: &TokenSigner,
    token: &str,
) -> AppResult<Option<delivery::Model>> {
    let Some(t) = signer
        .verify(token)
        .filter(|t| t.purpose == TokenPurpose::Unsubscribe)
    else {
        return Ok(None);
    };
    query::find(db, t.delivery_id).await
}

/// Revokes the recipient's consent on the delivery's channel, suppresses the address and
/// records the unsubscribe; `false` for a bad token. Doing it twice changes nothing more.
pub async fn unsubscribe(
    db: &DatabaseConnection,
    signer: &TokenSigner,
    token: &str,
    source: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let Some(d) = unsubscribe_target(db, signer, token).await? else {
        return Ok(false);
    };
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let d = lock(&txn, d).await?;
    if d.unsubscribed_at.is_none() {
        mark(&txn, d.id, delivery::Column::UnsubscribedAt, now_ms).await?;
        note_marketing(
            &txn,
            &d,
            vec![Fact::of_sent(Metric::Unsubscribed, &d, now_ms)],
        )
        .await?;
        let channel = Channel::from_stored(&d.channel);
        if let Some(customer_id) = d.customer_id {
            revoke_consent(&txn, channel, &[customer_id], source, now_ms).await?;
        }
        if let Some(address) = &d.recipient {
            suppress(&txn, channel, address, "unsubscribed", d.customer_id, now).await?;
        }
        record_event(&txn, d.id, "unsubscribed", now_ms, Some(source.to_owned())).await?;
        let extra = json!({ "source": source });
        tell_one(&txn, EventType::MessageUnsubscribed, &d, now_ms, extra).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Records the SMS provider's report on message `sid`: `delivered`, or `failed` /
/// `undelivered` with the error code. Other statuses (queued, sent …) are noted only.
pub async fn sms_status(
    db: &DatabaseConnection,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let Some(d) = delivery::Entity::find()
        .filter(delivery::Column::ProviderId.eq(sid))
        .filter(delivery::Column::Channel.eq(Channel::Sms.as_str()))
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let now_ms = to_millis(now);
    let detail = error_code.map(|code| format!("error {code}"));
    let txn = begin_write(db).await?;
    let d = lock(&txn, d).await?;
    // Only a message the provider accepted moves on; a repeated report changes nothing more.
    let moves = matches!(
        Status::from_stored(&d.status),
        Status::Sent | Status::Unknown
    );
    let new_status = match status {
        "delivered" if moves => Some(Status::Delivered),
        "failed" | "undelivered" if moves => Some(Status::Failed),
        _ => None,
    };
    if let Some(new_status) = new_status {
        let update = delivery::Entity::update_many()
            .filter(delivery::Column::Id.eq(d.id))
            .col_expr(delivery::Column::Status, Expr::value(new_status.as_str()))
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now_ms));
        let update = if new_status == Status::Failed {
            update.col_expr(
                delivery::Column::Reason,
                Expr::value(format!(
                    "the provider reported {status}{}",
                    detail
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )),
            )
        } else {
            update
        };
        let (column, metric) = match new_status {
            Status::Delivered => (delivery::Column::DeliveredAt, Metric::Delivered),
            _ => (delivery::Column::BouncedAt, Metric::Bounced),
        };
        let told = match new_status {
            Status::Delivered => vec![(EventType::MessageDelivered, json!({}))],
            _ => {
                let reason = json!({ "reason": format!("the provider reported {status}") });
                vec![
                    (EventType::MessageFailed, reason.clone()),
                    (EventType::MessageBounced, reason),
                ]
            }
        };
        for (event_type, extra) in told {
            tell_one(&txn, event_type, &d, now_ms, extra).await?;
        }
        update
            .col_expr(column, Expr::value(now_ms))
            .exec(&txn)
            .await?;
        note_marketing(&txn, &d, vec![Fact::of_sent(metric, &d, now_ms)]).await?;
    }
    record_event(&txn, d.id, status, now_ms, detail).await?;
    txn.commit().await?;
    Ok(true)
}

/// What an inbound SMS did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    Stopped,
    Restarted,
    Ignored,
}

/// Handles an inbound SMS from `from`: a STOP word revokes SMS consent of every customer
/// with that number and suppresses it; START lifts the STOP suppression (consent stays off
/// until the customer gives it again).
pub async fn sms_inbound(
    db: &DatabaseConnection,
    from: &str,
    body: &str,
    now: DateTime<Utc>,
) -> AppResult<Inbound> {
    let word = body.trim().to_ascii_uppercase();
    let Ok(number) = super::suppressions::normalise(Channel::Sms, from) else {
        return Ok(Inbound::Ignored);
    };
    if STOP_WORDS.contains(&word.as_str()) {
        let txn = begin_write(db).await?;
        let ids: Vec<i64> = customer::Entity::find()
            .filter(customer::Column::Phone.eq(number.as_str()))
            .all(&txn)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        revoke_consent(&txn, Channel::Sms, &ids, "sms STOP", to_millis(now)).await?;
        suppress(
            &txn,
            Channel::Sms,
            &number,
            "stop",
            ids.first().copied(),
            now,
        )
        .await?;
        txn.commit().await?;
        return Ok(Inbound::Stopped);
    }
    if START_WORDS.contains(&word.as_str()) {
        entity::suppression::Entity::delete_many()
            .filter(entity::suppression::Column::Channel.eq(Channel::Sms.as_str()))
            .filter(entity::suppression::Column::Address.eq(number.as_str()))
            .filter(entity::suppression::Column::Reason.eq("stop"))
            .exec(db)
            .await?;
        return Ok(Inbound::Restarted);
    }
    Ok(Inbound::Ignored)
}

async fn revoke_consent(
    db: &impl sea_orm::ConnectionTrait,
    channel: Channel,
    customer_ids: &[i64],
    source: &str,
    now_ms: i64,
) -> AppResult<()> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let (flag, at, from) = match channel {
        Channel::Sms => (
            customer::Column::SmsConsent,
            customer::Column::SmsConsentAt,
            customer::Column::SmsConsentSource,
        ),
        Channel::Email => (
            customer::Column::EmailConsent,
            customer::Column::EmailConsentAt,
            customer::Column::EmailConsentSource,
        ),
    };
    customer::Entity::update_many()
        .filter(customer::Column::Id.is_in(customer_ids.iter().copied()))
        .col_expr(flag, Expr::value(false))
        .col_expr(at, Expr::value(now_ms))
        .col_expr(from, Expr::value(source))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now_ms))
        .exec(db)
        .await?;
    Ok(())
}

async fn mark(
    db: &impl sea_orm::ConnectionTrait,
    id: i64,
    column: delivery::Column,
    at_ms: i64,
) -> AppResult<()> {
    delivery::Entity::update_many()
        .filter(delivery::Column::Id.eq(id))
        .filter(column.is_null())
        .col_expr(column, Expr::value(at_ms))
        .exec(db)
        .await?;
    Ok(())
}
