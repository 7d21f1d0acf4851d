//! Crediting orders: the latest click wins, an open counts only without a click in its window,
//! machine opens never count, and a refund takes the revenue back out.

use super::*;
use crate::deliveries::{customer_and_action, email_effect, spawn_with_smtp};
use crate::helpers::ev;
use crate::smtp_sink::SmtpSink;
use chrono::Duration;

/// Ann logs in as event `id` (each login sends her a message); waits for message `index`.
async fn message(app: &TestApp, id: &str, index: usize) -> (String, String, Vec<String>) {
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            id,
            "ann",
            "2026-11-22T11:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed(id).await;
    let (pixel, links) = tracking_urls(app, index).await;
    let list = crate::deliveries::deliveries(app).await;
    let id = list[index]["id"].as_str().unwrap_or_default().to_owned();
    (id, pixel, links)
}

/// Ann places order `id` of `total` USD at `at`.
async fn order(app: &TestApp, id: &str, total: &str, at: &str) {
    let storefront = app.create_key("STOREFRONT").await;
    let payload = json!({ "orderPlaced": { "orderExternalId": id, "total": total, "currency": "USD",
        "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": total }] } });
    app.record(&storefront, json!([ev(id, "ann", at, payload)]))
        .await;
    app.processed(id).await;
}

async fn attribution(app: &TestApp, order: &str) -> Value {
    app.admin_data(
        "query($id: String!) { order(externalId: $id) { attribution { deliveryId touch touchedAt windowHours counted revenue { amount currency } reason } } }",
        json!({ "id": order }),
    )
    .await["order"]["attribution"]
        .clone()
}

async fn setup() -> (SmtpSink, TestApp) {
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    customer_and_action(&app, email_effect(), json!({})).await;
    (sink, app)
}

#[tokio::test]
async fn the_latest_click_wins_over_earlier_clicks_and_later_opens() {
    // Arrange: three messages; the first and second clicked, the third opened after that.
    let (_sink, app) = setup().await;
    let (first, _, first_links) = message(&app, "l1", 0).await;
    let (second, _, second_links) = message(&app, "l2", 1).await;
    let (_, third_pixel, _) = message(&app, "l3", 2).await;
    app.clock.advance(Duration::hours(1));
    hit(&first_links[0], PERSON).await;
    app.clock.advance(Duration::hours(1));
    hit(&second_links[0], PERSON).await;
    app.clock.advance(Duration::hours(1));
    hit(&third_pixel, PERSON).await;

    // Act
    order(&app, "o1", "40.00", "2026-11-22T16:00:00Z").await;

    // Assert
    let credit = attribution(&app, "o1").await;
    assert_eq!(credit["deliveryId"], second, "{credit}");
    assert_ne!(credit["deliveryId"], first);
    assert_eq!(credit["touch"], "CLICK");
    assert_eq!(credit["touchedAt"], "2026-11-22T14:00:00+00:00");
    assert_eq!(credit["windowHours"], 120.0);
    assert_eq!(
        credit["revenue"],
        json!({ "amount": "40.00", "currency": "USD" })
    );
    let reason = credit["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("the most recent click"), "{reason}");
    assert!(reason.contains("2 h 0 min before the order"), "{reason}");
    let stats = shop(&app, "ACTIVITY").await;
    assert_eq!(stats["totals"]["conversions"], 1);
    assert_eq!(stats["totals"]["revenue"]["amount"], "40.00");
}

#[tokio::test]
async fn an_open_counts_only_without_a_click_in_its_window_and_a_machine_open_never() {
    // Arrange: a message opened at once (a machine), then ordered from: no credit.
    let (_sink, app) = setup().await;
    let (_, pixel, links) = message(&app, "l1", 0).await;
    hit(&pixel, PERSON).await;
    order(&app, "o0", "5.00", "2026-11-22T12:00:30Z").await;
    assert_eq!(attribution(&app, "o0").await, Value::Null);
    // The message is clicked; six days later another is opened by a person.
    app.clock.advance(Duration::minutes(30));
    hit(&links[0], PERSON).await;
    app.clock.advance(Duration::days(6));
    let (second, second_pixel, _) = message(&app, "l2", 1).await;
    app.clock.advance(Duration::hours(1));
    hit(&second_pixel, PERSON).await;

    // Act: the click is more than five days old when the order comes.
    order(&app, "o1", "20.00", "2026-11-28T14:00:00Z").await;

    // Assert
    let credit = attribution(&app, "o1").await;
    assert_eq!(credit["deliveryId"], second, "{credit}");
    assert_eq!(credit["touch"], "OPEN");
    let reason = credit["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no click in its window"), "{reason}");
    let stats = shop(&app, "ACTIVITY").await;
    assert_eq!(stats["totals"]["conversions"], 1);
    assert_eq!(stats["totals"]["machineOpens"], 1);
}

#[tokio::test]
async fn a_refunded_order_takes_its_conversion_and_revenue_back_out() {
    // Arrange: an order credited to a click.
    let (_sink, app) = setup().await;
    let (_, _, links) = message(&app, "l1", 0).await;
    app.clock.advance(Duration::hours(1));
    hit(&links[0], PERSON).await;
    order(&app, "o1", "25.00", "2026-11-22T14:00:00Z").await;
    assert_eq!(
        shop(&app, "ACTIVITY").await["totals"]["revenue"]["amount"],
        "25.00"
    );

    // Act: refunded two days later.
    app.clock.advance(Duration::days(2));
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "r1",
            "ann",
            "2026-11-24T13:00:00Z",
            json!({ "orderStatusChanged": { "orderExternalId": "o1", "status": "REFUNDED" } })
        )]),
    )
    .await;
    app.processed("r1").await;

    // Assert: the credit stays, explained, but counts nothing; the days show both moves.
    let credit = attribution(&app, "o1").await;
    assert_eq!(credit["counted"], false);
    assert_eq!(credit["revenue"]["amount"], "0.00");
    let stats = shop(&app, "ACTIVITY").await;
    assert_eq!(stats["totals"]["conversions"], 0);
    assert_eq!(stats["totals"]["revenue"]["amount"], "0.00");
    assert_eq!(day(&stats, "2026-11-22")["revenue"]["amount"], "25.00");
    assert_eq!(day(&stats, "2026-11-24")["revenue"]["amount"], "-25.00");
    let cohort = shop(&app, "COHORT").await;
    assert_eq!(day(&cohort, "2026-11-22")["conversions"], 0);
}

/// Posts the SMS provider's signed report that message `sid` is `status`.
async fn sms_report(app: &TestApp, sid: &str, status: &str) {
    let params = vec![
        ("MessageSid".to_owned(), sid.to_owned()),
        ("MessageStatus".to_owned(), status.to_owned()),
    ];
    let signature = nudge::delivery::sms::twilio_signature(
        "secret-token",
        "https://nudge.example/sms/status",
        &params,
    );
    let response = app
        .client
        .post(format!("{}/sms/status", app.address))
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .expect("reported");
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn an_sms_delivery_earns_a_credit_only_without_an_open_and_counts_once() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // Arrange: each login sends an SMS (SM1, then SM2) and an email.
    let sink = SmtpSink::start().await;
    let api = MockServer::start().await;
    let messages = "/2010-04-01/Accounts/AC123/Messages.json";
    Mock::given(method("POST"))
        .and(path(messages))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1" })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(path(messages))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM2" })))
        .with_priority(2)
        .mount(&api)
        .await;
    let (smtp, sms) = (sink.url(), api.uri());
    let app = crate::helpers::spawn_app_with(move |s| {
        crate::deliveries::fast(s);
        s.delivery.email.smtp_url = Some(smtp.into());
        s.delivery.sms = Some(nudge::delivery::SmsSettings {
            api_url: sms,
            account_sid: "AC123".into(),
            auth_token: "secret-token".into(),
            from: Some("+14155550100".into()),
            messaging_service_sid: None,
            timeout: std::time::Duration::from_secs(5),
        });
        s.delivery.public_url = "https://nudge.example".into();
    })
    .await;
    app.create_products(&["p1"]).await;
    customer_and_action(&app, json!({ "sendSms": { "body": "Hi" } }), json!({})).await;
    app.create_action(json!({ "name": "Mail on login", "trigger": "LOGGED_IN",
        "effects": [email_effect()], "repeat": { "kind": "EVERY_TIME" } }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;
    let login = |id: &str| {
        json!([ev(
            id,
            "ann",
            "2026-11-22T11:00:00Z",
            json!({ "loggedIn": true })
        )])
    };
    app.record(&storefront, login("l1")).await;
    app.processed("l1").await;
    wait_until(&app, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "SENT")
    })
    .await;

    // Act: the SMS is reported delivered twice; an order half an hour later.
    sms_report(&app, "SM1", "delivered").await;
    sms_report(&app, "SM1", "delivered").await;
    order(&app, "o1", "12.00", "2026-11-22T12:30:00Z").await;
    // An hour later Ann opens the email; a second order comes after that.
    app.clock.advance(Duration::hours(1));
    let list = crate::deliveries::deliveries(&app).await;
    let email = list
        .iter()
        .find(|d| d["bodyHtml"].is_string())
        .expect("the email");
    let pixel = email["bodyHtml"]
        .as_str()
        .and_then(|h| h.split("<img src=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("a pixel")
        .replace("https://nudge.example", &app.address);
    hit(&pixel, PERSON).await;
    order(&app, "o2", "30.00", "2026-11-22T13:30:00Z").await;
    // A second SMS the provider could not deliver.
    app.record(&storefront, login("l2")).await;
    app.processed("l2").await;
    wait_until(&app, |l| {
        l.len() == 4
            && l.iter()
                .all(|d| d["status"] == "SENT" || d["status"] == "DELIVERED")
    })
    .await;
    sms_report(&app, "SM2", "undelivered").await;

    // Assert
    let first = attribution(&app, "o1").await;
    assert_eq!(first["touch"], "DELIVERY", "{first}");
    let reason = first["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the most recent SMS delivered"), "{reason}");
    let second = attribution(&app, "o2").await;
    assert_eq!(second["touch"], "OPEN", "{second}");
    assert_eq!(second["deliveryId"], email["id"]);
    let stats = app
        .admin_data(
            &format!("{{ statistics(from: \"2026-11-22\", to: \"2026-11-22\", channel: SMS) {{ totals {{ {FIGURES} deliveryRate }} }} }}"),
            json!({}),
        )
        .await;
    let sms = &stats["statistics"]["totals"];
    assert_eq!(sms["sent"], 2, "{sms}");
    assert_eq!(sms["delivered"], 1);
    assert_eq!(sms["bounced"], 1);
    assert_eq!(sms["conversions"], 1);
    assert_eq!(sms["revenue"]["amount"], "12.00");
    assert_eq!(sms["deliveryRate"], 0.5);
}
