//! Sending: a real SMTP server receives the mail, wiremock plays the SMS API; consent,
//! suppression, quiet hours, caps, retries with an injected clock, tracking and lease recovery.

mod email;
mod leases;
mod runs;
mod sms;

use crate::helpers::{TestApp, ev, spawn_app_with, user_errors};
use crate::smtp_sink::SmtpSink;
use nudge::config::Settings;
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const DELIVERY: &str = "id status reason purpose recipient locale subject bodyHtml bodyText providerId attemptCount sentAt openedAt clickedAt attempts { attempt outcome detail } trackingEvents { kind detail }";

/// Fast polling; quiet hours and frequency caps off unless a test sets them.
pub(crate) fn fast(settings: &mut Settings) {
    settings.delivery.poll = Duration::from_millis(20);
    settings.delivery.quiet_hours = None;
    settings.delivery.email_cap = None;
    settings.delivery.sms_cap = None;
}

pub(crate) async fn spawn_with_smtp(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(move |s| {
        fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.delivery.public_url = "https://nudge.example".into();
    })
    .await
}

pub(crate) async fn spawn_with_sms(api: &MockServer) -> TestApp {
    let url = api.uri();
    spawn_app_with(move |s| {
        fast(s);
        s.delivery.sms = Some(nudge::delivery::SmsSettings {
            api_url: url,
            account_sid: "AC123".into(),
            auth_token: "secret-token".into(),
            from: Some("+14155550100".into()),
            messaging_service_sid: None,
            // Under the mock's 3 s delay of the timeout test, over a loaded machine's pauses.
            timeout: Duration::from_millis(1500),
        });
        s.delivery.public_url = "https://nudge.example".into();
    })
    .await
}

/// A customer with both channels and both consents, and an action that sends on every login.
pub(crate) async fn customer_and_action(app: &TestApp, effect: Value, extra: Value) -> String {
    let mut input = json!({
        "externalId": "ann",
        "email": "ann@example.com",
        "phone": "+14155550111",
        "firstName": "Ann",
        "emailConsent": { "granted": true, "source": "checkout" },
        "smsConsent": { "granted": true, "source": "checkout" }
    });
    if let (Some(base), Some(more)) = (input.as_object_mut(), extra.as_object()) {
        base.extend(more.clone());
    }
    let id = app.create_customer(input).await;
    app.create_action(json!({
        "name": "On login",
        "trigger": "LOGGED_IN",
        "effects": [effect],
        "repeat": { "kind": "EVERY_TIME" }
    }))
    .await;
    id
}

pub(crate) async fn log_in(app: &TestApp, event_id: &str) {
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            event_id,
            "ann",
            "2026-11-22T11:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed(event_id).await;
}

pub(crate) async fn deliveries(app: &TestApp) -> Vec<Value> {
    let data = app
        .admin_data(
            &format!("{{ deliveries(first: 50) {{ edges {{ node {{ {DELIVERY} }} }} }} }}"),
            json!({}),
        )
        .await;
    data["deliveries"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Waits (10 s at most) until the deliveries, oldest first, satisfy `done`; returns them.
pub(crate) async fn wait_until(app: &TestApp, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let list = deliveries(app).await;
        if done(&list) {
            return list;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deliveries did not get there: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until delivery number `index` has `status`; returns it.
pub(crate) async fn wait_for(app: &TestApp, index: usize, status: &str) -> Value {
    let list = wait_until(app, |l| l.get(index).is_some_and(|d| d["status"] == status)).await;
    list[index].clone()
}

pub(crate) fn email_effect() -> Value {
    json!({ "sendEmail": {
        "subject": "Hi {{ customer.first_name }}",
        "bodyHtml": "<html><body><p>Hello {{ customer.first_name }}</p><a href=\"https://shop.example/sale?a=1&b=2\">Sale</a> <a href=\"{{ links.unsubscribe }}\">Unsubscribe</a></body></html>",
        "bodyText": "Hello {{ customer.first_name }}, see https://shop.example/sale"
    }})
}
