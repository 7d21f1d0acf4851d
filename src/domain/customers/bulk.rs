//! Customers by the many, for ingest: load a call's customers (creating the unknown ones) and
//! write back the ones that changed, each in one statement per chunk rather than per row.

use super::write::blank_customer;
use crate::db::{PARAMETER_BYTES, in_list, json_bytes, key_lookup_chunks, statement_chunks};
use crate::error::AppResult;
use entity::customer;
use sea_orm::sea_query::{LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, Iterable, ModelTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeMap, HashMap};

/// External ids per lookup, at most (statements are also kept small: see
/// `db::STATEMENT_BYTES`).
const CHUNK: usize = 512;
/// Rows per insert or update, at most.
const ROWS_PER_WRITE: usize = 64;

/// The customers with these external ids, creating a blank customer for each unknown one.
/// On PostgreSQL the rows stay locked until the transaction ends, so concurrent writers of the
/// same customer (other calls, writers, processes) take turns instead of overwriting each
/// other; every writer locks and creates in external id order, so two cannot wait for each
/// other.
pub(crate) async fn load_or_create(
    txn: &impl ConnectionTrait,
    external_ids: &[String],
    now_ms: i64,
) -> AppResult<HashMap<String, customer::Model>> {
    let mut external_ids = external_ids.to_vec();
    external_ids.sort_unstable();
    let mut found = load(txn, &external_ids).await?;
    let missing: Vec<&String> = external_ids
        .iter()
        .filter(|id| !found.contains_key(*id))
        .collect();
    if missing.is_empty() {
        return Ok(found);
    }
    // A blank customer's row: its columns and its external id.
    let blank_bytes = |id: &&String| blank_row_bytes() + id.len();
    for chunk in statement_chunks(
        txn.get_database_backend(),
        &missing,
        ROWS_PER_WRITE,
        false,
        blank_bytes,
    ) {
        let rows = chunk.iter().map(|external_id| {
            let mut model = blank_customer(now_ms);
            model.external_id = (*external_id).clone();
            let mut active: customer::ActiveModel = model.into();
            active = active.reset_all();
            active.id = sea_orm::ActiveValue::NotSet;
            active
        });
        // Another process may create the same customer meanwhile: theirs is as good as ours.
        customer::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(customer::Column::ExternalId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    let missing: Vec<String> = missing.into_iter().cloned().collect();
    found.extend(load(txn, &missing).await?);
    Ok(found)
}

/// The customers with these external ids (sorted), locked in that order on PostgreSQL.
async fn load(
    txn: &impl ConnectionTrait,
    external_ids: &[String],
) -> AppResult<HashMap<String, customer::Model>> {
    let mut found = HashMap::with_capacity(external_ids.len());
    for chunk in key_lookup_chunks(txn.get_database_backend(), external_ids, CHUNK) {
        let mut select = customer::Entity::find()
            .filter(customer::Column::ExternalId.is_in(in_list(chunk.iter().cloned())))
            .order_by_asc(customer::Column::ExternalId);
        if txn.get_database_backend() == DbBackend::Postgres {
            // FOR NO KEY UPDATE: writers of the same customer take turns, while the
            // processor's inserts that refer to the customer (their key-share checks) go on.
            select = select.lock(LockType::NoKeyUpdate);
        }
        for c in select.all(txn).await? {
            found.insert(c.external_id.clone(), c);
        }
    }
    Ok(found)
}

/// A customer row without its texts and attributes: every column's parameter and number.
fn blank_row_bytes() -> usize {
    customer::Column::iter().count() * (PARAMETER_BYTES + 8)
}

/// What a customer's row takes as statement parameters.
fn row_bytes(c: &customer::Model) -> usize {
    let texts = [
        Some(&c.external_id),
        c.email.as_ref(),
        c.phone.as_ref(),
        c.first_name.as_ref(),
        c.last_name.as_ref(),
        c.time_zone.as_ref(),
        c.locale.as_ref(),
        Some(&c.customer_type),
        c.affiliate_id.as_ref(),
        c.email_consent_source.as_ref(),
        c.sms_consent_source.as_ref(),
    ];
    blank_row_bytes()
        + texts.iter().flatten().map(|t| t.len()).sum::<usize>()
        + json_bytes(&c.attributes)
}

/// Writes the customers that changed since they were loaded (`before`, by external id). Rows
/// that changed the same columns share one statement, which sets only those columns, so the
/// database maintains only the indexes of what changed.
pub(crate) async fn save_changed(
    txn: &impl ConnectionTrait,
    before: &HashMap<String, customer::Model>,
    after: HashMap<String, customer::Model>,
) -> AppResult<()> {
    let columns: Vec<customer::Column> = customer::Column::iter()
        .filter(|c| !matches!(c, customer::Column::Id | customer::Column::ExternalId))
        .collect();
    let mut by_change: BTreeMap<Vec<usize>, Vec<customer::Model>> = BTreeMap::new();
    for (external_id, customer) in after {
        let Some(loaded) = before.get(&external_id) else {
            continue;
        };
        let changed: Vec<usize> = (0..columns.len())
            .filter(|&i| loaded.get(columns[i]) != customer.get(columns[i]))
            .collect();
        if !changed.is_empty() {
            by_change.entry(changed).or_default().push(customer);
        }
    }
    for (changed, customers) in by_change {
        for chunk in statement_chunks(
            txn.get_database_backend(),
            &customers,
            ROWS_PER_WRITE,
            false,
            row_bytes,
        ) {
            let rows = chunk.iter().map(|c| {
                let active: customer::ActiveModel = c.clone().into();
                active.reset_all()
            });
            // Every row exists (it was loaded in this transaction): the conflict is certain,
            // and one statement updates them all.
            customer::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(customer::Column::Id)
                        .update_columns(changed.iter().map(|&i| columns[i]))
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }
    }
    Ok(())
}
