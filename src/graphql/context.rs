//! What every resolver takes from its request: the application state.

use crate::state::AppState;
use async_graphql::Context;

/// The application state of a resolver's request.
pub(crate) fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
}
