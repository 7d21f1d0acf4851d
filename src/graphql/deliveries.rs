//! The outbox on the API: deliveries with their attempts and tracking events, test messages
//! and the suppression list.

use super::auth::Require;
use super::channel::Channel;
use super::connection::{connection, page_request};
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::scalars::{id_arg, opt_id_arg};
use crate::clock::from_millis;
use crate::domain::deliveries::query::{self, DeliveryFilter as DomainFilter};
use crate::domain::deliveries::{Status, suppressions, test_message};
use crate::domain::templates::Channel as DomainChannel;
use crate::graphql::loaders::{Loaders, rows_of};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{delivery, suppression};

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its time (also between retries).
    Queued,
    /// Claimed by a dispatcher, being sent.
    Sending,
    /// Accepted by the SMTP server or the SMS provider.
    Sent,
    /// The SMS provider reported it delivered.
    Delivered,
    /// Refused for good, out of attempts, or reported failed by the provider.
    Failed,
    /// Not sent: no address, no consent, suppressed or over the frequency cap.
    Skipped,
    /// The provider may have it (no answer in time); never re-sent automatically.
    Unknown,
}

impl From<DeliveryStatus> for Status {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Queued => Status::Queued,
            DeliveryStatus::Sending => Status::Sending,
            DeliveryStatus::Sent => Status::Sent,
            DeliveryStatus::Delivered => Status::Delivered,
            DeliveryStatus::Failed => Status::Failed,
            DeliveryStatus::Skipped => Status::Skipped,
            DeliveryStatus::Unknown => Status::Unknown,
        }
    }
}

impl From<Status> for DeliveryStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Queued => DeliveryStatus::Queued,
            Status::Sending => DeliveryStatus::Sending,
            Status::Sent => DeliveryStatus::Sent,
            Status::Delivered => DeliveryStatus::Delivered,
            Status::Failed => DeliveryStatus::Failed,
            Status::Skipped => DeliveryStatus::Skipped,
            Status::Unknown => DeliveryStatus::Unknown,
        }
    }
}

fn channel_of(stored: &str) -> Channel {
    DomainChannel::from_stored(stored).into()
}

/// Which deliveries to list; every given field must match.
#[derive(InputObject, Default)]
pub struct DeliveryFilter {
    pub customer_id: Option<ID>,
    pub campaign_id: Option<ID>,
    /// The customer action whose effect queued it.
    pub action_id: Option<ID>,
    pub status: Option<DeliveryStatus>,
    pub channel: Option<Channel>,
}

/// One message to one recipient on one channel.
pub struct Delivery(pub delivery::Model);

#[Object]
impl Delivery {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn channel(&self) -> Channel {
        channel_of(&self.0.channel)
    }
    /// marketing, staff or test. Only marketing needs consent and obeys quiet hours and caps.
    async fn purpose(&self) -> &str {
        &self.0.purpose
    }
    async fn status(&self) -> DeliveryStatus {
        Status::from_stored(&self.0.status).into()
    }
    /// Why it was skipped, failed, deferred or is waiting to be retried.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(|id| ID(id.to_string()))
    }
    async fn campaign_id(&self) -> Option<ID> {
        self.0.campaign_id.map(|id| ID(id.to_string()))
    }
    async fn run_id(&self) -> Option<ID> {
        self.0.run_id.map(|id| ID(id.to_string()))
    }
    async fn action_id(&self) -> Option<ID> {
        self.0.action_id.map(|id| ID(id.to_string()))
    }
    async fn template_id(&self) -> Option<ID> {
        self.0.template_id.map(|id| ID(id.to_string()))
    }
    /// The address it went to, once claimed for sending.
    async fn recipient(&self) -> Option<&str> {
        self.0.recipient.as_deref()
    }
    /// The template variant it was rendered in (`null`: the template's own text).
    async fn locale(&self) -> Option<&str> {
        self.0.locale.as_deref()
    }
    /// The rendered message as sent (tracking links included).
    async fn subject(&self) -> Option<&str> {
        self.0.rendered_subject.as_deref()
    }
    async fn body_html(&self) -> Option<&str> {
        self.0.rendered_html.as_deref()
    }
    async fn body_text(&self) -> Option<&str> {
        self.0.rendered_text.as_deref()
    }
    /// The provider's message id (the Message-ID of an email, the SID of an SMS).
    async fn provider_id(&self) -> Option<&str> {
        self.0.provider_id.as_deref()
    }
    async fn attempt_count(&self) -> i32 {
        self.0.attempts
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.created_at)
    }
    /// When it is (or was) due; while sending, when the lease ends.
    async fn due_at(&self) -> DateTime<Utc> {
        from_millis(self.0.due_at)
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        let sent = matches!(
            Status::from_stored(&self.0.status),
            Status::Sent | Status::Delivered | Status::Unknown
        );
        self.0.sent_at.filter(|_| sent).map(from_millis)
    }
    async fn opened_at(&self) -> Option<DateTime<Utc>> {
        self.0.opened_at.map(from_millis)
    }
    async fn clicked_at(&self) -> Option<DateTime<Utc>> {
        self.0.clicked_at.map(from_millis)
    }
    /// Every try at sending it, first first.
    async fn attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DeliveryAttempt>> {
        let loaders = ctx.data::<Loaders>()?;
        let rows = rows_of(&loaders.delivery_attempts, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|a| DeliveryAttempt {
                attempt: a.attempt,
                started_at: from_millis(a.started_at),
                finished_at: from_millis(a.finished_at),
                outcome: a.outcome,
                detail: a.detail,
                provider_id: a.provider_id,
            })
            .collect())
    }
    /// Opens, clicks, unsubscribes, the provider's reports and deferrals, oldest first.
    async fn tracking_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<DeliveryTrackingEvent>> {
        let loaders = ctx.data::<Loaders>()?;
        let rows = rows_of(&loaders.delivery_events, self.0.id).await?;
        Ok(rows
            .into_iter()
            .map(|e| DeliveryTrackingEvent {
                kind: e.kind,
                at: from_millis(e.at),
                detail: e.detail,
            })
            .collect())
    }
}

/// One try at sending.
#[derive(SimpleObject)]
pub struct DeliveryAttempt {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// sent, transient (retried later), permanent or unknown.
    pub outcome: String,
    pub detail: Option<String>,
    pub provider_id: Option<String>,
}

/// Something that happened to a delivery: opened, clicked (detail: the URL), unsubscribed,
/// deferred (quiet hours), or a status the SMS provider reported (delivered, failed …).
#[derive(SimpleObject)]
pub struct DeliveryTrackingEvent {
    pub kind: String,
    pub at: DateTime<Utc>,
    pub detail: Option<String>,
}

/// An address no message goes to on a channel.
pub struct Suppression(pub suppression::Model);

#[Object]
impl Suppression {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn channel(&self) -> Channel {
        channel_of(&self.0.channel)
    }
    async fn address(&self) -> &str {
        &self.0.address
    }
    /// unsubscribed, stop, bounced or manual.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn customer_id(&self) -> Option<ID> {
        self.0.customer_id.map(|id| ID(id.to_string()))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.created_at)
    }
}

payload!(
    /// The result of `sendTestMessage`: the queued delivery.
    SendTestMessagePayload, delivery: Delivery
);
payload!(
    /// The result of adding an address to the suppression list.
    SuppressionPayload, suppression: Suppression
);
payload!(
    /// The result of lifting a suppression: the id it had.
    RemoveSuppressionPayload, removed_suppression_id: ID
);

/// How many messages of one status and channel the outbox holds.
#[derive(SimpleObject)]
pub struct OutboxCount {
    status: DeliveryStatus,
    channel: Channel,
    count: i64,
}

#[derive(Default)]
pub struct DeliveryQuery;

#[Object]
impl DeliveryQuery {
    /// Deliveries, oldest first, by filter.
    #[graphql(
        guard = "Require::ADMIN",
        complexity = "super::connection::cost(first, last, child_complexity)"
    )]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<DeliveryFilter>,
    ) -> async_graphql::Result<Connection<String, Delivery>> {
        let state = state(ctx)?;
        let page = page_request(first, after, last, before)?;
        let filter = filter.unwrap_or_default();
        let domain = DomainFilter {
            customer_id: opt_id_arg("filter.customerId", filter.customer_id)?,
            campaign_id: opt_id_arg("filter.campaignId", filter.campaign_id)?,
            action_id: opt_id_arg("filter.actionId", filter.action_id)?,
            status: filter.status.map(Into::into),
            channel: filter.channel.map(DomainChannel::from),
        };
        let rows = query::list(&state.db, &domain, page)
            .await
            .map_err(to_graphql)?;
        Ok(connection(rows, |d| d.id, Delivery))
    }

    #[graphql(guard = "Require::ADMIN")]
    async fn delivery(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Delivery>> {
        let state = state(ctx)?;
        let found = query::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Delivery))
    }

    /// How many messages the outbox holds now, by status and channel (zeros included): the
    /// figures of the metric `nudge_outbox_messages`.
    #[graphql(guard = "Require::ADMIN")]
    async fn outbox(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OutboxCount>> {
        let state = state(ctx)?;
        let rows = query::outbox_depth(&state.db).await.map_err(to_graphql)?;
        Ok(rows
            .into_iter()
            .map(|(status, channel, count)| OutboxCount {
                status: status.into(),
                channel: channel.into(),
                count,
            })
            .collect())
    }

    /// The suppression list, oldest first, optionally of one channel.
    #[graphql(
        guard = "Require::ADMIN",
        complexity = "super::connection::cost(first, last, child_complexity)"
    )]
    async fn suppressions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        channel: Option<Channel>,
    ) -> async_graphql::Result<Connection<String, Suppression>> {
        let state = state(ctx)?;
        let page = page_request(first, after, last, before)?;
        let rows = suppressions::list(&state.db, channel.map(DomainChannel::from), page)
            .await
            .map_err(to_graphql)?;
        Ok(connection(rows, |s| s.id, Suppression))
    }
}

#[derive(Default)]
pub struct DeliveryMutation;

#[Object(guard = "Require::ADMIN")]
impl DeliveryMutation {
    /// Sends a template to `to` (an email address or an E.164 number, by the template's
    /// channel) now, rendered for `customerId` or with sample data. Test messages skip
    /// consent, quiet hours and caps, not the suppression list.
    async fn send_test_message(
        &self,
        ctx: &Context<'_>,
        template_id: ID,
        to: String,
        customer_id: Option<ID>,
    ) -> async_graphql::Result<SendTestMessagePayload> {
        let state = state(ctx)?;
        let result = test_message::queue_test(
            &state.db,
            id_arg("templateId", &template_id)?,
            &to,
            opt_id_arg("customerId", customer_id)?,
            state.clock.now(),
        )
        .await;
        if result.is_ok() {
            state.senders.wake.notify_one();
        }
        respond(result.map(Delivery), "")
    }

    /// Adds an address to the suppression list.
    async fn add_suppression(
        &self,
        ctx: &Context<'_>,
        channel: Channel,
        address: String,
    ) -> async_graphql::Result<SuppressionPayload> {
        let state = state(ctx)?;
        let result =
            suppressions::add(&state.db, channel.into(), &address, state.clock.now()).await;
        respond(result.map(Suppression), "")
    }

    /// Lifts a suppression; the customer's consent stays as it is.
    async fn remove_suppression(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<RemoveSuppressionPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(
            suppressions::remove(&state.db, row_id).await.map(|()| id),
            "",
        )
    }
}
