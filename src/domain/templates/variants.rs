//! What a template sends at render time: the variant for the customer's locale, compiled once
//! per message and rendered with its context.

use super::render::{self, Part};
use super::{context, find};
use crate::db::in_list;
use crate::domain::orders::carts::open_cart;
use crate::domain::records::group_by;
use crate::error::{AppError, AppResult, ViolationCode};
use entity::{template, template_locale};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

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

    /// The variables the texts use, top-level and by their paths.
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
    let mut locales = locales_of(db, &[template_id]).await?;
    Ok(locales.remove(&template_id).unwrap_or_default())
}

/// The locale variants of each of `template_ids`, by locale.
pub async fn locales_of(
    db: &impl ConnectionTrait,
    template_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<template_locale::Model>>> {
    let rows = template_locale::Entity::find()
        .filter(template_locale::Column::TemplateId.is_in(in_list(template_ids.iter().copied())))
        .order_by_asc(template_locale::Column::Locale)
        .all(db)
        .await?;
    Ok(group_by(rows, |l| l.template_id))
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
        predicted_cart: None,
    };
    let invalid = |reason| AppError::invalid(&["templateId"], ViolationCode::Invalid, reason);
    let compiled = variant.compile().map_err(invalid)?;
    let cart = open_cart(db, customer.id).await?;
    let links = context::Links {
        predicted_cart: cart.as_ref().map(|_| "#predicted-cart".to_owned()),
        ..links
    };
    let about = context::About {
        predicted_cart_id: cart.map(|c| c.id),
        ..context::About::default()
    };
    let ctx = context::for_customer(
        db,
        &customer,
        about,
        &links,
        store_currency,
        &compiled.used_variables(),
    )
    .await?;
    compiled.render(&ctx).map_err(invalid)
}
