//! Webhook messages on the API: each with its attempts, re-sending what failed
//! (`replayWebhooks`) and a test ping (`sendTestWebhook`).

use super::auth::{Require, webhook_access as access};
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::scalars::id_arg;
use crate::clock::from_millis;
use crate::domain::webhooks::messages;
use crate::domain::webhooks::outbox::{Status, message_id};
use crate::graphql::loaders::{Loaders, rows_of};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::webhook_message;

/// Where a webhook message stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookMessageStatus {
    /// Waiting for its time: new, between retries, behind an earlier message about the same
    /// customer, or held while its endpoint is disabled.
    Queued,
    /// Being sent.
    Sending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Given up (out of attempts, `410 Gone`, or what it was about was erased); `reason` says.
    Failed,
}

impl From<WebhookMessageStatus> for Status {
    fn from(s: WebhookMessageStatus) -> Self {
        match s {
            WebhookMessageStatus::Queued => Status::Queued,
            WebhookMessageStatus::Sending => Status::Sending,
            WebhookMessageStatus::Succeeded => Status::Succeeded,
            WebhookMessageStatus::Failed => Status::Failed,
        }
    }
}

impl From<Status> for WebhookMessageStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Queued => WebhookMessageStatus::Queued,
            Status::Sending => WebhookMessageStatus::Sending,
            Status::Succeeded => WebhookMessageStatus::Succeeded,
            Status::Failed => WebhookMessageStatus::Failed,
        }
    }
}

/// One event for one endpoint.
pub struct WebhookMessage(pub webhook_message::Model);

#[Object]
impl WebhookMessage {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The `webhook-id` header: the same on every attempt and replay.
    async fn webhook_id(&self) -> String {
        message_id(&self.0)
    }
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.to_string())
    }
    /// The envelope's `type`, such as `tag.set`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(|id| ID(id.to_string()))
    }
    async fn status(&self) -> async_graphql::Result<WebhookMessageStatus> {
        let status = Status::from_stored(&self.0.status).ok_or_else(|| {
            to_graphql(crate::error::AppError::internal(format!(
                "webhook message {} has an unknown status {:?}",
                self.0.id, self.0.status
            )))
        })?;
        Ok(status.into())
    }
    /// Why its last attempt failed, or why it was given up.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// The body sent (`null` for a membership change not yet sent: it is made from the change
    /// log at the first attempt).
    async fn body(&self) -> Option<&str> {
        self.0.payload.as_deref()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        from_millis(self.0.occurred_at)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.created_at)
    }
    /// When the next attempt is due, while it is queued.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == Status::Queued.as_str()).then(|| from_millis(self.0.due_at))
    }
    /// Attempts begun since it was written or last replayed.
    async fn attempt_count(&self) -> i32 {
        self.0.attempts
    }
    /// Every attempt, oldest first.
    async fn attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebhookAttempt>> {
        let loaders = ctx.data::<Loaders>()?;
        let rows = rows_of(&loaders.webhook_attempts, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|a| WebhookAttempt {
                attempt: a.attempt,
                at: from_millis(a.started_at),
                latency_ms: a.latency_ms,
                status_code: a.status_code,
                response: a.response,
                error: a.error,
            })
            .collect())
    }
}

/// One try at sending a webhook message.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    /// 1 for the first try (counting again after a replay).
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// From the request's start to the answer's end, in milliseconds.
    pub latency_ms: i64,
    /// The endpoint's answer (`null`: none came).
    pub status_code: Option<i32>,
    /// The first KiB of the answer's body.
    pub response: Option<String>,
    /// Why no answer came: a timeout, a refused connection, an address that is not public.
    pub error: Option<String>,
}

payload!(
    /// The result of `replayWebhooks`: how many messages were queued again.
    ReplayWebhooksPayload, queued: i32
);
payload!(
    /// The result of `sendTestWebhook`: the ping, queued.
    SendTestWebhookPayload, message: WebhookMessage
);

#[derive(Default)]
pub struct WebhookMessageMutation;

#[Object(guard = "Require::READ")]
impl WebhookMessageMutation {
    /// Queues again the endpoint's messages written since `since` that failed — or, with
    /// `everything: true`, that failed or succeeded — due now, with the same `webhook-id`
    /// (receivers deduplicate by it) and a fresh retry schedule. A disabled endpoint gets them
    /// once enabled.
    async fn replay_webhooks(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        since: DateTime<Utc>,
        #[graphql(default = false)] everything: bool,
    ) -> async_graphql::Result<ReplayWebhooksPayload> {
        let state = state(ctx)?;
        let id = id_arg("endpointId", &endpoint_id)?;
        let result = messages::replay(
            &state.db,
            state.clock.now(),
            id,
            access(ctx),
            since,
            everything,
        )
        .await;
        state.webhook_wake.notify_one();
        respond(result.map(|n| i32::try_from(n).unwrap_or(i32::MAX)), "")
    }

    /// Sends the endpoint a `webhook.test` ping — enabled or not — signed like every message.
    /// Watch its status and attempts on the message returned.
    async fn send_test_webhook(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
    ) -> async_graphql::Result<SendTestWebhookPayload> {
        let state = state(ctx)?;
        let id = id_arg("endpointId", &endpoint_id)?;
        let result = messages::send_test(&state.db, state.clock.now(), id, access(ctx)).await;
        state.webhook_wake.notify_one();
        respond(result.map(WebhookMessage), "")
    }
}

#[derive(Default)]
pub struct WebhookMessageQuery;

#[Object]
impl WebhookMessageQuery {
    #[graphql(guard = "Require::READ")]
    async fn webhook_message(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<WebhookMessage>> {
        let state = state(ctx)?;
        let found = messages::find(&state.db, id_arg("id", &id)?, access(ctx))
            .await
            .map_err(to_graphql)?;
        Ok(found.map(WebhookMessage))
    }
}
