//! Message templates on the API: CRUD.

use super::auth::Require;
use super::channel::Channel;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::scalars::id_arg;
use super::stats::{self, Statistics, StatsBasis};
use crate::clock::from_millis;
use crate::domain::campaigns::CampaignSenders;
use crate::domain::stats::scope::DEFAULT_LOCALE;
use crate::domain::templates::Channel as DomainChannel;
use crate::domain::templates::{self, TemplateInput as DomainInput};
use crate::graphql::loaders::{Loaders, rows_of};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use entity::template;

/// Fields of a template. On create, `name` and `channel` are required; an email needs a
/// subject and an HTML or text part, an SMS its text. On update, omitted fields stay as they
/// are and `null` clears an optional one.
#[derive(InputObject)]
pub struct TemplateInput {
    pub name: Option<String>,
    pub channel: Option<Channel>,
    pub subject: MaybeUndefined<String>,
    pub body_html: MaybeUndefined<String>,
    /// The text part of an email, or the text of an SMS.
    pub body_text: MaybeUndefined<String>,
    /// Replaces every locale variant when given (`[]` removes them all).
    pub locales: Option<Vec<TemplateLocaleInput>>,
}

/// A template's text in one locale (`de`, `pt-BR`). A customer whose locale is `pt-BR` gets
/// the `pt-BR` variant, else `pt`, else the template's own text; parts a variant leaves out
/// come from the template.
#[derive(InputObject)]
pub struct TemplateLocaleInput {
    pub locale: String,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
}

fn to_domain(input: TemplateInput) -> DomainInput {
    let field = |v: MaybeUndefined<String>| match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(s) => Some(Some(s)),
    };
    DomainInput {
        name: input.name,
        channel: input.channel.map(Into::into),
        subject: field(input.subject),
        body_html: field(input.body_html),
        body_text: field(input.body_text),
        locales: input.locales.map(|list| {
            list.into_iter()
                .map(|l| templates::LocaleInput {
                    locale: l.locale,
                    subject: l.subject,
                    body_html: l.body_html,
                    body_text: l.body_text,
                })
                .collect()
        }),
    }
}

/// A template's text in one locale.
#[derive(SimpleObject)]
pub struct TemplateLocale {
    pub locale: String,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
}

/// A message rendered for one customer.
#[derive(SimpleObject)]
pub struct RenderedMessage {
    /// The locale variant used; `null` for the template's own text.
    pub locale: Option<String>,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
}

impl From<templates::Rendered> for RenderedMessage {
    fn from(r: templates::Rendered) -> Self {
        Self {
            locale: r.locale,
            subject: r.subject,
            body_html: r.body_html,
            body_text: r.body_text,
        }
    }
}

/// A message template.
pub struct Template(pub template::Model);

#[Object]
impl Template {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn channel(&self) -> Channel {
        DomainChannel::from_stored(&self.0.channel).into()
    }
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    async fn body_html(&self) -> Option<&str> {
        self.0.body_html.as_deref()
    }
    async fn body_text(&self) -> Option<&str> {
        self.0.body_text.as_deref()
    }
    /// The locale variants, by locale.
    async fn locales(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TemplateLocale>> {
        let loaders = ctx.data::<Loaders>()?;
        let list = rows_of(&loaders.template_locales, self.0.id).await?;
        Ok(list
            .into_iter()
            .map(|l| TemplateLocale {
                locale: l.locale,
                subject: l.subject,
                body_html: l.body_html,
                body_text: l.body_text,
            })
            .collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        from_millis(self.0.updated_at)
    }
    /// The figures of every message rendered from this template over a range of days (the
    /// last 30 by default), with each variant's by locale.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        basis: Option<StatsBasis>,
    ) -> async_graphql::Result<Statistics> {
        let loaders = ctx.data::<Loaders>()?;
        let mut locales = vec![DEFAULT_LOCALE.to_owned()];
        locales.extend(
            rows_of(&loaders.template_locales, self.0.id)
                .await?
                .into_iter()
                .map(|l| l.locale),
        );
        let ask = stats::Ask { from, to, basis };
        stats::of_template(ctx, ask, self.0.id, locales).await
    }
}

payload!(
    /// The result of creating or updating a template.
    TemplatePayload, template: Template
);
payload!(
    /// The result of deleting a template: the id it had.
    DeleteTemplatePayload, deleted_template_id: ID
);

#[derive(Default)]
pub struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// Every template, by name.
    #[graphql(guard = "Require::ADMIN")]
    async fn templates(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Template>> {
        let state = state(ctx)?;
        let list = templates::list(&state.db).await.map_err(to_graphql)?;
        Ok(list.into_iter().map(Template).collect())
    }

    #[graphql(guard = "Require::ADMIN")]
    async fn template(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Template>> {
        let state = state(ctx)?;
        let found = templates::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Template))
    }

    /// Renders a template for a real customer as it would be sent now, in the customer's
    /// locale, with their latest order and their cart. Writes nothing.
    #[graphql(guard = "Require::ADMIN")]
    async fn preview_template(
        &self,
        ctx: &Context<'_>,
        template_id: ID,
        customer_id: ID,
    ) -> async_graphql::Result<RenderedMessage> {
        let state = state(ctx)?;
        let rendered = templates::preview(
            &state.db,
            id_arg("templateId", &template_id)?,
            id_arg("customerId", &customer_id)?,
            &state.settings.store.currency,
        )
        .await
        .map_err(to_graphql)?;
        Ok(rendered.into())
    }
}

#[derive(Default)]
pub struct TemplateMutation;

#[Object(guard = "Require::ADMIN")]
impl TemplateMutation {
    async fn create_template(
        &self,
        ctx: &Context<'_>,
        input: TemplateInput,
    ) -> async_graphql::Result<TemplatePayload> {
        let state = state(ctx)?;
        let result = templates::create(&state.db, state.clock.now(), to_domain(input)).await;
        respond(result.map(Template), "input")
    }

    async fn update_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: TemplateInput,
    ) -> async_graphql::Result<TemplatePayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let result = templates::update(
            &state.db,
            state.clock.now(),
            id,
            to_domain(input),
            &CampaignSenders,
        )
        .await;
        respond(result.map(Template), "input")
    }

    /// Deletes a template no campaign sends.
    async fn delete_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteTemplatePayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(
            templates::delete(&state.db, row_id, &CampaignSenders)
                .await
                .map(|()| id),
            "",
        )
    }
}
