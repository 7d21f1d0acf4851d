//! What an admin writes for a campaign, and its conversion to the domain's campaign; every
//! violation is named with its full path.

use super::Status;
use crate::domain::actions::Effect;
use crate::domain::campaigns::{
    Anchor, CampaignInput as DomainInput, ExitGoal, InactivityBasis, Reentry, SendWindow, Step,
    StepAction, Wait,
};
use crate::domain::conditions::Condition;
use crate::error::{FieldViolation, ViolationCode};
use crate::graphql::actions::{EffectInput, effect};
use crate::graphql::channel::Channel;
use crate::graphql::conditions::{ConditionInput, to_condition};
use crate::graphql::events::EventKind;
use crate::graphql::orders::OrderStatus;
use async_graphql::{Enum, ID, InputObject, MaybeUndefined, OneofObject, SimpleObject};

/// An order placed: only the customer's `nth` order when given, and only orders whose status
/// is one of `statuses` (any but cancelled when empty).
#[derive(InputObject)]
pub struct OrderPlacedAnchorInput {
    pub nth: Option<i32>,
    #[graphql(default)]
    pub statuses: Vec<OrderStatus>,
}

/// An order still unpaid `afterHours` after it was placed.
#[derive(InputObject)]
pub struct OrderUnpaidAnchorInput {
    pub after_hours: i32,
}

/// A cart left alone for `idleHours` without an order.
#[derive(InputObject)]
pub struct CartAbandonedAnchorInput {
    pub idle_hours: i32,
}

/// What inactivity is measured by.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InactivityBasisValue {
    LastLogin,
    LastOrder,
}

/// No login (or no order) for `days` days.
#[derive(InputObject)]
pub struct InactiveAnchorInput {
    pub basis: InactivityBasisValue,
    pub days: i32,
}

/// What a campaign is timed from: exactly one field. Fields without settings take `true`.
#[derive(OneofObject)]
pub enum AnchorInput {
    OrderPlaced(OrderPlacedAnchorInput),
    OrderPaid(bool),
    OrderUnpaid(OrderUnpaidAnchorInput),
    /// The order's planned delivery; wait steps go days before or after it.
    PlannedDelivery(bool),
    Delivered(bool),
    CartAbandoned(CartAbandonedAnchorInput),
    Registered(bool),
    Inactive(InactiveAnchorInput),
    /// The customer's birthday in their time zone; wait steps go days before or after it.
    Birthday(bool),
    NewsletterSubscribed(bool),
    /// The customer joined this segment.
    SegmentJoined(SegmentJoinedAnchorInput),
    /// A predicted cart was gathered for the customer (the weekly replenishment collection):
    /// one run per cart; confirming it converts the run, postponing or declining ends it.
    ReplenishmentDue(bool),
}

/// A join of one segment anchors a run.
#[derive(InputObject)]
pub struct SegmentJoinedAnchorInput {
    pub segment_id: ID,
}

fn to_anchor(input: AnchorInput) -> Anchor {
    match input {
        AnchorInput::OrderPlaced(a) => Anchor::OrderPlaced {
            nth: a.nth,
            statuses: a.statuses.into_iter().map(Into::into).collect(),
        },
        AnchorInput::OrderPaid(_) => Anchor::OrderPaid {},
        AnchorInput::OrderUnpaid(a) => Anchor::OrderUnpaid {
            after_hours: a.after_hours,
        },
        AnchorInput::PlannedDelivery(_) => Anchor::PlannedDelivery {},
        AnchorInput::Delivered(_) => Anchor::Delivered {},
        AnchorInput::CartAbandoned(a) => Anchor::CartAbandoned {
            idle_hours: a.idle_hours,
        },
        AnchorInput::Registered(_) => Anchor::Registered {},
        AnchorInput::Inactive(a) => Anchor::Inactive {
            basis: match a.basis {
                InactivityBasisValue::LastLogin => InactivityBasis::LastLogin,
                InactivityBasisValue::LastOrder => InactivityBasis::LastOrder,
            },
            days: a.days,
        },
        AnchorInput::Birthday(_) => Anchor::Birthday {},
        AnchorInput::NewsletterSubscribed(_) => Anchor::NewsletterSubscribed {},
        AnchorInput::SegmentJoined(a) => Anchor::SegmentJoined {
            // An id that is not one is refused as a segment that does not exist.
            segment_id: a.segment_id.parse().unwrap_or(0),
        },
        AnchorInput::ReplenishmentDue(_) => Anchor::ReplenishmentDue {},
    }
}

/// Until the anchor's local date moved by `offsetDays` (negative: before it), at a local time.
#[derive(InputObject)]
pub struct WaitUntilInput {
    pub offset_days: i32,
    pub hour: i32,
    #[graphql(default)]
    pub minute: i32,
}

/// How long a wait step waits: exactly one field.
#[derive(OneofObject)]
pub enum WaitInput {
    Minutes(i32),
    Hours(i32),
    Days(i32),
    Until(WaitUntilInput),
}

/// A condition with the steps for when it holds (`yes`) and when it does not (`no`); the
/// flow then goes on after the filter.
#[derive(InputObject)]
pub struct FilterStepInput {
    pub condition: ConditionInput,
    #[graphql(default)]
    pub yes: Vec<StepInput>,
    #[graphql(default)]
    pub no: Vec<StepInput>,
}

/// A template sent to the customers of this step's audience, then effects.
#[derive(InputObject)]
pub struct MessageStepInput {
    pub channel: Channel,
    pub template_id: ID,
    /// Who gets this message (everyone in the run when omitted).
    pub audience: Option<ConditionInput>,
    /// Applied after the message is queued (e.g. set a tag's value).
    #[graphql(default)]
    pub effects: Vec<EffectInput>,
}

/// One step: an id that stays the same across edits, and exactly one of `wait`, `filter`,
/// `message` or `effect`.
#[derive(InputObject)]
pub struct StepInput {
    pub id: String,
    pub wait: Option<WaitInput>,
    pub filter: Option<Box<FilterStepInput>>,
    pub message: Option<MessageStepInput>,
    pub effect: Option<EffectStepInput>,
}

/// Effects applied in order.
#[derive(InputObject)]
pub struct EffectStepInput {
    pub effects: Vec<EffectInput>,
}

/// When a run ends as converted: an event of one of these kinds after it entered (and, when
/// given, satisfying the condition).
#[derive(InputObject)]
pub struct ExitGoalInput {
    pub events: Vec<EventKind>,
    pub condition: Option<ConditionInput>,
}

/// How often a customer may enter a campaign.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReentryKind {
    OnceEver,
    /// Once per order, cart, inactivity spell or year (the default).
    OncePerSubject,
    AtMostEveryDays,
}

/// A re-entry policy; `days` goes with `AT_MOST_EVERY_DAYS`.
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "ReentryInput")]
pub struct ReentryValue {
    pub kind: ReentryKind,
    pub days: Option<i32>,
}

/// A day of the week.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

/// The local hours (`startHour` to `endHour`) and weekdays messages may go out in.
#[derive(InputObject)]
pub struct SendWindowInput {
    pub start_hour: i32,
    pub end_hour: i32,
    /// Every day when empty.
    #[graphql(default)]
    pub weekdays: Vec<Weekday>,
}

/// Fields of a campaign. On create, `name`, `anchor` and `steps` are required; on update,
/// omitted fields stay as they are and `null` clears `exitGoal` / `sendWindow`.
#[derive(InputObject)]
pub struct CampaignInput {
    pub name: Option<String>,
    /// DRAFT when omitted on create.
    pub status: Option<Status>,
    pub anchor: Option<AnchorInput>,
    /// Who may enter (everyone when omitted).
    pub audience: Option<ConditionInput>,
    pub steps: Option<Vec<StepInput>>,
    pub exit_goal: MaybeUndefined<ExitGoalInput>,
    pub reentry: Option<ReentryValue>,
    pub send_window: MaybeUndefined<SendWindowInput>,
}

/// Converts inputs to the domain's types, collecting the violations only the API can see.
struct Converter<'a> {
    currency: &'a str,
    violations: Vec<FieldViolation>,
}

impl Converter<'_> {
    fn refuse(&mut self, path: &[String], code: ViolationCode, message: &str) {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        self.violations
            .push(FieldViolation::new(&path, code, message));
    }

    fn condition(&mut self, input: ConditionInput, path: &[String]) -> Condition {
        to_condition(input, self.currency, path, &mut self.violations)
    }

    fn effects(&mut self, list: Vec<EffectInput>, path: &[String]) -> Vec<Effect> {
        let mut found = Vec::new();
        let effects = list
            .into_iter()
            .enumerate()
            .map(|(i, e)| effect(e, i, &mut found))
            .collect();
        // `effect` names its paths from `effects`; put them under the step.
        let prefix = &path[..path.len().saturating_sub(1)];
        self.violations.extend(
            found
                .into_iter()
                .map(|v| prefix.iter().rev().fold(v, |v, p| v.under(p))),
        );
        effects
    }

    fn steps(&mut self, list: Vec<StepInput>, path: &[String]) -> Vec<Step> {
        list.into_iter()
            .enumerate()
            .filter_map(|(i, input)| {
                let mut here = path.to_vec();
                here.push(i.to_string());
                self.step(input, &here)
            })
            .collect()
    }

    fn step(&mut self, input: StepInput, here: &[String]) -> Option<Step> {
        let at = |name: &str| {
            let mut p = here.to_vec();
            p.push(name.to_owned());
            p
        };
        let given = [
            input.wait.is_some(),
            input.filter.is_some(),
            input.message.is_some(),
            input.effect.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            self.refuse(
                here,
                ViolationCode::Invalid,
                "give exactly one of wait, filter, message or effect",
            );
            return None;
        }
        let action = if let Some(wait) = input.wait {
            let minutes = |n: i32, per: i64| i64::from(n) * per;
            StepAction::Wait(match wait {
                WaitInput::Minutes(n) => Wait::Duration {
                    minutes: minutes(n, 1),
                },
                WaitInput::Hours(n) => Wait::Duration {
                    minutes: minutes(n, 60),
                },
                WaitInput::Days(n) => Wait::Duration {
                    minutes: minutes(n, 24 * 60),
                },
                WaitInput::Until(u) => Wait::Until {
                    offset_days: u.offset_days,
                    hour: u32::try_from(u.hour).unwrap_or(u32::MAX),
                    minute: u32::try_from(u.minute).unwrap_or(u32::MAX),
                },
            })
        } else if let Some(filter) = input.filter {
            let filter = *filter;
            let condition = self.condition(
                filter.condition,
                &[at("filter"), vec!["condition".into()]].concat(),
            );
            let yes = self.steps(filter.yes, &[at("filter"), vec!["yes".into()]].concat());
            let no = self.steps(filter.no, &[at("filter"), vec!["no".into()]].concat());
            StepAction::Filter { condition, yes, no }
        } else if let Some(message) = input.message {
            let template_id = match message.template_id.parse::<i64>() {
                Ok(id) if id > 0 => id,
                _ => {
                    self.refuse(
                        &[at("message"), vec!["templateId".into()]].concat(),
                        ViolationCode::Invalid,
                        "is not a valid id",
                    );
                    0
                }
            };
            let audience = message
                .audience
                .map(|a| self.condition(a, &[at("message"), vec!["audience".into()]].concat()));
            let effects = self.effects(
                message.effects,
                &[at("message"), vec!["effects".into()]].concat(),
            );
            StepAction::Message {
                channel: message.channel.into(),
                template_id,
                audience,
                effects,
            }
        } else {
            let list = input.effect.map(|e| e.effects).unwrap_or_default();
            let effects = self.effects(list, &[at("effect"), vec!["effects".into()]].concat());
            StepAction::Effect { effects }
        };
        Some(Step {
            id: input.id,
            action,
        })
    }
}

pub(super) fn to_domain(input: CampaignInput, currency: &str) -> DomainInput {
    let mut c = Converter {
        currency,
        violations: Vec::new(),
    };
    let audience = input
        .audience
        .map(|a| c.condition(a, &["audience".to_owned()]));
    let steps = input.steps.map(|s| c.steps(s, &["steps".to_owned()]));
    let exit_goal = match input.exit_goal {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(goal) => {
            let path = ["exitGoal".to_owned(), "condition".to_owned()];
            Some(Some(ExitGoal {
                events: goal.events.into_iter().map(Into::into).collect(),
                condition: goal.condition.map(|g| c.condition(g, &path)),
            }))
        }
    };
    let reentry = match input.reentry {
        None => None,
        Some(ReentryValue { kind, days }) => match (kind, days) {
            (ReentryKind::OnceEver, _) => Some(Reentry::OnceEver),
            (ReentryKind::OncePerSubject, _) => Some(Reentry::OncePerSubject),
            (ReentryKind::AtMostEveryDays, Some(d)) => Some(Reentry::AtMostEveryDays(d)),
            (ReentryKind::AtMostEveryDays, None) => {
                c.refuse(
                    &["reentry".to_owned(), "days".to_owned()],
                    ViolationCode::Blank,
                    "give the number of days",
                );
                None
            }
        },
    };
    let hour = |h: i32| u32::try_from(h).unwrap_or(u32::MAX);
    let send_window = match input.send_window {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(w) => Some(Some(SendWindow {
            start_hour: hour(w.start_hour),
            end_hour: hour(w.end_hour),
            weekdays: w.weekdays.into_iter().map(weekday).collect(),
        })),
    };
    DomainInput {
        name: input.name,
        status: input.status.map(Into::into),
        anchor: input.anchor.map(to_anchor),
        audience,
        steps,
        exit_goal,
        reentry,
        send_window,
        refused: c.violations,
    }
}

fn weekday(w: Weekday) -> chrono::Weekday {
    match w {
        Weekday::Monday => chrono::Weekday::Mon,
        Weekday::Tuesday => chrono::Weekday::Tue,
        Weekday::Wednesday => chrono::Weekday::Wed,
        Weekday::Thursday => chrono::Weekday::Thu,
        Weekday::Friday => chrono::Weekday::Fri,
        Weekday::Saturday => chrono::Weekday::Sat,
        Weekday::Sunday => chrono::Weekday::Sun,
    }
}
