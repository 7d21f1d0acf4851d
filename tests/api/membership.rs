use crate::helpers::{TestApp, WsClient, spawn_app};
use serde_json::{Value, json};

const FEED: &str = "subscription($after: ID, $filter: MembershipChangeFilter) { membershipChanges(after: $after, filter: $filter) { id customerExternalId kind roleId tagId value previousValue source } }";

struct Setup {
    app: TestApp,
    customer: String,
    role: Value,
    tag: Value,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let role = app
        .admin_data("mutation { createRole(input: { name: \"VIP\", systemName: \"vip\" }) { role { id } } }", json!({}))
        .await["createRole"]["role"]["id"]
        .clone();
    let tag = app
        .admin_data(
            "mutation { createTag(name: \"tier\") { tag { id } } }",
            json!({}),
        )
        .await["createTag"]["tag"]["id"]
        .clone();
    Setup {
        app,
        customer,
        role,
        tag,
    }
}

/// Assigns the role, sets the tag to a, again to a (no change), to b, removes tag and role.
async fn make_changes(s: &Setup) {
    let vars = |extra: Value| {
        let mut v = json!({ "c": s.customer, "r": s.role, "t": s.tag });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        v
    };
    let set = "mutation($c: ID!, $t: ID!, $v: String) { setCustomerTag(customerId: $c, tagId: $t, value: $v) { changed } }";
    s.app
        .admin_data(
            "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
            vars(json!({})),
        )
        .await;
    for value in ["a", "a", "b"] {
        s.app.admin_data(set, vars(json!({ "v": value }))).await;
    }
    s.app
        .admin_data("mutation($c: ID!, $t: ID!) { removeCustomerTag(customerId: $c, tagId: $t) { changed } }", vars(json!({})))
        .await;
    s.app
        .admin_data(
            "mutation($c: ID!, $r: ID!) { removeRole(customerId: $c, roleId: $r) { changed } }",
            vars(json!({})),
        )
        .await;
}

fn summary(change: &Value) -> (String, Value, Value) {
    (
        change["kind"].as_str().expect("kind").to_owned(),
        change["value"].clone(),
        change["previousValue"].clone(),
    )
}

fn expected() -> Vec<(String, Value, Value)> {
    vec![
        ("ROLE_ASSIGNED".into(), Value::Null, Value::Null),
        ("TAG_SET".into(), json!("a"), Value::Null),
        ("TAG_SET".into(), json!("b"), json!("a")),
        ("TAG_REMOVED".into(), Value::Null, json!("b")),
        ("ROLE_REMOVED".into(), Value::Null, Value::Null),
    ]
}

#[tokio::test]
async fn a_subscriber_receives_each_real_change_in_order() {
    let s = setup().await;
    let key = s.app.create_key("INTEGRATOR").await;
    let mut client = WsClient::connect(&s.app, &key).await;
    // From the start of the (still empty) log: whatever the timing, nothing is missed.
    client.subscribe("1", FEED, json!({ "after": "0" })).await;

    make_changes(&s).await;
    let mut received = Vec::new();
    for _ in 0..5 {
        received.push(client.next_data().await["membershipChanges"].clone());
    }
    // By now the feed is live: one more change arrives from the bus.
    s.app
        .admin_data(
            "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
            json!({ "c": s.customer, "r": s.role }),
        )
        .await;
    let live = client.next_data().await["membershipChanges"].clone();

    assert_eq!(received.iter().map(summary).collect::<Vec<_>>(), expected());
    assert!(
        received
            .iter()
            .all(|c| c["customerExternalId"] == "c1" && c["source"] == "admin")
    );
    assert_eq!(received[0]["roleId"], s.role);
    assert_eq!(received[1]["tagId"], s.tag);
    let ids: Vec<i64> = received
        .iter()
        .map(|c| c["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert_eq!(summary(&live), expected()[0]);
}

#[tokio::test]
async fn a_subscriber_resuming_after_an_id_gets_the_missed_changes_first() {
    let s = setup().await;
    make_changes(&s).await;
    let key = s.app.create_key("INTEGRATOR").await;

    let mut all = WsClient::connect(&s.app, &key).await;
    all.subscribe("1", FEED, json!({ "after": "0" })).await;
    let mut replayed = Vec::new();
    for _ in 0..5 {
        replayed.push(all.next_data().await["membershipChanges"].clone());
    }
    let second_id = replayed[1]["id"].clone();
    let mut resumed = WsClient::connect(&s.app, &key).await;
    resumed
        .subscribe(
            "1",
            FEED,
            json!({ "after": second_id, "filter": { "kinds": ["TAG_SET", "TAG_REMOVED"] } }),
        )
        .await;
    let first_resumed = resumed.next_data().await["membershipChanges"].clone();
    let second_resumed = resumed.next_data().await["membershipChanges"].clone();

    assert_eq!(replayed.iter().map(summary).collect::<Vec<_>>(), expected());
    assert_eq!(summary(&first_resumed), expected()[2]);
    assert_eq!(summary(&second_resumed), expected()[3]);
}

#[tokio::test]
async fn a_storefront_key_may_not_subscribe() {
    let s = setup().await;
    let key = s.app.create_key("STOREFRONT").await;
    let mut client = WsClient::connect(&s.app, &key).await;

    client.subscribe("1", FEED, json!({})).await;
    let message = client.next_json().await;

    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn changes_made_by_an_action_reach_subscribers_with_their_source() {
    let app = spawn_app().await;
    let role = app.create_role("Shoppers", "shoppers", &[]).await;
    let action = app
        .create_action(json!({ "name": "login role", "trigger": "LOGGED_IN", "effects": [{ "assignRole": role }] }))
        .await;
    let key = app.create_key("INTEGRATOR").await;
    let mut client = WsClient::connect(&app, &key).await;
    client
        .subscribe(
            "1",
            FEED,
            json!({ "after": "0", "filter": { "kinds": ["ROLE_ASSIGNED"] } }),
        )
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    app.record(
        &storefront,
        json!([{ "eventId": "l1", "customerExternalId": "zoe", "payload": { "loggedIn": true } }]),
    )
    .await;
    let change = client.next_data().await["membershipChanges"].clone();

    assert_eq!(change["customerExternalId"], "zoe");
    assert_eq!(change["roleId"], role.as_str());
    assert_eq!(change["source"], format!("action:{action}"));
}

#[tokio::test]
async fn an_integrator_subscribes_ahead_of_a_customer_nudge_does_not_know_yet() {
    let app = spawn_app().await;
    let role = app.create_role("Shoppers", "shoppers", &[]).await;
    app.create_action(json!({ "name": "login role", "trigger": "LOGGED_IN", "effects": [{ "assignRole": role }] }))
        .await;
    let key = app.create_key("INTEGRATOR").await;
    let mut client = WsClient::connect(&app, &key).await;
    client
        .subscribe(
            "1",
            FEED,
            json!({ "after": "0", "filter": { "customerExternalId": "newcomer" } }),
        )
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    app.record(
        &storefront,
        json!([
            { "eventId": "l0", "customerExternalId": "someone-else", "payload": { "loggedIn": true } },
            { "eventId": "l1", "customerExternalId": "newcomer", "payload": { "loggedIn": true } }
        ]),
    )
    .await;
    let change = client.next_data().await["membershipChanges"].clone();

    assert_eq!(change["customerExternalId"], "newcomer");
    assert_eq!(change["kind"], "ROLE_ASSIGNED");
}
