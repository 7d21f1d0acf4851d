//! Tags on the API: CRUD, and setting or removing a tag (with a value) on a customer.

use super::auth::Require;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::roles::MembershipPayload;
use super::scalars::id_arg;
use crate::clock::from_millis;
use crate::domain::membership::MembershipOutcome;
use crate::domain::tags::{self, CustomerTag};
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::tag;

/// A label that can be put on customers.
#[derive(SimpleObject, Clone)]
pub struct Tag {
    pub id: ID,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<tag::Model> for Tag {
    fn from(m: tag::Model) -> Self {
        Tag {
            id: ID(m.id.to_string()),
            name: m.name,
            created_at: from_millis(m.created_at),
            updated_at: from_millis(m.updated_at),
        }
    }
}

/// A tag on one customer, with its optional value.
#[derive(SimpleObject)]
pub struct AppliedTag {
    pub tag: Tag,
    /// The tag's name (the same as `tag.name`).
    pub name: String,
    pub value: Option<String>,
    pub set_at: DateTime<Utc>,
}

impl From<CustomerTag> for AppliedTag {
    fn from(t: CustomerTag) -> Self {
        AppliedTag {
            name: t.tag.name.clone(),
            tag: Tag::from(t.tag),
            value: t.value,
            set_at: from_millis(t.set_at),
        }
    }
}

payload!(
    /// The result of creating or renaming a tag.
    TagPayload, tag: Tag
);
payload!(
    /// The result of deleting a tag: the id it had.
    DeleteTagPayload, deleted_tag_id: ID
);

#[derive(Default)]
pub struct TagQuery;

#[Object]
impl TagQuery {
    /// Every tag, by name.
    #[graphql(guard = "Require::READ")]
    async fn tags(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Tag>> {
        let state = state(ctx)?;
        let rows = tags::list(&state.db).await.map_err(to_graphql)?;
        Ok(rows.into_iter().map(Tag::from).collect())
    }

    #[graphql(guard = "Require::READ")]
    async fn tag(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Tag>> {
        let state = state(ctx)?;
        let found = tags::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Tag::from))
    }
}

#[derive(Default)]
pub struct TagMutation;

#[Object(guard = "Require::ADMIN")]
impl TagMutation {
    /// Creates a tag; names are unique (at most 64 characters).
    async fn create_tag(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<TagPayload> {
        let state = state(ctx)?;
        let result = tags::create(&state.db, state.clock.now(), &name).await;
        respond(result.map(Tag::from), "")
    }

    async fn rename_tag(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: String,
    ) -> async_graphql::Result<TagPayload> {
        let state = state(ctx)?;
        let result = tags::rename(&state.db, state.clock.now(), id_arg("id", &id)?, &name).await;
        respond(result.map(Tag::from), "")
    }

    /// Deletes a tag and takes it off every customer.
    async fn delete_tag(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteTagPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(
            tags::delete(&state.db, &state.bus, state.clock.now(), row_id)
                .await
                .map(|()| id),
            "",
        )
    }

    /// Sets a tag on a customer, with an optional value (`vip=reviewed`). `changed` is false
    /// when the customer had the tag with that value already.
    async fn set_customer_tag(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        tag_id: ID,
        value: Option<String>,
    ) -> async_graphql::Result<MembershipPayload> {
        let state = state(ctx)?;
        let outcome = tags::set_on_customer(
            &state.db,
            &state.bus,
            state.clock.now(),
            id_arg("customerId", &customer_id)?,
            id_arg("tagId", &tag_id)?,
            value,
        )
        .await;
        respond(outcome.map(|o| o == MembershipOutcome::Changed), "")
    }

    /// Takes a tag off a customer. `changed` is false when they did not have it.
    async fn remove_customer_tag(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
        tag_id: ID,
    ) -> async_graphql::Result<MembershipPayload> {
        let state = state(ctx)?;
        let outcome = tags::remove_from_customer(
            &state.db,
            &state.bus,
            state.clock.now(),
            id_arg("customerId", &customer_id)?,
            id_arg("tagId", &tag_id)?,
        )
        .await;
        respond(outcome.map(|o| o == MembershipOutcome::Changed), "")
    }
}
