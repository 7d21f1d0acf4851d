//! Segments: customer groups defined by a condition over customer facts, with membership kept
//! materialised and always current. A segment's condition is compiled to SQL
//! ([`crate::domain::conditions::sql`]), so membership is decided set-based — for everyone when
//! a definition changes, for the customers whose facts changed, or for those whose dates
//! crossed a boundary as time passed ([`refresh`]) — and only the difference is written: each
//! join and leave is a change in the one change log, with its reason.

pub mod history;
pub mod preview;
pub mod refresh;
pub mod tick;
mod write;

pub use refresh::Candidates;
pub use write::{SegmentInput, create, delete, update};

use crate::domain::conditions::{Condition, Reads};
use crate::domain::page::{Page, PageRequest, fetch_page};
use crate::error::{AppError, AppResult};
use entity::{customer, segment, segment_member};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A stored segment, decoded.
#[derive(Clone, Debug)]
pub struct Segment {
    pub model: segment::Model,
    pub condition: Condition,
}

impl Segment {
    /// Decodes a row; a condition that does not decode is an error naming the segment (rows
    /// are checked when written, so it never should).
    pub fn decode(model: segment::Model) -> AppResult<Self> {
        let condition = serde_json::from_str(&model.condition).map_err(|e| {
            AppError::internal(format!(
                "segment {}'s condition does not decode: {e}",
                model.id
            ))
        })?;
        Ok(Segment { model, condition })
    }

    pub fn id(&self) -> i64 {
        self.model.id
    }

    /// The segments this one's condition names.
    pub fn depends_on(&self) -> HashSet<i64> {
        self.condition
            .segment_refs()
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }
}

/// Why an event's customer's membership changed: `event:<the client's event id>`.
pub fn event_reason(event_id: &str) -> String {
    format!("event:{event_id}")
}

/// Why an admin write changed it.
pub const ADMIN: &str = "admin";

/// Re-evaluates every segment for `customers` (each with the reason their facts changed, any
/// of them) in the caller's transaction, writing only the difference. Nothing to do costs one
/// look at the segments.
pub async fn follow_customers(
    txn: &impl ConnectionTrait,
    customers: Vec<(i64, String)>,
    now_ms: i64,
) -> AppResult<refresh::Refreshed> {
    let changed = customers
        .into_iter()
        .map(|(id, reason)| (id, reason, Reads::EVERYTHING))
        .collect();
    follow_changes(txn, changed, now_ms).await
}

/// Re-evaluates, for each customer in `changed` (with the reason and the facts that changed),
/// the segments that read one of those facts — directly, or through the segments they name —
/// in the caller's transaction, writing only the difference.
pub async fn follow_changes(
    txn: &impl ConnectionTrait,
    changed: Vec<(i64, String, Reads)>,
    now_ms: i64,
) -> AppResult<refresh::Refreshed> {
    let mut total = refresh::Refreshed::default();
    if changed.iter().all(|(_, _, reads)| *reads == Reads::NOTHING) {
        return Ok(total);
    }
    let segments = in_dependency_order(list(txn).await?)?;
    let mut reads: HashMap<i64, Reads> = HashMap::new();
    for segment in &segments {
        let own = segment
            .depends_on()
            .iter()
            .filter_map(|d| reads.get(d))
            .fold(segment.condition.reads(), |a, b| a.union(*b));
        reads.insert(segment.id(), own);
        let candidates: Vec<(i64, String)> = changed
            .iter()
            .filter(|(_, _, r)| r.meets(own))
            .map(|(id, reason, _)| (*id, reason.clone()))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let part = refresh::refresh(
            txn,
            std::slice::from_ref(segment),
            &Candidates::Customers(candidates),
            now_ms,
        )
        .await?;
        total.add(part);
    }
    Ok(total)
}

/// Rebuilds, for everyone, the segments whose condition `names` (a role or tag just deleted,
/// say) and those that name them (reason `admin`), in the caller's transaction.
pub async fn follow_deletion(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    names: impl Fn(&Condition) -> bool,
) -> AppResult<refresh::Refreshed> {
    let all = list(txn).await?;
    let mut affected: Vec<Segment> = Vec::new();
    for s in all.iter().filter(|s| names(&s.condition)) {
        if !affected.iter().any(|a| a.id() == s.id()) {
            affected.push(s.clone());
        }
        for d in dependents_of(s.id(), &all) {
            if !affected.iter().any(|a| a.id() == d.id()) {
                affected.push(d);
            }
        }
    }
    let affected = in_dependency_order(affected)?;
    refresh::refresh(txn, &affected, &Candidates::All(ADMIN.to_owned()), now_ms).await
}

/// Takes a customer out of every segment (reason `erased`), in the caller's transaction: what
/// erasure does before the customer's row goes, so integrators hear that they left.
pub async fn leave_all(
    txn: &impl ConnectionTrait,
    customer_id: i64,
    now_ms: i64,
) -> AppResult<refresh::Refreshed> {
    let emptied: Vec<Segment> = list(txn)
        .await?
        .into_iter()
        .map(|s| Segment {
            condition: Condition::Any(Vec::new()),
            ..s
        })
        .collect();
    let candidates = Candidates::Customers(vec![(customer_id, "erased".to_owned())]);
    refresh::refresh(txn, &emptied, &candidates, now_ms).await
}

/// Every segment, by name.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<Segment>> {
    segment::Entity::find()
        .order_by_asc(segment::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(Segment::decode)
        .collect()
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<Segment>> {
    segment::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Segment::decode)
        .transpose()
}

/// Segments in an order where each comes after every segment its condition names (conditions
/// are checked for cycles when saved; one found anyway is an error).
pub fn in_dependency_order(segments: Vec<Segment>) -> AppResult<Vec<Segment>> {
    let mut pending: BTreeMap<i64, Segment> = segments.into_iter().map(|s| (s.id(), s)).collect();
    let mut done: HashSet<i64> = HashSet::new();
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready: Vec<i64> = pending
            .values()
            .filter(|s| {
                s.depends_on()
                    .iter()
                    .all(|d| done.contains(d) || !pending.contains_key(d))
            })
            .map(Segment::id)
            .collect();
        if ready.is_empty() {
            return Err(AppError::internal("segments name each other in a cycle"));
        }
        for id in ready {
            if let Some(segment) = pending.remove(&id) {
                done.insert(id);
                ordered.push(segment);
            }
        }
    }
    Ok(ordered)
}

/// The segments that name `id`, directly or through others, in dependency order.
pub fn dependents_of(id: i64, all: &[Segment]) -> Vec<Segment> {
    let mut reached: HashSet<i64> = HashSet::from([id]);
    let mut grew = true;
    while grew {
        grew = false;
        for s in all {
            if !reached.contains(&s.id()) && s.depends_on().iter().any(|d| reached.contains(d)) {
                reached.insert(s.id());
                grew = true;
            }
        }
    }
    all.iter()
        .filter(|s| s.id() != id && reached.contains(&s.id()))
        .cloned()
        .collect()
}

/// How many customers are in a segment now.
pub async fn member_count(db: &impl ConnectionTrait, id: i64) -> AppResult<u64> {
    Ok(segment_member::Entity::find()
        .filter(segment_member::Column::SegmentId.eq(id))
        .count(db)
        .await?)
}

/// One page of a segment's members, by customer id.
pub async fn members_page(
    db: &impl ConnectionTrait,
    id: i64,
    request: PageRequest,
) -> AppResult<Page<customer::Model>> {
    let select = customer::Entity::find().filter(
        customer::Column::Id.in_subquery(
            Query::select()
                .column(segment_member::Column::CustomerId)
                .from(segment_member::Entity)
                .and_where(segment_member::Column::SegmentId.eq(id))
                .to_owned(),
        ),
    );
    Ok(fetch_page(db, select, customer::Column::Id, request).await?)
}
