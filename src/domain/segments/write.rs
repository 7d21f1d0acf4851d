//! Creating, changing and deleting segments, each in one transaction with the membership it
//! implies: a new segment (or a new condition) is built set-based, and only the difference is
//! written as joins and leaves (reason `definition`); the segments that name it follow.

use super::refresh::{Candidates, Refreshed, refresh};
use super::{Segment, dependents_of, find, in_dependency_order, list};
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::conditions::Condition;
use crate::domain::conditions::sql::compile;
use crate::domain::membership::announce_logged;
use crate::domain::validate::{Change, Checker};
use crate::domain::values::{optional_text, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use crate::events::EventBus;
use chrono::{DateTime, Utc};
use entity::{segment, segment_member};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QuerySelect,
};
use std::collections::HashSet;

/// The longest segment name.
pub const MAX_NAME: usize = 100;
/// The longest description.
pub const MAX_DESCRIPTION: usize = 2000;

/// What a create or an update gives; `None` / `Keep` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct SegmentInput {
    pub name: Option<String>,
    pub description: Change<String>,
    pub condition: Option<Condition>,
}

/// Creates a segment and its membership now.
pub async fn create(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    input: SegmentInput,
) -> AppResult<Segment> {
    let mut checker = Checker::new();
    if input.name.is_none() {
        checker.refuse("name", ViolationCode::Blank, "must not be blank");
    }
    if input.condition.is_none() {
        checker.refuse(
            "condition",
            ViolationCode::Blank,
            "a segment needs a condition",
        );
    }
    checker.finish()?;
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let mut row = segment::Model {
        id: 0,
        name: String::new(),
        description: None,
        condition: String::new(),
        checked_up_to: now_ms,
        created_at: now_ms,
        updated_at: now_ms,
    };
    check(&txn, &mut row, &input, None).await?;
    let mut active: segment::ActiveModel = row.into();
    active.id = ActiveValue::NotSet;
    let saved = Segment::decode(active.insert(&txn).await?)?;
    let refreshed = refresh(
        &txn,
        std::slice::from_ref(&saved),
        &Candidates::All(DEFINITION.into()),
        now_ms,
    )
    .await?;
    txn.commit().await?;
    announce_logged(bus, refreshed.logged_upto);
    Ok(saved)
}

/// Why a definition's change moved members.
pub const DEFINITION: &str = "definition";

/// Changes a segment; a new condition rebuilds its membership and that of the segments that
/// name it. `NOT_FOUND` when it does not exist.
pub async fn update(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    id: i64,
    input: SegmentInput,
) -> AppResult<Segment> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let current = find(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("segment {id} does not exist")))?;
    let mut row = current.model.clone();
    check(&txn, &mut row, &input, Some(id)).await?;
    let redefined = input
        .condition
        .as_ref()
        .is_some_and(|c| *c != current.condition);
    if redefined {
        row.checked_up_to = now_ms;
    }
    row.updated_at = now_ms;
    let mut active: segment::ActiveModel = row.into();
    active = active.reset_all();
    let saved = Segment::decode(active.update(&txn).await?)?;
    let mut refreshed = Refreshed::default();
    if redefined {
        let all = list(&txn).await?;
        let mut affected = vec![saved.clone()];
        affected.extend(dependents_of(id, &all));
        let affected = in_dependency_order(affected)?;
        refreshed = refresh(&txn, &affected, &Candidates::All(DEFINITION.into()), now_ms).await?;
    }
    txn.commit().await?;
    announce_logged(bus, refreshed.logged_upto);
    Ok(saved)
}

/// Deletes a segment: every member leaves (reason `deleted`), and the segments that name it
/// follow. `NOT_FOUND` when it does not exist.
pub async fn delete(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    id: i64,
) -> AppResult<()> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    // Held until the commit (PostgreSQL): a refresh writing members of this segment finishes
    // first, and none starts (see `refresh`).
    let current = segment::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .map(Segment::decode)
        .transpose()?
        .ok_or_else(|| AppError::NotFound(format!("segment {id} does not exist")))?;
    let all = list(&txn).await?;
    let emptied = Segment {
        condition: Condition::Any(Vec::new()),
        ..current
    };
    let mut refreshed = refresh(
        &txn,
        std::slice::from_ref(&emptied),
        &Candidates::All("deleted".into()),
        now_ms,
    )
    .await?;
    segment::Entity::delete_by_id(id).exec(&txn).await?;
    // Members hold no foreign key; the leaves above took them all.
    segment_member::Entity::delete_many()
        .filter(segment_member::Column::SegmentId.eq(id))
        .exec(&txn)
        .await?;
    let dependents = in_dependency_order(dependents_of(id, &all))?;
    refreshed.add(
        refresh(
            &txn,
            &dependents,
            &Candidates::All(DEFINITION.into()),
            now_ms,
        )
        .await?,
    );
    txn.commit().await?;
    announce_logged(bus, refreshed.logged_upto);
    Ok(())
}

/// Checks `input` and writes it into `row`: the name (unique), the description, and the
/// condition — about customer facts only, naming segments that exist, never itself through
/// others. Every violation is reported with its path.
async fn check(
    db: &impl ConnectionTrait,
    row: &mut segment::Model,
    input: &SegmentInput,
    own_id: Option<i64>,
) -> AppResult<()> {
    let mut checker = Checker::new();
    if let Some(raw) = &input.name
        && let Some(name) = checker.check("name", required_text(raw, MAX_NAME))
    {
        let taken = segment::Entity::find()
            .filter(segment::Column::Name.eq(name.as_str()))
            .one(db)
            .await?
            .is_some_and(|other| Some(other.id) != own_id);
        if taken {
            checker.refuse(
                "name",
                ViolationCode::Taken,
                "another segment already has this name",
            );
        }
        row.name = name;
    }
    match &input.description {
        Change::Keep => {}
        Change::Clear => row.description = None,
        Change::Set(raw) => {
            if let Some(text) = checker.check("description", optional_text(raw, MAX_DESCRIPTION)) {
                row.description = text;
            }
        }
    }
    if let Some(condition) = &input.condition {
        let before = checker.is_clean();
        condition.check("condition", &mut checker);
        if before == checker.is_clean()
            && let Err(refused) = compile(condition, db.get_database_backend(), 0)
        {
            let mut path = vec!["condition"];
            path.extend(refused.path.iter().map(String::as_str));
            checker.refuse_at(&path, ViolationCode::Invalid, refused.message);
        }
        let all = super::list(db).await?;
        let known: HashSet<i64> = all.iter().map(Segment::id).collect();
        for (path, named) in condition.segment_refs() {
            let at: Vec<&str> = std::iter::once("condition")
                .chain(path.iter().map(String::as_str))
                .collect();
            if Some(named) == own_id || reaches(named, own_id, &all) {
                checker.refuse_at(
                    &at,
                    ViolationCode::Invalid,
                    "a segment cannot contain itself, directly or through other segments",
                );
            } else if !known.contains(&named) {
                checker.refuse_at(
                    &at,
                    ViolationCode::NotFound,
                    format!("segment {named} does not exist"),
                );
            }
        }
        row.condition = serde_json::to_string(condition).map_err(AppError::internal)?;
    }
    checker.finish()
}

/// Whether segment `from` names `target` through the segments it names.
fn reaches(from: i64, target: Option<i64>, all: &[Segment]) -> bool {
    let Some(target) = target else {
        return false;
    };
    let mut seen = HashSet::new();
    let mut stack = vec![from];
    while let Some(id) = stack.pop() {
        if id == target {
            return true;
        }
        if !seen.insert(id) {
            continue;
        }
        if let Some(s) = all.iter().find(|s| s.id() == id) {
            stack.extend(s.depends_on());
        }
    }
    false
}
