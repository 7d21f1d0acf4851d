//! Roles on the API: CRUD with recommended products, and membership of customers.

use super::auth::Require;
use super::catalog::Product;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::loaders::{Loaders, rows_of};
use super::scalars::id_arg;
use crate::clock::from_millis;
use crate::domain::membership::MembershipOutcome;
use crate::domain::roles::{self, RoleInput as DomainRoleInput};
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::role;

/// A named group of customers; storefronts show its recommended products to members.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Role {
    pub id: ID,
    pub name: String,
    /// A stable identifier for integrations: lower-case letters, digits, `_` and `-`.
    pub system_name: String,
    /// Higher comes first when a customer's roles are ordered.
    pub priority: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub row_id: i64,
}

impl From<role::Model> for Role {
    fn from(m: role::Model) -> Self {
        Role {
            id: ID(m.id.to_string()),
            row_id: m.id,
            name: m.name,
            system_name: m.system_name,
            priority: m.priority,
            created_at: from_millis(m.created_at),
            updated_at: from_millis(m.updated_at),
        }
    }
}

#[ComplexObject]
impl Role {
    /// Products this role recommends, in order.
    async fn recommended_products(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Product>> {
        let loaders = ctx.data::<Loaders>()?;
        let products = rows_of(&loaders.role_products, self.row_id).await?;
        Ok(products.into_iter().map(Product::from).collect())
    }
}

/// Fields of a role. On create, `name` and `systemName` are required; on update, omitted
/// fields stay as they are.
#[derive(InputObject)]
pub struct RoleInput {
    pub name: Option<String>,
    pub system_name: Option<String>,
    pub priority: Option<i32>,
    /// External ids of the products to recommend, in order (replaces the list; at most 100).
    pub recommended_products: Option<Vec<String>>,
}

impl From<RoleInput> for DomainRoleInput {
    fn from(i: RoleInput) -> Self {
        DomainRoleInput {
            name: i.name,
            system_name: i.system_name,
            priority: i.priority,
            recommended_products: i.recommended_products,
        }
    }
}

payload!(
    /// The result of creating or updating a role.
    RolePayload, role: Role
);
payload!(
    /// The result of deleting a role: the id it had.
    DeleteRolePayload, deleted_role_id: ID
);
payload!(
    /// The result of a membership change: whether it changed anything.
    MembershipPayload, changed: bool
);

#[derive(Default)]
pub struct RoleQuery;

#[Object]
impl RoleQuery {
    /// Every role, highest priority first.
    #[graphql(guard = "Require::READ")]
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Role>> {
        let state = state(ctx)?;
        let rows = roles::list(&state.db).await.map_err(to_graphql)?;
        Ok(rows.into_iter().map(Role::from).collect())
    }

    #[graphql(guard = "Require::READ")]
    async fn role(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Role>> {
        let state = state(ctx)?;
        let found = roles::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Role::from))
    }
}

#[derive(Default)]
pub struct RoleMutation;

#[Object(guard = "Require::ADMIN")]
impl RoleMutation {
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        input: RoleInput,
    ) -> async_graphql::Result<RolePayload> {
        let state = state(ctx)?;
        let result = roles::create(&state.db, state.clock.now(), input.into()).await;
        respond(result.map(Role::from), "input")
    }

    async fn update_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: RoleInput,
    ) -> async_graphql::Result<RolePayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = roles::update(&state.db, state.clock.now(), id, input.into()).await;
        respond(result.map(Role::from), "input")
    }

    /// Deletes a role; its members lose it.
    async fn delete_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteRolePayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(
            roles::delete(&state.db, &state.bus, state.clock.now(), row_id)
                .await
                .map(|()| id),
            "",
        )
    }

    /// Puts a customer in a role. `changed` is false when they were in it already.
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        role_id: ID,
    ) -> async_graphql::Result<MembershipPayload> {
        let state = state(ctx)?;
        let outcome = roles::assign(
            &state.db,
            &state.bus,
            state.clock.now(),
            id_arg("customerId", &customer_id)?,
            id_arg("roleId", &role_id)?,
        )
        .await;
        respond(outcome.map(|o| o == MembershipOutcome::Changed), "")
    }

    /// Takes a customer out of a role. `changed` is false when they were not in it.
    async fn remove_role(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        role_id: ID,
    ) -> async_graphql::Result<MembershipPayload> {
        let state = state(ctx)?;
        let outcome = roles::remove(
            &state.db,
            &state.bus,
            state.clock.now(),
            id_arg("customerId", &customer_id)?,
            id_arg("roleId", &role_id)?,
        )
        .await;
        respond(outcome.map(|o| o == MembershipOutcome::Changed), "")
    }
}
