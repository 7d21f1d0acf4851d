//! Campaigns on the API: CRUD with every part checked.

use super::actions::{EffectInput, effect};
use super::auth::Require;
use super::conditions::{ConditionInput, to_condition};
use super::errors::{coded, payload, respond, to_graphql};
use super::events::EventKind;
use super::orders::OrderStatus;
use super::scalars::{id_arg, opt_id_arg};
use super::state;
use super::templates::Channel;
use crate::clock::from_millis;
use crate::domain::actions::Effect;
use crate::domain::campaigns::preview::preview_audience;
use crate::domain::campaigns::{
    self, Anchor, Campaign as DomainCampaign, CampaignInput as DomainInput, CampaignStatus,
    ExitGoal, InactivityBasis, Reentry, SendWindow, Step, StepAction, Wait,
};
use crate::domain::conditions::Condition;
use crate::error::{ErrorCode, FieldViolation, ViolationCode};
use async_graphql::{
    Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, OneofObject, SimpleObject,
};
use chrono::{DateTime, Utc};

/// Where a campaign is in its life.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "CampaignStatus")]
pub enum Status {
    /// Being written: nobody is enrolled.
    Draft,
    /// Enrols customers and advances runs.
    Active,
    /// Enrols nobody and advances no run until activated again.
    Paused,
    /// Finished for good; archiving ends its active runs.
    Archived,
}

impl From<Status> for CampaignStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => CampaignStatus::Draft,
            Status::Active => CampaignStatus::Active,
            Status::Paused => CampaignStatus::Paused,
            Status::Archived => CampaignStatus::Archived,
        }
    }
}

impl From<CampaignStatus> for Status {
    fn from(s: CampaignStatus) -> Self {
        match s {
            CampaignStatus::Draft => Status::Draft,
            CampaignStatus::Active => Status::Active,
            CampaignStatus::Paused => Status::Paused,
            CampaignStatus::Archived => Status::Archived,
        }
    }
}

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

fn to_domain(input: CampaignInput, currency: &str) -> DomainInput {
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

/// A campaign. Its parts are JSON in the shape of their inputs (amounts in minor units,
/// waits in minutes).
pub struct Campaign(pub DomainCampaign);

#[Object]
impl Campaign {
    async fn id(&self) -> ID {
        ID(self.0.model.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.model.name
    }
    async fn status(&self) -> Status {
        self.0.status.into()
    }
    /// Why Nudge paused the campaign: its stored definition no longer decodes. Saving the
    /// campaign again with valid parts clears it.
    async fn broken_reason(&self) -> Option<String> {
        self.0
            .broken
            .clone()
            .or_else(|| self.0.model.broken_reason.clone())
    }
    async fn anchor(&self) -> Json<serde_json::Value> {
        Json(self.0.model.anchor.clone())
    }
    async fn audience(&self) -> Json<serde_json::Value> {
        Json(self.0.model.audience.clone())
    }
    async fn steps(&self) -> Json<serde_json::Value> {
        Json(self.0.model.steps.clone())
    }
    async fn exit_goal(&self) -> Option<Json<serde_json::Value>> {
        self.0.model.exit_goal.clone().map(Json)
    }
    async fn reentry(&self) -> ReentryValue {
        let (kind, days) = match self.0.reentry {
            Reentry::OnceEver => (ReentryKind::OnceEver, None),
            Reentry::OncePerSubject => (ReentryKind::OncePerSubject, None),
            Reentry::AtMostEveryDays(d) => (ReentryKind::AtMostEveryDays, Some(d)),
        };
        ReentryValue { kind, days }
    }
    async fn send_window(&self) -> Option<Json<serde_json::Value>> {
        self.0.model.send_window.clone().map(Json)
    }
    /// When it was first activated.
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.activated_at.map(from_millis)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.created_at)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.updated_at)
    }
}

/// One customer a tick would enroll, and what would happen to them.
#[derive(SimpleObject)]
pub struct AudiencePreview {
    pub customer_id: ID,
    pub subject: String,
    pub anchor_at: DateTime<Utc>,
    /// Whether the entry audience admits them (a run not admitted ends as skipped).
    pub in_audience: bool,
    /// The first message step they would get, if any.
    pub step_id: Option<String>,
    /// When that message would go out: waits and the send window included.
    pub sends_at: Option<DateTime<Utc>>,
}

/// What one tick of the campaign engine did.
#[derive(SimpleObject)]
pub struct TickResult {
    pub at: DateTime<Utc>,
    /// Runs the planner created.
    pub enrolled: i64,
    /// Runs the runner looked at.
    pub advanced: i64,
}

payload!(
    /// The result of creating or updating a campaign.
    CampaignPayload, campaign: Campaign
);
payload!(
    /// The result of deleting a campaign: the id it had.
    DeleteCampaignPayload, deleted_campaign_id: ID
);

#[derive(Default)]
pub struct CampaignQuery;

#[Object]
impl CampaignQuery {
    /// Every campaign, oldest first.
    #[graphql(guard = "Require::READ")]
    async fn campaigns(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Campaign>> {
        let state = state(ctx)?;
        let list = campaigns::list(&state.db).await.map_err(to_graphql)?;
        Ok(list.into_iter().map(Campaign).collect())
    }

    #[graphql(guard = "Require::READ")]
    async fn campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Campaign>> {
        let state = state(ctx)?;
        let found = campaigns::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Campaign))
    }

    /// Who a tick at `at` would enroll (anchors set by events: whose event came in the day
    /// before), whether they are in the audience, and which message would go out first, and
    /// when. Writes nothing.
    #[graphql(guard = "Require::READ")]
    async fn preview_audience(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
        at: DateTime<Utc>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 100))] first: i32,
    ) -> async_graphql::Result<Vec<AudiencePreview>> {
        let state = state(ctx)?;
        let id = id_arg("campaignId", &campaign_id)?;
        let campaign = campaigns::find(&state.db, id)
            .await
            .map_err(to_graphql)?
            .ok_or_else(|| coded(ErrorCode::NotFound, format!("campaign {id} does not exist")))?;
        let entries = preview_audience(
            &state.db,
            &campaign,
            crate::clock::to_millis(at),
            &state.settings.store,
            first as usize,
        )
        .await
        .map_err(to_graphql)?;
        Ok(entries
            .into_iter()
            .map(|e| AudiencePreview {
                customer_id: ID(e.customer_id.to_string()),
                subject: e.subject_key,
                anchor_at: from_millis(e.anchor_at),
                in_audience: e.in_audience,
                step_id: e.step_id,
                sends_at: e.sends_at.map(from_millis),
            })
            .collect())
    }

    /// Runs, newest first, of one campaign and/or one customer (at most 100).
    #[graphql(guard = "Require::READ")]
    async fn campaign_runs(
        &self,
        ctx: &Context<'_>,
        campaign_id: Option<ID>,
        customer_id: Option<ID>,
        #[graphql(default = 50, validator(minimum = 1, maximum = 100))] first: i32,
    ) -> async_graphql::Result<Vec<CampaignRun>> {
        let state = state(ctx)?;
        let rows = campaigns::runs(
            &state.db,
            opt_id_arg("campaignId", campaign_id)?,
            opt_id_arg("customerId", customer_id)?,
            first as u64,
        )
        .await
        .map_err(to_graphql)?;
        Ok(rows.into_iter().map(CampaignRun).collect())
    }
}

/// One line of a run's log: what a step did, or why the run entered, waited or ended.
#[derive(SimpleObject)]
pub struct RunLogEntry {
    /// The step, for step outcomes.
    pub step_id: Option<String>,
    pub at: DateTime<Utc>,
    /// entered, notInAudience, waiting, outsideWindow, yes, no, queued, skipped, applied,
    /// effectsApplied, effectsNotApplied, effectsFailed (what came of a message step's
    /// effects once its message was sent or not), anchorMoved, completed, converted, exited
    /// or failed.
    pub outcome: String,
    pub detail: Option<String>,
    /// The delivery a message step queued.
    pub delivery_id: Option<ID>,
}

/// One customer going through one campaign for one subject.
pub struct CampaignRun(pub entity::campaign_run::Model);

#[Object]
impl CampaignRun {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn campaign_id(&self) -> ID {
        ID(self.0.campaign_id.to_string())
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    /// What the run is about: `order:<id>`, `cart:<time>`, `birthday:<year>`, `registered` …
    async fn subject(&self) -> &str {
        &self.0.subject_key
    }
    /// pending (not yet checked against the audience), active, completed, converted, exited
    /// or skipped (not in the audience).
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// The instant the run is timed from.
    async fn anchor_at(&self) -> DateTime<Utc> {
        from_millis(self.0.anchor_at)
    }
    /// The step the run is at.
    async fn step_id(&self) -> Option<&str> {
        self.0.step_id.as_deref()
    }
    async fn next_due_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_due_at.map(from_millis)
    }
    async fn entered_at(&self) -> DateTime<Utc> {
        from_millis(self.0.entered_at)
    }
    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at.map(from_millis)
    }
    async fn end_reason(&self) -> Option<&str> {
        self.0.end_reason.as_deref()
    }
    /// What happened, oldest first.
    async fn log(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RunLogEntry>> {
        let state = state(ctx)?;
        let rows = campaigns::run_log(&state.db, self.0.id)
            .await
            .map_err(to_graphql)?;
        Ok(rows
            .into_iter()
            .map(|r| RunLogEntry {
                step_id: r.step_id,
                at: from_millis(r.at),
                outcome: r.outcome,
                detail: r.detail,
                delivery_id: r.delivery_id.map(|id| ID(id.to_string())),
            })
            .collect())
    }
}

#[derive(Default)]
pub struct CampaignMutation;

#[Object(guard = "Require::ADMIN")]
impl CampaignMutation {
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        input: CampaignInput,
    ) -> async_graphql::Result<CampaignPayload> {
        let state = state(ctx)?;
        let input = to_domain(input, &state.settings.store.currency);
        let result = campaigns::create(&state.db, state.clock.now(), input).await;
        respond(result.map(Campaign), "input")
    }

    /// Changes a campaign; step ids keep runs in place across edits. Archiving ends its
    /// active runs.
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CampaignInput,
    ) -> async_graphql::Result<CampaignPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let input = to_domain(input, &state.settings.store.currency);
        let result = campaigns::update(&state.db, state.clock.now(), id, input).await;
        respond(result.map(Campaign), "input")
    }

    /// Runs the campaign engine once at `at` (the server's clock when omitted): the planner,
    /// then the runner, as the scheduler does every minute. For tests and demos: refused with
    /// `FORBIDDEN` unless `NUDGE_TICK_MUTATION` is on.
    async fn run_campaign_tick(
        &self,
        ctx: &Context<'_>,
        at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<TickResult> {
        let state = state(ctx)?;
        let settings = &state.settings;
        if !settings.tick_mutation {
            return Err(coded(
                ErrorCode::Forbidden,
                "runCampaignTick is switched off; set NUDGE_TICK_MUTATION=true to allow it",
            ));
        }
        let at = at.unwrap_or_else(|| state.clock.now());
        let report = campaigns::tick(&state.db, &state.bus, at, &settings.store)
            .await
            .map_err(to_graphql)?;
        state.senders.wake.notify_one();
        Ok(TickResult {
            at,
            enrolled: i64::try_from(report.enrolled).unwrap_or(i64::MAX),
            advanced: i64::try_from(report.advanced).unwrap_or(i64::MAX),
        })
    }

    /// Deletes a campaign with its runs and their logs.
    async fn delete_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteCampaignPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(campaigns::delete(&state.db, row_id).await.map(|()| id), "")
    }
}
