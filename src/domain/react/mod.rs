//! The react stage: the event processor takes stored, unprocessed events in order and lets
//! each room that reacts to what customers do have its say, in one transaction — customer
//! actions fire their effects, campaigns enrol the runs an event anchors and check the open
//! ones — then advances the runs that became due, so a reaction goes out within seconds.
//! Ingest never waits for it, and a failing rule marks only its own event as failed (a
//! failing run only itself). [`runner`] runs it; on PostgreSQL every process runs it for its
//! share of the events ([`partitions`]).

mod partitions;
pub mod runner;

pub use partitions::{PARTITIONS, Share};

use crate::clock::to_millis;
use crate::config::StoreSettings;
use crate::db::{WriteTxn, begin_write, in_list};
use crate::domain::actions::fire::Round;
use crate::domain::actions::{self, Action};
use crate::domain::campaigns::Campaign;
use crate::domain::campaigns::entry::{self as campaign_entry, kinds_seen};
use crate::domain::campaigns::run::advance_runs_of;
use crate::domain::campaigns::tick::active_campaigns;
use crate::domain::conditions::Reads;
use crate::domain::ingest::EventKind;
use crate::domain::{membership, segments};
use crate::error::{AppError, AppResult};
use crate::events::{EventBus, MembershipChange};
use chrono::{DateTime, Utc};
use entity::event;
use sea_orm::DbBackend;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::{HashMap, HashSet};

/// Events marked processed per statement, at most.
const MARK: usize = 500;

/// Handles up to `limit` unprocessed events of `share`, oldest first, and returns how many it
/// handled, as one round in one transaction; if that fails, each event is retried alone and
/// one that still fails is marked processed with its error, so one broken rule cannot stall
/// the queue.
///
/// What the round reads is read where it costs writers least. On PostgreSQL, inside the
/// transaction, which locks its events first (another process skips them, so none is handled
/// twice even while partitions change hands). On SQLite, whose one write lock ingest needs too,
/// from a snapshot before the lock is taken: only this process handles events, so they and
/// their firings cannot change meanwhile, and memberships are read again under the lock if
/// the change log moved since.
pub async fn process_pending(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    store: &StoreSettings,
    limit: u64,
    share: &Share,
) -> AppResult<usize> {
    if share.is_empty() {
        return Ok(0);
    }
    let now_ms = to_millis(now);
    // A look first, without the write lock: an idle processor holds up no writer.
    let any = pending(share).into_tuple::<(i64, String)>().one(db).await?;
    if any.is_none() {
        return Ok(0);
    }
    let txn;
    let taken;
    let round;
    if db.get_database_backend() == DbBackend::Postgres {
        txn = begin_write(db).await?;
        taken = take(&txn, share, limit, now_ms).await?;
        round = Round::load(&txn, &taken.actions, &taken.events, now_ms).await?;
    } else {
        let stamp = membership::latest_id(db).await?;
        taken = take(db, share, limit, now_ms).await?;
        let mut read = Round::load(db, &taken.actions, &taken.events, now_ms).await?;
        txn = begin_write(db).await?;
        if membership::latest_id(&txn).await? != stamp {
            read.reload_memberships(&txn).await?;
        }
        round = read;
    }
    let Taken {
        actions,
        campaigns,
        events,
        quiet,
        touched,
    } = &taken;
    let handled = events.len() + quiet.len();
    if handled == 0 {
        txn.rollback().await?;
        return Ok(0);
    }
    // Events no action listens to are done in one statement.
    mark_processed(&txn, quiet.iter().copied(), now_ms, no_actions()).await?;
    let reacted = match react(&txn, round, events, campaigns, now_ms, store).await {
        Ok(announced) => segments::follow_changes(&txn, changed_facts(touched, &announced), now_ms)
            .await
            .map(|followed| (announced, followed)),
        Err(err) => Err(err),
    };
    match reacted {
        Ok((announced, followed)) => {
            txn.commit().await?;
            membership::announce(bus, announced);
            membership::announce_logged(bus, followed.logged_upto);
            return Ok(handled);
        }
        Err(err) => {
            tracing::warn!(error = %err, "a round of events failed; retrying one event at a time");
        }
    }
    txn.rollback().await?;
    for e in events {
        let txn = begin_write(db).await?;
        let still_pending = pending(&Share::All)
            .filter(event::Column::Id.eq(e.id))
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .into_tuple::<(i64, String)>()
            .one(&txn)
            .await?;
        if still_pending.is_none() {
            // Another process took it meanwhile (its partition changed hands).
            txn.rollback().await?;
            continue;
        }
        let alone = std::slice::from_ref(e);
        let reacted = match Round::load(&txn, actions, alone, now_ms).await {
            Ok(round) => react(&txn, round, alone, campaigns, now_ms, store).await,
            Err(e) => Err(e),
        };
        let reacted = match reacted {
            Ok(changes) => {
                let kind = EventKind::from_stored(&e.kind);
                let facts = kind.map_or(Reads::EVERYTHING, changed_by);
                let alone =
                    HashMap::from([(e.customer_id, (segments::event_reason(&e.event_id), facts))]);
                segments::follow_changes(&txn, changed_facts(&alone, &changes), now_ms)
                    .await
                    .map(|followed| (changes, followed))
            }
            Err(err) => Err(err),
        };
        match reacted {
            Ok((changes, followed)) => {
                txn.commit().await?;
                membership::announce(bus, changes);
                membership::announce_logged(bus, followed.logged_upto);
            }
            Err(err) => {
                txn.rollback().await?;
                tracing::error!(event.id = e.id, error = %err, "event processing failed");
                mark_processed(
                    db,
                    [e.id],
                    now_ms,
                    serde_json::json!({ "error": "processing failed; see the server log" }),
                )
                .await?;
            }
        }
    }
    // The quiet events, and the facts every event of the round changed: segments follow
    // (again, for those handled above: it changes nothing twice).
    let txn = begin_write(db).await?;
    mark_processed(&txn, quiet.iter().copied(), now_ms, no_actions()).await?;
    let followed = segments::follow_changes(&txn, changed_facts(touched, &[]), now_ms).await?;
    txn.commit().await?;
    membership::announce_logged(bus, followed.logged_upto);
    Ok(handled)
}

/// Lets the actions and the campaigns react to `events`, in order, as one round inside `txn`:
/// the actions' facts are in `round`, loaded for the round at once, and their writes gathered,
/// written
/// before campaigns look at an event (they read what the actions did) and at the end; then
/// every event is marked processed with what its actions did, a statement per distinct
/// outcome, and the runs that became due are advanced. Returns the membership changes to
/// announce after the commit.
async fn react(
    txn: &WriteTxn,
    mut round: Round<'_>,
    events: &[event::Model],
    campaigns: &[Campaign],
    now_ms: i64,
    store: &StoreSettings,
) -> AppResult<Vec<MembershipChange>> {
    let seen: HashSet<&str> = kinds_seen(campaigns).iter().map(|k| k.as_str()).collect();
    let mut announced = Vec::new();
    let mut outcomes: HashMap<String, (serde_json::Value, Vec<i64>)> = HashMap::new();
    let mut runs_due = Vec::new();
    for e in events {
        let outcome = match round.on_event(txn, e, now_ms, store).await? {
            None => no_actions(),
            Some(fired) => {
                if seen.contains(e.kind.as_str()) {
                    announced.extend(round.flush(txn).await?);
                    if campaign_entry::on_event(txn, campaigns, e, now_ms, store).await? {
                        runs_due.push(e.customer_id);
                    }
                }
                serde_json::json!({ "actions": fired })
            }
        };
        outcomes
            .entry(outcome.to_string())
            .or_insert_with(|| (outcome, Vec::new()))
            .1
            .push(e.id);
    }
    announced.extend(round.flush(txn).await?);
    for (outcome, ids) in outcomes.into_values() {
        mark_processed(txn, ids, now_ms, outcome).await?;
    }
    runs_due.sort_unstable();
    runs_due.dedup();
    announced.extend(advance_runs_of(txn, &runs_due, now_ms, campaigns, store).await?);
    Ok(announced)
}

/// What a round takes: the rules that react, the events they listen to (in full), the ids
/// of those nothing listens to, and every customer whose events the round takes, with the
/// last of them and the facts they changed (their segments follow).
struct Taken {
    actions: Vec<Action>,
    campaigns: Vec<Campaign>,
    events: Vec<event::Model>,
    quiet: Vec<i64>,
    touched: HashMap<i64, (String, Reads)>,
}

/// The facts an event of `kind` changes when it is recorded.
fn changed_by(kind: EventKind) -> Reads {
    match kind {
        EventKind::Registered => Reads::REGISTRATION
            .union(Reads::PROFILE)
            .union(Reads::CONSENT),
        EventKind::ProfileUpdated => Reads::PROFILE.union(Reads::CONSENT),
        EventKind::LoggedIn => Reads::LAST_LOGIN,
        EventKind::OrderPlaced | EventKind::OrderStatusChanged => Reads::ORDERS,
        EventKind::NewsletterSubscribed | EventKind::NewsletterUnsubscribed => Reads::CONSENT,
        EventKind::AddedToCart | EventKind::CartUpdated => Reads::EVENT,
        EventKind::ProductViewed
        | EventKind::PageVisited
        | EventKind::SegmentJoined
        | EventKind::SegmentLeft
        | EventKind::PredictedCartReady
        | EventKind::PredictedCartConfirmed
        | EventKind::PredictedCartPostponed
        | EventKind::PredictedCartDeclined => Reads::NOTHING,
    }
}

/// The customers whose facts a round changed: what their events changed, and their roles or
/// tags when the round's effects changed those; each with the last event's reason.
fn changed_facts(
    touched: &HashMap<i64, (String, Reads)>,
    announced: &[MembershipChange],
) -> Vec<(i64, String, Reads)> {
    let mut changed = touched.clone();
    for change in announced {
        let facts = match (change.role_id, change.tag_id) {
            (Some(_), _) => Reads::ROLES,
            (_, Some(_)) => Reads::TAGS,
            _ => Reads::NOTHING,
        };
        if let Some((_, reads)) = changed.get_mut(&change.customer_id) {
            *reads = reads.union(facts);
        }
    }
    let mut changed: Vec<(i64, String, Reads)> = changed
        .into_iter()
        .map(|(id, (reason, reads))| (id, reason, reads))
        .collect();
    changed.sort_unstable_by_key(|(id, _, _)| *id);
    changed
}

/// Takes up to `limit` unprocessed events of `share` (locked for the caller's transaction,
/// when it is one on PostgreSQL), with the live actions and campaigns.
async fn take(
    conn: &impl ConnectionTrait,
    share: &Share,
    limit: u64,
    now_ms: i64,
) -> AppResult<Taken> {
    // Ids and kinds first: most events usually have no listener and need nothing more.
    let waiting = pending(share)
        .columns([event::Column::CustomerId, event::Column::EventId])
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple::<(i64, String, i64, String)>()
        .all(conn);
    let (waiting, actions, campaigns) = futures_util::try_join!(
        async { waiting.await.map_err(AppError::from) },
        actions::fire::live(conn),
        active_campaigns(conn, now_ms),
    )?;
    let mut triggers: HashSet<&str> = actions.iter().map(|a| a.trigger.as_str()).collect();
    triggers.extend(kinds_seen(&campaigns).into_iter().map(|k| k.as_str()));
    let (mut listened, mut quiet) = (Vec::new(), Vec::new());
    let mut touched: HashMap<i64, (String, Reads)> = HashMap::new();
    for (id, kind, customer_id, event_id) in waiting {
        let facts = EventKind::from_stored(&kind).map_or(Reads::EVERYTHING, changed_by);
        let entry = touched
            .entry(customer_id)
            .or_insert_with(|| (String::new(), Reads::NOTHING));
        *entry = (segments::event_reason(&event_id), entry.1.union(facts));
        if triggers.contains(kind.as_str()) {
            listened.push(id);
        } else {
            quiet.push(id);
        }
    }
    let events = if listened.is_empty() {
        Vec::new()
    } else {
        event::Entity::find()
            .filter(event::Column::Id.is_in(in_list(listened)))
            .order_by_asc(event::Column::Id)
            .all(conn)
            .await?
    };
    Ok(Taken {
        actions,
        campaigns,
        events,
        quiet,
        touched,
    })
}

/// The unprocessed events of `share` (ids and kinds), oldest first.
fn pending(share: &Share) -> sea_orm::Select<event::Entity> {
    let mut select = event::Entity::find()
        .select_only()
        .columns([event::Column::Id, event::Column::Kind])
        .filter(event::Column::ProcessedAt.is_null());
    if let Share::Partitions(parts) = share {
        let list: Vec<String> = parts.iter().map(i64::to_string).collect();
        select = select.filter(Expr::cust(format!(
            "customer_id % {PARTITIONS} IN ({})",
            list.join(",")
        )));
    }
    select.order_by_asc(event::Column::Id)
}

/// Marks the given events processed with `outcome` (events processed already are left alone).
async fn mark_processed(
    db: &impl ConnectionTrait,
    event_ids: impl IntoIterator<Item = i64>,
    now_ms: i64,
    outcome: serde_json::Value,
) -> AppResult<()> {
    let ids: Vec<i64> = event_ids.into_iter().collect();
    for chunk in ids.chunks(MARK) {
        event::Entity::update_many()
            .col_expr(event::Column::ProcessedAt, Expr::value(now_ms))
            .col_expr(event::Column::Outcome, Expr::value(outcome.clone()))
            .filter(event::Column::Id.is_in(in_list(chunk.to_vec())))
            .filter(event::Column::ProcessedAt.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The outcome of an event no action reacted to.
fn no_actions() -> serde_json::Value {
    serde_json::json!({ "actions": [] })
}
