//! Statistics over GraphQL: `statistics` for the shop (or one channel), and `stats` on a
//! campaign (with its steps), a customer action and a template (with its variants). Every
//! read is the folded per-day sums of the range plus the facts not folded yet — never a scan
//! of messages or tracking hits.

mod figures;

pub use figures::Figures;

use super::auth::Require;
use super::channel::Channel;
use super::connection::{encode_cursor, page_request};
use super::context::state;
use super::errors::to_graphql;
use super::loaders::{Loaders, TallyKey, load_error};
use crate::domain::stats::days::{date_of, day_number};
use crate::domain::stats::read::{Basis, Range, Tally};
use crate::domain::stats::{Metric, Scope};
use crate::domain::templates::Channel as DomainChannel;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, Object, SimpleObject};
use chrono::NaiveDate;
use chrono_tz::Tz;
use std::collections::HashMap;

/// Which day a figure is counted on.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StatsBasis {
    /// The day it happened: the send, the open, the click, the order.
    #[default]
    Activity,
    /// The day its message was sent (for runs: the day the run entered) — a cohort: "of what
    /// went out that day, how much was opened, clicked, bought".
    Cohort,
}

impl From<StatsBasis> for Basis {
    fn from(b: StatsBasis) -> Self {
        match b {
            StatsBasis::Activity => Basis::Activity,
            StatsBasis::Cohort => Basis::Cohort,
        }
    }
}

/// One day's figures.
#[derive(SimpleObject)]
pub struct DayFigures {
    /// The day, in the store's time zone.
    pub date: NaiveDate,
    pub figures: Figures,
}

/// Clicks on one link.
#[derive(SimpleObject, Clone, Debug)]
pub struct LinkStatistics {
    pub url: String,
    pub clicks: i64,
    /// Messages in which this link was clicked.
    pub unique_clicks: i64,
}

/// A campaign step's figures over the range.
#[derive(SimpleObject)]
pub struct StepStatistics {
    pub step_id: String,
    /// `wait`, `filter`, `message` or `effect`.
    pub kind: String,
    /// 0 for the top level, 1 inside a filter's branch, and so on.
    pub depth: i32,
    pub totals: Figures,
}

/// A template variant's figures over the range.
#[derive(SimpleObject)]
pub struct VariantStatistics {
    /// The variant's locale; `default` for the template's own texts.
    pub locale: String,
    pub totals: Figures,
}

/// Figures of one scope over a range of days in the store's time zone.
pub struct Statistics {
    range: Range,
    basis: StatsBasis,
    tz: Tz,
    currency: String,
    tally: Tally,
    steps: Option<Vec<(String, String, i32, Tally)>>,
    variants: Option<Vec<(String, Tally)>>,
}

impl Statistics {
    fn figures(&self, tally: &Tally) -> Figures {
        Figures {
            counts: tally.totals(),
            active: Some(tally.active),
            currency: self.currency.clone(),
        }
    }

    fn ranked_links(&self) -> Vec<LinkStatistics> {
        let totals = self.tally.totals();
        let mut links: HashMap<&str, LinkStatistics> = HashMap::new();
        for ((metric, key), value) in &totals {
            let entry = links.entry(key.as_str()).or_insert_with(|| LinkStatistics {
                url: key.clone(),
                clicks: 0,
                unique_clicks: 0,
            });
            match metric {
                Metric::LinkClicks => entry.clicks += value,
                Metric::LinkUniqueClicks => entry.unique_clicks += value,
                _ => {}
            }
        }
        let mut list: Vec<LinkStatistics> = links
            .into_values()
            .filter(|l| l.clicks != 0 || l.unique_clicks != 0)
            .collect();
        list.sort_by(|a, b| b.clicks.cmp(&a.clicks).then_with(|| a.url.cmp(&b.url)));
        list
    }
}

#[Object]
impl Statistics {
    /// The first day of the range.
    async fn from(&self) -> NaiveDate {
        self.range.from
    }
    /// The last day of the range (included).
    async fn to(&self) -> NaiveDate {
        self.range.to
    }
    async fn basis(&self) -> StatsBasis {
        self.basis
    }
    /// The IANA time zone the days are drawn in (the store's).
    async fn time_zone(&self) -> String {
        self.tz.name().to_owned()
    }
    /// The sums over the range.
    async fn totals(&self) -> Figures {
        self.figures(&self.tally)
    }
    /// Every day of the range, oldest first, including days with nothing.
    async fn days(&self) -> Vec<DayFigures> {
        let (from, to) = (day_number(self.range.from), day_number(self.range.to));
        (from..=to)
            .map(|day| DayFigures {
                date: date_of(day),
                figures: Figures {
                    counts: self.tally.days.get(&day).cloned().unwrap_or_default(),
                    active: None,
                    currency: self.currency.clone(),
                },
            })
            .collect()
    }
    /// A campaign's steps in flow order (null on other scopes).
    async fn steps(&self) -> Option<Vec<StepStatistics>> {
        self.steps.as_ref().map(|steps| {
            steps
                .iter()
                .map(|(id, kind, depth, tally)| StepStatistics {
                    step_id: id.clone(),
                    kind: kind.clone(),
                    depth: *depth,
                    totals: self.figures(tally),
                })
                .collect()
        })
    }
    /// A template's variants by locale (null on other scopes).
    async fn variants(&self) -> Option<Vec<VariantStatistics>> {
        self.variants.as_ref().map(|variants| {
            variants
                .iter()
                .map(|(locale, tally)| VariantStatistics {
                    locale: locale.clone(),
                    totals: self.figures(tally),
                })
                .collect()
        })
    }
    /// Links by clicks, most clicked first.
    #[graphql(complexity = "super::connection::cost(first, None, child_complexity)")]
    async fn links(
        &self,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, LinkStatistics>> {
        let page = page_request(first, after, None, None)?;
        let start = page.after.map_or(0, |a| (a.max(0) + 1) as usize);
        let links = self.ranked_links();
        let end = (start + page.size as usize).min(links.len());
        let mut connection = Connection::new(start > 0, end < links.len());
        for (offset, link) in links.into_iter().enumerate().take(end).skip(start) {
            connection
                .edges
                .push(Edge::new(encode_cursor(offset as i64), link));
        }
        Ok(connection)
    }
}

/// What a scope's statistics are read for.
pub(crate) struct Ask {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub basis: Option<StatsBasis>,
}

/// Reads `main` (and `parts`, keyed for the caller) over the asked range.
async fn read_scopes(
    ctx: &Context<'_>,
    ask: Ask,
    main: Scope,
    parts: Vec<Scope>,
) -> async_graphql::Result<(Statistics, Vec<Tally>)> {
    let state = state(ctx)?;
    let tz = state.settings.store.time_zone;
    let now_ms = crate::clock::to_millis(state.clock.now());
    let range = Range::asked(ask.from, ask.to, now_ms, tz).map_err(to_graphql)?;
    let basis = ask.basis.unwrap_or_default();
    // The scope is shown per day; its parts (steps, variants) as totals only.
    let key = |scope: &Scope, by_day: bool| TallyKey {
        scope: scope.clone(),
        range,
        basis: basis.into(),
        by_day,
    };
    let loader = &ctx.data::<Loaders>()?.tallies;
    let mut keys = vec![key(&main, true)];
    keys.extend(parts.iter().map(|p| key(p, false)));
    let mut tallies = loader.load_many(keys.clone()).await.map_err(load_error)?;
    let mut take = |k: &TallyKey| tallies.remove(k).unwrap_or_default();
    let tally = take(&keys[0]);
    let parts = keys[1..].iter().map(&mut take).collect();
    let statistics = Statistics {
        range,
        basis,
        tz,
        currency: state.settings.store.currency.clone(),
        tally,
        steps: None,
        variants: None,
    };
    Ok((statistics, parts))
}

/// The statistics of a campaign, with its steps (`id`, kind, depth) in flow order.
pub(crate) async fn of_campaign(
    ctx: &Context<'_>,
    ask: Ask,
    campaign_id: i64,
    steps: Vec<(String, String, i32)>,
) -> async_graphql::Result<Statistics> {
    let parts = steps
        .iter()
        .map(|(id, _, _)| Scope::Step(campaign_id, id.clone()))
        .collect();
    let (mut statistics, tallies) =
        read_scopes(ctx, ask, Scope::Campaign(campaign_id), parts).await?;
    statistics.steps = Some(
        steps
            .into_iter()
            .zip(tallies)
            .map(|((id, kind, depth), tally)| (id, kind, depth, tally))
            .collect(),
    );
    Ok(statistics)
}

/// The statistics of a customer action.
pub(crate) async fn of_action(
    ctx: &Context<'_>,
    ask: Ask,
    action_id: i64,
) -> async_graphql::Result<Statistics> {
    Ok(read_scopes(ctx, ask, Scope::Action(action_id), Vec::new())
        .await?
        .0)
}

/// The statistics of a template, with its variants (`default` and each locale it has).
pub(crate) async fn of_template(
    ctx: &Context<'_>,
    ask: Ask,
    template_id: i64,
    locales: Vec<String>,
) -> async_graphql::Result<Statistics> {
    let parts = locales
        .iter()
        .map(|l| Scope::Variant(template_id, l.clone()))
        .collect();
    let (mut statistics, tallies) =
        read_scopes(ctx, ask, Scope::Template(template_id), parts).await?;
    statistics.variants = Some(locales.into_iter().zip(tallies).collect());
    Ok(statistics)
}

#[derive(Default)]
pub struct StatsQuery;

#[Object]
impl StatsQuery {
    /// The whole shop's figures (or one channel's) over a range of days in the store's time
    /// zone: the last 30 days when `from` and `to` are not given; at most 400 days.
    #[graphql(guard = "Require::READ")]
    async fn statistics(
        &self,
        ctx: &Context<'_>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<Channel>,
        basis: Option<StatsBasis>,
    ) -> async_graphql::Result<Statistics> {
        let scope = match channel {
            Some(c) => Scope::Channel(DomainChannel::from(c).as_str().to_owned()),
            None => Scope::Shop,
        };
        let ask = Ask { from, to, basis };
        Ok(read_scopes(ctx, ask, scope, Vec::new()).await?.0)
    }
}
