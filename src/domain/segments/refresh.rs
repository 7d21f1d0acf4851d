//! Keeping membership current, set-based: for a set of candidate customers — everyone (a
//! definition changed), the customers whose facts changed (with the event or write that
//! changed them), or the customers whose dates crossed a boundary as time passed — each
//! segment's condition is evaluated by the database over the candidates, and only the
//! difference is written: members who no longer match leave, matching non-members join, and
//! each join and leave is logged with its reason, in the caller's transaction. Segments are
//! taken in dependency order, so one that names another (`inSegment`) sees its new members.
//!
//! A join or leave that a live customer action or an active campaign listens to is also
//! recorded as an event of the customer (`segmentJoined` / `segmentLeft`), which the event
//! processor handles like any other — in order with the customer's other events, each failing
//! alone — so automation on segments uses the one effect executor.
//!
//! On PostgreSQL each difference is one statement (the membership write feeds the log in a
//! common table expression, so two processes refreshing the same customer log a change once);
//! on SQLite, where one transaction writes at a time, two. Members hold no foreign key (a
//! trigger per row made a build three times slower): on PostgreSQL a refresh holds the segment
//! (alone when it rebuilds it) and the customers who join, as the foreign keys' checks did, so
//! a segment or a customer deleted meanwhile takes its members with it.

use super::Segment;
use crate::db::raw_statement;
use crate::domain::conditions::DatedFact;
use crate::domain::conditions::sql::{Fragment, compile};
use crate::domain::event_kind::{EventKind, segment_payload};
use crate::domain::membership::{latest_id, logged_in_bulk, segment_log_head};
use crate::domain::stats::{self, Dims, Fact, Metric};
use crate::domain::webhooks::outbox::{Logged, enqueue_changes};
use crate::error::{AppError, AppResult};
use crate::events::MembershipKind;
use entity::{campaign, customer_action};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Value,
};
use std::collections::HashSet;

const DAY_MS: i64 = 86_400_000;
/// Customers per statement when they are named one by one.
const CUSTOMERS_PER_STATEMENT: usize = 500;

/// Which customers to look at, and why their membership may have changed.
#[derive(Clone, Debug)]
pub enum Candidates {
    /// Everyone, for `reason` (`definition`).
    All(String),
    /// These customers, each with its reason (`event:<event id>`, `admin`).
    Customers(Vec<(i64, String)>),
    /// Customers whose dates crossed a boundary as time passed.
    Crossed(Vec<Crossing>),
}

/// Customers whose `fact` lies in `(after, upto]`: `days` whole days passed since it between
/// the previous check and this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crossing {
    pub fact: DatedFact,
    pub days: i64,
    pub after: i64,
    pub upto: i64,
}

impl Crossing {
    /// The date column, of customers `c`.
    pub(super) fn column(&self) -> &'static str {
        match self.fact {
            DatedFact::Registration => "c.registered_at",
            DatedFact::LastLogin => "c.last_login_at",
            DatedFact::LastOrder => "c.last_order_at",
        }
    }

    fn reason(&self) -> String {
        let fact = match self.fact {
            DatedFact::Registration => "registration",
            DatedFact::LastLogin => "lastLogin",
            DatedFact::LastOrder => "lastOrder",
        };
        format!("time:{fact} {}d", self.days)
    }

    /// The boundaries of `range` (whole days since `fact`) crossed between `from_ms` and
    /// `to_ms`: a customer enters `[min, max]` when `min` days have passed and leaves when
    /// `max + 1` have.
    pub fn of(
        fact: DatedFact,
        min: Option<i64>,
        max: Option<i64>,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<Self> {
        [min, max.map(|m| m.saturating_add(1))]
            .into_iter()
            .flatten()
            .filter(|days| *days >= 0)
            .map(|days| {
                let span = days.saturating_mul(DAY_MS);
                Crossing {
                    fact,
                    days,
                    after: from_ms.saturating_sub(span),
                    upto: to_ms.saturating_sub(span),
                }
            })
            .collect()
    }
}

impl Candidates {
    /// `WITH r(id, reason) AS (VALUES …)` for named customers.
    fn with(&self) -> Option<Fragment> {
        let Candidates::Customers(named) = self else {
            return None;
        };
        let mut f = Fragment::new("r(id, reason) AS (VALUES ", Vec::new());
        for (i, (id, reason)) in named.iter().enumerate() {
            f.text(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
            f.values.push((*id).into());
            f.values.push(reason.clone().into());
        }
        f.text(")");
        Some(f)
    }

    /// The customers `c` to look at: a join and a `WHERE` fragment.
    pub(super) fn restrict(&self) -> (&'static str, Fragment) {
        match self {
            Candidates::All(_) => ("", Fragment::new("1 = 1", Vec::new())),
            Candidates::Customers(_) => {
                (" JOIN r ON r.id = c.id", Fragment::new("1 = 1", Vec::new()))
            }
            Candidates::Crossed(crossings) => {
                let mut f = Fragment::new("(", Vec::new());
                for (i, x) in crossings.iter().enumerate() {
                    if i > 0 {
                        f.text(" OR ");
                    }
                    let column = x.column();
                    f.sql.push_str(&format!("({column} > ? AND {column} <= ?)"));
                    f.values.extend([Value::from(x.after), Value::from(x.upto)]);
                }
                if crossings.is_empty() {
                    f.text("1 = 0");
                }
                f.text(")");
                ("", f)
            }
        }
    }

    /// Why each selected customer `c` changed.
    fn reason(&self) -> Fragment {
        match self {
            Candidates::All(reason) => Fragment::new("?", vec![reason.clone().into()]),
            Candidates::Customers(_) => Fragment::new("r.reason", Vec::new()),
            Candidates::Crossed(crossings) => {
                let mut f = Fragment::new("CASE", Vec::new());
                for x in crossings {
                    let column = x.column();
                    f.sql
                        .push_str(&format!(" WHEN {column} > ? AND {column} <= ? THEN ?"));
                    f.values.extend([
                        Value::from(x.after),
                        Value::from(x.upto),
                        Value::from(x.reason()),
                    ]);
                }
                f.text(" ELSE 'time' END");
                f
            }
        }
    }
}

/// What a refresh changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub joined: u64,
    pub left: u64,
    /// The last change logged, to announce once the transaction commits.
    pub logged_upto: Option<i64>,
}

impl Refreshed {
    pub fn add(&mut self, other: Refreshed) {
        self.joined += other.joined;
        self.left += other.left;
        self.logged_upto = self.logged_upto.max(other.logged_upto);
    }
}

/// Brings `segments` (in dependency order) up to date for `candidates` at `now_ms`, in the
/// caller's transaction. Named customers are taken [`CUSTOMERS_PER_STATEMENT`] at a time.
pub async fn refresh(
    txn: &impl ConnectionTrait,
    segments: &[Segment],
    candidates: &Candidates,
    now_ms: i64,
) -> AppResult<Refreshed> {
    if segments.is_empty() {
        return Ok(Refreshed::default());
    }
    if let Candidates::Customers(named) = candidates
        && named.len() > CUSTOMERS_PER_STATEMENT
    {
        let mut total = Refreshed::default();
        for chunk in named.chunks(CUSTOMERS_PER_STATEMENT) {
            let part = Candidates::Customers(chunk.to_vec());
            total.add(Box::pin(refresh(txn, segments, &part, now_ms)).await?);
        }
        return Ok(total);
    }
    let before = latest_id(txn).await?;
    let mut total = Refreshed::default();
    let mut listened: Option<HashSet<(i64, EventKind)>> = None;
    for segment in segments {
        let (joined, left) = differ(txn, segment, candidates, now_ms).await?;
        for (count, kind) in [
            (joined, EventKind::SegmentJoined),
            (left, EventKind::SegmentLeft),
        ] {
            if count == 0 {
                continue;
            }
            if listened.is_none() {
                listened = Some(listeners(txn).await?);
            }
            if listened
                .as_ref()
                .is_some_and(|l| l.contains(&(segment.id(), kind)))
            {
                record_events(txn, segment.id(), kind, before).await?;
            }
        }
        if joined + left > 0 {
            let logged = Logged::Segment {
                segment_id: segment.id(),
                after: before,
            };
            enqueue_changes(txn, logged, now_ms).await?;
        }
        let dims = Dims::of_segment(segment.id());
        stats::note(
            txn,
            vec![
                Fact::one(Metric::Joined, dims.clone(), now_ms, now_ms).times(joined as i64),
                Fact::one(Metric::Left, dims, now_ms, now_ms).times(left as i64),
            ],
        )
        .await?;
        total.joined += joined;
        total.left += left;
    }
    total.logged_upto = logged_in_bulk(txn, before).await?;
    Ok(total)
}

/// The (segment, join or leave) pairs that live customer actions trigger on or active
/// campaigns are anchored to.
async fn listeners(txn: &impl ConnectionTrait) -> AppResult<HashSet<(i64, EventKind)>> {
    let kinds = [EventKind::SegmentJoined, EventKind::SegmentLeft];
    let mut found = HashSet::new();
    let triggers: Vec<(String, Option<i64>)> = customer_action::Entity::find()
        .select_only()
        .columns([
            customer_action::Column::Trigger,
            customer_action::Column::TriggerSegmentId,
        ])
        .filter(customer_action::Column::Active.eq(true))
        .filter(customer_action::Column::Trigger.is_in(kinds.map(EventKind::as_str)))
        .into_tuple()
        .all(txn)
        .await?;
    for (trigger, segment) in triggers {
        if let (Some(kind), Some(segment)) = (EventKind::from_stored(&trigger), segment) {
            found.insert((segment, kind));
        }
    }
    // Read from the table as stored (the campaigns room sits above this one): an active
    // campaign whose anchor is `{ "segmentJoined": { "segmentId": … } }`.
    let anchors: Vec<serde_json::Value> = campaign::Entity::find()
        .select_only()
        .column(campaign::Column::Anchor)
        .filter(campaign::Column::Status.eq("active"))
        .filter(campaign::Column::AnchorKind.eq("segmentJoined"))
        .into_tuple()
        .all(txn)
        .await?;
    for anchor in anchors {
        if let Some(segment_id) = anchor["segmentJoined"]["segmentId"].as_i64() {
            found.insert((segment_id, EventKind::SegmentJoined));
        }
    }
    Ok(found)
}

/// Records an event of `kind` for each change of `segment_id` of that kind logged after
/// `after`, for the processor to react to; its id names the change, so it is recorded once —
/// also when another refresh of the segment (other customers, another process) committed its
/// changes after `after` was read and recorded their events itself.
async fn record_events(
    txn: &impl ConnectionTrait,
    segment_id: i64,
    kind: EventKind,
    after: i64,
) -> AppResult<()> {
    let payload = segment_payload(kind, segment_id);
    let logged = match kind {
        EventKind::SegmentJoined => MembershipKind::SegmentJoined,
        _ => MembershipKind::SegmentLeft,
    };
    let backend = txn.get_database_backend();
    txn.execute_raw(raw_statement(
        backend,
        "INSERT INTO events (event_id, customer_id, kind, payload, fingerprint, occurred_at, \
         received_at) SELECT 'segment:' || mc.segment_id || ':' || mc.id, mc.customer_id, ?, ?, \
         ?, mc.occurred_at, mc.occurred_at FROM membership_changes mc \
         WHERE mc.id > ? AND mc.segment_id = ? AND mc.kind = ? ORDER BY mc.id \
         ON CONFLICT (event_id) DO NOTHING",
        [
            Value::from(kind.as_str()),
            Value::Json(Some(Box::new(payload))),
            Value::from("nudge:segment"),
            Value::from(after),
            Value::from(segment_id),
            Value::from(logged.as_str()),
        ],
    ))
    .await?;
    Ok(())
}

/// Whether segment `id` still exists, holding it until the commit if so (PostgreSQL): a
/// deletion waits for the refreshes that hold it and then deletes the members they wrote, and
/// one that committed first leaves nothing to refresh (members hold no foreign key, whose check
/// took this lock). A `rebuild` holds it alone, so no refresh of it runs beside the rebuild.
async fn hold(txn: &impl ConnectionTrait, id: i64, rebuild: bool) -> AppResult<bool> {
    let lock = if rebuild { "UPDATE" } else { "KEY SHARE" };
    let row = txn
        .query_one_raw(raw_statement(
            DbBackend::Postgres,
            &format!("SELECT 1 AS held FROM segments WHERE id = ? FOR {lock}"),
            [Value::from(id)],
        ))
        .await?;
    Ok(row.is_some())
}

/// Writes one segment's difference over `candidates`: (joined, left). Joins are looked for
/// among the candidates, leaves among the members.
async fn differ(
    txn: &impl ConnectionTrait,
    segment: &Segment,
    candidates: &Candidates,
    now_ms: i64,
) -> AppResult<(u64, u64)> {
    let backend = txn.get_database_backend();
    let matches = compile(&segment.condition, backend, now_ms).map_err(|refused| {
        AppError::internal(format!(
            "segment {}'s condition has no SQL form at {}: {}",
            segment.id(),
            refused.path.join("."),
            refused.message
        ))
    })?;
    let id = segment.id();
    let rebuild = matches!(candidates, Candidates::All(_));
    if backend == DbBackend::Postgres && !hold(txn, id, rebuild).await? {
        return Ok((0, 0));
    }
    let with = candidates.with();
    let (join_r, restrict) = candidates.restrict();
    let reason = candidates.reason();
    // Candidates `c` who match and are not members.
    let mut joining = Fragment::new(format!("FROM customers c{join_r} WHERE "), Vec::new());
    joining
        .push(&restrict)
        .text(" AND (")
        .push(&matches)
        .text(")");
    // A segment rebuilt with no members (a new one) has no member to skip and none to leave.
    let fresh = rebuild
        && txn
            .query_one_raw(raw_statement(
                backend,
                "SELECT 1 AS one FROM segment_members WHERE segment_id = ? LIMIT 1",
                [Value::from(id)],
            ))
            .await?
            .is_none();
    if !fresh {
        joining.text(
            " AND NOT EXISTS (SELECT 1 FROM segment_members m \
             WHERE m.segment_id = ? AND m.customer_id = c.id)",
        );
        joining.values.push(id.into());
    }
    // Members `c` among the candidates who no longer match.
    let mut leaving = Fragment::new(
        format!(
            "FROM segment_members m JOIN customers c ON c.id = m.customer_id{join_r} \
             WHERE m.segment_id = ? AND "
        ),
        vec![id.into()],
    );
    leaving
        .push(&restrict)
        .text(" AND NOT (")
        .push(&matches)
        .text(")");
    let log_head = |kind| {
        let (sql, values) = segment_log_head(kind, id, now_ms);
        Fragment::new(sql, values)
    };
    let run = |f: Fragment| async move {
        Ok::<u64, AppError>(
            txn.execute_raw(raw_statement(backend, &f.sql, f.values))
                .await?
                .rows_affected(),
        )
    };
    // `WITH r AS (…) ` for named customers; `more` adds a second table expression.
    let prefix = |more: &str| {
        let mut f = Fragment::default();
        match (&with, more.is_empty()) {
            (Some(with), true) => f.text("WITH ").push(with).text(" "),
            (Some(with), false) => f.text("WITH ").push(with).text(", ").text(more),
            (None, true) => &mut f,
            (None, false) => f.text("WITH ").text(more),
        };
        f
    };

    if backend == DbBackend::Postgres {
        // The candidates who join are held until the commit, so none is deleted meanwhile
        // (erasure deletes the memberships after the customer).
        joining.text(" FOR KEY SHARE OF c");
        if fresh {
            // No member to collide with (the segment is empty and held alone): one scan feeds
            // both the members and the log.
            let mut build = prefix("s AS MATERIALIZED (SELECT c.id, c.external_id ");
            build.push(&joining);
            build.text(
                "), j AS (INSERT INTO segment_members (segment_id, customer_id, joined_at) \
                 SELECT ?, s.id, ? FROM s) ",
            );
            build.values.extend([Value::from(id), Value::from(now_ms)]);
            build.push(&log_head(MembershipKind::SegmentJoined));
            build.text("s.id, ").push(&reason);
            build.text(", s.external_id FROM s ORDER BY s.id");
            return Ok((run(build).await?, 0));
        }
        // Each difference in one statement: the membership write feeds the log.
        let mut joins = prefix(
            "j AS (INSERT INTO segment_members (segment_id, customer_id, joined_at) \
             SELECT ?, c.id, ? ",
        );
        joins.values.extend([Value::from(id), Value::from(now_ms)]);
        joins.push(&joining);
        joins.text(" ON CONFLICT DO NOTHING RETURNING customer_id) ");
        joins.push(&log_head(MembershipKind::SegmentJoined));
        joins.text("c.id, ").push(&reason);
        joins.text(", c.external_id FROM j JOIN customers c ON c.id = j.customer_id");
        joins.text(join_r).text(" ORDER BY c.id");
        let joined = run(joins).await?;

        let mut leaves = prefix(
            "l AS (DELETE FROM segment_members d WHERE d.segment_id = ? \
             AND d.customer_id IN (SELECT c.id ",
        );
        leaves.values.push(id.into());
        leaves.push(&leaving);
        leaves.text(") RETURNING d.customer_id) ");
        leaves.push(&log_head(MembershipKind::SegmentLeft));
        leaves.text("c.id, ").push(&reason);
        leaves.text(", c.external_id FROM l JOIN customers c ON c.id = l.customer_id");
        leaves.text(join_r).text(" ORDER BY c.id");
        let left = run(leaves).await?;
        return Ok((joined, left));
    }

    // SQLite (one writer): the joins are written, then logged from the rows just added (a
    // rowid table's new rows come after its last one); the leaves logged, then deleted.
    let last_row = txn
        .query_one_raw(raw_statement(
            backend,
            "SELECT CAST(COALESCE(MAX(rowid), 0) AS BIGINT) AS n FROM segment_members",
            [],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    let mut join = prefix("");
    join.text(
        "INSERT INTO segment_members (segment_id, customer_id, joined_at) SELECT ?, c.id, ? ",
    );
    join.values.extend([Value::from(id), Value::from(now_ms)]);
    join.push(&joining).text(" ORDER BY c.id");
    let joined = run(join).await?;
    if joined > 0 {
        let mut log = prefix("");
        log.push(&log_head(MembershipKind::SegmentJoined));
        log.text("c.id, ").push(&reason).text(", c.external_id ");
        log.text(&format!(
            "FROM segment_members m JOIN customers c ON c.id = m.customer_id{join_r} \
             WHERE m.rowid > ? AND m.segment_id = ? ORDER BY m.rowid"
        ));
        log.values.extend([Value::from(last_row), Value::from(id)]);
        run(log).await?;
    }
    if fresh {
        return Ok((joined, 0));
    }
    let mut log_leaves = prefix("");
    log_leaves.push(&log_head(MembershipKind::SegmentLeft));
    log_leaves
        .text("c.id, ")
        .push(&reason)
        .text(", c.external_id ");
    log_leaves.push(&leaving).text(" ORDER BY c.id");
    let left = run(log_leaves).await?;
    if left > 0 {
        let mut leave = prefix("");
        leave.text(
            "DELETE FROM segment_members WHERE segment_id = ? AND customer_id IN (SELECT c.id ",
        );
        leave.values.push(id.into());
        leave.push(&leaving).text(")");
        run(leave).await?;
    }
    Ok((joined, left))
}
