//! Parsed operations, kept by their text. Storefronts and admin apps send the same few
//! operations over and over with other variables; parsing one costs more than copying its
//! parsed form. Every other check (limits, validation) still runs on every request.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Operations longer than this are parsed every time (they are rarely repeated verbatim).
const MAX_QUERY_BYTES: usize = 8 * 1024;
/// How many operations are kept; when full, the cache starts over.
const MAX_ENTRIES: usize = 512;

/// The extension; one cache per schema.
#[derive(Default)]
pub struct DocumentCache(Arc<Mutex<HashMap<String, ExecutableDocument>>>);

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentCacheExtension(self.0.clone()))
    }
}

struct DocumentCacheExtension(Arc<Mutex<HashMap<String, ExecutableDocument>>>);

#[async_trait::async_trait]
impl Extension for DocumentCacheExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > MAX_QUERY_BYTES {
            return next.run(ctx, query, variables).await;
        }
        // Every change to the map is one call: a panic elsewhere cannot leave it half-done.
        let lock = || self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(document) = lock().get(query) {
            return Ok(document.clone());
        }
        let document = next.run(ctx, query, variables).await?;
        let mut documents = lock();
        if documents.len() >= MAX_ENTRIES {
            documents.clear();
        }
        documents.insert(query.to_owned(), document.clone());
        Ok(document)
    }
}
