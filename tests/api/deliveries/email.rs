//! Email through a real SMTP server: both parts, one-click unsubscribe, templates per
//! locale, bounces, and what is checked at send time (consent, quiet hours, caps).

use super::*;

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
    assert_eq!(kinds, vec!["machineOpened", "clicked", "unsubscribed"]);
    assert!(!first["openedAt"].is_null() && !first["clickedAt"].is_null());
    log_in(&app, "l2").await;
    let skipped = wait_for(&app, 1, "SKIPPED").await;
    assert_eq!(skipped["reason"], "suppressed: unsubscribed");
    assert_eq!(sink.count(), 1);
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
