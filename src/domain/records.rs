//! Small operations every record type shares.

use crate::error::{AppError, AppResult};
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, PrimaryKeyTrait};

/// Deletes the `E` row with `id` (and, through foreign keys, what hangs on it) in one
/// statement. `NOT_FOUND`, naming it `what`, when there is no such row.
pub async fn delete_by_id<E>(db: &impl ConnectionTrait, id: i64, what: &str) -> AppResult<()>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
{
    let result = E::delete_by_id(id).exec(db).await?;
    if result.rows_affected == 0 {
        return Err(AppError::NotFound(format!("{what} {id} does not exist")));
    }
    Ok(())
}

/// Whether an `E` row with `id` exists.
pub async fn exists<E>(db: &impl ConnectionTrait, id: i64) -> AppResult<bool>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<i64>,
    E::Model: Sync,
{
    Ok(E::find_by_id(id).count(db).await? > 0)
}

/// Decodes one stored JSON part of a definition; on failure records why (naming `part`) in
/// `problems` and returns `None`, so that the caller can mark the whole definition broken
/// instead of running it with a default in its place.
pub fn decode_part<T: serde::de::DeserializeOwned>(
    part: &str,
    value: &serde_json::Value,
    problems: &mut Vec<String>,
) -> Option<T> {
    match serde_json::from_value(value.clone()) {
        Ok(decoded) => Some(decoded),
        Err(e) => {
            problems.push(format!("{part} does not decode: {e}"));
            None
        }
    }
}

/// Rows grouped by `key`, each group in the rows' order: what a loader answers for a batch of
/// parents (a parent without rows has no entry).
pub fn group_by<K: std::hash::Hash + Eq, V>(
    rows: impl IntoIterator<Item = V>,
    key: impl Fn(&V) -> K,
) -> std::collections::HashMap<K, Vec<V>> {
    let mut groups = std::collections::HashMap::<K, Vec<V>>::new();
    for row in rows {
        groups.entry(key(&row)).or_default().push(row);
    }
    groups
}
