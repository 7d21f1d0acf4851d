//! The event processor: takes stored, unprocessed events in order, evaluates the customer
//! actions they trigger and applies their effects, enrols the campaign runs they anchor and
//! advances those at once, in the same transaction. Ingest never waits for it, and a failing
//! rule marks only its own event as failed (a failing run only itself).

use super::Action;
use super::RepeatPolicy;
use super::effects::{EffectOutcome, EffectScope, apply_effects};
use super::facts::{cart_items, event_facts, roles_of, tags_of};
use crate::clock::to_millis;
use crate::db::{begin_write, in_list};
use crate::domain::campaigns::entry::{self as campaign_entry, kinds_seen};
use crate::domain::campaigns::run::advance_runs_of;
use crate::domain::campaigns::tick::active_campaigns;
use crate::domain::campaigns::{Campaign, RunnerConfig};
use crate::domain::conditions::{Facts, evaluate};
use crate::domain::ingest::{EventKind, EventPayload};
use crate::domain::membership::{self, ChangeSource};
use crate::error::{AppError, AppResult};
use crate::events::{EventBus, MembershipChange, MembershipKind};
use chrono::{DateTime, Utc};
use entity::{action_firing, customer, customer_action, event};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

const DAY_MS: i64 = 86_400_000;

/// What the processor needs besides the database.
pub struct ProcessorConfig<'a> {
    pub store_currency: &'a str,
    pub staff_email: Option<&'a str>,
    /// The time zone of customers without one (campaign times).
    pub store_zone: chrono_tz::Tz,
}

impl ProcessorConfig<'_> {
    fn campaigns(&self) -> RunnerConfig<'_> {
        RunnerConfig {
            store_currency: self.store_currency,
            store_zone: self.store_zone,
            staff_email: self.staff_email,
        }
    }
}

/// What automation did for one action on one event, as shown in `event.outcome`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionOutcome {
    action_id: i64,
    name: String,
    fired: bool,
    /// Why it did not fire: `condition` or `repeatPolicy`.
    reason: Option<&'static str>,
    effects: Vec<EffectOutcome>,
}

/// Handles up to `limit` unprocessed events, oldest first, and returns how many it handled.
/// The batch runs in one transaction; if that fails, each event is retried alone and one that
/// still fails is marked processed with its error, so one broken rule cannot stall the queue.
pub async fn process_pending(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    config: &ProcessorConfig<'_>,
    limit: u64,
) -> AppResult<usize> {
    // Ids and kinds first: most events usually have no listener and need nothing more.
    let pending: Vec<(i64, String)> = event::Entity::find()
        .select_only()
        .columns([event::Column::Id, event::Column::Kind])
        .filter(event::Column::ProcessedAt.is_null())
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let actions: Vec<Action> = customer_action::Entity::find()
        .filter(customer_action::Column::Active.eq(true))
        .order_by_asc(customer_action::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Action::decode)
        .collect();
    super::deactivate_broken(db, &actions).await?;
    let actions: Vec<Action> = actions.into_iter().filter(|a| a.broken.is_none()).collect();
    let campaigns = active_campaigns(db, to_millis(now)).await?;
    let now_ms = to_millis(now);
    let mut triggers: HashSet<&str> = actions.iter().map(|a| a.trigger.as_str()).collect();
    triggers.extend(kinds_seen(&campaigns).into_iter().map(|k| k.as_str()));
    let (mut listened, mut quiet) = (Vec::new(), Vec::new());
    for (id, kind) in pending {
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
            .all(db)
            .await?
    };
    let handled = events.len() + quiet.len();
    let txn = begin_write(db).await?;
    // Events no action listens to are done in one statement.
    mark_processed(&txn, quiet.iter().copied(), now_ms, no_actions()).await?;
    let mut announced = Vec::new();
    let mut runs_due = Vec::new();
    let mut batch_ok = true;
    for e in &events {
        match process_one(&txn, e, &actions, &campaigns, now_ms, config).await {
            Ok((changes, due)) => {
                announced.extend(changes);
                runs_due.extend(due.then_some(e.customer_id));
            }
            Err(err) => {
                tracing::warn!(event.id = e.id, error = %err, "event failed in a batch; retrying one by one");
                batch_ok = false;
                break;
            }
        }
    }
    if batch_ok {
        runs_due.sort_unstable();
        runs_due.dedup();
        match advance_runs_of(&txn, &runs_due, now_ms, &campaigns, &config.campaigns()).await {
            Ok(changes) => {
                announced.extend(changes);
                txn.commit().await?;
                membership::announce(bus, announced);
                return Ok(handled);
            }
            Err(err) => {
                tracing::warn!(error = %err, "runs of a batch failed; retrying one event at a time");
            }
        }
    }
    txn.rollback().await?;
    for e in &events {
        let txn = begin_write(db).await?;
        let done = match process_one(&txn, e, &actions, &campaigns, now_ms, config).await {
            Ok((mut changes, true)) => {
                let runner = config.campaigns();
                advance_runs_of(&txn, &[e.customer_id], now_ms, &campaigns, &runner)
                    .await
                    .map(|more| {
                        changes.extend(more);
                        changes
                    })
            }
            Ok((changes, false)) => Ok(changes),
            Err(err) => Err(err),
        };
        match done {
            Ok(changes) => {
                txn.commit().await?;
                membership::announce(bus, changes);
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
    mark_processed(db, quiet.iter().copied(), now_ms, no_actions()).await?;
    Ok(handled)
}

/// Marks the given events processed with `outcome` (events processed already are left alone).
async fn mark_processed(
    db: &impl ConnectionTrait,
    event_ids: impl IntoIterator<Item = i64>,
    now_ms: i64,
    outcome: serde_json::Value,
) -> AppResult<()> {
    let ids: Vec<i64> = event_ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(());
    }
    event::Entity::update_many()
        .col_expr(event::Column::ProcessedAt, Expr::value(now_ms))
        .col_expr(event::Column::Outcome, Expr::value(outcome))
        .filter(event::Column::Id.is_in(in_list(ids)))
        .filter(event::Column::ProcessedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The outcome of an event no action reacted to.
fn no_actions() -> serde_json::Value {
    serde_json::json!({ "actions": [] })
}

/// Evaluates and fires every live action the event triggers; marks the event processed.
async fn process_one(
    txn: &impl ConnectionTrait,
    e: &event::Model,
    actions: &[Action],
    campaigns: &[Campaign],
    now_ms: i64,
    config: &ProcessorConfig<'_>,
) -> AppResult<(Vec<MembershipChange>, bool)> {
    let kind = EventKind::from_stored(&e.kind);
    let candidates: Vec<&Action> = actions
        .iter()
        .filter(|a| Some(a.trigger) == kind && a.is_live_at(e.occurred_at))
        .collect();
    let mut outcomes = Vec::new();
    let mut announced = Vec::new();
    if !candidates.is_empty() {
        let Some(customer) = customer::Entity::find_by_id(e.customer_id).one(txn).await? else {
            mark_processed(txn, [e.id], now_ms, no_actions()).await?;
            return Ok((Vec::new(), false));
        };
        let payload: EventPayload =
            serde_json::from_value(e.payload.clone()).map_err(AppError::internal)?;
        let mut roles = roles_of(txn, customer.id).await?;
        let mut tags = tags_of(txn, customer.id).await?;
        let cart = cart_items(txn, customer.id).await?;
        let event_facts = event_facts(txn, &customer, &payload).await?;
        for action in candidates {
            let facts = Facts {
                now_ms: e.occurred_at,
                store_currency: config.store_currency,
                customer: &customer,
                role_ids: &roles,
                tags: &tags,
                cart: &cart,
                event: Some(&event_facts),
            };
            let mut outcome = ActionOutcome {
                action_id: action.model.id,
                name: action.model.name.clone(),
                fired: false,
                reason: None,
                effects: Vec::new(),
            };
            if !evaluate(&action.condition, &facts) {
                outcome.reason = Some("condition");
            } else if !repeat_allows(txn, action, customer.id, e).await? {
                outcome.reason = Some("repeatPolicy");
            } else {
                let firing = action_firing::ActiveModel {
                    id: ActiveValue::NotSet,
                    action_id: ActiveValue::Set(action.model.id),
                    customer_id: ActiveValue::Set(customer.id),
                    event_id: ActiveValue::Set(e.id),
                    fired_at: ActiveValue::Set(e.occurred_at),
                    effects: ActiveValue::Set(serde_json::json!([])),
                }
                .insert(txn)
                .await?;
                let scope = EffectScope {
                    now_ms,
                    customer: &customer,
                    source: ChangeSource::Action(action.model.id),
                    action_id: Some(action.model.id),
                    firing_id: Some(firing.id),
                    run: None,
                    owner_key: format!("firing:{}", firing.id),
                    staff_email: config.staff_email,
                };
                let (effects, changes) = apply_effects(txn, &scope, &action.effects).await?;
                for change in &changes {
                    follow(change, &mut roles, &mut tags);
                }
                let mut active: action_firing::ActiveModel = firing.into();
                active.effects =
                    ActiveValue::Set(serde_json::to_value(&effects).map_err(AppError::internal)?);
                active.update(txn).await?;
                announced.extend(changes);
                outcome.fired = true;
                outcome.effects = effects;
            }
            outcomes.push(outcome);
        }
    }
    let runs_due = campaign_entry::on_event(txn, campaigns, e, now_ms, &config.campaigns()).await?;
    let outcome = serde_json::json!({ "actions": outcomes });
    mark_processed(txn, [e.id], now_ms, outcome).await?;
    Ok((announced, runs_due))
}

/// Keeps the in-memory memberships in step with effects, so a later action of the same event
/// sees what an earlier one did.
fn follow(
    change: &MembershipChange,
    roles: &mut HashSet<i64>,
    tags: &mut HashMap<i64, Option<String>>,
) {
    match change.kind {
        MembershipKind::RoleAssigned => {
            roles.extend(change.role_id);
        }
        MembershipKind::RoleRemoved => {
            if let Some(id) = change.role_id {
                roles.remove(&id);
            }
        }
        MembershipKind::TagSet => {
            if let Some(id) = change.tag_id {
                tags.insert(id, change.value.clone());
            }
        }
        MembershipKind::TagRemoved => {
            if let Some(id) = change.tag_id {
                tags.remove(&id);
            }
        }
    }
}

async fn repeat_allows(
    txn: &impl ConnectionTrait,
    action: &Action,
    customer_id: i64,
    e: &event::Model,
) -> AppResult<bool> {
    let earlier = action_firing::Entity::find()
        .filter(action_firing::Column::ActionId.eq(action.model.id))
        .filter(action_firing::Column::CustomerId.eq(customer_id));
    Ok(match action.repeat {
        RepeatPolicy::EveryTime => {
            earlier
                .filter(action_firing::Column::EventId.eq(e.id))
                .count(txn)
                .await?
                == 0
        }
        RepeatPolicy::OncePerCustomer => earlier.count(txn).await? == 0,
        RepeatPolicy::AtMostEveryDays(days) => {
            let since = e.occurred_at - i64::from(days) * DAY_MS;
            earlier
                .filter(
                    Condition::any()
                        .add(action_firing::Column::FiredAt.gt(since))
                        .add(action_firing::Column::EventId.eq(e.id)),
                )
                .count(txn)
                .await?
                == 0
        }
    })
}
