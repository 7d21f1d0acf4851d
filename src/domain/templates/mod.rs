//! Message templates: an email (subject, HTML and text parts) or an SMS (text), with variants
//! per locale (the template's own text is the fallback). Campaign message steps send them; a
//! template a campaign uses cannot be deleted. Every text is a minijinja template, checked when
//! saved (see [`render`]) and rendered when sent ([`variants`]).

pub mod context;
pub mod render;
pub mod variants;
mod write;

pub use crate::domain::message::Channel;
pub use variants::{CompiledVariant, Rendered, Variant, locales, locales_of, pick, preview};
pub use write::{LocaleInput, Senders, TemplateInput, create, delete, update};

use crate::error::AppResult;
use entity::template;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};

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
