//! Campaigns: timed flows that send the right message at the right local time, once. A
//! campaign has an anchor (the date it is timed from, with its subject: an order, a cart, a
//! year's birthday …), an entry audience, a small tree of steps, an exit goal, a re-entry policy
//! and a send window. Each customer goes through it in runs, one per subject.
//!
//! This module holds the decoded model; [`write`] validates and stores it, [`time`] computes
//! local instants.

mod check;
mod context;
mod enrol;
pub mod entry;
mod exit;
pub mod flow;
pub mod follow;
mod log;
mod plan;
pub mod preview;
pub mod run;
mod senders;
mod status;
mod step;
pub mod tally;
pub mod tick;
pub mod window;

use crate::domain::templates::Channel;
mod write;

pub use check::{MAX_BRANCH_DEPTH, MAX_STEPS};
pub use senders::CampaignSenders;
pub use status::{RunStatus, StepOutcome};
pub use tick::{TickReport, tick};
pub use write::{CampaignInput, create, delete, update};

use crate::db::in_list;
use crate::domain::actions::Effect;
use crate::domain::conditions::Condition;
use crate::domain::ingest::EventKind;
use crate::domain::orders::OrderStatus;
use crate::domain::records::decode_part;
use crate::error::AppResult;
use chrono::Weekday;
use entity::{campaign, campaign_run, campaign_run_step};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where a campaign is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CampaignStatus {
    /// Being written: nothing is enrolled.
    Draft,
    /// Enrols customers and advances runs.
    Active,
    /// Enrols no one and advances no run until activated again.
    Paused,
    /// Finished for good: its runs have ended.
    Archived,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Archived => "archived",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "active" => CampaignStatus::Active,
            "paused" => CampaignStatus::Paused,
            "archived" => CampaignStatus::Archived,
            _ => CampaignStatus::Draft,
        }
    }
}

/// Which fact an inactivity anchor looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum InactivityBasis {
    LastLogin,
    LastOrder,
}

/// The date a campaign is timed from, and what a run is about (its subject).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Anchor {
    /// An order was placed; only the customer's `nth` order when given, and only orders whose
    /// status is one of `statuses` (any status but cancelled when empty).
    OrderPlaced {
        nth: Option<i32>,
        statuses: Vec<OrderStatus>,
    },
    /// An order was paid.
    OrderPaid {},
    /// An order was placed and is still unpaid `after_hours` later.
    OrderUnpaid { after_hours: i32 },
    /// An order's planned delivery; steps wait until days before or after it. The run follows
    /// the date when it moves, and a cancelled order ends it.
    PlannedDelivery {},
    /// An order was delivered.
    Delivered {},
    /// A cart left alone for `idle_hours` without an order; one run per cart.
    CartAbandoned { idle_hours: i32 },
    /// The customer registered.
    Registered {},
    /// No login (or no order) for `days` days; activity ends the run.
    Inactive { basis: InactivityBasis, days: i32 },
    /// The customer's birthday, yearly, on the local date in their time zone (29 February is
    /// 28 February in other years); steps wait until days before, on or after it.
    Birthday {},
    /// The customer subscribed to the newsletter.
    NewsletterSubscribed {},
    /// The customer joined a segment; each join anchors a run (the re-entry policy decides
    /// whether a customer who left and joined again goes through once more).
    SegmentJoined { segment_id: i64 },
    /// A predicted cart was gathered for the customer (the weekly replenishment collection);
    /// one run per cart. Its confirmation ends the run as converted; a postponement, a
    /// decline or an order of everything in it ends it too.
    ReplenishmentDue {},
}

impl Anchor {
    pub fn kind(&self) -> &'static str {
        match self {
            Anchor::OrderPlaced { .. } => "orderPlaced",
            Anchor::OrderPaid {} => "orderPaid",
            Anchor::OrderUnpaid { .. } => "orderUnpaid",
            Anchor::PlannedDelivery {} => "plannedDelivery",
            Anchor::Delivered {} => "delivered",
            Anchor::CartAbandoned { .. } => "cartAbandoned",
            Anchor::Registered {} => "registered",
            Anchor::Inactive { .. } => "inactive",
            Anchor::Birthday {} => "birthday",
            Anchor::NewsletterSubscribed {} => "newsletterSubscribed",
            Anchor::SegmentJoined { .. } => "segmentJoined",
            Anchor::ReplenishmentDue {} => "replenishmentDue",
        }
    }

    /// When a run of this anchor starts by the facts: the anchor's own time (the event's
    /// `occurredAt`, the order's dates), plus the delay the anchor waits for (unpaid,
    /// abandoned, inactive). `None` for dates planned ahead (a planned delivery, a birthday),
    /// whose runs start when they are enrolled. A run's relative waits count from here, so a
    /// delivery reported late is reviewed on time.
    pub fn starts_at(&self, anchor_at: i64) -> Option<i64> {
        const HOUR_MS: i64 = 3_600_000;
        match self {
            Anchor::OrderPlaced { .. }
            | Anchor::OrderPaid {}
            | Anchor::Delivered {}
            | Anchor::Registered {}
            | Anchor::NewsletterSubscribed {}
            | Anchor::SegmentJoined { .. }
            | Anchor::ReplenishmentDue {} => Some(anchor_at),
            Anchor::OrderUnpaid { after_hours } => {
                Some(anchor_at + i64::from(*after_hours) * HOUR_MS)
            }
            Anchor::CartAbandoned { idle_hours } => {
                Some(anchor_at + i64::from(*idle_hours) * HOUR_MS)
            }
            Anchor::Inactive { days, .. } => Some(anchor_at + i64::from(*days) * 24 * HOUR_MS),
            Anchor::PlannedDelivery {} | Anchor::Birthday {} => None,
        }
    }

    /// Whether the anchor date can lie ahead of the run, so steps may wait until days before
    /// it.
    pub fn is_ahead(&self) -> bool {
        matches!(self, Anchor::PlannedDelivery {} | Anchor::Birthday {})
    }
}

/// How long a `wait` step waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Wait {
    /// A fixed time after the step was reached.
    Duration { minutes: i64 },
    /// Until the anchor's local date plus `offset_days` (negative: before it) at a local time.
    Until {
        offset_days: i32,
        hour: u32,
        minute: u32,
    },
}

/// One step of a campaign, with an id that stays the same when the campaign is edited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    #[serde(flatten)]
    pub action: StepAction,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum StepAction {
    Wait(Wait),
    /// Goes on with `yes` when the condition holds, with `no` otherwise; after the branch,
    /// with the step after the filter.
    Filter {
        condition: Condition,
        yes: Vec<Step>,
        no: Vec<Step>,
    },
    /// Sends a template to the customers of its own audience (everyone when absent), then
    /// applies `effects`.
    Message {
        channel: Channel,
        template_id: i64,
        audience: Option<Condition>,
        effects: Vec<Effect>,
    },
    /// Applies effects.
    Effect {
        effects: Vec<Effect>,
    },
}

/// When a run ends as converted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitGoal {
    /// Event kinds that reach the goal (after the run entered).
    pub events: Vec<EventKind>,
    /// When given, the event must also satisfy it.
    pub condition: Option<Condition>,
}

/// How often a customer may enter the campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reentry {
    /// One run per customer, ever.
    OnceEver,
    /// One run per subject (order, cart, year …).
    OncePerSubject,
    /// One run per subject, and none within this many days of the previous entry.
    AtMostEveryDays(i32),
}

impl Reentry {
    pub fn stored(self) -> (&'static str, Option<i32>) {
        match self {
            Reentry::OnceEver => ("once_ever", None),
            Reentry::OncePerSubject => ("once_per_subject", None),
            Reentry::AtMostEveryDays(days) => ("at_most_every_days", Some(days)),
        }
    }

    pub fn from_stored(policy: &str, days: Option<i32>) -> Option<Self> {
        match (policy, days) {
            ("once_per_subject", _) => Some(Reentry::OncePerSubject),
            ("once_ever", _) => Some(Reentry::OnceEver),
            ("at_most_every_days", Some(days)) => Some(Reentry::AtMostEveryDays(days)),
            _ => None,
        }
    }
}

/// The local hours and weekdays messages may go out in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendWindow {
    /// First allowed local hour (0–23).
    pub start_hour: u32,
    /// The hour the window closes (1–24, after `start_hour`).
    pub end_hour: u32,
    /// Allowed local weekdays (every day when empty).
    #[serde(with = "weekdays")]
    pub weekdays: Vec<Weekday>,
}

/// Weekdays as their English names, `monday` … `sunday`.
mod weekdays {
    use chrono::Weekday;
    use serde::{Deserialize, Deserializer, Serializer};

    const NAMES: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];

    pub fn serialize<S: Serializer>(days: &[Weekday], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            days.iter()
                .filter_map(|d| NAMES.iter().find(|(_, w)| w == d).map(|(n, _)| *n)),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Weekday>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Ok(names
            .iter()
            .filter_map(|n| NAMES.iter().find(|(name, _)| name == n).map(|(_, w)| *w))
            .collect())
    }
}

/// A stored campaign, decoded.
#[derive(Clone, Debug)]
pub struct Campaign {
    pub model: campaign::Model,
    pub status: CampaignStatus,
    pub anchor: Anchor,
    pub audience: Condition,
    pub steps: Vec<Step>,
    pub exit_goal: Option<ExitGoal>,
    pub reentry: Reentry,
    pub send_window: Option<SendWindow>,
    /// Why the stored definition does not decode (it never should: rows are validated when
    /// written). A broken campaign enrols and advances nothing, and [`pause_broken`] pauses it.
    pub broken: Option<String>,
}

impl Campaign {
    /// When a run's first step starts, so when its relative waits begin: by the facts
    /// ([`Anchor::starts_at`]; for dates planned ahead, when it was enrolled), but never
    /// before the campaign was first activated — it does not act back to before it existed:
    /// everyone inactive already, or an order imported from last year, starts at activation —
    /// and never after `now_ms`.
    pub fn run_starts_at(&self, anchor_at: i64, enrolled_at: i64, now_ms: i64) -> i64 {
        let by_facts = self.anchor.starts_at(anchor_at).unwrap_or(enrolled_at);
        let activated = self.model.activated_at.unwrap_or(i64::MIN);
        by_facts.max(activated).min(now_ms)
    }

    /// Decodes a row. A part that does not decode makes the campaign [`Campaign::broken`],
    /// with the reason; it is never run with a default in that part's place.
    pub fn decode(model: campaign::Model) -> Self {
        let mut problems = Vec::new();
        let anchor =
            decode_part("anchor", &model.anchor, &mut problems).unwrap_or(Anchor::Registered {});
        let audience = decode_part("audience", &model.audience, &mut problems)
            .unwrap_or(Condition::Any(vec![]));
        let steps = decode_part("steps", &model.steps, &mut problems).unwrap_or_default();
        let exit_goal = model
            .exit_goal
            .as_ref()
            .and_then(|v| decode_part("exit goal", v, &mut problems));
        let send_window = model
            .send_window
            .as_ref()
            .and_then(|v| decode_part("send window", v, &mut problems));
        let reentry = Reentry::from_stored(&model.reentry_policy, model.reentry_days)
            .unwrap_or_else(|| {
                problems.push(format!(
                    "re-entry policy {:?} is not one Nudge knows",
                    model.reentry_policy
                ));
                Reentry::OncePerSubject
            });
        let broken = (!problems.is_empty()).then(|| problems.join("; "));
        let status = match CampaignStatus::from_stored(&model.status) {
            // Nothing of a broken campaign runs, whatever its stored status says.
            CampaignStatus::Active if broken.is_some() => CampaignStatus::Paused,
            status => status,
        };
        Campaign {
            status,
            reentry,
            anchor,
            audience,
            steps,
            exit_goal,
            send_window,
            broken,
            model,
        }
    }
}

/// Pauses an active campaign, keeping `reason` for admins; its open runs wait, as when an
/// admin pauses it. Whether it was active (and is paused now).
pub(super) async fn pause_with_reason(
    db: &impl ConnectionTrait,
    campaign_id: i64,
    reason: &str,
    now_ms: i64,
) -> AppResult<bool> {
    let paused = campaign::Entity::update_many()
        .col_expr(
            campaign::Column::Status,
            Expr::value(CampaignStatus::Paused.as_str()),
        )
        .col_expr(
            campaign::Column::BrokenReason,
            Expr::value(reason.to_owned()),
        )
        .col_expr(campaign::Column::UpdatedAt, Expr::value(now_ms))
        .filter(campaign::Column::Id.eq(campaign_id))
        .filter(campaign::Column::Status.eq(CampaignStatus::Active.as_str()))
        .exec(db)
        .await?;
    if paused.rows_affected == 0 {
        return Ok(false);
    }
    write::set_open_runs_due(db, campaign_id, None, now_ms).await?;
    Ok(true)
}

/// Pauses each active campaign of `campaigns` whose definition does not decode, keeping the
/// reason for admins (`brokenReason`); its open runs wait, as when an admin pauses it. Each is
/// logged once, when it is paused.
pub async fn pause_broken(
    db: &impl ConnectionTrait,
    campaigns: &[Campaign],
    now_ms: i64,
) -> AppResult<()> {
    for campaign in campaigns {
        let Some(reason) = &campaign.broken else {
            continue;
        };
        if campaign.model.status != CampaignStatus::Active.as_str() {
            continue;
        }
        if pause_with_reason(db, campaign.model.id, reason, now_ms).await? {
            tracing::error!(
                campaign.id = campaign.model.id,
                reason = %reason,
                "a campaign no longer decodes and was paused"
            );
        }
    }
    Ok(())
}

/// Every campaign, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<Campaign>> {
    Ok(campaign::Entity::find()
        .order_by_asc(campaign::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(Campaign::decode)
        .collect())
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<Campaign>> {
    Ok(campaign::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(Campaign::decode))
}

/// Runs, newest first, of one campaign and/or one customer.
pub async fn runs(
    db: &impl ConnectionTrait,
    campaign_id: Option<i64>,
    customer_id: Option<i64>,
    limit: u64,
) -> AppResult<Vec<campaign_run::Model>> {
    let mut select = campaign_run::Entity::find();
    if let Some(id) = campaign_id {
        select = select.filter(campaign_run::Column::CampaignId.eq(id));
    }
    if let Some(id) = customer_id {
        select = select.filter(campaign_run::Column::CustomerId.eq(id));
    }
    Ok(select
        .order_by_desc(campaign_run::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The logs of each of `run_ids`, oldest line first.
pub async fn run_logs(
    db: &impl ConnectionTrait,
    run_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<campaign_run_step::Model>>> {
    let rows = campaign_run_step::Entity::find()
        .filter(campaign_run_step::Column::RunId.is_in(in_list(run_ids.iter().copied())))
        .order_by_asc(campaign_run_step::Column::Id)
        .all(db)
        .await?;
    Ok(crate::domain::records::group_by(rows, |line| line.run_id))
}

/// Every step of a tree, depth first, with the depth it is at (0 for the top level).
pub fn walk(steps: &[Step]) -> Vec<(&Step, usize)> {
    fn go<'a>(steps: &'a [Step], depth: usize, out: &mut Vec<(&'a Step, usize)>) {
        for step in steps {
            out.push((step, depth));
            if let StepAction::Filter { yes, no, .. } = &step.action {
                go(yes, depth + 1, out);
                go(no, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    go(steps, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_stored_in_the_shape_of_their_input() {
        let steps = vec![
            Step {
                id: "wait".into(),
                action: StepAction::Wait(Wait::Duration { minutes: 60 }),
            },
            Step {
                id: "check".into(),
                action: StepAction::Filter {
                    condition: Condition::always(),
                    yes: vec![Step {
                        id: "mail".into(),
                        action: StepAction::Message {
                            channel: Channel::Email,
                            template_id: 3,
                            audience: None,
                            effects: vec![],
                        },
                    }],
                    no: vec![],
                },
            },
        ];
        let stored = serde_json::to_value(&steps).expect("json");
        assert_eq!(
            stored[0],
            serde_json::json!({ "id": "wait", "wait": { "duration": { "minutes": 60 } } })
        );
        assert_eq!(stored[1]["filter"]["yes"][0]["message"]["templateId"], 3);
        let back: Vec<Step> = serde_json::from_value(stored).expect("decodes");
        assert_eq!(back, steps);
        let ids: Vec<(&str, usize)> = walk(&back)
            .into_iter()
            .map(|(s, d)| (s.id.as_str(), d))
            .collect();
        assert_eq!(ids, vec![("wait", 0), ("check", 0), ("mail", 1)]);
    }

    #[test]
    fn weekdays_are_stored_by_name() {
        let window = SendWindow {
            start_hour: 9,
            end_hour: 20,
            weekdays: vec![Weekday::Mon, Weekday::Sat],
        };
        let stored = serde_json::to_value(&window).expect("json");
        assert_eq!(
            stored["weekdays"],
            serde_json::json!(["monday", "saturday"])
        );
        assert_eq!(
            serde_json::from_value::<SendWindow>(stored).expect("decodes"),
            window
        );
    }
}
