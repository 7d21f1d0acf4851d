//! Role and tag membership of customers: the primitives every writer uses (admin mutations
//! and action effects), the change log they write — segments' joins and leaves go in it too
//! ([`segment_log_head`]) — and the stream integrators subscribe to.

mod batch;

pub use batch::{Held, MembershipBatch};

use crate::db::{PARAMETER_BYTES, statement_chunks};
use crate::domain::stale::{Stale, stale};
use crate::domain::webhooks::outbox::{self, enqueue_changes};
use crate::error::{AppError, AppResult};
use crate::events::{Announced, BusMode, EventBus, MembershipChange, MembershipKind};
use entity::{customer, customer_role, customer_tag, membership_change};
use futures_util::Stream;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use std::collections::HashSet;
use tokio::sync::broadcast::error::RecvError;

/// The PostgreSQL channel membership changes are announced on.
pub const NOTIFY_CHANNEL: &str = "nudge_membership";
/// Changes read from the log at a time when a subscriber catches up.
const REPLAY_PAGE: u64 = 500;
/// Change-log rows per statement, at most.
const LOG_ROWS: usize = 500;

/// Who made a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeSource {
    Admin,
    Action(i64),
    Campaign(i64),
    Segment(i64),
}

impl ChangeSource {
    fn as_string(self) -> String {
        match self {
            ChangeSource::Admin => "admin".to_owned(),
            ChangeSource::Action(id) => format!("action:{id}"),
            ChangeSource::Campaign(id) => format!("campaign:{id}"),
            ChangeSource::Segment(id) => format!("segment:{id}"),
        }
    }
}

/// Which changes a subscriber wants; empty lists mean "any".
#[derive(Clone, Debug, Default)]
pub struct MembershipFilter {
    pub customer_id: Option<i64>,
    /// The shop's id of the customer — who may not exist yet: a subscriber can wait for them.
    pub customer_external_id: Option<String>,
    pub kinds: Vec<MembershipKind>,
    pub role_ids: Vec<i64>,
    pub tag_ids: Vec<i64>,
    pub segment_ids: Vec<i64>,
}

impl MembershipFilter {
    pub fn matches(&self, change: &MembershipChange) -> bool {
        self.customer_id.is_none_or(|id| id == change.customer_id)
            && self
                .customer_external_id
                .as_deref()
                .is_none_or(|id| id.trim() == change.customer_external_id)
            && (self.kinds.is_empty() || self.kinds.contains(&change.kind))
            && (self.role_ids.is_empty()
                || change.role_id.is_some_and(|id| self.role_ids.contains(&id)))
            && (self.tag_ids.is_empty()
                || change.tag_id.is_some_and(|id| self.tag_ids.contains(&id)))
            && (self.segment_ids.is_empty()
                || change
                    .segment_id
                    .is_some_and(|id| self.segment_ids.contains(&id)))
    }
}

struct NewChange {
    kind: MembershipKind,
    role_id: Option<i64>,
    tag_id: Option<i64>,
    value: Option<String>,
    previous_value: Option<String>,
}

impl NewChange {
    fn role(kind: MembershipKind, role_id: i64) -> Self {
        NewChange {
            kind,
            role_id: Some(role_id),
            tag_id: None,
            value: None,
            previous_value: None,
        }
    }

    fn tag(
        kind: MembershipKind,
        tag_id: i64,
        value: Option<String>,
        previous_value: Option<String>,
    ) -> Self {
        NewChange {
            kind,
            role_id: None,
            tag_id: Some(tag_id),
            value,
            previous_value,
        }
    }
}

/// Puts a customer in a role inside `txn`; logs and returns the change, or `None` when they
/// had the role already.
pub async fn grant_role(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    customer: &customer::Model,
    role_id: i64,
    source: ChangeSource,
) -> AppResult<Option<MembershipChange>> {
    let inserted = customer_role::Entity::insert(customer_role::ActiveModel {
        customer_id: ActiveValue::Set(customer.id),
        role_id: ActiveValue::Set(role_id),
        assigned_at: ActiveValue::Set(now_ms),
    })
    .on_conflict(
        OnConflict::columns([
            customer_role::Column::CustomerId,
            customer_role::Column::RoleId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if inserted == 0 {
        return Ok(None);
    }
    let change = NewChange::role(MembershipKind::RoleAssigned, role_id);
    log(txn, now_ms, customer, change, source).await.map(Some)
}

/// Takes a customer out of a role inside `txn`; `None` when they were not in it.
pub async fn revoke_role(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    customer: &customer::Model,
    role_id: i64,
    source: ChangeSource,
) -> AppResult<Option<MembershipChange>> {
    let deleted = customer_role::Entity::delete_by_id((customer.id, role_id))
        .exec(txn)
        .await?
        .rows_affected;
    if deleted == 0 {
        return Ok(None);
    }
    let change = NewChange::role(MembershipKind::RoleRemoved, role_id);
    log(txn, now_ms, customer, change, source).await.map(Some)
}

/// Sets a tag (and value) on a customer inside `txn`; `None` when it had that value already.
pub async fn set_tag(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    customer: &customer::Model,
    tag_id: i64,
    value: Option<String>,
    source: ChangeSource,
) -> AppResult<Option<MembershipChange>> {
    let current = customer_tag::Entity::find_by_id((customer.id, tag_id))
        .one(txn)
        .await?;
    let previous_value = match current {
        Some(existing) if existing.value == value => return Ok(None),
        Some(existing) => {
            let previous = existing.value.clone();
            let mut active: customer_tag::ActiveModel = existing.into();
            active.value = ActiveValue::Set(value.clone());
            active.set_at = ActiveValue::Set(now_ms);
            active.update(txn).await?;
            previous
        }
        None => {
            customer_tag::ActiveModel {
                customer_id: ActiveValue::Set(customer.id),
                tag_id: ActiveValue::Set(tag_id),
                value: ActiveValue::Set(value.clone()),
                set_at: ActiveValue::Set(now_ms),
            }
            .insert(txn)
            .await?;
            None
        }
    };
    let change = NewChange::tag(MembershipKind::TagSet, tag_id, value, previous_value);
    log(txn, now_ms, customer, change, source).await.map(Some)
}

/// Takes a tag off a customer inside `txn`; `None` when it did not have it.
pub async fn clear_tag(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    customer: &customer::Model,
    tag_id: i64,
    source: ChangeSource,
) -> AppResult<Option<MembershipChange>> {
    let Some(existing) = customer_tag::Entity::find_by_id((customer.id, tag_id))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    customer_tag::Entity::delete_by_id((customer.id, tag_id))
        .exec(txn)
        .await?;
    let change = NewChange::tag(MembershipKind::TagRemoved, tag_id, None, existing.value);
    log(txn, now_ms, customer, change, source).await.map(Some)
}

/// Writes a change to the log and, on PostgreSQL, announces it when the transaction commits.
async fn log(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    customer: &customer::Model,
    change: NewChange,
    source: ChangeSource,
) -> AppResult<MembershipChange> {
    let row = Logged {
        customer_id: customer.id,
        customer_external_id: customer.external_id.clone(),
        change,
        source,
        occurred_at: now_ms,
    };
    let mut written = write_log(txn, vec![row]).await?;
    written
        .pop()
        .ok_or_else(|| AppError::internal("the change log wrote no row"))
}

/// A change to write to the log.
struct Logged {
    customer_id: i64,
    customer_external_id: String,
    change: NewChange,
    source: ChangeSource,
    occurred_at: i64,
}

/// Writes changes to the log, a statement for many, and on PostgreSQL announces each when the
/// transaction commits (in log order). Returns them as the bus carries them, in log order.
async fn write_log(
    txn: &impl ConnectionTrait,
    rows: Vec<Logged>,
) -> AppResult<Vec<MembershipChange>> {
    let backend = txn.get_database_backend();
    let mut external_ids: std::collections::HashMap<i64, String> = Default::default();
    let mut written = Vec::with_capacity(rows.len());
    let now_ms = rows.iter().map(|row| row.occurred_at).max().unwrap_or(0);
    // A role changes what the storefront recommends; a tag does not.
    let mut shelved: Vec<String> = rows
        .iter()
        .filter(|row| row.change.role_id.is_some())
        .map(|row| row.customer_external_id.clone())
        .collect();
    shelved.sort_unstable();
    shelved.dedup();
    stale(txn, Stale::Customers(shelved)).await?;
    let models: Vec<membership_change::ActiveModel> = rows
        .into_iter()
        .map(|row| {
            external_ids
                .entry(row.customer_id)
                .or_insert(row.customer_external_id);
            membership_change::ActiveModel {
                id: ActiveValue::NotSet,
                customer_id: ActiveValue::Set(row.customer_id),
                kind: ActiveValue::Set(row.change.kind.as_str().to_owned()),
                role_id: ActiveValue::Set(row.change.role_id),
                tag_id: ActiveValue::Set(row.change.tag_id),
                value: ActiveValue::Set(row.change.value),
                previous_value: ActiveValue::Set(row.change.previous_value),
                source: ActiveValue::Set(row.source.as_string()),
                occurred_at: ActiveValue::Set(row.occurred_at),
                segment_id: ActiveValue::Set(None),
                reason: ActiveValue::Set(None),
                customer_external_id: ActiveValue::Set(Some(
                    external_ids[&row.customer_id].clone(),
                )),
            }
        })
        .collect();
    let size = |m: &membership_change::ActiveModel| {
        let text = |v: &ActiveValue<Option<String>>| match v {
            ActiveValue::Set(Some(s)) => s.len(),
            _ => 0,
        };
        text(&m.value)
            + text(&m.previous_value)
            + text(&m.customer_external_id)
            + 11 * PARAMETER_BYTES
            + 32
    };
    for chunk in statement_chunks(backend, &models, LOG_ROWS, false, size) {
        let mut inserted = membership_change::Entity::insert_many(chunk.to_vec())
            .exec_with_returning(txn)
            .await?;
        inserted.sort_by_key(|row| row.id);
        if backend == DbBackend::Postgres && !inserted.is_empty() {
            // One notification per change, sent in log order when the transaction commits.
            let ids: Vec<String> = inserted.iter().map(|r| format!("('{}')", r.id)).collect();
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT pg_notify($1, id) FROM (VALUES {}) AS changes(id)",
                    ids.join(",")
                ),
                [NOTIFY_CHANNEL.into()],
            ))
            .await?;
        }
        let ids: Vec<i64> = inserted.iter().map(|row| row.id).collect();
        enqueue_changes(txn, outbox::Logged::Ids(&ids), now_ms).await?;
        for row in inserted {
            written.push(to_change(row, "")?);
        }
    }
    Ok(written)
}

/// Whether a membership call changed anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MembershipOutcome {
    Changed,
    Unchanged,
}

/// Announces a committed change (if any) and says whether there was one.
pub fn conclude(bus: &EventBus, change: Option<MembershipChange>) -> MembershipOutcome {
    match change {
        Some(change) => {
            announce(bus, [change]);
            MembershipOutcome::Changed
        }
        None => MembershipOutcome::Unchanged,
    }
}

/// The notification that says changes up to an id were logged in bulk: `logged:<id>`.
const LOGGED_PREFIX: &str = "logged:";

/// Deletes a customer's changes from the log (erasure: their history goes with them).
pub async fn forget_customer(txn: &impl ConnectionTrait, customer_id: i64) -> AppResult<()> {
    membership_change::Entity::delete_many()
        .filter(membership_change::Column::CustomerId.eq(customer_id))
        .exec(txn)
        .await?;
    Ok(())
}

/// The start of a statement that logs one segment change per selected row, in one statement:
/// `INSERT INTO membership_changes (…) SELECT ?, ?, ?, ?,` with the values of its
/// placeholders; the caller adds `<customer id>, <reason>, <external id> FROM …`. After such
/// statements, [`logged_in_bulk`] announces what they logged.
pub fn segment_log_head(
    kind: MembershipKind,
    segment_id: i64,
    occurred_at: i64,
) -> (&'static str, Vec<sea_orm::Value>) {
    (
        "INSERT INTO membership_changes (kind, source, occurred_at, segment_id, customer_id, \
         reason, customer_external_id) SELECT ?, ?, ?, ?, ",
        vec![
            kind.as_str().into(),
            ChangeSource::Segment(segment_id).as_string().into(),
            occurred_at.into(),
            segment_id.into(),
        ],
    )
}

/// The last change id now, when changes were logged in bulk since `before` (`None` when
/// none were); on PostgreSQL one notification says so when the transaction commits, and
/// after the commit [`announce_logged`] does on the in-process bus. Subscribers read such
/// changes from the log at their own pace.
pub async fn logged_in_bulk(txn: &impl ConnectionTrait, before: i64) -> AppResult<Option<i64>> {
    let upto = latest_id(txn).await?;
    if upto <= before {
        return Ok(None);
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [
                NOTIFY_CHANNEL.into(),
                format!("{LOGGED_PREFIX}{upto}").into(),
            ],
        ))
        .await?;
    }
    Ok(Some(upto))
}

/// Tells an in-process bus that changes up to `upto` were logged in bulk and committed; with
/// PostgreSQL the listener does it.
pub fn announce_logged(bus: &EventBus, upto: Option<i64>) {
    if let Some(upto) = upto
        && bus.mode() == BusMode::InProcess
    {
        bus.publish_logged(upto);
    }
}

/// Publishes committed changes on an in-process bus; with PostgreSQL the listener does it.
pub fn announce(bus: &EventBus, changes: impl IntoIterator<Item = MembershipChange>) {
    if bus.mode() == BusMode::InProcess {
        for change in changes {
            bus.publish(change);
        }
    }
}

/// A logged change as the bus carries it; `customer_external_id` stands in for a row logged
/// before the log kept it. A row whose kind Nudge does not know (it never should: only Nudge
/// writes the log) is an error naming it, never another kind.
fn to_change(
    row: membership_change::Model,
    customer_external_id: &str,
) -> AppResult<MembershipChange> {
    let kind = MembershipKind::from_stored(&row.kind).ok_or_else(|| {
        AppError::internal(format!(
            "membership change {} has an unknown kind {:?}",
            row.id, row.kind
        ))
    })?;
    Ok(MembershipChange {
        id: row.id,
        customer_id: row.customer_id,
        customer_external_id: row
            .customer_external_id
            .unwrap_or_else(|| customer_external_id.to_owned()),
        kind,
        role_id: row.role_id,
        tag_id: row.tag_id,
        value: row.value,
        previous_value: row.previous_value,
        segment_id: row.segment_id,
        source: row.source,
        reason: row.reason,
        occurred_at: row.occurred_at,
    })
}

/// Logged changes with an id above `after`, oldest first, at most `limit`.
pub async fn changes_after(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> AppResult<Vec<MembershipChange>> {
    let rows = membership_change::Entity::find()
        .filter(membership_change::Column::Id.gt(after))
        .order_by_asc(membership_change::Column::Id)
        .limit(limit)
        .find_also_related_customer(db)
        .await?;
    Ok(rows)
}

/// Loads logged rows with their customers' external ids.
trait FindWithCustomer {
    async fn find_also_related_customer(
        self,
        db: &impl ConnectionTrait,
    ) -> AppResult<Vec<MembershipChange>>;
}

impl FindWithCustomer for sea_orm::Select<membership_change::Entity> {
    async fn find_also_related_customer(
        self,
        db: &impl ConnectionTrait,
    ) -> AppResult<Vec<MembershipChange>> {
        let rows = self.all(db).await?;
        // Rows logged before the log kept the customer's external id read it from the customer.
        let ids: HashSet<i64> = rows
            .iter()
            .filter(|r| r.customer_external_id.is_none())
            .map(|r| r.customer_id)
            .collect();
        if ids.is_empty() {
            return rows.into_iter().map(|row| to_change(row, "")).collect();
        }
        let customers: std::collections::HashMap<i64, String> = customer::Entity::find()
            .filter(customer::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c.external_id))
            .collect();
        rows.into_iter()
            .map(|row| {
                let external = customers.get(&row.customer_id).cloned().unwrap_or_default();
                to_change(row, &external)
            })
            .collect()
    }
}

/// Changes matching `filter`, in log order: first those after `after` (when given) from the
/// log, then live ones from the bus. A subscriber that falls behind the bus catches up from
/// the log, so it misses nothing and sees nothing twice.
pub fn stream(
    db: sea_orm::DatabaseConnection,
    bus: EventBus,
    after: Option<i64>,
    filter: MembershipFilter,
) -> impl Stream<Item = AppResult<MembershipChange>> {
    async_stream::try_stream! {
        let mut live = bus.subscribe();
        let mut last = match after {
            Some(after) => after,
            None => latest_id(&db).await?,
        };
        let mut catching_up = after.is_some();
        loop {
            if catching_up {
                let page = changes_after(&db, last, REPLAY_PAGE).await?;
                let full = page.len() as u64 == REPLAY_PAGE;
                for change in page {
                    last = change.id;
                    if filter.matches(&change) {
                        yield change;
                    }
                }
                catching_up = full;
                continue;
            }
            match live.recv().await {
                // A change after one this subscriber has not seen (logged in bulk, or by a
                // writer that announced nothing): read the log from where it is.
                Ok(Announced::Change(change)) if change.id > last + 1 && last > 0 => {
                    catching_up = true;
                }
                Ok(Announced::Change(change)) if change.id > last => {
                    last = change.id;
                    if filter.matches(&change) {
                        yield change.as_ref().clone();
                    }
                }
                Ok(Announced::Logged(upto)) if upto > last => catching_up = true,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => catching_up = true,
                Err(RecvError::Closed) => break,
            }
        }
    }
}

/// The id of the last change in the log (0 when it is empty): it moves with every change.
pub async fn latest_id(db: &impl ConnectionTrait) -> AppResult<i64> {
    Ok(membership_change::Entity::find()
        .select_only()
        .column(membership_change::Column::Id)
        .order_by_desc(membership_change::Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}

/// Changes the relay reads in one statement, at most.
const RELAY_BATCH: usize = 500;

/// On PostgreSQL: listens for announced changes and publishes them on this process's bus,
/// reconnecting after failures. Runs until the process stops.
pub async fn relay_postgres_notifications(
    url: String,
    db: sea_orm::DatabaseConnection,
    bus: EventBus,
) {
    use sea_orm::sqlx::postgres::PgListener;
    let mut backoff = std::time::Duration::from_millis(200);
    loop {
        let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            backoff = std::time::Duration::from_millis(200);
            loop {
                // What arrived together is read in one statement: a round of events announces
                // hundreds of changes at once.
                let mut ids = vec![listener.recv().await?];
                while ids.len() < RELAY_BATCH
                    && let Some(more) = listener.next_buffered()
                {
                    ids.push(more);
                }
                // Nobody listens: a subscriber that comes later starts from the log.
                if !bus.has_subscribers() {
                    continue;
                }
                let mut logged = None;
                let ids: Vec<i64> = ids
                    .iter()
                    .filter_map(|n| match n.payload().strip_prefix(LOGGED_PREFIX) {
                        Some(upto) => {
                            logged = logged.max(upto.parse::<i64>().ok());
                            None
                        }
                        None => n.payload().parse().ok(),
                    })
                    .collect();
                if let Some(upto) = logged {
                    bus.publish_logged(upto);
                }
                if ids.is_empty() {
                    continue;
                }
                let found = membership_change::Entity::find()
                    .filter(membership_change::Column::Id.is_in(ids))
                    .order_by_asc(membership_change::Column::Id)
                    .find_also_related_customer(&db)
                    .await?;
                for change in found {
                    bus.publish(change);
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "membership listener failed; reconnecting");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str) -> membership_change::Model {
        membership_change::Model {
            id: 7,
            customer_id: 1,
            kind: kind.to_owned(),
            role_id: None,
            tag_id: Some(2),
            value: None,
            previous_value: None,
            source: "admin".to_owned(),
            occurred_at: 0,
            segment_id: None,
            reason: None,
            customer_external_id: None,
        }
    }

    #[test]
    fn a_logged_change_of_an_unknown_kind_is_an_error_not_another_kind() {
        assert_eq!(
            to_change(row("tag_set"), "ann").map(|c| c.kind).ok(),
            Some(MembershipKind::TagSet)
        );
        let err = to_change(row("tag_renamed"), "ann").expect_err("unknown kind");
        assert!(err.to_string().contains("tag_renamed"), "{err}");
    }
}
