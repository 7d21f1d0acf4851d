//! `record_events`: validate, deduplicate, apply and store a batch of events in one
//! transaction.

use super::apply::{self, Context, save, validate_payload};
use super::{EventInput, EventPayload, MAX_BATCH};
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::customers::blank_customer;
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, required_text};
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{customer, event, product};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// The stored event for one input, and whether the input repeated an earlier one.
#[derive(Clone, Debug)]
pub struct RecordedEvent {
    pub event: event::Model,
    /// The same event id and content were recorded before: nothing was done again.
    pub duplicate: bool,
}

/// The event a client recorded under `event_id`.
pub async fn find_by_event_id(
    db: &impl ConnectionTrait,
    event_id: &str,
) -> AppResult<Option<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::EventId.eq(event_id.trim()))
        .one(db)
        .await?)
}

struct Prepared {
    event_id: String,
    customer_external_id: String,
    occurred_at: i64,
    payload: EventPayload,
    fingerprint: String,
}

enum Plan {
    /// Record it.
    New,
    /// The same as the input at this earlier position of the batch.
    RepeatOf(usize),
    /// Recorded by an earlier call.
    Recorded(event::Model),
}

/// Records `inputs` in order, all or nothing. A repeated event id with the same content is a
/// no-op that returns the first recording; with other content it is refused (`Conflict` on
/// `eventId`). Returns one result per input, in input order.
pub async fn record_events(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    store_currency: &str,
    inputs: Vec<EventInput>,
) -> AppResult<Vec<RecordedEvent>> {
    let batch = check_batch(inputs, now)?;
    let txn = begin_write(db).await?;
    let results = record_checked(&txn, store_currency, batch).await?;
    txn.commit().await?;
    Ok(results)
}

/// A batch that passed every check that needs no database.
pub struct CheckedBatch {
    prepared: Vec<Prepared>,
    now_ms: i64,
}

impl CheckedBatch {
    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.prepared.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prepared.is_empty()
    }
}

/// The checks of [`record_events`] that need no database: sizes, required fields, shapes.
pub fn check_batch(inputs: Vec<EventInput>, now: DateTime<Utc>) -> AppResult<CheckedBatch> {
    if inputs.len() > MAX_BATCH {
        return Err(AppError::invalid(
            &[],
            ViolationCode::OutOfRange,
            format!("at most {MAX_BATCH} events per call"),
        ));
    }
    let now_ms = to_millis(now);
    Ok(CheckedBatch {
        prepared: prepare(inputs, now_ms)?,
        now_ms,
    })
}

/// Records a checked batch inside the caller's transaction (see [`record_events`]).
pub async fn record_checked(
    txn: &impl ConnectionTrait,
    store_currency: &str,
    batch: CheckedBatch,
) -> AppResult<Vec<RecordedEvent>> {
    let CheckedBatch { prepared, now_ms } = batch;
    let mut checker = Checker::new();
    let mut plans = plan_repeats_in_batch(&prepared, &mut checker);
    let wanted: Vec<String> = prepared.iter().map(|p| p.event_id.clone()).collect();
    let recorded: HashMap<String, event::Model> = event::Entity::find()
        .filter(event::Column::EventId.is_in(wanted))
        .all(txn)
        .await?
        .into_iter()
        .map(|e| (e.event_id.clone(), e))
        .collect();
    for (index, item) in prepared.iter().enumerate() {
        if let (Plan::New, Some(earlier)) = (&plans[index], recorded.get(&item.event_id)) {
            if earlier.fingerprint == item.fingerprint {
                plans[index] = Plan::Recorded(earlier.clone());
            } else {
                checker.absorb(&index.to_string(), vec![conflict()]);
            }
        }
    }
    let fresh: Vec<usize> = (0..prepared.len())
        .filter(|i| matches!(plans[*i], Plan::New))
        .collect();
    let products = resolve_products(txn, &prepared, &fresh, &mut checker).await?;
    checker.finish()?;

    let mut customers = resolve_customers(txn, &prepared, &fresh, now_ms).await?;
    let as_loaded = customers.clone();
    let mut rows = Vec::with_capacity(fresh.len());
    for &index in &fresh {
        let item = &prepared[index];
        let customer = customers
            .get_mut(&item.customer_external_id)
            .ok_or_else(|| AppError::internal("customer vanished during ingest"))?;
        let ctx = Context {
            now_ms,
            occurred_at: item.occurred_at,
            store_currency,
            products: &products,
        };
        apply::apply(txn, &ctx, customer, &item.payload)
            .await
            .map_err(|e| {
                nest(
                    e,
                    &[&index.to_string(), "payload", payload_field(&item.payload)],
                )
            })?;
        rows.push(event::ActiveModel {
            id: ActiveValue::NotSet,
            event_id: ActiveValue::Set(item.event_id.clone()),
            customer_id: ActiveValue::Set(customer.id),
            kind: ActiveValue::Set(item.payload.kind().as_str().to_owned()),
            payload: ActiveValue::Set(
                serde_json::to_value(&item.payload).map_err(AppError::internal)?,
            ),
            fingerprint: ActiveValue::Set(item.fingerprint.clone()),
            occurred_at: ActiveValue::Set(item.occurred_at),
            received_at: ActiveValue::Set(now_ms),
            processed_at: ActiveValue::Set(None),
            outcome: ActiveValue::Set(None),
        });
    }
    let touched: HashSet<&str> = fresh
        .iter()
        .map(|i| prepared[*i].customer_external_id.as_str())
        .collect();
    for external_id in touched {
        if let Some(customer) = customers.get(external_id)
            && as_loaded.get(external_id) != Some(customer)
        {
            save(txn, customer).await?;
        }
    }
    let mut stored: HashMap<String, event::Model> = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(100) {
        for e in event::Entity::insert_many(chunk.to_vec())
            .exec_with_returning(txn)
            .await?
        {
            stored.insert(e.event_id.clone(), e);
        }
    }

    let mut results: Vec<RecordedEvent> = Vec::with_capacity(prepared.len());
    for (index, item) in prepared.iter().enumerate() {
        let result = match &plans[index] {
            Plan::New => RecordedEvent {
                event: stored
                    .get(&item.event_id)
                    .cloned()
                    .ok_or_else(|| AppError::internal("a recorded event was not found"))?,
                duplicate: false,
            },
            Plan::RepeatOf(first) => RecordedEvent {
                event: results[*first].event.clone(),
                duplicate: true,
            },
            Plan::Recorded(event) => RecordedEvent {
                event: event.clone(),
                duplicate: true,
            },
        };
        results.push(result);
    }
    Ok(results)
}

/// Static checks and fingerprints.
fn prepare(inputs: Vec<EventInput>, now_ms: i64) -> AppResult<Vec<Prepared>> {
    let mut checker = Checker::new();
    let mut prepared = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let mut c = Checker::new();
        let event_id = c.check("eventId", required_text(&input.event_id, MAX_TEXT));
        let customer = c.check(
            "customerExternalId",
            required_text(&input.customer_external_id, MAX_TEXT),
        );
        let mut payload_checks = Checker::new();
        validate_payload(&input.payload, &mut payload_checks);
        let mut nested = Checker::new();
        nested.absorb(
            payload_field(&input.payload),
            payload_checks.into_violations(),
        );
        c.absorb("payload", nested.into_violations());
        let fingerprint = fingerprint(&input)?;
        checker.absorb(&index.to_string(), c.into_violations());
        if let (Some(event_id), Some(customer_external_id)) = (event_id, customer) {
            prepared.push(Prepared {
                event_id,
                customer_external_id,
                occurred_at: input.occurred_at.map_or(now_ms, to_millis),
                payload: input.payload,
                fingerprint,
            });
        }
    }
    checker.finish()?;
    Ok(prepared)
}

/// What identifies an event's content: customer, the client's time (if given) and payload.
fn fingerprint(input: &EventInput) -> AppResult<String> {
    let canonical = serde_json::json!({
        "customer": input.customer_external_id.trim(),
        "occurredAt": input.occurred_at.map(to_millis),
        "payload": input.payload,
    });
    let bytes = serde_json::to_vec(&canonical).map_err(AppError::internal)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn conflict() -> FieldViolation {
    FieldViolation::new(
        &["eventId"],
        ViolationCode::Conflict,
        "this event id was recorded with other content",
    )
}

fn plan_repeats_in_batch(prepared: &[Prepared], checker: &mut Checker) -> Vec<Plan> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    prepared
        .iter()
        .enumerate()
        .map(|(index, item)| match first.get(item.event_id.as_str()) {
            None => {
                first.insert(&item.event_id, index);
                Plan::New
            }
            Some(&earlier) if prepared[earlier].fingerprint == item.fingerprint => {
                Plan::RepeatOf(earlier)
            }
            Some(_) => {
                checker.absorb(&index.to_string(), vec![conflict()]);
                Plan::New
            }
        })
        .collect()
}

async fn resolve_products(
    txn: &impl ConnectionTrait,
    prepared: &[Prepared],
    fresh: &[usize],
    checker: &mut Checker,
) -> AppResult<HashMap<String, i64>> {
    let wanted: HashSet<String> = fresh
        .iter()
        .flat_map(|i| prepared[*i].payload.product_external_ids())
        .map(|id| id.trim().to_owned())
        .collect();
    let mut found = HashMap::with_capacity(wanted.len());
    let wanted: Vec<String> = wanted.into_iter().collect();
    for chunk in wanted.chunks(500) {
        for p in product::Entity::find()
            .filter(product::Column::ExternalId.is_in(chunk.iter().cloned()))
            .all(txn)
            .await?
        {
            found.insert(p.external_id, p.id);
        }
    }
    for &index in fresh {
        let payload = &prepared[index].payload;
        let field = payload_field(payload);
        let missing = |id: &str| !found.contains_key(id.trim());
        let mut violations = Vec::new();
        match payload {
            EventPayload::ProductViewed {
                product_external_id,
            } if missing(product_external_id) => {
                violations.push(unknown_product(&["productExternalId"]));
            }
            EventPayload::AddedToCart { lines } | EventPayload::CartUpdated { lines } => {
                for (j, line) in lines.iter().enumerate() {
                    if missing(&line.product_external_id) {
                        violations.push(unknown_product(&[
                            "lines",
                            &j.to_string(),
                            "productExternalId",
                        ]));
                    }
                }
            }
            EventPayload::OrderPlaced(order) => {
                for (j, line) in order.lines.iter().enumerate() {
                    if missing(&line.product_external_id) {
                        violations.push(unknown_product(&[
                            "lines",
                            &j.to_string(),
                            "productExternalId",
                        ]));
                    }
                }
            }
            _ => {}
        }
        checker.absorb_flat(
            violations
                .into_iter()
                .map(|v| v.under(field).under("payload").under(&index.to_string()))
                .collect(),
        );
    }
    Ok(found)
}

fn unknown_product(path: &[&str]) -> FieldViolation {
    FieldViolation::new(
        path,
        ViolationCode::NotFound,
        "no product has this external id; mirror the catalog with upsertProducts first",
    )
}

/// The customers of the fresh events by external id; unknown ones are created.
async fn resolve_customers(
    txn: &impl ConnectionTrait,
    prepared: &[Prepared],
    fresh: &[usize],
    now_ms: i64,
) -> AppResult<HashMap<String, customer::Model>> {
    let wanted: HashSet<String> = fresh
        .iter()
        .map(|i| prepared[*i].customer_external_id.clone())
        .collect();
    let wanted: Vec<String> = wanted.into_iter().collect();
    let mut found = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(500) {
        for c in customer::Entity::find()
            .filter(customer::Column::ExternalId.is_in(chunk.iter().cloned()))
            .all(txn)
            .await?
        {
            found.insert(c.external_id.clone(), c);
        }
    }
    for external_id in wanted {
        if found.contains_key(&external_id) {
            continue;
        }
        let mut model = blank_customer(now_ms);
        model.external_id = external_id.clone();
        let mut active: customer::ActiveModel = model.into();
        active = active.reset_all();
        active.id = ActiveValue::NotSet;
        let created = active.insert(txn).await?;
        found.insert(external_id, created);
    }
    Ok(found)
}

/// The GraphQL name of the payload field for an event's kind.
pub(super) fn payload_field(payload: &EventPayload) -> &'static str {
    match payload {
        EventPayload::Registered(_) => "registered",
        EventPayload::LoggedIn {} => "loggedIn",
        EventPayload::ProfileUpdated(_) => "profileUpdated",
        EventPayload::ProductViewed { .. } => "productViewed",
        EventPayload::AddedToCart { .. } => "addedToCart",
        EventPayload::CartUpdated { .. } => "cartUpdated",
        EventPayload::OrderPlaced(_) => "orderPlaced",
        EventPayload::OrderStatusChanged { .. } => "orderStatusChanged",
        EventPayload::PageVisited { .. } => "pageVisited",
        EventPayload::NewsletterSubscribed {} => "newsletterSubscribed",
        EventPayload::NewsletterUnsubscribed {} => "newsletterUnsubscribed",
    }
}

/// Puts the violations of an invalid result under `prefix`.
fn nest(err: AppError, prefix: &[&str]) -> AppError {
    match err {
        AppError::Invalid(violations) => AppError::Invalid(
            violations
                .into_iter()
                .map(|v| prefix.iter().rev().fold(v, |v, p| v.under(p)))
                .collect(),
        ),
        other => other,
    }
}
