use super::*;
use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn a_delivered_order_makes_each_replenishable_line_due_after_its_days_times_quantity() {
    // Arrange
    let app = spawn_app().await;
    catalog(&app).await;
    app.create_customer(json!({ "externalId": "ann" })).await;

    // Act: 3 kg of coffee, a box of filters and a mug, delivered; then an order on its way.
    upsert(
        &app,
        json!([
            order(
                "o1",
                "ann",
                "DELIVERED",
                "2026-11-01T10:00:00Z",
                &[("coffee", 2), ("mug", 1), ("filters", 1), ("coffee", 1)]
            ),
            order(
                "o2",
                "ann",
                "PLACED",
                "2026-11-20T10:00:00Z",
                &[("coffee", 1)]
            )
        ]),
    )
    .await;

    // Assert: lines of one product add up; the mug is never due; the order on its way does
    // not count yet (the default basis is delivered orders).
    let due = items(&app, "ann").await;
    assert_eq!(due.len(), 2, "{due:?}");
    assert_eq!(due[0]["product"]["externalId"], "coffee");
    assert_eq!(due[0]["quantity"], 3);
    assert_eq!(due[0]["daysPerUnit"], 10.0);
    assert_eq!(due[0]["learned"], false);
    assert_eq!(due[0]["dueAt"], "2026-12-01T10:00:00+00:00");
    assert_eq!(due[0]["status"], "WAITING");
    assert_eq!(due[1]["product"]["externalId"], "filters");
    assert_eq!(due[1]["dueAt"], "2026-12-01T10:00:00+00:00");
}

#[tokio::test]
async fn a_second_order_teaches_the_customers_own_pace_and_a_cancellation_takes_it_back() {
    // Arrange: on the placed basis.
    let app = spawn_app_with(|s| {
        s.store.replenishment.basis = nudge::config::ReplenishmentBasis::Placed;
    })
    .await;
    catalog(&app).await;
    app.create_customer(json!({ "externalId": "ann" })).await;
    upsert(
        &app,
        json!([order(
            "o1",
            "ann",
            "PLACED",
            "2026-10-01T10:00:00Z",
            &[("coffee", 2)]
        )]),
    )
    .await;
    assert_eq!(
        items(&app, "ann").await[0]["dueAt"],
        "2026-10-21T10:00:00+00:00"
    );

    // Act: she came back after 30 days for 1 kg — 15 days a kilogram, not 10.
    upsert(
        &app,
        json!([order(
            "o2",
            "ann",
            "PLACED",
            "2026-10-31T10:00:00Z",
            &[("coffee", 1)]
        )]),
    )
    .await;
    let learned = items(&app, "ann").await;
    // A third order, then cancelled.
    upsert(
        &app,
        json!([order(
            "o3",
            "ann",
            "PLACED",
            "2026-11-10T10:00:00Z",
            &[("coffee", 4)]
        )]),
    )
    .await;
    let third = items(&app, "ann").await;
    let mut cancelled = order(
        "o3",
        "ann",
        "CANCELLED",
        "2026-11-10T10:00:00Z",
        &[("coffee", 4)],
    );
    cancelled["cancelledAt"] = json!("2026-11-11T10:00:00Z");
    upsert(&app, json!([cancelled])).await;
    let back = items(&app, "ann").await;

    // Assert
    assert_eq!(learned[0]["learned"], true);
    assert_eq!(learned[0]["daysPerUnit"], 15.0);
    assert_eq!(learned[0]["dueAt"], "2026-11-15T10:00:00+00:00");
    // Gaps: 30 days / 2 kg = 15, then 10 days / 1 kg = 10; weighted (10·3 + 15·2) / 5 = 12.
    assert_eq!(third[0]["daysPerUnit"], 12.0);
    assert_eq!(third[0]["dueAt"], "2026-12-28T10:00:00+00:00");
    assert_eq!(back, learned, "the cancelled order no longer counts");
}

#[tokio::test]
async fn a_product_whose_only_order_is_cancelled_is_no_longer_due() {
    // Arrange
    let app = spawn_app().await;
    catalog(&app).await;
    app.create_customer(json!({ "externalId": "ann" })).await;
    upsert(
        &app,
        json!([order(
            "o1",
            "ann",
            "DELIVERED",
            "2026-11-01T10:00:00Z",
            &[("filters", 1)]
        )]),
    )
    .await;
    assert_eq!(items(&app, "ann").await.len(), 1);

    // Act
    let mut refunded = order(
        "o1",
        "ann",
        "REFUNDED",
        "2026-11-01T10:00:00Z",
        &[("filters", 1)],
    );
    refunded["deliveredAt"] = json!("2026-11-02T10:00:00Z");
    upsert(&app, json!([refunded])).await;

    // Assert
    assert_eq!(items(&app, "ann").await, Vec::<Value>::new());
}
