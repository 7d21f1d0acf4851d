//! The effect executor: what automation does to a customer. Customer actions use it now;
//! campaigns will too. Every effect is applied inside the caller's transaction and is
//! idempotent: membership changes are no-ops when nothing changes, banners and messages carry
//! a unique key per (firing, effect).

use crate::domain::deliveries::Purpose;
use crate::domain::deliveries::outbox::{NewDelivery, enqueue};
use crate::domain::membership::{self, ChangeSource};
use crate::domain::templates::Channel;
use crate::domain::templates::render::{self, Part};
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use crate::events::MembershipChange;
use entity::{banner, customer};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};

const HOUR_MS: i64 = 3_600_000;
/// The longest banner or email body.
const MAX_BODY: usize = 64 * 1024;
/// The longest SMS body (ten concatenated segments).
const MAX_SMS: usize = 1600;

/// One thing automation does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Effect {
    AssignRole {
        role_id: i64,
    },
    RemoveRole {
        role_id: i64,
    },
    SetTag {
        tag_id: i64,
        value: Option<String>,
    },
    RemoveTag {
        tag_id: i64,
    },
    /// A banner for this customer, shown from `starts_at` (or now) until `ends_at`, or for
    /// `duration_hours`, or until dismissed.
    ShowBanner {
        title: String,
        body_html: String,
        coupon_code: Option<String>,
        starts_at: Option<i64>,
        ends_at: Option<i64>,
        duration_hours: Option<i32>,
    },
    /// An email to the customer, queued in the outbox.
    SendEmail {
        subject: String,
        body_html: String,
        body_text: Option<String>,
    },
    /// An SMS to the customer, queued in the outbox.
    SendSms {
        body: String,
    },
    /// An email to the shop's staff address, queued in the outbox.
    NotifyStaff {
        subject: String,
        body_text: String,
    },
}

impl Effect {
    pub fn name(&self) -> &'static str {
        match self {
            Effect::AssignRole { .. } => "assignRole",
            Effect::RemoveRole { .. } => "removeRole",
            Effect::SetTag { .. } => "setTag",
            Effect::RemoveTag { .. } => "removeTag",
            Effect::ShowBanner { .. } => "showBanner",
            Effect::SendEmail { .. } => "sendEmail",
            Effect::SendSms { .. } => "sendSms",
            Effect::NotifyStaff { .. } => "notifyStaff",
        }
    }

    pub fn role_id(&self) -> Option<i64> {
        match self {
            Effect::AssignRole { role_id } | Effect::RemoveRole { role_id } => Some(*role_id),
            _ => None,
        }
    }

    pub fn tag_id(&self) -> Option<i64> {
        match self {
            Effect::SetTag { tag_id, .. } | Effect::RemoveTag { tag_id } => Some(*tag_id),
            _ => None,
        }
    }

    /// Checks the effect's own fields (references are checked by the caller). Field names are
    /// those of the effect's GraphQL input, under the effect's name.
    pub fn check(&self, outer: &mut Checker) {
        let mut inner = Checker::new();
        self.check_fields(&mut inner);
        outer.absorb(self.name(), inner.into_violations());
    }

    fn check_fields(&self, c: &mut Checker) {
        let text = |c: &mut Checker, name: &str, value: &str, max: usize| {
            c.check(name, required_text(value, max));
        };
        // A message's texts are templates, rendered when sent.
        let template = |c: &mut Checker, name: &str, value: &str, part: Part| {
            if let Err(reason) = render::check(part, value) {
                c.refuse(name, ViolationCode::Invalid, reason);
            }
        };
        match self {
            Effect::SetTag {
                value: Some(value), ..
            } => text(c, "value", value, MAX_TEXT),
            Effect::ShowBanner {
                title,
                body_html,
                coupon_code,
                starts_at,
                ends_at,
                duration_hours,
            } => {
                text(c, "title", title, MAX_TEXT);
                text(c, "bodyHtml", body_html, MAX_BODY);
                if let Some(code) = coupon_code {
                    text(c, "couponCode", code, 64);
                }
                if starts_at.zip(*ends_at).is_some_and(|(s, e)| s >= e) {
                    c.refuse(
                        "endsAt",
                        ViolationCode::OutOfRange,
                        "must be after startsAt",
                    );
                }
                if duration_hours.is_some_and(|h| !(1..=24 * 366).contains(&h)) {
                    c.refuse(
                        "durationHours",
                        ViolationCode::OutOfRange,
                        "must be between 1 hour and a year",
                    );
                }
            }
            Effect::SendEmail {
                subject,
                body_html,
                body_text,
            } => {
                text(c, "subject", subject, MAX_TEXT);
                text(c, "bodyHtml", body_html, MAX_BODY);
                template(c, "subject", subject, Part::Subject);
                template(c, "bodyHtml", body_html, Part::Html);
                if let Some(body) = body_text {
                    text(c, "bodyText", body, MAX_BODY);
                    template(c, "bodyText", body, Part::Text);
                }
            }
            Effect::SendSms { body } => {
                text(c, "body", body, MAX_SMS);
                template(c, "body", body, Part::Text);
            }
            Effect::NotifyStaff { subject, body_text } => {
                text(c, "subject", subject, MAX_TEXT);
                text(c, "bodyText", body_text, MAX_BODY);
                template(c, "subject", subject, Part::Subject);
                template(c, "bodyText", body_text, Part::Text);
            }
            _ => {}
        }
    }
}

/// What one effect did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectOutcome {
    pub effect: String,
    pub result: EffectResult,
    pub detail: Option<String>,
}

/// What came of one effect, stored as its camelCase name in the firing's and the event's
/// outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EffectResult {
    /// A role or tag changed.
    Changed,
    /// The customer already had it (or did not have what was to be removed).
    Unchanged,
    /// A banner was put up.
    Shown,
    /// A message was queued.
    Queued,
    /// Not applied; the detail says why.
    Skipped,
}

impl EffectOutcome {
    fn new(effect: &Effect, result: EffectResult, detail: Option<String>) -> Self {
        EffectOutcome {
            effect: effect.name().to_owned(),
            result,
            detail,
        }
    }
}

/// Where effects come from and what they may use.
pub struct EffectScope<'a> {
    pub now_ms: i64,
    pub customer: &'a customer::Model,
    pub source: ChangeSource,
    pub action_id: Option<i64>,
    /// The action firing that owns the effects, if an action fired them.
    pub firing_id: Option<i64>,
    /// The campaign and run that own the effects, if a campaign step applied them.
    pub run: Option<(i64, i64)>,
    /// Names the owner (a firing, a run's step): banners and messages are unique per
    /// (`owner_key`, effect index).
    pub owner_key: String,
    pub staff_email: Option<&'a str>,
}

/// Applies `effects` in order inside `txn`. Returns what each did and the membership
/// changes to announce after commit.
pub async fn apply_effects(
    txn: &impl ConnectionTrait,
    scope: &EffectScope<'_>,
    effects: &[Effect],
) -> AppResult<(Vec<EffectOutcome>, Vec<MembershipChange>)> {
    let mut outcomes = Vec::with_capacity(effects.len());
    let mut changes = Vec::new();
    for (index, effect) in effects.iter().enumerate() {
        let customer = scope.customer;
        let membership_outcome = |change: Option<MembershipChange>, changes: &mut Vec<_>| {
            let result = if change.is_some() {
                EffectResult::Changed
            } else {
                EffectResult::Unchanged
            };
            changes.extend(change);
            EffectOutcome::new(effect, result, None)
        };
        let outcome = match effect {
            Effect::AssignRole { role_id } => {
                let change =
                    membership::grant_role(txn, scope.now_ms, customer, *role_id, scope.source)
                        .await
                        .map_err(|e| gone(e, "role", *role_id))?;
                membership_outcome(change, &mut changes)
            }
            Effect::RemoveRole { role_id } => {
                let change =
                    membership::revoke_role(txn, scope.now_ms, customer, *role_id, scope.source)
                        .await?;
                membership_outcome(change, &mut changes)
            }
            Effect::SetTag { tag_id, value } => {
                let change = membership::set_tag(
                    txn,
                    scope.now_ms,
                    customer,
                    *tag_id,
                    value.clone(),
                    scope.source,
                )
                .await
                .map_err(|e| gone(e, "tag", *tag_id))?;
                membership_outcome(change, &mut changes)
            }
            Effect::RemoveTag { tag_id } => {
                let change =
                    membership::clear_tag(txn, scope.now_ms, customer, *tag_id, scope.source)
                        .await?;
                membership_outcome(change, &mut changes)
            }
            Effect::ShowBanner {
                title,
                body_html,
                coupon_code,
                starts_at,
                ends_at,
                duration_hours,
            } => {
                let starts = starts_at.unwrap_or(scope.now_ms).max(scope.now_ms);
                let by_duration = duration_hours.map(|h| starts + i64::from(h) * HOUR_MS);
                let ends = match (*ends_at, by_duration) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                banner::Entity::insert(banner::ActiveModel {
                    id: ActiveValue::NotSet,
                    customer_id: ActiveValue::Set(customer.id),
                    action_id: ActiveValue::Set(scope.action_id),
                    firing_id: ActiveValue::Set(scope.firing_id),
                    run_id: ActiveValue::Set(scope.run.map(|(_, run)| run)),
                    owner_key: ActiveValue::Set(format!("{}:effect:{index}", scope.owner_key)),
                    effect_index: ActiveValue::Set(index as i32),
                    title: ActiveValue::Set(title.clone()),
                    body_html: ActiveValue::Set(body_html.clone()),
                    coupon_code: ActiveValue::Set(coupon_code.clone()),
                    starts_at: ActiveValue::Set(starts),
                    ends_at: ActiveValue::Set(ends),
                    dismissed_at: ActiveValue::Set(None),
                    created_at: ActiveValue::Set(scope.now_ms),
                })
                .on_conflict(
                    OnConflict::column(banner::Column::OwnerKey)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
                EffectOutcome::new(effect, EffectResult::Shown, None)
            }
            Effect::SendEmail { .. } | Effect::SendSms { .. } | Effect::NotifyStaff { .. } => {
                match message_of(effect, customer, scope.staff_email) {
                    Ok(message) => {
                        queue(txn, scope, index, message).await?;
                        EffectOutcome::new(effect, EffectResult::Queued, None)
                    }
                    Err(reason) => {
                        EffectOutcome::new(effect, EffectResult::Skipped, Some(reason.into()))
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    Ok((outcomes, changes))
}

/// A write the database refused for a missing row names what is missing: a role or tag
/// deleted since the rule was saved.
fn gone(error: AppError, what: &str, id: i64) -> AppError {
    let missing = match &error {
        AppError::Internal(cause) => cause.downcast_ref::<sea_orm::DbErr>().is_some_and(|db| {
            matches!(
                db.sql_err(),
                Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
            )
        }),
        _ => false,
    };
    if missing {
        AppError::NotFound(format!("{what} {id} no longer exists"))
    } else {
        error
    }
}

struct Message {
    channel: Channel,
    purpose: Purpose,
    recipient: Option<String>,
    subject: Option<String>,
    body_html: Option<String>,
    body_text: Option<String>,
}

/// The message a sending effect queues, or why it cannot be sent.
fn message_of(
    effect: &Effect,
    customer: &customer::Model,
    staff_email: Option<&str>,
) -> Result<Message, &'static str> {
    match effect {
        Effect::SendEmail {
            subject,
            body_html,
            body_text,
        } => {
            customer
                .email
                .as_ref()
                .ok_or("the customer has no email address")?;
            Ok(Message {
                channel: Channel::Email,
                purpose: Purpose::Marketing,
                recipient: None,
                subject: Some(subject.clone()),
                body_html: Some(body_html.clone()),
                body_text: body_text.clone(),
            })
        }
        Effect::SendSms { body } => {
            customer
                .phone
                .as_ref()
                .ok_or("the customer has no phone number")?;
            Ok(Message {
                channel: Channel::Sms,
                purpose: Purpose::Marketing,
                recipient: None,
                subject: None,
                body_html: None,
                body_text: Some(body.clone()),
            })
        }
        Effect::NotifyStaff { subject, body_text } => Ok(Message {
            channel: Channel::Email,
            purpose: Purpose::Staff,
            recipient: Some(
                staff_email
                    .ok_or("NUDGE_STAFF_EMAIL is not set")?
                    .to_owned(),
            ),
            subject: Some(subject.clone()),
            body_html: None,
            body_text: Some(body_text.clone()),
        }),
        _ => Err("this effect sends no message"),
    }
}

/// Queues a message in the outbox once: a second call for the same owner and effect is a no-op.
async fn queue(
    txn: &impl ConnectionTrait,
    scope: &EffectScope<'_>,
    index: usize,
    message: Message,
) -> AppResult<()> {
    let new = NewDelivery {
        dedupe_key: format!("{}:effect:{index}", scope.owner_key),
        channel: message.channel,
        purpose: message.purpose,
        customer_id: Some(scope.customer.id),
        recipient: message.recipient,
        subject: message.subject,
        body_html: message.body_html,
        body_text: message.body_text,
        action_id: scope.action_id,
        firing_id: scope.firing_id,
        campaign_id: scope.run.map(|(campaign, _)| campaign),
        run_id: scope.run.map(|(_, run)| run),
        template_id: None,
    };
    enqueue(txn, new, scope.now_ms).await?;
    Ok(())
}
