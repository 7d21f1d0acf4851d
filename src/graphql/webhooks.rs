//! Webhook endpoints on the API: CRUD, secret rotation, and the event types they may want.
//! Admin keys manage every endpoint; an integrator key manages the endpoints it created.

use super::auth::{Require, webhook_access as access};
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::scalars::{id_arg, to_change};
use super::webhook_messages::{WebhookMessage, WebhookMessageStatus};
use crate::clock::from_millis;
use crate::domain::webhooks::endpoints::{self, Endpoint, EndpointInput as DomainInput, UrlPolicy};
use crate::domain::webhooks::event::EventType;
use crate::domain::webhooks::messages;
use crate::error::{AppError, FieldViolation, ViolationCode};
use crate::state::AppState;
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Utc};

/// What a webhook message can be about (the envelope's `type` in brackets).
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookEventType {
    /// `role.assigned`
    RoleAssigned,
    /// `role.removed`
    RoleRemoved,
    /// `tag.set`: added, or its value changed.
    TagSet,
    /// `tag.removed`
    TagRemoved,
    /// `segment.joined`
    SegmentJoined,
    /// `segment.left`
    SegmentLeft,
    /// `message.sent`: the SMTP server or SMS provider accepted a message to a customer.
    MessageSent,
    /// `message.delivered`: the SMS provider confirmed it.
    MessageDelivered,
    /// `message.failed`
    MessageFailed,
    /// `message.bounced`
    MessageBounced,
    /// `message.opened` (a person's open: machine opens do not count).
    MessageOpened,
    /// `message.clicked`
    MessageClicked,
    /// `message.unsubscribed`
    MessageUnsubscribed,
    /// `campaign_run.converted`
    RunConverted,
    /// `customer.called`: a `callWebhook` effect of a customer action or a campaign step.
    Called,
    /// `predicted_cart.confirmed`: the customer confirmed a predicted cart (create the order).
    PredictedCartConfirmed,
    /// `predicted_cart.postponed`: the customer postponed one (its lines, for a wishlist).
    PredictedCartPostponed,
    /// `predicted_cart.declined`: the customer has enough.
    PredictedCartDeclined,
}

const PAIRS: [(WebhookEventType, EventType); 18] = [
    (WebhookEventType::RoleAssigned, EventType::RoleAssigned),
    (WebhookEventType::RoleRemoved, EventType::RoleRemoved),
    (WebhookEventType::TagSet, EventType::TagSet),
    (WebhookEventType::TagRemoved, EventType::TagRemoved),
    (WebhookEventType::SegmentJoined, EventType::SegmentJoined),
    (WebhookEventType::SegmentLeft, EventType::SegmentLeft),
    (WebhookEventType::MessageSent, EventType::MessageSent),
    (
        WebhookEventType::MessageDelivered,
        EventType::MessageDelivered,
    ),
    (WebhookEventType::MessageFailed, EventType::MessageFailed),
    (WebhookEventType::MessageBounced, EventType::MessageBounced),
    (WebhookEventType::MessageOpened, EventType::MessageOpened),
    (WebhookEventType::MessageClicked, EventType::MessageClicked),
    (
        WebhookEventType::MessageUnsubscribed,
        EventType::MessageUnsubscribed,
    ),
    (WebhookEventType::RunConverted, EventType::RunConverted),
    (WebhookEventType::Called, EventType::Call),
    (
        WebhookEventType::PredictedCartConfirmed,
        EventType::CartConfirmed,
    ),
    (
        WebhookEventType::PredictedCartPostponed,
        EventType::CartPostponed,
    ),
    (
        WebhookEventType::PredictedCartDeclined,
        EventType::CartDeclined,
    ),
];

impl From<WebhookEventType> for EventType {
    fn from(t: WebhookEventType) -> Self {
        PAIRS
            .iter()
            .find(|(api, _)| *api == t)
            .map_or(EventType::Test, |(_, domain)| *domain)
    }
}

fn api_type(t: EventType) -> Option<WebhookEventType> {
    PAIRS
        .iter()
        .find(|(_, domain)| *domain == t)
        .map(|(api, _)| *api)
}

fn url_policy(state: &AppState) -> UrlPolicy {
    UrlPolicy {
        allow_http: state.settings.webhooks.allow_http,
        allow_private: state.settings.webhooks.allow_private,
    }
}

/// Where an integrator wants Nudge to call, what about, and whether it is enabled. Every
/// message is signed as the Standard Webhooks specification says (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`).
pub struct WebhookEndpoint(pub Endpoint);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ID(self.0.model.id.to_string())
    }
    async fn url(&self) -> &str {
        &self.0.model.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.model.description.as_deref()
    }
    /// The event types it wants; `null`: every type.
    async fn event_types(&self) -> Option<Vec<WebhookEventType>> {
        self.0.filter.event_types.as_ref().map(|_| {
            self.0
                .filter
                .types()
                .into_iter()
                .filter_map(api_type)
                .collect()
        })
    }
    /// Role events only for these roles (empty: any role).
    async fn role_ids(&self) -> Vec<ID> {
        ids(&self.0.filter.role_ids)
    }
    /// Tag events only for these tags (empty: any tag).
    async fn tag_ids(&self) -> Vec<ID> {
        ids(&self.0.filter.tag_ids)
    }
    /// Segment events only for these segments (empty: any segment).
    async fn segment_ids(&self) -> Vec<ID> {
        ids(&self.0.filter.segment_ids)
    }
    async fn enabled(&self) -> bool {
        self.0.model.disabled_at.is_none()
    }
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.disabled_at.map(from_millis)
    }
    /// Why it was disabled: by hand, `410 Gone`, or failing too long.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.model.disabled_reason.as_deref()
    }
    /// Since when every attempt has failed (`null`: its last attempt succeeded).
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.model.failing_since.map(from_millis)
    }
    async fn last_success_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.last_success_at.map(from_millis)
    }
    /// Until when the secret before the last rotation still signs beside the new one.
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.previous_secret_until.map(from_millis)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.created_at)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.updated_at)
    }
    /// Its messages by id, optionally of one status. At most 100 per page.
    #[graphql(complexity = "super::connection::cost(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        status: Option<WebhookMessageStatus>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<String, WebhookMessage>> {
        let state = state(ctx)?;
        let page = super::connection::page_request(first, after, last, before)?;
        let rows = messages::page(&state.db, self.0.model.id, status.map(Into::into), page)
            .await
            .map_err(to_graphql)?;
        Ok(super::connection::connection(
            rows,
            |m| m.id,
            WebhookMessage,
        ))
    }
}

fn ids(ids: &[i64]) -> Vec<ID> {
    ids.iter().map(|id| ID(id.to_string())).collect()
}

/// An endpoint's fields; on update, omitted fields stay as they are.
#[derive(InputObject)]
pub struct WebhookEndpointInput {
    /// https (http only where `NUDGE_WEBHOOK_ALLOW_HTTP` is set), at most 2,048 characters,
    /// no user name or password, and reaching only public addresses unless
    /// `NUDGE_WEBHOOK_ALLOW_PRIVATE` is set.
    pub url: Option<String>,
    /// At most 2,000 characters; `null` clears it.
    pub description: MaybeUndefined<String>,
    /// The event types it wants; `null`: every type.
    pub event_types: MaybeUndefined<Vec<WebhookEventType>>,
    /// Role events only for these roles; empty: any role.
    pub role_ids: Option<Vec<ID>>,
    pub tag_ids: Option<Vec<ID>>,
    pub segment_ids: Option<Vec<ID>>,
    /// `false` disables it (its messages wait); `true` enables it again.
    pub enabled: Option<bool>,
}

fn to_domain(input: WebhookEndpointInput) -> Result<DomainInput, AppError> {
    let mut violations = Vec::new();
    let mut parse = |field: &str, ids: Option<Vec<ID>>| {
        ids.map(|ids| {
            ids.iter()
                .enumerate()
                .filter_map(|(index, id)| match id.parse::<i64>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        violations.push(FieldViolation::new(
                            &[field, &index.to_string()],
                            ViolationCode::Invalid,
                            "is not a valid id",
                        ));
                        None
                    }
                })
                .collect()
        })
    };
    let role_ids = parse("roleIds", input.role_ids);
    let tag_ids = parse("tagIds", input.tag_ids);
    let segment_ids = parse("segmentIds", input.segment_ids);
    if !violations.is_empty() {
        return Err(AppError::Invalid(violations));
    }
    Ok(DomainInput {
        url: input.url,
        description: to_change(input.description),
        event_types: to_change(input.event_types)
            .map(|types| types.into_iter().map(EventType::from).collect()),
        role_ids,
        tag_ids,
        segment_ids,
        enabled: input.enabled,
    })
}

/// A new endpoint and its signing secret — shown this once: keep it.
#[derive(async_graphql::SimpleObject)]
pub struct CreatedWebhookEndpoint {
    pub webhook_endpoint: WebhookEndpoint,
    /// `whsec_` and the base64 of 32 random bytes.
    pub secret: String,
}

payload!(
    /// The result of creating an endpoint: the endpoint and its secret.
    CreateWebhookEndpointPayload, created: CreatedWebhookEndpoint
);
payload!(
    /// The result of changing an endpoint.
    WebhookEndpointPayload, webhook_endpoint: WebhookEndpoint
);
payload!(
    /// The result of rotating an endpoint's secret: the endpoint and its new secret.
    RotateWebhookSecretPayload, rotated: CreatedWebhookEndpoint
);
payload!(
    /// The result of deleting an endpoint: the id it had.
    DeleteWebhookEndpointPayload, deleted_webhook_endpoint_id: ID
);

#[derive(Default)]
pub struct WebhookMutation;

#[Object(guard = "Require::READ")]
impl WebhookMutation {
    /// Registers an endpoint and returns its signing secret, shown this once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointInput,
    ) -> async_graphql::Result<CreateWebhookEndpointPayload> {
        let state = state(ctx)?;
        let result = match to_domain(input) {
            Ok(input) => {
                endpoints::create(
                    &state.db,
                    state.clock.now(),
                    access(ctx),
                    input,
                    url_policy(state),
                )
                .await
            }
            Err(e) => Err(e),
        };
        respond(
            result.map(|c| CreatedWebhookEndpoint {
                webhook_endpoint: WebhookEndpoint(c.endpoint),
                secret: c.secret,
            }),
            "input",
        )
    }

    /// Changes an endpoint. Messages already queued keep going to it.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: WebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = match to_domain(input) {
            Ok(input) => {
                endpoints::update(
                    &state.db,
                    state.clock.now(),
                    id,
                    access(ctx),
                    input,
                    url_policy(state),
                )
                .await
            }
            Err(e) => Err(e),
        };
        if result.is_ok() {
            state.webhook_wake.notify_one();
        }
        respond(result.map(WebhookEndpoint), "input")
    }

    /// Deletes an endpoint with its messages and their attempts.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteWebhookEndpointPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        let result = endpoints::delete(&state.db, row_id, access(ctx)).await;
        respond(result.map(|()| id), "")
    }

    /// Gives an endpoint a new secret, returned this once. For the overlap
    /// (`NUDGE_WEBHOOK_SECRET_OVERLAP_HOURS`, 24 by default) messages are signed with both, so
    /// a receiver can switch without losing any.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<RotateWebhookSecretPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let overlap = state.settings.webhooks.secret_overlap;
        let result =
            endpoints::rotate_secret(&state.db, state.clock.now(), id, access(ctx), overlap).await;
        respond(
            result.map(|(endpoint, secret)| CreatedWebhookEndpoint {
                webhook_endpoint: WebhookEndpoint(endpoint),
                secret,
            }),
            "",
        )
    }
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every endpoint the caller may see (an integrator key: the ones it created), oldest
    /// first.
    #[graphql(guard = "Require::READ")]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let state = state(ctx)?;
        let rows = endpoints::list(&state.db, access(ctx))
            .await
            .map_err(to_graphql)?;
        Ok(rows.into_iter().map(WebhookEndpoint).collect())
    }

    #[graphql(guard = "Require::READ")]
    async fn webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<WebhookEndpoint>> {
        let state = state(ctx)?;
        let found = endpoints::find(&state.db, id_arg("id", &id)?, access(ctx))
            .await
            .map_err(to_graphql)?;
        Ok(found.map(WebhookEndpoint))
    }
}
