//! Products on the API: the shop mirrors its catalog with `upsertProducts`.

use super::auth::Require;
use super::connection::{connection, page_request};
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::money::Money;
use crate::clock::from_millis;
use crate::domain::products::{self, ProductInput as DomainProductInput};
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::product;

/// A product of the shop's catalog.
#[derive(SimpleObject)]
pub struct Product {
    pub id: ID,
    pub external_id: String,
    pub name: String,
    pub sku: Option<String>,
    pub price: Money,
    pub category_ids: Vec<String>,
    pub manufacturer: Option<String>,
    pub vendor: Option<String>,
    /// Days one unit lasts, for replenishment reminders.
    pub replenishment_days: Option<i32>,
    /// The product's picture, shown on predicted cart pages.
    pub image_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<product::Model> for Product {
    fn from(m: product::Model) -> Self {
        let category_ids = m
            .category_ids
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Product {
            id: ID(m.id.to_string()),
            price: Money::new(m.price, &m.currency),
            external_id: m.external_id,
            name: m.name,
            sku: m.sku,
            category_ids,
            manufacturer: m.manufacturer,
            vendor: m.vendor,
            replenishment_days: m.replenishment_days,
            image_url: m.image_url,
            created_at: from_millis(m.created_at),
            updated_at: from_millis(m.updated_at),
        }
    }
}

/// A product as the shop describes it; upserting replaces every field.
#[derive(InputObject)]
pub struct ProductInput {
    pub external_id: String,
    pub name: String,
    pub sku: Option<String>,
    /// A decimal amount, e.g. "19.99", in `currency`.
    pub price: String,
    /// ISO 4217 code.
    pub currency: String,
    #[graphql(default)]
    pub category_ids: Vec<String>,
    pub manufacturer: Option<String>,
    pub vendor: Option<String>,
    /// Days one unit lasts (1–3650), for replenishment reminders.
    pub replenishment_days: Option<i32>,
    /// An absolute http(s) address of the product's picture (at most 2048 bytes), shown on
    /// predicted cart pages and given to templates as `image_url`.
    pub image_url: Option<String>,
}

impl From<ProductInput> for DomainProductInput {
    fn from(i: ProductInput) -> Self {
        DomainProductInput {
            external_id: i.external_id,
            name: i.name,
            sku: i.sku,
            price: i.price,
            currency: i.currency,
            category_ids: i.category_ids,
            manufacturer: i.manufacturer,
            vendor: i.vendor,
            replenishment_days: i.replenishment_days,
            image_url: i.image_url,
        }
    }
}

payload!(
    /// The result of an upsert: the products in input order.
    UpsertProductsPayload, products: Vec<Product>
);

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// Products, in the order they were first mirrored. At most 100 per page.
    #[graphql(
        guard = "Require::READ",
        complexity = "super::connection::cost(first, last, child_complexity)"
    )]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<String, Product>> {
        let state = state(ctx)?;
        let page = page_request(first, after, last, before)?;
        let rows = products::list(&state.db, page).await.map_err(to_graphql)?;
        Ok(connection(rows, |p| p.id, Product::from))
    }

    /// A product by the shop's id.
    #[graphql(guard = "Require::READ")]
    async fn product(
        &self,
        ctx: &Context<'_>,
        external_id: String,
    ) -> async_graphql::Result<Option<Product>> {
        let state = state(ctx)?;
        let found = products::find_by_external_id(&state.db, &external_id)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Product::from))
    }
}

#[derive(Default)]
pub struct CatalogMutation;

#[Object(guard = "Require::ADMIN")]
impl CatalogMutation {
    /// Creates or replaces products by external id (at most 500 per call), all or nothing.
    async fn upsert_products(
        &self,
        ctx: &Context<'_>,
        products: Vec<ProductInput>,
    ) -> async_graphql::Result<UpsertProductsPayload> {
        let state = state(ctx)?;
        let inputs = products.into_iter().map(Into::into).collect();
        let result = products::upsert(&state.db, state.clock.now(), inputs).await;
        respond(
            result.map(|rows| rows.into_iter().map(Product::from).collect()),
            "products",
        )
    }
}
