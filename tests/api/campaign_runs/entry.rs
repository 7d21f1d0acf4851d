//! Who enters and when: exit goals, re-entry policies, previews that write nothing, paused
//! campaigns, deletion and planners of several processes.

use super::*;

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
