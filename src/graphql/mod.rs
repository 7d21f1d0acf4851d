//! The GraphQL adapter: one file per domain area, merged into one schema. Resolvers convert
//! arguments, call the domain and convert results; no business rule lives here.

mod actions;
mod api_keys;
mod auth;
pub mod budget;
mod campaigns;
mod catalog;
mod channel;
mod conditions;
mod connection;
mod context;
mod customers;
mod deliveries;
mod documents;
mod errors;
mod events;
mod health;
pub mod limits;
pub mod loaders;
mod membership;
mod money;
pub mod nesting;
mod orders;
mod predicted_carts;
mod roles;
mod scalars;
mod segments;
mod stats;
mod storefront;
mod tags;
mod templates;
mod webhook_messages;
mod webhooks;

use crate::config::ApiLimits;
use crate::state::AppState;
use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};
use std::sync::Arc;

pub use errors::coded;

/// Every query field.
#[derive(MergedObject, Default)]
pub struct Query(
    api_keys::ApiKeyQuery,
    customers::CustomerQuery,
    roles::RoleQuery,
    tags::TagQuery,
    catalog::CatalogQuery,
    orders::OrderQuery,
    events::EventQuery,
    actions::ActionQuery,
    campaigns::CampaignQuery,
    campaigns::CampaignRunQuery,
    templates::TemplateQuery,
    deliveries::DeliveryQuery,
    storefront::StorefrontQuery,
    stats::StatsQuery,
    segments::SegmentQuery,
    webhooks::WebhookQuery,
    predicted_carts::PredictedCartQuery,
    webhook_messages::WebhookMessageQuery,
    health::HealthQuery,
);

/// Every mutation field.
#[derive(MergedObject, Default)]
pub struct Mutation(
    customers::CustomerMutation,
    roles::RoleMutation,
    tags::TagMutation,
    catalog::CatalogMutation,
    orders::OrderMutation,
    api_keys::ApiKeyMutation,
    events::EventMutation,
    actions::ActionMutation,
    campaigns::CampaignMutation,
    campaigns::CampaignRunMutation,
    templates::TemplateMutation,
    deliveries::DeliveryMutation,
    storefront::StorefrontMutation,
    segments::SegmentMutation,
    webhooks::WebhookMutation,
    predicted_carts::PredictedCartMutation,
    webhook_messages::WebhookMessageMutation,
);

/// Every subscription field.
#[derive(MergedSubscription, Default)]
pub struct Subscription(membership::MembershipSubscription);

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .limit_recursive_depth(64)
    .limit_directives(16)
}

/// Builds the schema for a running server, with its limits.
pub fn build_schema(state: AppState, limits: Arc<ApiLimits>) -> AppSchema {
    let mut builder = builder()
        .data(state)
        // Also holds each request's root fields to its connection budget.
        .extension(limits::Limits(limits.clone()))
        // Inside the limits: a document from the cache is checked like a freshly parsed one.
        .extension(documents::DocumentCache::default());
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
/// What every operation carries besides its document: the request's connection budget
/// (shared by the operations of one HTTP request), the caller, and fresh loaders.
pub fn operation_data(
    state: &AppState,
    budget: &budget::RequestBudget,
    principal: Option<&crate::domain::api_keys::Principal>,
    data: &mut async_graphql::Data,
) {
    data.insert(budget.clone());
    if let Some(p) = principal {
        data.insert(p.clone());
    }
    data.insert(loaders::Loaders::new(
        &state.db,
        state.settings.store.time_zone,
    ));
}

pub fn sdl() -> String {
    builder().finish().sdl()
}
