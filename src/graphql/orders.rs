//! Orders on the API: the shop mirrors its orders with `upsertOrders`.

use super::auth::Require;
use super::catalog::Product;
use super::channel::Channel;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::money::Money;
use crate::clock::from_millis;
use crate::domain::orders::credit::Touch;
use crate::domain::orders::{
    self, OrderInput as DomainOrderInput, OrderLineInput as DomainLine, OrderStatus as DomainStatus,
};
use crate::domain::shop_orders;
use crate::domain::templates::Channel as DomainChannel;
use crate::error::AppError;
use crate::graphql::loaders::{Loaders, rows_of};
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{order, order_credit};

/// Where an order is in its life.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    Placed,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    /// Paid back: it no longer counts (lifetime spent, statistics).
    Refunded,
    /// Asked for through Nudge (a confirmed predicted cart) for the shop to create; it counts
    /// once the shop reports it in another status.
    Requested,
}

impl From<OrderStatus> for DomainStatus {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::Placed => DomainStatus::Placed,
            OrderStatus::Paid => DomainStatus::Paid,
            OrderStatus::Shipped => DomainStatus::Shipped,
            OrderStatus::Delivered => DomainStatus::Delivered,
            OrderStatus::Cancelled => DomainStatus::Cancelled,
            OrderStatus::Refunded => DomainStatus::Refunded,
            OrderStatus::Requested => DomainStatus::Requested,
        }
    }
}

impl From<DomainStatus> for OrderStatus {
    fn from(s: DomainStatus) -> Self {
        match s {
            DomainStatus::Placed => OrderStatus::Placed,
            DomainStatus::Paid => OrderStatus::Paid,
            DomainStatus::Shipped => OrderStatus::Shipped,
            DomainStatus::Delivered => OrderStatus::Delivered,
            DomainStatus::Cancelled => OrderStatus::Cancelled,
            DomainStatus::Refunded => OrderStatus::Refunded,
            DomainStatus::Requested => OrderStatus::Requested,
        }
    }
}

/// An order mirrored from the shop.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Order {
    pub id: ID,
    pub external_id: String,
    pub customer_id: ID,
    pub status: OrderStatus,
    pub payment_method: Option<String>,
    pub total: Money,
    pub placed_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub planned_delivery_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    row_id: i64,
    #[graphql(skip)]
    currency: String,
}

impl From<order::Model> for Order {
    fn from(m: order::Model) -> Self {
        Order {
            id: ID(m.id.to_string()),
            row_id: m.id,
            customer_id: ID(m.customer_id.to_string()),
            status: DomainStatus::from_stored(&m.status).into(),
            total: Money::new(m.total, &m.currency),
            currency: m.currency,
            external_id: m.external_id,
            payment_method: m.payment_method,
            placed_at: from_millis(m.placed_at),
            paid_at: m.paid_at.map(from_millis),
            planned_delivery_at: m.planned_delivery_at.map(from_millis),
            delivered_at: m.delivered_at.map(from_millis),
            cancelled_at: m.cancelled_at.map(from_millis),
            created_at: from_millis(m.created_at),
            updated_at: from_millis(m.updated_at),
        }
    }
}

/// One line of an order.
#[derive(SimpleObject)]
pub struct OrderLine {
    pub product: Option<Product>,
    pub quantity: i32,
    pub unit_price: Money,
}

#[ComplexObject]
impl Order {
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrderLine>> {
        let loaders = ctx.data::<Loaders>()?;
        let rows = rows_of(&loaders.order_lines, self.row_id).await?;
        Ok(rows
            .into_iter()
            .map(|(line, product)| OrderLine {
                product: product.map(Product::from),
                quantity: line.quantity,
                unit_price: Money::new(line.unit_price, &self.currency),
            })
            .collect())
    }

    /// The message this order was credited to, the touch that earned it and why; null when
    /// no click, open or SMS delivery fell within its window before the order.
    async fn attribution(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Attribution>> {
        let loaders = ctx.data::<Loaders>()?;
        let credit = rows_of(&loaders.order_credits, self.row_id).await?.pop();
        Ok(credit.map(Attribution))
    }
}

/// Why an order's revenue went where it went.
pub struct Attribution(order_credit::Model);

#[Object]
impl Attribution {
    /// The credited message.
    async fn delivery_id(&self) -> Option<ID> {
        self.0.delivery_id.map(|id| ID(id.to_string()))
    }
    async fn channel(&self) -> Channel {
        DomainChannel::from_stored(&self.0.channel).into()
    }
    async fn campaign_id(&self) -> Option<ID> {
        self.0.campaign_id.map(|id| ID(id.to_string()))
    }
    async fn step_id(&self) -> Option<&str> {
        self.0.step_id.as_deref()
    }
    async fn action_id(&self) -> Option<ID> {
        self.0.action_id.map(|id| ID(id.to_string()))
    }
    async fn template_id(&self) -> Option<ID> {
        self.0.template_id.map(|id| ID(id.to_string()))
    }
    /// What earned the credit.
    async fn touch(&self) -> async_graphql::Result<AttributionTouch> {
        match Touch::from_stored(&self.0.touch) {
            Some(Touch::Click) => Ok(AttributionTouch::Click),
            Some(Touch::Open) => Ok(AttributionTouch::Open),
            Some(Touch::Delivery) => Ok(AttributionTouch::Delivery),
            None => Err(to_graphql(AppError::internal(format!(
                "the credit of order {} has an unknown touch {:?}",
                self.0.order_id, self.0.touch
            )))),
        }
    }
    async fn touched_at(&self) -> DateTime<Utc> {
        from_millis(self.0.touched_at)
    }
    /// When the credited message was sent.
    async fn sent_at(&self) -> DateTime<Utc> {
        from_millis(self.0.sent_at)
    }
    /// The window the touch fell within, in hours.
    async fn window_hours(&self) -> f64 {
        self.0.window_ms as f64 / 3_600_000.0
    }
    /// Whether the order counts now (false once cancelled or refunded).
    async fn counted(&self) -> bool {
        self.0.counted
    }
    /// The revenue the statistics count for it now, in the store currency.
    async fn revenue(&self) -> Money {
        Money::new(self.0.revenue, &self.0.currency)
    }
    /// The rule that chose this message, in a sentence.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    async fn credited_at(&self) -> DateTime<Utc> {
        from_millis(self.0.credited_at)
    }
}

/// The touch that earned a credit.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributionTouch {
    Click,
    Open,
    /// An SMS the provider confirmed delivered.
    Delivery,
}

/// One line of an order as the shop describes it.
#[derive(InputObject)]
pub struct OrderLineInput {
    /// The product's external id; the product must be mirrored first.
    pub product_external_id: String,
    pub quantity: i32,
    /// A decimal amount in the order's currency.
    pub unit_price: String,
}

/// An order as the shop describes it; upserting replaces every field and all lines.
#[derive(InputObject)]
pub struct OrderInput {
    pub external_id: String,
    /// The customer's external id; the customer must exist.
    pub customer_external_id: String,
    pub status: OrderStatus,
    pub payment_method: Option<String>,
    /// A decimal amount, e.g. "120.50", in `currency`.
    pub total: String,
    /// ISO 4217 code.
    pub currency: String,
    pub placed_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub planned_delivery_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    #[graphql(default)]
    pub lines: Vec<OrderLineInput>,
}

impl From<OrderInput> for DomainOrderInput {
    fn from(i: OrderInput) -> Self {
        DomainOrderInput {
            external_id: i.external_id,
            customer_external_id: i.customer_external_id,
            status: i.status.into(),
            payment_method: i.payment_method,
            total: i.total,
            currency: i.currency,
            placed_at: i.placed_at,
            paid_at: i.paid_at,
            planned_delivery_at: i.planned_delivery_at,
            delivered_at: i.delivered_at,
            cancelled_at: i.cancelled_at,
            lines: i
                .lines
                .into_iter()
                .map(|l| DomainLine {
                    product_external_id: l.product_external_id,
                    quantity: l.quantity,
                    unit_price: l.unit_price,
                })
                .collect(),
        }
    }
}

payload!(
    /// The result of an upsert: the orders in input order.
    UpsertOrdersPayload, orders: Vec<Order>
);

#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// An order by the shop's id.
    #[graphql(guard = "Require::READ")]
    async fn order(
        &self,
        ctx: &Context<'_>,
        external_id: String,
    ) -> async_graphql::Result<Option<Order>> {
        let state = state(ctx)?;
        let found = orders::find_by_external_id(&state.db, &external_id)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Order::from))
    }
}

#[derive(Default)]
pub struct OrderMutation;

#[Object(guard = "Require::ADMIN")]
impl OrderMutation {
    /// Creates or replaces orders by external id (at most 100 per call), all or nothing, and
    /// brings each affected customer's order facts up to date.
    async fn upsert_orders(
        &self,
        ctx: &Context<'_>,
        orders: Vec<OrderInput>,
    ) -> async_graphql::Result<UpsertOrdersPayload> {
        let state = state(ctx)?;
        let inputs = orders.into_iter().map(Into::into).collect();
        let result = shop_orders::upsert(
            &state.db,
            &state.bus,
            state.clock.now(),
            &state.settings.store,
            inputs,
        )
        .await;
        respond(
            result.map(|rows| rows.into_iter().map(Order::from).collect()),
            "orders",
        )
    }
}
