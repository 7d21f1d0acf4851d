//! Firing actions on a round of events: each live action an event triggers is evaluated against
//! the customer's facts and its repeat policy, and fires its effects, in the caller's
//! transaction. The round's facts are loaded for all its events at once and its writes are
//! gathered and written set-wise; a later event or action sees what an earlier one did.

use super::batch::{EffectBatch, Owner};
use super::effects::{EffectOutcome, EffectScope, apply_effects, references};
use super::facts::event_facts;
use super::{Action, RepeatPolicy};
use crate::config::StoreSettings;
use crate::db::{in_list, raw_statement};
use crate::domain::conditions::load::{carts_of, products_by_external_id};
use crate::domain::conditions::{Facts, Item, Reads, evaluate};
use crate::domain::ingest::{EventKind, EventPayload};
use crate::domain::membership::{ChangeSource, MembershipBatch};
use crate::error::{AppError, AppResult};
use crate::events::MembershipChange;
use entity::{action_firing, customer, event, product};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
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

/// The facts of a round of events, loaded for all of them at once, and what the actions that
/// fire on them write, gathered until [`Round::flush`]. An event sees what the actions of
/// earlier events of the round (and earlier actions of its own) did.
pub struct Round<'a> {
    actions: &'a [Action],
    customers: HashMap<i64, customer::Model>,
    payloads: HashMap<i64, EventPayload>,
    carts: HashMap<i64, Vec<Item>>,
    products: HashMap<String, product::Model>,
    /// When each (action, customer) last fired.
    last_fired: HashMap<(i64, i64), i64>,
    /// The (action, event) pairs that fired.
    fired_on: HashSet<(i64, i64)>,
    pub batch: EffectBatch,
}

/// Whether a condition of `actions` names a segment (only then are the round's customers'
/// segments read).
fn reads_segments(actions: &[Action]) -> bool {
    actions
        .iter()
        .any(|a| a.condition.reads().meets(Reads::SEGMENTS))
}

/// The actions of `actions` event `e` triggers.
fn candidates<'a>(actions: &'a [Action], e: &event::Model) -> impl Iterator<Item = &'a Action> {
    let kind = EventKind::from_stored(&e.kind);
    // A segment's join or leave triggers the actions that listen to that segment.
    let segment = kind
        .filter(|k| k.is_internal())
        .and_then(|_| serde_json::from_value::<EventPayload>(e.payload.clone()).ok())
        .and_then(|p| p.segment_id());
    actions.iter().filter(move |a| {
        Some(a.trigger) == kind
            && a.is_live_at(e.occurred_at)
            && (!a.trigger.is_internal() || a.model.trigger_segment_id == segment)
    })
}

impl<'a> Round<'a> {
    /// Loads what the actions of `actions` look at for `events`, in a handful of statements
    /// whatever their number: the customers, their memberships and carts, the products the
    /// events name, and the firings the repeat policies look at.
    pub async fn load(
        txn: &impl ConnectionTrait,
        actions: &'a [Action],
        events: &[event::Model],
        now_ms: i64,
    ) -> AppResult<Round<'a>> {
        let mut customer_ids = Vec::new();
        let mut event_ids = Vec::new();
        let mut payloads = HashMap::new();
        let mut wanted = Vec::new();
        let mut firing: HashSet<i64> = HashSet::new();
        for e in events {
            let mut triggered = candidates(actions, e).peekable();
            if triggered.peek().is_none() {
                continue;
            }
            for action in triggered {
                if action.repeat != RepeatPolicy::EveryTime {
                    firing.insert(action.model.id);
                }
            }
            let payload: EventPayload =
                serde_json::from_value(e.payload.clone()).map_err(AppError::internal)?;
            wanted.extend(
                payload
                    .product_external_ids()
                    .into_iter()
                    .map(str::to_owned),
            );
            payloads.insert(e.id, payload);
            customer_ids.push(e.customer_id);
            event_ids.push(e.id);
        }
        customer_ids.sort_unstable();
        customer_ids.dedup();
        wanted.sort_unstable();
        wanted.dedup();
        let references = references(actions.iter().flat_map(|a| a.effects.iter()));
        let firing: Vec<i64> = firing.into_iter().collect();
        // Independent reads: on a pool (SQLite's snapshot before the write lock) they run on
        // connections of their own at once; in a transaction one after the other.
        let (customers, carts, products, last_fired, fired_on, batch) = futures_util::try_join!(
            customers_of(txn, &customer_ids),
            carts_of(txn, &customer_ids),
            async {
                if wanted.is_empty() {
                    Ok(HashMap::new())
                } else {
                    products_by_external_id(txn, wanted).await
                }
            },
            last_fired(txn, &firing, &customer_ids),
            fired_on(txn, &event_ids),
            EffectBatch::load(
                txn,
                &customer_ids,
                reads_segments(actions),
                references,
                now_ms
            ),
        )?;
        Ok(Round {
            actions,
            carts,
            products,
            last_fired,
            fired_on,
            batch,
            customers,
            payloads,
        })
    }

    /// Evaluates and fires every live action event `e` triggers; returns what each did — or
    /// `None` when an action listens but the event's customer is gone, and nothing more is to
    /// be done with it.
    pub async fn on_event(
        &mut self,
        txn: &impl ConnectionTrait,
        e: &event::Model,
        now_ms: i64,
        store: &StoreSettings,
    ) -> AppResult<Option<Vec<ActionOutcome>>> {
        let triggered: Vec<&Action> = candidates(self.actions, e).collect();
        let mut outcomes = Vec::new();
        if triggered.is_empty() {
            return Ok(Some(outcomes));
        }
        let Some(customer) = self.customers.get(&e.customer_id) else {
            return Ok(None);
        };
        let payload = self
            .payloads
            .get(&e.id)
            .ok_or_else(|| AppError::internal("an event not loaded in its round"))?;
        let event_facts = event_facts(txn, customer, payload, &self.products).await?;
        let cart = self.carts.get(&customer.id).map_or(&[][..], Vec::as_slice);
        for action in triggered {
            let held = self.batch.memberships.held(customer.id);
            let facts = Facts {
                now_ms: e.occurred_at,
                store_currency: &store.currency,
                customer,
                role_ids: &held.roles,
                tags: &held.tags,
                segment_ids: &held.segments,
                cart,
                event: Some(&event_facts),
                run: None,
            };
            let mut outcome = ActionOutcome {
                action_id: action.model.id,
                name: action.model.name.clone(),
                fired: false,
                reason: None,
                effects: Vec::new(),
            };
            let key = (action.model.id, customer.id);
            if !evaluate(&action.condition, &facts) {
                outcome.reason = Some("condition");
            } else if !repeat_allows(
                action.repeat,
                self.last_fired.get(&key).copied(),
                self.fired_on.contains(&(action.model.id, e.id)),
                e.occurred_at,
            ) {
                outcome.reason = Some("repeatPolicy");
            } else {
                let owner = Owner::Firing {
                    action_id: action.model.id,
                    event_id: e.id,
                };
                let scope = EffectScope {
                    now_ms,
                    customer,
                    source: ChangeSource::Action(action.model.id),
                    owner: owner.clone(),
                    staff_email: store.staff_email.as_deref(),
                };
                let effects = apply_effects(&mut self.batch, &scope, &action.effects)?;
                let written = serde_json::to_value(&effects).map_err(AppError::internal)?;
                self.batch
                    .fired(&owner, customer.id, e.occurred_at, written);
                let last = self.last_fired.entry(key).or_insert(e.occurred_at);
                *last = (*last).max(e.occurred_at);
                self.fired_on.insert((action.model.id, e.id));
                outcome.fired = true;
                outcome.effects = effects;
            }
            outcomes.push(outcome);
        }
        Ok(Some(outcomes))
    }

    /// Reads the memberships of the round's customers again (nothing may have been decided
    /// yet): for a round read before its write lock, when others changed memberships since.
    pub async fn reload_memberships(&mut self, txn: &impl ConnectionTrait) -> AppResult<()> {
        let customer_ids: Vec<i64> = self.customers.keys().copied().collect();
        self.batch.memberships =
            MembershipBatch::load(txn, &customer_ids, reads_segments(self.actions)).await?;
        Ok(())
    }

    /// Writes what the round's actions did so far; returns the membership changes to announce
    /// after the commit.
    pub async fn flush(&mut self, txn: &impl ConnectionTrait) -> AppResult<Vec<MembershipChange>> {
        self.batch.flush(txn).await
    }
}

/// Customers, events or actions per lookup, at most.
const LOOKUP: usize = 500;

/// Whether a repeat policy lets an action fire on an event at `at` (epoch milliseconds), given
/// when it last fired for the customer and whether it fired on this event already.
fn repeat_allows(policy: RepeatPolicy, last: Option<i64>, on_this_event: bool, at: i64) -> bool {
    if on_this_event {
        return false;
    }
    match policy {
        RepeatPolicy::EveryTime => true,
        RepeatPolicy::OncePerCustomer => last.is_none(),
        RepeatPolicy::AtMostEveryDays(days) => {
            last.is_none_or(|last| last <= at - i64::from(days) * DAY_MS)
        }
    }
}

/// The customers of `ids` that exist, by id.
async fn customers_of(
    txn: &impl ConnectionTrait,
    ids: &[i64],
) -> AppResult<HashMap<i64, customer::Model>> {
    let mut customers = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LOOKUP) {
        let found = customer::Entity::find()
            .filter(customer::Column::Id.is_in(in_list(chunk.to_vec())))
            .all(txn)
            .await?;
        customers.extend(found.into_iter().map(|c| (c.id, c)));
    }
    Ok(customers)
}

/// When each of `actions` last fired for each of `customers`, by (action, customer).
///
/// One index lookup per pair (a scalar subquery on `(customer_id, action_id)`), written so
/// that no plan depends on the table's statistics: on PostgreSQL, a filter on both lists let
/// the planner, whose statistics lag behind a table growing by thousands of rows a second,
/// read every firing of an action that fires for everyone, in every round.
async fn last_fired(
    txn: &impl ConnectionTrait,
    actions: &[i64],
    customers: &[i64],
) -> AppResult<HashMap<(i64, i64), i64>> {
    let mut last = HashMap::new();
    if actions.is_empty() {
        return Ok(last);
    }
    let values = |ids: &[i64]| {
        ids.iter()
            .map(|id| format!("({id})"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let action_values = values(actions);
    for chunk in customers.chunks(LOOKUP) {
        let sql = format!(
            "WITH c(id) AS (VALUES {}), a(id) AS (VALUES {action_values}) \
             SELECT CAST(a.id AS BIGINT), CAST(c.id AS BIGINT), \
             (SELECT MAX(f.fired_at) FROM action_firings f \
              WHERE f.customer_id = c.id AND f.action_id = a.id) \
             FROM c CROSS JOIN a",
            values(chunk)
        );
        let statement = raw_statement(txn.get_database_backend(), &sql, []);
        for row in txn.query_all_raw(statement).await? {
            let at: Option<i64> = row.try_get_by_index(2)?;
            if let Some(at) = at {
                last.insert((row.try_get_by_index(0)?, row.try_get_by_index(1)?), at);
            }
        }
    }
    Ok(last)
}

/// Which actions fired on `events` already, as (action, event).
async fn fired_on(txn: &impl ConnectionTrait, events: &[i64]) -> AppResult<HashSet<(i64, i64)>> {
    let mut fired = HashSet::new();
    for chunk in events.chunks(LOOKUP) {
        let rows: Vec<(i64, i64)> = action_firing::Entity::find()
            .select_only()
            .column(action_firing::Column::ActionId)
            .column(action_firing::Column::EventId)
            .filter(action_firing::Column::EventId.is_in(in_list(chunk.to_vec())))
            .into_tuple()
            .all(txn)
            .await?;
        fired.extend(rows);
    }
    Ok(fired)
}
