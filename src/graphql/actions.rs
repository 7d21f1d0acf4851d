//! Customer actions on the API: CRUD and the firing history.

use super::auth::Require;
use super::conditions::{ConditionInput, to_condition};
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::events::EventKind;
use super::scalars::{id_arg, opt_id_arg};
use super::stats::{self, Statistics, StatsBasis};
use crate::clock::from_millis;
use crate::domain::actions::{self, Action, ActionInput, Effect, RepeatPolicy};
use crate::error::{AppError, FieldViolation, ViolationCode};
use async_graphql::{
    Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, OneofObject, SimpleObject,
};
use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use entity::action_firing;

/// How often one customer may trigger an action.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatKind {
    /// Once per customer, ever (the default).
    OncePerCustomer,
    /// On every matching event.
    EveryTime,
    /// At most once every `days` days.
    AtMostEveryDays,
}

/// A repeat policy; `days` goes with `AT_MOST_EVERY_DAYS`.
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "RepeatPolicyInput")]
pub struct RepeatPolicyValue {
    pub kind: RepeatKind,
    pub days: Option<i32>,
}

impl From<RepeatPolicy> for RepeatPolicyValue {
    fn from(p: RepeatPolicy) -> Self {
        match p {
            RepeatPolicy::OncePerCustomer => RepeatPolicyValue {
                kind: RepeatKind::OncePerCustomer,
                days: None,
            },
            RepeatPolicy::EveryTime => RepeatPolicyValue {
                kind: RepeatKind::EveryTime,
                days: None,
            },
            RepeatPolicy::AtMostEveryDays(d) => RepeatPolicyValue {
                kind: RepeatKind::AtMostEveryDays,
                days: Some(d),
            },
        }
    }
}

/// A banner shown to the customer.
#[derive(InputObject)]
pub struct BannerEffectInput {
    pub title: String,
    /// HTML shown as the banner's body.
    pub body_html: String,
    pub coupon_code: Option<String>,
    /// Not before this time (default: at once).
    pub starts_at: Option<DateTime<Utc>>,
    /// Not after this time.
    pub ends_at: Option<DateTime<Utc>>,
    /// Shown for this many hours.
    pub duration_hours: Option<i32>,
}

/// An email to the customer.
#[derive(InputObject)]
pub struct EmailEffectInput {
    pub subject: String,
    pub body_html: String,
    pub body_text: Option<String>,
}

/// An SMS to the customer.
#[derive(InputObject)]
pub struct SmsEffectInput {
    pub body: String,
}

/// An email to the shop's staff (`NUDGE_STAFF_EMAIL`).
#[derive(InputObject)]
pub struct StaffEffectInput {
    pub subject: String,
    pub body_text: String,
}

/// A signed `customer.called` webhook message to one endpoint (whatever event types it
/// subscribes to), with the customer, what triggered it and `payload`.
#[derive(InputObject)]
pub struct CallWebhookEffectInput {
    pub endpoint_id: ID,
    /// Any JSON, at most 64 KiB, sent as `data.payload`.
    pub payload: Option<async_graphql::Json<serde_json::Value>>,
}

/// A tag to set, with an optional value.
#[derive(InputObject)]
pub struct SetTagEffectInput {
    pub tag_id: ID,
    pub value: Option<String>,
}

/// One effect: exactly one field.
#[derive(OneofObject)]
pub enum EffectInput {
    AssignRole(ID),
    RemoveRole(ID),
    SetTag(SetTagEffectInput),
    RemoveTag(ID),
    ShowBanner(BannerEffectInput),
    SendEmail(EmailEffectInput),
    SendSms(SmsEffectInput),
    NotifyStaff(StaffEffectInput),
    CallWebhook(CallWebhookEffectInput),
}

/// Fields of a customer action. On create, `name`, `trigger` and `effects` are required; on
/// update, omitted fields stay as they are and `null` clears `activeFrom` / `activeTo`.
#[derive(InputObject)]
pub struct CustomerActionInput {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub active_from: MaybeUndefined<DateTime<Utc>>,
    pub active_to: MaybeUndefined<DateTime<Utc>>,
    /// The kind of event that triggers the action. `SEGMENT_JOINED` and `SEGMENT_LEFT` fire
    /// when a customer joins or leaves the segment `triggerSegmentId` names.
    pub trigger: Option<EventKind>,
    /// The segment a `SEGMENT_JOINED` / `SEGMENT_LEFT` trigger listens to (required with
    /// them, ignored with other triggers).
    pub trigger_segment_id: Option<ID>,
    /// When omitted on create: always.
    pub condition: Option<ConditionInput>,
    pub effects: Option<Vec<EffectInput>>,
    pub repeat: Option<RepeatPolicyValue>,
}

pub(super) fn effect(
    input: EffectInput,
    index: usize,
    violations: &mut Vec<FieldViolation>,
) -> Effect {
    let mut id = |raw: &ID, field: &str, effect: &str| {
        raw.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| {
                let index = index.to_string();
                let mut path = vec!["effects", index.as_str(), effect];
                if !field.is_empty() {
                    path.push(field);
                }
                violations.push(FieldViolation::new(
                    &path,
                    ViolationCode::Invalid,
                    "is not a valid id",
                ));
                0
            })
    };
    match input {
        EffectInput::AssignRole(role) => Effect::AssignRole {
            role_id: id(&role, "", "assignRole"),
        },
        EffectInput::RemoveRole(role) => Effect::RemoveRole {
            role_id: id(&role, "", "removeRole"),
        },
        EffectInput::SetTag(t) => Effect::SetTag {
            tag_id: id(&t.tag_id, "tagId", "setTag"),
            value: t.value,
        },
        EffectInput::RemoveTag(tag) => Effect::RemoveTag {
            tag_id: id(&tag, "", "removeTag"),
        },
        EffectInput::ShowBanner(b) => Effect::ShowBanner {
            title: b.title,
            body_html: b.body_html,
            coupon_code: b.coupon_code,
            starts_at: b.starts_at.map(|t| t.timestamp_millis()),
            ends_at: b.ends_at.map(|t| t.timestamp_millis()),
            duration_hours: b.duration_hours,
        },
        EffectInput::SendEmail(e) => Effect::SendEmail {
            subject: e.subject,
            body_html: e.body_html,
            body_text: e.body_text,
        },
        EffectInput::SendSms(s) => Effect::SendSms { body: s.body },
        EffectInput::NotifyStaff(s) => Effect::NotifyStaff {
            subject: s.subject,
            body_text: s.body_text,
        },
        EffectInput::CallWebhook(c) => Effect::CallWebhook {
            endpoint_id: id(&c.endpoint_id, "endpointId", "callWebhook"),
            payload: c.payload.map(|p| p.0),
        },
    }
}

fn to_domain(input: CustomerActionInput, currency: &str) -> Result<ActionInput, AppError> {
    let mut violations = Vec::new();
    let condition = input
        .condition
        .map(|c| to_condition(c, currency, &["condition".to_owned()], &mut violations));
    let effects = input.effects.map(|list| {
        list.into_iter()
            .enumerate()
            .map(|(i, e)| effect(e, i, &mut violations))
            .collect()
    });
    let repeat = match input.repeat {
        None => None,
        Some(RepeatPolicyValue {
            kind: RepeatKind::OncePerCustomer,
            ..
        }) => Some(RepeatPolicy::OncePerCustomer),
        Some(RepeatPolicyValue {
            kind: RepeatKind::EveryTime,
            ..
        }) => Some(RepeatPolicy::EveryTime),
        Some(RepeatPolicyValue {
            kind: RepeatKind::AtMostEveryDays,
            days: Some(d),
        }) => Some(RepeatPolicy::AtMostEveryDays(d)),
        Some(RepeatPolicyValue {
            kind: RepeatKind::AtMostEveryDays,
            days: None,
        }) => {
            violations.push(FieldViolation::new(
                &["repeat", "days"],
                ViolationCode::Blank,
                "give the number of days",
            ));
            None
        }
    };
    let trigger_segment_id = input.trigger_segment_id.and_then(|raw| {
        let parsed = raw.parse::<i64>().ok().filter(|n| *n > 0);
        if parsed.is_none() {
            violations.push(FieldViolation::new(
                &["triggerSegmentId"],
                ViolationCode::Invalid,
                "is not a valid id",
            ));
        }
        parsed
    });
    let window = |v: MaybeUndefined<DateTime<Utc>>| match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(t) => Some(Some(t)),
    };
    if !violations.is_empty() {
        return Err(AppError::Invalid(violations));
    }
    Ok(ActionInput {
        name: input.name,
        active: input.active,
        active_from: window(input.active_from),
        active_to: window(input.active_to),
        trigger: input.trigger.map(Into::into),
        trigger_segment_id,
        condition,
        effects,
        repeat,
    })
}

/// A customer action.
pub struct CustomerAction(pub Action);

#[Object]
impl CustomerAction {
    async fn id(&self) -> ID {
        ID(self.0.model.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.model.name
    }
    async fn active(&self) -> bool {
        self.0.model.active && self.0.broken.is_none()
    }
    /// Why Nudge switched the action off: its stored definition no longer decodes. Saving
    /// the action again with valid parts clears it.
    async fn broken_reason(&self) -> Option<String> {
        self.0
            .broken
            .clone()
            .or_else(|| self.0.model.broken_reason.clone())
    }
    async fn active_from(&self) -> Option<DateTime<Utc>> {
        self.0.model.active_from.map(from_millis)
    }
    async fn active_to(&self) -> Option<DateTime<Utc>> {
        self.0.model.active_to.map(from_millis)
    }
    async fn trigger(&self) -> EventKind {
        self.0.trigger.into()
    }
    /// The segment a `SEGMENT_JOINED` / `SEGMENT_LEFT` trigger listens to.
    async fn trigger_segment_id(&self) -> Option<ID> {
        self.0.model.trigger_segment_id.map(|id| ID(id.to_string()))
    }
    /// The condition, as JSON in the shape of `ConditionInput` (amounts in minor units).
    async fn condition(&self) -> Json<serde_json::Value> {
        Json(self.0.model.condition.clone())
    }
    /// The effects, as JSON in the shape of `EffectInput`.
    async fn effects(&self) -> Json<serde_json::Value> {
        Json(self.0.model.effects.clone())
    }
    async fn repeat(&self) -> RepeatPolicyValue {
        self.0.repeat.into()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.created_at)
    }
    /// The action's figures over a range of days (the last 30 by default): firings, the
    /// messages it sent and what they earned.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        basis: Option<StatsBasis>,
    ) -> async_graphql::Result<Statistics> {
        let ask = stats::Ask { from, to, basis };
        stats::of_action(ctx, ask, self.0.model.id).await
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.updated_at)
    }
}

/// One time an action fired for a customer.
#[derive(SimpleObject)]
pub struct ActionFiring {
    pub id: ID,
    pub action_id: ID,
    pub customer_id: ID,
    /// Nudge's id of the event that fired it.
    pub event_id: ID,
    pub fired_at: DateTime<Utc>,
    /// What each effect did.
    pub effects: Json<serde_json::Value>,
}

impl From<action_firing::Model> for ActionFiring {
    fn from(m: action_firing::Model) -> Self {
        let id = |n: i64| ID(n.to_string());
        ActionFiring {
            id: id(m.id),
            action_id: id(m.action_id),
            customer_id: id(m.customer_id),
            event_id: id(m.event_id),
            fired_at: from_millis(m.fired_at),
            effects: Json(m.effects),
        }
    }
}

payload!(
    /// The result of creating or updating an action.
    CustomerActionPayload, action: CustomerAction
);
payload!(
    /// The result of deleting an action: the id it had.
    DeleteCustomerActionPayload, deleted_action_id: ID
);

#[derive(Default)]
pub struct ActionQuery;

#[Object]
impl ActionQuery {
    /// Every customer action, oldest first.
    #[graphql(guard = "Require::READ")]
    async fn customer_actions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<CustomerAction>> {
        let state = state(ctx)?;
        let list = actions::list(&state.db).await.map_err(to_graphql)?;
        Ok(list.into_iter().map(CustomerAction).collect())
    }

    #[graphql(guard = "Require::READ")]
    async fn customer_action(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<CustomerAction>> {
        let state = state(ctx)?;
        let found = actions::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(CustomerAction))
    }

    /// Firings, newest first, of one action and/or one customer (at most 100).
    #[graphql(guard = "Require::READ")]
    async fn action_firings(
        &self,
        ctx: &Context<'_>,
        action_id: Option<ID>,
        customer_id: Option<ID>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 100))] first: i32,
    ) -> async_graphql::Result<Vec<ActionFiring>> {
        let state = state(ctx)?;
        let rows = actions::firings(
            &state.db,
            opt_id_arg("actionId", action_id)?,
            opt_id_arg("customerId", customer_id)?,
            first as u64,
        )
        .await
        .map_err(to_graphql)?;
        Ok(rows.into_iter().map(ActionFiring::from).collect())
    }
}

#[derive(Default)]
pub struct ActionMutation;

#[Object(guard = "Require::ADMIN")]
impl ActionMutation {
    async fn create_customer_action(
        &self,
        ctx: &Context<'_>,
        input: CustomerActionInput,
    ) -> async_graphql::Result<CustomerActionPayload> {
        let state = state(ctx)?;
        let result = match to_domain(input, &state.settings.store.currency) {
            Ok(input) => actions::create(&state.db, state.clock.now(), input).await,
            Err(e) => Err(e),
        };
        respond(result.map(CustomerAction), "input")
    }

    async fn update_customer_action(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CustomerActionInput,
    ) -> async_graphql::Result<CustomerActionPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = match to_domain(input, &state.settings.store.currency) {
            Ok(input) => actions::update(&state.db, state.clock.now(), id, input).await,
            Err(e) => Err(e),
        };
        respond(result.map(CustomerAction), "input")
    }

    /// Deletes an action and its firing history.
    async fn delete_customer_action(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteCustomerActionPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(actions::delete(&state.db, row_id).await.map(|()| id), "")
    }
}
