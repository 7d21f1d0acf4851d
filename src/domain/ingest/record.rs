//! Recording checked calls: deduplicate, apply to the customers' facts and store, in the
//! caller's transaction. Several calls can be recorded together (group commit) with the
//! statements of one: one lookup of event ids, products and customers for all of them, one
//! write of the changed customers, one insert of the events.

use super::apply::{self, Context};
use super::check::{CheckedBatch, Prepared, check_batch, payload_field};
use super::{EventInput, EventPayload};
use crate::config::StoreSettings;
use crate::db::{
    PARAMETER_BYTES, begin_write, in_list, json_bytes, key_lookup_chunks, statement_chunks,
};
use crate::domain::customers;
use crate::domain::validate::Checker;
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{event, product};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryTrait,
};
use std::collections::{HashMap, HashSet};

/// Ids per lookup, at most (statements are also kept small: see `db::STATEMENT_BYTES`).
const CHUNK: usize = 512;
/// Events per insert, at most.
const EVENTS_PER_INSERT: usize = 64;
/// The columns of an event row.
const EVENT_COLUMNS: usize = 10;

/// The stored event for one input, and whether the input repeated an earlier one.
#[derive(Clone, Debug)]
pub struct RecordedEvent {
    pub event: event::Model,
    /// The same event id and content were recorded before: nothing was done again.
    pub duplicate: bool,
}

/// One call's answer: its events in input order, or why it was refused.
pub type CallResult = AppResult<Vec<RecordedEvent>>;

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

/// Checks and records `inputs` in order in a transaction of their own, all or nothing. A
/// repeated event id with the same content is a no-op that returns the first recording; with
/// other content it is refused (`Conflict` on `eventId`). Returns one result per input, in
/// input order.
pub async fn record_events(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    store: &StoreSettings,
    inputs: Vec<EventInput>,
) -> AppResult<Vec<RecordedEvent>> {
    let batch = check_batch(inputs, now)?;
    let txn = begin_write(db).await?;
    let results = record_one(&txn, store, &batch).await?;
    txn.commit().await?;
    Ok(results)
}

/// Records one call in the caller's transaction; on an error the caller rolls back.
pub async fn record_one(
    txn: &impl ConnectionTrait,
    store: &StoreSettings,
    batch: &CheckedBatch,
) -> CallResult {
    record_group(txn, store, std::slice::from_ref(batch))
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("a recorded call has no answer"))?
}

enum Plan {
    /// Record it.
    New,
    /// The same as an earlier input of the group: (call, position).
    RepeatOf(usize, usize),
    /// Recorded by an earlier transaction.
    Recorded(event::Model),
}

/// Records `calls` in the caller's transaction, in order, as if each ran alone after the one
/// before. A call refused by a check against the database (a conflicting event id, an unknown
/// product) gets its error and writes nothing, and the others go on. An error once writing
/// began (a profile or an order refused while applied, the database) is the outer error: the
/// caller rolls back everything this call wrote and may record the calls one by one.
pub async fn record_group(
    txn: &impl ConnectionTrait,
    store: &StoreSettings,
    calls: &[CheckedBatch],
) -> AppResult<Vec<CallResult>> {
    let all = || calls.iter().flat_map(|c| c.prepared.iter());
    let recorded = recorded_events(txn, all().map(|p| p.event_id.clone()).collect()).await?;
    let products = find_products(txn, all().flat_map(|p| p.payload.product_external_ids())).await?;

    // Plan every call against the database and the calls before it; refusals write nothing.
    let mut plans: Vec<AppResult<Vec<Plan>>> = Vec::with_capacity(calls.len());
    let mut claimed: HashMap<&str, (usize, usize)> = HashMap::new();
    for (c, call) in calls.iter().enumerate() {
        let plan = plan_call(c, call, calls, &claimed, &recorded, &products);
        if let Ok(call_plans) = &plan {
            for (i, item) in call.prepared.iter().enumerate() {
                if matches!(call_plans[i], Plan::New) {
                    claimed.insert(&item.event_id, (c, i));
                }
            }
        }
        plans.push(plan);
    }

    // Apply the accepted calls' new events to their customers, in order.
    let mut fresh: Vec<(usize, usize)> = Vec::new();
    for (c, plan) in plans.iter().enumerate() {
        if let Ok(plan) = plan {
            fresh.extend(
                (0..plan.len())
                    .filter(|i| matches!(plan[*i], Plan::New))
                    .map(|i| (c, i)),
            );
        }
    }
    let wanted: Vec<String> = fresh
        .iter()
        .map(|&(c, i)| calls[c].prepared[i].customer_external_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let now_ms = calls.iter().map(|c| c.now_ms).max().unwrap_or_default();
    let mut customers = customers::load_or_create(txn, &wanted, now_ms).await?;
    let as_loaded = customers.clone();
    let mut rows = Vec::new();
    for &(c, i) in &fresh {
        let item = &calls[c].prepared[i];
        let customer = customers
            .get_mut(&item.customer_external_id)
            .ok_or_else(|| AppError::internal("customer vanished during ingest"))?;
        let ctx = Context {
            now_ms: calls[c].now_ms,
            occurred_at: item.occurred_at,
            store,
            products: &products,
        };
        apply::apply(txn, &ctx, customer, &item.payload)
            .await
            .map_err(|e| {
                nest(
                    e,
                    &[&i.to_string(), "payload", payload_field(&item.payload)],
                )
            })?;
        rows.push(event_row(item, customer.id, calls[c].now_ms)?);
    }
    customers::save_changed(txn, &as_loaded, customers).await?;
    let stored = insert_events(txn, rows).await?;

    // Answer each call from what was stored, repeated or recorded before.
    let mut answers: Vec<CallResult> = Vec::with_capacity(calls.len());
    for (c, plan) in plans.into_iter().enumerate() {
        let answer = plan.and_then(|plan| {
            plan.into_iter()
                .enumerate()
                .map(|(i, plan)| {
                    let (event, duplicate) = match plan {
                        Plan::New => (stored.get(&calls[c].prepared[i].event_id).cloned(), false),
                        Plan::RepeatOf(first_call, first) => {
                            let item = &calls[first_call].prepared[first];
                            (stored.get(&item.event_id).cloned(), true)
                        }
                        Plan::Recorded(event) => (Some(event), true),
                    };
                    event
                        .map(|event| RecordedEvent { event, duplicate })
                        .ok_or_else(|| AppError::internal("a recorded event was not found"))
                })
                .collect()
        });
        answers.push(answer);
    }
    Ok(answers)
}

/// What to do with each event of call `c`, or why the call is refused.
fn plan_call(
    c: usize,
    call: &CheckedBatch,
    calls: &[CheckedBatch],
    claimed: &HashMap<&str, (usize, usize)>,
    recorded: &HashMap<String, event::Model>,
    products: &HashMap<String, i64>,
) -> AppResult<Vec<Plan>> {
    let mut checker = Checker::new();
    let mut first_here: HashMap<&str, usize> = HashMap::new();
    let mut plans = Vec::with_capacity(call.prepared.len());
    for (i, item) in call.prepared.iter().enumerate() {
        let same = |other: &Prepared| other.fingerprint == item.fingerprint;
        let plan = if let Some(&earlier) = first_here.get(item.event_id.as_str()) {
            same(&call.prepared[earlier]).then_some(Plan::RepeatOf(c, earlier))
        } else if let Some(&(other_call, earlier)) = claimed.get(item.event_id.as_str()) {
            same(&calls[other_call].prepared[earlier])
                .then_some(Plan::RepeatOf(other_call, earlier))
        } else if let Some(earlier) = recorded.get(&item.event_id) {
            (earlier.fingerprint == item.fingerprint).then(|| Plan::Recorded(earlier.clone()))
        } else {
            first_here.insert(&item.event_id, i);
            Some(Plan::New)
        };
        match plan {
            Some(plan) => plans.push(plan),
            None => {
                checker.absorb(&i.to_string(), vec![conflict()]);
                plans.push(Plan::New);
            }
        }
        if matches!(plans[i], Plan::New) {
            check_products(i, &item.payload, products, &mut checker);
        }
    }
    checker.finish()?;
    Ok(plans)
}

/// The event to store for `item` (its id is given by the insert).
fn event_row(item: &Prepared, customer_id: i64, now_ms: i64) -> AppResult<event::Model> {
    Ok(event::Model {
        id: 0,
        event_id: item.event_id.clone(),
        customer_id,
        kind: item.payload.kind().as_str().to_owned(),
        payload: serde_json::to_value(&item.payload).map_err(AppError::internal)?,
        fingerprint: item.fingerprint.clone(),
        occurred_at: item.occurred_at,
        received_at: now_ms,
        processed_at: None,
        outcome: None,
    })
}

/// Inserts the events and returns them with their ids, by event id. Only the ids come back
/// from the database: decoding every stored row again would cost more than the insert.
async fn insert_events(
    txn: &impl ConnectionTrait,
    rows: Vec<event::Model>,
) -> AppResult<HashMap<String, event::Model>> {
    let mut ids: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    let row_bytes = |row: &event::Model| {
        EVENT_COLUMNS * (PARAMETER_BYTES + 8)
            + row.event_id.len()
            + row.kind.len()
            + row.fingerprint.len()
            + json_bytes(&row.payload)
    };
    for chunk in statement_chunks(
        txn.get_database_backend(),
        &rows,
        EVENTS_PER_INSERT,
        false,
        row_bytes,
    ) {
        let mut insert = event::Entity::insert_many(chunk.iter().map(|row| {
            let mut active: event::ActiveModel = row.clone().into();
            active = active.reset_all();
            active.id = ActiveValue::NotSet;
            active
        }))
        .into_query();
        insert.returning(Query::returning().columns([event::Column::Id, event::Column::EventId]));
        for returned in txn.query_all(&insert).await? {
            ids.insert(
                returned.try_get("", "event_id")?,
                returned.try_get("", "id")?,
            );
        }
    }
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = *ids
            .get(&row.event_id)
            .ok_or_else(|| AppError::internal("an inserted event did not come back"))?;
        stored.insert(row.event_id.clone(), event::Model { id, ..row });
    }
    Ok(stored)
}

/// Events recorded earlier under these event ids.
async fn recorded_events(
    txn: &impl ConnectionTrait,
    mut event_ids: Vec<String>,
) -> AppResult<HashMap<String, event::Model>> {
    event_ids.sort_unstable();
    event_ids.dedup();
    let mut recorded = HashMap::new();
    for chunk in key_lookup_chunks(txn.get_database_backend(), &event_ids, CHUNK) {
        for e in event::Entity::find()
            .filter(event::Column::EventId.is_in(in_list(chunk.iter().cloned())))
            .all(txn)
            .await?
        {
            recorded.insert(e.event_id.clone(), e);
        }
    }
    Ok(recorded)
}

/// Product external id → id, for those of `external_ids` that exist.
async fn find_products(
    txn: &impl ConnectionTrait,
    external_ids: impl Iterator<Item = &str>,
) -> AppResult<HashMap<String, i64>> {
    let wanted: Vec<String> = external_ids
        .map(|id| id.trim().to_owned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut found = HashMap::with_capacity(wanted.len());
    for chunk in key_lookup_chunks(txn.get_database_backend(), &wanted, CHUNK) {
        for p in product::Entity::find()
            .filter(product::Column::ExternalId.is_in(in_list(chunk.iter().cloned())))
            .all(txn)
            .await?
        {
            found.insert(p.external_id, p.id);
        }
    }
    Ok(found)
}

/// Refuses the products event `index` names that do not exist.
fn check_products(
    index: usize,
    payload: &EventPayload,
    products: &HashMap<String, i64>,
    checker: &mut Checker,
) {
    // A viewed product is one field; cart and order products are in numbered lines.
    let in_lines = !matches!(payload, EventPayload::ProductViewed { .. });
    let mut violations = Vec::new();
    for (j, id) in payload.product_external_ids().into_iter().enumerate() {
        if !products.contains_key(id.trim()) {
            violations.push(if in_lines {
                unknown_product(&["lines", &j.to_string(), "productExternalId"])
            } else {
                unknown_product(&["productExternalId"])
            });
        }
    }
    let field = payload_field(payload);
    checker.absorb_flat(
        violations
            .into_iter()
            .map(|v| v.under(field).under("payload").under(&index.to_string()))
            .collect(),
    );
}

fn conflict() -> FieldViolation {
    FieldViolation::new(
        &["eventId"],
        ViolationCode::Conflict,
        "this event id was recorded with other content",
    )
}

fn unknown_product(path: &[&str]) -> FieldViolation {
    FieldViolation::new(
        path,
        ViolationCode::NotFound,
        "no product has this external id; mirror the catalog with upsertProducts first",
    )
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
