//! What storefronts read for one customer: recommendations and banners.

use super::auth::{Require, check_customer};
use super::catalog::Product;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::loaders::Loaders;
use super::scalars::id_arg;
use crate::clock::from_millis;
use crate::domain::storefront;
use crate::domain::storefront::shelves::Shelf;
use crate::domain::storefront::shown::ShownBanner;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::banner;
use std::sync::Arc;

/// A banner to show one customer.
#[derive(SimpleObject)]
pub struct Banner {
    pub id: ID,
    pub title: String,
    pub body_html: String,
    pub coupon_code: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub dismissed_at: Option<DateTime<Utc>>,
}

impl From<banner::Model> for Banner {
    fn from(m: banner::Model) -> Self {
        Banner {
            id: ID(m.id.to_string()),
            title: m.title,
            body_html: m.body_html,
            coupon_code: m.coupon_code,
            starts_at: from_millis(m.starts_at),
            ends_at: m.ends_at.map(from_millis),
            dismissed_at: m.dismissed_at.map(from_millis),
        }
    }
}

impl From<ShownBanner> for Banner {
    fn from(b: ShownBanner) -> Self {
        Banner {
            id: ID(b.id.to_string()),
            title: b.text.title.clone(),
            body_html: b.text.body_html.clone(),
            coupon_code: b.text.coupon_code.clone(),
            starts_at: from_millis(b.starts_at),
            ends_at: b.ends_at.map(from_millis),
            dismissed_at: None,
        }
    }
}

payload!(
    /// The result of dismissing a banner.
    DismissBannerPayload, banner: Banner
);

/// The customer's shelf, read once per request whatever the fields that show it.
async fn shelf_of(ctx: &Context<'_>, customer: &str) -> async_graphql::Result<Arc<Shelf>> {
    let state = state(ctx)?;
    let read = || state.shelves.shelf(&state.db, state.clock.now(), customer);
    let Ok(loaders) = ctx.data::<Loaders>() else {
        return read().await.map_err(to_graphql);
    };
    // Held while reading: a field resolving at the same time waits for this read.
    let mut read_before = loaders.shelves.lock().await;
    if let Some(shelf) = read_before.get(customer) {
        return Ok(shelf.clone());
    }
    let shelf = read().await.map_err(to_graphql)?;
    read_before.insert(customer.to_owned(), shelf.clone());
    Ok(shelf)
}

#[derive(Default)]
pub struct StorefrontQuery;

#[Object]
impl StorefrontQuery {
    /// Products recommended to the customer by their roles, highest-priority role first,
    /// without duplicates. Empty for a customer Nudge does not know.
    #[graphql(
        guard = "Require::ANY",
        complexity = "first.clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        customer_external_id: String,
        #[graphql(default = 10, validator(minimum = 0, maximum = 100))] first: i32,
        #[graphql(
            desc = "The customer's signature (hex HMAC-SHA256 of the external id with the key's identity secret); required by storefront keys that verify customers."
        )]
        customer_signature: Option<String>,
    ) -> async_graphql::Result<Vec<Product>> {
        check_customer(ctx, &customer_external_id, customer_signature.as_deref())?;
        let shelf = shelf_of(ctx, &customer_external_id).await?;
        let first = u64::try_from(first).unwrap_or(0);
        Ok(shelf
            .recommendations(first)
            .into_iter()
            .map(Product::from)
            .collect())
    }

    /// The customer's banners showing now (not dismissed, inside their display window).
    #[graphql(guard = "Require::ANY")]
    async fn banners(
        &self,
        ctx: &Context<'_>,
        customer_external_id: String,
        #[graphql(
            desc = "The customer's signature; required by storefront keys that verify customers."
        )]
        customer_signature: Option<String>,
    ) -> async_graphql::Result<Vec<Banner>> {
        check_customer(ctx, &customer_external_id, customer_signature.as_deref())?;
        let shelf = shelf_of(ctx, &customer_external_id).await?;
        Ok(shelf
            .banners(state(ctx)?.clock.now())
            .into_iter()
            .map(Banner::from)
            .collect())
    }
}

#[derive(Default)]
pub struct StorefrontMutation;

#[Object]
impl StorefrontMutation {
    /// Hides one of the customer's banners for good.
    #[graphql(guard = "Require::INGEST")]
    async fn dismiss_banner(
        &self,
        ctx: &Context<'_>,
        customer_external_id: String,
        banner_id: ID,
        #[graphql(
            desc = "The customer's signature; required by storefront keys that verify customers."
        )]
        customer_signature: Option<String>,
    ) -> async_graphql::Result<DismissBannerPayload> {
        check_customer(ctx, &customer_external_id, customer_signature.as_deref())?;
        let state = state(ctx)?;
        let result = storefront::dismiss_banner(
            &state.db,
            state.clock.now(),
            &customer_external_id,
            id_arg("bannerId", &banner_id)?,
        )
        .await;
        respond(result.map(Banner::from), "")
    }
}
