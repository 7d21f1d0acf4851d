//! `sendTestMessage`: one template sent to an address the admin gives, rendered for a chosen
//! customer or with sample data. It goes through the outbox like any delivery, exempt from
//! consent, quiet hours and caps, but not from the suppression list.

use super::Purpose;
use super::outbox::{NewDelivery, enqueue};
use super::suppressions::normalise;
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::templates::Channel;
use crate::domain::validate::Checker;
use crate::domain::{customers, templates};
use crate::error::{AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::delivery;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

/// Queues a test message of template `template_id` to `to` (an email address or an E.164
/// number, as the template's channel needs), due now.
pub async fn queue_test(
    db: &DatabaseConnection,
    template_id: i64,
    to: &str,
    customer_id: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<delivery::Model> {
    let txn = begin_write(db).await?;
    let mut checker = Checker::new();
    let template = templates::find(&txn, template_id).await?;
    if template.is_none() {
        checker.refuse("templateId", ViolationCode::NotFound, "no such template");
    }
    if let Some(id) = customer_id
        && customers::find(&txn, id).await?.is_none()
    {
        checker.refuse("customerId", ViolationCode::NotFound, "no such customer");
    }
    let channel = template
        .as_ref()
        .map_or(Channel::Email, |t| Channel::from_stored(&t.channel));
    let address = checker.check("to", normalise(channel, to));
    checker.finish()?;
    let (Some(template), Some(address)) = (template, address) else {
        return Err(crate::error::AppError::internal(
            "a checked input went missing",
        ));
    };
    let now_ms = to_millis(now);
    let key = format!("test:{now_ms}:{:016x}", rand::random::<u64>());
    let new = NewDelivery {
        dedupe_key: key.clone(),
        channel,
        purpose: Purpose::Test,
        customer_id,
        recipient: Some(address),
        subject: template.subject.clone(),
        body_html: template.body_html.clone(),
        body_text: template.body_text.clone(),
        action_id: None,
        firing_id: None,
        campaign_id: None,
        run_id: None,
        step_id: None,
        template_id: Some(template.id),
    };
    enqueue(&txn, new, now_ms).await?;
    let saved = delivery::Entity::find()
        .filter(delivery::Column::DedupeKey.eq(key))
        .one(&txn)
        .await?
        .ok_or_else(|| crate::error::AppError::internal("a queued test message vanished"))?;
    txn.commit().await?;
    Ok(saved)
}
