//! The console's pages. Each runs one GraphQL document as the visitor ([`super::ask`]) and
//! draws the answer: figures carry `data-figure` and the raw value, so a browser test can
//! compare them with the API's, and each links to the list behind it.

use super::charts::{self, Series, Unit};
use super::render;
use super::{Visitor, ask, visitor};
use crate::clock::to_millis;
use crate::domain::stats::read::MAX_DAYS;
use crate::domain::time::local_date;
use crate::graphql::AppSchema;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use minijinja::{Value as Page, context};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Signs the visitor in, runs `document` and returns the data, or the page that says why
/// not: sign in again, this key may not read it, or what was wrong with the request.
async fn load(
    schema: &AppSchema,
    state: &AppState,
    req: &HttpRequest,
    nav: &str,
    document: &str,
    variables: Value,
) -> Result<(Visitor, Value), HttpResponse> {
    let visitor = visitor(state, req).await?;
    let answer = ask(schema, state, &visitor, document, variables).await;
    match answer.refusal(req, &visitor, nav) {
        Some(page) => Err(page),
        None => Ok((visitor, answer.data)),
    }
}

macro_rules! loaded {
    ($e:expr) => {
        match $e {
            Ok(loaded) => loaded,
            Err(response) => return response,
        }
    };
}

/// A day range from the query string (`from`, `to`, or `days` back from today).
#[derive(Deserialize, Default)]
pub struct Range {
    from: Option<String>,
    to: Option<String>,
    days: Option<u32>,
}

impl Range {
    /// The range as GraphQL variables, and what the form shows. A date that does not parse
    /// is left out (the API's default of the last 30 days applies) and named in `problem`.
    fn variables(&self, state: &AppState) -> (Value, Option<String>) {
        let parse = |text: &Option<String>, name: &str| -> Result<Option<NaiveDate>, String> {
            match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| format!("{name} {t:?} is not a date (YYYY-MM-DD)")),
            }
        };
        if let Some(days) = self
            .days
            .filter(|d| (1..=MAX_DAYS).contains(&i64::from(*d)))
        {
            let today = local_date(to_millis(state.clock.now()), state.settings.store.time_zone);
            let from = today - chrono::Duration::days(i64::from(days) - 1);
            return (json!({ "from": from, "to": today }), None);
        }
        match (parse(&self.from, "from"), parse(&self.to, "to")) {
            (Ok(from), Ok(to)) => (json!({ "from": from, "to": to }), None),
            (Err(problem), _) | (_, Err(problem)) => (json!({}), Some(problem)),
        }
    }
}

fn f64_of(value: &Value) -> f64 {
    value.as_f64().unwrap_or(0.0)
}

fn money_of(value: &Value) -> f64 {
    value["amount"]
        .as_str()
        .and_then(|a| a.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn dates_of(days: &Value) -> Vec<String> {
    days.as_array()
        .map(|days| {
            days.iter()
                .map(|d| d["date"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn daily_values(days: &Value, field: &str, read: fn(&Value) -> f64) -> Vec<f64> {
    days.as_array()
        .map(|days| days.iter().map(|d| read(&d["figures"][field])).collect())
        .unwrap_or_default()
}

/// A segment's `field` (members, joined, left) at each day of its history.
fn history_values(history: &Value, field: &str) -> Vec<f64> {
    history
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| f64_of(&d[field]))
        .collect()
}

/// Gives each item (a campaign, an action) a sparkline of its daily `field`, labelled
/// `{what} {name}, {from} to {to}`.
fn add_sparklines(items: &mut [Value], field: &str, what: &str) {
    for item in items {
        let stats = &item["stats"];
        let values = daily_values(&stats["days"], field, f64_of);
        let label = format!(
            "{what} {}, {} to {}",
            item["name"].as_str().unwrap_or_default(),
            stats["from"].as_str().unwrap_or_default(),
            stats["to"].as_str().unwrap_or_default()
        );
        item["sparkline"] = json!(charts::sparkline(&label, &values));
    }
}

const CAMPAIGNS: &str = r#"query ConsoleCampaigns {
  campaigns {
    id name status brokenReason
    stats {
      from to timeZone
      totals { entered active converted sent uniqueOpens uniqueClicks openRate clickRate revenue { amount currency } }
      days { date figures { sent } }
    }
  }
}"#;

pub async fn campaigns(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let (visitor, data) =
        loaded!(load(&schema, &state, &req, "campaigns", CAMPAIGNS, json!({})).await);
    let mut campaigns = data["campaigns"].as_array().cloned().unwrap_or_default();
    add_sparklines(&mut campaigns, "sent", "Messages sent per day by");
    render::page(
        &req,
        &visitor,
        "campaigns.html",
        "campaigns",
        context! { campaigns => Page::from_serialize(&campaigns), time_zone => state.settings.store.time_zone.name() },
    )
}

const CAMPAIGN: &str = r#"query ConsoleCampaign($id: ID!, $from: NaiveDate, $to: NaiveDate) {
  campaign(id: $id) {
    id name status brokenReason anchor steps activatedAt createdAt
    stats(from: $from, to: $to) {
      from to timeZone
      totals {
        entered notInAudience active completed converted exited runsFailed
        queued sent skipped failed bounced unsubscribed opens uniqueOpens clicks uniqueClicks
        conversions revenue { amount currency } openRate clickRate conversionRate runConversionRate
      }
      steps {
        stepId kind depth
        totals { reached queued sent skipped uniqueOpens uniqueClicks converted conversions revenue { amount currency } openRate clickRate }
      }
      days { date figures { sent uniqueOpens uniqueClicks conversions revenue { amount currency } } }
      links(first: 10) { nodes { url clicks uniqueClicks } }
    }
  }
  campaignRuns(campaignId: $id, first: 20) {
    id customerId subject status enteredAt endedAt endReason stepId nextDueAt
    log { stepId at outcome detail deliveryId }
  }
}"#;

pub async fn campaign(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    range: web::Query<Range>,
) -> HttpResponse {
    let (mut variables, range_problem) = range.variables(&state);
    variables["id"] = json!(id.as_str());
    let (visitor, data) =
        loaded!(load(&schema, &state, &req, "campaigns", CAMPAIGN, variables).await);
    let campaign = &data["campaign"];
    if campaign.is_null() {
        return render::not_found(&req, &format!("There is no campaign {}.", id.as_str()));
    }
    let stats = &campaign["stats"];
    let days = &stats["days"];
    let dates = dates_of(days);
    let tz = stats["timeZone"].as_str().unwrap_or("UTC");
    let currency = stats["totals"]["revenue"]["currency"]
        .as_str()
        .unwrap_or_default();
    let activity = charts::daily(
        "activity",
        "Sends, opens, clicks and conversions per day",
        Unit::Count("messages"),
        tz,
        &dates,
        &[
            Series {
                name: "sent",
                values: daily_values(days, "sent", f64_of),
            },
            Series {
                name: "unique opens",
                values: daily_values(days, "uniqueOpens", f64_of),
            },
            Series {
                name: "unique clicks",
                values: daily_values(days, "uniqueClicks", f64_of),
            },
            Series {
                name: "conversions",
                values: daily_values(days, "conversions", f64_of),
            },
        ],
    );
    let revenue = charts::bars(
        "revenue",
        "Revenue per day",
        Unit::Money(currency),
        tz,
        &dates,
        Series {
            name: "revenue",
            values: daily_values(days, "revenue", money_of),
        },
    );
    let described = describe_steps(&campaign["steps"]);
    let entered = f64_of(&stats["totals"]["entered"]);
    let steps: Vec<Value> = stats["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|step| {
                    let id = step["stepId"].as_str().unwrap_or_default();
                    let (what, branch) = described.get(id).cloned().unwrap_or_default();
                    let mut step = step.clone();
                    step["what"] = json!(what);
                    step["branch"] = json!(branch);
                    let reached = f64_of(&step["totals"]["reached"]);
                    step["share"] = json!(if entered > 0.0 {
                        (reached / entered * 100.0).clamp(0.0, 100.0).round()
                    } else {
                        0.0
                    });
                    step
                })
                .collect()
        })
        .unwrap_or_default();
    render::page(
        &req,
        &visitor,
        "campaign.html",
        "campaigns",
        context! {
            campaign => Page::from_serialize(campaign),
            steps => Page::from_serialize(&steps),
            runs => Page::from_serialize(&data["campaignRuns"]),
            activity => Page::from_safe_string(activity),
            revenue => Page::from_safe_string(revenue),
            range_problem,
            anchor => serde_json::to_string(&campaign["anchor"]).unwrap_or_default(),
        },
    )
}

/// What each step does, in a few words, and the branch it sits in, by step id.
fn describe_steps(steps: &Value) -> HashMap<String, (String, String)> {
    fn walk(steps: &Value, branch: &str, out: &mut HashMap<String, (String, String)>) {
        for step in steps.as_array().into_iter().flatten() {
            let id = step["id"].as_str().unwrap_or_default().to_owned();
            let what = if let Some(wait) = step.get("wait").filter(|w| !w.is_null()) {
                describe_wait(wait)
            } else if let Some(message) = step.get("message").filter(|m| !m.is_null()) {
                format!(
                    "{} with template {}",
                    message["channel"]
                        .as_str()
                        .unwrap_or("message")
                        .to_lowercase(),
                    message["templateId"]
                )
            } else if let Some(filter) = step.get("filter").filter(|f| !f.is_null()) {
                walk(&filter["yes"], &format!("{id}: yes"), out);
                walk(&filter["no"], &format!("{id}: no"), out);
                "filter".to_owned()
            } else if step.get("effect").is_some_and(|e| !e.is_null()) {
                let count = step["effect"]["effects"].as_array().map_or(0, Vec::len);
                format!("{count} effect{}", if count == 1 { "" } else { "s" })
            } else {
                String::new()
            };
            out.insert(id, (what, branch.to_owned()));
        }
    }
    let mut out = HashMap::new();
    walk(steps, "", &mut out);
    out
}

fn describe_wait(wait: &Value) -> String {
    for (unit, name) in [("minutes", "minute"), ("hours", "hour"), ("days", "day")] {
        if let Some(n) = wait[unit].as_i64() {
            return format!("wait {n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    let until = &wait["until"];
    match until["offsetDays"].as_i64() {
        Some(offset) => format!(
            "wait until day {offset:+} at {:02}:{:02}",
            until["hour"].as_i64().unwrap_or(0),
            until["minute"].as_i64().unwrap_or(0)
        ),
        None => "wait".into(),
    }
}

const ACTIONS: &str = r#"query ConsoleActions {
  customerActions {
    id name active brokenReason trigger
    stats {
      from to timeZone
      totals { fired sent conversions revenue { amount currency } }
      days { date figures { fired } }
    }
  }
}"#;

pub async fn actions(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let (visitor, data) = loaded!(load(&schema, &state, &req, "actions", ACTIONS, json!({})).await);
    let mut actions = data["customerActions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    add_sparklines(&mut actions, "fired", "Firings per day of");
    render::page(
        &req,
        &visitor,
        "actions.html",
        "actions",
        context! { actions => Page::from_serialize(&actions), time_zone => state.settings.store.time_zone.name() },
    )
}

const ACTION: &str = r#"query ConsoleAction($id: ID!, $from: NaiveDate, $to: NaiveDate) {
  customerAction(id: $id) {
    id name active brokenReason trigger activeFrom activeTo
    stats(from: $from, to: $to) {
      from to timeZone
      totals { fired queued sent skipped uniqueOpens uniqueClicks conversions revenue { amount currency } }
      days { date figures { fired } }
    }
  }
  actionFirings(actionId: $id, first: 50) { id customerId eventId firedAt effects }
}"#;

pub async fn action(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    range: web::Query<Range>,
) -> HttpResponse {
    let (mut variables, range_problem) = range.variables(&state);
    variables["id"] = json!(id.as_str());
    let (visitor, data) = loaded!(load(&schema, &state, &req, "actions", ACTION, variables).await);
    let action = &data["customerAction"];
    if action.is_null() {
        return render::not_found(
            &req,
            &format!("There is no customer action {}.", id.as_str()),
        );
    }
    let days = &action["stats"]["days"];
    let chart = charts::bars(
        "firings",
        "Firings per day",
        Unit::Count("firings"),
        action["stats"]["timeZone"].as_str().unwrap_or("UTC"),
        &dates_of(days),
        Series {
            name: "fired",
            values: daily_values(days, "fired", f64_of),
        },
    );
    let firings: Vec<Value> = data["actionFirings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let mut f = f.clone();
            f["effectsText"] = json!(serde_json::to_string(&f["effects"]).unwrap_or_default());
            f
        })
        .collect();
    render::page(
        &req,
        &visitor,
        "action.html",
        "actions",
        context! {
            action => Page::from_serialize(action),
            firings => Page::from_serialize(&firings),
            chart => Page::from_safe_string(chart),
            range_problem,
        },
    )
}

const SEGMENTS: &str = r#"query ConsoleSegments {
  segments { id name description memberCount countHistory { date members joined left } }
}"#;

pub async fn segments(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let (visitor, data) =
        loaded!(load(&schema, &state, &req, "segments", SEGMENTS, json!({})).await);
    let tz = state.settings.store.time_zone.name();
    let mut segments = data["segments"].as_array().cloned().unwrap_or_default();
    for (n, segment) in segments.iter_mut().enumerate() {
        let history = &segment["countHistory"];
        let members = history_values(history, "members");
        let chart = charts::daily(
            &format!("segment-{n}"),
            &format!(
                "Members of {} at the end of each day",
                segment["name"].as_str().unwrap_or_default()
            ),
            Unit::Count("customers"),
            tz,
            &dates_of(history),
            &[Series {
                name: "members",
                values: members,
            }],
        );
        segment["chart"] = json!(chart);
    }
    render::page(
        &req,
        &visitor,
        "segments.html",
        "segments",
        context! { segments => Page::from_serialize(&segments) },
    )
}

const SEGMENT: &str = r#"query ConsoleSegment($id: ID!, $after: String) {
  segment(id: $id) {
    id name description condition memberCount createdAt updatedAt
    countHistory { date members joined left }
    members(first: 50, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id externalId email phone }
    }
  }
}"#;

#[derive(Deserialize)]
pub struct After {
    after: Option<String>,
}

pub async fn segment(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    page: web::Query<After>,
) -> HttpResponse {
    let variables = json!({ "id": id.as_str(), "after": page.after });
    let (visitor, data) =
        loaded!(load(&schema, &state, &req, "segments", SEGMENT, variables).await);
    let segment = &data["segment"];
    if segment.is_null() {
        return render::not_found(&req, &format!("There is no segment {}.", id.as_str()));
    }
    let history = &segment["countHistory"];
    let chart = charts::daily(
        "members",
        "Members at the end of each day",
        Unit::Count("customers"),
        state.settings.store.time_zone.name(),
        &dates_of(history),
        &[
            Series {
                name: "members",
                values: history_values(history, "members"),
            },
            Series {
                name: "joined",
                values: history_values(history, "joined"),
            },
            Series {
                name: "left",
                values: history_values(history, "left"),
            },
        ],
    );
    render::page(
        &req,
        &visitor,
        "segment.html",
        "segments",
        context! {
            segment => Page::from_serialize(segment),
            condition => serde_json::to_string_pretty(&segment["condition"]).unwrap_or_default(),
            next_members => segment["members"]["pageInfo"]["hasNextPage"]
                .as_bool()
                .unwrap_or(false)
                .then(|| query_string(&[("after", segment["members"]["pageInfo"]["endCursor"].as_str().unwrap_or_default())])),
            chart => Page::from_safe_string(chart),
        },
    )
}

/// The outbox's filters, as the query string carries them.
#[derive(Deserialize, Default, serde::Serialize)]
pub struct OutboxFilter {
    status: Option<String>,
    channel: Option<String>,
    campaign: Option<String>,
    action: Option<String>,
    customer: Option<String>,
    before: Option<String>,
}

/// The statuses and channels the filters offer (the API's enums).
const STATUSES: &[&str] = &[
    "QUEUED",
    "SENDING",
    "SENT",
    "DELIVERED",
    "FAILED",
    "SKIPPED",
    "UNKNOWN",
];
const CHANNELS: &[&str] = &["EMAIL", "SMS"];

const OUTBOX: &str = r#"query ConsoleOutbox($filter: DeliveryFilter, $before: String) {
  outbox { status channel count }
  deliveries(last: 50, before: $before, filter: $filter) {
    pageInfo { hasPreviousPage startCursor }
    nodes {
      id channel purpose status reason recipient subject attemptCount
      createdAt dueAt sentAt campaignId actionId customerId
    }
  }
}"#;

pub async fn outbox(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    filter: web::Query<OutboxFilter>,
) -> HttpResponse {
    let pick = |value: &Option<String>, allowed: &[&str]| {
        value
            .as_deref()
            .map(str::to_ascii_uppercase)
            .filter(|v| allowed.contains(&v.as_str()))
    };
    let present = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let status = pick(&filter.status, STATUSES);
    let channel = pick(&filter.channel, CHANNELS);
    let variables = json!({
        "filter": {
            "status": status,
            "channel": channel,
            "campaignId": present(&filter.campaign),
            "actionId": present(&filter.action),
            "customerId": present(&filter.customer),
        },
        "before": present(&filter.before),
    });
    let (visitor, data) = loaded!(load(&schema, &state, &req, "outbox", OUTBOX, variables).await);
    let connection = &data["deliveries"];
    let mut deliveries = connection["nodes"].as_array().cloned().unwrap_or_default();
    deliveries.reverse();
    // The outbox now: a row per status, a count per channel.
    let counts: Vec<Value> = STATUSES
        .iter()
        .map(|status| {
            let of = |channel: &str| {
                data["outbox"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["status"] == *status && c["channel"] == channel)
                    .map_or(0, |c| c["count"].as_i64().unwrap_or(0))
            };
            json!({ "status": status, "email": of("EMAIL"), "sms": of("SMS"), "total": of("EMAIL") + of("SMS") })
        })
        .collect();
    let filters = [
        ("status", status.clone()),
        ("channel", channel.clone()),
        ("campaign", present(&filter.campaign)),
        ("action", present(&filter.action)),
        ("customer", present(&filter.customer)),
    ];
    let query = |skip: &str, more: Option<(&str, &str)>| {
        let pairs: Vec<(&str, &str)> = filters
            .iter()
            .filter(|(name, _)| *name != skip)
            .filter_map(|(name, value)| Some((*name, value.as_deref()?)))
            .chain(more)
            .collect();
        query_string(&pairs)
    };
    let older = connection["pageInfo"]["hasPreviousPage"]
        .as_bool()
        .unwrap_or(false)
        .then(|| {
            let cursor = connection["pageInfo"]["startCursor"]
                .as_str()
                .unwrap_or_default();
            query("", Some(("before", cursor)))
        });
    render::page(
        &req,
        &visitor,
        "outbox.html",
        "outbox",
        context! {
            deliveries => Page::from_serialize(&deliveries),
            counts => Page::from_serialize(&counts),
            statuses => STATUSES,
            channels => CHANNELS,
            status, channel,
            campaign => present(&filter.campaign),
            action => present(&filter.action),
            customer => present(&filter.customer),
            without_status => query("status", None),
            older,
            paged => present(&filter.before).is_some(),
        },
    )
}

/// `pairs` as a query string, each value percent-encoded.
fn query_string(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

const DELIVERY: &str = r#"query ConsoleDelivery($id: ID!) {
  delivery(id: $id) {
    id channel purpose status reason customerId campaignId runId actionId templateId
    recipient locale subject bodyText providerId attemptCount
    createdAt dueAt sentAt openedAt clickedAt
    attempts { attempt startedAt finishedAt outcome detail providerId }
    trackingEvents { kind at detail }
  }
}"#;

pub async fn delivery(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let (visitor, data) = loaded!(
        load(
            &schema,
            &state,
            &req,
            "outbox",
            DELIVERY,
            json!({ "id": id.as_str() })
        )
        .await
    );
    let delivery = &data["delivery"];
    if delivery.is_null() {
        return render::not_found(
            &req,
            &format!("There is no message {} in the outbox.", id.as_str()),
        );
    }
    render::page(
        &req,
        &visitor,
        "delivery.html",
        "outbox",
        context! { delivery => Page::from_serialize(delivery) },
    )
}

#[derive(Deserialize)]
pub struct SuppressionPage {
    channel: Option<String>,
    before: Option<String>,
}

const SUPPRESSIONS: &str = r#"query ConsoleSuppressions($channel: Channel, $before: String) {
  suppressions(last: 50, before: $before, channel: $channel) {
    pageInfo { hasPreviousPage startCursor }
    nodes { id channel address reason customerId createdAt }
  }
}"#;

pub async fn suppressions(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
    page: web::Query<SuppressionPage>,
) -> HttpResponse {
    let channel = page
        .channel
        .as_deref()
        .map(str::to_ascii_uppercase)
        .filter(|c| CHANNELS.contains(&c.as_str()));
    let variables = json!({ "channel": channel, "before": page.before });
    let (visitor, data) = loaded!(
        load(
            &schema,
            &state,
            &req,
            "suppressions",
            SUPPRESSIONS,
            variables
        )
        .await
    );
    let connection = &data["suppressions"];
    let mut list = connection["nodes"].as_array().cloned().unwrap_or_default();
    list.reverse();
    let older = connection["pageInfo"]["hasPreviousPage"]
        .as_bool()
        .unwrap_or(false)
        .then(|| {
            let cursor = connection["pageInfo"]["startCursor"]
                .as_str()
                .unwrap_or_default();
            let pairs: Vec<(&str, &str)> = channel
                .as_deref()
                .map(|c| ("channel", c))
                .into_iter()
                .chain([("before", cursor)])
                .collect();
            query_string(&pairs)
        });
    render::page(
        &req,
        &visitor,
        "suppressions.html",
        "suppressions",
        context! { suppressions => Page::from_serialize(&list), channels => CHANNELS, channel, older },
    )
}

const LIVE: &str =
    r#"query ConsoleLive { roles { id name } tags { id name } segments { id name } }"#;

pub async fn live(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let (visitor, data) = loaded!(load(&schema, &state, &req, "live", LIVE, json!({})).await);
    // The names the feed shows for the ids it receives (made later: the id).
    let names = |list: &Value| -> serde_json::Map<String, Value> {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                (
                    item["id"].as_str().unwrap_or_default().to_owned(),
                    item["name"].clone(),
                )
            })
            .collect()
    };
    let names = json!({
        "role": names(&data["roles"]),
        "tag": names(&data["tags"]),
        "segment": names(&data["segments"]),
    });
    render::page(
        &req,
        &visitor,
        "live.html",
        "live",
        context! { names => names.to_string() },
    )
}

const HEALTH: &str = r#"query ConsoleHealth {
  health {
    ready problems { check message }
    processorLagSeconds dispatcherLagSeconds processorLagBoundSeconds dispatcherLagBoundSeconds
    dispatching checkedAt
    tasks { name running restarts lastFailure }
  }
}"#;

pub async fn health(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> HttpResponse {
    let (visitor, data) = loaded!(load(&schema, &state, &req, "health", HEALTH, json!({})).await);
    render::page(
        &req,
        &visitor,
        "health.html",
        "health",
        context! { health => Page::from_serialize(&data["health"]) },
    )
}
