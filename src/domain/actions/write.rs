//! Creating, changing and deleting customer actions, with every reference checked.

use super::{Action, Effect, RepeatPolicy};
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::conditions::Condition;
use crate::domain::ingest::EventKind;
use crate::domain::records::{delete_by_id, exists};
use crate::domain::stale::{Stale, stale};
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{customer_action, role, segment, tag, webhook_endpoint};
use sea_orm::{ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseConnection, EntityTrait};
use std::collections::BTreeSet;

/// The most effects one action may have.
pub const MAX_EFFECTS: usize = 20;

/// Fields of an action. On create, `name`, `trigger` and `effects` are required; on update,
/// `None` leaves a field as it is (`active_from` / `active_to`: `Some(None)` clears).
#[derive(Clone, Debug, Default)]
pub struct ActionInput {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub active_from: Option<Option<DateTime<Utc>>>,
    pub active_to: Option<Option<DateTime<Utc>>>,
    pub trigger: Option<EventKind>,
    /// The segment a `SegmentJoined` / `SegmentLeft` trigger listens to.
    pub trigger_segment_id: Option<i64>,
    pub condition: Option<Condition>,
    pub effects: Option<Vec<Effect>>,
    pub repeat: Option<RepeatPolicy>,
}

/// Creates an action. Unknown roles or tags, empty effects and impossible windows are
/// refused field by field.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    input: ActionInput,
) -> AppResult<Action> {
    let mut checker = Checker::new();
    if input.name.is_none() {
        checker.refuse("name", ViolationCode::Blank, "must not be blank");
    }
    if input.trigger.is_none() {
        checker.refuse(
            "trigger",
            ViolationCode::Blank,
            "choose the event kind that triggers it",
        );
    }
    if input.effects.is_none() {
        checker.refuse("effects", ViolationCode::Blank, "give at least one effect");
    }
    let now_ms = to_millis(now);
    let (policy, days) = RepeatPolicy::OncePerCustomer.stored();
    let blank = customer_action::Model {
        id: 0,
        name: String::new(),
        active: true,
        active_from: None,
        active_to: None,
        trigger: EventKind::LoggedIn.as_str().to_owned(),
        trigger_segment_id: None,
        condition: serde_json::to_value(Condition::always()).map_err(AppError::internal)?,
        effects: serde_json::json!([]),
        repeat_policy: policy.to_owned(),
        repeat_days: days,
        created_at: now_ms,
        updated_at: now_ms,
        broken_reason: None,
    };
    let txn = begin_write(db).await?;
    let model = apply(&txn, blank, input, checker).await?;
    let mut active: customer_action::ActiveModel = model.into();
    active = active.reset_all();
    active.id = ActiveValue::NotSet;
    let saved = active.insert(&txn).await?;
    txn.commit().await?;
    Ok(Action::decode(saved))
}

/// Changes an action. `NOT_FOUND` when it does not exist.
pub async fn update(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    input: ActionInput,
) -> AppResult<Action> {
    let txn = begin_write(db).await?;
    let current = customer_action::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("action {id} does not exist")))?;
    let mut model = apply(&txn, current, input, Checker::new()).await?;
    model.updated_at = to_millis(now);
    // Saved by an admin, checked anew: if a part still does not decode, the processor says so
    // again.
    model.broken_reason = None;
    let active: customer_action::ActiveModel = model.into();
    let saved = active.reset_all().update(&txn).await?;
    txn.commit().await?;
    Ok(Action::decode(saved))
}

/// Deletes an action with its firing history and the banners its firings put up (queued
/// messages stay, without their firing).
pub async fn delete(db: &DatabaseConnection, id: i64) -> AppResult<()> {
    let txn = begin_write(db).await?;
    delete_by_id::<customer_action::Entity>(&txn, id, "action").await?;
    // Its firings go with it, and the banners they put up.
    stale(&txn, Stale::Everyone).await?;
    txn.commit().await?;
    Ok(())
}

async fn apply(
    db: &impl ConnectionTrait,
    mut model: customer_action::Model,
    input: ActionInput,
    mut checker: Checker,
) -> AppResult<customer_action::Model> {
    if let Some(raw) = input.name
        && let Some(name) = checker.check("name", required_text(&raw, MAX_TEXT))
    {
        model.name = name;
    }
    if let Some(active) = input.active {
        model.active = active;
    }
    if let Some(from) = input.active_from {
        model.active_from = from.map(to_millis);
    }
    if let Some(to) = input.active_to {
        model.active_to = to.map(to_millis);
    }
    if let (Some(from), Some(to)) = (model.active_from, model.active_to)
        && from >= to
    {
        checker.refuse(
            "activeTo",
            ViolationCode::OutOfRange,
            "must be after activeFrom",
        );
    }
    if let Some(trigger) = input.trigger {
        model.trigger = trigger.as_str().to_owned();
    }
    if let Some(segment_id) = input.trigger_segment_id {
        model.trigger_segment_id = Some(segment_id);
    }
    let on_segment = EventKind::from_stored(&model.trigger).is_some_and(EventKind::is_internal);
    if !on_segment {
        model.trigger_segment_id = None;
    }
    match model.trigger_segment_id {
        None if on_segment => checker.refuse(
            "triggerSegmentId",
            ViolationCode::Blank,
            "a segment trigger needs the segment it listens to",
        ),
        Some(id) if !exists::<segment::Entity>(db, id).await? => checker.refuse(
            "triggerSegmentId",
            ViolationCode::NotFound,
            format!("segment {id} does not exist"),
        ),
        _ => {}
    }
    if let Some(repeat) = input.repeat {
        if let RepeatPolicy::AtMostEveryDays(days) = repeat
            && !(1..=3650).contains(&days)
        {
            checker.refuse(
                "repeat",
                ViolationCode::OutOfRange,
                "days must be between 1 and 3650",
            );
        }
        let (policy, days) = repeat.stored();
        model.repeat_policy = policy.to_owned();
        model.repeat_days = days;
    }
    let mut roles = BTreeSet::new();
    let mut tags = BTreeSet::new();
    let mut segments = BTreeSet::new();
    let mut endpoints = BTreeSet::new();
    if let Some(condition) = input.condition {
        condition.check("condition", &mut checker);
        condition.refuse_run_parts("condition", &mut checker);
        let under = |(path, id): (Vec<String>, i64)| {
            (
                std::iter::once("condition".to_owned())
                    .chain(path)
                    .collect(),
                id,
            )
        };
        roles.extend(condition.role_refs().into_iter().map(under));
        tags.extend(condition.tag_refs().into_iter().map(under));
        segments.extend(condition.segment_refs().into_iter().map(under));
        model.condition = serde_json::to_value(&condition).map_err(AppError::internal)?;
    }
    if let Some(effects) = input.effects {
        if effects.is_empty() || effects.len() > MAX_EFFECTS {
            checker.refuse(
                "effects",
                ViolationCode::OutOfRange,
                format!("give 1 to {MAX_EFFECTS} effects"),
            );
        }
        let mut nested = Checker::new();
        for (index, effect) in effects.iter().enumerate() {
            let mut c = Checker::new();
            effect.check(&mut c);
            nested.absorb(&index.to_string(), c.into_violations());
            if let Some(role_id) = effect.role_id() {
                let at = ["effects", &index.to_string(), effect.name()];
                roles.insert((at.map(str::to_owned).to_vec(), role_id));
            }
            if let Some(endpoint_id) = effect.endpoint_id() {
                let at = ["effects", &index.to_string(), effect.name(), "endpointId"];
                endpoints.insert((at.map(str::to_owned).to_vec(), endpoint_id));
            }
            if let Some(tag_id) = effect.tag_id() {
                let mut at = ["effects", &index.to_string(), effect.name()]
                    .map(str::to_owned)
                    .to_vec();
                // `setTag` takes an object; `removeTag` the id alone.
                if matches!(effect, Effect::SetTag { .. }) {
                    at.push("tagId".to_owned());
                }
                tags.insert((at, tag_id));
            }
        }
        checker.absorb("effects", nested.into_violations());
        model.effects = serde_json::to_value(&effects).map_err(AppError::internal)?;
    }
    for (path, id) in roles {
        if !exists::<role::Entity>(db, id).await? {
            checker.refuse_at(
                &path.iter().map(String::as_str).collect::<Vec<_>>(),
                ViolationCode::NotFound,
                format!("role {id} does not exist"),
            );
        }
    }
    for (path, id) in tags {
        if !exists::<tag::Entity>(db, id).await? {
            checker.refuse_at(
                &path.iter().map(String::as_str).collect::<Vec<_>>(),
                ViolationCode::NotFound,
                format!("tag {id} does not exist"),
            );
        }
    }
    for (path, id) in endpoints {
        if !exists::<webhook_endpoint::Entity>(db, id).await? {
            checker.refuse_at(
                &path.iter().map(String::as_str).collect::<Vec<_>>(),
                ViolationCode::NotFound,
                format!("webhook endpoint {id} does not exist"),
            );
        }
    }
    for (path, id) in segments {
        if !exists::<segment::Entity>(db, id).await? {
            checker.refuse_at(
                &path.iter().map(String::as_str).collect::<Vec<_>>(),
                ViolationCode::NotFound,
                format!("segment {id} does not exist"),
            );
        }
    }
    checker.finish()?;
    Ok(model)
}
