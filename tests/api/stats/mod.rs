//! Statistics: every counter, both day bases, attribution's rules, a converted run crediting
//! one step, and the exactness of the sums against the raw tables.

mod attribution;
mod counters;
mod exactness;

use crate::deliveries::wait_until;
use crate::helpers::TestApp;
use serde_json::{Value, json};

/// A mail client's user agent: its opens are a person's.
pub const PERSON: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Thunderbird/128.0";

/// The figures asked for in these tests.
pub const FIGURES: &str = "entered notInAudience active completed converted exited runsFailed reached fired queued sent skipped skippedByReason { reason count } deferred failed unknown delivered bounced unsubscribed opens uniqueOpens machineOpens clicks uniqueClicks conversions revenue { amount currency } openRate clickRate conversionRate";

/// The shop's statistics over 2026-11-20 … 2026-11-30 by `basis`.
pub async fn shop(app: &TestApp, basis: &str) -> Value {
    app.admin_data(
        &format!(
            "{{ statistics(from: \"2026-11-20\", to: \"2026-11-30\", basis: {basis}) {{ timeZone totals {{ {FIGURES} }} days {{ date figures {{ {FIGURES} }} }} links(first: 10) {{ edges {{ node {{ url clicks uniqueClicks }} }} }} }} }}"
        ),
        json!({}),
    )
    .await["statistics"]
        .clone()
}

/// The figures of `date` in a statistics answer.
pub fn day<'a>(statistics: &'a Value, date: &str) -> &'a Value {
    statistics["days"]
        .as_array()
        .and_then(|days| days.iter().find(|d| d["date"] == date))
        .map(|d| &d["figures"])
        .unwrap_or(&Value::Null)
}

/// The tracked links of the message at `index` (the open pixel first, then each link).
pub async fn tracking_urls(app: &TestApp, index: usize) -> (String, Vec<String>) {
    let list = wait_until(app, |l| l.get(index).is_some_and(|d| d["status"] == "SENT")).await;
    let html = list[index]["bodyHtml"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let local = |url: &str| url.replace("https://nudge.example", &app.address);
    let pixel = html
        .split("<img src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(local)
        .expect("a pixel");
    let links = html
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|url| url.contains("/t/c/"))
        .map(local)
        .collect();
    (pixel, links)
}

/// Fetches `url` as `agent` without following redirects; returns the status.
pub async fn hit(url: &str, agent: &str) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(agent)
        .build()
        .expect("client");
    client.get(url).send().await.expect("hit").status().as_u16()
}
