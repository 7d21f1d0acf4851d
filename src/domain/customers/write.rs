//! Creating, changing and deleting customers, each in one transaction.

use super::{CustomerType, find_by_external_id};
use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::membership::announce_logged;
use crate::domain::records::delete_by_id;
use crate::domain::segments;
use crate::domain::stale::{Stale, stale};
use crate::domain::validate::{Change, Checker};
use crate::domain::values::{
    EmailAddress, MAX_TEXT, PhoneNumber, TimeZoneName, check_attributes, optional_text,
    required_text,
};
use crate::error::{AppResult, ViolationCode};
use crate::events::EventBus;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use entity::customer;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
};

/// Consent to marketing on one channel, and where it was given ("checkout", "import" …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentInput {
    pub granted: bool,
    pub source: Option<String>,
}

/// What a client may set on a customer. On create, `Keep` means "no value"; on update, the
/// field is left as it is.
#[derive(Clone, Debug, Default)]
pub struct CustomerInput {
    pub external_id: Option<String>,
    pub email: Change<String>,
    pub phone: Change<String>,
    pub first_name: Change<String>,
    pub last_name: Change<String>,
    pub birthday: Change<NaiveDate>,
    pub time_zone: Change<String>,
    pub locale: Change<String>,
    pub customer_type: Option<CustomerType>,
    pub wholesale: Option<bool>,
    pub affiliate_id: Change<String>,
    pub email_consent: Option<ConsentInput>,
    pub sms_consent: Option<ConsentInput>,
    pub registered_at: Change<DateTime<Utc>>,
    /// Replaces all custom attributes; must be a JSON object.
    pub attributes: Option<serde_json::Value>,
}

/// Creates a customer. Fails with `Invalid` (nothing written) when a field is refused or the
/// external id is taken.
pub async fn create(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    input: CustomerInput,
) -> AppResult<customer::Model> {
    let txn = begin_write(db).await?;
    let mut checker = Checker::new();
    if input.external_id.is_none() {
        checker.refuse("externalId", ViolationCode::Blank, "must not be blank");
    }
    let now_ms = to_millis(now);
    let blank = blank_customer(now_ms);
    let model = apply(&txn, blank, input, now_ms, checker).await?;
    let mut active: customer::ActiveModel = model.into();
    active = active.reset_all();
    active.id = ActiveValue::NotSet;
    let saved = active.insert(&txn).await?;
    let followed =
        segments::follow_customers(&txn, vec![(saved.id, segments::ADMIN.into())], now_ms).await?;
    txn.commit().await?;
    announce_logged(bus, followed.logged_upto);
    Ok(saved)
}

/// A customer with no data yet, created at `now_ms` (its id is set on insert).
pub(crate) fn blank_customer(now_ms: i64) -> customer::Model {
    customer::Model {
        id: 0,
        external_id: String::new(),
        email: None,
        phone: None,
        first_name: None,
        last_name: None,
        birthday: None,
        birthday_month: None,
        birthday_day: None,
        time_zone: None,
        locale: None,
        customer_type: CustomerType::Person.as_str().to_owned(),
        wholesale: false,
        affiliate_id: None,
        email_consent: false,
        email_consent_at: None,
        email_consent_source: None,
        sms_consent: false,
        sms_consent_at: None,
        sms_consent_source: None,
        registered_at: None,
        last_login_at: None,
        last_order_at: None,
        orders_count: 0,
        total_spent: 0,
        attributes: serde_json::json!({}),
        cart_updated_at: None,
        created_at: now_ms,
        updated_at: now_ms,
    }
}

/// Changes the fields `input` names. `NOT_FOUND` when the customer does not exist.
pub async fn update(
    db: &DatabaseConnection,
    bus: &EventBus,
    now: DateTime<Utc>,
    id: i64,
    input: CustomerInput,
) -> AppResult<customer::Model> {
    let txn = begin_write(db).await?;
    let current = super::get(&txn, id).await?;
    let now_ms = to_millis(now);
    let model = apply(&txn, current, input, now_ms, Checker::new()).await?;
    let active: customer::ActiveModel = model.into();
    let saved = active.reset_all().update(&txn).await?;
    let followed =
        segments::follow_customers(&txn, vec![(saved.id, segments::ADMIN.into())], now_ms).await?;
    txn.commit().await?;
    announce_logged(bus, followed.logged_upto);
    Ok(saved)
}

/// Deletes a customer inside the caller's transaction, with what hangs on them by foreign
/// key (roles, tags, segment memberships, cart, orders, events, firings, banners) and their
/// campaign runs (the change log is the caller's: see [`crate::domain::erasure`]). `NOT_FOUND` when missing. Erasure ([`crate::domain::erasure`]) calls it.
pub async fn delete_in(txn: &impl sea_orm::ConnectionTrait, id: i64) -> AppResult<()> {
    // Runs and segment memberships hold no foreign key (see their migrations): they go
    // explicitly. Memberships go after the customer: on PostgreSQL deleting the row waits for
    // a refresh that holds it while writing memberships, whose rows the delete then sees.
    entity::campaign_run::Entity::delete_many()
        .filter(entity::campaign_run::Column::CustomerId.eq(id))
        .exec(txn)
        .await?;
    delete_by_id::<customer::Entity>(txn, id, "customer").await?;
    entity::segment_member::Entity::delete_many()
        .filter(entity::segment_member::Column::CustomerId.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Validates `input` and applies it to `model`, or returns every violation.
pub(crate) async fn apply(
    txn: &impl sea_orm::ConnectionTrait,
    mut model: customer::Model,
    input: CustomerInput,
    now_ms: i64,
    mut checker: Checker,
) -> AppResult<customer::Model> {
    if let Some(raw) = input.external_id
        && let Some(external_id) = checker.check("externalId", required_text(&raw, MAX_TEXT))
    {
        let holder = find_by_external_id(txn, &external_id).await?;
        if holder.is_some_and(|other| other.id != model.id) {
            checker.refuse(
                "externalId",
                ViolationCode::Taken,
                "another customer already has this external id",
            );
        }
        if external_id != model.external_id {
            // Both ids now name someone else than the storefront was shown.
            let ids = vec![model.external_id.clone(), external_id.clone()];
            stale(txn, Stale::Customers(ids)).await?;
        }
        model.external_id = external_id;
    }
    model.email = checked_change(&mut checker, "email", input.email, |raw| {
        EmailAddress::parse(raw).map(|e| e.as_str().to_owned())
    })
    .apply(model.email.take());
    model.phone = checked_change(&mut checker, "phone", input.phone, |raw| {
        PhoneNumber::parse(raw).map(|p| p.as_str().to_owned())
    })
    .apply(model.phone.take());
    model.first_name =
        text_change(&mut checker, "firstName", input.first_name).apply(model.first_name.take());
    model.last_name =
        text_change(&mut checker, "lastName", input.last_name).apply(model.last_name.take());
    model.locale = checked_change(&mut checker, "locale", input.locale, parse_locale)
        .apply(model.locale.take());
    model.time_zone = checked_change(&mut checker, "timeZone", input.time_zone, |raw| {
        TimeZoneName::parse(raw).map(|tz| tz.name().to_owned())
    })
    .apply(model.time_zone.take());
    model.affiliate_id = text_change(&mut checker, "affiliateId", input.affiliate_id)
        .apply(model.affiliate_id.take());
    match input.birthday {
        Change::Keep => {}
        Change::Clear => {
            model.birthday = None;
            model.birthday_month = None;
            model.birthday_day = None;
        }
        Change::Set(date) => {
            let today = chrono::DateTime::from_timestamp_millis(now_ms)
                .map(|t| t.date_naive())
                .unwrap_or(date);
            if date > today || date.year() < 1900 {
                checker.refuse(
                    "birthday",
                    ViolationCode::OutOfRange,
                    "must be a date between 1900-01-01 and today",
                );
            }
            model.birthday = Some(date);
            model.birthday_month = Some(date.month() as i16);
            model.birthday_day = Some(date.day() as i16);
        }
    }
    if let Some(kind) = input.customer_type {
        model.customer_type = kind.as_str().to_owned();
    }
    if let Some(wholesale) = input.wholesale {
        model.wholesale = wholesale;
    }
    if let Some(consent) = input.email_consent {
        let source = checker
            .check("emailConsent", consent_source(&consent))
            .flatten();
        if consent.granted != model.email_consent || model.email_consent_at.is_none() {
            model.email_consent = consent.granted;
            model.email_consent_at = Some(now_ms);
            model.email_consent_source = source;
        }
    }
    if let Some(consent) = input.sms_consent {
        let source = checker
            .check("smsConsent", consent_source(&consent))
            .flatten();
        if consent.granted != model.sms_consent || model.sms_consent_at.is_none() {
            model.sms_consent = consent.granted;
            model.sms_consent_at = Some(now_ms);
            model.sms_consent_source = source;
        }
    }
    if model.sms_consent && model.phone.is_none() {
        checker.refuse(
            "smsConsent",
            ViolationCode::Invalid,
            "SMS consent needs a phone number",
        );
    }
    model.registered_at = input
        .registered_at
        .map(|at| at.timestamp_millis())
        .apply(model.registered_at);
    if let Some(attributes) = input.attributes
        && checker
            .check("attributes", check_attributes(&attributes))
            .is_some()
    {
        model.attributes = attributes;
    }
    checker.finish()?;
    model.updated_at = now_ms;
    Ok(model)
}

fn consent_source(consent: &ConsentInput) -> Result<Option<String>, (ViolationCode, String)> {
    consent
        .source
        .as_deref()
        .map(|s| optional_text(s, MAX_TEXT))
        .transpose()
        .map(Option::flatten)
}

fn text_change(checker: &mut Checker, field: &str, change: Change<String>) -> Change<String> {
    checked_change(checker, field, change, |raw| required_text(raw, MAX_TEXT))
}

/// Checks a `Set` value with `parse`; a refused value is recorded and the field kept.
fn checked_change(
    checker: &mut Checker,
    field: &str,
    change: Change<String>,
    parse: impl FnOnce(&str) -> Result<String, (ViolationCode, String)>,
) -> Change<String> {
    match change {
        Change::Set(raw) if raw.trim().is_empty() => Change::Clear,
        Change::Set(raw) => match checker.check(field, parse(&raw)) {
            Some(value) => Change::Set(value),
            None => Change::Keep,
        },
        other => other,
    }
}

/// A BCP 47 language tag such as `en`, `pl-PL` or `zh-Hant-TW`.
fn parse_locale(raw: &str) -> Result<String, (ViolationCode, String)> {
    let tag = raw.trim();
    let valid = tag.len() <= 35
        && tag.split('-').enumerate().all(|(i, part)| {
            let len_ok = if i == 0 {
                (2..=3).contains(&part.len())
            } else {
                (2..=8).contains(&part.len())
            };
            len_ok && part.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if valid {
        Ok(tag.to_owned())
    } else {
        Err((
            ViolationCode::Invalid,
            "must be a language tag such as en or pl-PL".into(),
        ))
    }
}
