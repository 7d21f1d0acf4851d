//! Recording how attempts went, in one transaction per group of finished sends: the attempt
//! (time, status, latency, the first KiB of the answer or the error), the message's new state,
//! and the endpoint's health.
//!
//! 2xx succeeds. `410 Gone` fails the message and disables the endpoint at once. Anything else
//! (another status, a redirect — never followed —, a timeout, a refused connection or address)
//! waits for the next try on the retry schedule, and fails when the schedule is used up. An
//! endpoint that has failed without a success for the configured time (5 days by default) is
//! disabled and the shop's staff are emailed. A result is recorded only while this process
//! still holds the message's lease ([`lease::fence`]).

use super::claim::Claimed;
use crate::config::WebhookSettings;
use crate::db::begin_write;
use crate::delivery::webhook::Posted;
use crate::domain::deliveries::outbox::{NewDelivery, enqueue};
use crate::domain::lease;
use crate::domain::message::Purpose;
use crate::domain::templates::Channel;
use crate::domain::webhooks::endpoints::disable;
use crate::domain::webhooks::outbox::Status;
use crate::error::AppResult;
use entity::{webhook_attempt, webhook_endpoint, webhook_message};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use std::collections::BTreeMap;

/// One attempt that has finished.
pub struct Finished {
    pub claimed: Claimed,
    pub started_ms: i64,
    pub finished_ms: i64,
    pub posted: Posted,
}

/// What recording needs to know besides the outcomes.
pub struct Recorder<'a> {
    pub db: &'a DatabaseConnection,
    pub owner: &'a str,
    pub settings: &'a WebhookSettings,
    pub staff_email: Option<&'a str>,
}

/// How an endpoint fared in one group.
#[derive(Default)]
struct Health {
    succeeded_at: Option<i64>,
    failed_since: Option<i64>,
    gone_at: Option<i64>,
}

impl Recorder<'_> {
    pub async fn record(&self, finished: Vec<Finished>) -> AppResult<()> {
        let txn = begin_write(self.db).await?;
        let mut attempts = Vec::with_capacity(finished.len());
        let mut health: BTreeMap<i64, Health> = BTreeMap::new();
        for f in &finished {
            let m = &f.claimed.message;
            let now_ms = f.finished_ms;
            let answer = summary(&f.posted);
            let gone = f.posted.status == Some(410);
            let (status, due_at, reason) = if f.posted.succeeded() {
                (Status::Succeeded, now_ms, None)
            } else if gone {
                (
                    Status::Failed,
                    now_ms,
                    Some("the endpoint answered 410 Gone, and was disabled".to_owned()),
                )
            } else {
                match self.settings.retry.next_delay(m.attempts) {
                    Some(wait) => (
                        Status::Queued,
                        now_ms + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
                        Some(format!("attempt {} failed: {answer}", m.attempts)),
                    ),
                    None => (
                        Status::Failed,
                        now_ms,
                        Some(format!("gave up after {} attempts: {answer}", m.attempts)),
                    ),
                }
            };
            let fenced = lease::fence::<webhook_message::Entity>(m.id, self.owner, m.attempts);
            let mut update = lease::release(fenced, status.as_str(), now_ms)
                .col_expr(webhook_message::Column::DueAt, Expr::value(due_at))
                .col_expr(webhook_message::Column::Reason, Expr::value(reason));
            if f.claimed.new_body {
                update = update.col_expr(
                    webhook_message::Column::Payload,
                    Expr::value(f.claimed.body.clone()),
                );
            }
            if update.exec(&txn).await?.rows_affected == 0 {
                if webhook_message::Entity::find_by_id(m.id)
                    .one(&txn)
                    .await?
                    .is_none()
                {
                    // Deleted with its endpoint (or its customer) while in flight.
                    continue;
                }
                tracing::warn!(
                    webhook.message = m.id,
                    "the lease was lost before the outcome was recorded"
                );
            }
            let fared = health.entry(m.endpoint_id).or_default();
            if f.posted.succeeded() {
                fared.succeeded_at = fared.succeeded_at.max(Some(now_ms));
            } else {
                fared.failed_since = Some(
                    fared
                        .failed_since
                        .map_or(f.started_ms, |t| t.min(f.started_ms)),
                );
            }
            if gone {
                fared.gone_at = Some(now_ms);
            }
            attempts.push(webhook_attempt::ActiveModel {
                id: ActiveValue::NotSet,
                message_id: ActiveValue::Set(m.id),
                attempt: ActiveValue::Set(m.attempts),
                started_at: ActiveValue::Set(f.started_ms),
                latency_ms: ActiveValue::Set(
                    i64::try_from(f.posted.latency.as_millis()).unwrap_or(i64::MAX),
                ),
                status_code: ActiveValue::Set(f.posted.status.map(i32::from)),
                response: ActiveValue::Set(f.posted.answer.clone()),
                error: ActiveValue::Set(f.posted.error.clone()),
            });
        }
        for chunk in attempts.chunks(200) {
            webhook_attempt::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        let now_ms = finished.iter().map(|f| f.finished_ms).max().unwrap_or(0);
        for (endpoint_id, fared) in health {
            self.note_health(&txn, endpoint_id, fared, now_ms).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    async fn note_health(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        endpoint_id: i64,
        fared: Health,
        now_ms: i64,
    ) -> AppResult<()> {
        let this = webhook_endpoint::Entity::update_many()
            .filter(webhook_endpoint::Column::Id.eq(endpoint_id));
        if let Some(at) = fared.succeeded_at {
            this.col_expr(webhook_endpoint::Column::LastSuccessAt, Expr::value(at))
                .col_expr(
                    webhook_endpoint::Column::FailingSince,
                    Expr::value(Option::<i64>::None),
                )
                .exec(txn)
                .await?;
        } else if let Some(since) = fared.failed_since {
            this.filter(webhook_endpoint::Column::FailingSince.is_null())
                .col_expr(webhook_endpoint::Column::FailingSince, Expr::value(since))
                .exec(txn)
                .await?;
        }
        if fared.gone_at.is_some() {
            disable(txn, endpoint_id, "the endpoint answered 410 Gone", now_ms).await?;
            return Ok(());
        }
        if fared.succeeded_at.is_some() {
            return Ok(());
        }
        let limit = i64::try_from(self.settings.disable_after.as_millis()).unwrap_or(i64::MAX);
        let Some(endpoint) = webhook_endpoint::Entity::find_by_id(endpoint_id)
            .one(txn)
            .await?
        else {
            return Ok(());
        };
        let Some(since) = endpoint.failing_since else {
            return Ok(());
        };
        if endpoint.disabled_at.is_some() || now_ms.saturating_sub(since) < limit {
            return Ok(());
        }
        let hours = self.settings.disable_after.as_secs() / 3600;
        let reason = format!("failing without a success for {hours} h");
        if !disable(txn, endpoint_id, &reason, now_ms).await? {
            return Ok(());
        }
        tracing::warn!(
            webhook.endpoint = endpoint_id,
            "a failing webhook endpoint was disabled"
        );
        let Some(staff) = self.staff_email else {
            tracing::warn!(
                webhook.endpoint = endpoint_id,
                "no staff email to tell (NUDGE_STAFF_EMAIL is not set)"
            );
            return Ok(());
        };
        let since = crate::clock::from_millis(since).format("%Y-%m-%d %H:%M UTC");
        let new = NewDelivery {
            dedupe_key: format!("webhook-disabled:{endpoint_id}:{now_ms}"),
            channel: Channel::Email,
            purpose: Purpose::Staff,
            customer_id: None,
            recipient: Some(staff.to_owned()),
            subject: Some(format!("Nudge disabled webhook endpoint {endpoint_id}")),
            body_html: None,
            body_text: Some(format!(
                "Webhook endpoint {endpoint_id} has failed every attempt since {since} \
                 ({hours} h without a success), so Nudge disabled it and holds its messages.\n\n\
                 Its latest attempts, with the answers it gave, are on `webhookEndpoint(id: \
                 \"{endpoint_id}\")` over GraphQL. When it works again, enable it \
                 (`updateWebhookEndpoint` with `enabled: true`) and re-send what failed \
                 (`replayWebhooks`)."
            )),
            action_id: None,
            firing_id: None,
            campaign_id: None,
            run_id: None,
            step_id: None,
            template_id: None,
        };
        enqueue(txn, new, now_ms).await?;
        Ok(())
    }
}

/// The answer, or why there was none, in a few words.
fn summary(posted: &Posted) -> String {
    match (posted.status, &posted.error) {
        (_, Some(error)) => error.clone(),
        (Some(status), None) => format!("the endpoint answered {status}"),
        (None, None) => "no answer".to_owned(),
    }
}
