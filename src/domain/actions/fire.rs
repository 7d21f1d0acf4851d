//! Firing actions on one event: each live action the event triggers is evaluated against the
//! customer's facts and its repeat policy, and fires its effects, in the caller's transaction.
//! A later action of the same event sees what an earlier one did.

use super::effects::{EffectOutcome, EffectScope, apply_effects};
use super::facts::event_facts;
use super::{Action, RepeatPolicy};
use crate::config::StoreSettings;
use crate::domain::conditions::load::{cart_items, roles_of, tags_of};
use crate::domain::conditions::{Facts, evaluate};
use crate::domain::ingest::{EventKind, EventPayload};
use crate::domain::membership::ChangeSource;
use crate::error::{AppError, AppResult};
use crate::events::{MembershipChange, MembershipKind};
use entity::{action_firing, customer, event};
use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

const DAY_MS: i64 = 86_400_000;

/// What automation did for one action on one event, as shown in `event.outcome`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionOutcome {
    action_id: i64,
    name: String,
    fired: bool,
    /// Why it did not fire: `condition` or `repeatPolicy`.
    reason: Option<&'static str>,
    effects: Vec<EffectOutcome>,
}

/// The actions that are switched on and decode, oldest first; broken ones are switched off.
pub async fn live(db: &impl ConnectionTrait) -> AppResult<Vec<Action>> {
    let actions: Vec<Action> = entity::customer_action::Entity::find()
        .filter(entity::customer_action::Column::Active.eq(true))
        .order_by_asc(entity::customer_action::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Action::decode)
        .collect();
    super::deactivate_broken(db, &actions).await?;
    Ok(actions.into_iter().filter(|a| a.broken.is_none()).collect())
}

/// Evaluates and fires every live action of `actions` that event `e` triggers; returns what
/// each did and the membership changes to announce after the commit — or `None` when an
/// action listens but the event's customer is gone, and nothing more is to be done with it.
pub async fn on_event(
    txn: &impl ConnectionTrait,
    e: &event::Model,
    actions: &[Action],
    now_ms: i64,
    store: &StoreSettings,
) -> AppResult<Option<(Vec<ActionOutcome>, Vec<MembershipChange>)>> {
    let kind = EventKind::from_stored(&e.kind);
    let candidates: Vec<&Action> = actions
        .iter()
        .filter(|a| Some(a.trigger) == kind && a.is_live_at(e.occurred_at))
        .collect();
    let mut outcomes = Vec::new();
    let mut announced = Vec::new();
    if candidates.is_empty() {
        return Ok(Some((outcomes, announced)));
    }
    let Some(customer) = customer::Entity::find_by_id(e.customer_id).one(txn).await? else {
        return Ok(None);
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
            store_currency: &store.currency,
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
                staff_email: store.staff_email.as_deref(),
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
    Ok(Some((outcomes, announced)))
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
