//! Storefront events on the API: `recordEvents` and `event(eventId)`.

use super::auth::{Require, check_customer};
use super::context::state;
use super::errors::{coded, payload, respond, to_graphql};
use crate::clock::from_millis;
use crate::domain::api_keys::Principal;
use crate::domain::ingest::{
    self, CartLine, EventInput as DomainEvent, EventKind as DomainKind, EventPayload, OrderLine,
    PlacedOrder, Profile, RecordedEvent,
};
use crate::domain::storefront;
use crate::error::ErrorCode;
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, OneofObject, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::event;

use super::orders::OrderStatus;

/// What a customer did.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Registered,
    LoggedIn,
    ProfileUpdated,
    ProductViewed,
    AddedToCart,
    CartUpdated,
    OrderPlaced,
    OrderStatusChanged,
    PageVisited,
    NewsletterSubscribed,
    NewsletterUnsubscribed,
    /// The customer joined a segment (recorded by Nudge, never by a storefront).
    SegmentJoined,
    /// The customer left a segment (recorded by Nudge, never by a storefront).
    SegmentLeft,
    /// A predicted cart was gathered for the customer (recorded by Nudge when a campaign or a
    /// customer action listens).
    PredictedCartReady,
    /// The customer confirmed a predicted cart (recorded by Nudge).
    PredictedCartConfirmed,
    /// The customer postponed a predicted cart (recorded by Nudge).
    PredictedCartPostponed,
    /// The customer has enough of what a predicted cart held (recorded by Nudge).
    PredictedCartDeclined,
}

impl From<DomainKind> for EventKind {
    fn from(k: DomainKind) -> Self {
        match k {
            DomainKind::Registered => EventKind::Registered,
            DomainKind::LoggedIn => EventKind::LoggedIn,
            DomainKind::ProfileUpdated => EventKind::ProfileUpdated,
            DomainKind::ProductViewed => EventKind::ProductViewed,
            DomainKind::AddedToCart => EventKind::AddedToCart,
            DomainKind::CartUpdated => EventKind::CartUpdated,
            DomainKind::OrderPlaced => EventKind::OrderPlaced,
            DomainKind::OrderStatusChanged => EventKind::OrderStatusChanged,
            DomainKind::PageVisited => EventKind::PageVisited,
            DomainKind::NewsletterSubscribed => EventKind::NewsletterSubscribed,
            DomainKind::NewsletterUnsubscribed => EventKind::NewsletterUnsubscribed,
            DomainKind::SegmentJoined => EventKind::SegmentJoined,
            DomainKind::SegmentLeft => EventKind::SegmentLeft,
            DomainKind::PredictedCartReady => EventKind::PredictedCartReady,
            DomainKind::PredictedCartConfirmed => EventKind::PredictedCartConfirmed,
            DomainKind::PredictedCartPostponed => EventKind::PredictedCartPostponed,
            DomainKind::PredictedCartDeclined => EventKind::PredictedCartDeclined,
        }
    }
}

impl From<EventKind> for DomainKind {
    fn from(k: EventKind) -> Self {
        DomainKind::ALL
            .into_iter()
            .find(|d| EventKind::from(*d) == k)
            .unwrap_or(DomainKind::LoggedIn)
    }
}

/// Profile fields of a `registered` or `profileUpdated` event; omitted fields stay as they are.
#[derive(InputObject, Default)]
pub struct ProfileInput {
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birthday: Option<NaiveDate>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    /// A company rather than a person.
    pub company: Option<bool>,
    pub wholesale: Option<bool>,
    pub affiliate_id: Option<String>,
    /// Consent to marketing email, given or withdrawn on the storefront.
    pub email_consent: Option<bool>,
    pub sms_consent: Option<bool>,
    /// Replaces the custom attributes (a JSON object).
    pub attributes: Option<Json<serde_json::Value>>,
}

/// A product and quantity in a cart.
#[derive(InputObject)]
pub struct CartLineInput {
    pub product_external_id: String,
    pub quantity: i32,
}

/// Cart lines.
#[derive(InputObject)]
pub struct CartInput {
    pub lines: Vec<CartLineInput>,
}

/// A viewed product.
#[derive(InputObject)]
pub struct ProductViewInput {
    pub product_external_id: String,
}

/// One line of a placed order.
#[derive(InputObject)]
pub struct PlacedOrderLineInput {
    pub product_external_id: String,
    pub quantity: i32,
    /// A decimal amount in the order's currency.
    pub unit_price: String,
}

/// An order as it is placed; `occurredAt` is its placing time.
#[derive(InputObject)]
pub struct PlacedOrderInput {
    pub order_external_id: String,
    #[graphql(default_with = "OrderStatus::Placed")]
    pub status: OrderStatus,
    pub payment_method: Option<String>,
    /// A decimal amount, e.g. "120.50".
    pub total: String,
    pub currency: String,
    pub planned_delivery_at: Option<DateTime<Utc>>,
    #[graphql(default)]
    pub lines: Vec<PlacedOrderLineInput>,
}

/// An order's new status, and its new planned delivery time if it moved.
#[derive(InputObject)]
pub struct OrderStatusChangeInput {
    pub order_external_id: String,
    pub status: OrderStatus,
    pub planned_delivery_at: Option<DateTime<Utc>>,
}

/// A visited page.
#[derive(InputObject)]
pub struct PageVisitInput {
    pub url: String,
    pub referrer: Option<String>,
}

/// What happened: exactly one field. Kinds without data take `true`.
#[derive(OneofObject)]
pub enum EventPayloadInput {
    Registered(ProfileInput),
    LoggedIn(bool),
    ProfileUpdated(ProfileInput),
    ProductViewed(ProductViewInput),
    /// Lines added to the cart; quantities add up.
    AddedToCart(CartInput),
    /// The whole cart as it is now (empty: the cart was emptied).
    CartUpdated(CartInput),
    OrderPlaced(PlacedOrderInput),
    OrderStatusChanged(OrderStatusChangeInput),
    PageVisited(PageVisitInput),
    NewsletterSubscribed(bool),
    NewsletterUnsubscribed(bool),
}

/// One event. `eventId` is yours: sending the same event again is harmless.
#[derive(InputObject)]
pub struct EventInput {
    pub event_id: String,
    pub customer_external_id: String,
    /// The customer's signature (hex HMAC-SHA256 of `customerExternalId` with the key's
    /// identity secret); required by storefront keys that verify customers.
    pub customer_signature: Option<String>,
    /// When it happened; the time of receipt when omitted.
    pub occurred_at: Option<DateTime<Utc>>,
    pub payload: EventPayloadInput,
}

fn profile(p: ProfileInput) -> Profile {
    Profile {
        email: p.email,
        phone: p.phone,
        first_name: p.first_name,
        last_name: p.last_name,
        birthday: p.birthday,
        time_zone: p.time_zone,
        locale: p.locale,
        company: p.company,
        wholesale: p.wholesale,
        affiliate_id: p.affiliate_id,
        email_consent: p.email_consent,
        sms_consent: p.sms_consent,
        attributes: p.attributes.map(|j| j.0),
    }
}

fn cart(c: CartInput) -> Vec<CartLine> {
    c.lines
        .into_iter()
        .map(|l| CartLine {
            product_external_id: l.product_external_id,
            quantity: l.quantity,
        })
        .collect()
}

impl From<EventInput> for DomainEvent {
    fn from(e: EventInput) -> Self {
        let payload = match e.payload {
            EventPayloadInput::Registered(p) => EventPayload::Registered(profile(p)),
            EventPayloadInput::LoggedIn(_) => EventPayload::LoggedIn {},
            EventPayloadInput::ProfileUpdated(p) => EventPayload::ProfileUpdated(profile(p)),
            EventPayloadInput::ProductViewed(v) => EventPayload::ProductViewed {
                product_external_id: v.product_external_id,
            },
            EventPayloadInput::AddedToCart(c) => EventPayload::AddedToCart { lines: cart(c) },
            EventPayloadInput::CartUpdated(c) => EventPayload::CartUpdated { lines: cart(c) },
            EventPayloadInput::OrderPlaced(o) => EventPayload::OrderPlaced(PlacedOrder {
                order_external_id: o.order_external_id,
                status: o.status.into(),
                payment_method: o.payment_method,
                total: o.total,
                currency: o.currency,
                planned_delivery_at: o.planned_delivery_at,
                lines: o
                    .lines
                    .into_iter()
                    .map(|l| OrderLine {
                        product_external_id: l.product_external_id,
                        quantity: l.quantity,
                        unit_price: l.unit_price,
                    })
                    .collect(),
            }),
            EventPayloadInput::OrderStatusChanged(c) => EventPayload::OrderStatusChanged {
                order_external_id: c.order_external_id,
                status: c.status.into(),
                planned_delivery_at: c.planned_delivery_at,
            },
            EventPayloadInput::PageVisited(v) => EventPayload::PageVisited {
                url: v.url,
                referrer: v.referrer,
            },
            EventPayloadInput::NewsletterSubscribed(_) => EventPayload::NewsletterSubscribed {},
            EventPayloadInput::NewsletterUnsubscribed(_) => EventPayload::NewsletterUnsubscribed {},
        };
        DomainEvent {
            event_id: e.event_id,
            customer_external_id: e.customer_external_id,
            occurred_at: e.occurred_at,
            payload,
        }
    }
}

/// A recorded event.
pub struct Event(pub event::Model);

#[Object]
impl Event {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The id the storefront gave it.
    async fn event_id(&self) -> &str {
        &self.0.event_id
    }

    async fn kind(&self) -> Option<EventKind> {
        DomainKind::from_stored(&self.0.kind).map(Into::into)
    }

    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        from_millis(self.0.occurred_at)
    }

    async fn received_at(&self) -> DateTime<Utc> {
        from_millis(self.0.received_at)
    }

    /// When automation handled it; null until then.
    async fn processed_at(&self) -> Option<DateTime<Utc>> {
        self.0.processed_at.map(from_millis)
    }

    /// What automation did because of it (null until processed).
    async fn outcome(&self) -> Option<Json<serde_json::Value>> {
        self.0.outcome.clone().map(Json)
    }

    /// The event's data as recorded (admin and integrator keys only).
    #[graphql(guard = "Require::READ")]
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(self.0.payload.clone())
    }
}

/// The result for one recorded event.
#[derive(SimpleObject)]
pub struct EventResult {
    pub event: Event,
    /// The same event was recorded before; nothing was done again.
    pub duplicate: bool,
}

impl From<RecordedEvent> for EventResult {
    fn from(r: RecordedEvent) -> Self {
        EventResult {
            event: Event(r.event),
            duplicate: r.duplicate,
        }
    }
}

payload!(
    /// The result of recording events: one result per input, in order.
    RecordEventsPayload, results: Vec<EventResult>
);

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// The event recorded under your `eventId`. A storefront key that verifies customers
    /// sees it only with the signature of the event's customer.
    #[graphql(guard = "Require::ANY")]
    async fn event(
        &self,
        ctx: &Context<'_>,
        event_id: String,
        customer_signature: Option<String>,
    ) -> async_graphql::Result<Option<Event>> {
        let state = state(ctx)?;
        let caller = ctx.data::<Principal>()?;
        let found =
            storefront::event_for(&state.db, caller, &event_id, customer_signature.as_deref())
                .await
                .map_err(to_graphql)?;
        Ok(found.map(Event))
    }
}

#[derive(Default)]
pub struct EventMutation;

#[Object]
impl EventMutation {
    /// Records what customers did (at most 500 events per call), all or nothing. Facts are
    /// updated at once; automation follows from the stored events.
    #[graphql(guard = "Require::INGEST")]
    async fn record_events(
        &self,
        ctx: &Context<'_>,
        events: Vec<EventInput>,
    ) -> async_graphql::Result<RecordEventsPayload> {
        let state = state(ctx)?;
        for (index, event) in events.iter().enumerate() {
            check_customer(
                ctx,
                &event.customer_external_id,
                event.customer_signature.as_deref(),
            )
            .map_err(|e| {
                let message = format!("events.{index}.customerSignature: {}", e.message);
                coded(ErrorCode::Forbidden, message)
            })?;
        }
        let inputs = events.into_iter().map(Into::into).collect();
        let result = match ingest::check_batch(inputs, state.clock.now()) {
            Ok(batch) => state.ingest.record(batch).await,
            Err(refused) => Err(refused),
        };
        if let Ok(rows) = &result {
            let stored = rows.iter().filter(|r| !r.duplicate).count();
            metrics::counter!("nudge_events_ingested_total").increment(stored as u64);
        }
        respond(
            result.map(|rows| rows.into_iter().map(EventResult::from).collect()),
            "events",
        )
    }
}
