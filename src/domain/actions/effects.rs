//! The effect executor: what automation does to a customer, for customer actions and campaign
//! steps alike. Effects are applied to an [`EffectBatch`], written set-wise when it is flushed
//! inside the caller's transaction, and are idempotent: membership changes are no-ops when
//! nothing changes, banners and messages carry a unique key per (owner, effect).

use super::batch::{Call, EffectBatch, EffectRefs, Known, Owner};
use crate::db::json_bytes;
use crate::domain::deliveries::Purpose;
use crate::domain::deliveries::outbox::NewDelivery;
use crate::domain::membership::ChangeSource;
use crate::domain::templates::Channel;
use crate::domain::templates::render::{self, Part};
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppResult, ViolationCode};
use entity::{banner, customer};
use sea_orm::ActiveValue;
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
    /// A signed `customer.called` webhook message to one endpoint, with the customer, what
    /// triggered it and `payload`, queued in the webhook outbox.
    CallWebhook {
        endpoint_id: i64,
        payload: Option<serde_json::Value>,
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
            Effect::CallWebhook { .. } => "callWebhook",
        }
    }

    pub fn role_id(&self) -> Option<i64> {
        match self {
            Effect::AssignRole { role_id } | Effect::RemoveRole { role_id } => Some(*role_id),
            _ => None,
        }
    }

    pub fn endpoint_id(&self) -> Option<i64> {
        match self {
            Effect::CallWebhook { endpoint_id, .. } => Some(*endpoint_id),
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
            Effect::CallWebhook {
                payload: Some(payload),
                ..
            } if json_bytes(payload) > MAX_BODY => c.refuse(
                "payload",
                ViolationCode::TooLong,
                format!("must be at most {} KiB as JSON", MAX_BODY / 1024),
            ),
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

/// The roles, tags and webhook endpoints `effects` refer to.
pub fn references<'e>(effects: impl IntoIterator<Item = &'e Effect>) -> EffectRefs {
    let mut refs = EffectRefs::default();
    for effect in effects {
        refs.roles.extend(effect.role_id());
        refs.tags.extend(effect.tag_id());
        refs.endpoints.extend(effect.endpoint_id());
    }
    refs
}

/// Where effects come from and what they may use.
pub struct EffectScope<'a> {
    pub now_ms: i64,
    pub customer: &'a customer::Model,
    pub source: ChangeSource,
    pub owner: Owner,
    pub staff_email: Option<&'a str>,
}

/// Applies `effects` in order to `batch` (written when it is flushed). Returns what each did.
/// A role or tag deleted since the rule was saved is an error naming it.
pub fn apply_effects(
    batch: &mut EffectBatch,
    scope: &EffectScope<'_>,
    effects: &[Effect],
) -> AppResult<Vec<EffectOutcome>> {
    let mut outcomes = Vec::with_capacity(effects.len());
    let (customer, at, source) = (scope.customer, scope.now_ms, scope.source);
    for (index, effect) in effects.iter().enumerate() {
        let membership = |changed: bool| {
            let result = if changed {
                EffectResult::Changed
            } else {
                EffectResult::Unchanged
            };
            EffectOutcome::new(effect, result, None)
        };
        let outcome = match effect {
            Effect::AssignRole { role_id } => {
                batch.known(Known::Role, *role_id)?;
                membership(batch.memberships.grant_role(at, customer, *role_id, source))
            }
            Effect::RemoveRole { role_id } => membership(
                batch
                    .memberships
                    .revoke_role(at, customer, *role_id, source),
            ),
            Effect::SetTag { tag_id, value } => {
                batch.known(Known::Tag, *tag_id)?;
                let value = value.clone();
                membership(
                    batch
                        .memberships
                        .set_tag(at, customer, *tag_id, value, source),
                )
            }
            Effect::RemoveTag { tag_id } => {
                membership(batch.memberships.clear_tag(at, customer, *tag_id, source))
            }
            Effect::ShowBanner {
                title,
                body_html,
                coupon_code,
                starts_at,
                ends_at,
                duration_hours,
            } => {
                let starts = starts_at.unwrap_or(at).max(at);
                let by_duration = duration_hours.map(|h| starts + i64::from(h) * HOUR_MS);
                let ends = match (*ends_at, by_duration) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let row = banner::ActiveModel {
                    id: ActiveValue::NotSet,
                    customer_id: ActiveValue::Set(customer.id),
                    action_id: ActiveValue::Set(scope.owner.action_id()),
                    firing_id: ActiveValue::Set(None),
                    run_id: ActiveValue::Set(scope.owner.run().map(|(_, run)| run)),
                    owner_key: ActiveValue::NotSet,
                    effect_index: ActiveValue::Set(index as i32),
                    title: ActiveValue::Set(title.clone()),
                    body_html: ActiveValue::Set(body_html.clone()),
                    coupon_code: ActiveValue::Set(coupon_code.clone()),
                    starts_at: ActiveValue::Set(starts),
                    ends_at: ActiveValue::Set(ends),
                    dismissed_at: ActiveValue::Set(None),
                    created_at: ActiveValue::Set(at),
                };
                batch.banner(scope.owner.clone(), index, &customer.external_id, row);
                EffectOutcome::new(effect, EffectResult::Shown, None)
            }
            Effect::CallWebhook {
                endpoint_id,
                payload,
            } => {
                if batch.has_endpoint(*endpoint_id) {
                    let data = serde_json::json!({
                        "customer": call_customer(customer),
                        "trigger": scope.owner.trigger(),
                        "payload": payload,
                    });
                    let call = Call {
                        endpoint_id: *endpoint_id,
                        customer_id: customer.id,
                        data,
                        at_ms: at,
                    };
                    batch.call(scope.owner.clone(), index, call);
                    EffectOutcome::new(effect, EffectResult::Queued, None)
                } else {
                    let gone = format!("webhook endpoint {endpoint_id} no longer exists");
                    EffectOutcome::new(effect, EffectResult::Skipped, Some(gone))
                }
            }
            Effect::SendEmail { .. } | Effect::SendSms { .. } | Effect::NotifyStaff { .. } => {
                match message_of(effect, customer, scope.staff_email) {
                    Ok(message) => {
                        batch.message(scope.owner.clone(), index, delivery(scope, message));
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
    Ok(outcomes)
}

/// The customer as a `customer.called` message names them.
fn call_customer(customer: &customer::Model) -> serde_json::Value {
    crate::domain::webhooks::event::customer(customer.id, &customer.external_id)
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

/// The delivery a sending effect queues once: its key (the owner's and the effect's) is
/// filled in when the batch is flushed.
fn delivery(scope: &EffectScope<'_>, message: Message) -> NewDelivery {
    NewDelivery {
        dedupe_key: String::new(),
        channel: message.channel,
        purpose: message.purpose,
        customer_id: Some(scope.customer.id),
        recipient: message.recipient,
        subject: message.subject,
        body_html: message.body_html,
        body_text: message.body_text,
        action_id: scope.owner.action_id(),
        firing_id: None,
        campaign_id: scope.owner.run().map(|(campaign, _)| campaign),
        run_id: scope.owner.run().map(|(_, run)| run),
        step_id: scope.owner.step_id().map(str::to_owned),
        template_id: None,
    }
}
