//! The built-in console: sessions, every page's numbers against the API's, its headers, the
//! live feed, and (in `browser`) the whole of it in headless Chromium.

mod browser;
mod pages;
mod sessions;
mod writes;

use crate::deliveries::{spawn_with_smtp, wait_until};
use crate::helpers::{TestApp, ev};
use crate::smtp_sink::SmtpSink;
use crate::stats::{PERSON, hit, tracking_urls};
use serde_json::{Value, json};

/// A client that follows no redirect and keeps no cookie: each test says what it sends.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// Signs in with `key` as a browser on the server's own page would; returns the session
/// cookie (`name=value`).
pub async fn sign_in(app: &TestApp, key: &str) -> String {
    let response = sign_in_response(app, key, Some(&app.address)).await;
    assert_eq!(response.status(), 303, "signed in");
    session_cookie(&response).expect("a session cookie")
}

pub async fn sign_in_response(app: &TestApp, key: &str, origin: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(format!("{}/console/sign-in", app.address))
        .form(&[("key", key)]);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.expect("posted")
}

/// The `name=value` of the session cookie a response sets.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("nudge_console="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// GETs a console page with the cookie: (status, body, response headers).
pub async fn page(
    app: &TestApp,
    cookie: &str,
    path: &str,
) -> (u16, String, reqwest::header::HeaderMap) {
    let response = client()
        .get(format!("{}{path}", app.address))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("got");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.expect("a body"), headers)
}

/// The form token of a console page (every form but the sign-in carries it).
pub fn form_token(html: &str) -> String {
    html.split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned()
}

/// The `data-value` of each `data-figure` in `html`, in page order: (figure, value).
pub fn figures(html: &str) -> Vec<(String, String)> {
    html.split("data-figure=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let value = rest.split("data-value=\"").nth(1)?.split('"').next()?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// The first value of `figure` in `html`.
pub fn figure(html: &str, name: &str) -> String {
    figures(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no figure {name}"))
}

/// The part of `html` from the element carrying `attribute` (e.g. `data-campaign="3"`) to
/// the end of its row.
pub fn row<'a>(html: &'a str, attribute: &str) -> &'a str {
    let start = html
        .find(attribute)
        .unwrap_or_else(|| panic!("no {attribute}"));
    let rest = &html[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

/// A rate as the API gives it and as the page carries it: the same number, or both none.
pub fn same_rate(api: &Value, page: &str) -> bool {
    match api.as_f64() {
        Some(x) => page.parse::<f64>().is_ok_and(|p| (p - x).abs() < 1e-9),
        None => page.is_empty(),
    }
}

/// What [`seed`] made.
pub struct Seeded {
    pub campaign: String,
    pub action: String,
    pub segment: String,
    /// The mail server, kept alive with the app.
    pub _sink: SmtpSink,
}

/// A shop with something on every page: a campaign that sent two emails (one opened and
/// clicked, then credited with an order), an action that fired, a segment with a member, and a
/// suppressed address.
pub async fn seed() -> (TestApp, Seeded) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    app.create_customer(
        json!({ "externalId": "ann", "email": "ann@example.com", "firstName": "Ann",
        "emailConsent": { "granted": true, "source": "checkout" } }),
    )
    .await;
    let template = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } } }",
            json!({ "input": { "name": "follow-up", "channel": "EMAIL", "subject": "Thanks, {{ customer.first_name }}",
                "bodyHtml": "<p>Thanks!</p><a href=\"https://shop.example/refill\">Refill</a> <a href=\"{{ links.unsubscribe }}\">Unsubscribe</a>",
                "bodyText": "Thanks! https://shop.example/refill" } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { message } } }",
            json!({ "input": { "name": "After the order", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
                "steps": [
                    { "id": "thanks", "message": { "channel": "EMAIL", "templateId": template } },
                    { "id": "pause", "wait": { "days": 1 } },
                    { "id": "opened", "filter": { "condition": { "messageOpened": { "stepId": "thanks" } },
                        "yes": [{ "id": "reminder", "message": { "channel": "EMAIL", "templateId": template } }] } }
                ] } }),
        )
        .await["createCampaign"]["campaign"]["id"]
        .as_str()
        .expect("a campaign")
        .to_owned();
    let action = app
        .create_action(json!({
            "name": "Tag viewers", "trigger": "PRODUCT_VIEWED",
            "effects": [{ "setTag": { "tagId": app.create_tag("viewer").await } }],
            "repeat": { "kind": "EVERY_TIME" }
        }))
        .await;
    let segment = app
        .admin_data(
            "mutation($input: SegmentInput!) { createSegment(input: $input) { segment { id } userErrors { message } } }",
            json!({ "input": { "name": "Buyers", "condition": { "ordersCount": { "min": 1 } } } }),
        )
        .await["createSegment"]["segment"]["id"]
        .as_str()
        .expect("a segment")
        .to_owned();
    app.admin_data(
        "mutation { addSuppression(channel: EMAIL, address: \"gone@example.com\") { userErrors { code } } }",
        json!({}),
    )
    .await;

    let storefront = app.create_key("STOREFRONT").await;
    let order = |id: &str, total: &str| {
        json!({ "orderPlaced": { "orderExternalId": id, "total": total, "currency": "USD",
            "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": total }] } })
    };
    app.record(
        &storefront,
        json!([ev(
            "o1",
            "ann",
            "2026-11-22T11:00:00Z",
            order("o1", "10.00")
        )]),
    )
    .await;
    app.processed("o1").await;
    let tick = |at: &str| format!("mutation {{ runCampaignTick(at: \"{at}\") {{ advanced }} }}");
    app.admin_data(&tick("2026-11-22T12:00:00Z"), json!({}))
        .await;
    wait_until(&app, |l| l.len() == 1 && l[0]["status"] == "SENT").await;
    let (pixel, links) = tracking_urls(&app, 0).await;
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(hit(&pixel, PERSON).await, 200);
    assert_eq!(hit(&links[0], PERSON).await, 302);
    app.record(
        &storefront,
        json!([
            ev(
                "v1",
                "ann",
                "2026-11-22T13:30:00Z",
                json!({ "productViewed": { "productExternalId": "p1" } })
            ),
            ev("o2", "ann", "2026-11-22T14:00:00Z", order("o2", "25.00")),
        ]),
    )
    .await;
    app.processed("o2").await;
    app.processed("v1").await;
    app.clock.advance(chrono::Duration::days(1));
    app.admin_data(&tick("2026-11-23T12:30:00Z"), json!({}))
        .await;
    wait_until(&app, |l| {
        l.iter().filter(|d| d["status"] == "SENT").count() >= 3
    })
    .await;
    (
        app,
        Seeded {
            campaign,
            action,
            segment,
            _sink: sink,
        },
    )
}
