//! Request-scoped DataLoaders: one query for the rows of every parent on a page — the roles,
//! tags, cart and orders of each customer, the lines of each order, the attempts and tracking
//! events of each delivery, the locales of each template, the log of each run. A loader is
//! created per request, never kept in schema data, so nothing is cached across callers.

use crate::domain::deliveries::query;
use crate::domain::stats::Scope;
use crate::domain::stats::read::{self, Basis, Range, Tally};
use crate::domain::storefront::shelves::Shelf;
use crate::domain::{campaigns, customers, orders, roles, tags, templates, webhooks};
use crate::error::AppError;
use async_graphql::dataloader::{DataLoader, Loader};
use chrono_tz::Tz;
use entity::{
    campaign_run_step, cart_line, delivery_attempt, delivery_event, order, order_credit,
    order_line, product, role, template_locale, webhook_attempt,
};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::Arc;

/// Loader errors are shared between the fields that awaited the same batch.
pub type LoadError = Arc<AppError>;

/// A loader from a parent's id to its rows, answered by one domain query for the batch.
macro_rules! rows_by_parent {
    ($(#[$doc:meta])* $name:ident => $value:ty, $load:path) => {
        $(#[$doc])*
        pub struct $name(pub DatabaseConnection);

        impl Loader<i64> for $name {
            type Value = $value;
            type Error = LoadError;

            async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
                $load(&self.0, keys).await.map_err(Arc::new)
            }
        }
    };
}

rows_by_parent!(
    /// customer id → roles.
    CustomerRoles => Vec<role::Model>, roles::roles_of_customers
);
rows_by_parent!(
    /// customer id → tags with values.
    CustomerTags => Vec<tags::CustomerTag>, tags::tags_of_customers
);
rows_by_parent!(
    /// role id → recommended products.
    RoleProducts => Vec<product::Model>, roles::products_of_roles
);
rows_by_parent!(
    /// customer id → cart lines with their products.
    CustomerCarts => Vec<(cart_line::Model, product::Model)>, customers::carts_of
);
rows_by_parent!(
    /// order id → lines with their products.
    OrderLines => Vec<(order_line::Model, Option<product::Model>)>, orders::lines_of
);
rows_by_parent!(
    /// order id → the credit it was given (none or one).
    OrderCredits => Vec<order_credit::Model>, orders::credit::credits_of
);
rows_by_parent!(
    /// delivery id → attempts.
    DeliveryAttempts => Vec<delivery_attempt::Model>, query::attempts_of
);
rows_by_parent!(
    /// delivery id → tracking events.
    DeliveryEvents => Vec<delivery_event::Model>, query::events_of
);
rows_by_parent!(
    /// template id → locale variants.
    TemplateLocales => Vec<template_locale::Model>, templates::locales_of
);
rows_by_parent!(
    /// customer id → replenishment due items with their products.
    CustomerReplenishment => Vec<orders::replenishment::DueItem>, orders::replenishment::items_of
);
rows_by_parent!(
    /// webhook message id → attempts.
    WebhookAttempts => Vec<webhook_attempt::Model>, webhooks::messages::attempts_of
);
rows_by_parent!(
    /// run id → log lines.
    RunLogs => Vec<campaign_run_step::Model>, campaigns::run_logs
);

/// What statistics one scope is read for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TallyKey {
    pub scope: Scope,
    pub range: Range,
    pub basis: Basis,
    /// Per day, or only over the whole range.
    pub by_day: bool,
}

/// (scope, range, basis) → its figures. The scopes a request asks for at once with the same
/// range and basis — say every campaign of a list with its steps — are read together.
pub struct Tallies {
    db: DatabaseConnection,
    tz: Tz,
}

impl Loader<TallyKey> for Tallies {
    type Value = Tally;
    type Error = LoadError;

    async fn load(&self, keys: &[TallyKey]) -> Result<HashMap<TallyKey, Tally>, Self::Error> {
        // Per (range, basis): the scopes asked for by day, and those asked for whole only.
        type Asked = (Vec<Scope>, Vec<Scope>);
        let mut asked: HashMap<(Range, Basis), Asked> = HashMap::new();
        for key in keys {
            let (daily, whole) = asked.entry((key.range, key.basis)).or_default();
            if key.by_day {
                daily.push(key.scope.clone());
            } else {
                whole.push(key.scope.clone());
            }
        }
        let mut found = HashMap::with_capacity(keys.len());
        for ((range, basis), (daily, mut whole)) in asked {
            // A scope asked for both ways is read by day: its totals are the same.
            whole.retain(|s| !daily.contains(s));
            let tallies = read::tallies(&self.db, &daily, &whole, range, basis, self.tz)
                .await
                .map_err(Arc::new)?;
            for key in keys.iter().filter(|k| k.range == range && k.basis == basis) {
                let tally = tallies.get(&key.scope).cloned().unwrap_or_default();
                found.insert(key.clone(), tally);
            }
        }
        Ok(found)
    }
}

/// (customer id, how many) → the customer's latest orders. Keys of one batch usually ask for
/// the same number; each number asked for is one query.
pub struct CustomerOrders(pub DatabaseConnection);

impl Loader<(i64, u64)> for CustomerOrders {
    type Value = Vec<order::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[(i64, u64)],
    ) -> Result<HashMap<(i64, u64), Self::Value>, Self::Error> {
        let mut by_limit: HashMap<u64, Vec<i64>> = HashMap::new();
        for (customer_id, limit) in keys {
            by_limit.entry(*limit).or_default().push(*customer_id);
        }
        let mut found = HashMap::new();
        for (limit, customer_ids) in by_limit {
            let orders = orders::recent_of_customers(&self.0, &customer_ids, limit)
                .await
                .map_err(Arc::new)?;
            found.extend(orders.into_iter().map(|(id, rows)| ((id, limit), rows)));
        }
        Ok(found)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub customer_roles: DataLoader<CustomerRoles>,
    pub customer_tags: DataLoader<CustomerTags>,
    pub role_products: DataLoader<RoleProducts>,
    pub customer_carts: DataLoader<CustomerCarts>,
    pub customer_orders: DataLoader<CustomerOrders>,
    pub order_lines: DataLoader<OrderLines>,
    pub order_credits: DataLoader<OrderCredits>,
    pub delivery_attempts: DataLoader<DeliveryAttempts>,
    pub delivery_events: DataLoader<DeliveryEvents>,
    pub template_locales: DataLoader<TemplateLocales>,
    pub run_logs: DataLoader<RunLogs>,
    pub webhook_attempts: DataLoader<WebhookAttempts>,
    pub customer_replenishment: DataLoader<CustomerReplenishment>,
    /// The figures of each scope asked for, a read for all scopes of one range and basis.
    pub tallies: DataLoader<Tallies>,
    /// The storefront shelf of each customer this request read, so its fields (say
    /// `recommendations` and `banners`, resolved at once) read it once and see the same.
    pub shelves: tokio::sync::Mutex<HashMap<String, Arc<Shelf>>>,
}

impl Loaders {
    /// The loaders of one request; statistics days are cut in `tz`, the store's zone.
    pub fn new(db: &DatabaseConnection, tz: Tz) -> Self {
        let db = || db.clone();
        Self {
            tallies: DataLoader::new(Tallies { db: db(), tz }, tokio::spawn),
            customer_roles: DataLoader::new(CustomerRoles(db()), tokio::spawn),
            customer_tags: DataLoader::new(CustomerTags(db()), tokio::spawn),
            role_products: DataLoader::new(RoleProducts(db()), tokio::spawn),
            customer_carts: DataLoader::new(CustomerCarts(db()), tokio::spawn),
            customer_orders: DataLoader::new(CustomerOrders(db()), tokio::spawn),
            order_lines: DataLoader::new(OrderLines(db()), tokio::spawn),
            order_credits: DataLoader::new(OrderCredits(db()), tokio::spawn),
            delivery_attempts: DataLoader::new(DeliveryAttempts(db()), tokio::spawn),
            delivery_events: DataLoader::new(DeliveryEvents(db()), tokio::spawn),
            template_locales: DataLoader::new(TemplateLocales(db()), tokio::spawn),
            run_logs: DataLoader::new(RunLogs(db()), tokio::spawn),
            webhook_attempts: DataLoader::new(WebhookAttempts(db()), tokio::spawn),
            customer_replenishment: DataLoader::new(CustomerReplenishment(db()), tokio::spawn),
            shelves: tokio::sync::Mutex::default(),
        }
    }
}

/// The rows `loader` has for `key` (none when it has no entry).
pub async fn rows_of<L, K, V>(loader: &DataLoader<L>, key: K) -> async_graphql::Result<Vec<V>>
where
    L: Loader<K, Value = Vec<V>, Error = LoadError>,
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
{
    Ok(loader
        .load_one(key)
        .await
        .map_err(load_error)?
        .unwrap_or_default())
}

/// Turns a shared loader error into a GraphQL error (logging an internal cause once).
pub fn load_error(err: LoadError) -> async_graphql::Error {
    match Arc::try_unwrap(err) {
        Ok(err) => super::errors::to_graphql(err),
        Err(shared) => super::errors::to_graphql(AppError::internal(shared.to_string())),
    }
}
