//! Relay connections: opaque cursors and the bridge to the domain's keyset pages.

use super::errors::{coded, to_graphql};
use crate::domain::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
use crate::error::ErrorCode;
use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge};
use base64::Engine;

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The opaque cursor of the row with `id`.
pub fn encode_cursor(id: i64) -> String {
    ENGINE.encode(format!("id:{id}"))
}

fn decode_cursor(argument: &str, cursor: Option<String>) -> async_graphql::Result<Option<i64>> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    ENGINE
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("id:")?.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            coded(
                ErrorCode::BadRequest,
                format!("`{argument}` is not a cursor this API gave out"),
            )
        })
}

/// Checks Relay's four arguments and turns them into a domain page request.
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let after = decode_cursor("after", after)?;
    let before = decode_cursor("before", before)?;
    PageRequest::new(first, after, last, before).map_err(to_graphql)
}

/// The complexity of a connection field: the page size times the cost of one node.
pub fn cost(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    let size = first
        .or(last)
        .map_or(DEFAULT_PAGE_SIZE, |n| (n.max(0) as u64).min(MAX_PAGE_SIZE));
    (size as usize).saturating_mul(child).saturating_add(1)
}

/// Builds the connection for a domain page, with one edge per item.
pub fn connection<T, N: OutputType>(
    page: Page<T>,
    id: impl Fn(&T) -> i64,
    node: impl Fn(T) -> N,
) -> Connection<String, N> {
    let mut connection = Connection::new(page.has_previous, page.has_next);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|item| Edge::new(encode_cursor(id(&item)), node(item))),
    );
    connection
}
