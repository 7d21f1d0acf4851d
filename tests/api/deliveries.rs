//! Sending: a real SMTP server receives the mail, wiremock plays the SMS API; consent,
//! suppression, quiet hours, caps, retries with an injected clock, tracking and lease recovery.

use crate::helpers::{TestApp, ev, spawn_app_with, user_errors};
use crate::smtp_sink::SmtpSink;
use nudge::config::Settings;
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DELIVERY: &str = "id status reason purpose recipient locale subject bodyHtml bodyText providerId attemptCount sentAt openedAt clickedAt attempts { attempt outcome detail } trackingEvents { kind detail }";

/// Fast polling; quiet hours and frequency caps off unless a test sets them.
fn fast(settings: &mut Settings) {
    settings.delivery.poll = Duration::from_millis(20);
    settings.delivery.quiet_hours = None;
    settings.delivery.email_cap = None;
    settings.delivery.sms_cap = None;
}

async fn spawn_with_smtp(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(move |s| {
        fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.delivery.public_url = "https://nudge.example".into();
    })
    .await
}

async fn spawn_with_sms(api: &MockServer) -> TestApp {
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
async fn customer_and_action(app: &TestApp, effect: Value, extra: Value) -> String {
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

async fn log_in(app: &TestApp, event_id: &str) {
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

async fn deliveries(app: &TestApp) -> Vec<Value> {
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
async fn wait_until(app: &TestApp, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
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
async fn wait_for(app: &TestApp, index: usize, status: &str) -> Value {
    let list = wait_until(app, |l| l.get(index).is_some_and(|d| d["status"] == status)).await;
    list[index].clone()
}

fn email_effect() -> Value {
    json!({ "sendEmail": {
        "subject": "Hi {{ customer.first_name }}",
        "bodyHtml": "<html><body><p>Hello {{ customer.first_name }}</p><a href=\"https://shop.example/sale?a=1&b=2\">Sale</a> <a href=\"{{ links.unsubscribe }}\">Unsubscribe</a></body></html>",
        "bodyText": "Hello {{ customer.first_name }}, see https://shop.example/sale"
    }})
}

#[tokio::test]
async fn an_email_reaches_a_real_smtp_server_with_both_parts_and_one_click_unsubscribe() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    customer_and_action(&app, email_effect(), json!({})).await;

    // Act
    log_in(&app, "l1").await;
    let sent = wait_for(&app, 0, "SENT").await;

    // Assert: the server got one message with both parts and the unsubscribe headers.
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "<nudge@localhost>");
    assert_eq!(mail.to, vec!["<ann@example.com>".to_owned()]);
    assert_eq!(mail.header("Subject").as_deref(), Some("Hi Ann"));
    assert!(
        mail.header("Content-Type")
            .unwrap_or_default()
            .starts_with("multipart/alternative")
    );
    assert!(mail.data.contains("Content-Type: text/plain"));
    assert!(mail.data.contains("Content-Type: text/html"));
    assert_eq!(
        mail.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let unsubscribe = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
    assert!(
        unsubscribe.starts_with("<https://nudge.example/u/"),
        "{unsubscribe}"
    );
    assert!(!unsubscribe.contains("ann"), "no personal data in links");
    assert_eq!(
        sent["providerId"],
        mail.header("Message-ID").expect("Message-ID")
    );
    assert_eq!(sent["subject"], "Hi Ann");
    assert_eq!(sent["recipient"], "ann@example.com");
    assert_eq!(sent["attempts"][0]["outcome"], "sent");

    // The shop's link goes through a signed redirect, and the pixel records an open.
    let html = sent["bodyHtml"].as_str().expect("html");
    assert!(!html.contains("https://shop.example/sale"), "{html}");
    assert!(html.contains("href=\"https://nudge.example/u/"), "{html}");
    assert!(
        html.contains("<img src=\"https://nudge.example/t/o/"),
        "{html}"
    );
    let pixel = html
        .split("<img src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a pixel")
        .replace("https://nudge.example", &app.address);
    let image = app.client.get(&pixel).send().await.expect("pixel");
    assert_eq!(image.headers()["content-type"], "image/gif");
    let click = html
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a tracked link")
        .replace("https://nudge.example", &app.address);
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect = no_redirect.get(&click).send().await.expect("click");
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "https://shop.example/sale?a=1&b=2"
    );
    let forged = no_redirect
        .get(format!("{click}x"))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), 404);

    // Act: the mail client's one-click POST.
    let one_click = unsubscribe
        .trim_matches(['<', '>'])
        .replace("https://nudge.example", &app.address);
    let page = app.client.get(&one_click).send().await.expect("page");
    assert!(
        page.text()
            .await
            .unwrap_or_default()
            .contains("<form method=\"post\">")
    );
    let response = app
        .client
        .post(&one_click)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .expect("one-click");
    assert_eq!(response.status(), 200);

    // Assert: consent revoked and recorded, address suppressed, the next mail not sent.
    let customer = app
        .admin_data(
            "{ customer(externalId: \"ann\") { consent { email { granted source } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        customer["customer"]["consent"]["email"],
        json!({ "granted": false, "source": "one-click unsubscribe" })
    );
    let list = app
        .admin_data(
            "{ suppressions { edges { node { channel address reason } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list["suppressions"]["edges"][0]["node"],
        json!({ "channel": "EMAIL", "address": "ann@example.com", "reason": "unsubscribed" })
    );
    let first = &deliveries(&app).await[0];
    let kinds: Vec<&str> = first["trackingEvents"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["opened", "clicked", "unsubscribed"]);
    assert!(!first["openedAt"].is_null() && !first["clickedAt"].is_null());
    log_in(&app, "l2").await;
    let skipped = wait_for(&app, 1, "SKIPPED").await;
    assert_eq!(skipped["reason"], "suppressed: unsubscribed");
    assert_eq!(sink.count(), 1);
}

#[tokio::test]
async fn an_sms_goes_to_the_api_and_the_status_callback_marks_it_delivered() {
    // Arrange
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC123/Messages.json"))
        .and(body_string_contains("To=%2B14155550111"))
        .and(body_string_contains("From=%2B14155550100"))
        .and(body_string_contains(
            "StatusCallback=https%3A%2F%2Fnudge.example%2Fsms%2Fstatus",
        ))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1", "status": "queued" })),
        )
        .expect(1)
        .mount(&api)
        .await;
    let app = spawn_with_sms(&api).await;
    customer_and_action(
        &app,
        json!({ "sendSms": { "body": "Hi {{ customer.first_name }}" } }),
        json!({}),
    )
    .await;

    // Act
    log_in(&app, "l1").await;
    let sent = wait_for(&app, 0, "SENT").await;

    // Assert
    assert_eq!(sent["providerId"], "SM1");
    assert_eq!(sent["bodyText"], "Hi Ann");
    let requests = api.received_requests().await.expect("recorded");
    let auth = requests[0].headers["authorization"]
        .to_str()
        .unwrap_or_default();
    assert!(auth.starts_with("Basic "), "basic auth");

    // A callback with a bad signature is refused; a signed one is recorded.
    let params = vec![
        ("MessageSid".to_owned(), "SM1".to_owned()),
        ("MessageStatus".to_owned(), "delivered".to_owned()),
    ];
    let url = format!("{}/sms/status", app.address);
    let forged = app
        .client
        .post(&url)
        .header("X-Twilio-Signature", "bad")
        .form(&params)
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 403);
    let signature = nudge::delivery::sms::twilio_signature(
        "secret-token",
        "https://nudge.example/sms/status",
        &params,
    );
    let signed = app
        .client
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .expect("sent");
    assert_eq!(signed.status(), 204);
    let delivered = wait_for(&app, 0, "DELIVERED").await;
    assert_eq!(delivered["trackingEvents"][0]["kind"], "delivered");

    // An inbound STOP revokes SMS consent and suppresses the number.
    let inbound = vec![
        ("From".to_owned(), "+14155550111".to_owned()),
        ("Body".to_owned(), " stop ".to_owned()),
    ];
    let signature = nudge::delivery::sms::twilio_signature(
        "secret-token",
        "https://nudge.example/sms/inbound",
        &inbound,
    );
    let stop = app
        .client
        .post(format!("{}/sms/inbound", app.address))
        .header("X-Twilio-Signature", signature)
        .form(&inbound)
        .send()
        .await
        .expect("sent");
    assert_eq!(stop.status(), 200);
    let customer = app
        .admin_data(
            "{ customer(externalId: \"ann\") { consent { sms { granted source } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        customer["customer"]["consent"]["sms"],
        json!({ "granted": false, "source": "sms STOP" })
    );
    log_in(&app, "l2").await;
    let skipped = wait_for(&app, 1, "SKIPPED").await;
    assert_eq!(skipped["reason"], "suppressed: stop");
}

#[tokio::test]
async fn transient_sms_failures_are_retried_with_backoff_until_sent() {
    // Arrange: a 500, then a 429, then success.
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({ "message": "oops" })))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({ "message": "slow down" })))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM9" })))
        .mount(&api)
        .await;
    let app = spawn_with_sms(&api).await;
    customer_and_action(&app, json!({ "sendSms": { "body": "Hello" } }), json!({})).await;

    // Act / Assert: each retry waits for its backoff on the injected clock.
    log_in(&app, "l1").await;
    // Queued again after its first attempt (not still queued before it, nor sending).
    let first = wait_until(&app, |l| {
        l.first()
            .is_some_and(|d| d["attemptCount"] == 1 && d["status"] == "QUEUED")
    })
    .await[0]
        .clone();
    assert_eq!(first["reason"], "attempt 1 failed: HTTP 500: oops");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        api.received_requests().await.expect("recorded").len(),
        1,
        "not before its time"
    );
    app.clock.advance(chrono::Duration::seconds(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.received_requests().await.expect("recorded").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "second attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its outcome is written (and its next due time taken from the clock) before the clock
    // moves on: a request received is not yet an attempt recorded.
    wait_until(&app, |l| {
        l.first()
            .is_some_and(|d| d["attemptCount"] == 2 && d["status"] == "QUEUED")
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(59));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        api.received_requests().await.expect("recorded").len(),
        2,
        "the second wait is 60 s"
    );
    app.clock.advance(chrono::Duration::seconds(1));
    let sent = wait_for(&app, 0, "SENT").await;
    let outcomes: Vec<&str> = sent["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|a| a["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, vec!["transient", "transient", "sent"]);
    assert_eq!(sent["attempts"][1]["detail"], "HTTP 429: slow down");
}

#[tokio::test]
async fn a_timeout_is_unknown_and_never_resent_and_a_bad_request_fails_at_once() {
    // Arrange: the API answers after the client gave up.
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Body=slow"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(3)))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Body=bad"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "message": "invalid To" })))
        .mount(&api)
        .await;
    let app = spawn_with_sms(&api).await;
    customer_and_action(&app, json!({ "sendSms": { "body": "slow" } }), json!({})).await;
    app.create_action(json!({
        "name": "Bad",
        "trigger": "LOGGED_IN",
        "effects": [{ "sendSms": { "body": "bad" } }],
        "repeat": { "kind": "EVERY_TIME" }
    }))
    .await;

    // Act
    log_in(&app, "l1").await;

    // Assert
    let list = wait_until(&app, |l| {
        l.len() == 2
            && l.iter()
                .all(|d| d["status"] != "QUEUED" && d["status"] != "SENDING")
    })
    .await;
    let by_body = |body: &str| {
        list.iter()
            .find(|d| d["bodyText"] == body)
            .cloned()
            .expect("the delivery")
    };
    let slow = by_body("slow");
    assert_eq!(slow["status"], "UNKNOWN");
    assert_eq!(by_body("bad")["status"], "FAILED");
    assert_eq!(by_body("bad")["reason"], "HTTP 400: invalid To");
    app.clock.advance(chrono::Duration::hours(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = deliveries(&app).await;
    assert!(again.iter().all(|d| d["attemptCount"] == 1), "{again:?}");
}

#[tokio::test]
async fn consent_quiet_hours_and_the_frequency_cap_are_checked_at_send_time() {
    // Arrange: Ann lives in Auckland, where 12:00 UTC is 01:00 — inside 21:00–08:00.
    let app = spawn_app_with(|s| {
        fast(s);
        s.delivery.quiet_hours = Some("21:00-08:00".parse().expect("valid"));
        s.delivery.email_cap = Some(Duration::from_secs(16 * 3600));
    })
    .await;
    customer_and_action(
        &app,
        email_effect(),
        json!({ "timeZone": "Pacific/Auckland" }),
    )
    .await;
    app.create_customer(json!({ "externalId": "bob", "email": "bob@example.com" }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    // Act: Bob never consented.
    app.record(
        &storefront,
        json!([ev(
            "b1",
            "bob",
            "2026-11-22T11:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed("b1").await;
    let bob = wait_for(&app, 0, "SKIPPED").await;
    assert_eq!(bob["reason"], "no email consent");

    // Ann's mail waits for 08:00 in Auckland (19:00 UTC).
    log_in(&app, "l1").await;
    let deferred = wait_until(&app, |l| {
        l.get(1).is_some_and(|d| {
            d["trackingEvents"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        })
    })
    .await[1]
        .clone();
    assert_eq!(deferred["status"], "QUEUED");
    assert_eq!(deferred["trackingEvents"][0]["kind"], "deferred");
    assert_eq!(deferred["attemptCount"], 0);
    let due = app
        .admin_data(
            "query($id: ID!) { delivery(id: $id) { dueAt } }",
            json!({ "id": deferred["id"] }),
        )
        .await;
    assert_eq!(due["delivery"]["dueAt"], "2026-11-22T19:00:00+00:00");
    app.clock.advance(chrono::Duration::hours(7));
    let sent = wait_for(&app, 1, "SENT").await;
    assert_eq!(sent["subject"], "Hi Ann");

    // A second marketing email within 16 hours is skipped by the cap.
    log_in(&app, "l2").await;
    let capped = wait_for(&app, 2, "SKIPPED").await;
    assert_eq!(
        capped["reason"],
        "frequency cap: one marketing email per 16 h"
    );
}

#[tokio::test]
async fn a_lease_of_a_dead_process_is_recovered_and_the_message_sent() {
    // Arrange: a delivery claimed by a process that died (its lease ended a minute ago);
    // the frequency cap is on and must not count the message against itself.
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |s| {
        fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.delivery.email_cap = Some(Duration::from_secs(16 * 3600));
    })
    .await;
    customer_and_action(&app, email_effect(), json!({})).await;
    log_in(&app, "l1").await;
    wait_for(&app, 0, "SENT").await;
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("db");
    use sea_orm::ConnectionTrait;
    let past = nudge::clock::to_millis(crate::helpers::test_start()) - 60_000;
    db.execute_unprepared(&format!(
        "UPDATE deliveries SET status = 'sending', lease_owner = 'dead-process', lease_until = {past}, due_at = {past}"
    ))
    .await
    .expect("updated");

    // Act / Assert: the running dispatcher takes it over.
    let recovered = wait_until(&app, |l| {
        l.first()
            .is_some_and(|d| d["status"] == "SENT" && d["attemptCount"] == 2)
    })
    .await[0]
        .clone();
    assert_eq!(recovered["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        sink.count(),
        2,
        "at most the message in flight is sent twice"
    );
}

#[tokio::test]
async fn templates_are_checked_rendered_per_locale_and_sent_as_tests() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    let create = "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id locales { locale subject } } userErrors { field code message } } }";

    // Act: unknown variables and syntax errors are refused, all at once.
    let refused = app
        .admin_data(
            create,
            json!({ "input": { "name": "bad", "channel": "EMAIL", "subject": "Hi {{ customer.nickname }}", "bodyText": "{% if %}",
                "locales": [{ "locale": "de", "bodyText": "{{ custmer.first_name }}" }] } }),
        )
        .await;
    let errors = user_errors(&refused["createTemplate"]);
    let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "input.subject",
            "input.bodyText",
            "input.locales.0.bodyText"
        ],
        "{errors:?}"
    );

    // A German variant with an English fallback.
    let created = app
        .admin_data(
            create,
            json!({ "input": { "name": "welcome", "channel": "EMAIL",
                "subject": "Welcome {{ customer.first_name }}",
                "bodyHtml": "<p>{{ customer.first_name }}{% for p in recommended %} {{ p.name }}{% endfor %}</p>",
                "locales": [{ "locale": "de", "subject": "Willkommen {{ customer.first_name }}" }] } }),
        )
        .await;
    let template = created["createTemplate"]["template"]["id"].clone();
    let customer = app
        .create_customer(json!({ "externalId": "kai", "email": "kai@example.com", "firstName": "<Kai>", "locale": "de-AT" }))
        .await;
    let preview = app
        .admin_data(
            "query($t: ID!, $c: ID!) { previewTemplate(templateId: $t, customerId: $c) { locale subject bodyHtml } }",
            json!({ "t": template, "c": customer }),
        )
        .await;
    assert_eq!(
        preview["previewTemplate"],
        json!({ "locale": "de", "subject": "Willkommen <Kai>", "bodyHtml": "<p>&lt;Kai&gt;</p>" })
    );

    // A test message to an address that is not one is refused; a good one is sent.
    let send = "mutation($t: ID!, $to: String!, $c: ID) { sendTestMessage(templateId: $t, to: $to, customerId: $c) { delivery { id purpose } userErrors { field code message } } }";
    let bad = app
        .admin_data(send, json!({ "t": template, "to": "not-an-address" }))
        .await;
    assert_eq!(user_errors(&bad["sendTestMessage"])[0].0, "to");
    let good = app
        .admin_data(
            send,
            json!({ "t": template, "to": "qa@shop.example", "c": customer }),
        )
        .await;
    assert_eq!(good["sendTestMessage"]["delivery"]["purpose"], "test");
    let sent = wait_for(&app, 0, "SENT").await;
    assert_eq!(sent["recipient"], "qa@shop.example");
    assert_eq!(sent["locale"], "de");
    let mail = &sink.messages()[0];
    assert_eq!(mail.header("Subject").as_deref(), Some("Willkommen <Kai>"));
    assert!(
        mail.header("List-Unsubscribe").is_none(),
        "test messages are not marketing"
    );
}

#[tokio::test]
async fn a_mailbox_the_server_refuses_fails_and_is_suppressed_as_bounced() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    customer_and_action(
        &app,
        email_effect(),
        json!({ "email": "bounce@example.com" }),
    )
    .await;

    // Act
    log_in(&app, "l1").await;
    let failed = wait_for(&app, 0, "FAILED").await;

    // Assert: not retried, and the address is on the suppression list.
    assert!(
        failed["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("address refused"),
        "{failed}"
    );
    assert_eq!(failed["attempts"][0]["outcome"], "rejected");
    let list = app
        .admin_data(
            "{ suppressions(channel: EMAIL) { edges { node { address reason } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list["suppressions"]["edges"][0]["node"],
        json!({ "address": "bounce@example.com", "reason": "bounced" })
    );
    assert_eq!(sink.count(), 0);
}

/// Two processes on one database (PostgreSQL in CI): each claims with a lease, none sends a
/// message the other took.
#[tokio::test]
async fn two_dispatchers_on_one_database_send_each_message_once() {
    use nudge::clock::{ManualClock, SharedClock};
    use nudge::db::raw_statement;
    use sea_orm::ConnectionTrait;
    use std::sync::Arc;

    // Arrange: two servers sharing a database and an SMTP server.
    let sink = SmtpSink::start().await;
    let database = crate::helpers::TestDatabase::create().await;
    for _ in 0..2 {
        let mut settings = crate::helpers::test_settings(&database.url);
        fast(&mut settings);
        settings.delivery.email.smtp_url = Some(sink.url().into());
        settings.delivery.batch = 20;
        let clock: SharedClock = Arc::new(ManualClock::new(crate::helpers::test_start()));
        let app = nudge::startup::Application::build(settings, clock)
            .await
            .expect("the application starts");
        tokio::spawn(app.run_until_stopped());
    }
    // Act: 300 consenting customers, one queued email each.
    let db = queue_marketing_emails(&database.url, 300).await;
    let backend = db.get_database_backend();

    // Assert: every message sent once, each with one attempt.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sink.count() < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "sent {}",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mails = sink.messages();
    let mut recipients: Vec<&String> = mails.iter().flat_map(|m| &m.to).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!((mails.len(), recipients.len()), (300, 300));
    let row = db
        .query_one_raw(raw_statement(
            backend,
            "SELECT COUNT(*) AS n, MAX(attempts) AS most FROM deliveries WHERE status = 'sent'",
            vec![],
        ))
        .await
        .expect("query")
        .expect("row");
    let sent: i64 = row.try_get("", "n").expect("n");
    let most: i32 = row.try_get("", "most").expect("most");
    assert_eq!((sent, most), (300, 1));
}

/// `count` consenting customers with one queued marketing email each, written directly.
async fn queue_marketing_emails(url: &str, count: usize) -> sea_orm::DatabaseConnection {
    use nudge::db::raw_statement;
    use sea_orm::ConnectionTrait;
    let db = nudge::db::connect(url, 2).await.expect("connected");
    let backend = db.get_database_backend();
    let now = nudge::clock::to_millis(crate::helpers::test_start());
    let json = if backend == sea_orm::DbBackend::Postgres {
        "'{}'::json"
    } else {
        "'{}'"
    };
    let numbers = if backend == sea_orm::DbBackend::Postgres {
        format!("SELECT generate_series(1, {count}) AS i")
    } else {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) SELECT i FROM n"
        )
    };
    for sql in [
        format!(
            "INSERT INTO customers (external_id, customer_type, wholesale, email, email_consent, \
             sms_consent, orders_count, total_spent, attributes, created_at, updated_at) \
             SELECT 'c' || i, 'person', false, 'c' || i || '@example.com', true, false, 0, 0, \
             {json}, ?, ? FROM ({numbers}) s"
        ),
        "INSERT INTO deliveries (dedupe_key, channel, purpose, customer_id, subject, body_text, \
         status, created_at, due_at) SELECT 'm' || id, 'email', 'marketing', id, 'Hi', \
         'Hello {{ customer.email }}', 'queued', ?, ? FROM customers"
            .to_owned(),
    ] {
        db.execute_raw(raw_statement(backend, &sql, vec![now.into(), now.into()]))
            .await
            .expect("inserted");
    }
    db
}

/// A dispatcher killed in the middle of a round (its task aborted, as `kill -9` would stop
/// it) leaves sent but unrecorded at most the messages in flight; the next dispatcher, once
/// the leases end, sends the rest — so at most `concurrency` recipients get a message twice.
#[tokio::test]
async fn a_dispatcher_killed_mid_round_sends_at_most_what_was_in_flight_twice() {
    use nudge::clock::{ManualClock, SharedClock};
    use nudge::domain::deliveries::Dispatcher;
    use std::sync::Arc;

    // Arrange: 300 queued emails; a server that sends nothing itself.
    let sink = SmtpSink::start().await;
    let concurrency = 8;
    let configure = |s: &mut Settings| {
        fast(s);
        s.delivery.email.smtp_url = Some(sink.url().into());
        s.delivery.batch = 200;
        s.delivery.concurrency = concurrency;
    };
    let app = spawn_app_with(|s| {
        configure(s);
        s.delivery.dispatch = false;
    })
    .await;
    let db = queue_marketing_emails(&app.database_url, 300).await;
    let mut settings = crate::helpers::test_settings(&app.database_url);
    configure(&mut settings);
    let settings = Arc::new(settings);
    let clock = ManualClock::new(crate::helpers::test_start());
    let shared: SharedClock = Arc::new(clock.clone());
    let dispatcher = || async {
        let senders = nudge::startup::build_senders(&settings, &db, &shared)
            .await
            .expect("senders");
        Dispatcher::new(
            db.clone(),
            shared.clone(),
            senders,
            settings.clone(),
            Arc::new(nudge::domain::deliveries::follow::Nothing),
        )
    };

    // Act: kill the first dispatcher once about 60 mails went out.
    let first = dispatcher().await;
    let round = tokio::spawn(async move { first.dispatch_once().await });
    while sink.count() < 60 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    round.abort();
    let _ = round.await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received_before = sink.count();
    let recorded = deliveries_with_status(&db, "sent").await;
    // The leases end; another dispatcher takes over and sends everything left.
    clock.advance(chrono::Duration::seconds(121));
    let second = dispatcher().await;
    while second.dispatch_once().await.expect("a round") > 0 {}

    // Assert
    let mails = sink.messages();
    let mut recipients: Vec<&String> = mails.iter().flat_map(|m| &m.to).collect();
    recipients.sort();
    recipients.dedup();
    let twice = mails.len() - recipients.len();
    assert!((60..300).contains(&received_before), "{received_before}");
    assert!(
        received_before - recorded <= concurrency,
        "{received_before} received, {recorded} recorded"
    );
    assert_eq!(recipients.len(), 300, "none is lost");
    assert!(twice <= concurrency, "{twice} sent twice");
    assert_eq!(deliveries_with_status(&db, "sent").await, 300);
}

async fn deliveries_with_status(db: &sea_orm::DatabaseConnection, status: &str) -> usize {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(nudge::db::raw_statement(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM deliveries WHERE status = ?",
            vec![status.into()],
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get::<i64>("", "n").expect("n") as usize
}

#[tokio::test]
async fn a_campaign_message_is_rendered_with_the_order_of_its_run() {
    // Arrange: one message per placed order, naming the order.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    app.create_customer(json!({ "externalId": "ann", "email": "ann@example.com",
        "emailConsent": { "granted": true, "source": "checkout" } }))
        .await;
    let template = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } userErrors { message } } }",
            json!({ "input": { "name": "thanks", "channel": "EMAIL",
                "subject": "Your order {{ order.external_id }}",
                "bodyText": "{% for l in order.lines %}{{ l.quantity }} x {{ l.product.name }}{% endfor %}, {{ order.total }} {{ order.currency }}" } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    app.admin_data(
        "mutation($input: CampaignInput!) { createCampaign(input: $input) { userErrors { message } } }",
        json!({ "input": { "name": "thanks", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
            "steps": [{ "id": "thanks", "message": { "channel": "EMAIL", "templateId": template } }] } }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let order = |id: &str, quantity: i32, total: &str| {
        json!({ "orderPlaced": { "orderExternalId": id, "total": total, "currency": "USD",
            "lines": [{ "productExternalId": "p1", "quantity": quantity, "unitPrice": "10.00" }] } })
    };
    app.record(
        &storefront,
        json!([
            ev("o1", "ann", "2026-11-22T11:00:00Z", order("o1", 1, "10.00")),
            ev("o2", "ann", "2026-11-22T11:30:00Z", order("o2", 3, "30.00")),
        ]),
    )
    .await;
    app.processed("o2").await;

    // Act
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-11-22T12:00:00Z\") { advanced } }",
        json!({}),
    )
    .await;
    let list = wait_until(&app, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "SENT")
    })
    .await;

    // Assert: each run's message speaks of its own order.
    let mut texts: Vec<(String, String)> = list
        .iter()
        .map(|d| {
            (
                d["subject"].as_str().unwrap_or_default().to_owned(),
                d["bodyText"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        vec![
            (
                "Your order o1".to_owned(),
                "1 x Product p1, 10.00 USD".to_owned()
            ),
            (
                "Your order o2".to_owned(),
                "3 x Product p1, 30.00 USD".to_owned()
            ),
        ]
    );
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn a_message_steps_effects_follow_its_message_sent_skipped_or_failed() {
    // Arrange: IdoSell's write-back — "review-asked = yes" after the review request. Ann gets
    // the mail, Bob never consented, the server refuses Carl's mailbox.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    let consent = json!({ "granted": true, "source": "checkout" });
    for (id, email, consent) in [
        ("ann", "ann@example.com", consent.clone()),
        (
            "bob",
            "bob@example.com",
            json!({ "granted": false, "source": "checkout" }),
        ),
        ("carl", "bounce@example.com", consent),
    ] {
        app.create_customer(json!({ "externalId": id, "email": email, "emailConsent": consent }))
            .await;
    }
    let asked = app.create_tag("review-asked").await;
    let template = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } } }",
            json!({ "input": { "name": "review", "channel": "EMAIL", "subject": "How was it?",
                "bodyText": "Tell us" } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { message } } }",
            json!({ "input": { "name": "review", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
                "steps": [{ "id": "ask", "message": { "channel": "EMAIL", "templateId": template,
                    "effects": [{ "setTag": { "tagId": asked, "value": "yes" } }] } }] } }),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let storefront = app.create_key("STOREFRONT").await;
    let order = |id: &str| {
        json!({ "orderPlaced": { "orderExternalId": id, "total": "10.00", "currency": "USD",
            "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] } })
    };
    let events: Vec<Value> = ["ann", "bob", "carl"]
        .iter()
        .map(|c| {
            ev(
                &format!("o-{c}"),
                c,
                "2026-11-22T11:00:00Z",
                order(&format!("o-{c}")),
            )
        })
        .collect();
    app.record(&storefront, json!(events)).await;
    app.processed("o-carl").await;

    // Act
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-11-22T12:00:00Z\") { advanced } }",
        json!({}),
    )
    .await;
    wait_until(&app, |l| {
        l.len() == 3
            && l.iter().all(|d| {
                ["SENT", "SKIPPED", "FAILED"].contains(&d["status"].as_str().unwrap_or_default())
            })
    })
    .await;

    // Assert: only the customer who got the message has the tag, and each run's log says why.
    let data = app
        .admin_data(
            "query($c: ID) { customers(first: 10) { edges { node { externalId tags { name value } } } }
              campaignRuns(campaignId: $c) { customerId log { stepId outcome detail } } }",
            json!({ "c": campaign }),
        )
        .await;
    let mut tags: Vec<(String, Value)> = data["customers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["externalId"].as_str().expect("id").to_owned(),
                e["node"]["tags"].clone(),
            )
        })
        .collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        tags,
        vec![
            (
                "ann".to_owned(),
                json!([{ "name": "review-asked", "value": "yes" }])
            ),
            ("bob".to_owned(), json!([])),
            ("carl".to_owned(), json!([])),
        ]
    );
    let mut followed: Vec<(String, String)> = data["campaignRuns"]
        .as_array()
        .expect("runs")
        .iter()
        .flat_map(|r| r["log"].as_array().expect("log").clone())
        .filter(|l| {
            l["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("effects"))
        })
        .map(|l| {
            let detail = l["detail"].as_str().unwrap_or_default();
            let detail = detail.split(": address refused").next().unwrap_or_default();
            (
                l["outcome"].as_str().unwrap_or_default().to_owned(),
                detail.to_owned(),
            )
        })
        .collect();
    followed.sort();
    assert_eq!(
        followed,
        vec![
            (
                "effectsApplied".to_owned(),
                "the message was sent".to_owned()
            ),
            (
                "effectsNotApplied".to_owned(),
                "the message failed".to_owned()
            ),
            (
                "effectsNotApplied".to_owned(),
                "the message was skipped: no email consent".to_owned()
            ),
        ]
    );
    assert_eq!(sink.count(), 1);
}

#[tokio::test]
async fn a_sent_messages_effects_that_cannot_be_applied_are_logged_and_the_message_stays_sent() {
    // Arrange: the step assigns a role deleted after the campaign was saved.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_customer(json!({ "externalId": "ann", "email": "ann@example.com",
        "emailConsent": { "granted": true, "source": "checkout" } }))
        .await;
    let role = app.create_role("Doomed", "doomed", &[]).await;
    let asked = app.create_tag("asked").await;
    let template = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } } }",
            json!({ "input": { "name": "hi", "channel": "EMAIL", "subject": "Hi", "bodyText": "Hi" } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } } }",
            json!({ "input": { "name": "hi", "status": "ACTIVE", "anchor": { "registered": true },
                "steps": [{ "id": "hi", "message": { "channel": "EMAIL", "templateId": template,
                    "effects": [{ "setTag": { "tagId": asked, "value": "yes" } }, { "assignRole": role }] } }] } }),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    app.delete_role(&role).await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "r1",
            "ann",
            "2026-11-22T12:00:00Z",
            json!({ "registered": { "email": "ann@example.com" } })
        )]),
    )
    .await;
    app.processed("r1").await;

    // Act
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-11-22T12:00:00Z\") { advanced } }",
        json!({}),
    )
    .await;
    let sent = wait_for(&app, 0, "SENT").await;

    // Assert: sent once; neither effect applied (they go together); the log says why.
    let data = app
        .admin_data(
            "query($c: ID) { customer(externalId: \"ann\") { tags { name } roles { name } }
              campaignRuns(campaignId: $c) { status log { outcome detail deliveryId } } }",
            json!({ "c": campaign }),
        )
        .await;
    assert_eq!(data["customer"]["tags"], json!([]));
    let log = data["campaignRuns"][0]["log"]
        .as_array()
        .expect("log")
        .clone();
    let failed = log
        .iter()
        .find(|l| l["outcome"] == "effectsFailed")
        .unwrap_or_else(|| panic!("no effectsFailed in {log:?}"));
    assert_eq!(failed["deliveryId"], sent["id"]);
    assert_eq!(failed["detail"], format!("role {role} no longer exists"));
    assert_eq!(sink.count(), 1);
}
