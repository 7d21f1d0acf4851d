//! Refuses requests that nest too deeply, are too deep or too complex, introspective while
//! introspection is off, or that mutate over GET — each with an `extensions.code`, before
//! anything runs. Nesting is measured on the text before the parser (which recurses) sees it.

use super::nesting;
use crate::config::ApiLimits;
use crate::error::ErrorCode;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Request data marking an operation that arrived over HTTP GET.
#[derive(Clone, Copy, Debug)]
pub struct ArrivedOverGet;

/// The extension factory installed on the schema.
pub struct Limits(pub Arc<ApiLimits>);

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension {
            limits: self.0.clone(),
            only_introspection: AtomicBool::new(false),
        })
    }
}

/// How deep a document that asks only about the schema may go: GraphiQL's introspection
/// query reaches 15 levels through its nested type references (the schema bounds it; the
/// complexity limit still applies).
const INTROSPECTION_DEPTH: usize = 20;

struct LimitsExtension {
    limits: Arc<ApiLimits>,
    /// The request's document selects nothing but `__schema`, `__type` and `__typename`.
    only_introspection: AtomicBool,
}

/// A request-level error carrying `code` in its extensions.
pub(crate) fn refusal(code: ErrorCode, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}

#[async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let limit = self.limits.max_nesting;
        if nesting::graphql_depth(query, limit).is_err() {
            return Err(refusal(
                ErrorCode::LimitExceeded,
                format!("the document nests brackets more than {limit} levels deep"),
            ));
        }
        // Each variable is one level below the variables object.
        if variables
            .values()
            .any(|value| nesting::value_depth(value, limit.saturating_sub(1)).is_err())
        {
            return Err(refusal(
                ErrorCode::LimitExceeded,
                format!("the variables nest more than {limit} levels deep"),
            ));
        }
        let document = next.run(ctx, query, variables).await?;
        if ctx.data_opt::<ArrivedOverGet>().is_some()
            && document
                .operations
                .iter()
                .any(|(_, op)| op.node.ty != OperationType::Query)
        {
            return Err(refusal(
                ErrorCode::BadRequest,
                "mutations and subscriptions are not accepted over GET; use POST".into(),
            ));
        }
        self.only_introspection
            .store(only_introspection(&document), Ordering::Relaxed);
        if !self.limits.introspection && asks_for_introspection(&document) {
            return Err(refusal(
                ErrorCode::Forbidden,
                "introspection is disabled on this server".into(),
            ));
        }
        Ok(document)
    }

    /// Root fields wait for a place in the request's budget (one extension does both, so a
    /// field pays for one extension hook, not two).
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<async_graphql::Value>> {
        super::budget::resolve_within_budget(ctx, info, next).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let max_depth = if self.only_introspection.load(Ordering::Relaxed) {
            self.limits.max_depth.max(INTROSPECTION_DEPTH)
        } else {
            self.limits.max_depth
        };
        if result.depth > max_depth {
            return Err(vec![refusal(
                ErrorCode::LimitExceeded,
                format!(
                    "the query is nested {} levels deep; the limit is {max_depth}",
                    result.depth
                ),
            )]);
        }
        if result.complexity > self.limits.max_complexity {
            return Err(vec![refusal(
                ErrorCode::LimitExceeded,
                format!(
                    "the query's complexity is {}; the limit is {}",
                    result.complexity, self.limits.max_complexity
                ),
            )]);
        }
        Ok(result)
    }
}

/// Whether any operation selects `__schema` or `__type` at its root (directly, or through
/// fragments).
fn asks_for_introspection(document: &ExecutableDocument) -> bool {
    document
        .operations
        .iter()
        .any(|(_, op)| selects_introspection(document, &op.node.selection_set.node, 0))
}

/// Whether every operation selects only `__schema`, `__type` and `__typename` at its root
/// (directly, or through fragments).
fn only_introspection(document: &ExecutableDocument) -> bool {
    fn only(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
        depth <= 8
            && set.items.iter().all(|item| match &item.node {
                Selection::Field(field) => matches!(
                    field.node.name.node.as_str(),
                    "__schema" | "__type" | "__typename"
                ),
                Selection::InlineFragment(fragment) => {
                    only(document, &fragment.node.selection_set.node, depth + 1)
                }
                Selection::FragmentSpread(spread) => document
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| only(document, &f.node.selection_set.node, depth + 1)),
            })
    }
    document
        .operations
        .iter()
        .all(|(_, op)| only(document, &op.node.selection_set.node, 0))
}

fn selects_introspection(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "__schema" | "__type")
        }
        Selection::InlineFragment(fragment) => {
            selects_introspection(document, &fragment.node.selection_set.node, depth + 1)
        }
        Selection::FragmentSpread(spread) => document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|f| {
                selects_introspection(document, &f.node.selection_set.node, depth + 1)
            }),
    })
}
