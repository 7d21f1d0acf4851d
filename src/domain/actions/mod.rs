//! Customer actions: when a customer does something (a trigger event kind) and a condition
//! holds, apply effects — within an active window and a repeat policy. Also the firing
//! history. Effects are applied by [`effects`]; events are handled by [`processor`].

pub mod effects;
mod facts;
pub mod processor;
pub mod runner;
mod write;

pub use effects::Effect;
pub(crate) use facts::{cart_items, order_subject_facts, roles_of, tags_of};
pub use write::{ActionInput, MAX_EFFECTS, create, delete, update};

use crate::domain::conditions::Condition;
use crate::domain::ingest::EventKind;
use crate::error::AppResult;
use entity::{action_firing, customer_action};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// How often one customer may trigger an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatPolicy {
    /// Once per customer, ever.
    OncePerCustomer,
    /// On every matching event.
    EveryTime,
    /// At most once in this many days.
    AtMostEveryDays(i32),
}

impl RepeatPolicy {
    fn stored(self) -> (&'static str, Option<i32>) {
        match self {
            RepeatPolicy::OncePerCustomer => ("once_per_customer", None),
            RepeatPolicy::EveryTime => ("every_time", None),
            RepeatPolicy::AtMostEveryDays(days) => ("at_most_every_days", Some(days)),
        }
    }

    fn from_stored(policy: &str, days: Option<i32>) -> Self {
        match (policy, days) {
            ("every_time", _) => RepeatPolicy::EveryTime,
            ("at_most_every_days", Some(days)) => RepeatPolicy::AtMostEveryDays(days),
            _ => RepeatPolicy::OncePerCustomer,
        }
    }
}

/// A stored action, decoded.
#[derive(Clone, Debug)]
pub struct Action {
    pub model: customer_action::Model,
    pub trigger: EventKind,
    pub condition: Condition,
    pub effects: Vec<Effect>,
    pub repeat: RepeatPolicy,
}

impl Action {
    /// Decodes a row; a row that no longer decodes (it never should) reads as inactive.
    pub fn decode(model: customer_action::Model) -> Self {
        let condition =
            serde_json::from_value(model.condition.clone()).unwrap_or(Condition::Any(vec![]));
        let effects = serde_json::from_value(model.effects.clone()).unwrap_or_default();
        let trigger = EventKind::from_stored(&model.trigger).unwrap_or(EventKind::LoggedIn);
        let repeat = RepeatPolicy::from_stored(&model.repeat_policy, model.repeat_days);
        Action {
            model,
            trigger,
            condition,
            effects,
            repeat,
        }
    }

    /// Whether the action is switched on and inside its window at `at_ms`.
    pub fn is_live_at(&self, at_ms: i64) -> bool {
        self.model.active
            && self.model.active_from.is_none_or(|from| at_ms >= from)
            && self.model.active_to.is_none_or(|to| at_ms < to)
    }
}

/// Every action, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<Action>> {
    Ok(customer_action::Entity::find()
        .order_by_asc(customer_action::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Action::decode)
        .collect())
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<Action>> {
    Ok(customer_action::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Action::decode))
}

/// Firings, newest first, of one action and/or one customer.
pub async fn firings(
    db: &impl ConnectionTrait,
    action_id: Option<i64>,
    customer_id: Option<i64>,
    limit: u64,
) -> AppResult<Vec<action_firing::Model>> {
    let mut select = action_firing::Entity::find();
    if let Some(action_id) = action_id {
        select = select.filter(action_firing::Column::ActionId.eq(action_id));
    }
    if let Some(customer_id) = customer_id {
        select = select.filter(action_firing::Column::CustomerId.eq(customer_id));
    }
    Ok(select
        .order_by_desc(action_firing::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
