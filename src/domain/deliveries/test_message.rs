//! `sendTestMessage`: one template sent to an address the admin gives, rendered for a chosen
//! customer or with sample data. It goes through the outbox like any delivery, exempt from
//! consent, quiet hours and caps, but not from the suppression list.

use super::suppressions::normalise;
use super::{Purpose, Status};
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::validate::Checker;
use crate::domain::{customers, templates};
use crate::error::{AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::delivery;
use sea_orm::{ActiveModelTrait, ActiveValue, DatabaseConnection};

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
    let channel = template.as_ref().map_or("email", |t| t.channel.as_str());
    let address = checker.check("to", normalise(channel, to));
    checker.finish()?;
    let (Some(template), Some(address)) = (template, address) else {
        return Err(crate::error::AppError::internal(
            "a checked input went missing",
        ));
    };
    let now_ms = to_millis(now);
    let saved = delivery::ActiveModel {
        id: ActiveValue::NotSet,
        dedupe_key: ActiveValue::Set(format!("test:{now_ms}:{:016x}", rand::random::<u64>())),
        channel: ActiveValue::Set(template.channel.clone()),
        purpose: ActiveValue::Set(Purpose::Test.as_str().to_owned()),
        customer_id: ActiveValue::Set(customer_id),
        recipient: ActiveValue::Set(Some(address)),
        subject: ActiveValue::Set(template.subject.clone()),
        body_html: ActiveValue::Set(template.body_html.clone()),
        body_text: ActiveValue::Set(template.body_text.clone()),
        status: ActiveValue::Set(Status::Queued.as_str().to_owned()),
        created_at: ActiveValue::Set(now_ms),
        due_at: ActiveValue::Set(now_ms),
        template_id: ActiveValue::Set(Some(template.id)),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(saved)
}
