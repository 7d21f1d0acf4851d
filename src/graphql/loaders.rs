//! Request-scoped DataLoaders: one query for the roles (or tags) of every customer on a page.
//! A loader is created per request, never kept in schema data, so nothing is cached across
//! callers.

use crate::domain::{roles, tags};
use crate::error::AppError;
use async_graphql::dataloader::{DataLoader, Loader};
use entity::{product, role};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::Arc;

/// Loader errors are shared between the fields that awaited the same batch.
pub type LoadError = Arc<AppError>;

/// customer id → roles.
pub struct CustomerRoles(pub DatabaseConnection);
/// customer id → tags with values.
pub struct CustomerTags(pub DatabaseConnection);
/// role id → recommended products.
pub struct RoleProducts(pub DatabaseConnection);

impl Loader<i64> for CustomerRoles {
    type Value = Vec<role::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        roles::roles_of_customers(&self.0, keys)
            .await
            .map_err(Arc::new)
    }
}

impl Loader<i64> for CustomerTags {
    type Value = Vec<tags::CustomerTag>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        tags::tags_of_customers(&self.0, keys)
            .await
            .map_err(Arc::new)
    }
}

impl Loader<i64> for RoleProducts {
    type Value = Vec<product::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        roles::products_of_roles(&self.0, keys)
            .await
            .map_err(Arc::new)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub customer_roles: DataLoader<CustomerRoles>,
    pub customer_tags: DataLoader<CustomerTags>,
    pub role_products: DataLoader<RoleProducts>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            customer_roles: DataLoader::new(CustomerRoles(db.clone()), tokio::spawn),
            customer_tags: DataLoader::new(CustomerTags(db.clone()), tokio::spawn),
            role_products: DataLoader::new(RoleProducts(db.clone()), tokio::spawn),
        }
    }
}

/// Turns a shared loader error into a GraphQL error (logging an internal cause once).
pub fn load_error(err: LoadError) -> async_graphql::Error {
    match Arc::try_unwrap(err) {
        Ok(err) => super::errors::to_graphql(err),
        Err(shared) => super::errors::to_graphql(AppError::internal(shared.to_string())),
    }
}
