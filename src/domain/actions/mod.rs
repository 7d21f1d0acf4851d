//! Customer actions: when a customer does something (a trigger event kind) and a condition
//! holds, apply effects — within an active window and a repeat policy. Also the firing
//! history. Effects are applied by [`effects`]; [`fire`] fires the actions an event triggers (the
//! event processor in `domain::react` calls it).

pub mod batch;
pub mod effects;
mod facts;
pub mod fire;
mod write;

pub use effects::Effect;
pub use write::{ActionInput, MAX_EFFECTS, create, delete, update};

use crate::domain::conditions::Condition;
use crate::domain::ingest::EventKind;
use crate::domain::records::decode_part;
use crate::error::AppResult;
use entity::{action_firing, customer_action};
use sea_orm::sea_query::Expr;
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

    fn from_stored(policy: &str, days: Option<i32>) -> Option<Self> {
        match (policy, days) {
            ("once_per_customer", _) => Some(RepeatPolicy::OncePerCustomer),
            ("every_time", _) => Some(RepeatPolicy::EveryTime),
            ("at_most_every_days", Some(days)) => Some(RepeatPolicy::AtMostEveryDays(days)),
            _ => None,
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
    /// Why the stored definition does not decode (it never should: rows are validated when
    /// written). A broken action never fires, and [`deactivate_broken`] switches it off.
    pub broken: Option<String>,
}

impl Action {
    /// Decodes a row. A part that does not decode makes the action [`Action::broken`], with
    /// the reason; it is never run with a default in that part's place.
    pub fn decode(model: customer_action::Model) -> Self {
        let mut problems = Vec::new();
        let condition = decode_part("condition", &model.condition, &mut problems)
            .unwrap_or(Condition::Any(vec![]));
        let effects = decode_part("effects", &model.effects, &mut problems).unwrap_or_default();
        let trigger = EventKind::from_stored(&model.trigger).unwrap_or_else(|| {
            problems.push(format!("trigger {:?} is not an event kind", model.trigger));
            EventKind::LoggedIn
        });
        let repeat = RepeatPolicy::from_stored(&model.repeat_policy, model.repeat_days)
            .unwrap_or_else(|| {
                problems.push(format!(
                    "repeat policy {:?} is not one Nudge knows",
                    model.repeat_policy
                ));
                RepeatPolicy::OncePerCustomer
            });
        Action {
            model,
            trigger,
            condition,
            effects,
            repeat,
            broken: (!problems.is_empty()).then(|| problems.join("; ")),
        }
    }

    /// Whether the action is switched on and inside its window at `at_ms`.
    pub fn is_live_at(&self, at_ms: i64) -> bool {
        self.broken.is_none()
            && self.model.active
            && self.model.active_from.is_none_or(|from| at_ms >= from)
            && self.model.active_to.is_none_or(|to| at_ms < to)
    }
}

/// Switches off each active action of `actions` whose definition does not decode, keeping
/// the reason for admins (`brokenReason`); each is logged once, when it is switched off.
pub async fn deactivate_broken(db: &impl ConnectionTrait, actions: &[Action]) -> AppResult<()> {
    for action in actions.iter().filter(|a| a.model.active) {
        let Some(reason) = &action.broken else {
            continue;
        };
        let switched = customer_action::Entity::update_many()
            .col_expr(customer_action::Column::Active, Expr::value(false))
            .col_expr(
                customer_action::Column::BrokenReason,
                Expr::value(reason.clone()),
            )
            .filter(customer_action::Column::Id.eq(action.model.id))
            .filter(customer_action::Column::Active.eq(true))
            .exec(db)
            .await?;
        if switched.rows_affected > 0 {
            tracing::error!(
                action.id = action.model.id,
                reason = %reason,
                "a customer action no longer decodes and was switched off"
            );
        }
    }
    Ok(())
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
