//! Message templates: an email (subject, HTML and text parts) or an SMS (text), with variants
//! per locale (the template's own text is the fallback). Campaign message steps send them; a
//! template a campaign uses cannot be deleted. Every text is a minijinja template, checked when
//! saved (see [`render`]) and rendered when sent.

pub mod context;
pub mod render;

use crate::clock::to_millis;
use crate::db::begin_write;
use crate::domain::campaigns::{self, StepAction, walk};
use crate::domain::validate::Checker;
use crate::domain::values::{MAX_TEXT, optional_text, required_text};
use crate::error::{AppError, AppResult, ViolationCode};
use chrono::{DateTime, Utc};
use entity::{template, template_locale};
use render::Part;
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

/// The texts of a message in one locale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// `None`: the template's own (fallback) text.
    pub locale: Option<String>,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
}

/// A rendered message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub locale: Option<String>,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
}

impl Variant {
    /// Compiles the variant's texts once for one message; fails with the part and the reason.
    pub fn compile(&self) -> Result<CompiledVariant<'_>, String> {
        fn part<'v>(
            part: Part,
            source: &'v Option<String>,
            label: &str,
        ) -> Result<Option<render::Compiled<'v>>, String> {
            source
                .as_deref()
                .map(|s| render::compile(part, s).map_err(|e| format!("{label}: {e}")))
                .transpose()
        }
        Ok(CompiledVariant {
            locale: self.locale.clone(),
            subject: part(Part::Subject, &self.subject, "subject")?,
            body_html: part(Part::Html, &self.body_html, "HTML part")?,
            body_text: part(Part::Text, &self.body_text, "text part")?,
        })
    }
}

/// A variant's texts, compiled.
pub struct CompiledVariant<'v> {
    locale: Option<String>,
    subject: Option<render::Compiled<'v>>,
    body_html: Option<render::Compiled<'v>>,
    body_text: Option<render::Compiled<'v>>,
}

impl CompiledVariant<'_> {
    fn parts(&self) -> impl Iterator<Item = &render::Compiled<'_>> {
        [&self.subject, &self.body_html, &self.body_text]
            .into_iter()
            .flatten()
    }

    /// The top-level variables the texts use.
    pub fn used_variables(&self) -> std::collections::HashSet<String> {
        self.parts().flat_map(|p| p.variables()).collect()
    }

    /// The texts rendered with `context`; fails with the part and the reason.
    pub fn render(&self, context: &minijinja::Value) -> Result<Rendered, String> {
        let part = |compiled: &Option<render::Compiled<'_>>, label: &str| {
            compiled
                .as_ref()
                .map(|c| c.render(context).map_err(|e| format!("{label}: {e}")))
                .transpose()
        };
        Ok(Rendered {
            locale: self.locale.clone(),
            subject: part(&self.subject, "subject")?
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            body_html: part(&self.body_html, "HTML part")?,
            body_text: part(&self.body_text, "text part")?,
        })
    }
}

/// A template's locale variants, by locale.
pub async fn locales(
    db: &impl ConnectionTrait,
    template_id: i64,
) -> AppResult<Vec<template_locale::Model>> {
    Ok(template_locale::Entity::find()
        .filter(template_locale::Column::TemplateId.eq(template_id))
        .order_by_asc(template_locale::Column::Locale)
        .all(db)
        .await?)
}

/// The variant for `locale`: the exact locale (`pt-BR`), else its language (`pt`), else the
/// template's own text. Parts a variant leaves out come from the template.
pub fn pick(
    template: &template::Model,
    variants: &[template_locale::Model],
    locale: Option<&str>,
) -> Variant {
    let fallback = Variant {
        locale: None,
        subject: template.subject.clone(),
        body_html: template.body_html.clone(),
        body_text: template.body_text.clone(),
    };
    let Some(locale) = locale.map(str::trim).filter(|l| !l.is_empty()) else {
        return fallback;
    };
    let language = locale.split(['-', '_']).next().unwrap_or(locale);
    let found = variants
        .iter()
        .find(|v| v.locale.eq_ignore_ascii_case(locale))
        .or_else(|| {
            variants
                .iter()
                .find(|v| v.locale.eq_ignore_ascii_case(language))
        });
    match found {
        None => fallback,
        Some(v) => Variant {
            locale: Some(v.locale.clone()),
            subject: v.subject.clone().or(fallback.subject),
            body_html: v.body_html.clone().or(fallback.body_html),
            body_text: v.body_text.clone().or(fallback.body_text),
        },
    }
}

/// Renders template `template_id` for customer `customer_id` as it would be sent now (links
/// point nowhere); fails when either does not exist or the template does not render.
pub async fn preview(
    db: &impl ConnectionTrait,
    template_id: i64,
    customer_id: i64,
    store_currency: &str,
) -> AppResult<Rendered> {
    let template = find(db, template_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("template {template_id} does not exist")))?;
    let customer = crate::domain::customers::find(db, customer_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("customer {customer_id} does not exist")))?;
    let variants = locales(db, template_id).await?;
    let variant = pick(&template, &variants, customer.locale.as_deref());
    let links = context::Links {
        unsubscribe: "#unsubscribe".into(),
        view_in_browser: "#view-in-browser".into(),
    };
    let invalid = |reason| AppError::invalid(&["templateId"], ViolationCode::Invalid, reason);
    let compiled = variant.compile().map_err(invalid)?;
    let ctx = context::for_customer(
        db,
        &customer,
        context::About::default(),
        &links,
        store_currency,
        &compiled.used_variables(),
    )
    .await?;
    compiled.render(&ctx).map_err(invalid)
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
    let sms = model.channel == "sms";
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
