//! Every counter, on both day bases, for the shop, an action, a campaign and its steps.

use super::*;
use crate::deliveries::{customer_and_action, email_effect, log_in, spawn_with_smtp, wait_until};
use crate::helpers::ev;
use crate::smtp_sink::SmtpSink;

/// Records `payload` for `customer` as event `id` at `at`, and waits until it is processed.
async fn event(app: &TestApp, id: &str, customer: &str, at: &str, payload: Value) {
    let storefront = app.create_key("STOREFRONT").await;
    app.record(&storefront, json!([ev(id, customer, at, payload)]))
        .await;
    app.processed(id).await;
}

/// Creates a template from `input`; returns its id.
async fn create_template(app: &TestApp, input: Value) -> Value {
    app.admin_data(
        "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } } }",
        json!({ "input": input }),
    )
    .await["createTemplate"]["template"]["id"]
        .clone()
}

#[tokio::test]
async fn every_message_figure_counts_what_happened_to_its_messages() {
    // Arrange: Ann consents to email, Bob does not; both log in, the action sends to each.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    customer_and_action(&app, email_effect(), json!({})).await;
    app.create_customer(json!({ "externalId": "bob", "email": "bob@example.com" }))
        .await;
    log_in(&app, "l1").await;
    event(
        &app,
        "b1",
        "bob",
        "2026-11-22T11:00:00Z",
        json!({ "loggedIn": true }),
    )
    .await;
    wait_until(&app, |l| {
        l.len() == 2 && l.iter().any(|d| d["status"] == "SKIPPED")
    })
    .await;
    let (pixel, links) = tracking_urls(&app, 0).await;

    // Act: a scanner opens at once; an hour later Ann opens twice and clicks twice; a
    // privacy proxy opens; Ann unsubscribes twice.
    assert_eq!(hit(&pixel, PERSON).await, 200);
    app.clock.advance(chrono::Duration::hours(1));
    hit(&pixel, PERSON).await;
    hit(&pixel, PERSON).await;
    assert_eq!(hit(&links[0], PERSON).await, 302);
    hit(&links[0], PERSON).await;
    hit(&pixel, "Mozilla/5.0").await;
    let sent = &crate::deliveries::deliveries(&app).await[0];
    let html = sent["bodyHtml"].as_str().unwrap_or_default();
    let unsubscribe = html
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|url| url.contains("/u/"))
        .expect("an unsubscribe link")
        .replace("https://nudge.example", &app.address);
    for _ in 0..2 {
        let response = app
            .client
            .post(&unsubscribe)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .expect("one-click");
        assert_eq!(response.status(), 200);
    }

    // Assert
    let stats = shop(&app, "ACTIVITY").await;
    assert_eq!(stats["timeZone"], "UTC");
    let totals = &stats["totals"];
    let expected = [
        ("fired", 2),
        ("queued", 2),
        ("sent", 1),
        ("skipped", 1),
        ("failed", 0),
        ("opens", 2),
        ("uniqueOpens", 1),
        ("machineOpens", 2),
        ("clicks", 2),
        ("uniqueClicks", 1),
        ("unsubscribed", 1),
        ("conversions", 0),
    ];
    for (figure, value) in expected {
        assert_eq!(totals[figure], value, "{figure}: {totals}");
    }
    assert_eq!(
        totals["skippedByReason"],
        json!([{ "reason": "NO_CONSENT", "count": 1 }])
    );
    assert_eq!(totals["openRate"], 1.0);
    assert_eq!(
        stats["links"]["edges"],
        json!([{ "node": { "url": "https://shop.example/sale?a=1&b=2", "clicks": 2, "uniqueClicks": 1 } }])
    );
    assert_eq!(day(&stats, "2026-11-22")["sent"], 1);
    assert_eq!(day(&stats, "2026-11-21")["sent"], 0);
    // The action's own figures are the same messages.
    let actions = app
        .admin_data(
            &format!("{{ customerActions {{ stats(from: \"2026-11-22\", to: \"2026-11-22\") {{ totals {{ {FIGURES} }} }} }} }}"),
            json!({}),
        )
        .await;
    let action = &actions["customerActions"][0]["stats"]["totals"];
    for (figure, value) in expected {
        assert_eq!(action[figure], value, "{figure}: {action}");
    }
}

#[tokio::test]
async fn figures_count_on_the_day_they_happened_or_on_the_day_their_message_was_sent() {
    // Arrange: a message sent on 22 November, clicked on the 24th.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    customer_and_action(&app, email_effect(), json!({})).await;
    log_in(&app, "l1").await;
    let (_, links) = tracking_urls(&app, 0).await;

    // Act
    app.clock.advance(chrono::Duration::days(2));
    hit(&links[0], PERSON).await;

    // Assert: by activity the click is on the 24th; by cohort, on the day of the send.
    let activity = shop(&app, "ACTIVITY").await;
    assert_eq!(day(&activity, "2026-11-22")["sent"], 1);
    assert_eq!(day(&activity, "2026-11-22")["clicks"], 0);
    assert_eq!(day(&activity, "2026-11-24")["clicks"], 1);
    let cohort = shop(&app, "COHORT").await;
    assert_eq!(day(&cohort, "2026-11-22")["sent"], 1);
    assert_eq!(day(&cohort, "2026-11-22")["clicks"], 1);
    assert_eq!(day(&cohort, "2026-11-24")["clicks"], 0);
    assert_eq!(activity["totals"]["clicks"], cohort["totals"]["clicks"]);
}

#[tokio::test]
async fn a_converted_run_credits_the_step_that_sent_last_and_no_other() {
    // Arrange: two messages a day apart; viewing a product is the goal.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    app.create_customer(json!({ "externalId": "ann", "email": "ann@example.com",
        "emailConsent": { "granted": true, "source": "checkout" } }))
        .await;
    let template = create_template(
        &app,
        json!({ "name": "t", "channel": "EMAIL", "subject": "Hi", "bodyText": "Hello" }),
    )
    .await;
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { message } } }",
            json!({ "input": { "name": "after order", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
                "exitGoal": { "events": ["PRODUCT_VIEWED"] },
                "steps": [
                    { "id": "first", "message": { "channel": "EMAIL", "templateId": template } },
                    { "id": "pause", "wait": { "days": 1 } },
                    { "id": "second", "message": { "channel": "EMAIL", "templateId": template } },
                    { "id": "rest", "wait": { "days": 3 } }
                ] } }),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let order = json!({ "orderPlaced": { "orderExternalId": "o1", "total": "10.00", "currency": "USD",
        "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] } });
    event(&app, "o1", "ann", "2026-11-22T11:00:00Z", order).await;
    let tick = |at: &str| format!("mutation {{ runCampaignTick(at: \"{at}\") {{ advanced }} }}");
    app.admin_data(&tick("2026-11-22T12:00:00Z"), json!({}))
        .await;
    wait_until(&app, |l| l.len() == 1 && l[0]["status"] == "SENT").await;
    app.clock.advance(chrono::Duration::days(1));
    app.admin_data(&tick("2026-11-23T12:00:00Z"), json!({}))
        .await;
    wait_until(&app, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "SENT")
    })
    .await;

    // Act: the goal is reached.
    event(
        &app,
        "v1",
        "ann",
        "2026-11-23T13:00:00Z",
        json!({ "productViewed": { "productExternalId": "p1" } }),
    )
    .await;

    // Assert
    let data = app
        .admin_data(
            &format!("query($id: ID!) {{ campaign(id: $id) {{ stats(from: \"2026-11-20\", to: \"2026-11-30\") {{ totals {{ {FIGURES} }} steps {{ stepId kind depth totals {{ reached sent converted }} }} }} }} }}"),
            json!({ "id": campaign }),
        )
        .await;
    let stats = &data["campaign"]["stats"];
    let totals = &stats["totals"];
    assert_eq!(totals["entered"], 1, "{totals}");
    assert_eq!(totals["converted"], 1);
    assert_eq!(totals["active"], 0);
    assert_eq!(totals["sent"], 2);
    assert_eq!(
        stats["steps"],
        json!([
            { "stepId": "first", "kind": "message", "depth": 0, "totals": { "reached": 1, "sent": 1, "converted": 0 } },
            { "stepId": "pause", "kind": "wait", "depth": 0, "totals": { "reached": 1, "sent": 0, "converted": 0 } },
            { "stepId": "second", "kind": "message", "depth": 0, "totals": { "reached": 1, "sent": 1, "converted": 1 } },
            { "stepId": "rest", "kind": "wait", "depth": 0, "totals": { "reached": 1, "sent": 0, "converted": 0 } },
        ])
    );
}

#[tokio::test]
async fn a_template_counts_each_variant_its_messages_were_sent_in() {
    // Arrange: a campaign step's template with a German variant; Ann reads German, Bob not.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    for (who, locale) in [("ann", "de-DE"), ("bob", "en-US")] {
        app.create_customer(
            json!({ "externalId": who, "email": format!("{who}@example.com"),
            "locale": locale, "emailConsent": { "granted": true, "source": "checkout" } }),
        )
        .await;
    }
    let template = create_template(
        &app,
        json!({ "name": "t", "channel": "EMAIL", "subject": "Thanks", "bodyText": "Thanks",
            "locales": [{ "locale": "de", "subject": "Danke", "bodyText": "Danke" }] }),
    )
    .await;
    app.admin_data(
        "mutation($input: CampaignInput!) { createCampaign(input: $input) { userErrors { message } } }",
        json!({ "input": { "name": "thanks", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
            "steps": [{ "id": "thanks", "message": { "channel": "EMAIL", "templateId": template } }] } }),
    )
    .await;
    for who in ["ann", "bob"] {
        let order = json!({ "orderPlaced": { "orderExternalId": format!("o-{who}"), "total": "10.00",
            "currency": "USD", "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] } });
        event(
            &app,
            &format!("o-{who}"),
            who,
            "2026-11-22T11:00:00Z",
            order,
        )
        .await;
    }

    // Act
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-11-22T12:00:00Z\") { advanced } }",
        json!({}),
    )
    .await;
    wait_until(&app, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "SENT")
    })
    .await;

    // Assert
    let data = app
        .admin_data(
            "query($id: ID!) { template(id: $id) { stats(from: \"2026-11-22\", to: \"2026-11-22\") { totals { sent } variants { locale totals { sent queued } } } } }",
            json!({ "id": template }),
        )
        .await;
    let stats = &data["template"]["stats"];
    assert_eq!(stats["totals"]["sent"], 2, "{stats}");
    assert_eq!(
        stats["variants"],
        json!([
            { "locale": "default", "totals": { "sent": 1, "queued": 0 } },
            { "locale": "de", "totals": { "sent": 1, "queued": 0 } },
        ])
    );
}

#[tokio::test]
async fn integrators_read_statistics_a_bad_range_is_refused_and_storefronts_see_none() {
    // Arrange
    let app = crate::helpers::spawn_app().await;
    let integrator = app.create_key("INTEGRATOR").await;
    let storefront = app.create_key("STOREFRONT").await;
    let query = "query($from: NaiveDate, $to: NaiveDate) { statistics(from: $from, to: $to) { from to totals { sent } days { date } } }";

    // Act
    let read = app
        .graphql(
            Some(&integrator),
            query,
            json!({ "from": "2026-11-01", "to": "2026-11-03" }),
        )
        .await;
    let reversed = app
        .graphql(
            Some(&integrator),
            query,
            json!({ "from": "2026-11-03", "to": "2026-11-01" }),
        )
        .await;
    let too_long = app
        .graphql(
            Some(&integrator),
            query,
            json!({ "from": "2025-01-01", "to": "2026-11-01" }),
        )
        .await;
    let forbidden = app.graphql(Some(&storefront), query, json!({})).await;
    let default = app.graphql(Some(&integrator), query, json!({})).await;

    // Assert
    assert_eq!(read["data"]["statistics"]["totals"]["sent"], 0, "{read}");
    assert_eq!(
        read["data"]["statistics"]["days"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        crate::helpers::error_code(&reversed),
        "VALIDATION",
        "{reversed}"
    );
    assert_eq!(
        crate::helpers::error_code(&too_long),
        "VALIDATION",
        "{too_long}"
    );
    assert_eq!(
        crate::helpers::error_code(&forbidden),
        "FORBIDDEN",
        "{forbidden}"
    );
    let stats = &default["data"]["statistics"];
    assert_eq!(stats["to"], "2026-11-22", "{default}");
    assert_eq!(stats["from"], "2026-10-24");
}

#[tokio::test]
async fn hits_at_the_same_moment_make_one_unique_open_and_one_unique_click() {
    // Arrange
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    customer_and_action(&app, email_effect(), json!({})).await;
    log_in(&app, "l1").await;
    let (pixel, links) = tracking_urls(&app, 0).await;
    app.clock.advance(chrono::Duration::hours(1));

    // Act: ten opens and ten clicks, all at once.
    let hits = (0..10).flat_map(|_| [pixel.clone(), links[0].clone()]);
    let all: Vec<_> = hits
        .map(|url| async move { hit(&url, PERSON).await })
        .collect();
    futures_util::future::join_all(all).await;

    // Assert
    let totals = &shop(&app, "ACTIVITY").await["totals"];
    assert_eq!(totals["opens"], 10, "{totals}");
    assert_eq!(totals["uniqueOpens"], 1);
    assert_eq!(totals["clicks"], 10);
    assert_eq!(totals["uniqueClicks"], 1);
}

#[tokio::test]
async fn a_refused_address_a_quiet_hour_and_a_silent_provider_each_count_as_what_they_are() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // Arrange: quiet hours; Ann lives in Auckland (01:00 there), Bob's mailbox is refused,
    // and the SMS provider never answers in time.
    let sink = SmtpSink::start().await;
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": "SM9" }))
                .set_delay(std::time::Duration::from_secs(3)),
        )
        .mount(&api)
        .await;
    let (smtp, sms) = (sink.url(), api.uri());
    let app = crate::helpers::spawn_app_with(move |s| {
        crate::deliveries::fast(s);
        s.delivery.quiet_hours = Some("21:00-08:00".parse().expect("valid"));
        s.delivery.email.smtp_url = Some(smtp.into());
        s.delivery.sms = Some(nudge::delivery::SmsSettings {
            api_url: sms,
            account_sid: "AC123".into(),
            auth_token: "secret-token".into(),
            from: Some("+14155550100".into()),
            messaging_service_sid: None,
            timeout: std::time::Duration::from_millis(500),
        });
        s.delivery.public_url = "https://nudge.example".into();
    })
    .await;
    customer_and_action(
        &app,
        email_effect(),
        json!({ "timeZone": "Pacific/Auckland" }),
    )
    .await;
    app.create_customer(json!({ "externalId": "bob", "email": "bounce@example.com",
        "phone": "+14155550122", "timeZone": "UTC",
        "emailConsent": { "granted": true, "source": "checkout" },
        "smsConsent": { "granted": true, "source": "checkout" } }))
        .await;
    app.create_action(json!({ "name": "SMS on login", "trigger": "LOGGED_IN",
        "effects": [{ "sendSms": { "body": "Hi" } }], "repeat": { "kind": "EVERY_TIME" } }))
        .await;

    // Act
    log_in(&app, "l1").await;
    event(
        &app,
        "b1",
        "bob",
        "2026-11-22T11:00:00Z",
        json!({ "loggedIn": true }),
    )
    .await;
    wait_until(&app, |l| {
        l.iter().filter(|d| d["status"] == "FAILED").count() == 1
            && l.iter().filter(|d| d["status"] == "UNKNOWN").count() == 1
    })
    .await;

    // Assert
    let totals = &shop(&app, "ACTIVITY").await["totals"];
    assert_eq!(totals["queued"], 4, "{totals}");
    assert_eq!(totals["deferred"], 2, "{totals}");
    assert_eq!(totals["failed"], 1);
    assert_eq!(totals["bounced"], 1);
    assert_eq!(totals["unknown"], 1);
    assert_eq!(totals["sent"], 0);
}

#[tokio::test]
async fn runs_count_as_entered_not_in_the_audience_completed_and_exited_with_the_reason() {
    // Arrange: a two-message campaign for customers who are not wholesale; Ann and Cid are in
    // its audience, Bob (wholesale) is not.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    for (who, wholesale) in [("ann", false), ("bob", true), ("cid", false)] {
        app.create_customer(
            json!({ "externalId": who, "email": format!("{who}@example.com"),
            "wholesale": wholesale, "emailConsent": { "granted": true, "source": "checkout" } }),
        )
        .await;
    }
    let template = create_template(
        &app,
        json!({ "name": "t", "channel": "EMAIL", "subject": "Hi", "bodyText": "Hello" }),
    )
    .await;
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { message } } }",
            json!({ "input": { "name": "after order", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
                "audience": { "not": { "wholesale": true } },
                "steps": [
                    { "id": "first", "message": { "channel": "EMAIL", "templateId": template } },
                    { "id": "pause", "wait": { "days": 1 } },
                    { "id": "second", "message": { "channel": "EMAIL", "templateId": template } }
                ] } }),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    for who in ["ann", "bob", "cid"] {
        let order = json!({ "orderPlaced": { "orderExternalId": format!("o-{who}"), "total": "10.00",
            "currency": "USD", "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] } });
        event(
            &app,
            &format!("o-{who}"),
            who,
            "2026-11-22T11:00:00Z",
            order,
        )
        .await;
    }
    let tick = |at: &str| format!("mutation {{ runCampaignTick(at: \"{at}\") {{ advanced }} }}");
    app.admin_data(&tick("2026-11-22T12:00:00Z"), json!({}))
        .await;
    let read = async || {
        app.admin_data(
            &format!("query($id: ID!) {{ campaign(id: $id) {{ stats(from: \"2026-11-20\", to: \"2026-11-30\") {{ totals {{ {FIGURES} exitedByReason {{ reason count }} }} }} }} }}"),
            json!({ "id": campaign }),
        )
        .await["campaign"]["stats"]["totals"]
            .clone()
    };
    let going = read().await;
    assert_eq!(going["entered"], 2, "{going}");
    assert_eq!(going["notInAudience"], 1);
    assert_eq!(going["active"], 2);

    // Act: Cid's order is cancelled; a day later Ann's run takes its last step.
    event(
        &app,
        "c1",
        "cid",
        "2026-11-22T13:00:00Z",
        json!({ "orderStatusChanged": { "orderExternalId": "o-cid", "status": "CANCELLED" } }),
    )
    .await;
    app.clock.advance(chrono::Duration::days(1));
    app.admin_data(&tick("2026-11-23T12:00:00Z"), json!({}))
        .await;

    // Assert
    let ended = read().await;
    assert_eq!(ended["entered"], 2, "{ended}");
    assert_eq!(ended["notInAudience"], 1);
    assert_eq!(ended["active"], 0);
    assert_eq!(ended["completed"], 1);
    assert_eq!(ended["exited"], 1);
    assert_eq!(
        ended["exitedByReason"],
        json!([{ "reason": "the order was cancelled", "count": 1 }])
    );
    assert_eq!(ended["runsFailed"], 0);
    assert_eq!(ended["queued"], 3);
}
