//! The bodies of membership-change messages, made from the change log when a message is first
//! sent (the outbox wrote only which change it is). `data` names the change, the customer as
//! the log recorded them, who made the change, and the role, tag or segment with its name now
//! (`null` when it was deleted since):
//!
//! - `role.assigned`, `role.removed`: `{ changeId, customer, role, source }`
//! - `tag.set`, `tag.removed`: `{ changeId, customer, tag, value, previousValue, source }`
//! - `segment.joined`, `segment.left`: `{ changeId, customer, segment, reason, source }`

use super::event::{self, EventType, Family};
use crate::error::AppResult;
use crate::events::MembershipKind;
use entity::{membership_change, role, segment, tag};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The envelope of each change in `ids` still in the log, by change id.
pub async fn bodies(db: &impl ConnectionTrait, ids: &[i64]) -> AppResult<HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = membership_change::Entity::find()
        .filter(membership_change::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    let names = |rows: &[membership_change::Model],
                 pick: fn(&membership_change::Model) -> Option<i64>| {
        let mut ids: Vec<i64> = rows.iter().filter_map(pick).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let roles = named::<role::Entity, _>(
        db,
        names(&rows, |r| r.role_id),
        role::Column::Id,
        role::Column::Name,
    )
    .await?;
    let tags = named::<tag::Entity, _>(
        db,
        names(&rows, |r| r.tag_id),
        tag::Column::Id,
        tag::Column::Name,
    )
    .await?;
    let segments = named::<segment::Entity, _>(
        db,
        names(&rows, |r| r.segment_id),
        segment::Column::Id,
        segment::Column::Name,
    )
    .await?;
    let mut bodies = HashMap::with_capacity(rows.len());
    for row in rows {
        let Some(kind) = MembershipKind::from_stored(&row.kind) else {
            continue;
        };
        let event_type = EventType::of_change(kind);
        let object = |id: Option<i64>, names: &HashMap<i64, String>| match id {
            Some(id) => json!({ "id": id.to_string(), "name": names.get(&id) }),
            None => Value::Null,
        };
        let mut data = json!({
            "changeId": row.id.to_string(),
            "customer": event::customer(row.customer_id, row.customer_external_id.as_deref().unwrap_or_default()),
            "source": row.source,
        });
        match event_type.family() {
            Family::Roles => data["role"] = object(row.role_id, &roles),
            Family::Tags => {
                data["tag"] = object(row.tag_id, &tags);
                data["value"] = json!(row.value);
                data["previousValue"] = json!(row.previous_value);
            }
            Family::Segments => {
                data["segment"] = object(row.segment_id, &segments);
                data["reason"] = json!(row.reason);
            }
            Family::Other => {}
        }
        bodies.insert(row.id, event::envelope(event_type, row.occurred_at, &data));
    }
    Ok(bodies)
}

/// The names of rows `ids` of `E`.
async fn named<E, C>(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
    id: C,
    name: C,
) -> AppResult<HashMap<i64, String>>
where
    E: EntityTrait<Column = C>,
    C: ColumnTrait,
{
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = E::find()
        .select_only()
        .column(id)
        .column(name)
        .filter(id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
