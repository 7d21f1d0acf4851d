//! The membership change feed: role, tag and segment changes of customers, streamed in log
//! order.

use super::auth::Require;
use super::context::state;
use super::errors::to_graphql;
use super::scalars::{id_arg, opt_id_arg};
use crate::clock::from_millis;
use crate::domain::membership::{self, MembershipFilter};
use crate::events::{MembershipChange as DomainChange, MembershipKind};
use async_graphql::{Context, Enum, ID, InputObject, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

/// What changed.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipChangeKind {
    RoleAssigned,
    RoleRemoved,
    TagSet,
    TagRemoved,
    SegmentJoined,
    SegmentLeft,
}

impl From<MembershipKind> for MembershipChangeKind {
    fn from(k: MembershipKind) -> Self {
        match k {
            MembershipKind::RoleAssigned => MembershipChangeKind::RoleAssigned,
            MembershipKind::RoleRemoved => MembershipChangeKind::RoleRemoved,
            MembershipKind::TagSet => MembershipChangeKind::TagSet,
            MembershipKind::TagRemoved => MembershipChangeKind::TagRemoved,
            MembershipKind::SegmentJoined => MembershipChangeKind::SegmentJoined,
            MembershipKind::SegmentLeft => MembershipChangeKind::SegmentLeft,
        }
    }
}

impl From<MembershipChangeKind> for MembershipKind {
    fn from(k: MembershipChangeKind) -> Self {
        match k {
            MembershipChangeKind::RoleAssigned => MembershipKind::RoleAssigned,
            MembershipChangeKind::RoleRemoved => MembershipKind::RoleRemoved,
            MembershipChangeKind::TagSet => MembershipKind::TagSet,
            MembershipChangeKind::TagRemoved => MembershipKind::TagRemoved,
            MembershipChangeKind::SegmentJoined => MembershipKind::SegmentJoined,
            MembershipChangeKind::SegmentLeft => MembershipKind::SegmentLeft,
        }
    }
}

/// One change of a customer's roles, tags or segments.
#[derive(SimpleObject)]
pub struct MembershipChange {
    /// Position in the change log: pass it as `after` to resume a feed.
    pub id: ID,
    pub customer_id: ID,
    pub customer_external_id: String,
    pub kind: MembershipChangeKind,
    pub role_id: Option<ID>,
    pub tag_id: Option<ID>,
    /// The tag's value after the change.
    pub value: Option<String>,
    /// The tag's value before the change.
    pub previous_value: Option<String>,
    pub segment_id: Option<ID>,
    /// `admin`, `action:<id>` when a customer action made the change, `campaign:<id>` when a
    /// campaign step did, `segment:<id>` for a segment's join or leave.
    pub source: String,
    /// Why a segment's membership changed: `event:<eventId>` (the event whose facts changed
    /// it), `admin` (an admin write), `time:<fact> <days>d` (time passed a boundary of
    /// `daysSince`), `definition` (the segment was created or its condition changed) or
    /// `erased` (the customer was deleted). None for roles and tags.
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl From<DomainChange> for MembershipChange {
    fn from(c: DomainChange) -> Self {
        let id = |n: i64| ID(n.to_string());
        MembershipChange {
            id: id(c.id),
            customer_id: id(c.customer_id),
            customer_external_id: c.customer_external_id,
            kind: c.kind.into(),
            role_id: c.role_id.map(id),
            tag_id: c.tag_id.map(id),
            value: c.value,
            previous_value: c.previous_value,
            segment_id: c.segment_id.map(id),
            source: c.source,
            reason: c.reason,
            occurred_at: from_millis(c.occurred_at),
        }
    }
}

/// Which changes to receive; omitted fields match everything.
#[derive(InputObject, Default)]
pub struct MembershipChangeFilter {
    pub customer_id: Option<ID>,
    pub customer_external_id: Option<String>,
    pub kinds: Option<Vec<MembershipChangeKind>>,
    pub role_ids: Option<Vec<ID>>,
    pub tag_ids: Option<Vec<ID>>,
    pub segment_ids: Option<Vec<ID>>,
}

#[derive(Default)]
pub struct MembershipSubscription;

#[Subscription]
impl MembershipSubscription {
    /// Role, tag and segment changes, in the order they happened. With `after`, the feed first replays
    /// the logged changes after that id (`"0"`: the whole log), then goes on live — so a client
    /// that reconnects with the last id it saw misses nothing.
    #[graphql(guard = "Require::READ")]
    async fn membership_changes(
        &self,
        ctx: &Context<'_>,
        after: Option<ID>,
        filter: Option<MembershipChangeFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<MembershipChange>> + use<>>
    {
        let state = state(ctx)?;
        let filter = filter.unwrap_or_default();
        let customer_id = opt_id_arg("filter.customerId", filter.customer_id)?;
        let ids = |list: Option<Vec<ID>>, name: &str| -> async_graphql::Result<Vec<i64>> {
            list.unwrap_or_default()
                .iter()
                .map(|id| id_arg(name, id))
                .collect()
        };
        let domain_filter = MembershipFilter {
            customer_id,
            // A customer the shop has not told Nudge about yet is fine: changes come when
            // they do.
            customer_external_id: filter.customer_external_id,
            kinds: filter
                .kinds
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            role_ids: ids(filter.role_ids, "filter.roleIds")?,
            tag_ids: ids(filter.tag_ids, "filter.tagIds")?,
            segment_ids: ids(filter.segment_ids, "filter.segmentIds")?,
        };
        // `after: "0"` replays the whole log.
        let after = match after {
            Some(id) if id.as_str() == "0" => Some(0),
            other => opt_id_arg("after", other)?,
        };
        let changes = membership::stream(state.db.clone(), state.bus.clone(), after, domain_filter);
        Ok(changes.map(|item| item.map(MembershipChange::from).map_err(to_graphql)))
    }
}
