//! What automation writes in one transaction, gathered and written set-wise: the customers'
//! memberships (decided in memory, see [`MembershipBatch`]), the action firings, and the
//! banners, messages and webhook calls effects put up and queue. [`EffectBatch::flush`] writes it all, a
//! statement for many rows of a kind — firings first, since the rest names them.

use crate::db::{PARAMETER_BYTES, in_list, statement_chunks};
use crate::domain::deliveries::outbox::{NewDelivery, enqueue_many};
use crate::domain::membership::MembershipBatch;
use crate::domain::stale::{Stale, stale};
use crate::domain::stats::{self, Dims, Fact, Metric};
use crate::domain::webhooks::event::EventType;
use crate::domain::webhooks::outbox::{Outgoing, enqueue_once};
use crate::error::{AppError, AppResult};
use crate::events::MembershipChange;
use entity::{action_firing, banner, role, tag, webhook_endpoint};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{HashMap, HashSet};

/// Rows per statement, at most.
const ROWS: usize = 200;

/// Who owns what effects write: banners and messages are unique per owner and effect index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// An action firing on an event (written with the effects, in the same flush).
    Firing { action_id: i64, event_id: i64 },
    /// A campaign run's step.
    Step {
        campaign_id: i64,
        run_id: i64,
        step_id: String,
    },
}

impl Owner {
    pub fn action_id(&self) -> Option<i64> {
        match self {
            Owner::Firing { action_id, .. } => Some(*action_id),
            Owner::Step { .. } => None,
        }
    }

    /// What triggered an effect, as a `customer.called` message names it.
    pub fn trigger(&self) -> serde_json::Value {
        match self {
            Owner::Firing {
                action_id,
                event_id,
            } => serde_json::json!({
                "actionId": action_id.to_string(),
                "eventId": event_id.to_string(),
            }),
            Owner::Step {
                campaign_id,
                run_id,
                step_id,
            } => serde_json::json!({
                "campaignId": campaign_id.to_string(),
                "runId": run_id.to_string(),
                "stepId": step_id,
            }),
        }
    }

    pub fn step_id(&self) -> Option<&str> {
        match self {
            Owner::Step { step_id, .. } => Some(step_id),
            Owner::Firing { .. } => None,
        }
    }

    pub fn run(&self) -> Option<(i64, i64)> {
        match self {
            Owner::Step {
                campaign_id,
                run_id,
                ..
            } => Some((*campaign_id, *run_id)),
            Owner::Firing { .. } => None,
        }
    }
}

/// What a role or tag effect refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    Role,
    Tag,
}

/// A firing to write: the action fired on the event, with what its effects did.
struct NewFiring {
    action_id: i64,
    customer_id: i64,
    event_id: i64,
    fired_at: i64,
    effects: serde_json::Value,
}

/// What effects refer to: roles, tags and webhook endpoints (the batch loads which exist).
#[derive(Clone, Debug, Default)]
pub struct EffectRefs {
    pub roles: Vec<i64>,
    pub tags: Vec<i64>,
    pub endpoints: Vec<i64>,
}

/// A `callWebhook` effect's message, until flushed.
pub struct Call {
    pub endpoint_id: i64,
    pub customer_id: i64,
    pub data: serde_json::Value,
    pub at_ms: i64,
}

/// The writes of one transaction's automation, until flushed.
#[derive(Default)]
pub struct EffectBatch {
    pub memberships: MembershipBatch,
    roles: HashSet<i64>,
    tags: HashSet<i64>,
    firings: Vec<NewFiring>,
    /// Banners and messages with their owner and effect index; their keys and firing ids are
    /// filled in when flushed.
    banners: Vec<(Owner, usize, banner::ActiveModel)>,
    /// The external ids of the customers shown a banner, whose storefront answers change.
    shown: Vec<String>,
    messages: Vec<(Owner, usize, NewDelivery)>,
    /// Webhook endpoints that exist, of those effects refer to.
    endpoints: HashSet<i64>,
    /// `callWebhook` messages with their owner and effect index.
    calls: Vec<(Owner, usize, Call)>,
    now_ms: i64,
}

impl EffectBatch {
    /// A batch for effects on `customer_ids` (their memberships are loaded, the segments they
    /// are in only when `segments` is read) that may refer to `references`, roles and tags
    /// (whether each still exists is loaded too).
    pub async fn load(
        txn: &impl ConnectionTrait,
        customer_ids: &[i64],
        segments: bool,
        references: EffectRefs,
        now_ms: i64,
    ) -> AppResult<Self> {
        let EffectRefs {
            roles,
            tags,
            endpoints,
        } = references;
        Ok(EffectBatch {
            memberships: MembershipBatch::load(txn, customer_ids, segments).await?,
            roles: existing::<role::Entity>(txn, roles, role::Column::Id).await?,
            tags: existing::<tag::Entity>(txn, tags, tag::Column::Id).await?,
            endpoints: existing::<webhook_endpoint::Entity>(
                txn,
                endpoints,
                webhook_endpoint::Column::Id,
            )
            .await?,
            now_ms,
            ..Default::default()
        })
    }

    /// Fails with a clear reason when the role or tag an effect refers to is gone.
    pub(super) fn known(&self, what: Known, id: i64) -> AppResult<()> {
        let (found, name) = match what {
            Known::Role => (self.roles.contains(&id), "role"),
            Known::Tag => (self.tags.contains(&id), "tag"),
        };
        if found {
            Ok(())
        } else {
            Err(AppError::NotFound(format!("{name} {id} no longer exists")))
        }
    }

    /// Puts up a banner for the customer with external id `customer`.
    pub(super) fn banner(
        &mut self,
        owner: Owner,
        index: usize,
        customer: &str,
        row: banner::ActiveModel,
    ) {
        self.banners.push((owner, index, row));
        self.shown.push(customer.to_owned());
    }

    pub(super) fn message(&mut self, owner: Owner, index: usize, message: NewDelivery) {
        self.messages.push((owner, index, message));
    }

    /// Whether webhook endpoint `id` (one an effect refers to) exists.
    pub(super) fn has_endpoint(&self, id: i64) -> bool {
        self.endpoints.contains(&id)
    }

    /// Queues a `customer.called` message.
    pub(super) fn call(&mut self, owner: Owner, index: usize, call: Call) {
        self.calls.push((owner, index, call));
    }

    /// Notes that action `action_id` fired on the event, with what its effects did.
    pub(super) fn fired(
        &mut self,
        owner: &Owner,
        customer_id: i64,
        fired_at: i64,
        effects: serde_json::Value,
    ) {
        if let Owner::Firing {
            action_id,
            event_id,
        } = *owner
        {
            self.firings.push(NewFiring {
                action_id,
                customer_id,
                event_id,
                fired_at,
                effects,
            });
        }
    }

    /// Writes everything gathered since the last flush inside `txn`. Returns the membership
    /// changes to announce after the commit.
    pub async fn flush(&mut self, txn: &impl ConnectionTrait) -> AppResult<Vec<MembershipChange>> {
        let changes = self.memberships.flush(txn).await?;
        let firings = std::mem::take(&mut self.firings);
        let fired = firings
            .iter()
            .map(|f| {
                Fact::one(
                    Metric::Fired,
                    Dims::of_action(f.action_id),
                    f.fired_at,
                    f.fired_at,
                )
            })
            .collect();
        stats::note(txn, fired).await?;
        let firing_ids = write_firings(txn, firings).await?;
        // A banner's or a message's key names its owner (a firing by its id) and its effect.
        let owned = |owner: &Owner, index: usize| -> AppResult<(String, Option<i64>)> {
            match owner {
                Owner::Firing {
                    action_id,
                    event_id,
                } => {
                    let id = firing_ids
                        .get(&(*action_id, *event_id))
                        .copied()
                        .ok_or_else(|| AppError::internal("an effect of a firing not written"))?;
                    Ok((format!("firing:{id}:effect:{index}"), Some(id)))
                }
                Owner::Step {
                    run_id, step_id, ..
                } => Ok((format!("run:{run_id}:step:{step_id}:effect:{index}"), None)),
            }
        };
        let mut banners = Vec::with_capacity(self.banners.len());
        for (owner, index, mut row) in std::mem::take(&mut self.banners) {
            let (key, firing) = owned(&owner, index)?;
            row.owner_key = ActiveValue::Set(key);
            row.firing_id = ActiveValue::Set(firing);
            banners.push(row);
        }
        write_banners(txn, banners).await?;
        let mut shown = std::mem::take(&mut self.shown);
        shown.sort_unstable();
        shown.dedup();
        stale(txn, Stale::Customers(shown)).await?;
        let mut messages = Vec::with_capacity(self.messages.len());
        for (owner, index, mut message) in std::mem::take(&mut self.messages) {
            (message.dedupe_key, message.firing_id) = owned(&owner, index)?;
            messages.push(message);
        }
        enqueue_many(txn, messages, self.now_ms).await?;
        let mut calls = Vec::with_capacity(self.calls.len());
        for (owner, index, call) in std::mem::take(&mut self.calls) {
            let (key, _) = owned(&owner, index)?;
            let message = Outgoing {
                event_type: EventType::Call,
                customer_id: Some(call.customer_id),
                object_id: None,
                occurred_at: call.at_ms,
                data: call.data,
            };
            calls.push((call.endpoint_id, key, message));
        }
        enqueue_once(txn, calls, self.now_ms).await?;
        Ok(changes)
    }
}

/// Which of `ids` exist in the table of `E`.
async fn existing<E: EntityTrait>(
    txn: &impl ConnectionTrait,
    mut ids: Vec<i64>,
    id: E::Column,
) -> AppResult<HashSet<i64>> {
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(E::find()
        .select_only()
        .column(id)
        .filter(id.is_in(in_list(ids)))
        .into_tuple::<i64>()
        .all(txn)
        .await?
        .into_iter()
        .collect())
}

/// Writes the firings; returns their ids by (action, event).
async fn write_firings(
    txn: &impl ConnectionTrait,
    firings: Vec<NewFiring>,
) -> AppResult<HashMap<(i64, i64), i64>> {
    let rows: Vec<action_firing::ActiveModel> = firings
        .into_iter()
        .map(|f| action_firing::ActiveModel {
            id: ActiveValue::NotSet,
            action_id: ActiveValue::Set(f.action_id),
            customer_id: ActiveValue::Set(f.customer_id),
            event_id: ActiveValue::Set(f.event_id),
            fired_at: ActiveValue::Set(f.fired_at),
            effects: ActiveValue::Set(f.effects),
        })
        .collect();
    let size = |row: &action_firing::ActiveModel| match &row.effects {
        ActiveValue::Set(effects) => crate::db::json_bytes(effects) + 5 * PARAMETER_BYTES + 32,
        _ => 64,
    };
    let mut ids = HashMap::with_capacity(rows.len());
    for chunk in statement_chunks(txn.get_database_backend(), &rows, ROWS, false, size) {
        let written = action_firing::Entity::insert_many(chunk.to_vec())
            .exec_with_returning(txn)
            .await?;
        ids.extend(
            written
                .into_iter()
                .map(|f| ((f.action_id, f.event_id), f.id)),
        );
    }
    Ok(ids)
}

/// Puts the banners up, once per key.
async fn write_banners(
    txn: &impl ConnectionTrait,
    rows: Vec<banner::ActiveModel>,
) -> AppResult<()> {
    let text = |v: &ActiveValue<String>| match v {
        ActiveValue::Set(s) => s.len(),
        _ => 0,
    };
    let size = |row: &banner::ActiveModel| {
        text(&row.owner_key) + text(&row.title) + text(&row.body_html) + 14 * PARAMETER_BYTES + 96
    };
    for chunk in statement_chunks(txn.get_database_backend(), &rows, ROWS, false, size) {
        banner::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(banner::Column::OwnerKey)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}
