//! Segments on the API: previewing what a condition selects.

use super::auth::Require;
use super::conditions::{ConditionInput, to_condition};
use super::context::state;
use super::customers::Customer;
use super::errors::to_graphql;
use crate::clock::to_millis;
use crate::domain::segments::preview;
use crate::error::AppError;
use async_graphql::{Context, Object, SimpleObject};

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
