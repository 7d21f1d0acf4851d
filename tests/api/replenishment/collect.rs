use super::*;
use crate::helpers::spawn_app;

async fn tick(app: &TestApp, at: &str) -> Value {
    app.admin_data(
        "mutation($at: DateTime) { runCampaignTick(at: $at) { predictedCarts } }",
        json!({ "at": at }),
    )
    .await["runCampaignTick"]
        .clone()
}

async fn cart(app: &TestApp, customer: &str) -> Value {
    app.admin_data(
        "query($e: String!) { predictedCart(customerExternalId: $e) { id status lines { product { externalId } quantity unitPrice { amount } total { amount } } totals { amount currency } } }",
        json!({ "e": customer }),
    )
    .await["predictedCart"]
        .clone()
}

#[tokio::test]
async fn the_monday_collection_comes_at_nine_in_each_customers_zone_with_one_cart_each() {
    // Arrange: Ann in Warsaw, Bob in New York, Cid without a zone (the store's, UTC). Each
    // got coffee (10 days a kilogram) and filters (30 days) delivered; only what runs out
    // within a week of Monday the 7th goes into the carts.
    let app = spawn_app().await;
    catalog(&app).await;
    for (customer, zone) in [
        ("ann", Some("Europe/Warsaw")),
        ("bob", Some("America/New_York")),
        ("cid", None),
    ] {
        let mut input = json!({ "externalId": customer });
        if let Some(zone) = zone {
            input["timeZone"] = json!(zone);
        }
        app.create_customer(input).await;
        upsert(
            &app,
            json!([order(
                &format!("{customer}-1"),
                customer,
                "DELIVERED",
                "2026-11-20T10:00:00Z",
                &[("coffee", 2), ("filters", 1), ("mug", 1)]
            )]),
        )
        .await;
    }
    // The first look only starts the clock.
    assert_eq!(
        tick(&app, "2026-12-07T07:00:00Z").await["predictedCarts"],
        0
    );

    // Act / Assert: 09:00 in Warsaw is 08:00 UTC.
    assert_eq!(
        tick(&app, "2026-12-07T08:00:00Z").await["predictedCarts"],
        1
    );
    let ann = cart(&app, "ann").await;
    assert_eq!(ann["status"], "OPEN");
    assert_eq!(
        ann["lines"],
        json!([{ "product": { "externalId": "coffee" }, "quantity": 2, "unitPrice": { "amount": "20.00" }, "total": { "amount": "40.00" } }])
    );
    assert_eq!(
        ann["totals"],
        json!([{ "amount": "40.00", "currency": "USD" }])
    );
    assert_eq!(cart(&app, "bob").await, Value::Null);
    assert_eq!(cart(&app, "cid").await, Value::Null);
    // 09:00 UTC: customers without a zone.
    assert_eq!(
        tick(&app, "2026-12-07T09:00:00Z").await["predictedCarts"],
        1
    );
    assert_eq!(cart(&app, "cid").await["status"], "OPEN");
    // 09:00 in New York is 14:00 UTC; a tick that comes late (14:30) catches it up.
    assert_eq!(
        tick(&app, "2026-12-07T14:30:00Z").await["predictedCarts"],
        1
    );
    assert_eq!(
        cart(&app, "bob").await["lines"][0]["product"]["externalId"],
        "coffee"
    );

    // Never a second cart, nor the same item twice: the next Monday finds Ann's cart open.
    assert_eq!(
        tick(&app, "2026-12-14T08:00:00Z").await["predictedCarts"],
        0
    );
    assert_eq!(cart(&app, "ann").await["id"], ann["id"]);
    let due = items(&app, "ann").await;
    let statuses: Vec<(&Value, &Value)> = due
        .iter()
        .map(|i| (&i["product"]["externalId"], &i["status"]))
        .collect();
    assert_eq!(
        statuses,
        [
            (&json!("coffee"), &json!("IN_CART")),
            (&json!("filters"), &json!("WAITING"))
        ]
    );
}
