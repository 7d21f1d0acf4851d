use super::*;
use crate::helpers::{spawn_app_with, user_errors};
use crate::smtp_sink::SmtpSink;
use crate::webhooks::receiver::Receiver;

const DECIDED: &str = "decided { changed predictedCart { id status decidedAt lines { product { externalId } quantity total { amount } } totals { amount } } } userErrors { field code message }";

/// Ann (no zone) got 2 kg of coffee and a box of filters delivered on 20 November; the
/// Monday collection of 7 December put the coffee into her cart. Returns the cart's id.
pub(crate) async fn ann_with_a_cart(app: &TestApp) -> String {
    catalog(app).await;
    app.create_customer(
        json!({ "externalId": "ann", "firstName": "Ann", "phone": "+14155550111" }),
    )
    .await;
    upsert(
        app,
        json!([order(
            "o1",
            "ann",
            "DELIVERED",
            "2026-11-20T10:00:00Z",
            &[("coffee", 2), ("filters", 1)]
        )]),
    )
    .await;
    for at in ["2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z"] {
        app.admin_data(
            "mutation($at: DateTime) { runCampaignTick(at: $at) { predictedCarts } }",
            json!({ "at": at }),
        )
        .await;
    }
    app.clock
        .set("2026-12-07T10:00:00Z".parse().expect("instant"));
    let data = app
        .admin_data(
            "{ predictedCart(customerExternalId: \"ann\") { id } }",
            json!({}),
        )
        .await;
    data["predictedCart"]["id"]
        .as_str()
        .expect("a cart")
        .to_owned()
}

/// Ann's due item of `product`.
async fn item(app: &TestApp, product: &str) -> Value {
    items(app, "ann")
        .await
        .into_iter()
        .find(|i| i["product"]["externalId"] == product)
        .expect("the item")
}

#[tokio::test]
async fn confirming_records_a_reorder_tells_the_staff_and_the_endpoint_and_a_second_click_changes_nothing()
 {
    // Arrange
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let receiver = Receiver::start().await;
    let app = spawn_app_with(move |s| {
        crate::webhooks::local_hooks(s);
        crate::deliveries::fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.store.staff_email = Some("ops@shop.example".into());
    })
    .await;
    crate::webhooks::create_endpoint(
        &app,
        json!({ "url": receiver.url("/shop"), "eventTypes": ["PREDICTED_CART_CONFIRMED"] }),
    )
    .await;
    let cart = ann_with_a_cart(&app).await;
    let confirm = format!(
        "mutation($c: ID!, $lines: [PredictedCartLineInput!]) {{ confirmPredictedCart(cartId: $c, customerExternalId: \"ann\", lines: $lines) {{ {DECIDED} }} }}"
    );

    // Act: 3 kg instead of 2; then the same click again.
    let first = app
        .admin_data(
            &confirm,
            json!({ "c": cart, "lines": [{ "productExternalId": "coffee", "quantity": 3 }] }),
        )
        .await;
    let again = app.admin_data(&confirm, json!({ "c": cart })).await;

    // Assert: confirmed once, with the quantity chosen.
    let decided = &first["confirmPredictedCart"]["decided"];
    assert_eq!(decided["changed"], true, "{first}");
    assert_eq!(decided["predictedCart"]["status"], "CONFIRMED");
    assert_eq!(
        decided["predictedCart"]["lines"],
        json!([{ "product": { "externalId": "coffee" }, "quantity": 3, "total": { "amount": "60.00" } }])
    );
    assert_eq!(again["confirmPredictedCart"]["decided"]["changed"], false);
    assert_eq!(
        again["confirmPredictedCart"]["decided"]["predictedCart"],
        decided["predictedCart"]
    );
    // The reorder, for the shop to create; it does not count as an order yet.
    let order = app
        .admin_data(
            "query($e: String!) { order(externalId: $e) { status total { amount } lines { product { externalId } quantity } } customer(externalId: \"ann\") { ordersCount } }",
            json!({ "e": format!("nudge-reorder-{cart}") }),
        )
        .await;
    assert_eq!(order["order"]["status"], "REQUESTED");
    assert_eq!(order["order"]["total"]["amount"], "60.00");
    assert_eq!(order["customer"]["ordersCount"], 1);
    // The coffee is due again as if 3 kg were bought now: 30 days from 7 December 10:00.
    let coffee = item(&app, "coffee").await;
    assert_eq!(coffee["status"], "WAITING");
    assert_eq!(coffee["dueAt"], "2027-01-06T10:00:00+00:00");
    // The staff are emailed once, with the customer and the line.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sink.count() == 0 {
        assert!(std::time::Instant::now() < deadline, "no staff email");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mail = sink.messages().remove(0);
    assert_eq!(mail.to, vec!["<ops@shop.example>".to_owned()]);
    assert!(mail.data.contains("Ann (ann)"), "{}", mail.data);
    assert!(mail.data.contains("+14155550111"), "{}", mail.data);
    assert!(
        mail.data.contains("3 =C3=97 Coffee 1 kg") || mail.data.contains("3 × Coffee 1 kg"),
        "{}",
        mail.data
    );
    // The shop's endpoint is told, with the lines and the order to create.
    let call = receiver.wait_for(1).await.remove(0);
    let body = call.json();
    assert_eq!(body["type"], "predicted_cart.confirmed");
    assert_eq!(body["data"]["cart"]["id"], cart);
    assert_eq!(
        body["data"]["order"]["externalId"],
        format!("nudge-reorder-{cart}")
    );
    assert_eq!(body["data"]["cart"]["lines"][0]["quantity"], 3);
    assert_eq!(body["data"]["customer"]["externalId"], "ann");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(sink.count(), 1, "one email for one confirmation");
    assert_eq!(receiver.calls().len(), 1);
}

#[tokio::test]
async fn postponing_moves_the_items_and_declining_drops_them_until_the_next_order() {
    // Arrange
    let app = spawn_app_with(|_| {}).await;
    let cart = ann_with_a_cart(&app).await;
    let mutation = |name: &str, extra: &str| {
        format!(
            "mutation($c: ID!) {{ {name}(cartId: $c, customerExternalId: \"ann\"{extra}) {{ {DECIDED} }} }}"
        )
    };

    // Act / Assert: out of range is refused with its path, and nothing changes.
    let refused = app
        .admin_data(
            &mutation("postponePredictedCart", ", days: 0"),
            json!({ "c": cart }),
        )
        .await;
    assert_eq!(
        user_errors(&refused["postponePredictedCart"]),
        vec![("days".to_owned(), "OUT_OF_RANGE".to_owned())]
    );
    let postponed = app
        .admin_data(
            &mutation("postponePredictedCart", ", days: 14"),
            json!({ "c": cart }),
        )
        .await;
    assert_eq!(
        postponed["postponePredictedCart"]["decided"]["predictedCart"]["status"],
        "POSTPONED"
    );
    let coffee = item(&app, "coffee").await;
    assert_eq!(coffee["status"], "WAITING");
    assert_eq!(coffee["dueAt"], "2026-12-21T10:00:00+00:00");
    assert_eq!(coffee["postponedUntil"], "2026-12-21T10:00:00+00:00");
    // A later "I have enough" on the same cart changes nothing.
    let late = app
        .admin_data(&mutation("declinePredictedCart", ""), json!({ "c": cart }))
        .await;
    assert_eq!(late["declinePredictedCart"]["decided"]["changed"], false);
    assert_eq!(
        late["declinePredictedCart"]["decided"]["predictedCart"]["status"],
        "POSTPONED"
    );

    // The next collection after the postponement makes a new cart; she declines it.
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-12-21T09:00:00Z\") { predictedCarts } }",
        json!({}),
    )
    .await;
    let next = app
        .admin_data("{ predictedCart(customerExternalId: \"ann\") { id lines { product { externalId } } } }", json!({}))
        .await;
    let next_id = next["predictedCart"]["id"]
        .as_str()
        .expect("a new cart")
        .to_owned();
    assert_ne!(next_id, cart);
    let declined = app
        .admin_data(
            &mutation("declinePredictedCart", ""),
            json!({ "c": next_id }),
        )
        .await;
    assert_eq!(declined["declinePredictedCart"]["decided"]["changed"], true);
    let mut statuses: Vec<Value> = items(&app, "ann")
        .await
        .iter()
        .map(|i| json!([i["product"]["externalId"], i["status"]]))
        .collect();
    statuses.sort_by_key(|v| v.to_string());
    assert_eq!(
        statuses,
        [
            json!(["coffee", "DECLINED"]),
            json!(["filters", "DECLINED"])
        ]
    );

    // A new order of the coffee makes it due again.
    upsert(
        &app,
        json!([order(
            "o2",
            "ann",
            "DELIVERED",
            "2026-12-22T10:00:00Z",
            &[("coffee", 1)]
        )]),
    )
    .await;
    let coffee = item(&app, "coffee").await;
    assert_eq!(coffee["status"], "WAITING");
    assert_eq!(coffee["postponedUntil"], Value::Null);
    assert_eq!(coffee["learned"], true);
}

#[tokio::test]
async fn another_customers_cart_is_not_found() {
    let app = spawn_app_with(|_| {}).await;
    let cart = ann_with_a_cart(&app).await;
    app.create_customer(json!({ "externalId": "bob" })).await;
    let response = app
        .admin(
            "mutation($c: ID!) { declinePredictedCart(cartId: $c, customerExternalId: \"bob\") { decided { changed } } }",
            json!({ "c": cart }),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&response), "NOT_FOUND");
}

#[tokio::test]
async fn ordering_everything_in_an_open_cart_meanwhile_closes_it_and_moves_the_items() {
    // Arrange: Ann's cart holds the coffee.
    let app = spawn_app_with(|_| {}).await;
    ann_with_a_cart(&app).await;
    assert_eq!(item(&app, "coffee").await["status"], "IN_CART");

    // Act: she orders coffee in the shop before deciding.
    upsert(
        &app,
        json!([order(
            "o2",
            "ann",
            "DELIVERED",
            "2026-12-07T11:00:00Z",
            &[("coffee", 1)]
        )]),
    )
    .await;

    // Assert: no open cart is left; the coffee waits again, due from the new order.
    let open = app
        .admin_data(
            "{ predictedCart(customerExternalId: \"ann\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(open["predictedCart"], Value::Null);
    let coffee = item(&app, "coffee").await;
    assert_eq!(coffee["status"], "WAITING");
    assert_eq!(coffee["lastOrderedAt"], "2026-12-07T11:00:00+00:00");
}
