//! Finding one's way in a step tree: a step by id, and the step that follows one. After the
//! last step of a filter's branch the flow goes on with the step after the filter.

use super::{Step, StepAction};

/// The step with this id, anywhere in the tree.
pub fn find<'a>(steps: &'a [Step], id: &str) -> Option<&'a Step> {
    path_to(steps, id).and_then(|path| path.last().copied())
}

/// The step that follows step `id` when it is done: the next in its list, or else the one
/// after its enclosing filter, and so on outwards. `None` at the end of the flow.
pub fn next_after<'a>(steps: &'a [Step], id: &str) -> Option<&'a Step> {
    let path = path_to(steps, id)?;
    // Walk outwards: at each level, the list that holds the step and the step's position.
    for depth in (0..path.len()).rev() {
        let list: &[Step] = if depth == 0 {
            steps
        } else {
            match &path[depth - 1].action {
                StepAction::Filter { yes, no, .. } => {
                    if yes.iter().any(|s| s.id == path[depth].id) {
                        yes
                    } else {
                        no
                    }
                }
                _ => return None,
            }
        };
        let position = list.iter().position(|s| s.id == path[depth].id)?;
        if let Some(next) = list.get(position + 1) {
            return Some(next);
        }
    }
    None
}

/// Every step in flow order — a filter, then its yes branch, then its no branch — with its
/// kind (`wait`, `filter`, `message`, `effect`) and depth (0 at the top level).
pub fn outline(steps: &[Step]) -> Vec<(String, &'static str, i32)> {
    fn walk(steps: &[Step], depth: i32, out: &mut Vec<(String, &'static str, i32)>) {
        for step in steps {
            let kind = match &step.action {
                StepAction::Wait(_) => "wait",
                StepAction::Filter { .. } => "filter",
                StepAction::Message { .. } => "message",
                StepAction::Effect { .. } => "effect",
            };
            out.push((step.id.clone(), kind, depth));
            if let StepAction::Filter { yes, no, .. } = &step.action {
                walk(yes, depth + 1, out);
                walk(no, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(steps, 0, &mut out);
    out
}

/// The steps from the top level down to step `id`.
fn path_to<'a>(steps: &'a [Step], id: &str) -> Option<Vec<&'a Step>> {
    for step in steps {
        if step.id == id {
            return Some(vec![step]);
        }
        if let StepAction::Filter { yes, no, .. } = &step.action
            && let Some(mut rest) = path_to(yes, id).or_else(|| path_to(no, id))
        {
            rest.insert(0, step);
            return Some(rest);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaigns::Wait;
    use crate::domain::conditions::Condition;

    fn wait(id: &str) -> Step {
        Step {
            id: id.into(),
            action: StepAction::Wait(Wait::Duration { minutes: 1 }),
        }
    }

    #[test]
    fn a_branch_goes_on_after_its_filter() {
        let steps = vec![
            wait("a"),
            Step {
                id: "f".into(),
                action: StepAction::Filter {
                    condition: Condition::always(),
                    yes: vec![wait("y1"), wait("y2")],
                    no: vec![wait("n1")],
                },
            },
            wait("z"),
        ];
        let next = |id| next_after(&steps, id).map(|s| s.id.clone());
        assert_eq!(next("a"), Some("f".into()));
        assert_eq!(next("y1"), Some("y2".into()));
        assert_eq!(next("y2"), Some("z".into()));
        assert_eq!(next("n1"), Some("z".into()));
        assert_eq!(next("z"), None);
        assert_eq!(next("missing"), None);
        assert_eq!(find(&steps, "n1").map(|s| s.id.as_str()), Some("n1"));
    }
}
