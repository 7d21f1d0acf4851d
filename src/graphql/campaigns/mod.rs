//! Campaigns on the API: the campaign object and its CRUD, every part checked; inputs and
//! their conversion are in [`input`], runs, previews and ticks in [`runs`].

mod input;
mod runs;

pub use runs::{CampaignRunMutation, CampaignRunQuery};

use super::auth::Require;
use super::context::state;
use super::errors::{payload, respond, to_graphql};
use super::scalars::id_arg;
use crate::clock::from_millis;
use crate::domain::campaigns::{self, Campaign as DomainCampaign, CampaignStatus, Reentry};
use crate::graphql::stats::{self, Statistics, StatsBasis};
use async_graphql::{Context, Enum, ID, Json, Object};
use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use input::{CampaignInput, ReentryKind, ReentryValue, to_domain};

/// Where a campaign is in its life.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "CampaignStatus")]
pub enum Status {
    /// Being written: nobody is enrolled.
    Draft,
    /// Enrols customers and advances runs.
    Active,
    /// Enrols nobody and advances no run until activated again.
    Paused,
    /// Finished for good; archiving ends its active runs.
    Archived,
}

impl From<Status> for CampaignStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Draft => CampaignStatus::Draft,
            Status::Active => CampaignStatus::Active,
            Status::Paused => CampaignStatus::Paused,
            Status::Archived => CampaignStatus::Archived,
        }
    }
}

impl From<CampaignStatus> for Status {
    fn from(s: CampaignStatus) -> Self {
        match s {
            CampaignStatus::Draft => Status::Draft,
            CampaignStatus::Active => Status::Active,
            CampaignStatus::Paused => Status::Paused,
            CampaignStatus::Archived => Status::Archived,
        }
    }
}

/// A campaign. Its parts are JSON in the shape of their inputs (amounts in minor units,
/// waits in minutes).
pub struct Campaign(pub DomainCampaign);

#[Object]
impl Campaign {
    async fn id(&self) -> ID {
        ID(self.0.model.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.model.name
    }
    async fn status(&self) -> Status {
        self.0.status.into()
    }
    /// Why Nudge paused the campaign: its stored definition no longer decodes. Saving the
    /// campaign again with valid parts clears it.
    async fn broken_reason(&self) -> Option<String> {
        self.0
            .broken
            .clone()
            .or_else(|| self.0.model.broken_reason.clone())
    }
    async fn anchor(&self) -> Json<serde_json::Value> {
        Json(self.0.model.anchor.clone())
    }
    async fn audience(&self) -> Json<serde_json::Value> {
        Json(self.0.model.audience.clone())
    }
    async fn steps(&self) -> Json<serde_json::Value> {
        Json(self.0.model.steps.clone())
    }
    async fn exit_goal(&self) -> Option<Json<serde_json::Value>> {
        self.0.model.exit_goal.clone().map(Json)
    }
    async fn reentry(&self) -> ReentryValue {
        let (kind, days) = match self.0.reentry {
            Reentry::OnceEver => (ReentryKind::OnceEver, None),
            Reentry::OncePerSubject => (ReentryKind::OncePerSubject, None),
            Reentry::AtMostEveryDays(d) => (ReentryKind::AtMostEveryDays, Some(d)),
        };
        ReentryValue { kind, days }
    }
    async fn send_window(&self) -> Option<Json<serde_json::Value>> {
        self.0.model.send_window.clone().map(Json)
    }
    /// When it was first activated.
    async fn activated_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.activated_at.map(from_millis)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.created_at)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        from_millis(self.0.model.updated_at)
    }
    /// The campaign's figures over a range of days (the last 30 by default), with each step's
    /// (a funnel), per day and per link.
    async fn stats(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        basis: Option<StatsBasis>,
    ) -> async_graphql::Result<Statistics> {
        let steps = crate::domain::campaigns::flow::outline(&self.0.steps)
            .into_iter()
            .map(|(id, kind, depth)| (id, kind.to_owned(), depth))
            .collect();
        let ask = stats::Ask { from, to, basis };
        stats::of_campaign(ctx, ask, self.0.model.id, steps).await
    }
}

payload!(
    /// The result of creating or updating a campaign.
    CampaignPayload, campaign: Campaign
);
payload!(
    /// The result of deleting a campaign: the id it had.
    DeleteCampaignPayload, deleted_campaign_id: ID
);

#[derive(Default)]
pub struct CampaignQuery;

#[Object]
impl CampaignQuery {
    /// Every campaign, oldest first.
    #[graphql(guard = "Require::READ")]
    async fn campaigns(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Campaign>> {
        let state = state(ctx)?;
        let list = campaigns::list(&state.db).await.map_err(to_graphql)?;
        Ok(list.into_iter().map(Campaign).collect())
    }

    #[graphql(guard = "Require::READ")]
    async fn campaign(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Campaign>> {
        let state = state(ctx)?;
        let found = campaigns::find(&state.db, id_arg("id", &id)?)
            .await
            .map_err(to_graphql)?;
        Ok(found.map(Campaign))
    }
}

#[derive(Default)]
pub struct CampaignMutation;

#[Object(guard = "Require::ADMIN")]
impl CampaignMutation {
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        input: CampaignInput,
    ) -> async_graphql::Result<CampaignPayload> {
        let state = state(ctx)?;
        let input = to_domain(input, &state.settings.store.currency);
        let result = campaigns::create(&state.db, state.clock.now(), input).await;
        respond(result.map(Campaign), "input")
    }

    /// Changes a campaign; step ids keep runs in place across edits. Archiving ends its
    /// active runs.
    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CampaignInput,
    ) -> async_graphql::Result<CampaignPayload> {
        let state = state(ctx)?;
        let id = id_arg("id", &id)?;
        let input = to_domain(input, &state.settings.store.currency);
        let result = campaigns::update(&state.db, state.clock.now(), id, input).await;
        respond(result.map(Campaign), "input")
    }

    /// Deletes a campaign with its runs and their logs.
    async fn delete_campaign(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeleteCampaignPayload> {
        let state = state(ctx)?;
        let row_id = id_arg("id", &id)?;
        respond(
            campaigns::delete(&state.db, row_id, state.clock.now())
                .await
                .map(|()| id),
            "",
        )
    }
}
