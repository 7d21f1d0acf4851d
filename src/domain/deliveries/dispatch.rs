//! The dispatcher: claims due deliveries ([`super::claim`]), renders each for its recipient,
//! sends up to `concurrency` at once, and records outcomes as the sends finish. A final
//! outcome of a run's message is told to the dispatcher's [`Follow`] in the same transaction.
//!
//! Outcomes: sent; a transient failure waits (capped exponential backoff) and goes back to
//! the queue until its attempts are used up, then fails; a permanent failure fails at once; an
//! ambiguous one (no answer after the request went out) is `unknown` and never re-sent. A
//! result is recorded only while this process still holds the lease, so a dispatcher whose
//! lease ran out and was taken over cannot overwrite the newer outcome.

use super::claim::{Claim, Claimant, Claimed, claim_due};
use super::follow::{Follow, Settled};
use super::hooks::{self, Told};
use super::suppressions::suppress;
use super::{Purpose, Status, settle};
use crate::clock::{SharedClock, to_millis};
use crate::config::Settings;
use crate::db::begin_write;
use crate::delivery::links::{add_open_pixel, track_links};
use crate::delivery::tokens::{TokenPurpose, TokenSigner};
use crate::delivery::{Mailer, OutgoingEmail, OutgoingSms, SendOutcome, SmsClient};
use crate::domain::lease;
use crate::domain::orders::carts::open_cart;
use crate::domain::orders::replenishment::cart_of_subject;
use crate::domain::stats::{self, Dims, Fact, Metric};
use crate::domain::templates::{self, Channel, Rendered, Variant, context};
use crate::domain::webhooks::event::EventType;
use crate::error::AppResult;
use entity::{campaign_run, delivery, delivery_attempt, predicted_cart};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, DatabaseConnection, EntityTrait};
use std::sync::Arc;
use tokio::sync::Notify;

/// What a process sends with: the mailer, the SMS client, the tracking-token signer, and
/// the bell that wakes its dispatcher.
#[derive(Clone)]
pub struct Senders {
    pub mailer: Mailer,
    pub sms: SmsClient,
    pub signer: TokenSigner,
    pub wake: Arc<Notify>,
}

/// Sends what is due in the outbox.
#[derive(Clone)]
pub struct Dispatcher {
    db: DatabaseConnection,
    clock: SharedClock,
    senders: Senders,
    settings: Arc<Settings>,
    /// What follows a final outcome.
    follow: Arc<dyn Follow>,
    /// This process's name on the leases it takes.
    owner: String,
}

/// How sending one claimed delivery went.
struct Finished {
    delivery: delivery::Model,
    address: String,
    started_ms: i64,
    finished_ms: i64,
    outcome: SendOutcome,
    rendered: Option<Rendered>,
    links: Vec<String>,
}

/// The dispatcher's task name.
pub const TASK: &str = "dispatcher";

impl Dispatcher {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        senders: Senders,
        settings: Arc<Settings>,
        follow: Arc<dyn Follow>,
    ) -> Self {
        let owner = lease::owner_name();
        Self {
            db,
            clock,
            senders,
            settings,
            follow,
            owner,
        }
    }

    /// Runs until the process ends: a round whenever woken, at least every poll interval.
    /// `supervisor` may fail a round on purpose (fault drills).
    pub async fn run(self, supervisor: crate::supervisor::Supervisor) {
        let delivery = &self.settings.delivery;
        loop {
            supervisor.check(TASK);
            let judged = match self.dispatch_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "a dispatcher round failed");
                    0
                }
            };
            if judged < delivery.batch {
                tokio::select! {
                    () = self.senders.wake.notified() => {}
                    () = tokio::time::sleep(delivery.poll) => {}
                }
            }
        }
    }

    /// One round: claims what is due now, sends it, records the outcomes. Returns how many
    /// due deliveries it judged (sent, skipped or deferred); 0 when nothing was due.
    pub async fn dispatch_once(&self) -> AppResult<usize> {
        let settings = &self.settings.delivery;
        let Claim { claimed, judged } = claim_due(
            &self.db,
            self.clock.now(),
            settings,
            self.settings.store.time_zone,
            Claimant {
                owner: &self.owner,
                limit: settings.batch,
                follow: self.follow.as_ref(),
            },
        )
        .await?;
        if claimed.is_empty() {
            return Ok(judged);
        }
        lease::pump(
            claimed,
            settings.concurrency,
            |c| self.send_one(c),
            |group| self.record(group),
        )
        .await?;
        Ok(judged)
    }

    async fn send_one(&self, claimed: Claimed) -> Finished {
        let started_ms = to_millis(self.clock.now());
        let mut sent_for = std::time::Instant::now();
        let (outcome, rendered, links) = match self.prepare(&claimed).await {
            Err(reason) => (SendOutcome::Permanent(reason), None, Vec::new()),
            Ok((rendered, links)) => {
                sent_for = std::time::Instant::now();
                let outcome = self.transmit(&claimed, &rendered).await;
                (outcome, Some(rendered), links)
            }
        };
        let finished_ms = to_millis(self.clock.now());
        let channel = claimed.delivery.channel.clone();
        metrics::counter!("nudge_sends_total", "channel" => channel.clone(), "outcome" => outcome.as_str())
            .increment(1);
        if rendered.is_some() {
            metrics::histogram!("nudge_provider_latency_seconds", "channel" => channel)
                .record(sent_for.elapsed().as_secs_f64());
        }
        tracing::info!(
            delivery.id = claimed.delivery.id,
            delivery.channel = %claimed.delivery.channel,
            delivery.attempt = claimed.delivery.attempts,
            outcome = outcome.as_str(),
            "delivery attempt"
        );
        Finished {
            address: claimed.address,
            delivery: claimed.delivery,
            started_ms,
            finished_ms,
            outcome,
            rendered,
            links,
        }
    }

    /// Renders the message for its recipient; `Err` is why it can never be sent.
    async fn prepare(&self, c: &Claimed) -> Result<(Rendered, Vec<String>), String> {
        let d = &c.delivery;
        let public = &self.settings.delivery.public_url;
        let signer = &self.senders.signer;
        let variant = self.variant(c).await.map_err(|e| e.to_string())?;
        let compiled = variant.compile()?;
        let mut links = context::Links {
            unsubscribe: format!(
                "{public}/u/{}",
                signer.sign(d.id, TokenPurpose::Unsubscribe)
            ),
            view_in_browser: format!("{public}/m/{}", signer.sign(d.id, TokenPurpose::View)),
            predicted_cart: None,
        };
        let currency = &self.settings.store.currency;
        let ctx = match &c.customer {
            Some(customer) => {
                let used = compiled.used_variables();
                let wants_order = used.contains("order") || used.contains("products");
                let wants_cart =
                    used.contains("predicted_cart") || used.contains("links.predicted_cart");
                let run = if wants_order || wants_cart {
                    self.run_of(d.run_id).await.map_err(|e| e.to_string())?
                } else {
                    None
                };
                let cart = if wants_cart {
                    self.predicted_cart(customer.id, run.as_ref())
                        .await
                        .map_err(|e| e.to_string())?
                } else {
                    None
                };
                if let Some(cart) = &cart {
                    let replenishment = &self.settings.store.replenishment;
                    let expires = replenishment.link_expires_at(cart.created_at);
                    links.predicted_cart = Some(signer.cart_page(public, cart.id, expires));
                }
                let about = context::About {
                    order_id: run
                        .as_ref()
                        .and_then(|r| r.order_id)
                        .filter(|_| wants_order),
                    run_id: d.run_id,
                    firing_id: d.firing_id,
                    predicted_cart_id: cart.map(|c| c.id),
                };
                context::for_customer(&self.db, customer, about, &links, currency, &used)
                    .await
                    .map_err(|e| e.to_string())?
            }
            None => context::sample(&links, currency),
        };
        let mut rendered = compiled.render(&ctx)?;
        let mut targets = Vec::new();
        let tracked = Purpose::from_stored(&d.purpose).is_marketing();
        if let (Some(html), true) = (
            &rendered.body_html,
            tracked && Channel::from_stored(&d.channel) == Channel::Email,
        ) {
            // Nudge's own links stay as they are; the predicted cart's page is a destination
            // like the shop's, so its clicks count.
            let keep = ["/u/", "/m/", "/t/"].map(|path| format!("{public}{path}"));
            let (html, found) = track_links(html, &keep, |index, _| {
                format!(
                    "{public}/t/c/{}",
                    signer.sign(d.id, TokenPurpose::Click(index))
                )
            });
            let pixel = format!(
                r#"<img src="{public}/t/o/{}" width="1" height="1" alt="" style="display:none">"#,
                signer.sign(d.id, TokenPurpose::Open)
            );
            rendered.body_html = Some(add_open_pixel(&html, &pixel));
            targets = found;
        }
        Ok((rendered, targets))
    }

    /// The texts to render: the template's variant for the customer's locale, or the text the
    /// delivery carries (action effects, or a template deleted since).
    async fn variant(&self, c: &Claimed) -> AppResult<Variant> {
        let d = &c.delivery;
        if let Some(template_id) = d.template_id
            && let Some(template) = templates::find(&self.db, template_id).await?
        {
            let variants = templates::locales(&self.db, template_id).await?;
            let locale = c.customer.as_ref().and_then(|c| c.locale.as_deref());
            return Ok(templates::pick(&template, &variants, locale));
        }
        Ok(Variant {
            locale: None,
            subject: d.subject.clone(),
            body_html: d.body_html.clone(),
            body_text: d.body_text.clone(),
        })
    }

    async fn run_of(&self, run_id: Option<i64>) -> AppResult<Option<campaign_run::Model>> {
        let Some(run_id) = run_id else {
            return Ok(None);
        };
        Ok(campaign_run::Entity::find_by_id(run_id)
            .one(&self.db)
            .await?)
    }

    /// The predicted cart a message shows: the one its run is about, else the customer's open
    /// one.
    async fn predicted_cart(
        &self,
        customer_id: i64,
        run: Option<&campaign_run::Model>,
    ) -> AppResult<Option<predicted_cart::Model>> {
        match run.and_then(|r| cart_of_subject(&r.subject_key, r.subject_ref)) {
            Some(id) => Ok(predicted_cart::Entity::find_by_id(id).one(&self.db).await?),
            None => open_cart(&self.db, customer_id).await,
        }
    }

    async fn transmit(&self, c: &Claimed, rendered: &Rendered) -> SendOutcome {
        let d = &c.delivery;
        if Channel::from_stored(&d.channel) == Channel::Sms {
            let Some(body) = rendered.body_text.clone() else {
                return SendOutcome::Permanent("the SMS has no text".into());
            };
            let callback = (!self.senders.sms.is_local())
                .then(|| format!("{}/sms/status", self.settings.delivery.public_url));
            return self
                .senders
                .sms
                .send(&OutgoingSms {
                    to: c.address.clone(),
                    body,
                    status_callback: callback,
                })
                .await;
        }
        let marketing = Purpose::from_stored(&d.purpose).is_marketing();
        let email = OutgoingEmail {
            to: c.address.clone(),
            subject: rendered.subject.clone().unwrap_or_default(),
            html: rendered.body_html.clone(),
            text: rendered.body_text.clone(),
            unsubscribe_url: marketing.then(|| {
                format!(
                    "{}/u/{}",
                    self.settings.delivery.public_url,
                    self.senders.signer.sign(d.id, TokenPurpose::Unsubscribe)
                )
            }),
            message_id: format!(
                "<delivery-{}.{}@{}>",
                d.id,
                d.attempts,
                self.senders.mailer.from_domain()
            ),
        };
        self.senders.mailer.send(&email).await
    }

    /// Records outcomes that have come in, in one transaction.
    async fn record(&self, finished: Vec<Finished>) -> AppResult<()> {
        let retry = &self.settings.delivery.retry;
        let mut attempts = Vec::with_capacity(finished.len());
        let mut settled = Vec::new();
        let mut facts = Vec::new();
        let mut told = Vec::new();
        let txn = begin_write(&self.db).await?;
        for f in finished {
            let d = &f.delivery;
            let now_ms = f.finished_ms;
            let (status, reason, due_at, keep_slot) = match &f.outcome {
                SendOutcome::Sent { .. } => (Status::Sent, None, now_ms, true),
                SendOutcome::Unknown(r) => (Status::Unknown, Some(r.clone()), now_ms, true),
                SendOutcome::Permanent(r) => (Status::Failed, Some(r.clone()), now_ms, false),
                SendOutcome::Rejected(r) => {
                    let channel = Channel::from_stored(&d.channel);
                    let at = crate::clock::from_millis(now_ms);
                    suppress(&txn, channel, &f.address, "bounced", d.customer_id, at).await?;
                    (
                        Status::Failed,
                        Some(format!("address refused: {r}")),
                        now_ms,
                        false,
                    )
                }
                SendOutcome::Transient(r) => match retry.next_delay(d.attempts) {
                    Some(wait) => (
                        Status::Queued,
                        Some(format!("attempt {} failed: {r}", d.attempts)),
                        now_ms + wait.as_millis() as i64,
                        false,
                    ),
                    None => (
                        Status::Failed,
                        Some(format!("gave up after {} attempts: {r}", d.attempts)),
                        now_ms,
                        false,
                    ),
                },
            };
            let provider_id = match &f.outcome {
                SendOutcome::Sent { provider_id } => Some(provider_id.clone()),
                _ => None,
            };
            let fenced = lease::fence::<delivery::Entity>(d.id, &self.owner, d.attempts);
            let mut update = settle(fenced, status, reason.clone(), now_ms)
                .col_expr(delivery::Column::DueAt, Expr::value(due_at))
                .col_expr(delivery::Column::Recipient, Expr::value(f.address.clone()));
            if !keep_slot {
                update =
                    update.col_expr(delivery::Column::SentAt, Expr::value(Option::<i64>::None));
            }
            if let Some(id) = &provider_id {
                update = update.col_expr(delivery::Column::ProviderId, Expr::value(id.clone()));
            }
            if let Some(r) = &f.rendered {
                update = update
                    .col_expr(delivery::Column::Locale, Expr::value(r.locale.clone()))
                    .col_expr(
                        delivery::Column::RenderedSubject,
                        Expr::value(r.subject.clone()),
                    )
                    .col_expr(
                        delivery::Column::RenderedHtml,
                        Expr::value(r.body_html.clone()),
                    )
                    .col_expr(
                        delivery::Column::RenderedText,
                        Expr::value(r.body_text.clone()),
                    )
                    .col_expr(
                        delivery::Column::Links,
                        Expr::value(serde_json::json!(f.links)),
                    );
            }
            let bounced = matches!(f.outcome, SendOutcome::Rejected(_));
            if bounced {
                update = update.col_expr(delivery::Column::BouncedAt, Expr::value(now_ms));
            }
            let updated = update.exec(&txn).await?;
            if updated.rows_affected > 0 && Purpose::from_stored(&d.purpose).is_marketing() {
                facts.extend(outcome_facts(
                    d,
                    status,
                    bounced,
                    f.rendered.as_ref(),
                    now_ms,
                ));
            }
            if updated.rows_affected > 0 {
                told.extend(outcome_hooks(d, status, bounced, reason.as_deref(), now_ms));
            }
            if updated.rows_affected == 0 {
                tracing::warn!(
                    delivery.id = d.id,
                    "the lease was lost before the outcome was recorded"
                );
            } else if d.run_id.is_some() && status != Status::Queued {
                settled.push(Settled {
                    delivery_id: d.id,
                    at_ms: now_ms,
                    status,
                    reason,
                });
            }
            attempts.push(delivery_attempt::ActiveModel {
                id: ActiveValue::NotSet,
                delivery_id: ActiveValue::Set(d.id),
                attempt: ActiveValue::Set(d.attempts),
                started_at: ActiveValue::Set(f.started_ms),
                finished_at: ActiveValue::Set(f.finished_ms),
                outcome: ActiveValue::Set(f.outcome.as_str().to_owned()),
                detail: ActiveValue::Set(match &f.outcome {
                    SendOutcome::Sent { .. } => None,
                    other => Some(other.detail().to_owned()),
                }),
                provider_id: ActiveValue::Set(provider_id),
            });
        }
        delivery_attempt::Entity::insert_many(attempts)
            .exec_without_returning(&txn)
            .await?;
        stats::note(&txn, facts).await?;
        let last_ms = told.iter().map(|t: &Told| t.at_ms).max().unwrap_or(0);
        hooks::tell(&txn, told, last_ms).await?;
        let changes = if settled.is_empty() {
            Vec::new()
        } else {
            self.follow.settled(&txn, settled).await?
        };
        txn.commit().await?;
        self.follow.announce(changes);
        Ok(())
    }
}

/// What endpoints are told of a recorded outcome: a send, a failure (a refused address is a
/// bounce too). A retry and an ambiguous outcome tell nothing.
fn outcome_hooks(
    d: &delivery::Model,
    status: Status,
    bounced: bool,
    reason: Option<&str>,
    now_ms: i64,
) -> Vec<Told> {
    let told = |event_type, extra| Told {
        event_type,
        delivery: d.clone(),
        at_ms: now_ms,
        extra,
    };
    let reason = serde_json::json!({ "reason": reason });
    match status {
        Status::Sent => vec![told(EventType::MessageSent, serde_json::json!({}))],
        Status::Failed if bounced => vec![
            told(EventType::MessageFailed, reason.clone()),
            told(EventType::MessageBounced, reason),
        ],
        Status::Failed => vec![told(EventType::MessageFailed, reason)],
        _ => Vec::new(),
    }
}

/// What a recorded outcome counts: a send (on the instant it was claimed for, which the
/// delivery keeps as its send), an ambiguous one, or a failure (a refused address is a bounce
/// too). A retry counts nothing yet.
fn outcome_facts(
    d: &delivery::Model,
    status: Status,
    bounced: bool,
    rendered: Option<&Rendered>,
    now_ms: i64,
) -> Vec<Fact> {
    let sent_ms = d.sent_at.unwrap_or(now_ms);
    let sent = |metric| {
        let dims = Dims::of_sent(d, rendered.and_then(|r| r.locale.as_deref()));
        Fact::one(metric, dims, sent_ms, sent_ms)
    };
    match status {
        Status::Sent => vec![sent(Metric::Sent)],
        Status::Unknown => vec![Fact {
            at_ms: now_ms,
            ..sent(Metric::Unknown)
        }],
        Status::Failed if bounced => vec![
            Fact::of_message(Metric::Failed, d, now_ms),
            Fact::of_message(Metric::Bounced, d, now_ms),
        ],
        Status::Failed => vec![Fact::of_message(Metric::Failed, d, now_ms)],
        _ => Vec::new(),
    }
}
