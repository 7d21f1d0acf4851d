//! The processor handles events a round at a time: facts loaded for the round at once, writes
//! gathered and written set-wise. What an event sees and leaves behind is as if each were
//! handled alone, in order — a later event (or action) sees what an earlier one of the same
//! round did, a repeat policy counts firings of the same round, and the change log holds
//! every change in order — and a round of a hundred events costs the database about what a
//! round of five does.

use crate::helpers::{TestDatabase, WsClient, ev, spawn_app};
use crate::process::{Server, TempDir, free_port, metric, post};
use serde_json::{Value, json};

const FEED: &str = "subscription($after: ID) { membershipChanges(after: $after) { customerExternalId kind value previousValue source } }";

fn view(id: &str, customer: &str, minute: u32, product: &str) -> Value {
    ev(
        id,
        customer,
        &format!("2026-11-22T10:{minute:02}:00Z"),
        json!({ "productViewed": { "productExternalId": product } }),
    )
}

fn fired(outcome: &Value) -> Vec<(String, bool, Vec<String>)> {
    outcome["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            let results = a["effects"]
                .as_array()
                .expect("effects")
                .iter()
                .map(|e| {
                    format!(
                        "{}:{}",
                        e["effect"].as_str().unwrap_or(""),
                        e["result"].as_str().unwrap_or("")
                    )
                })
                .collect();
            (
                a["name"].as_str().expect("name").to_owned(),
                a["fired"] == json!(true),
                results,
            )
        })
        .collect()
}

#[tokio::test]
async fn the_events_of_one_round_see_what_earlier_ones_did_and_the_log_holds_every_change_in_order()
{
    // Arrange: a role and a tag; on a view the first action gives the role (once) and a
    // banner, the second sets the tag for holders of the role (every time); a login takes the
    // tag off (every time).
    let app = spawn_app().await;
    app.create_products(&["p1"]).await;
    let role = app.create_role("Fans", "fans", &[]).await;
    let tag = app.create_tag("fan").await;
    app.create_action(json!({ "name": "welcome", "trigger": "PRODUCT_VIEWED",
        "effects": [{ "assignRole": role }, { "showBanner": { "title": "Hi", "bodyHtml": "<p>Hi</p>" } }] }))
        .await;
    app.create_action(json!({ "name": "fan", "trigger": "PRODUCT_VIEWED", "condition": { "hasRole": [role] },
        "repeat": { "kind": "EVERY_TIME" }, "effects": [{ "setTag": { "tagId": tag, "value": "yes" } }] }))
        .await;
    app.create_action(
        json!({ "name": "back", "trigger": "LOGGED_IN", "repeat": { "kind": "EVERY_TIME" },
        "effects": [{ "removeTag": tag }] }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let integrator = app.create_key("INTEGRATOR").await;
    let mut feed = WsClient::connect(&app, &integrator).await;
    feed.subscribe("1", FEED, json!({ "after": "0" })).await;

    // Act: four events of one customer and one of another, in one request (one commit, so
    // the processor takes them in one round).
    app.record(
        &storefront,
        json!([
            view("v1", "ann", 1, "p1"),
            view("v2", "ann", 2, "p1"),
            ev(
                "l1",
                "ann",
                "2026-11-22T10:03:00Z",
                json!({ "loggedIn": true })
            ),
            view("v3", "ann", 4, "p1"),
            view("b1", "bob", 1, "p1"),
        ]),
    )
    .await;
    let mut outcomes = Vec::new();
    for id in ["v1", "v2", "l1", "v3", "b1"] {
        outcomes.push(fired(&app.processed(id).await));
    }

    // Assert: each event saw the ones before it.
    let welcome = |fired: bool, effects: &[&str]| {
        (
            "welcome".to_owned(),
            fired,
            effects.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        )
    };
    let fan = |effects: &[&str]| {
        (
            "fan".to_owned(),
            true,
            effects.iter().map(|e| e.to_string()).collect(),
        )
    };
    assert_eq!(
        outcomes[0],
        vec![
            welcome(true, &["assignRole:changed", "showBanner:shown"]),
            fan(&["setTag:changed"])
        ]
    );
    assert_eq!(
        outcomes[1],
        vec![welcome(false, &[]), fan(&["setTag:unchanged"])]
    );
    assert_eq!(
        outcomes[2],
        vec![(
            "back".to_owned(),
            true,
            vec!["removeTag:changed".to_owned()]
        )]
    );
    assert_eq!(
        outcomes[3],
        vec![welcome(false, &[]), fan(&["setTag:changed"])]
    );
    assert_eq!(
        outcomes[4],
        vec![
            welcome(true, &["assignRole:changed", "showBanner:shown"]),
            fan(&["setTag:changed"])
        ]
    );
    let ann = app
        .admin_data(
            r#"{ customer(externalId: "ann") { roles { id } tags { value } } banners(customerExternalId: "ann") { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(ann["customer"]["roles"], json!([{ "id": role }]), "{ann}");
    assert_eq!(
        ann["customer"]["tags"],
        json!([{ "value": "yes" }]),
        "{ann}"
    );
    assert_eq!(ann["banners"].as_array().map(Vec::len), Some(1), "{ann}");
    let mut log = Vec::new();
    for _ in 0..6 {
        let change = feed.next_data().await["membershipChanges"].clone();
        log.push((
            change["customerExternalId"]
                .as_str()
                .expect("customer")
                .to_owned(),
            change["kind"].as_str().expect("kind").to_owned(),
            change["value"].clone(),
            change["previousValue"].clone(),
        ));
    }
    let change = |who: &str, kind: &str, value: Value, previous: Value| {
        (who.to_owned(), kind.to_owned(), value, previous)
    };
    let ann_log: Vec<_> = log.iter().filter(|c| c.0 == "ann").cloned().collect();
    assert_eq!(
        ann_log,
        vec![
            change("ann", "ROLE_ASSIGNED", Value::Null, Value::Null),
            change("ann", "TAG_SET", json!("yes"), Value::Null),
            change("ann", "TAG_REMOVED", Value::Null, json!("yes")),
            change("ann", "TAG_SET", json!("yes"), Value::Null),
        ]
    );
    assert_eq!(log.iter().filter(|c| c.0 == "bob").count(), 2, "{log:?}");
}

/// Statements the background pool has run so far.
async fn background_statements(metrics: &str) -> f64 {
    metric(
        metrics,
        "nudge_database_statements_total",
        "pool=\"background\"",
    )
    .await
}

/// Records `views` (one request, so one round) and returns how many statements the background
/// pool ran until the last of them was processed.
async fn round_cost(server: &Server, metrics: &str, key: &str, views: Vec<Value>) -> f64 {
    let last = views.last().expect("a view")["eventId"].clone();
    let before = background_statements(metrics).await;
    post(
        server,
        key,
        "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }",
        json!({ "e": views }),
    )
    .await;
    loop {
        let data = post(
            server,
            &server.admin,
            "query($id: String!) { event(eventId: $id) { processedAt } }",
            json!({ "id": last }),
        )
        .await;
        if !data["event"]["processedAt"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    background_statements(metrics).await - before
}

#[tokio::test]
async fn a_round_of_a_hundred_events_costs_about_as_many_statements_as_a_round_of_five() {
    // Arrange: the binary with metrics; an action giving a role and a banner on every view.
    let database = TestDatabase::create().await;
    let dir = TempDir::new();
    let port = free_port();
    let server = Server::start(
        &database.url,
        dir.path(),
        &[
            ("NUDGE_METRICS_LISTEN", format!("127.0.0.1:{port}")),
            // The dispatcher's polls would count in the background pool's statements.
            ("NUDGE_DELIVERY_POLL_MS", "60000".to_owned()),
        ],
    )
    .await;
    let metrics = format!("http://127.0.0.1:{port}");
    let admin = server.admin.clone();
    post(
        &server,
        &admin,
        "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
        json!({ "p": [{ "externalId": "p1", "name": "One", "price": "1.00", "currency": "USD" }] }),
    )
    .await;
    let role = post(
        &server,
        &admin,
        "mutation($i: RoleInput!) { createRole(input: $i) { role { id } } }",
        json!({ "i": { "name": "Fans", "systemName": "fans" } }),
    )
    .await["createRole"]["role"]["id"]
        .clone();
    post(
        &server,
        &admin,
        "mutation($i: CustomerActionInput!) { createCustomerAction(input: $i) { userErrors { message } } }",
        json!({ "i": { "name": "fan", "trigger": "PRODUCT_VIEWED", "repeat": { "kind": "EVERY_TIME" },
            "effects": [{ "assignRole": role }, { "showBanner": { "title": "Hi", "bodyHtml": "<p>Hi</p>" } }] } }),
    )
    .await;
    let storefront = server.storefront_key().await;
    let views = |round: &str, count: usize| -> Vec<Value> {
        (0..count)
            .map(|n| view(&format!("{round}-{n}"), &format!("{round}-c{n}"), 1, "p1"))
            .collect()
    };
    // A first round warms what is prepared once.
    round_cost(&server, &metrics, &storefront, views("warm", 5)).await;

    // Act: the least of three rounds of each size, so stray background work is not counted.
    let (mut five, mut hundred) = (f64::MAX, f64::MAX);
    for round in 0..3 {
        let small = views(&format!("five{round}"), 5);
        five = five.min(round_cost(&server, &metrics, &storefront, small).await);
        let large = views(&format!("hundred{round}"), 100);
        hundred = hundred.min(round_cost(&server, &metrics, &storefront, large).await);
    }

    // Assert: one event at a time costs about ten statements each (1,000 for the hundred);
    // a round costs a handful whatever its size.
    assert!(five > 0.0, "the processor's statements are counted");
    assert!(
        hundred < five * 3.0 + 30.0,
        "a round of 100 cost {hundred} statements, a round of 5 cost {five}"
    );
}
