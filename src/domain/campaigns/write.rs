//! Creating, changing and deleting campaigns, with every part checked (see [`super::check`])
//! before anything is written.

use super::check::{
    References, check_anchor, check_references, check_steps, check_window, lead_ms, offsets_problem,
};
use super::status::RunStatus;
use super::tally::note_runs_ending;
use super::{Anchor, Campaign, CampaignStatus, ExitGoal, Reentry, SendWindow, Step};
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::conditions::Condition;
use crate::domain::records::delete_by_id;
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{campaign, campaign_run};
use sea_orm::sea_query::{Condition as SqlCondition, Expr};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter,
};

/// Fields of a campaign. On create, `name`, `anchor` and `steps` are required; on update,
/// `None` leaves a field as it is (`exit_goal` / `send_window`: `Some(None)` clears).
#[derive(Clone, Debug, Default)]
pub struct CampaignInput {
    pub name: Option<String>,
    pub status: Option<CampaignStatus>,
    pub anchor: Option<Anchor>,
    pub audience: Option<Condition>,
    pub steps: Option<Vec<Step>>,
    pub exit_goal: Option<Option<ExitGoal>>,
    pub reentry: Option<Reentry>,
    pub send_window: Option<Option<SendWindow>>,
    /// What the caller refused while reading the input (a step with two actions, a malformed
    /// id): the campaign is refused with these and every other violation found.
    pub refused: Vec<FieldViolation>,
}

/// Creates a campaign (a draft unless a status is given).
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    input: CampaignInput,
) -> AppResult<Campaign> {
    let mut checker = Checker::new();
    for (present, field, message) in [
        (input.name.is_some(), "name", "must not be blank"),
        (
            input.anchor.is_some(),
            "anchor",
            "choose what the campaign is timed from",
        ),
        (input.steps.is_some(), "steps", "give at least one step"),
    ] {
        if !present {
            checker.refuse(field, ViolationCode::Blank, message);
        }
    }
    let now_ms = to_millis(now);
    let (policy, days) = Reentry::OncePerSubject.stored();
    let blank = campaign::Model {
        id: 0,
        name: String::new(),
        status: CampaignStatus::Draft.as_str().to_owned(),
        anchor_kind: String::new(),
        anchor: serde_json::Value::Null,
        audience: serde_json::to_value(Condition::always()).map_err(AppError::internal)?,
        steps: serde_json::json!([]),
        exit_goal: None,
        reentry_policy: policy.to_owned(),
        reentry_days: days,
        send_window: None,
        lead_ms: 0,
        planned_until: None,
        activated_at: None,
        created_at: now_ms,
        updated_at: now_ms,
        broken_reason: None,
    };
    let txn = begin_write(db).await?;
    let model = apply(&txn, now_ms, blank, input, checker).await?;
    let mut active: campaign::ActiveModel = model.into();
    active = active.reset_all();
    active.id = ActiveValue::NotSet;
    let saved = active.insert(&txn).await?;
    txn.commit().await?;
    Ok(Campaign::decode(saved))
}

/// Changes a campaign. Archiving ends its active runs. `NOT_FOUND` when it does not exist.
pub async fn update(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    input: CampaignInput,
) -> AppResult<Campaign> {
    let txn = begin_write(db).await?;
    let current = campaign::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("campaign {id} does not exist")))?;
    let now_ms = to_millis(now);
    let before = CampaignStatus::from_stored(&current.status);
    let mut model = apply(&txn, now_ms, current, input, Checker::new()).await?;
    model.updated_at = now_ms;
    model.broken_reason = None;
    match CampaignStatus::from_stored(&model.status) {
        CampaignStatus::Archived => end_active_runs(&txn, id, now_ms, "campaign archived").await?,
        CampaignStatus::Paused if before != CampaignStatus::Paused => {
            set_open_runs_due(&txn, id, None, now_ms).await?;
        }
        CampaignStatus::Active if before == CampaignStatus::Paused => {
            set_open_runs_due(&txn, id, Some(now_ms), now_ms).await?;
        }
        _ => {}
    }
    let active: campaign::ActiveModel = model.into();
    let saved = active.reset_all().update(&txn).await?;
    txn.commit().await?;
    Ok(Campaign::decode(saved))
}

/// Deletes a campaign with its runs and their logs (queued messages stay; its statistics
/// too, except its runs going, which go with it).
pub async fn delete(db: &DatabaseConnection, id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let txn = begin_write(db).await?;
    let of_campaign = SqlCondition::all().add(campaign_run::Column::CampaignId.eq(id));
    note_runs_ending(&txn, of_campaign, None, to_millis(now)).await?;
    // Runs hold no foreign key (see the campaigns migration): they go explicitly.
    campaign_run::Entity::delete_many()
        .filter(campaign_run::Column::CampaignId.eq(id))
        .exec(&txn)
        .await?;
    delete_by_id::<campaign::Entity>(&txn, id, "campaign").await?;
    txn.commit().await?;
    Ok(())
}

/// Pausing clears the due time of the campaign's open runs, so the runner does not see them;
/// activating again makes them due at once, and each computes its wait anew.
pub(super) async fn set_open_runs_due(
    txn: &impl ConnectionTrait,
    campaign_id: i64,
    due: Option<i64>,
    now_ms: i64,
) -> AppResult<()> {
    campaign_run::Entity::update_many()
        .col_expr(campaign_run::Column::NextDueAt, Expr::value(due))
        .col_expr(campaign_run::Column::UpdatedAt, Expr::value(now_ms))
        .filter(campaign_run::Column::CampaignId.eq(campaign_id))
        .filter(campaign_run::Column::Status.is_in(RunStatus::open()))
        .exec(txn)
        .await?;
    Ok(())
}

async fn end_active_runs(
    txn: &impl ConnectionTrait,
    campaign_id: i64,
    now_ms: i64,
    reason: &str,
) -> AppResult<()> {
    let of_campaign = SqlCondition::all().add(campaign_run::Column::CampaignId.eq(campaign_id));
    note_runs_ending(txn, of_campaign, Some(reason), now_ms).await?;
    campaign_run::Entity::update_many()
        .col_expr(
            campaign_run::Column::Status,
            Expr::value(RunStatus::Exited.as_str()),
        )
        .col_expr(campaign_run::Column::EndReason, Expr::value(reason))
        .col_expr(campaign_run::Column::EndedAt, Expr::value(now_ms))
        .col_expr(
            campaign_run::Column::NextDueAt,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(campaign_run::Column::UpdatedAt, Expr::value(now_ms))
        .filter(campaign_run::Column::CampaignId.eq(campaign_id))
        .filter(campaign_run::Column::Status.is_in(RunStatus::open()))
        .exec(txn)
        .await?;
    Ok(())
}

async fn apply(
    db: &impl ConnectionTrait,
    now_ms: i64,
    mut model: campaign::Model,
    input: CampaignInput,
    mut checker: Checker,
) -> AppResult<campaign::Model> {
    let mut refs = References::default();
    checker.absorb_flat(input.refused);
    if let Some(raw) = input.name
        && let Some(name) = checker.check("name", required_text(&raw, MAX_TEXT))
    {
        model.name = name;
    }
    if let Some(status) = input.status {
        let current = CampaignStatus::from_stored(&model.status);
        if current == CampaignStatus::Archived && status != CampaignStatus::Archived {
            checker.refuse(
                "status",
                ViolationCode::Invalid,
                "an archived campaign stays archived; copy it to start again",
            );
        }
        if status == CampaignStatus::Active && model.activated_at.is_none() {
            model.activated_at = Some(now_ms);
        }
        model.status = status.as_str().to_owned();
    }
    if let Some(anchor) = input.anchor {
        check_anchor(&anchor, &mut checker);
        if let Anchor::SegmentJoined { segment_id } = anchor {
            refs.segments
                .insert(("anchor.segmentJoined.segmentId".to_owned(), segment_id));
        }
        model.anchor_kind = anchor.kind().to_owned();
        model.anchor = serde_json::to_value(&anchor).map_err(AppError::internal)?;
    }
    let anchor: Anchor = serde_json::from_value(model.anchor.clone())
        .map_err(|_| AppError::invalid(&["anchor"], ViolationCode::Blank, "choose an anchor"))?;
    if let Some(audience) = input.audience {
        audience.check("audience", &mut checker);
        refs.condition("audience", &audience);
        model.audience = serde_json::to_value(&audience).map_err(AppError::internal)?;
    }
    if let Some(steps) = input.steps {
        let mut nested = Vec::new();
        check_steps(&anchor, &steps, &mut refs, &mut nested);
        checker.absorb_flat(nested);
        model.steps = serde_json::to_value(&steps).map_err(AppError::internal)?;
    }
    // The anchor decides which offsets are possible, so the stored steps are checked again
    // when only the anchor changed.
    let steps: Vec<Step> = serde_json::from_value(model.steps.clone()).unwrap_or_default();
    if let Some(problem) = offsets_problem(&steps) {
        checker.absorb_flat(vec![problem]);
    }
    model.lead_ms = lead_ms(&anchor, &steps);
    if let Some(goal) = input.exit_goal {
        if let Some(goal) = &goal {
            let mut c = Checker::new();
            if goal.events.is_empty() {
                c.refuse(
                    "events",
                    ViolationCode::Blank,
                    "give the event kinds that reach the goal",
                );
            }
            if let Some(condition) = &goal.condition {
                condition.check("condition", &mut c);
                refs.condition("exitGoal.condition", condition);
            }
            checker.absorb("exitGoal", c.into_violations());
        }
        model.exit_goal = goal
            .map(|g| serde_json::to_value(&g))
            .transpose()
            .map_err(AppError::internal)?;
    }
    if let Some(reentry) = input.reentry {
        if let Reentry::AtMostEveryDays(days) = reentry
            && !(1..=3650).contains(&days)
        {
            checker.refuse(
                "reentry",
                ViolationCode::OutOfRange,
                "days must be between 1 and 3650",
            );
        }
        let (policy, days) = reentry.stored();
        model.reentry_policy = policy.to_owned();
        model.reentry_days = days;
    }
    if let Some(window) = input.send_window {
        if let Some(window) = &window {
            checker.absorb("sendWindow", check_window(window));
        }
        model.send_window = window
            .map(|w| serde_json::to_value(&w))
            .transpose()
            .map_err(AppError::internal)?;
    }
    refs.check_message_steps(&steps, &mut checker);
    check_references(db, refs, &mut checker).await?;
    checker.finish()?;
    Ok(model)
}
