//! The mirror of the shop's catalog: what conditions and recommendations need to know.

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::page::{Page, PageRequest, fetch_page};
use crate::domain::stale::{Stale, stale};
use crate::domain::validate::Checker;
use crate::domain::values::{Currency, MAX_TEXT, optional_text, parse_amount, required_text};
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};
use chrono::{DateTime, Utc};
use entity::product;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
};
use std::collections::HashMap;

/// The most products one upsert call may carry.
pub const MAX_BATCH: usize = 500;

/// One product as the shop describes it. Upserting replaces every field.
#[derive(Clone, Debug, Default)]
pub struct ProductInput {
    pub external_id: String,
    pub name: String,
    pub sku: Option<String>,
    /// A decimal amount in `currency`, e.g. "19.99".
    pub price: String,
    pub currency: String,
    pub category_ids: Vec<String>,
    pub manufacturer: Option<String>,
    pub vendor: Option<String>,
    /// Days one unit lasts, for replenishment reminders.
    pub replenishment_days: Option<i32>,
    /// An absolute http(s) address of the product's picture.
    pub image_url: Option<String>,
}

pub async fn find_by_external_id(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> AppResult<Option<product::Model>> {
    Ok(product::Entity::find()
        .filter(product::Column::ExternalId.eq(external_id.trim()))
        .one(db)
        .await?)
}

/// One page of products, in the order they were first mirrored.
pub async fn list(db: &impl ConnectionTrait, page: PageRequest) -> AppResult<Page<product::Model>> {
    Ok(fetch_page(db, product::Entity::find(), product::Column::Id, page).await?)
}

/// Creates or replaces products by external id, all or nothing. Returns them in input order.
pub async fn upsert(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    inputs: Vec<ProductInput>,
) -> AppResult<Vec<product::Model>> {
    let mut checker = Checker::new();
    if inputs.len() > MAX_BATCH {
        return Err(AppError::invalid(
            &["products"],
            ViolationCode::OutOfRange,
            format!("at most {MAX_BATCH} products per call"),
        ));
    }
    let now_ms = to_millis(now);
    let mut rows = Vec::with_capacity(inputs.len());
    let mut positions: HashMap<String, usize> = HashMap::new();
    for (index, input) in inputs.into_iter().enumerate() {
        let (row, violations) = validate(input);
        checker.absorb(&index.to_string(), violations);
        if let Some(row) = row {
            if positions.insert(row.external_id.clone(), index).is_some() {
                checker.absorb(
                    &index.to_string(),
                    vec![FieldViolation::new(
                        &["externalId"],
                        ViolationCode::Taken,
                        "appears twice in this call",
                    )],
                );
            }
            rows.push(row);
        }
    }
    checker.finish()?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let external_ids: Vec<String> = rows.iter().map(|r| r.external_id.clone()).collect();
    let txn = begin_write(db).await?;
    let active = rows.into_iter().map(|row| product::ActiveModel {
        id: ActiveValue::NotSet,
        external_id: ActiveValue::Set(row.external_id),
        name: ActiveValue::Set(row.name),
        sku: ActiveValue::Set(row.sku),
        price: ActiveValue::Set(row.price),
        currency: ActiveValue::Set(row.currency),
        category_ids: ActiveValue::Set(row.category_ids),
        manufacturer: ActiveValue::Set(row.manufacturer),
        vendor: ActiveValue::Set(row.vendor),
        replenishment_days: ActiveValue::Set(row.replenishment_days),
        image_url: ActiveValue::Set(row.image_url),
        created_at: ActiveValue::Set(now_ms),
        updated_at: ActiveValue::Set(now_ms),
    });
    product::Entity::insert_many(active)
        .on_conflict(
            OnConflict::column(product::Column::ExternalId)
                .update_columns([
                    product::Column::Name,
                    product::Column::Sku,
                    product::Column::Price,
                    product::Column::Currency,
                    product::Column::CategoryIds,
                    product::Column::Manufacturer,
                    product::Column::Vendor,
                    product::Column::ReplenishmentDays,
                    product::Column::ImageUrl,
                    product::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    stale(&txn, Stale::Everyone).await?;
    let mut saved = product::Entity::find()
        .filter(product::Column::ExternalId.is_in(external_ids.iter().cloned()))
        .all(&txn)
        .await?;
    txn.commit().await?;
    saved.sort_by_key(|p| positions.get(&p.external_id).copied().unwrap_or(usize::MAX));
    Ok(saved)
}

struct ProductRow {
    external_id: String,
    name: String,
    sku: Option<String>,
    price: i64,
    currency: String,
    category_ids: serde_json::Value,
    manufacturer: Option<String>,
    vendor: Option<String>,
    replenishment_days: Option<i32>,
    image_url: Option<String>,
}

fn validate(input: ProductInput) -> (Option<ProductRow>, Vec<FieldViolation>) {
    let mut c = Checker::new();
    let external_id = c.check("externalId", required_text(&input.external_id, MAX_TEXT));
    let name = c.check("name", required_text(&input.name, MAX_TEXT));
    let sku = c.check(
        "sku",
        input
            .sku
            .as_deref()
            .map(|s| optional_text(s, MAX_TEXT))
            .transpose(),
    );
    let currency = c.check("currency", Currency::parse(&input.currency));
    let price = currency
        .as_ref()
        .and_then(|cur| c.check("price", parse_amount(&input.price, cur)));
    if price.is_some_and(|p| p < 0) {
        c.refuse("price", ViolationCode::OutOfRange, "must not be negative");
    }
    let mut categories = Vec::new();
    let mut nested = Checker::new();
    for (i, raw) in input.category_ids.iter().enumerate() {
        if let Some(id) = nested.check(&i.to_string(), required_text(raw, MAX_TEXT)) {
            categories.push(serde_json::Value::String(id));
        }
    }
    c.absorb("categoryIds", nested.into_violations());
    let manufacturer = c.check(
        "manufacturer",
        input
            .manufacturer
            .as_deref()
            .map(|s| optional_text(s, MAX_TEXT))
            .transpose(),
    );
    let vendor = c.check(
        "vendor",
        input
            .vendor
            .as_deref()
            .map(|s| optional_text(s, MAX_TEXT))
            .transpose(),
    );
    if input
        .replenishment_days
        .is_some_and(|d| !(1..=3650).contains(&d))
    {
        c.refuse(
            "replenishmentDays",
            ViolationCode::OutOfRange,
            "must be between 1 and 3650 days",
        );
    }
    let image_url = c.check(
        "imageUrl",
        input.image_url.as_deref().map(image_url).transpose(),
    );
    if !c.is_clean() {
        return (None, c.into_violations());
    }
    match (
        external_id,
        name,
        currency,
        price,
        sku,
        manufacturer,
        vendor,
    ) {
        (
            Some(external_id),
            Some(name),
            Some(currency),
            Some(price),
            Some(sku),
            Some(manufacturer),
            Some(vendor),
        ) => (
            Some(ProductRow {
                external_id,
                name,
                sku: sku.flatten(),
                price,
                currency: currency.code().to_owned(),
                category_ids: serde_json::Value::Array(categories),
                manufacturer: manufacturer.flatten(),
                vendor: vendor.flatten(),
                replenishment_days: input.replenishment_days,
                image_url: image_url.flatten().flatten(),
            }),
            Vec::new(),
        ),
        _ => (None, c.into_violations()),
    }
}

/// The longest image address kept.
const MAX_IMAGE_URL: usize = 2048;

/// A product image's address: absolute http(s), at most [`MAX_IMAGE_URL`] bytes; blank is
/// none.
fn image_url(raw: &str) -> Result<Option<String>, (ViolationCode, String)> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_IMAGE_URL {
        return Err((
            ViolationCode::TooLong,
            format!("must be at most {MAX_IMAGE_URL} bytes"),
        ));
    }
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(Some(url.to_string()))
        }
        _ => Err((
            ViolationCode::Invalid,
            "must be an absolute http or https address".to_owned(),
        )),
    }
}
