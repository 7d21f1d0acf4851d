//! The share of the database one request may use. Every root field of a request (all the
//! operations of a batch, or one WebSocket operation) waits for a place in its
//! [`RequestBudget`] before it resolves, so a document of a thousand aliases runs a few at a
//! time instead of taking every pooled connection from everyone else.

use async_graphql::extensions::{ExtensionContext, NextResolve, ResolveInfo};
use async_graphql::{ServerResult, Value};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Places for root fields resolving at once, shared by one request.
#[derive(Clone)]
pub struct RequestBudget(Arc<Semaphore>);

impl RequestBudget {
    /// A budget of `places` root fields at once (at least one).
    pub fn new(places: usize) -> Self {
        Self(Arc::new(Semaphore::new(places.max(1))))
    }
}

/// Resolves a field, first waiting for a place in the request's budget when it is a root
/// field (the [`limits`](super::limits) extension calls this for every field).
pub async fn resolve_within_budget(
    ctx: &ExtensionContext<'_>,
    info: ResolveInfo<'_>,
    next: NextResolve<'_>,
) -> ServerResult<Option<Value>> {
    let budget = match ctx.data_opt::<RequestBudget>() {
        Some(budget) if info.path_node.parent.is_none() => budget.clone(),
        _ => return next.run(ctx, info).await,
    };
    // The semaphore is never closed, so acquiring fails only if it were.
    let _place = budget.0.acquire_owned().await.ok();
    next.run(ctx, info).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Request, Schema};
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    struct Query(Arc<Gauge>);

    #[Object]
    impl Query {
        async fn slow(&self) -> i32 {
            let now = self.0.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.0.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.0.now.fetch_sub(1, Ordering::SeqCst);
            1
        }
    }

    async fn most_at_once(budget: Option<RequestBudget>) -> usize {
        let gauge = Arc::new(Gauge::default());
        let limits = crate::config::Settings::from_lookup(|_| None)
            .expect("defaults")
            .limits;
        let schema = Schema::build(Query(gauge.clone()), EmptyMutation, EmptySubscription)
            .extension(super::super::limits::Limits(Arc::new(limits)))
            .finish();
        let aliases: String = (0..40).map(|i| format!(" a{i}: slow")).collect();
        let mut request = Request::new(format!("{{{aliases} }}"));
        if let Some(budget) = budget {
            request = request.data(budget);
        }
        let response = schema.execute(request).await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        gauge.most.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn root_fields_of_one_request_resolve_at_most_budget_at_a_time() {
        assert_eq!(most_at_once(Some(RequestBudget::new(2))).await, 2);
        assert_eq!(most_at_once(None).await, 40);
    }
}
