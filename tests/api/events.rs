use crate::helpers::{TestApp, error_code, spawn_app, user_errors};
use serde_json::{Value, json};

const RECORD: &str = "mutation($events: [EventInput!]!) { recordEvents(events: $events) { results { duplicate event { id eventId kind processedAt } } userErrors { field code message } } }";
const FACTS: &str = "{ customer(externalId: \"c1\") { id email firstName registeredAt lastLoginAt lastOrderAt ordersCount totalSpent { amount } cartUpdatedAt cart { product { externalId } quantity } consent { email { granted source } } } }";

fn event(id: &str, occurred_at: &str, payload: Value) -> Value {
    json!({ "eventId": id, "customerExternalId": "c1", "occurredAt": occurred_at, "payload": payload })
}

async fn record(app: &TestApp, key: &str, events: Value) -> Value {
    let response = app
        .graphql(Some(key), RECORD, json!({ "events": events }))
        .await;
    assert!(response.get("errors").is_none(), "{response}");
    response["data"]["recordEvents"].clone()
}

#[tokio::test]
async fn events_keep_the_customers_facts_current() {
    // Arrange
    let app = spawn_app().await;
    app.create_products(&["p1", "p2"]).await;
    let storefront = app.create_key("STOREFRONT").await;

    // Act
    let registered = record(&app, &storefront, json!([
        event("e1", "2026-11-01T10:00:00Z", json!({ "registered": { "email": "ann@example.com", "firstName": "Ann" } })),
        event("e2", "2026-11-02T10:00:00Z", json!({ "loggedIn": true })),
        event("e3", "2026-11-02T10:05:00Z", json!({ "addedToCart": { "lines": [{ "productExternalId": "p1", "quantity": 1 }] } })),
        event("e4", "2026-11-02T10:06:00Z", json!({ "addedToCart": { "lines": [{ "productExternalId": "p1", "quantity": 2 }, { "productExternalId": "p2", "quantity": 1 }] } })),
        event("e5", "2026-11-02T10:07:00Z", json!({ "newsletterSubscribed": true })),
    ])).await;
    let with_cart = app.admin_data(FACTS, json!({})).await;
    record(&app, &storefront, json!([
        event("e6", "2026-11-03T09:00:00Z", json!({ "orderPlaced": { "orderExternalId": "o1", "total": "30.00", "currency": "USD", "paymentMethod": "card", "lines": [{ "productExternalId": "p1", "quantity": 3, "unitPrice": "10.00" }] } })),
    ])).await;
    let ordered = app.admin_data(FACTS, json!({})).await;
    record(
        &app,
        &storefront,
        json!([event(
            "e7",
            "2026-11-04T09:00:00Z",
            json!({ "orderStatusChanged": { "orderExternalId": "o1", "status": "CANCELLED" } })
        ),]),
    )
    .await;
    let cancelled = app.admin_data(FACTS, json!({})).await;
    let order = app
        .admin_data(
            "{ order(externalId: \"o1\") { status cancelledAt } }",
            json!({}),
        )
        .await;

    // Assert
    assert_eq!(registered["userErrors"], json!([]));
    assert_eq!(registered["results"].as_array().unwrap().len(), 5);
    assert_eq!(registered["results"][0]["event"]["kind"], "REGISTERED");
    let c = &with_cart["customer"];
    assert_eq!(c["email"], "ann@example.com");
    assert_eq!(c["registeredAt"], "2026-11-01T10:00:00+00:00");
    assert_eq!(c["lastLoginAt"], "2026-11-02T10:00:00+00:00");
    assert_eq!(
        c["cart"],
        json!([{ "product": { "externalId": "p1" }, "quantity": 3 }, { "product": { "externalId": "p2" }, "quantity": 1 }])
    );
    assert_eq!(c["cartUpdatedAt"], "2026-11-02T10:06:00+00:00");
    assert_eq!(
        c["consent"]["email"],
        json!({ "granted": true, "source": "newsletter" })
    );
    let c = &ordered["customer"];
    assert_eq!(c["ordersCount"], 1);
    assert_eq!(c["totalSpent"]["amount"], "30.00");
    assert_eq!(c["lastOrderAt"], "2026-11-03T09:00:00+00:00");
    assert_eq!(c["cart"], json!([]), "placing the order empties the cart");
    assert_eq!(c["cartUpdatedAt"], Value::Null);
    assert_eq!(c["firstName"], "Ann", "facts from earlier events stay");
    let c = &cancelled["customer"];
    assert_eq!(c["ordersCount"], 0);
    assert_eq!(c["totalSpent"]["amount"], "0.00");
    assert_eq!(
        order["order"],
        json!({ "status": "CANCELLED", "cancelledAt": "2026-11-04T09:00:00+00:00" })
    );
}

#[tokio::test]
async fn a_repeated_event_is_a_no_op_and_a_reused_id_is_a_conflict() {
    let app = spawn_app().await;
    let key = app.create_key("STOREFRONT").await;
    let login = event("e1", "2026-11-02T10:00:00Z", json!({ "loggedIn": true }));

    let first = record(&app, &key, json!([login])).await;
    let again = record(&app, &key, json!([login, login])).await;
    let conflicting = record(
        &app,
        &key,
        json!([
            event("e2", "2026-11-05T10:00:00Z", json!({ "loggedIn": true })),
            event("e1", "2026-11-03T10:00:00Z", json!({ "loggedIn": true }))
        ]),
    )
    .await;
    let facts = app.admin_data(FACTS, json!({})).await;
    let e2 = app
        .admin_data("{ event(eventId: \"e2\") { id } }", json!({}))
        .await;

    let first_id = first["results"][0]["event"]["id"].clone();
    assert_eq!(first["results"][0]["duplicate"], false);
    assert_eq!(again["results"][0]["duplicate"], true);
    assert_eq!(
        again["results"][0]["event"]["id"], first_id,
        "the first recording is returned"
    );
    assert_eq!(again["results"][1]["duplicate"], true);
    assert_eq!(
        user_errors(&conflicting),
        vec![("events.1.eventId".to_owned(), "CONFLICT".to_owned())]
    );
    assert_eq!(e2["event"], Value::Null, "a refused batch writes nothing");
    assert_eq!(
        facts["customer"]["lastLoginAt"],
        "2026-11-02T10:00:00+00:00"
    );
}

#[tokio::test]
async fn an_event_without_a_time_is_still_idempotent() {
    let app = spawn_app().await;
    let key = app.create_key("STOREFRONT").await;
    let visit = json!({ "eventId": "v1", "customerExternalId": "c1", "payload": { "pageVisited": { "url": "https://shop.example/", "referrer": "https://facebook.com/ad" } } });

    let first = record(&app, &key, json!([visit])).await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-11-22T13:00:00Z")
            .unwrap()
            .into(),
    );
    let retry = record(&app, &key, json!([visit])).await;

    assert_eq!(retry["userErrors"], json!([]));
    assert_eq!(retry["results"][0]["duplicate"], true);
    assert_eq!(
        retry["results"][0]["event"]["id"],
        first["results"][0]["event"]["id"]
    );
}

#[tokio::test]
async fn unknown_customers_are_created_and_unknown_products_refused() {
    let app = spawn_app().await;
    let key = app.create_key("STOREFRONT").await;

    let created = record(
        &app,
        &key,
        json!([event(
            "e1",
            "2026-11-02T10:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    let refused = record(
        &app,
        &key,
        json!([{ "eventId": "e2", "customerExternalId": "new-guest", "payload": { "addedToCart": { "lines": [{ "productExternalId": "ghost", "quantity": 1 }, { "productExternalId": "ghost", "quantity": 0 }] } } }]),
    )
    .await;
    let customers = app.admin_data("{ a: customer(externalId: \"c1\") { externalId email } b: customer(externalId: \"new-guest\") { id } }", json!({})).await;

    assert_eq!(created["userErrors"], json!([]));
    assert_eq!(customers["a"], json!({ "externalId": "c1", "email": null }));
    assert_eq!(
        user_errors(&refused),
        vec![(
            "events.0.payload.addedToCart.lines.1.quantity".to_owned(),
            "OUT_OF_RANGE".to_owned()
        )],
        "static checks come first"
    );
    let unknown = record(
        &app,
        &key,
        json!([{ "eventId": "e3", "customerExternalId": "new-guest", "payload": { "productViewed": { "productExternalId": "ghost" } } }]),
    )
    .await;
    assert_eq!(
        user_errors(&unknown),
        vec![(
            "events.0.payload.productViewed.productExternalId".to_owned(),
            "NOT_FOUND".to_owned()
        )]
    );
    assert_eq!(
        customers["b"],
        Value::Null,
        "a refused event creates no customer"
    );
}

#[tokio::test]
async fn invalid_profile_data_in_an_event_is_refused_with_its_path() {
    let app = spawn_app().await;
    let key = app.create_key("STOREFRONT").await;

    let refused = record(
        &app,
        &key,
        json!([event(
            "e1",
            "2026-11-01T10:00:00Z",
            json!({ "registered": { "email": "nope", "timeZone": "Nowhere/City" } })
        )]),
    )
    .await;

    assert_eq!(
        user_errors(&refused),
        vec![
            (
                "events.0.payload.registered.email".to_owned(),
                "INVALID".to_owned()
            ),
            (
                "events.0.payload.registered.timeZone".to_owned(),
                "INVALID".to_owned()
            )
        ]
    );
}

#[tokio::test]
async fn who_may_record_and_read_events() {
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;
    let integrator = app.create_key("INTEGRATOR").await;
    let events = json!([event(
        "e1",
        "2026-11-02T10:00:00Z",
        json!({ "registered": { "email": "ann@example.com" } })
    )]);

    let by_integrator = app
        .graphql(Some(&integrator), RECORD, json!({ "events": events }))
        .await;
    record(&app, &storefront, events).await;
    let storefront_read = app
        .graphql(
            Some(&storefront),
            "{ event(eventId: \"e1\") { kind receivedAt } }",
            json!({}),
        )
        .await;
    let storefront_payload = app
        .graphql(
            Some(&storefront),
            "{ event(eventId: \"e1\") { payload } }",
            json!({}),
        )
        .await;
    let integrator_payload = app
        .graphql(
            Some(&integrator),
            "{ event(eventId: \"e1\") { payload } }",
            json!({}),
        )
        .await;

    assert_eq!(error_code(&by_integrator), "FORBIDDEN");
    assert_eq!(storefront_read["data"]["event"]["kind"], "REGISTERED");
    assert_eq!(
        error_code(&storefront_payload),
        "FORBIDDEN",
        "a storefront cannot read customer data"
    );
    assert_eq!(
        integrator_payload["data"]["event"]["payload"]["registered"]["email"],
        "ann@example.com"
    );
}

#[tokio::test]
async fn more_than_500_events_in_one_call_are_refused() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..501)
        .map(|i| json!({ "eventId": format!("e{i}"), "customerExternalId": "c1", "payload": { "loggedIn": true } }))
        .collect();

    let refused = record(&app, &app.admin_key, json!(events)).await;

    assert_eq!(
        user_errors(&refused),
        vec![("events".to_owned(), "OUT_OF_RANGE".to_owned())]
    );
}

#[tokio::test]
async fn concurrent_calls_succeed_or_fail_each_on_their_own() {
    let app = spawn_app().await;
    let key = app.create_key("STOREFRONT").await;
    record(
        &app,
        &key,
        json!([event(
            "taken",
            "2026-11-02T10:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;

    let calls = (0..20).map(|i| {
        let (app, key) = (&app, key.clone());
        async move {
            let events = if i == 7 {
                json!([event("taken", "2026-11-09T10:00:00Z", json!({ "loggedIn": true })), event("c7-extra", "2026-11-09T10:00:00Z", json!({ "loggedIn": true }))])
            } else {
                json!([{ "eventId": format!("c{i}"), "customerExternalId": format!("cust-{i}"), "payload": { "loggedIn": true } }])
            };
            app.graphql(Some(&key), RECORD, json!({ "events": events })).await["data"]["recordEvents"].clone()
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let extra = app
        .admin_data("{ event(eventId: \"c7-extra\") { id } }", json!({}))
        .await;
    let others = app
        .admin_data(
            "{ customers(first: 100) { edges { node { externalId } } } }",
            json!({}),
        )
        .await;

    for (i, payload) in results.iter().enumerate() {
        if i == 7 {
            assert_eq!(
                user_errors(payload),
                vec![("events.0.eventId".to_owned(), "CONFLICT".to_owned())]
            );
        } else {
            assert_eq!(payload["userErrors"], json!([]), "call {i}: {payload}");
        }
    }
    assert_eq!(
        extra["event"],
        Value::Null,
        "the refused call wrote nothing"
    );
    assert_eq!(
        others["customers"]["edges"].as_array().unwrap().len(),
        20,
        "c1 plus 19 new customers"
    );
}
