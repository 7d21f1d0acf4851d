//! API keys on the API, and `viewer`: who the caller is.

use super::auth::Require;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::scalars::id_arg;
use crate::clock::from_millis;
use crate::domain::api_keys::{self, Principal, Scope, Verification};
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
    /// Storefront keys: whether customer-specific operations need `customerSignature`.
    pub identity_verification: bool,
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
            identity_verification: m.identity_required,
        }
    }
}

/// A new key and its secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// Send as `Authorization: Bearer <secret>`. It cannot be shown again.
    pub secret: String,
    /// A verifying storefront key's identity secret: the shop's backend signs customers'
    /// external ids with it (hex HMAC-SHA256). Keep it on servers; it cannot be shown again.
    pub identity_secret: Option<String>,
}

/// A storefront key with a new identity secret, shown this once.
#[derive(SimpleObject)]
pub struct KeyIdentity {
    pub api_key: ApiKey,
    pub identity_secret: String,
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
    /// The result of revoking a key, or of turning its verification off.
    ApiKeyPayload, api_key: ApiKey
);
payload!(
    /// The result of turning a storefront key's verification on (or rotating its secret).
    KeyIdentityPayload, identity: KeyIdentity
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
        #[graphql(
            default = true,
            desc = "Storefront keys: whether customer-specific operations need the customer's signature. `false` only for a key that never leaves the shop's servers."
        )]
        identity_verification: bool,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let state = state(ctx)?;
        let verification = Verification::when(identity_verification);
        let result = api_keys::create(
            &state.db,
            state.clock.now(),
            scope.into(),
            &name,
            verification,
        )
        .await;
        respond(
            result.map(|k| CreatedApiKey {
                api_key: k.key.into(),
                secret: k.secret,
                identity_secret: k.identity_secret.map(|s| s.expose().to_owned()),
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

    /// Makes a storefront key verify customers, with a new identity secret shown this once.
    /// On a key that verifies already it rotates the secret: signatures made with the old one
    /// stop working (within a second on other processes).
    async fn enable_identity_verification(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<KeyIdentityPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = api_keys::enable_identity(&state.db, id).await;
        state.keys.refresh(id);
        respond(
            result.map(|(key, secret)| KeyIdentity {
                api_key: key.into(),
                identity_secret: secret.expose().to_owned(),
            }),
            "",
        )
    }

    /// Lets a storefront key act for any customer without signatures: only for a key kept on
    /// the shop's servers.
    async fn disable_identity_verification(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ApiKeyPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = api_keys::disable_identity(&state.db, id).await;
        state.keys.refresh(id);
        respond(result.map(ApiKey::from), "")
    }
}
