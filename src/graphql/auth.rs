//! Scope checks on the GraphQL surface. The HTTP and WebSocket layers put the caller's
//! [`Principal`] into the request (or connection) data; guards read it.

use super::errors::coded;
use crate::domain::api_keys::{Principal, Scope};
use crate::error::ErrorCode;
use async_graphql::{Context, Guard};

/// Allows a field to callers whose key has one of the listed scopes.
pub struct Require(&'static [Scope]);

impl Require {
    /// Admin keys only.
    pub const ADMIN: Require = Require(&[Scope::Admin]);
    /// Admin and integrator keys: reads across customers.
    pub const READ: Require = Require(&[Scope::Admin, Scope::Integrator]);
    /// Admin and storefront keys: reporting what customers do.
    pub const INGEST: Require = Require(&[Scope::Admin, Scope::Storefront]);
    /// Any valid key.
    pub const ANY: Require = Require(&[Scope::Admin, Scope::Integrator, Scope::Storefront]);
}

impl Guard for Require {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match ctx.data_opt::<Principal>() {
            None => Err(coded(
                ErrorCode::Unauthenticated,
                "an API key is required: send `Authorization: Bearer <key>`",
            )),
            Some(principal) if self.0.contains(&principal.scope) => Ok(()),
            Some(principal) => Err(coded(
                ErrorCode::Forbidden,
                format!("a {} key may not use this field", principal.scope.as_str()),
            )),
        }
    }
}

/// Whether the caller may read or write the customer the shop knows by `external_id`: a
/// storefront key that verifies customers needs the customer's `signature`
/// ([`Principal::check_customer`]); `FORBIDDEN` otherwise.
pub fn check_customer(
    ctx: &Context<'_>,
    external_id: &str,
    signature: Option<&str>,
) -> async_graphql::Result<()> {
    match ctx.data_opt::<Principal>() {
        Some(principal) => principal
            .check_customer(external_id, signature)
            .map_err(super::errors::to_graphql),
        // Guards run first: without a key nothing reaches this.
        None => Ok(()),
    }
}

/// Which webhook endpoints the caller manages: an admin every one, any other key its own.
pub fn webhook_access(ctx: &Context<'_>) -> crate::domain::webhooks::endpoints::Access {
    use crate::domain::webhooks::endpoints::Access;
    match ctx.data_opt::<Principal>() {
        Some(p) if p.scope != Scope::Admin => Access::Key(p.key_id),
        _ => Access::All,
    }
}
