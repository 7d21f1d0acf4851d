//! Runs timed from registrations, birthdays, carts and inactivity: waits, local times, the
//! send window, filters and step audiences.

use super::*;

#[tokio::test]
async fn a_registration_starts_a_run_that_waits_and_sends_each_message_once() {
    // Arrange
    let app = spawn_app().await;
    let welcome = template(&app, "welcome", "EMAIL").await;
    let follow_up = template(&app, "follow-up", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "registered": true },
            "steps": [
                { "id": "welcome", "message": { "channel": "EMAIL", "templateId": welcome } },
                { "id": "pause", "wait": { "days": 2 } },
                { "id": "follow-up", "message": { "channel": "EMAIL", "templateId": follow_up } }
            ]
        }),
    )
    .await;
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

    // Act: the processor started the run in its pass; the same tick five times, then ticks
    // just before and at the end of the wait (two days from the registration).
    let started = runs(&app, &campaign).await;
    let mut repeated = Vec::new();
    for _ in 0..5 {
        repeated.push(tick(&app, "2026-11-22T12:01:00Z").await["advanced"].clone());
    }
    let waiting = runs(&app, &campaign).await;
    tick(&app, "2026-11-24T11:59:59Z").await;
    let still = runs(&app, &campaign).await;
    tick(&app, "2026-11-24T12:00:00Z").await;
    let done = runs(&app, &campaign).await;

    // Assert
    assert_eq!(outcomes(&started[0]), vec!["entered", "queued", "waiting"]);
    assert_eq!(repeated, vec![json!(0); 5]);
    assert_eq!(still[0]["stepId"], "pause");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["subject"], "registered");
    assert_eq!(waiting[0]["status"], "active");
    assert_eq!(waiting[0]["stepId"], "pause");
    assert_eq!(outcomes(&waiting[0]), vec!["entered", "queued", "waiting"]);
    assert_eq!(done[0]["status"], "completed");
    assert_eq!(queued(&done[0]), vec!["welcome", "follow-up"]);
    assert_eq!(
        outcomes(&done[0]),
        vec!["entered", "queued", "waiting", "queued", "completed"]
    );
}

#[tokio::test]
async fn the_same_birthday_is_sent_at_nine_local_time_in_auckland_and_los_angeles() {
    // Arrange
    let app = spawn_app().await;
    let wish = template(&app, "birthday", "EMAIL").await;
    let auckland = customer(&app, json!({ "externalId": "nz", "email": "nz@example.com", "birthday": "1990-03-10", "timeZone": "Pacific/Auckland" })).await;
    let los_angeles = customer(&app, json!({ "externalId": "la", "email": "la@example.com", "birthday": "1990-03-10", "timeZone": "America/Los_Angeles" })).await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "birthday": true },
            "steps": [
                { "id": "nine", "wait": { "until": { "offsetDays": 0, "hour": 9 } } },
                { "id": "wish", "message": { "channel": "EMAIL", "templateId": wish } }
            ]
        }),
    )
    .await;
    let sent = |runs: &[Value], id: &str| {
        runs.iter()
            .find(|r| r["customerId"] == id)
            .map(|r| queued(r).len())
            .unwrap_or(0)
    };

    // Act: 08:59 and 09:01 local in Auckland (NZDT, UTC+13), then in Los Angeles (PST, UTC-8).
    tick(&app, "2027-03-09T19:59:00Z").await;
    let before_nz = runs(&app, &campaign).await;
    tick(&app, "2027-03-09T20:01:00Z").await;
    let after_nz = runs(&app, &campaign).await;
    tick(&app, "2027-03-10T16:59:00Z").await;
    let before_la = runs(&app, &campaign).await;
    tick(&app, "2027-03-10T17:01:00Z").await;
    let after_la = runs(&app, &campaign).await;

    // Assert
    assert_eq!(before_nz.len(), 2, "both are enrolled ahead of the day");
    assert_eq!(
        (sent(&before_nz, &auckland), sent(&before_nz, &los_angeles)),
        (0, 0)
    );
    assert_eq!(
        (sent(&after_nz, &auckland), sent(&after_nz, &los_angeles)),
        (1, 0)
    );
    assert_eq!(
        (sent(&before_la, &auckland), sent(&before_la, &los_angeles)),
        (1, 0)
    );
    assert_eq!(
        (sent(&after_la, &auckland), sent(&after_la, &los_angeles)),
        (1, 1)
    );
    assert!(after_la.iter().all(|r| r["subject"] == "birthday:2027"));
}

#[tokio::test]
async fn a_29_february_birthday_is_wished_on_28_february_in_other_years() {
    // Arrange
    let app = spawn_app().await;
    let wish = template(&app, "birthday", "EMAIL").await;
    customer(&app, json!({ "externalId": "leap", "email": "leap@example.com", "birthday": "1992-02-29", "timeZone": "UTC" })).await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "birthday": true },
            "steps": [
                { "id": "nine", "wait": { "until": { "offsetDays": 0, "hour": 9 } } },
                { "id": "wish", "message": { "channel": "EMAIL", "templateId": wish } }
            ]
        }),
    )
    .await;

    // Act
    tick(&app, "2027-02-28T09:01:00Z").await;
    let runs = runs(&app, &campaign).await;

    // Assert
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["subject"], "birthday:2027");
    assert_eq!(queued(&runs[0]), vec!["wish"]);
}

#[tokio::test]
async fn an_abandoned_cart_reminder_stops_when_an_order_comes_between_levels() {
    // Arrange
    let app = spawn_app().await;
    app.create_products(&["p1"]).await;
    let first = template(&app, "cart-1", "EMAIL").await;
    let second = template(&app, "cart-2", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "cartAbandoned": { "idleHours": 2 } },
            "steps": [
                { "id": "level-1", "message": { "channel": "EMAIL", "templateId": first } },
                { "id": "wait", "wait": { "days": 1 } },
                { "id": "level-2", "message": { "channel": "EMAIL", "templateId": second } }
            ]
        }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(&storefront, json!([
        ev("r", "bob", "2026-11-22T12:00:00Z", json!({ "registered": { "email": "bob@example.com" } })),
        ev("c", "bob", "2026-11-22T12:30:00Z", json!({ "addedToCart": { "lines": [{ "productExternalId": "p1", "quantity": 1 }] } })),
    ])).await;
    app.processed("c").await;

    // Act
    let early = tick(&app, "2026-11-22T14:29:00Z").await;
    tick(&app, "2026-11-22T14:31:00Z").await;
    app.record(&storefront, json!([
        ev("o", "bob", "2026-11-22T16:00:00Z", json!({ "orderPlaced": { "orderExternalId": "o1", "total": "10.00", "currency": "USD", "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] } })),
    ])).await;
    app.processed("o").await;
    tick(&app, "2026-11-24T12:00:00Z").await;
    let runs = runs(&app, &campaign).await;

    // Assert
    assert_eq!(early["enrolled"], 0, "not idle long enough yet");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "converted");
    assert_eq!(runs[0]["endReason"], "ordered");
    assert_eq!(queued(&runs[0]), vec!["level-1"]);
}

#[tokio::test]
async fn inactive_customers_are_enrolled_and_a_login_ends_their_run() {
    // Arrange
    let app = spawn_app().await;
    let miss_you = template(&app, "miss-you", "EMAIL").await;
    let last_call = template(&app, "last-call", "EMAIL").await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([
            ev(
                "a1",
                "away",
                "2025-10-01T10:00:00Z",
                json!({ "registered": { "email": "away@example.com" } })
            ),
            ev(
                "a2",
                "away",
                "2025-10-01T10:00:00Z",
                json!({ "loggedIn": true })
            ),
            ev(
                "h1",
                "here",
                "2026-11-01T10:00:00Z",
                json!({ "registered": { "email": "here@example.com" } })
            ),
            ev(
                "h2",
                "here",
                "2026-11-01T10:00:00Z",
                json!({ "loggedIn": true })
            ),
        ]),
    )
    .await;
    app.processed("h2").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "inactive": { "basis": "LAST_LOGIN", "days": 365 } },
            "steps": [
                { "id": "miss-you", "message": { "channel": "EMAIL", "templateId": miss_you } },
                { "id": "week", "wait": { "days": 7 } },
                { "id": "last-call", "message": { "channel": "EMAIL", "templateId": last_call } }
            ]
        }),
    )
    .await;

    // Act
    let first = tick(&app, "2026-11-22T12:05:00Z").await;
    app.record(
        &storefront,
        json!([ev(
            "a3",
            "away",
            "2026-11-23T08:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed("a3").await;
    tick(&app, "2026-12-01T12:00:00Z").await;
    let runs = runs(&app, &campaign).await;

    // Assert
    assert_eq!(first["enrolled"], 1);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["subject"], "inactive:1759312800000");
    assert_eq!(runs[0]["status"], "exited");
    assert_eq!(runs[0]["endReason"], "active again");
    assert_eq!(queued(&runs[0]), vec!["miss-you"]);
}

#[tokio::test]
async fn a_message_due_outside_the_send_window_waits_for_the_next_allowed_local_time() {
    // Arrange: 22 November 2026 is a Sunday; the window is Monday to Friday, 9 to 17 UTC.
    let app = spawn_app().await;
    let welcome = template(&app, "welcome", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "registered": true },
            "steps": [{ "id": "welcome", "message": { "channel": "EMAIL", "templateId": welcome } }],
            "sendWindow": { "startHour": 9, "endHour": 17, "weekdays": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"] }
        }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "r",
            "sun",
            "2026-11-22T12:00:00Z",
            json!({ "registered": { "email": "sun@example.com" } })
        )]),
    )
    .await;
    app.processed("r").await;

    // Act
    tick(&app, "2026-11-22T12:01:00Z").await;
    tick(&app, "2026-11-23T08:59:00Z").await;
    let deferred = runs(&app, &campaign).await;
    tick(&app, "2026-11-23T09:00:00Z").await;
    let sent = runs(&app, &campaign).await;

    // Assert
    assert_eq!(outcomes(&deferred[0]), vec!["entered", "outsideWindow"]);
    assert_eq!(
        deferred[0]["log"][1]["detail"],
        "waits for 2026-11-23T09:00:00+00:00"
    );
    assert_eq!(
        outcomes(&sent[0]),
        vec!["entered", "outsideWindow", "queued", "completed"]
    );
}

#[tokio::test]
async fn filter_branches_and_step_audiences_choose_who_gets_which_message() {
    // Arrange: companies get one text, persons another, and wholesale persons none.
    let app = spawn_app().await;
    let for_companies = template(&app, "companies", "EMAIL").await;
    let for_persons = template(&app, "persons", "EMAIL").await;
    let company = customer(
        &app,
        json!({ "externalId": "co", "email": "co@example.com", "type": "COMPANY" }),
    )
    .await;
    let person = customer(
        &app,
        json!({ "externalId": "pe", "email": "pe@example.com", "type": "PERSON" }),
    )
    .await;
    let wholesale = customer(&app, json!({ "externalId": "wh", "email": "wh@example.com", "type": "PERSON", "wholesale": true })).await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "inactive": { "basis": "LAST_LOGIN", "days": 30 } },
            "steps": [{ "id": "who", "filter": {
                "condition": { "customerType": "COMPANY" },
                "yes": [{ "id": "company-text", "message": { "channel": "EMAIL", "templateId": for_companies } }],
                "no": [{ "id": "person-text", "message": { "channel": "EMAIL", "templateId": for_persons,
                    "audience": { "not": { "wholesale": true } } } }]
            } }]
        }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([
            ev(
                "1",
                "co",
                "2026-09-01T10:00:00Z",
                json!({ "loggedIn": true })
            ),
            ev(
                "2",
                "pe",
                "2026-09-01T10:00:00Z",
                json!({ "loggedIn": true })
            ),
            ev(
                "3",
                "wh",
                "2026-09-01T10:00:00Z",
                json!({ "loggedIn": true })
            ),
        ]),
    )
    .await;
    app.processed("3").await;

    // Act
    tick(&app, "2026-11-22T12:01:00Z").await;
    let runs = runs(&app, &campaign).await;
    let of = |id: &str| runs.iter().find(|r| r["customerId"] == id).expect("run");

    // Assert
    assert_eq!(queued(of(&company)), vec!["company-text"]);
    assert_eq!(outcomes(of(&company))[1], "yes");
    assert_eq!(queued(of(&person)), vec!["person-text"]);
    assert_eq!(outcomes(of(&person))[1], "no");
    assert_eq!(queued(of(&wholesale)), Vec::<String>::new());
    assert_eq!(outcomes(of(&wholesale))[2], "notInAudience");
}

#[tokio::test]
async fn a_campaign_step_can_show_a_banner_once() {
    // Arrange
    let app = spawn_app().await;
    active_campaign(
        &app,
        json!({
            "anchor": { "registered": true },
            "steps": [{ "id": "coupon", "effect": { "effects": [{ "showBanner": {
                "title": "Welcome", "bodyHtml": "<p>10% off</p>", "couponCode": "HELLO10" } }] } }]
        }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "r",
            "ann",
            "2026-11-22T12:00:00Z",
            json!({ "registered": { "email": "ann@example.com" } })
        )]),
    )
    .await;
    app.processed("r").await;

    // Act
    tick(&app, "2026-11-22T12:01:00Z").await;
    tick(&app, "2026-11-22T12:01:00Z").await;
    app.clock
        .set("2026-11-22T12:02:00Z".parse().expect("instant"));
    let banners = app
        .graphql(
            Some(&storefront),
            "{ banners(customerExternalId: \"ann\") { title couponCode } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(
        banners["data"]["banners"],
        json!([{ "title": "Welcome", "couponCode": "HELLO10" }])
    );
}
