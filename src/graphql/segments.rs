//! Segments on the API: CRUD, members, and previewing what a condition selects.

use super::auth::Require;
use super::conditions::{ConditionInput, to_condition};
use super::connection::{connection, page_request};
use super::context::state;
use super::customers::Customer;
use super::errors::{payload, respond, to_graphql};
use super::scalars::{id_arg, to_change};
use crate::clock::{from_millis, to_millis};
use crate::domain::segments::{
    self, Segment as DomainSegment, SegmentInput as DomainInput, history, preview,
};
use crate::domain::stats::read::Range;
use crate::error::AppError;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

/// A customer group defined by a condition over customer facts, with its members kept current
/// as facts change, time passes and the definition changes. Every join and leave is a
/// `SEGMENT_JOINED` / `SEGMENT_LEFT` change in `membershipChanges`, with its reason.
pub struct Segment(pub DomainSegment);

#[Object]
impl Segment {
    async fn id(&self) -> ID {
        ID(self.0.id().to_string())
    }

    async fn name(&self) -> &str {
        &self.0.model.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.model.description.as_deref()
    }

    /// The condition, as JSON in the shape of `ConditionInput` (amounts in minor units).
    async fn condition(&self) -> async_graphql::Result<Json<serde_json::Value>> {
        Ok(Json(serde_json::to_value(&self.0.condition)?))
    }

    /// How many customers are members now.
    async fn member_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let state = state(ctx)?;
        let n = segments::member_count(&state.db, self.0.id())
            .await
            .map_err(to_graphql)?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// The members, by customer id. At most 100 per page.
    #[graphql(complexity = "super::connection::cost(first, last, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<String, Customer>> {
        let state = state(ctx)?;
        let page = page_request(first, after, last, before)?;
        let rows = segments::members_page(&state.db, self.0.id(), page)
            .await
            .map_err(to_graphql)?;
        let currency = state.settings.store.currency.clone();
        Ok(connection(
            rows,
            |c| c.id,
            |c| Customer::from_model(c, &currency),
        ))
    }

    /// The member count at the end of each day from `from` to `to` (the store's time zone;
    /// the last 30 days by default, at most 400), with the joins and leaves of the day.
    async fn count_history(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> async_graphql::Result<Vec<SegmentDay>> {
        let state = state(ctx)?;
        let tz = state.settings.store.time_zone;
        let range = Range::asked(from, to, to_millis(state.clock.now()), tz).map_err(to_graphql)?;
        let days = history::count_history(&state.db, self.0.id(), range, tz)
            .await
            .map_err(to_graphql)?;
        Ok(days
            .into_iter()
            .map(|d| SegmentDay {
                date: d.date,
                members: d.members,
                joined: d.joined,
                left: d.left,
            })
            .collect())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.created_at)
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.updated_at)
    }
}

/// One day of a segment's history.
#[derive(SimpleObject)]
pub struct SegmentDay {
    pub date: NaiveDate,
    /// Members at the end of the day.
    pub members: i64,
    /// Customers who joined that day.
    pub joined: i64,
    /// Customers who left that day.
    pub left: i64,
}

/// What a segment is made of; on update, omitted fields stay as they are.
#[derive(InputObject)]
pub struct SegmentInput {
    /// Unique, at most 100 characters.
    pub name: Option<String>,
    /// At most 2,000 characters; `null` clears it.
    pub description: MaybeUndefined<String>,
    /// About customer facts only: a condition about an event (its items, order total, order
    /// number, payment method, URL) or the cart's items is refused with its path. May name
    /// other segments (`inSegment`), never itself through them.
    pub condition: Option<ConditionInput>,
}

fn to_domain(input: SegmentInput, currency: &str) -> Result<DomainInput, AppError> {
    let mut violations = Vec::new();
    let condition = input
        .condition
        .map(|c| to_condition(c, currency, &["condition".to_owned()], &mut violations));
    if !violations.is_empty() {
        return Err(AppError::Invalid(violations));
    }
    Ok(DomainInput {
        name: input.name,
        description: to_change(input.description),
        condition,
    })
}

payload!(
    /// The result of creating or updating a segment.
    SegmentPayload, segment: Segment
);
payload!(
    /// The result of deleting a segment: the id it had.
    DeleteSegmentPayload, deleted_segment_id: ID
);

#[derive(Default)]
pub struct SegmentMutation;

#[Object(guard = "Require::ADMIN")]
impl SegmentMutation {
    /// Creates a segment and builds its membership now: every customer who matches joins
    /// (reason `definition`).
    async fn create_segment(
        &self,
        ctx: &Context<'_>,
        input: SegmentInput,
    ) -> async_graphql::Result<SegmentPayload> {
        let state = state(ctx)?;
        let result = match to_domain(input, &state.settings.store.currency) {
            Ok(input) => segments::create(&state.db, &state.bus, state.clock.now(), input).await,
            Err(e) => Err(e),
        };
        respond(result.map(Segment), "input")
    }

    /// Changes a segment. A new condition rebuilds its membership (and that of the segments
    /// that name it): only the difference is written, as joins and leaves (reason
    /// `definition`).
    async fn update_segment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SegmentInput,
    ) -> async_graphql::Result<SegmentPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = match to_domain(input, &state.settings.store.currency) {
            Ok(input) => {
                segments::update(&state.db, &state.bus, state.clock.now(), id, input).await
            }
            Err(e) => Err(e),
        };
        respond(result.map(Segment), "input")
    }

    /// Deletes a segment: every member leaves (reason `deleted`), and the segments that name
    /// it follow.
    async fn delete_segment(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteSegmentPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        let result = segments::delete(&state.db, &state.bus, state.clock.now(), row_id).await;
        respond(result.map(|()| id), "")
    }
}

/// What a condition selects now.
#[derive(SimpleObject)]
pub struct SegmentPreview {
    /// How many customers it holds for.
    pub member_count: i64,
    /// The first of them by id, at most 20.
    pub members: Vec<Customer>,
}

#[derive(Default)]
pub struct SegmentQuery;

#[Object]
impl SegmentQuery {
    /// Every segment, by name.
    #[graphql(guard = "Require::READ")]
    async fn segments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Segment>> {
        let state = state(ctx)?;
        let rows = segments::list(&state.db).await.map_err(to_graphql)?;
        Ok(rows.into_iter().map(Segment).collect())
    }

    #[graphql(guard = "Require::READ")]
    async fn segment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Segment>> {
        let state = state(ctx)?;
        let found = segments::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Segment))
    }

    /// How many customers `condition` holds for now, and the first 20, without saving
    /// anything. Only conditions about a customer's own facts can define a group: one about
    /// an event (its items, order total, order number, payment method, URL) or the items of
    /// the cart is refused (`VALIDATION`, with the path of the part in `extensions.fields`).
    #[graphql(guard = "Require::READ")]
    async fn preview_segment(
        &self,
        ctx: &Context<'_>,
        condition: ConditionInput,
    ) -> async_graphql::Result<SegmentPreview> {
        let state = state(ctx)?;
        let currency = &state.settings.store.currency;
        let field = vec!["condition".to_owned()];
        let mut violations = Vec::new();
        let condition = to_condition(condition, currency, &field, &mut violations);
        if !violations.is_empty() {
            return Err(to_graphql(AppError::Invalid(violations)));
        }
        let now_ms = to_millis(state.clock.now());
        let found = preview::preview(&state.db, &condition, now_ms, &field)
            .await
            .map_err(to_graphql)?;
        Ok(SegmentPreview {
            member_count: found.member_count,
            members: found
                .members
                .into_iter()
                .map(|m| Customer::from_model(m, currency))
                .collect(),
        })
    }
}
