//! Small conversions between GraphQL arguments and domain types.

use super::errors::coded;
use crate::domain::validate::Change;
use crate::error::ErrorCode;
use async_graphql::{ID, MaybeUndefined};

/// Reads a Nudge id argument; anything but a positive integer is `BAD_REQUEST`.
pub fn id_arg(name: &str, id: &ID) -> async_graphql::Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| coded(ErrorCode::BadRequest, format!("`{name}` is not a valid id")))
}

/// Like [`id_arg`] for an optional argument.
pub fn opt_id_arg(name: &str, id: Option<ID>) -> async_graphql::Result<Option<i64>> {
    id.as_ref().map(|id| id_arg(name, id)).transpose()
}

/// Omitted → keep, `null` → clear, a value → set.
pub fn to_change<T>(value: MaybeUndefined<T>) -> Change<T> {
    match value {
        MaybeUndefined::Undefined => Change::Keep,
        MaybeUndefined::Null => Change::Clear,
        MaybeUndefined::Value(v) => Change::Set(v),
    }
}
