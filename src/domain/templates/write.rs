//! Creating, changing and deleting templates: every text is checked when saved (it compiles
//! and names only known variables), and a template a campaign sends keeps its channel.

use super::Channel;
use super::render::{self, Part};
use crate::clock::to_millis;
use crate::db::{WriteTxn, begin_write};
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, optional_text, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{template, template_locale};
use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter,
};

/// The longest email part.
const MAX_BODY: usize = 256 * 1024;
/// The longest SMS (ten concatenated segments).
const MAX_SMS: usize = 1600;

/// Fields of a template. On create, `name` and `channel` are required; on update, `None`
/// leaves a field as it is and `Some(None)` clears an optional one.
#[derive(Clone, Debug, Default)]
pub struct TemplateInput {
    pub name: Option<String>,
    pub channel: Option<Channel>,
    pub subject: Option<Option<String>>,
    pub body_html: Option<Option<String>>,
    pub body_text: Option<Option<String>>,
    /// Replaces every locale variant when given.
    pub locales: Option<Vec<LocaleInput>>,
}

/// A template's text in one locale; absent parts fall back to the template's own.
#[derive(Clone, Debug, Default)]
pub struct LocaleInput {
    pub locale: String,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
}

/// Who sends templates. Campaigns stand above templates, so they answer through this: a
/// template a campaign sends keeps its channel and cannot be deleted.
pub trait Senders: Send + Sync {
    /// The name of one campaign that sends template `template_id`, if any.
    fn sender_of<'a>(
        &'a self,
        txn: &'a WriteTxn,
        template_id: i64,
    ) -> BoxFuture<'a, AppResult<Option<String>>>;
}

/// Creates a template: an email needs a subject and an HTML or text part, an SMS a text.
pub async fn create(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    input: TemplateInput,
) -> AppResult<template::Model> {
    let mut checker = Checker::new();
    if input.name.is_none() {
        checker.refuse("name", ViolationCode::Blank, "must not be blank");
    }
    if input.channel.is_none() {
        checker.refuse("channel", ViolationCode::Blank, "choose EMAIL or SMS");
    }
    let now_ms = to_millis(now);
    let blank = template::Model {
        id: 0,
        name: String::new(),
        channel: Channel::Email.as_str().to_owned(),
        subject: None,
        body_html: None,
        body_text: None,
        created_at: now_ms,
        updated_at: now_ms,
    };
    let txn = begin_write(db).await?;
    let locales_input = input.locales.clone();
    let model = apply(&txn, blank, input, checker).await?;
    let mut active: template::ActiveModel = model.into();
    active = active.reset_all();
    active.id = ActiveValue::NotSet;
    let saved = active.insert(&txn).await?;
    if let Some(variants) = locales_input {
        replace_locales(&txn, saved.id, variants).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// Changes a template. Its channel cannot change while a campaign sends it.
pub async fn update(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    input: TemplateInput,
    senders: &dyn Senders,
) -> AppResult<template::Model> {
    let txn = begin_write(db).await?;
    let current = super::find(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("template {id} does not exist")))?;
    let mut checker = Checker::new();
    if input.channel.is_some_and(|c| c.as_str() != current.channel)
        && let Some(name) = senders.sender_of(&txn, id).await?
    {
        checker.refuse(
            "channel",
            ViolationCode::Conflict,
            format!("campaign {name:?} sends this template on its channel"),
        );
    }
    let locales_input = input.locales.clone();
    let mut model = apply(&txn, current, input, checker).await?;
    model.updated_at = to_millis(now);
    let active: template::ActiveModel = model.into();
    let saved = active.reset_all().update(&txn).await?;
    if let Some(variants) = locales_input {
        replace_locales(&txn, saved.id, variants).await?;
    }
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a template no campaign sends.
pub async fn delete(db: &DatabaseConnection, id: i64, senders: &dyn Senders) -> AppResult<()> {
    let txn = begin_write(db).await?;
    if let Some(name) = senders.sender_of(&txn, id).await? {
        return Err(AppError::invalid(
            &["id"],
            ViolationCode::Conflict,
            format!("campaign {name:?} sends this template; change the campaign first"),
        ));
    }
    crate::domain::records::delete_by_id::<template::Entity>(&txn, id, "template").await?;
    txn.commit().await?;
    Ok(())
}

/// Replaces the template's locale variants (already checked).
async fn replace_locales(
    txn: &impl ConnectionTrait,
    template_id: i64,
    variants: Vec<LocaleInput>,
) -> AppResult<()> {
    template_locale::Entity::delete_many()
        .filter(template_locale::Column::TemplateId.eq(template_id))
        .exec(txn)
        .await?;
    for v in variants {
        template_locale::ActiveModel {
            id: ActiveValue::NotSet,
            template_id: ActiveValue::Set(template_id),
            locale: ActiveValue::Set(v.locale.trim().to_owned()),
            subject: ActiveValue::Set(v.subject),
            body_html: ActiveValue::Set(v.body_html),
            body_text: ActiveValue::Set(v.body_text),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

async fn apply(
    db: &impl ConnectionTrait,
    mut model: template::Model,
    input: TemplateInput,
    mut checker: Checker,
) -> AppResult<template::Model> {
    let locales = input.locales;
    if let Some(raw) = input.name
        && let Some(name) = checker.check("name", required_text(&raw, MAX_TEXT))
    {
        let taken = template::Entity::find()
            .filter(template::Column::Name.eq(name.as_str()))
            .filter(template::Column::Id.ne(model.id))
            .all(db)
            .await?;
        if !taken.is_empty() {
            checker.refuse(
                "name",
                ViolationCode::Taken,
                "another template has this name",
            );
        }
        model.name = name;
    }
    if let Some(channel) = input.channel {
        model.channel = channel.as_str().to_owned();
    }
    let mut text =
        |field: &str, value: Option<Option<String>>, max: usize, current: &mut Option<String>| {
            if let Some(value) = value {
                *current = match value {
                    Some(raw) => checker.check(field, optional_text(&raw, max)).flatten(),
                    None => None,
                };
            }
        };
    text("subject", input.subject, MAX_TEXT, &mut model.subject);
    text("bodyHtml", input.body_html, MAX_BODY, &mut model.body_html);
    let sms = Channel::from_stored(&model.channel) == Channel::Sms;
    let text_max = if sms { MAX_SMS } else { MAX_BODY };
    text("bodyText", input.body_text, text_max, &mut model.body_text);
    if sms {
        if model.body_text.is_none() {
            checker.refuse("bodyText", ViolationCode::Blank, "an SMS needs its text");
        }
        model.subject = None;
        model.body_html = None;
    } else {
        if model.subject.is_none() {
            checker.refuse("subject", ViolationCode::Blank, "an email needs a subject");
        }
        if model.body_html.is_none() && model.body_text.is_none() {
            checker.refuse(
                "bodyHtml",
                ViolationCode::Blank,
                "an email needs an HTML part, a text part or both",
            );
        }
    }
    check_texts(
        &mut checker,
        &[],
        [&model.subject, &model.body_html, &model.body_text],
    );
    if let Some(variants) = &locales {
        let mut seen = std::collections::HashSet::new();
        for (i, v) in variants.iter().enumerate() {
            let index = i.to_string();
            let field = ["locales", index.as_str()];
            let locale = v.locale.trim();
            let valid = !locale.is_empty()
                && locale.len() <= 35
                && locale
                    .split(['-', '_'])
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
            if !valid {
                checker.refuse_at(
                    &["locales", &index, "locale"],
                    ViolationCode::Invalid,
                    "expected a locale tag such as de or pt-BR",
                );
            } else if !seen.insert(locale.to_ascii_lowercase()) {
                checker.refuse_at(
                    &["locales", &index, "locale"],
                    ViolationCode::Taken,
                    "this locale is given twice",
                );
            }
            if sms && (v.subject.is_some() || v.body_html.is_some()) {
                checker.refuse_at(
                    &field,
                    ViolationCode::Invalid,
                    "an SMS variant has only a text",
                );
            }
            let limit = if sms { MAX_SMS } else { MAX_BODY };
            if v.body_text
                .as_ref()
                .is_some_and(|t| t.chars().count() > limit)
                || v.body_html
                    .as_ref()
                    .is_some_and(|t| t.chars().count() > MAX_BODY)
            {
                checker.refuse_at(&field, ViolationCode::TooLong, "a part is too long");
            }
            check_texts(
                &mut checker,
                &field,
                [&v.subject, &v.body_html, &v.body_text],
            );
        }
    }
    checker.finish()?;
    Ok(model)
}

/// Refuses a subject, HTML or text part that does not compile or names unknown variables.
fn check_texts(checker: &mut Checker, prefix: &[&str], texts: [&Option<String>; 3]) {
    let parts = [
        ("subject", Part::Subject),
        ("bodyHtml", Part::Html),
        ("bodyText", Part::Text),
    ];
    for ((name, part), text) in parts.into_iter().zip(texts) {
        if let Some(source) = text
            && let Err(reason) = render::check(part, source)
        {
            let mut path = prefix.to_vec();
            path.push(name);
            checker.refuse_at(&path, ViolationCode::Invalid, reason);
        }
    }
}
