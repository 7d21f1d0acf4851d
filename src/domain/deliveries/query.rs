//! Reading the outbox: deliveries by filter, one delivery's attempts and tracking events.

use crate::db::in_list;
use crate::domain::page::{Page, PageRequest, fetch_page};
use crate::domain::records::group_by;
use crate::domain::templates::Channel;
use crate::error::AppResult;
use entity::{delivery, delivery_attempt, delivery_event};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// Which deliveries to list; every given field must match.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub customer_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub action_id: Option<i64>,
    pub status: Option<super::Status>,
    pub channel: Option<Channel>,
}

/// A page of deliveries, newest last (by id).
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &DeliveryFilter,
    page: PageRequest,
) -> AppResult<Page<delivery::Model>> {
    let mut condition = Condition::all();
    if let Some(id) = filter.customer_id {
        condition = condition.add(delivery::Column::CustomerId.eq(id));
    }
    if let Some(id) = filter.campaign_id {
        condition = condition.add(delivery::Column::CampaignId.eq(id));
    }
    if let Some(id) = filter.action_id {
        condition = condition.add(delivery::Column::ActionId.eq(id));
    }
    if let Some(status) = filter.status {
        condition = condition.add(delivery::Column::Status.eq(status.as_str()));
    }
    if let Some(channel) = filter.channel {
        condition = condition.add(delivery::Column::Channel.eq(channel.as_str()));
    }
    let select = delivery::Entity::find().filter(condition);
    Ok(fetch_page(db, select, delivery::Column::Id, page).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<delivery::Model>> {
    Ok(delivery::Entity::find_by_id(id).one(db).await?)
}

/// The attempts of each of `delivery_ids`, oldest first.
pub async fn attempts_of(
    db: &impl ConnectionTrait,
    delivery_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<delivery_attempt::Model>>> {
    let rows = delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.is_in(in_list(delivery_ids.iter().copied())))
        .order_by_asc(delivery_attempt::Column::Id)
        .all(db)
        .await?;
    Ok(group_by(rows, |a| a.delivery_id))
}

/// What happened to each of `delivery_ids` after it was sent (and deferrals before), oldest
/// first.
pub async fn events_of(
    db: &impl ConnectionTrait,
    delivery_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<delivery_event::Model>>> {
    let rows = delivery_event::Entity::find()
        .filter(delivery_event::Column::DeliveryId.is_in(in_list(delivery_ids.iter().copied())))
        .order_by_asc(delivery_event::Column::Id)
        .all(db)
        .await?;
    Ok(group_by(rows, |e| e.delivery_id))
}

/// The due time of the message that has waited longest to be sent, among those due by
/// `now_ms` (the dispatcher's lag; read through the index on status and due time).
pub async fn oldest_due_at(db: &impl ConnectionTrait, now_ms: i64) -> AppResult<Option<i64>> {
    use sea_orm::QuerySelect;
    Ok(delivery::Entity::find()
        .select_only()
        .column(delivery::Column::DueAt)
        .filter(delivery::Column::Status.eq(super::Status::Queued.as_str()))
        .filter(delivery::Column::DueAt.lte(now_ms))
        .order_by_asc(delivery::Column::DueAt)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?)
}

/// Deliveries by (status, channel), every status and channel included (zero where none).
pub async fn outbox_depth(
    db: &impl ConnectionTrait,
) -> AppResult<Vec<(super::Status, Channel, i64)>> {
    use sea_orm::QuerySelect;
    let counted: Vec<(String, String, i64)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Status)
        .column(delivery::Column::Channel)
        .column_as(delivery::Column::Id.count(), "n")
        .group_by(delivery::Column::Status)
        .group_by(delivery::Column::Channel)
        .into_tuple()
        .all(db)
        .await?;
    let mut all = Vec::new();
    for status in super::Status::ALL {
        for channel in Channel::ALL {
            let n = counted
                .iter()
                .find(|(s, c, _)| s == status.as_str() && c == channel.as_str())
                .map_or(0, |(_, _, n)| *n);
            all.push((status, channel, n));
        }
    }
    Ok(all)
}
