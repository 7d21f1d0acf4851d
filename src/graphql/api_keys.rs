//! API keys on the API, and `viewer`: who the caller is.

use super::auth::Require;
use super::errors::{payload, respond, to_graphql};
use super::scalars::id_arg;
use super::state;
use crate::clock::from_millis;
use crate::domain::api_keys::{self, Principal, Scope};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::api_key;

/// What a key may do.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "ApiKeyScope")]
pub enum KeyScope {
    /// Everything.
    Admin,
    /// Storefront operations only.
    Storefront,
    /// Reads and subscriptions.
    Integrator,
}

impl From<KeyScope> for Scope {
    fn from(s: KeyScope) -> Self {
        match s {
            KeyScope::Admin => Scope::Admin,
            KeyScope::Storefront => Scope::Storefront,
            KeyScope::Integrator => Scope::Integrator,
        }
    }
}

impl From<Scope> for KeyScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Admin => KeyScope::Admin,
            Scope::Storefront => KeyScope::Storefront,
            Scope::Integrator => KeyScope::Integrator,
        }
    }
}

/// An API key; its secret is never shown after creation.
#[derive(SimpleObject)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    pub scope: KeyScope,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKey {
    fn from(m: api_key::Model) -> Self {
        ApiKey {
            id: ID(m.id.to_string()),
            scope: m
                .scope
                .parse::<Scope>()
                .map(KeyScope::from)
                .unwrap_or(KeyScope::Storefront),
            name: m.name,
            prefix: m.prefix,
            created_at: from_millis(m.created_at),
            last_used_at: m.last_used_at.map(from_millis),
            revoked_at: m.revoked_at.map(from_millis),
        }
    }
}

/// A new key and its secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// Send as `Authorization: Bearer <secret>`. It cannot be shown again.
    pub secret: String,
}

/// The caller.
#[derive(SimpleObject)]
pub struct Viewer {
    pub key_id: ID,
    pub key_name: String,
    pub scope: KeyScope,
}

payload!(
    /// The result of creating a key.
    CreateApiKeyPayload, created: CreatedApiKey
);
payload!(
    /// The result of revoking a key.
    ApiKeyPayload, api_key: ApiKey
);

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The key this request was made with.
    #[graphql(guard = "Require::ANY")]
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let principal = ctx.data::<Principal>()?;
        Ok(Viewer {
            key_id: ID(principal.key_id.to_string()),
            key_name: principal.key_name.clone(),
            scope: principal.scope.into(),
        })
    }

    /// Every key, newest first.
    #[graphql(guard = "Require::ADMIN")]
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let state = state(ctx)?;
        let keys = api_keys::list(&state.db).await.map_err(to_graphql)?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object(guard = "Require::ADMIN")]
impl ApiKeyMutation {
    /// Creates a key; the secret is in the payload and is never shown again.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        scope: KeyScope,
        name: String,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let state = state(ctx)?;
        let result = api_keys::create(&state.db, state.clock.now(), scope.into(), &name).await;
        respond(
            result.map(|k| CreatedApiKey {
                api_key: k.key.into(),
                secret: k.secret,
            }),
            "",
        )
    }

    /// Revokes a key; requests with it fail from now on.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = api_keys::revoke(&state.db, state.clock.now(), id).await;
        if result.is_ok() {
            state.keys.forget(id);
        }
        respond(result.map(ApiKey::from), "")
    }
}
