//! Endpoints: where an integrator wants webhook messages, what about, and the secret they are
//! signed with. An admin manages every endpoint; an integrator key sees and manages only the
//! ones it created (another's is `NOT_FOUND`). Each write is one transaction, and keeps the
//! subscription rows the outbox matches changes against in step with the filter.

use super::event::{EventType, Family};
use super::signature::Secret;
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::delivery::address::{Refused, check_url, is_public};
use crate::domain::validate::{Change, Checker};
use crate::domain::values::optional_text;
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{role, segment, tag, webhook_endpoint, webhook_subscription};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// The longest description.
pub const MAX_DESCRIPTION: usize = 2000;
/// The most role, tag or segment ids one filter lists.
pub const MAX_IDS: usize = 100;

/// Who is asking: an admin (every endpoint) or an integrator key (its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    All,
    Key(i64),
}

/// Where endpoint URLs may point.
#[derive(Clone, Copy, Debug, Default)]
pub struct UrlPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
}

/// What an endpoint wants: event types (`None`: every one) and, for membership events, the
/// roles, tags and segments (empty: any).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub event_types: Option<Vec<String>>,
    pub role_ids: Vec<i64>,
    pub tag_ids: Vec<i64>,
    pub segment_ids: Vec<i64>,
}

impl Filter {
    /// The event types it wants.
    pub fn types(&self) -> Vec<EventType> {
        match &self.event_types {
            None => EventType::SUBSCRIBABLE.to_vec(),
            Some(names) => names
                .iter()
                .filter_map(|n| EventType::from_stored(n))
                .collect(),
        }
    }

    /// The (type, object) rows the outbox matches against.
    fn subscriptions(&self) -> Vec<(EventType, Option<i64>)> {
        let mut rows = Vec::new();
        for t in self.types() {
            let ids = match t.family() {
                Family::Roles => &self.role_ids,
                Family::Tags => &self.tag_ids,
                Family::Segments => &self.segment_ids,
                Family::Other => &Vec::new(),
            };
            if ids.is_empty() {
                rows.push((t, None));
            } else {
                rows.extend(ids.iter().map(|id| (t, Some(*id))));
            }
        }
        rows
    }
}

/// An endpoint with its filter decoded.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub model: webhook_endpoint::Model,
    pub filter: Filter,
}

impl Endpoint {
    pub fn decode(model: webhook_endpoint::Model) -> AppResult<Self> {
        let filter = serde_json::from_str(&model.filter).map_err(|e| {
            AppError::internal(format!(
                "webhook endpoint {} has a bad filter: {e}",
                model.id
            ))
        })?;
        Ok(Self { model, filter })
    }

    /// The secrets a message is signed with at `now_ms`: the current one, and the one before
    /// while the rotation's overlap lasts.
    pub fn signing_secrets(&self, now_ms: i64) -> AppResult<Vec<Secret>> {
        let parse = |text: &str| {
            Secret::parse(text).map_err(|e| {
                AppError::internal(format!(
                    "webhook endpoint {} has a bad secret: {e:?}",
                    self.model.id
                ))
            })
        };
        let mut secrets = vec![parse(&self.model.secret)?];
        if let (Some(previous), Some(until)) = (
            &self.model.previous_secret,
            self.model.previous_secret_until,
        ) && now_ms < until
        {
            secrets.push(parse(previous)?);
        }
        Ok(secrets)
    }
}

/// The fields of an endpoint; on update, `None` and `Keep` leave a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EndpointInput {
    pub url: Option<String>,
    pub description: Change<String>,
    /// `Clear`: every event type.
    pub event_types: Change<Vec<EventType>>,
    pub role_ids: Option<Vec<i64>>,
    pub tag_ids: Option<Vec<i64>>,
    pub segment_ids: Option<Vec<i64>>,
    /// `false` disables it (reason "disabled by hand"); `true` enables it again.
    pub enabled: Option<bool>,
}

/// A new endpoint and its secret, shown this once.
pub struct Created {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// Every endpoint `access` may see, oldest first.
pub async fn list(db: &impl ConnectionTrait, access: Access) -> AppResult<Vec<Endpoint>> {
    let mut query = webhook_endpoint::Entity::find().order_by_asc(webhook_endpoint::Column::Id);
    if let Access::Key(key) = access {
        query = query.filter(webhook_endpoint::Column::OwnerKeyId.eq(key));
    }
    query
        .all(db)
        .await?
        .into_iter()
        .map(Endpoint::decode)
        .collect()
}

/// Endpoint `id` when `access` may see it.
pub async fn find(
    db: &impl ConnectionTrait,
    id: i64,
    access: Access,
) -> AppResult<Option<Endpoint>> {
    let found = webhook_endpoint::Entity::find_by_id(id).one(db).await?;
    found
        .filter(|m| visible(m, access))
        .map(Endpoint::decode)
        .transpose()
}

/// Endpoint `id`, or `NOT_FOUND` when `access` may not see it.
pub async fn get(db: &impl ConnectionTrait, id: i64, access: Access) -> AppResult<Endpoint> {
    find(db, id, access)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("webhook endpoint {id} not found")))
}

fn visible(model: &webhook_endpoint::Model, access: Access) -> bool {
    match access {
        Access::All => true,
        Access::Key(key) => model.owner_key_id == Some(key),
    }
}

/// Creates an endpoint with a new secret.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    access: Access,
    input: EndpointInput,
    policy: UrlPolicy,
) -> AppResult<Created> {
    if input.url.is_none() {
        return Err(AppError::Invalid(vec![crate::error::FieldViolation::new(
            &["url"],
            ViolationCode::Blank,
            "must not be blank",
        )]));
    }
    let now_ms = to_millis(now);
    let secret = Secret::generate().expose();
    let mut row = webhook_endpoint::Model {
        id: 0,
        url: String::new(),
        description: None,
        filter: String::new(),
        secret: secret.clone(),
        previous_secret: None,
        previous_secret_until: None,
        owner_key_id: match access {
            Access::All => None,
            Access::Key(key) => Some(key),
        },
        disabled_at: None,
        disabled_reason: None,
        failing_since: None,
        last_success_at: None,
        created_at: now_ms,
        updated_at: now_ms,
    };
    let txn = begin_write(db).await?;
    let filter = apply(&txn, &mut row, input, Filter::default(), policy, now_ms).await?;
    let mut active: webhook_endpoint::ActiveModel = row.into();
    active.id = ActiveValue::NotSet;
    let saved = active.insert(&txn).await?;
    subscribe(&txn, saved.id, &filter).await?;
    txn.commit().await?;
    Ok(Created {
        endpoint: Endpoint::decode(saved)?,
        secret,
    })
}

/// Changes an endpoint.
pub async fn update(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    access: Access,
    input: EndpointInput,
    policy: UrlPolicy,
) -> AppResult<Endpoint> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let current = get(&txn, id, access).await?;
    let mut row = current.model.clone();
    let filter = apply(
        &txn,
        &mut row,
        input,
        current.filter.clone(),
        policy,
        now_ms,
    )
    .await?;
    row.updated_at = now_ms;
    let active = webhook_endpoint::ActiveModel::from(row).reset_all();
    let saved = active.update(&txn).await?;
    if filter != current.filter {
        webhook_subscription::Entity::delete_many()
            .filter(webhook_subscription::Column::EndpointId.eq(id))
            .exec(&txn)
            .await?;
        subscribe(&txn, id, &filter).await?;
    }
    txn.commit().await?;
    Endpoint::decode(saved)
}

/// Deletes an endpoint with its messages and their attempts.
pub async fn delete(db: &DatabaseConnection, id: i64, access: Access) -> AppResult<()> {
    let txn = begin_write(db).await?;
    get(&txn, id, access).await?;
    let its = sea_orm::Condition::all().add(entity::webhook_message::Column::EndpointId.eq(id));
    super::outbox::delete_messages(&txn, its).await?;
    webhook_subscription::Entity::delete_many()
        .filter(webhook_subscription::Column::EndpointId.eq(id))
        .exec(&txn)
        .await?;
    webhook_endpoint::Entity::delete_by_id(id)
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Gives an endpoint a new secret; the old one still signs (beside it) for `overlap`.
/// Returns the endpoint and the new secret, shown this once.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    access: Access,
    overlap: Duration,
) -> AppResult<(Endpoint, String)> {
    let now_ms = to_millis(now);
    let txn = begin_write(db).await?;
    let current = get(&txn, id, access).await?;
    let secret = Secret::generate().expose();
    let mut active: webhook_endpoint::ActiveModel = current.model.clone().into();
    active.previous_secret = ActiveValue::Set(Some(current.model.secret.clone()));
    active.previous_secret_until = ActiveValue::Set(Some(
        now_ms.saturating_add(i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX)),
    ));
    active.secret = ActiveValue::Set(secret.clone());
    active.updated_at = ActiveValue::Set(now_ms);
    let saved = active.update(&txn).await?;
    txn.commit().await?;
    Ok((Endpoint::decode(saved)?, secret))
}

/// Checks `input` and applies it to `row`; returns the filter it now has.
async fn apply(
    txn: &impl ConnectionTrait,
    row: &mut webhook_endpoint::Model,
    input: EndpointInput,
    mut filter: Filter,
    policy: UrlPolicy,
    now_ms: i64,
) -> AppResult<Filter> {
    let mut checker = Checker::new();
    if let Some(url) = &input.url {
        match checked_url(url, policy).await {
            Ok(url) => row.url = url,
            Err(refused) => {
                let code = match refused {
                    Refused::TooLong => ViolationCode::TooLong,
                    _ => ViolationCode::Invalid,
                };
                checker.refuse("url", code, format!("the URL {refused}"));
            }
        }
    }
    match input.description {
        Change::Keep => {}
        Change::Clear => row.description = None,
        Change::Set(text) => {
            if let Some(text) = checker.check("description", optional_text(&text, MAX_DESCRIPTION))
            {
                row.description = text;
            }
        }
    }
    match input.event_types {
        Change::Keep => {}
        Change::Clear => filter.event_types = None,
        Change::Set(types) if types.is_empty() => checker.refuse(
            "eventTypes",
            ViolationCode::Blank,
            "list at least one event type, or leave it out for every type",
        ),
        Change::Set(types) => {
            let unique: BTreeSet<EventType> = types.into_iter().collect();
            filter.event_types = Some(unique.iter().map(|t| t.as_str().to_owned()).collect());
        }
    }
    if let Some(ids) = input.role_ids {
        filter.role_ids =
            existing::<role::Entity>(txn, role::Column::Id, "roleIds", ids, &mut checker).await?;
    }
    if let Some(ids) = input.tag_ids {
        filter.tag_ids =
            existing::<tag::Entity>(txn, tag::Column::Id, "tagIds", ids, &mut checker).await?;
    }
    if let Some(ids) = input.segment_ids {
        filter.segment_ids =
            existing::<segment::Entity>(txn, segment::Column::Id, "segmentIds", ids, &mut checker)
                .await?;
    }
    checker.finish()?;
    match input.enabled {
        Some(false) if row.disabled_at.is_none() => {
            row.disabled_at = Some(now_ms);
            row.disabled_reason = Some("disabled by hand".into());
        }
        Some(true) => {
            row.disabled_at = None;
            row.disabled_reason = None;
            row.failing_since = None;
        }
        _ => {}
    }
    row.filter = serde_json::to_string(&filter)
        .map_err(|e| AppError::internal(format!("a filter did not serialize: {e}")))?;
    Ok(filter)
}

/// How long saving an endpoint waits for its host's addresses.
const LOOKUP: Duration = Duration::from_secs(2);

/// The URL as stored, when it may be used: its form, and the addresses its host has now.
/// A host that does not resolve now (or not within [`LOOKUP`]) is accepted; it is checked
/// again at every send.
async fn checked_url(text: &str, policy: UrlPolicy) -> Result<String, Refused> {
    let url = check_url(text, policy.allow_http, policy.allow_private)?;
    if !policy.allow_private
        && let Some(host) = url.host_str()
        && let Ok(Ok(addresses)) =
            tokio::time::timeout(LOOKUP, tokio::net::lookup_host((host, 443))).await
    {
        for address in addresses {
            if !is_public(address.ip()) {
                return Err(Refused::Private(address.ip()));
            }
        }
    }
    Ok(url.to_string())
}

/// `ids` deduplicated, each checked to exist (one look for all; path `field.<index>`
/// otherwise).
async fn existing<E: EntityTrait>(
    txn: &impl ConnectionTrait,
    id: E::Column,
    field: &str,
    ids: Vec<i64>,
    checker: &mut Checker,
) -> AppResult<Vec<i64>> {
    if ids.len() > MAX_IDS {
        checker.refuse(
            field,
            ViolationCode::TooLong,
            format!("at most {MAX_IDS} ids"),
        );
        return Ok(Vec::new());
    }
    let found: BTreeSet<i64> = E::find()
        .select_only()
        .column(id)
        .filter(id.is_in(ids.iter().copied()))
        .into_tuple::<i64>()
        .all(txn)
        .await?
        .into_iter()
        .collect();
    for (index, wanted) in ids.iter().enumerate() {
        if !found.contains(wanted) {
            checker.refuse_at(
                &[field, &index.to_string()],
                ViolationCode::NotFound,
                format!("no such id {wanted}"),
            );
        }
    }
    let mut kept = ids;
    kept.sort_unstable();
    kept.dedup();
    Ok(kept)
}

async fn subscribe(txn: &impl ConnectionTrait, endpoint_id: i64, filter: &Filter) -> AppResult<()> {
    let rows: Vec<webhook_subscription::ActiveModel> = filter
        .subscriptions()
        .into_iter()
        .map(|(t, object)| webhook_subscription::ActiveModel {
            id: ActiveValue::NotSet,
            endpoint_id: ActiveValue::Set(endpoint_id),
            event_type: ActiveValue::Set(t.as_str().to_owned()),
            object_id: ActiveValue::Set(object),
        })
        .collect();
    for chunk in rows.chunks(200) {
        webhook_subscription::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Disables endpoint `id` (if enabled) with `reason`.
pub async fn disable(
    txn: &impl ConnectionTrait,
    id: i64,
    reason: &str,
    now_ms: i64,
) -> AppResult<bool> {
    use sea_orm::sea_query::Expr;
    let updated = webhook_endpoint::Entity::update_many()
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .col_expr(webhook_endpoint::Column::DisabledAt, Expr::value(now_ms))
        .col_expr(
            webhook_endpoint::Column::DisabledReason,
            Expr::value(reason),
        )
        .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(now_ms))
        .exec(txn)
        .await?;
    Ok(updated.rows_affected > 0)
}
