//! A run that cannot go on fails alone, with its reason; a broken definition pauses its
//! campaign.

use super::*;

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
