//! The campaign engine driven through `runCampaignTick` at chosen instants.

use crate::helpers::{TestApp, error_code, ev, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const RUNS: &str = "query($c: ID) { campaignRuns(campaignId: $c) { id customerId subject status stepId endReason log { stepId outcome detail deliveryId } } }";

async fn template(app: &TestApp, name: &str, channel: &str) -> String {
    let input = if channel == "SMS" {
        json!({ "name": name, "channel": "SMS", "bodyText": "Hi" })
    } else {
        json!({ "name": name, "channel": "EMAIL", "subject": name, "bodyHtml": "<p>Hi</p>" })
    };
    let data = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } userErrors { message } } }",
            json!({ "input": input }),
        )
        .await;
    data["createTemplate"]["template"]["id"]
        .as_str()
        .expect("template id")
        .to_owned()
}

async fn active_campaign(app: &TestApp, mut input: Value) -> String {
    input["status"] = json!("ACTIVE");
    input["name"] = json!("campaign");
    let data = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { field code message } } }",
            json!({ "input": input }),
        )
        .await;
    let payload = &data["createCampaign"];
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    payload["campaign"]["id"].as_str().expect("id").to_owned()
}

async fn tick(app: &TestApp, at: &str) -> Value {
    app.admin_data(
        "mutation($at: DateTime) { runCampaignTick(at: $at) { enrolled advanced } }",
        json!({ "at": at }),
    )
    .await["runCampaignTick"]
        .clone()
}

/// The campaign's runs, by customer id.
async fn runs(app: &TestApp, campaign: &str) -> Vec<Value> {
    let data = app.admin_data(RUNS, json!({ "c": campaign })).await;
    let mut list = data["campaignRuns"].as_array().expect("runs").clone();
    list.sort_by_key(|r| r["customerId"].as_str().map(str::to_owned));
    list
}

fn outcomes(run: &Value) -> Vec<String> {
    run["log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|l| l["outcome"].as_str().expect("outcome").to_owned())
        .collect()
}

fn queued(run: &Value) -> Vec<String> {
    run["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter(|l| l["outcome"] == "queued")
        .map(|l| l["stepId"].as_str().expect("step").to_owned())
        .collect()
}

async fn customer(app: &TestApp, input: Value) -> String {
    app.create_customer(input).await
}

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
async fn a_planner_that_waited_for_another_starts_where_that_one_stopped() {
    // Arrange: a customer inactive for over a year, and another process's planner holding the
    // planner's turn, having planned the campaign up to the tick's instant.
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let mail = template(&app, "miss-you", "EMAIL").await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "a1",
            "away",
            "2025-10-01T10:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed("a1").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "inactive": { "basis": "LAST_LOGIN", "days": 365 } },
            "steps": [{ "id": "mail", "message": { "channel": "EMAIL", "templateId": mail } }]
        }),
    )
    .await;
    let db = nudge::db::connect(&app.database_url, 2)
        .await
        .expect("connected");
    let other = nudge::db::begin_write(&db).await.expect("begun");
    nudge::domain::campaigns::tick::take_planner_turn(&other)
        .await
        .expect("the turn is free");
    let at = "2026-11-22T12:05:00Z";
    let at_ms = chrono::DateTime::parse_from_rfc3339(at)
        .expect("instant")
        .timestamp_millis();
    other
        .execute_raw(nudge::db::raw_statement(
            other.get_database_backend(),
            "UPDATE campaigns SET planned_until = ?",
            vec![at_ms.into()],
        ))
        .await
        .expect("planned");

    // Act: this server's tick waits for the turn, which the other planner gives back.
    let (report, ()) = tokio::join!(tick(&app, at), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        other.commit().await.expect("committed");
    });

    // Assert: the window was planned by the other; nobody is enrolled a second time over.
    assert_eq!(report["enrolled"], 0);
    assert!(runs(&app, &campaign).await.is_empty());
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
async fn the_tick_mutation_is_refused_unless_configuration_enables_it() {
    // Arrange
    let app = spawn_app_with(|s| s.tick_mutation = false).await;

    // Act
    let response = app
        .admin("mutation { runCampaignTick { enrolled } }", json!({}))
        .await;

    // Assert
    assert_eq!(error_code(&response), "FORBIDDEN");
}

fn order(id: &str, at: &str, extra: Value) -> Value {
    let mut placed = json!({ "orderExternalId": id, "total": "10.00", "currency": "USD",
        "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] });
    if let (Some(placed), Some(extra)) = (placed.as_object_mut(), extra.as_object()) {
        placed.extend(extra.clone());
    }
    ev(
        &format!("place-{id}"),
        "olga",
        at,
        json!({ "orderPlaced": placed }),
    )
}

fn status(id: &str, event: &str, at: &str, status: &str, planned: Option<&str>) -> Value {
    let mut change = json!({ "orderExternalId": id, "status": status });
    if let Some(planned) = planned {
        change["plannedDeliveryAt"] = json!(planned);
    }
    ev(event, "olga", at, json!({ "orderStatusChanged": change }))
}

/// An app with product `p1`, customer `olga` (with an email) and a storefront key.
async fn shop() -> (TestApp, String) {
    let app = spawn_app().await;
    app.create_products(&["p1"]).await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "reg",
            "olga",
            "2026-11-01T10:00:00Z",
            json!({ "registered": { "email": "olga@example.com" } })
        )]),
    )
    .await;
    (app, storefront)
}

async fn one_message_campaign(app: &TestApp, anchor: Value, extra: Value) -> String {
    let mail = template(app, &format!("mail-{}", uuid::Uuid::new_v4()), "EMAIL").await;
    let mut input = json!({
        "anchor": anchor,
        "steps": [{ "id": "mail", "message": { "channel": "EMAIL", "templateId": mail } }]
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    active_campaign(app, input).await
}

#[tokio::test]
async fn only_the_second_order_starts_a_second_order_campaign() {
    // Arrange
    let (app, storefront) = shop().await;
    let campaign =
        one_message_campaign(&app, json!({ "orderPlaced": { "nth": 2 } }), json!({})).await;

    // Act
    app.record(
        &storefront,
        json!([
            order("o1", "2026-11-22T12:00:00Z", json!({})),
            order("o2", "2026-11-22T13:00:00Z", json!({})),
            order("o3", "2026-11-22T14:00:00Z", json!({})),
        ]),
    )
    .await;
    app.processed("place-o3").await;
    tick(&app, "2026-11-22T14:01:00Z").await;
    let runs = runs(&app, &campaign).await;

    // Assert
    assert_eq!(runs.len(), 1);
    assert!(
        runs[0]["subject"]
            .as_str()
            .expect("subject")
            .starts_with("order:")
    );
    assert_eq!(queued(&runs[0]), vec!["mail"]);
}

#[tokio::test]
async fn paid_and_delivered_orders_start_their_campaigns_and_an_unpaid_one_gets_a_reminder() {
    // Arrange
    let (app, storefront) = shop().await;
    let paid = one_message_campaign(&app, json!({ "orderPaid": true }), json!({})).await;
    let delivered = one_message_campaign(&app, json!({ "delivered": true }), json!({})).await;
    let unpaid = one_message_campaign(
        &app,
        json!({ "orderUnpaid": { "afterHours": 24 } }),
        json!({}),
    )
    .await;

    // Act
    app.record(
        &storefront,
        json!([
            order("o1", "2026-11-22T12:00:00Z", json!({})),
            order("o2", "2026-11-22T12:10:00Z", json!({})),
            status("o1", "pay-o1", "2026-11-22T12:30:00Z", "PAID", None),
            status(
                "o1",
                "deliver-o1",
                "2026-11-24T10:00:00Z",
                "DELIVERED",
                None
            ),
        ]),
    )
    .await;
    app.processed("deliver-o1").await;
    tick(&app, "2026-11-23T12:05:00Z").await;
    tick(&app, "2026-11-24T10:01:00Z").await;
    let (paid, delivered, unpaid) = (
        runs(&app, &paid).await,
        runs(&app, &delivered).await,
        runs(&app, &unpaid).await,
    );

    // Assert
    assert_eq!(paid.len(), 1);
    assert_eq!(queued(&paid[0]), vec!["mail"]);
    assert_eq!(delivered.len(), 1);
    assert_eq!(queued(&delivered[0]), vec!["mail"]);
    assert_eq!(unpaid.len(), 1, "only o2 is still unpaid after a day");
    assert_eq!(paid[0]["subject"], delivered[0]["subject"]);
    assert_ne!(unpaid[0]["subject"], paid[0]["subject"]);
}

#[tokio::test]
async fn a_delivery_reminder_follows_a_moved_date_and_a_cancelled_order_ends_it() {
    // Arrange: remind two days before the planned delivery at 10:00 UTC.
    let (app, storefront) = shop().await;
    let before = template(&app, "before", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "plannedDelivery": true },
            "steps": [
                { "id": "two-days-before", "wait": { "until": { "offsetDays": -2, "hour": 10 } } },
                { "id": "remind", "message": { "channel": "EMAIL", "templateId": before } }
            ]
        }),
    )
    .await;
    app.record(
        &storefront,
        json!([
            order(
                "moved",
                "2026-11-22T12:00:00Z",
                json!({ "plannedDeliveryAt": "2026-11-30T12:00:00Z" })
            ),
            order(
                "cancelled",
                "2026-11-22T12:00:00Z",
                json!({ "plannedDeliveryAt": "2026-11-30T12:00:00Z" })
            ),
        ]),
    )
    .await;
    app.processed("place-cancelled").await;

    // Act: both are enrolled three days ahead and wait for the 28th at 10:00; then one date
    // moves to the 29th (so the reminder was due on the 27th: it goes at once) and the other
    // order is cancelled.
    let early = tick(&app, "2026-11-27T11:00:00Z").await;
    let enrolled = tick(&app, "2026-11-27T13:00:00Z").await;
    app.record(
        &storefront,
        json!([
            status(
                "moved",
                "move",
                "2026-11-27T13:30:00Z",
                "PAID",
                Some("2026-11-29T12:00:00Z")
            ),
            status(
                "cancelled",
                "cancel",
                "2026-11-27T13:30:00Z",
                "CANCELLED",
                None
            ),
        ]),
    )
    .await;
    app.processed("cancel").await;
    tick(&app, "2026-11-27T14:00:00Z").await;
    let after_move = runs(&app, &campaign).await;
    tick(&app, "2026-11-28T10:01:00Z").await;
    let end = runs(&app, &campaign).await;

    // Assert
    assert_eq!(early["enrolled"], 0, "more than three days ahead");
    assert_eq!(enrolled["enrolled"], 2);
    assert_eq!(after_move.len(), 2);
    let by_outcome = |runs: &[Value], status: &str| -> Vec<Value> {
        runs.iter()
            .filter(|r| r["status"] == status)
            .cloned()
            .collect()
    };
    let moved = &by_outcome(&after_move, "completed");
    assert_eq!(
        moved.len(),
        1,
        "27 November 10:00 has passed: it is sent at once"
    );
    assert_eq!(queued(&moved[0]), vec!["remind"]);
    assert!(outcomes(&moved[0]).contains(&"anchorMoved".to_owned()));
    let cancelled = &by_outcome(&end, "exited");
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["endReason"], "the order was cancelled");
    assert!(queued(&cancelled[0]).is_empty());
}

#[tokio::test]
async fn a_newsletter_signup_starts_a_run_and_an_exit_goal_converts_it() {
    // Arrange
    let (app, storefront) = shop().await;
    let hello = template(&app, "hello", "EMAIL").await;
    let nudge = template(&app, "nudge", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "newsletterSubscribed": true },
            "steps": [
                { "id": "hello", "message": { "channel": "EMAIL", "templateId": hello } },
                { "id": "later", "wait": { "days": 3 } },
                { "id": "nudge", "message": { "channel": "EMAIL", "templateId": nudge } }
            ],
            "exitGoal": { "events": ["ORDER_PLACED"] }
        }),
    )
    .await;
    app.record(
        &storefront,
        json!([ev(
            "sub",
            "olga",
            "2026-11-22T12:00:00Z",
            json!({ "newsletterSubscribed": true })
        )]),
    )
    .await;
    app.processed("sub").await;

    // Act
    tick(&app, "2026-11-22T12:01:00Z").await;
    app.record(
        &storefront,
        json!([order("o1", "2026-11-23T09:00:00Z", json!({}))]),
    )
    .await;
    app.processed("place-o1").await;
    tick(&app, "2026-11-26T12:00:00Z").await;
    let runs = runs(&app, &campaign).await;

    // Assert
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "converted");
    assert_eq!(runs[0]["endReason"], "exit goal reached: order_placed");
    assert_eq!(queued(&runs[0]), vec!["hello"]);
}

#[tokio::test]
async fn re_entry_policies_admit_once_ever_once_per_subject_or_after_a_pause() {
    // Arrange: three campaigns on every order, one per policy.
    let (app, storefront) = shop().await;
    let once_ever = one_message_campaign(
        &app,
        json!({ "orderPlaced": {} }),
        json!({ "reentry": { "kind": "ONCE_EVER" } }),
    )
    .await;
    let per_order = one_message_campaign(
        &app,
        json!({ "orderPlaced": {} }),
        json!({ "reentry": { "kind": "ONCE_PER_SUBJECT" } }),
    )
    .await;
    let weekly = one_message_campaign(
        &app,
        json!({ "orderPlaced": {} }),
        json!({ "reentry": { "kind": "AT_MOST_EVERY_DAYS", "days": 7 } }),
    )
    .await;

    // Act: orders on the 22nd, the 23rd and the 30th (processing happens at the app's clock).
    for (id, at, clock) in [
        ("o1", "2026-11-22T12:00:00Z", "2026-11-22T12:00:00Z"),
        ("o2", "2026-11-23T12:00:00Z", "2026-11-23T12:00:00Z"),
        ("o3", "2026-11-30T12:00:00Z", "2026-11-30T13:00:00Z"),
    ] {
        app.clock.set(clock.parse().expect("instant"));
        app.record(&storefront, json!([order(id, at, json!({}))]))
            .await;
        app.processed(&format!("place-{id}")).await;
    }
    let count = |runs: Vec<Value>| runs.len();

    // Assert
    assert_eq!(count(runs(&app, &once_ever).await), 1);
    assert_eq!(count(runs(&app, &per_order).await), 3);
    assert_eq!(
        count(runs(&app, &weekly).await),
        2,
        "o2 came within 7 days of o1"
    );
}

#[tokio::test]
async fn preview_audience_shows_who_would_enter_and_which_message_would_go_when_without_writing() {
    // Arrange: persons only; companies and persons get different texts a day after entry,
    // in a 9-to-17 window.
    let app = spawn_app().await;
    let text = template(&app, "text", "EMAIL").await;
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
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "inactive": { "basis": "LAST_LOGIN", "days": 30 } },
            "audience": { "customerType": "PERSON" },
            "steps": [
                { "id": "day", "wait": { "days": 1 } },
                { "id": "mail", "message": { "channel": "EMAIL", "templateId": text } }
            ],
            "sendWindow": { "startHour": 9, "endHour": 17 }
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
        ]),
    )
    .await;
    app.processed("2").await;

    // Act
    let data = app
        .admin_data(
            "query($c: ID!) { previewAudience(campaignId: $c, at: \"2026-11-22T18:00:00Z\") { customerId subject inAudience stepId sendsAt } }",
            json!({ "c": campaign }),
        )
        .await;
    let after = runs(&app, &campaign).await;

    // Assert
    let mut preview = data["previewAudience"].as_array().expect("preview").clone();
    preview.sort_by_key(|p| p["customerId"].as_str().map(str::to_owned));
    let of = |id: &str| {
        preview
            .iter()
            .find(|p| p["customerId"] == id)
            .expect("entry")
            .clone()
    };
    assert_eq!(preview.len(), 2);
    assert_eq!(of(&company)["inAudience"], false);
    assert_eq!(of(&company)["stepId"], Value::Null);
    assert_eq!(of(&person)["inAudience"], true);
    assert_eq!(of(&person)["stepId"], "mail");
    // The day's wait counts from the campaign's activation (12:00; the customer was inactive
    // already), and 12:00 the next day is inside the window.
    assert_eq!(of(&person)["sendsAt"], "2026-11-23T12:00:00+00:00");
    assert!(after.is_empty(), "a preview writes nothing");
}

#[tokio::test]
async fn a_paused_campaign_advances_no_run_until_it_is_active_again() {
    // Arrange
    let app = spawn_app().await;
    let welcome = template(&app, "welcome", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "registered": true },
            "steps": [
                { "id": "hour", "wait": { "hours": 1 } },
                { "id": "welcome", "message": { "channel": "EMAIL", "templateId": welcome } }
            ]
        }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "r",
            "pia",
            "2026-11-22T12:00:00Z",
            json!({ "registered": { "email": "pia@example.com" } })
        )]),
    )
    .await;
    app.processed("r").await;
    let set_status = |status: &'static str| {
        let (app, campaign) = (&app, campaign.clone());
        async move {
            app.admin_data(
                "mutation($id: ID!, $s: CampaignStatus!) { updateCampaign(id: $id, input: { status: $s }) { userErrors { message } } }",
                json!({ "id": campaign, "s": status }),
            )
            .await
        }
    };

    // Act
    set_status("PAUSED").await;
    let paused = tick(&app, "2026-11-22T13:05:00Z").await;
    let while_paused = runs(&app, &campaign).await;
    set_status("ACTIVE").await;
    let resumed = tick(&app, "2026-11-22T13:10:00Z").await;
    let after = runs(&app, &campaign).await;

    // Assert
    assert_eq!(paused["advanced"], 0);
    assert_eq!(while_paused[0]["status"], "active");
    assert_eq!(while_paused[0]["stepId"], "hour");
    assert_eq!(resumed["advanced"], 1);
    assert_eq!(queued(&after[0]), vec!["welcome"]);
}

#[tokio::test]
async fn an_order_campaign_audience_sees_the_order_the_run_is_about() {
    // Arrange: only orders of 50.00 or more.
    let (app, storefront) = shop().await;
    let campaign = one_message_campaign(
        &app,
        json!({ "orderPlaced": {} }),
        json!({ "audience": { "orderTotal": { "min": "50.00" } } }),
    )
    .await;

    // Act
    app.record(&storefront, json!([
        order("small", "2026-11-22T12:00:00Z", json!({})),
        order("large", "2026-11-22T12:10:00Z", json!({ "total": "80.00", "lines": [{ "productExternalId": "p1", "quantity": 8, "unitPrice": "10.00" }] })),
    ])).await;
    app.processed("place-large").await;
    tick(&app, "2026-11-22T12:15:00Z").await;
    let runs = runs(&app, &campaign).await;

    // Assert
    let mut statuses: Vec<&str> = runs
        .iter()
        .map(|r| r["status"].as_str().expect("status"))
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, vec!["completed", "skipped"]);
}

#[tokio::test]
async fn deleting_a_customer_or_a_campaign_deletes_their_runs() {
    // Arrange: two customers in a campaign, and a second campaign.
    let app = spawn_app().await;
    let welcome = template(&app, "welcome", "EMAIL").await;
    let input = json!({
        "anchor": { "registered": true },
        "steps": [{ "id": "welcome", "message": { "channel": "EMAIL", "templateId": welcome } }]
    });
    let first = active_campaign(&app, input.clone()).await;
    let second = active_campaign(&app, input).await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([
            ev(
                "a",
                "ann",
                "2026-11-22T12:00:00Z",
                json!({ "registered": { "email": "ann@example.com" } })
            ),
            ev(
                "b",
                "ben",
                "2026-11-22T12:00:00Z",
                json!({ "registered": { "email": "ben@example.com" } })
            ),
        ]),
    )
    .await;
    app.processed("b").await;
    tick(&app, "2026-11-22T12:01:00Z").await;
    let ann = app
        .admin_data("{ customer(externalId: \"ann\") { id } }", json!({}))
        .await["customer"]["id"]
        .clone();

    // Act
    app.admin_data(
        "mutation($id: ID!) { deleteCustomer(id: $id) { userErrors { message } } }",
        json!({ "id": ann }),
    )
    .await;
    app.admin_data(
        "mutation($id: ID!) { deleteCampaign(id: $id) { userErrors { message } } }",
        json!({ "id": second }),
    )
    .await;
    let first_runs = runs(&app, &first).await;
    let second_runs = runs(&app, &second).await;
    let after = tick(&app, "2026-11-22T12:02:00Z").await;

    // Assert
    assert_eq!(first_runs.len(), 1, "ben's run stays");
    assert_ne!(first_runs[0]["customerId"], ann);
    assert!(second_runs.is_empty());
    assert_eq!(after["advanced"], 0);
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

#[tokio::test]
async fn a_run_that_cannot_go_on_fails_alone_with_its_reason_and_the_engine_goes_on() {
    // Arrange: two campaigns on registration; the first assigns a role deleted afterwards.
    // Both wait first, so the tick (not the processor's pass) takes the runs.
    let app = spawn_app().await;
    let role = app.create_role("Doomed", "doomed", &[]).await;
    let welcome = template(&app, "welcome", "EMAIL").await;
    let broken = active_campaign(
        &app,
        json!({
            "anchor": { "registered": true },
            "steps": [
                { "id": "minute", "wait": { "minutes": 1 } },
                { "id": "grant", "effect": { "effects": [{ "assignRole": role }] } }
            ]
        }),
    )
    .await;
    let healthy = active_campaign(
        &app,
        json!({
            "anchor": { "registered": true },
            "steps": [
                { "id": "minutes", "wait": { "minutes": 2 } },
                { "id": "welcome", "message": { "channel": "EMAIL", "templateId": welcome } }
            ]
        }),
    )
    .await;
    app.delete_role(&role).await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([
            ev(
                "r1",
                "ann",
                "2026-11-22T12:00:00Z",
                json!({ "registered": { "email": "ann@example.com" } })
            ),
            ev(
                "r2",
                "bob",
                "2026-11-22T12:00:00Z",
                json!({ "registered": { "email": "bob@example.com" } })
            ),
        ]),
    )
    .await;
    app.processed("r2").await;

    // Act
    // The failing runs are due first (12:01), the healthy ones after them (12:02).
    let first = tick(&app, "2026-11-22T12:05:00Z").await;
    let second = tick(&app, "2026-11-22T12:06:00Z").await;
    let failed = runs(&app, &broken).await;
    let sent = runs(&app, &healthy).await;

    // Assert
    assert_eq!(first["advanced"], 4, "{first}");
    assert_eq!(second["advanced"], 0, "{second}");
    assert_eq!(failed.len(), 2);
    for run in &failed {
        assert_eq!(run["status"], "failed", "{run}");
        assert!(
            run["endReason"].as_str().is_some_and(|r| !r.is_empty()),
            "{run}"
        );
        assert_eq!(
            outcomes(run).last().map(String::as_str),
            Some("failed"),
            "{run}"
        );
    }
    assert!(sent.iter().all(|r| r["status"] == "completed"), "{sent:?}");
}

#[tokio::test]
async fn a_campaign_whose_stored_definition_no_longer_decodes_is_paused_not_run_with_a_default() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let welcome = template(&app, "welcome", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "orderPaid": true },
            "steps": [{ "id": "welcome", "message": { "channel": "EMAIL", "templateId": welcome } }]
        }),
    )
    .await;
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    db.execute_unprepared(&format!(
        "UPDATE campaigns SET anchor = '{{\"someday\": true}}' WHERE id = {campaign}"
    ))
    .await
    .expect("corrupted");
    let storefront = app.create_key("STOREFRONT").await;
    // A registration: the old fallback (`registered`) would have enrolled it.
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
    tick(&app, "2026-11-22T12:01:00Z").await;

    let read = app
        .admin_data(
            "query($id: ID!) { campaign(id: $id) { status brokenReason } }",
            json!({ "id": campaign }),
        )
        .await;
    assert_eq!(read["campaign"]["status"], "PAUSED", "{read}");
    assert!(
        read["campaign"]["brokenReason"]
            .as_str()
            .is_some_and(|r| r.contains("anchor")),
        "{read}"
    );
    assert_eq!(runs(&app, &campaign).await, Vec::<Value>::new());
}

#[tokio::test]
async fn preview_audience_leaves_out_whoever_already_has_a_run_for_the_subject() {
    // Arrange: a birthday campaign; the first tick enrols both customers.
    let app = spawn_app().await;
    let wish = template(&app, "birthday", "EMAIL").await;
    customer(
        &app,
        json!({ "externalId": "a", "email": "a@example.com", "birthday": "1990-03-10" }),
    )
    .await;
    customer(
        &app,
        json!({ "externalId": "b", "email": "b@example.com", "birthday": "1991-03-10" }),
    )
    .await;
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
    let preview = |at: &'static str| {
        let app = &app;
        let campaign = campaign.clone();
        async move {
            app.admin_data(
                "query($c: ID!, $at: DateTime) { previewAudience(campaignId: $c, at: $at) { customerId subject } }",
                json!({ "c": campaign, "at": at }),
            )
            .await["previewAudience"]
                .as_array()
                .expect("preview")
                .len()
        }
    };
    let before = preview("2027-03-09T12:00:00Z").await;

    // Act
    tick(&app, "2027-03-09T12:00:00Z").await;
    let enrolled = runs(&app, &campaign).await.len();
    let after = preview("2027-03-09T12:00:00Z").await;
    // The runs complete; the same birthday is still not theirs to enter again.
    tick(&app, "2027-03-10T09:01:00Z").await;
    let completed = preview("2027-03-10T09:01:00Z").await;
    let again = tick(&app, "2027-03-10T09:02:00Z").await;

    // Assert
    assert_eq!((before, enrolled), (2, 2));
    assert_eq!(after, 0, "a tick now would enrol nobody");
    assert_eq!(completed, 0);
    assert_eq!(again["enrolled"], 0);
}

#[tokio::test]
async fn a_thank_you_goes_out_in_the_processors_pass_without_waiting_for_a_tick() {
    // Arrange
    let (app, storefront) = shop().await;
    let campaign = one_message_campaign(&app, json!({ "orderPlaced": {} }), json!({})).await;

    // Act: the order is recorded and processed; no tick runs.
    app.record(
        &storefront,
        json!([order("o1", "2026-11-22T11:59:00Z", json!({}))]),
    )
    .await;
    app.processed("place-o1").await;
    let runs = runs(&app, &campaign).await;

    // Assert
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed", "{}", runs[0]);
    assert_eq!(queued(&runs[0]), vec!["mail"]);
}

#[tokio::test]
async fn a_wait_counts_from_the_anchors_own_time_when_the_fact_is_reported_late() {
    // Arrange: "three days after the delivery, ask for a review"; the campaign is active
    // before the delivery, which is reported three days late.
    let (app, storefront) = shop().await;
    let review = template(&app, "review", "EMAIL").await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "delivered": true },
            "steps": [
                { "id": "three-days", "wait": { "days": 3 } },
                { "id": "review", "message": { "channel": "EMAIL", "templateId": review } }
            ]
        }),
    )
    .await;
    app.record(
        &storefront,
        json!([order("o1", "2026-11-22T12:00:00Z", json!({}))]),
    )
    .await;
    app.processed("place-o1").await;
    app.clock.advance(chrono::Duration::days(3));

    // Act: on 25 November, the delivery of 22 November at 13:00 comes in.
    app.record(
        &storefront,
        json!([status(
            "o1",
            "delivered",
            "2026-11-22T13:00:00Z",
            "DELIVERED",
            None
        )]),
    )
    .await;
    app.processed("delivered").await;
    let early = runs(&app, &campaign).await;
    app.clock.advance(chrono::Duration::hours(2));
    tick(&app, "2026-11-25T14:00:00Z").await;
    let on_time = runs(&app, &campaign).await;

    // Assert: the wait ends at 13:00 on the 25th, three days after the delivery, not three
    // days after it was reported.
    assert_eq!(early.len(), 1);
    assert_eq!(early[0]["stepId"], "three-days");
    let waiting = early[0]["log"]
        .as_array()
        .expect("log")
        .iter()
        .find(|l| l["outcome"] == "waiting")
        .expect("a waiting line")
        .clone();
    assert_eq!(waiting["detail"], "2026-11-25T13:00:00+00:00");
    assert_eq!(on_time[0]["status"], "completed");
    assert_eq!(queued(&on_time[0]), vec!["review"]);
}

#[tokio::test]
async fn a_run_that_fails_in_the_processors_pass_fails_alone_and_the_event_is_processed() {
    // Arrange: a registration campaign assigns a role deleted since; another sends a mail.
    let app = spawn_app().await;
    let role = app.create_role("Doomed", "doomed", &[]).await;
    let broken = active_campaign(
        &app,
        json!({
            "anchor": { "registered": true },
            "steps": [{ "id": "grant", "effect": { "effects": [{ "assignRole": role }] } }]
        }),
    )
    .await;
    let healthy = one_message_campaign(&app, json!({ "registered": true }), json!({})).await;
    app.delete_role(&role).await;
    let storefront = app.create_key("STOREFRONT").await;

    // Act
    app.record(
        &storefront,
        json!([ev(
            "r1",
            "ann",
            "2026-11-22T11:59:00Z",
            json!({ "registered": { "email": "ann@example.com" } })
        )]),
    )
    .await;
    let outcome = app.processed("r1").await;

    // Assert
    assert_eq!(outcome, json!({ "actions": [] }));
    let failed = runs(&app, &broken).await;
    assert_eq!(failed[0]["status"], "failed", "{}", failed[0]);
    assert_eq!(
        failed[0]["endReason"],
        format!("role {role} no longer exists")
    );
    let sent = runs(&app, &healthy).await;
    assert_eq!(sent[0]["status"], "completed", "{}", sent[0]);
}
