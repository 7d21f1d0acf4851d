//! Message templates: an email (subject, HTML and text parts) or an SMS (text). Campaign
//! message steps send them; a template a campaign uses cannot be deleted.

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::campaigns::{self, StepAction, walk};
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, optional_text, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::template;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder,
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
    pub channel: Option<campaigns::Channel>,
    pub subject: Option<Option<String>>,
    pub body_html: Option<Option<String>>,
    pub body_text: Option<Option<String>>,
}

/// Every template, by name.
pub async fn list(db: &impl ConnectionTrait) -> AppResult<Vec<template::Model>> {
    Ok(template::Entity::find()
        .order_by_asc(template::Column::Name)
        .all(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<template::Model>> {
    Ok(template::Entity::find_by_id(id).one(db).await?)
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
        channel: campaigns::Channel::Email.as_str().to_owned(),
        subject: None,
        body_html: None,
        body_text: None,
        created_at: now_ms,
        updated_at: now_ms,
    };
    let txn = begin_write(db).await?;
    let model = apply(&txn, blank, input, checker).await?;
    let mut active: template::ActiveModel = model.into();
    active = active.reset_all();
    active.id = ActiveValue::NotSet;
    let saved = active.insert(&txn).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Changes a template. Its channel cannot change while a campaign sends it.
pub async fn update(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    id: i64,
    input: TemplateInput,
) -> AppResult<template::Model> {
    let txn = begin_write(db).await?;
    let current = find(&txn, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("template {id} does not exist")))?;
    let mut checker = Checker::new();
    if input.channel.is_some_and(|c| c.as_str() != current.channel)
        && let Some(name) = used_by(&txn, id).await?
    {
        checker.refuse(
            "channel",
            ViolationCode::Conflict,
            format!("campaign {name:?} sends this template on its channel"),
        );
    }
    let mut model = apply(&txn, current, input, checker).await?;
    model.updated_at = to_millis(now);
    let active: template::ActiveModel = model.into();
    let saved = active.reset_all().update(&txn).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes a template no campaign sends.
pub async fn delete(db: &DatabaseConnection, id: i64) -> AppResult<()> {
    let txn = begin_write(db).await?;
    if let Some(name) = used_by(&txn, id).await? {
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

/// The name of a campaign whose steps send template `id`, if any.
async fn used_by(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<String>> {
    Ok(campaigns::list(db)
        .await?
        .into_iter()
        .find(|c| {
            walk(&c.steps).into_iter().any(|(step, _)| {
                matches!(step.action, StepAction::Message { template_id, .. } if template_id == id)
            })
        })
        .map(|c| c.model.name))
}

async fn apply(
    db: &impl ConnectionTrait,
    mut model: template::Model,
    input: TemplateInput,
    mut checker: Checker,
) -> AppResult<template::Model> {
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
    let text_max = if model.channel == "sms" {
        MAX_SMS
    } else {
        MAX_BODY
    };
    text("bodyText", input.body_text, text_max, &mut model.body_text);
    if model.channel == "sms" {
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
    checker.finish()?;
    Ok(model)
}
