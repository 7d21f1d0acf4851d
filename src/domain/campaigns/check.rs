//! The checks of a campaign's parts: the anchor's numbers, the step tree (ids, empty
//! branches, impossible offsets), the send window, and the templates, roles and tags it names.

use super::{Anchor, SendWindow, Step, StepAction, Wait, walk};
use crate::domain::actions::{Effect, MAX_EFFECTS};
use crate::domain::conditions::Condition;
use crate::domain::records::exists;
use crate::domain::validate::Checker;
use crate::error::{AppResult, FieldViolation, ViolationCode};
use entity::{role, segment, tag, template, webhook_endpoint};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::{BTreeSet, HashSet};

/// The most steps one campaign may have, branches included.
pub const MAX_STEPS: usize = 50;
/// How deep filters may nest.
pub const MAX_BRANCH_DEPTH: usize = 5;
/// The longest wait, and the furthest an anchor offset may reach.
const MAX_DAYS: i32 = 366;
const DAY_MS: i64 = 86_400_000;

/// Records that the campaign refers to: (field, id).
#[derive(Default)]
pub(super) struct References {
    pub(super) roles: BTreeSet<(String, i64)>,
    pub(super) tags: BTreeSet<(String, i64)>,
    pub(super) segments: BTreeSet<(String, i64)>,
    pub(super) endpoints: BTreeSet<(String, i64)>,
    /// (field, template id, channel the step sends on).
    pub(super) templates: BTreeSet<(String, i64, &'static str)>,
    /// (field, step id) of the message steps conditions look at (`messageOpened` …).
    pub(super) message_steps: BTreeSet<(String, String)>,
}

impl References {
    /// The roles and tags of `condition`, each at its own path under `field`.
    pub(super) fn condition(&mut self, field: &str, condition: &Condition) {
        let under = |(path, id): (Vec<String>, i64)| (format!("{field}.{}", path.join(".")), id);
        self.roles
            .extend(condition.role_refs().into_iter().map(under));
        self.tags
            .extend(condition.tag_refs().into_iter().map(under));
        self.segments
            .extend(condition.segment_refs().into_iter().map(under));
        self.message_steps.extend(
            condition
                .step_refs()
                .into_iter()
                .map(|(path, id)| (format!("{field}.{}", path.join(".")), id)),
        );
    }

    /// Refuses each condition's step that is not a message step of `steps`.
    pub(super) fn check_message_steps(&self, steps: &[Step], checker: &mut Checker) {
        let messages: HashSet<&str> = walk(steps)
            .into_iter()
            .filter(|(step, _)| matches!(step.action, StepAction::Message { .. }))
            .map(|(step, _)| step.id.as_str())
            .collect();
        for (field, id) in &self.message_steps {
            if !messages.contains(id.as_str()) {
                let path: Vec<&str> = field.split('.').collect();
                checker.refuse_at(
                    &path,
                    ViolationCode::NotFound,
                    format!("no message step of this campaign is called {id:?}"),
                );
            }
        }
    }
}

pub(super) fn check_anchor(anchor: &Anchor, checker: &mut Checker) {
    let mut c = Checker::new();
    let mut range = |field: &str, value: i32, (low, high): (i32, i32), unit: &str| {
        if !(low..=high).contains(&value) {
            c.refuse(
                field,
                ViolationCode::OutOfRange,
                format!("must be between {low} and {high} {unit}"),
            );
        }
    };
    match anchor {
        Anchor::OrderPlaced { nth: Some(n), .. } => range("nth", *n, (1, 1000), ""),
        Anchor::OrderUnpaid { after_hours } => range("afterHours", *after_hours, (1, 720), "hours"),
        Anchor::CartAbandoned { idle_hours } => range("idleHours", *idle_hours, (1, 720), "hours"),
        Anchor::Inactive { days, .. } => range("days", *days, (1, 3650), "days"),
        _ => {}
    }
    let mut nested = Checker::new();
    nested.absorb(anchor.kind(), c.into_violations());
    checker.absorb("anchor", nested.into_violations());
}

pub(super) fn check_window(window: &SendWindow) -> Vec<FieldViolation> {
    let mut c = Checker::new();
    if window.start_hour > 23 {
        c.refuse("startHour", ViolationCode::OutOfRange, "must be 0 to 23");
    }
    if window.end_hour > 24 || window.end_hour <= window.start_hour {
        c.refuse(
            "endHour",
            ViolationCode::OutOfRange,
            "must be after startHour and at most 24",
        );
    }
    let distinct: HashSet<_> = window.weekdays.iter().collect();
    if distinct.len() != window.weekdays.len() {
        c.refuse("weekdays", ViolationCode::Invalid, "names a weekday twice");
    }
    c.into_violations()
}

/// Checks a step list and what it refers to; violations carry their full path.
pub(super) fn check_steps(
    anchor: &Anchor,
    steps: &[Step],
    refs: &mut References,
    violations: &mut Vec<FieldViolation>,
) {
    if steps.is_empty() {
        violations.push(FieldViolation::new(
            &["steps"],
            ViolationCode::Blank,
            "give at least one step",
        ));
        return;
    }
    let all = walk(steps);
    if all.len() > MAX_STEPS {
        violations.push(FieldViolation::new(
            &["steps"],
            ViolationCode::OutOfRange,
            format!("has more than {MAX_STEPS} steps"),
        ));
    }
    if all.iter().any(|(_, depth)| *depth >= MAX_BRANCH_DEPTH) {
        violations.push(FieldViolation::new(
            &["steps"],
            ViolationCode::OutOfRange,
            format!("filters nest deeper than {MAX_BRANCH_DEPTH} levels"),
        ));
    }
    let mut seen = HashSet::new();
    check_list(
        anchor,
        steps,
        &["steps".to_owned()],
        &mut seen,
        refs,
        violations,
    );
}

fn check_list(
    anchor: &Anchor,
    steps: &[Step],
    path: &[String],
    seen: &mut HashSet<String>,
    refs: &mut References,
    violations: &mut Vec<FieldViolation>,
) {
    for (index, step) in steps.iter().enumerate() {
        let mut here = path.to_vec();
        here.push(index.to_string());
        let mut refuse = |field: &[&str], code: ViolationCode, message: String| {
            let mut full: Vec<&str> = here.iter().map(String::as_str).collect();
            full.extend_from_slice(field);
            violations.push(FieldViolation::new(&full, code, message));
        };
        let id_ok = !step.id.is_empty()
            && step.id.len() <= 64
            && step
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            refuse(
                &["id"],
                ViolationCode::Invalid,
                "use 1 to 64 letters, digits, '-' or '_'".into(),
            );
        } else if !seen.insert(step.id.clone()) {
            refuse(
                &["id"],
                ViolationCode::Taken,
                format!("another step is called {:?}", step.id),
            );
        }
        match &step.action {
            StepAction::Wait(Wait::Duration { minutes }) => {
                if !(1..=i64::from(MAX_DAYS) * 24 * 60).contains(minutes) {
                    refuse(
                        &["wait", "duration", "minutes"],
                        ViolationCode::OutOfRange,
                        format!("must be between 1 minute and {MAX_DAYS} days"),
                    );
                }
            }
            StepAction::Wait(Wait::Until {
                offset_days,
                hour,
                minute,
            }) => {
                let field = |name| ["wait", "until", name];
                if !(-MAX_DAYS..=MAX_DAYS).contains(offset_days) {
                    refuse(
                        &field("offsetDays"),
                        ViolationCode::OutOfRange,
                        format!("must be between -{MAX_DAYS} and {MAX_DAYS}"),
                    );
                } else if *offset_days < 0 && !anchor.is_ahead() {
                    refuse(
                        &field("offsetDays"),
                        ViolationCode::OutOfRange,
                        format!(
                            "a {} anchor is in the past when a run starts: wait until days after it",
                            anchor.kind()
                        ),
                    );
                }
                if *hour > 23 {
                    refuse(
                        &field("hour"),
                        ViolationCode::OutOfRange,
                        "must be 0 to 23".into(),
                    );
                }
                if *minute > 59 {
                    refuse(
                        &field("minute"),
                        ViolationCode::OutOfRange,
                        "must be 0 to 59".into(),
                    );
                }
            }
            StepAction::Filter { condition, yes, no } => {
                let mut c = Checker::new();
                condition.check("condition", &mut c);
                for v in c.into_violations() {
                    let mut at = vec!["filter"];
                    at.extend(v.field.iter().map(String::as_str));
                    refuse(&at, v.code, v.message);
                }
                if yes.is_empty() && no.is_empty() {
                    refuse(
                        &["filter"],
                        ViolationCode::Blank,
                        "give steps for the yes branch, the no branch or both".into(),
                    );
                }
                refs.condition(&(here.join(".") + ".filter.condition"), condition);
                for (branch, list) in [("yes", yes), ("no", no)] {
                    let mut inner = here.clone();
                    inner.extend(["filter".to_owned(), branch.to_owned()]);
                    check_list(anchor, list, &inner, seen, refs, violations);
                }
            }
            StepAction::Message {
                channel,
                template_id,
                audience,
                effects,
            } => {
                let field = here.join(".") + ".message";
                refs.templates.insert((
                    field.clone() + ".templateId",
                    *template_id,
                    channel.as_str(),
                ));
                if let Some(audience) = audience {
                    let mut c = Checker::new();
                    audience.check("audience", &mut c);
                    for v in c.into_violations() {
                        let mut at = vec!["message"];
                        at.extend(v.field.iter().map(String::as_str));
                        refuse(&at, v.code, v.message);
                    }
                    refs.condition(&(field.clone() + ".audience"), audience);
                }
                check_effects(effects, 0, &here, "message", refs, violations);
            }
            StepAction::Effect { effects } => {
                check_effects(effects, 1, &here, "effect", refs, violations);
            }
        }
    }
}

fn check_effects(
    effects: &[Effect],
    at_least: usize,
    here: &[String],
    step: &str,
    refs: &mut References,
    violations: &mut Vec<FieldViolation>,
) {
    let mut c = Checker::new();
    if effects.len() < at_least || effects.len() > MAX_EFFECTS {
        c.refuse(
            "effects",
            ViolationCode::OutOfRange,
            format!("give {at_least} to {MAX_EFFECTS} effects"),
        );
    }
    let mut nested = Checker::new();
    for (index, effect) in effects.iter().enumerate() {
        let mut e = Checker::new();
        effect.check(&mut e);
        nested.absorb(&index.to_string(), e.into_violations());
        let field = format!(
            "{}.{step}.effects.{index}.{}",
            here.join("."),
            effect.name()
        );
        if let Some(role_id) = effect.role_id() {
            refs.roles.insert((field.clone(), role_id));
        }
        if let Some(endpoint_id) = effect.endpoint_id() {
            refs.endpoints
                .insert((format!("{field}.endpointId"), endpoint_id));
        }
        if let Some(tag_id) = effect.tag_id() {
            // `setTag` takes an object; `removeTag` the id alone.
            let field = if matches!(effect, Effect::SetTag { .. }) {
                field + ".tagId"
            } else {
                field
            };
            refs.tags.insert((field, tag_id));
        }
    }
    c.absorb("effects", nested.into_violations());
    let mut prefixed = Checker::new();
    prefixed.absorb(step, c.into_violations());
    violations.extend(
        prefixed
            .into_violations()
            .into_iter()
            .map(|v| here.iter().rev().fold(v, |v, p| v.under(p))),
    );
}

/// A wait until an anchor offset earlier than one the run has already waited for can never
/// happen as written: the first such wait, if any.
pub(super) fn offsets_problem(steps: &[Step]) -> Option<FieldViolation> {
    fn go(
        steps: &[Step],
        path: &[String],
        mut last: Option<(i32, u32, u32)>,
    ) -> Result<Option<(i32, u32, u32)>, FieldViolation> {
        for (index, step) in steps.iter().enumerate() {
            let mut here = path.to_vec();
            here.push(index.to_string());
            match &step.action {
                StepAction::Wait(Wait::Until {
                    offset_days,
                    hour,
                    minute,
                }) => {
                    let point = (*offset_days, *hour, *minute);
                    if last.is_some_and(|before| point < before) {
                        let mut field: Vec<&str> = here.iter().map(String::as_str).collect();
                        field.extend(["wait", "until"]);
                        return Err(FieldViolation::new(
                            &field,
                            ViolationCode::OutOfRange,
                            "is earlier than a wait before it: the run would already be past it",
                        ));
                    }
                    last = Some(point);
                }
                StepAction::Filter { yes, no, .. } => {
                    let branch = |name: &str, list: &[Step]| {
                        let mut inner = here.clone();
                        inner.extend(["filter".to_owned(), name.to_owned()]);
                        go(list, &inner, last)
                    };
                    let after_yes = branch("yes", yes)?;
                    let after_no = branch("no", no)?;
                    last = after_yes.max(after_no);
                }
                _ => {}
            }
        }
        Ok(last)
    }
    go(steps, &["steps".to_owned()], None).err()
}

/// How long before its anchor a run is enrolled: anchors ahead (a planned delivery, a
/// birthday) by the earliest offset a wait counts from, plus a day for time zones; others at
/// the anchor.
pub(super) fn lead_ms(anchor: &Anchor, steps: &[Step]) -> i64 {
    if !anchor.is_ahead() {
        return 0;
    }
    let earliest = walk(steps)
        .into_iter()
        .filter_map(|(step, _)| match &step.action {
            StepAction::Wait(Wait::Until { offset_days, .. }) => Some(*offset_days),
            _ => None,
        })
        .min()
        .unwrap_or(0);
    (i64::from((-earliest).max(0)) + 1) * DAY_MS
}

pub(super) async fn check_references(
    db: &impl ConnectionTrait,
    refs: References,
    checker: &mut Checker,
) -> AppResult<()> {
    let mut refuse = |field: &str, message: String| {
        let path: Vec<&str> = field.split('.').collect();
        checker.absorb_flat(vec![FieldViolation::new(
            &path,
            ViolationCode::NotFound,
            message,
        )]);
    };
    for (field, id) in refs.roles {
        if !exists::<role::Entity>(db, id).await? {
            refuse(&field, format!("role {id} does not exist"));
        }
    }
    for (field, id) in refs.tags {
        if !exists::<tag::Entity>(db, id).await? {
            refuse(&field, format!("tag {id} does not exist"));
        }
    }
    for (field, id) in refs.segments {
        if !exists::<segment::Entity>(db, id).await? {
            refuse(&field, format!("segment {id} does not exist"));
        }
    }
    for (field, id) in refs.endpoints {
        if !exists::<webhook_endpoint::Entity>(db, id).await? {
            refuse(&field, format!("webhook endpoint {id} does not exist"));
        }
    }
    for (field, id, channel) in refs.templates {
        match template::Entity::find()
            .filter(template::Column::Id.eq(id))
            .all(db)
            .await?
            .pop()
        {
            None => refuse(&field, format!("template {id} does not exist")),
            Some(t) if t.channel != channel => refuse(
                &field,
                format!(
                    "template {id} is an {} template; this step sends {channel}",
                    t.channel
                ),
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_until(id: &str, offset_days: i32, hour: u32) -> Step {
        Step {
            id: id.into(),
            action: StepAction::Wait(Wait::Until {
                offset_days,
                hour,
                minute: 0,
            }),
        }
    }

    fn effect(id: &str) -> Step {
        Step {
            id: id.into(),
            action: StepAction::Effect {
                effects: vec![Effect::RemoveTag { tag_id: 1 }],
            },
        }
    }

    fn fields(steps: &[Step], anchor: &Anchor) -> Vec<String> {
        let mut violations = Vec::new();
        check_steps(anchor, steps, &mut References::default(), &mut violations);
        violations.into_iter().map(|v| v.field.join(".")).collect()
    }

    #[test]
    fn days_before_the_anchor_are_possible_only_for_anchors_ahead() {
        let steps = vec![wait_until("before", -2, 9), effect("tag")];
        assert_eq!(
            fields(&steps, &Anchor::Registered {}),
            vec!["steps.0.wait.until.offsetDays"]
        );
        assert!(fields(&steps, &Anchor::Birthday {}).is_empty());
        assert_eq!(lead_ms(&Anchor::Birthday {}, &steps), 3 * DAY_MS);
        assert_eq!(lead_ms(&Anchor::Registered {}, &steps), 0);
    }

    #[test]
    fn a_wait_earlier_than_the_one_before_it_is_refused_also_after_a_branch() {
        let ok = vec![wait_until("a", 1, 9), wait_until("b", 1, 10)];
        assert!(offsets_problem(&ok).is_none());
        let branch = Step {
            id: "f".into(),
            action: StepAction::Filter {
                condition: Condition::always(),
                yes: vec![wait_until("late", 5, 9)],
                no: vec![effect("e")],
            },
        };
        let steps = vec![wait_until("a", 1, 9), branch, wait_until("back", 3, 9)];
        let problem = offsets_problem(&steps).expect("refused");
        assert_eq!(problem.field.join("."), "steps.2.wait.until");
    }

    #[test]
    fn empty_branches_and_repeated_ids_are_refused_with_their_paths() {
        let steps = vec![
            effect("same"),
            Step {
                id: "f".into(),
                action: StepAction::Filter {
                    condition: Condition::always(),
                    yes: vec![effect("same")],
                    no: vec![],
                },
            },
            Step {
                id: "empty".into(),
                action: StepAction::Filter {
                    condition: Condition::always(),
                    yes: vec![],
                    no: vec![],
                },
            },
        ];
        assert_eq!(
            fields(&steps, &Anchor::Registered {}),
            vec!["steps.1.filter.yes.0.id", "steps.2.filter"]
        );
        assert_eq!(fields(&[], &Anchor::Registered {}), vec!["steps"]);
    }
}
