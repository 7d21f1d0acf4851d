//! Runs about an order: which orders start them, what ends them (paid, cancelled, a moved
//! delivery date) and how soon the processor advances them.

use super::*;

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
