//! Customers on the API: the `Customer` type, the admin list and lookups, and create /
//! update / delete.

use super::auth::Require;
use super::catalog::Product;
use super::connection::{connection, page_request};
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::loaders::{Loaders, rows_of};
use super::money::Money;
use super::orders::Order;
use super::roles::Role;
use super::scalars::{id_arg, opt_id_arg, to_change};
use super::tags::AppliedTag;
use crate::clock::from_millis;
use crate::domain::customers::{self, ConsentInput as DomainConsent, CustomerFilter, CustomerType};
use crate::domain::erasure;
use crate::domain::orders::replenishment::{DueItem, ItemStatus};
use async_graphql::connection::Connection;
use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject,
};
use chrono::{DateTime, NaiveDate, Utc};
use entity::customer;

/// Whether a customer is a person or a company.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "CustomerType")]
pub enum CustomerKind {
    Person,
    Company,
}

impl From<CustomerKind> for CustomerType {
    fn from(kind: CustomerKind) -> Self {
        match kind {
            CustomerKind::Person => CustomerType::Person,
            CustomerKind::Company => CustomerType::Company,
        }
    }
}

/// Consent to marketing on one channel.
#[derive(SimpleObject)]
pub struct Consent {
    pub granted: bool,
    /// When consent was last given or withdrawn.
    pub at: Option<DateTime<Utc>>,
    /// How it was given or withdrawn ("checkout", "import", "unsubscribe link" …).
    pub source: Option<String>,
}

/// Consent per channel.
#[derive(SimpleObject)]
pub struct Consents {
    pub email: Consent,
    pub sms: Consent,
}

/// A shop's customer as Nudge knows them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Customer {
    pub id: ID,
    /// The shop's own id for this customer.
    pub external_id: String,
    pub email: Option<String>,
    /// E.164, e.g. +14155550100.
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birthday: Option<NaiveDate>,
    /// The customer's IANA time zone, if set.
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    #[graphql(name = "type")]
    pub kind: CustomerKind,
    pub wholesale: bool,
    pub affiliate_id: Option<String>,
    pub consent: Consents,
    pub registered_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
    /// Orders that are not cancelled.
    pub orders_count: i32,
    /// Lifetime spent on orders that are not cancelled, in the store currency.
    pub total_spent: Money,
    /// Custom attributes (a JSON object).
    pub attributes: Json<serde_json::Value>,
    /// When the cart last changed; null when it is empty.
    pub cart_updated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub row_id: i64,
}

/// A product in a customer's cart.
#[derive(SimpleObject)]
pub struct CartItem {
    pub product: Product,
    pub quantity: i32,
    pub added_at: DateTime<Utc>,
}

impl Customer {
    pub fn from_model(m: customer::Model, store_currency: &str) -> Self {
        let consent = |granted, at: Option<i64>, source| Consent {
            granted,
            at: at.map(from_millis),
            source,
        };
        Customer {
            id: ID(m.id.to_string()),
            row_id: m.id,
            external_id: m.external_id,
            email: m.email,
            phone: m.phone,
            first_name: m.first_name,
            last_name: m.last_name,
            birthday: m.birthday,
            time_zone: m.time_zone,
            locale: m.locale,
            kind: match CustomerType::from_stored(&m.customer_type) {
                CustomerType::Person => CustomerKind::Person,
                CustomerType::Company => CustomerKind::Company,
            },
            wholesale: m.wholesale,
            affiliate_id: m.affiliate_id,
            consent: Consents {
                email: consent(m.email_consent, m.email_consent_at, m.email_consent_source),
                sms: consent(m.sms_consent, m.sms_consent_at, m.sms_consent_source),
            },
            registered_at: m.registered_at.map(from_millis),
            last_login_at: m.last_login_at.map(from_millis),
            last_order_at: m.last_order_at.map(from_millis),
            orders_count: m.orders_count,
            total_spent: Money::new(m.total_spent, store_currency),
            attributes: Json(m.attributes),
            cart_updated_at: m.cart_updated_at.map(from_millis),
            created_at: from_millis(m.created_at),
            updated_at: from_millis(m.updated_at),
        }
    }
}

#[ComplexObject]
impl Customer {
    /// The customer's roles, highest priority first.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        let loaders = ctx.data::<Loaders>()?;
        let roles = rows_of(&loaders.customer_roles, self.row_id).await?;
        Ok(roles.into_iter().map(Role::from).collect())
    }

    /// The customer's tags, by name.
    async fn tags(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AppliedTag>> {
        let loaders = ctx.data::<Loaders>()?;
        let tags = rows_of(&loaders.customer_tags, self.row_id).await?;
        Ok(tags.into_iter().map(AppliedTag::from).collect())
    }

    /// The customer's current cart.
    async fn cart(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CartItem>> {
        let loaders = ctx.data::<Loaders>()?;
        let lines = rows_of(&loaders.customer_carts, self.row_id).await?;
        Ok(lines
            .into_iter()
            .map(|(line, product)| CartItem {
                product: Product::from(product),
                quantity: line.quantity,
                added_at: from_millis(line.added_at),
            })
            .collect())
    }

    /// When the customer is due to run out of each product they order (products with
    /// `replenishmentDays`), soonest first.
    async fn replenishment(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ReplenishmentItem>> {
        let loaders = ctx.data::<Loaders>()?;
        let rows = rows_of(&loaders.customer_replenishment, self.row_id).await?;
        rows.into_iter()
            .map(
                |DueItem {
                     item,
                     product,
                     status,
                 }| {
                    Ok(ReplenishmentItem {
                        product: Product::from(product),
                        quantity: item.quantity,
                        days_per_unit: item.days_per_unit,
                        learned: item.learned,
                        last_ordered_at: from_millis(item.last_ordered_at),
                        due_at: from_millis(item.due_at),
                        postponed_until: item.postponed_until.map(from_millis),
                        status: status.into(),
                    })
                },
            )
            .collect()
    }

    /// The customer's latest orders, newest first (at most 100).
    #[graphql(complexity = "first.clamp(0, 100) as usize * child_complexity + 1")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, validator(minimum = 0, maximum = 100))] first: i32,
    ) -> async_graphql::Result<Vec<Order>> {
        let loaders = ctx.data::<Loaders>()?;
        let key = (self.row_id, first.clamp(0, 100) as u64);
        let rows = rows_of(&loaders.customer_orders, key).await?;
        Ok(rows.into_iter().map(Order::from).collect())
    }
}

/// When a customer is due to run out of a product: the last order of it lasts `quantity` ×
/// `daysPerUnit` days from when it was placed.
#[derive(SimpleObject)]
pub struct ReplenishmentItem {
    pub product: Product,
    /// Units of the last order.
    pub quantity: i32,
    /// Days one unit lasts: the product's `replenishmentDays`, or the customer's own pace once
    /// they ordered it twice (`learned`).
    pub days_per_unit: f64,
    pub learned: bool,
    pub last_ordered_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Not due before this (postponed), until the next order of the product.
    pub postponed_until: Option<DateTime<Utc>>,
    pub status: ReplenishmentStatus,
}

/// Where a due item stands.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplenishmentStatus {
    /// Due at `dueAt`.
    Waiting,
    /// In the customer's open predicted cart.
    InCart,
    /// The customer has enough: not due again until they order it.
    Declined,
}

impl From<ItemStatus> for ReplenishmentStatus {
    fn from(s: ItemStatus) -> Self {
        match s {
            ItemStatus::Waiting => ReplenishmentStatus::Waiting,
            ItemStatus::InCart => ReplenishmentStatus::InCart,
            ItemStatus::Declined => ReplenishmentStatus::Declined,
        }
    }
}

/// Consent given or withdrawn on one channel.
#[derive(InputObject)]
pub struct ConsentInput {
    pub granted: bool,
    /// Where consent was given or withdrawn, e.g. "checkout".
    pub source: Option<String>,
}

/// Fields of a customer. On create, omitted fields are empty and `externalId` is required;
/// on update, omitted fields stay as they are and `null` clears a field.
#[derive(InputObject)]
pub struct CustomerInput {
    pub external_id: Option<String>,
    pub email: MaybeUndefined<String>,
    /// E.164, e.g. +14155550100.
    pub phone: MaybeUndefined<String>,
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub birthday: MaybeUndefined<NaiveDate>,
    /// An IANA time zone such as Europe/Warsaw.
    pub time_zone: MaybeUndefined<String>,
    /// A language tag such as en or pl-PL.
    pub locale: MaybeUndefined<String>,
    #[graphql(name = "type")]
    pub kind: Option<CustomerKind>,
    pub wholesale: Option<bool>,
    pub affiliate_id: MaybeUndefined<String>,
    pub email_consent: Option<ConsentInput>,
    pub sms_consent: Option<ConsentInput>,
    pub registered_at: MaybeUndefined<DateTime<Utc>>,
    /// Replaces all custom attributes; must be a JSON object.
    pub attributes: Option<Json<serde_json::Value>>,
}

impl From<CustomerInput> for customers::CustomerInput {
    fn from(i: CustomerInput) -> Self {
        let consent = |c: ConsentInput| DomainConsent {
            granted: c.granted,
            source: c.source,
        };
        customers::CustomerInput {
            external_id: i.external_id,
            email: to_change(i.email),
            phone: to_change(i.phone),
            first_name: to_change(i.first_name),
            last_name: to_change(i.last_name),
            birthday: to_change(i.birthday),
            time_zone: to_change(i.time_zone),
            locale: to_change(i.locale),
            customer_type: i.kind.map(Into::into),
            wholesale: i.wholesale,
            affiliate_id: to_change(i.affiliate_id),
            email_consent: i.email_consent.map(consent),
            sms_consent: i.sms_consent.map(consent),
            registered_at: to_change(i.registered_at),
            attributes: i.attributes.map(|j| j.0),
        }
    }
}

/// Filters of the customer list; all given filters must match.
#[derive(InputObject, Default)]
pub struct CustomerFilterInput {
    /// Exact email address (case-insensitive).
    pub email: Option<String>,
    /// Members of this role.
    pub role_id: Option<ID>,
    /// Customers with this tag (by name).
    pub tag: Option<String>,
    /// With `tag`: only where the tag has this value.
    pub tag_value: Option<String>,
    /// Part of the external id, email, phone or name (case-insensitive).
    pub text: Option<String>,
}

/// What a text search adds to a query's complexity: it reads every customer, so a request
/// can hold only a few of them (20 within the default limit of 5,000).
pub const TEXT_SEARCH_COST: usize = 250;

impl CustomerFilterInput {
    /// The complexity the filter adds: [`TEXT_SEARCH_COST`] for a text search.
    fn scan_cost(filter: &Option<CustomerFilterInput>) -> usize {
        filter
            .as_ref()
            .and_then(|f| f.text.as_deref())
            .filter(|t| !t.trim().is_empty())
            .map_or(0, |_| TEXT_SEARCH_COST)
    }
}

payload!(
    /// The result of creating or updating a customer.
    CustomerPayload, customer: Customer
);
payload!(
    /// The result of deleting a customer: the id it had.
    DeleteCustomerPayload, deleted_customer_id: ID
);

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// Customers, oldest first. At most 100 per page.
    #[graphql(
        guard = "Require::READ",
        complexity = "super::connection::cost(first, last, child_complexity) + CustomerFilterInput::scan_cost(&filter)"
    )]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CustomerFilterInput>,
    ) -> async_graphql::Result<Connection<String, Customer>> {
        let state = state(ctx)?;
        let page = page_request(first, after, last, before)?;
        let filter = filter.unwrap_or_default();
        let domain_filter = CustomerFilter {
            email: filter.email,
            role_id: opt_id_arg("filter.roleId", filter.role_id)?,
            tag: filter.tag,
            tag_value: filter.tag_value,
            text: filter.text,
        };
        let rows = customers::list(&state.db, &domain_filter, page)
            .await
            .map_err(to_graphql)?;
        let currency = state.settings.store.currency.clone();
        Ok(connection(
            rows,
            |c| c.id,
            |c| Customer::from_model(c, &currency),
        ))
    }

    /// One customer, by Nudge's id or the shop's external id (give exactly one).
    #[graphql(guard = "Require::READ")]
    async fn customer(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        external_id: Option<String>,
    ) -> async_graphql::Result<Option<Customer>> {
        let state = state(ctx)?;
        let found = match (id, external_id) {
            (Some(id), None) => customers::find(&state.db, id_arg("id", &id)?).await,
            (None, Some(external_id)) => {
                customers::find_by_external_id(&state.db, &external_id).await
            }
            _ => {
                return Err(super::errors::coded(
                    crate::error::ErrorCode::BadRequest,
                    "give either `id` or `externalId`",
                ));
            }
        }
        .map_err(to_graphql)?;
        Ok(found.map(|m| Customer::from_model(m, &state.settings.store.currency)))
    }
}

#[derive(Default)]
pub struct CustomerMutation;

#[Object(guard = "Require::ADMIN")]
impl CustomerMutation {
    /// Creates a customer. `externalId` is required and unique.
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        input: CustomerInput,
    ) -> async_graphql::Result<CustomerPayload> {
        let state = state(ctx)?;
        let result =
            customers::create(&state.db, &state.bus, state.clock.now(), input.into()).await;
        respond(
            result.map(|m| Customer::from_model(m, &state.settings.store.currency)),
            "input",
        )
    }

    /// Changes the fields given in `input`; `null` clears a field.
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CustomerInput,
    ) -> async_graphql::Result<CustomerPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result =
            customers::update(&state.db, &state.bus, state.clock.now(), id, input.into()).await;
        respond(
            result.map(|m| Customer::from_model(m, &state.settings.store.currency)),
            "input",
        )
    }

    /// Deletes a customer with their roles, tags and orders.
    async fn delete_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteCustomerPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(
            erasure::erase_customer(&state.db, &state.bus, row_id, state.clock.now())
                .await
                .map(|()| id),
            "",
        )
    }
}
