//! The share of the database one request may use. Every root field of a request (all the
//! operations of a batch, or of one WebSocket connection) waits for a place in its
//! [`RequestBudget`] before it resolves, so a document of a thousand aliases runs a few at a
//! time instead of taking every pooled connection from everyone else.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
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

/// The extension factory installed on the schema.
pub struct Budget;

impl ExtensionFactory for Budget {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(BudgetExtension)
    }
}

struct BudgetExtension;

#[async_trait::async_trait]
impl Extension for BudgetExtension {
    async fn resolve(
        &self,
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
        let schema = Schema::build(Query(gauge.clone()), EmptyMutation, EmptySubscription)
            .extension(Budget)
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
