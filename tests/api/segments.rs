//! Segments: what a condition selects, previewed without saving anything.

use crate::helpers::{error_code, spawn_app};
use sea_orm::ConnectionTrait;
use serde_json::json;

const PREVIEW: &str = "query($c: ConditionInput!) { previewSegment(condition: $c) { memberCount members { externalId } } }";

#[tokio::test]
async fn a_preview_counts_and_lists_the_customers_a_condition_selects() {
    // Arrange: 25 wholesale customers and 5 others.
    let app = spawn_app().await;
    for n in 0..30 {
        app.create_customer(
            json!({ "externalId": format!("c{n:02}"), "wholesale": n < 25,
            "timeZone": if n % 2 == 0 { "Europe/Warsaw" } else { "UTC" } }),
        )
        .await;
    }
    let integrator = app.create_key("INTEGRATOR").await;

    // Act
    let wholesale = app
        .graphql(
            Some(&integrator),
            PREVIEW,
            json!({ "c": { "wholesale": true } }),
        )
        .await;
    let others = app
        .admin_data(
            PREVIEW,
            json!({ "c": { "all": [{ "not": { "wholesale": true } }, { "timeZone": ["Europe/Warsaw"] }] } }),
        )
        .await;

    // Assert: the count is all of them; the list, the first 20 by id.
    let preview = &wholesale["data"]["previewSegment"];
    assert_eq!(preview["memberCount"], 25, "{wholesale}");
    let members = preview["members"].as_array().expect("members");
    assert_eq!(members.len(), 20);
    assert_eq!(members[0]["externalId"], "c00");
    assert_eq!(members[19]["externalId"], "c19");
    assert_eq!(others["previewSegment"]["memberCount"], 2, "{others}");
    let listed: Vec<&str> = others["previewSegment"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["externalId"].as_str())
        .collect();
    assert_eq!(listed, vec!["c26", "c28"]);
}

#[tokio::test]
async fn a_condition_about_an_event_cannot_define_a_group_and_storefronts_cannot_preview() {
    // Arrange
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;
    let about_an_event = json!({ "c": { "any": [{ "wholesale": true },
        { "url": { "field": "URL", "match": "CONTAINS", "value": "sale" } }] } });

    // Act
    let refused = app.graphql(None, PREVIEW, about_an_event.clone()).await;
    let admin = app
        .graphql(Some(&app.admin_key), PREVIEW, about_an_event.clone())
        .await;
    let bad_month = app
        .graphql(
            Some(&app.admin_key),
            PREVIEW,
            json!({ "c": { "birthdayMonth": [0] } }),
        )
        .await;
    let forbidden = app
        .graphql(Some(&storefront), PREVIEW, about_an_event)
        .await;

    // Assert
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    assert_eq!(error_code(&admin), "VALIDATION", "{admin}");
    assert_eq!(
        admin["errors"][0]["extensions"]["fields"],
        json!(["condition.any.1.url"]),
        "{admin}"
    );
    assert_eq!(error_code(&bad_month), "VALIDATION", "{bad_month}");
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
}

const CREATE: &str = "mutation($input: SegmentInput!) { createSegment(input: $input) { segment { id memberCount members(first: 50) { edges { node { externalId } } } } userErrors { field code message } } }";
const UPDATE: &str = "mutation($id: ID!, $input: SegmentInput!) { updateSegment(id: $id, input: $input) { segment { id memberCount } userErrors { field code message } } }";
const SEGMENT: &str = "query($id: ID!) { segment(id: $id) { name memberCount members(first: 50) { edges { node { externalId } } } } }";
const FEED: &str = "subscription($after: ID, $filter: MembershipChangeFilter) { membershipChanges(after: $after, filter: $filter) { id customerExternalId kind segmentId source reason } }";

/// Creates a segment and returns its id, asserting it was accepted.
async fn create_segment(
    app: &crate::helpers::TestApp,
    name: &str,
    condition: serde_json::Value,
) -> String {
    let data = app
        .admin_data(
            CREATE,
            json!({ "input": { "name": name, "condition": condition } }),
        )
        .await;
    let payload = &data["createSegment"];
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    payload["segment"]["id"].as_str().expect("an id").to_owned()
}

/// The external ids of a segment's members, in id order.
async fn members(app: &crate::helpers::TestApp, id: &str) -> Vec<String> {
    let data = app.admin_data(SEGMENT, json!({ "id": id })).await;
    data["segment"]["members"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["externalId"].as_str().expect("id").to_owned())
        .collect()
}

/// Every change of segment `id` in the log: (customer, kind, reason).
async fn changes_of(
    app: &crate::helpers::TestApp,
    id: &str,
    count: usize,
) -> Vec<(String, String, String)> {
    let key = app.create_key("INTEGRATOR").await;
    let mut client = crate::helpers::WsClient::connect(app, &key).await;
    client
        .subscribe(
            "1",
            FEED,
            json!({ "after": "0", "filter": { "segmentIds": [id] } }),
        )
        .await;
    let mut seen = Vec::new();
    for _ in 0..count {
        let change = client.next_data().await["membershipChanges"].clone();
        assert_eq!(change["segmentId"], json!(id), "{change}");
        assert_eq!(change["source"], json!(format!("segment:{id}")), "{change}");
        seen.push((
            change["customerExternalId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            change["kind"].as_str().unwrap_or_default().to_owned(),
            change["reason"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    seen
}

fn change(customer: &str, kind: &str, reason: &str) -> (String, String, String) {
    (customer.to_owned(), kind.to_owned(), reason.to_owned())
}

#[tokio::test]
async fn a_new_segment_is_built_and_a_new_condition_writes_only_the_difference() {
    // Arrange: c0–c3 wholesale, c4–c5 not; c0 and c4 companies.
    let app = spawn_app().await;
    for n in 0..6 {
        app.create_customer(json!({ "externalId": format!("c{n}"), "wholesale": n < 4,
            "type": if n % 4 == 0 { "COMPANY" } else { "PERSON" } }))
            .await;
    }

    // Act: build on wholesale, then move to companies.
    let id = create_segment(&app, "Wholesale", json!({ "wholesale": true })).await;
    let before = members(&app, &id).await;
    let updated = app
        .admin_data(
            UPDATE,
            json!({ "id": id, "input": { "condition": { "customerType": "COMPANY" } } }),
        )
        .await;

    // Assert: c0 stays (no change), c1–c3 leave, c4 joins — each logged once, in order.
    assert_eq!(before, vec!["c0", "c1", "c2", "c3"]);
    assert_eq!(
        updated["updateSegment"]["segment"]["memberCount"], 2,
        "{updated}"
    );
    assert_eq!(members(&app, &id).await, vec!["c0", "c4"]);
    let log = changes_of(&app, &id, 8).await;
    let joined = "SEGMENT_JOINED";
    let left = "SEGMENT_LEFT";
    assert_eq!(
        log,
        vec![
            change("c0", joined, "definition"),
            change("c1", joined, "definition"),
            change("c2", joined, "definition"),
            change("c3", joined, "definition"),
            change("c4", joined, "definition"),
            change("c1", left, "definition"),
            change("c2", left, "definition"),
            change("c3", left, "definition"),
        ]
    );
}

#[tokio::test]
async fn facts_changed_by_an_event_or_an_admin_write_move_customers_with_the_reason() {
    // Arrange: a Gold tier over lifetime spent, and a wholesale group.
    let app = spawn_app().await;
    app.create_products(&["p1"]).await;
    let ann = app.create_customer(json!({ "externalId": "ann" })).await;
    let gold = create_segment(
        &app,
        "Gold",
        json!({ "lifetimeSpent": { "min": "2000.00" } }),
    )
    .await;
    let trade = create_segment(&app, "Trade", json!({ "wholesale": true })).await;
    let active = app.create_tag("active").await;
    let tagged = create_segment(&app, "Active", json!({ "hasTag": { "tagId": active } })).await;
    app.create_action(json!({ "name": "mark logins", "trigger": "LOGGED_IN",
        "effects": [{ "setTag": { "tagId": active } }] }))
        .await;
    let key = app.create_key("STOREFRONT").await;

    // Act: ann orders for 2,500 (an event) and logs in (an action tags her); an admin makes
    // her wholesale, then not.
    app.record(
        &key,
        json!([crate::helpers::ev(
            "o-1",
            "ann",
            "2026-11-22T11:00:00Z",
            json!({ "orderPlaced": {
            "orderExternalId": "A-1", "total": "2500.00", "currency": "USD",
            "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "2500.00" }] } })
        )]),
    )
    .await;
    app.processed("o-1").await;
    app.record(
        &key,
        json!([crate::helpers::ev(
            "l-1",
            "ann",
            "2026-11-22T11:30:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed("l-1").await;
    let update = "mutation($id: ID!, $w: Boolean!) { updateCustomer(id: $id, input: { wholesale: $w }) { userErrors { field } } }";
    app.admin_data(update, json!({ "id": ann, "w": true }))
        .await;
    app.admin_data(update, json!({ "id": ann, "w": false }))
        .await;

    // Assert
    assert_eq!(members(&app, &gold).await, vec!["ann"]);
    assert_eq!(
        changes_of(&app, &gold, 1).await,
        vec![change("ann", "SEGMENT_JOINED", "event:o-1")]
    );
    assert_eq!(
        changes_of(&app, &tagged, 1).await,
        vec![change("ann", "SEGMENT_JOINED", "event:l-1")]
    );
    assert!(members(&app, &trade).await.is_empty());
    assert_eq!(
        changes_of(&app, &trade, 2).await,
        vec![
            change("ann", "SEGMENT_JOINED", "admin"),
            change("ann", "SEGMENT_LEFT", "admin"),
        ]
    );
}

#[tokio::test]
async fn time_passing_a_boundary_moves_exactly_the_customers_who_crossed_it_once() {
    // Arrange: "registered 30 to 59 days ago"; ann registered 29 days before the clock,
    // bob 59, cid 10.
    let app = spawn_app().await;
    let start = crate::helpers::test_start();
    let days_ago = |d: i64| (start - chrono::Duration::days(d)).to_rfc3339();
    for (who, days) in [("ann", 29), ("bob", 59), ("cid", 10)] {
        app.create_customer(json!({ "externalId": who, "registeredAt": days_ago(days) }))
            .await;
    }
    let id = create_segment(
        &app,
        "Settling in",
        json!({ "daysSince": { "fact": "REGISTRATION", "min": 30, "max": 59 } }),
    )
    .await;
    assert_eq!(members(&app, &id).await, vec!["bob"]);

    // Act: a tick a day and an hour later, and again at the same instant.
    let tick =
        "mutation($at: DateTime!) { runCampaignTick(at: $at) { segmentJoins segmentLeaves } }";
    let at = (start + chrono::Duration::hours(25)).to_rfc3339();
    let first = app.admin_data(tick, json!({ "at": at })).await;
    let again = app.admin_data(tick, json!({ "at": at })).await;

    // Assert: ann crossed 30 days and joined, bob crossed 60 and left; cid did not move.
    assert_eq!(
        first["runCampaignTick"],
        json!({ "segmentJoins": 1, "segmentLeaves": 1 })
    );
    assert_eq!(
        again["runCampaignTick"],
        json!({ "segmentJoins": 0, "segmentLeaves": 0 })
    );
    assert_eq!(members(&app, &id).await, vec!["ann"]);
    assert_eq!(
        changes_of(&app, &id, 3).await,
        vec![
            change("bob", "SEGMENT_JOINED", "definition"),
            change("ann", "SEGMENT_JOINED", "time:registration 30d"),
            change("bob", "SEGMENT_LEFT", "time:registration 60d"),
        ]
    );
}

#[tokio::test]
async fn a_segment_may_name_another_but_never_itself_and_follows_it() {
    // Arrange: Trade = wholesale; Big trade = in Trade and a company.
    let app = spawn_app().await;
    let ann = app
        .create_customer(json!({ "externalId": "ann", "type": "COMPANY" }))
        .await;
    let trade = create_segment(&app, "Trade", json!({ "wholesale": true })).await;
    let big = create_segment(
        &app,
        "Big trade",
        json!({ "all": [{ "inSegment": [trade] }, { "customerType": "COMPANY" }] }),
    )
    .await;

    // Act: Trade tries to name Big trade (a cycle); a missing segment; ann becomes wholesale.
    let cycle = app
        .admin_data(UPDATE, json!({ "id": trade, "input": { "condition": { "any": [{ "wholesale": true }, { "inSegment": [big] }] } } }))
        .await;
    let missing = app
        .admin_data(
            CREATE,
            json!({ "input": { "name": "Ghost", "condition": { "inSegment": ["999"] } } }),
        )
        .await;
    app.admin_data(
        "mutation($id: ID!) { updateCustomer(id: $id, input: { wholesale: true }) { userErrors { field } } }",
        json!({ "id": ann }),
    )
    .await;

    // Assert
    assert_eq!(
        crate::helpers::user_errors(&cycle["updateSegment"]),
        vec![(
            "input.condition.any.1.inSegment.0".to_owned(),
            "INVALID".to_owned()
        )]
    );
    assert_eq!(
        crate::helpers::user_errors(&missing["createSegment"]),
        vec![(
            "input.condition.inSegment.0".to_owned(),
            "NOT_FOUND".to_owned()
        )]
    );
    assert_eq!(members(&app, &trade).await, vec!["ann"]);
    assert_eq!(members(&app, &big).await, vec!["ann"]);
}

#[tokio::test]
async fn an_erased_customer_leaves_every_segment_and_the_leave_outlives_them() {
    // Arrange
    let app = spawn_app().await;
    let ann = app
        .create_customer(json!({ "externalId": "ann", "wholesale": true }))
        .await;
    let id = create_segment(&app, "Trade", json!({ "wholesale": true })).await;

    // Act
    let deleted = app
        .admin_data(
            "mutation($id: ID!) { deleteCustomer(id: $id) { userErrors { field } } }",
            json!({ "id": ann }),
        )
        .await;

    // Assert: the join went with her history; her leave stays, under her external id.
    assert_eq!(
        deleted["deleteCustomer"]["userErrors"],
        json!([]),
        "{deleted}"
    );
    assert!(members(&app, &id).await.is_empty());
    assert_eq!(
        changes_of(&app, &id, 1).await,
        vec![change("ann", "SEGMENT_LEFT", "erased")]
    );
}

#[tokio::test]
async fn a_deleted_segment_logs_every_leave_takes_its_members_and_its_dependents_follow() {
    // Arrange: Trade = wholesale (ann, bob); Trade again = in Trade.
    let app = spawn_app().await;
    for name in ["ann", "bob"] {
        app.create_customer(json!({ "externalId": name, "wholesale": true }))
            .await;
    }
    let trade = create_segment(&app, "Trade", json!({ "wholesale": true })).await;
    let again = create_segment(&app, "Trade again", json!({ "inSegment": [trade] })).await;

    // Act
    let deleted = app
        .admin_data(
            "mutation($id: ID!) { deleteSegment(id: $id) { userErrors { field } } }",
            json!({ "id": trade }),
        )
        .await;

    // Assert: the leaves are logged, no member row is left behind, the dependent emptied.
    assert_eq!(
        deleted["deleteSegment"]["userErrors"],
        json!([]),
        "{deleted}"
    );
    let gone = app.admin_data(SEGMENT, json!({ "id": trade })).await;
    assert_eq!(gone["segment"], json!(null), "{gone}");
    assert_eq!(
        changes_of(&app, &trade, 4).await,
        vec![
            change("ann", "SEGMENT_JOINED", "definition"),
            change("bob", "SEGMENT_JOINED", "definition"),
            change("ann", "SEGMENT_LEFT", "deleted"),
            change("bob", "SEGMENT_LEFT", "deleted"),
        ]
    );
    assert!(members(&app, &again).await.is_empty());
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    let rows = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM segment_members WHERE segment_id = {trade}"),
        ))
        .await
        .expect("read")
        .expect("row")
        .try_get::<i64>("", "n")
        .expect("n");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn a_segment_about_an_event_or_without_a_name_is_refused_with_paths() {
    let app = spawn_app().await;
    let refused = app
        .admin_data(
            CREATE,
            json!({ "input": { "name": " ", "condition": { "all": [{ "wholesale": true },
                { "orderTotal": { "min": "10.00" } }] } } }),
        )
        .await;
    let mut errors = crate::helpers::user_errors(&refused["createSegment"]);
    errors.sort();
    assert_eq!(
        errors,
        vec![
            (
                "input.condition.all.1.orderTotal".to_owned(),
                "INVALID".to_owned()
            ),
            ("input.name".to_owned(), "BLANK".to_owned()),
        ]
    );
    let listed = app.admin_data("{ segments { id } }", json!({})).await;
    assert_eq!(listed["segments"], json!([]));
}

/// Waits (10 s at most) until `query`'s data satisfies `done`; returns it.
pub(crate) async fn eventually(
    app: &crate::helpers::TestApp,
    query: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let data = app.admin_data(query, json!({})).await;
        if done(&data) {
            return data;
        }
        assert!(std::time::Instant::now() < deadline, "never came: {data}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_action_condition_may_ask_whether_the_customer_is_in_a_segment() {
    // Arrange: Trade = wholesale (ann, not bob); a login of someone in Trade tags them.
    let app = spawn_app().await;
    app.create_customer(json!({ "externalId": "ann", "wholesale": true }))
        .await;
    app.create_customer(json!({ "externalId": "bob" })).await;
    let trade = create_segment(&app, "Trade", json!({ "wholesale": true })).await;
    let tag = app.create_tag("trade-login").await;
    app.create_action(json!({ "name": "trade logins", "trigger": "LOGGED_IN",
        "condition": { "inSegment": [trade] }, "effects": [{ "setTag": { "tagId": tag } }] }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    // Act
    app.record(
        &storefront,
        json!([
            crate::helpers::ev(
                "l-ann",
                "ann",
                "2026-11-22T12:00:00Z",
                json!({ "loggedIn": true })
            ),
            crate::helpers::ev(
                "l-bob",
                "bob",
                "2026-11-22T12:00:00Z",
                json!({ "loggedIn": true })
            ),
        ]),
    )
    .await;
    app.processed("l-ann").await;
    app.processed("l-bob").await;

    // Assert
    let tags = |who: &str| format!("{{ customer(externalId: \"{who}\") {{ tags {{ name }} }} }}");
    let ann = app.admin_data(&tags("ann"), json!({})).await;
    let bob = app.admin_data(&tags("bob"), json!({})).await;
    assert_eq!(
        ann["customer"]["tags"],
        json!([{ "name": "trade-login" }]),
        "{ann}"
    );
    assert_eq!(bob["customer"]["tags"], json!([]), "{bob}");
}

#[tokio::test]
async fn joining_a_segment_fires_the_actions_and_enrols_the_campaigns_that_listen_to_it() {
    // Arrange: Trade = wholesale. An action tags who joins Trade; another listens to Gold
    // (which ann never joins); a campaign is anchored to joining Trade.
    let app = spawn_app().await;
    let ann = app.create_customer(json!({ "externalId": "ann" })).await;
    let trade = create_segment(&app, "Trade", json!({ "wholesale": true })).await;
    let gold = create_segment(
        &app,
        "Gold",
        json!({ "lifetimeSpent": { "min": "2000.00" } }),
    )
    .await;
    let welcomed = app.create_tag("welcomed").await;
    let golden = app.create_tag("golden").await;
    let gone = app.create_tag("gone").await;
    for (trigger, segment, tag) in [
        ("SEGMENT_JOINED", &trade, &welcomed),
        ("SEGMENT_JOINED", &gold, &golden),
        ("SEGMENT_LEFT", &trade, &gone),
    ] {
        app.create_action(
            json!({ "name": format!("{trigger} {segment} {tag}"), "trigger": trigger,
            "triggerSegmentId": segment, "effects": [{ "setTag": { "tagId": tag } }] }),
        )
        .await;
    }
    let missing = app
        .admin(
            "mutation { createCustomerAction(input: { name: \"x\", trigger: SEGMENT_JOINED, effects: [{ removeTag: \"1\" }] }) { userErrors { field code } } }",
            json!({}),
        )
        .await;
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { field code message } } }",
            json!({ "input": { "name": "Welcome to trade", "status": "ACTIVE",
                "anchor": { "segmentJoined": { "segmentId": trade } },
                "steps": [{ "id": "wait", "wait": { "days": 1 } }] } }),
        )
        .await;
    assert_eq!(
        campaign["createCampaign"]["userErrors"],
        json!([]),
        "{campaign}"
    );
    let campaign_id = campaign["createCampaign"]["campaign"]["id"].clone();

    // Act: an admin makes ann wholesale, then not.
    let update = "mutation($id: ID!, $w: Boolean!) { updateCustomer(id: $id, input: { wholesale: $w }) { userErrors { field } } }";
    app.admin_data(update, json!({ "id": ann, "w": true }))
        .await;
    let tags = "{ customer(externalId: \"ann\") { tags { name } } }";
    let has = |name: &'static str| {
        move |d: &serde_json::Value| {
            d["customer"]["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["name"] == name))
        }
    };
    eventually(&app, tags, has("welcomed")).await;
    app.admin_data(update, json!({ "id": ann, "w": false }))
        .await;
    let after = eventually(&app, tags, has("gone")).await;

    // Assert: the Trade actions fired, the Gold one did not; the campaign enrolled ann once.
    assert!(!has("golden")(&after), "{after}");
    assert_eq!(
        crate::helpers::user_errors(&missing["data"]["createCustomerAction"]),
        vec![("input.triggerSegmentId".to_owned(), "BLANK".to_owned())]
    );
    let runs = app
        .admin_data(
            "query($c: ID) { campaignRuns(campaignId: $c, first: 10) { id } }",
            json!({ "c": campaign_id }),
        )
        .await;
    assert_eq!(
        runs["campaignRuns"].as_array().map(Vec::len),
        Some(1),
        "{runs}"
    );
}

#[tokio::test]
async fn the_count_history_shows_members_at_the_end_of_each_day_with_its_joins_and_leaves() {
    // Arrange: on 22 November two wholesale customers join; on the 24th one leaves and
    // another joins; on the 25th one more leaves.
    let app = spawn_app().await;
    let ann = app
        .create_customer(json!({ "externalId": "ann", "wholesale": true }))
        .await;
    let bob = app
        .create_customer(json!({ "externalId": "bob", "wholesale": true }))
        .await;
    let cid = app.create_customer(json!({ "externalId": "cid" })).await;
    let id = create_segment(&app, "Trade", json!({ "wholesale": true })).await;
    let update = "mutation($id: ID!, $w: Boolean!) { updateCustomer(id: $id, input: { wholesale: $w }) { userErrors { field } } }";
    app.clock.advance(chrono::Duration::days(2));
    app.admin_data(update, json!({ "id": ann, "w": false }))
        .await;
    app.admin_data(update, json!({ "id": cid, "w": true }))
        .await;
    app.clock.advance(chrono::Duration::days(1));
    app.admin_data(update, json!({ "id": bob, "w": false }))
        .await;

    // Act
    let history = app
        .admin_data(
            "query($id: ID!) { segment(id: $id) { countHistory(from: \"2026-11-21\", to: \"2026-11-26\") { date members joined left } } }",
            json!({ "id": id }),
        )
        .await;
    let later = app
        .admin_data(
            "query($id: ID!) { segment(id: $id) { countHistory(from: \"2026-11-25\", to: \"2026-11-25\") { members } } }",
            json!({ "id": id }),
        )
        .await;

    // Assert
    let day = |date: &str, members: i64, joined: i64, left: i64| json!({ "date": date, "members": members, "joined": joined, "left": left });
    assert_eq!(
        history["segment"]["countHistory"],
        json!([
            day("2026-11-21", 0, 0, 0),
            day("2026-11-22", 2, 2, 0),
            day("2026-11-23", 2, 0, 0),
            day("2026-11-24", 2, 1, 1),
            day("2026-11-25", 1, 0, 1),
            day("2026-11-26", 1, 0, 0),
        ])
    );
    assert_eq!(later["segment"]["countHistory"], json!([{ "members": 1 }]));
}

#[tokio::test]
async fn a_live_subscriber_receives_a_rebuild_in_order_and_a_deleted_role_moves_its_segment() {
    // Arrange: three customers in a role, a live subscriber to everything.
    let app = spawn_app().await;
    let role = app.create_role("VIP", "vip", &[]).await;
    for who in ["ann", "bob", "cid"] {
        let id = app.create_customer(json!({ "externalId": who })).await;
        app.admin_data(
            "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
            json!({ "c": id, "r": role }),
        )
        .await;
    }
    let key = app.create_key("INTEGRATOR").await;
    let mut live = crate::helpers::WsClient::connect(&app, &key).await;
    // From the start of the log (no segment change is in it yet), so none is missed however
    // soon the server starts the feed.
    live.subscribe(
        "1",
        FEED,
        json!({ "after": "0", "filter": { "kinds": ["SEGMENT_JOINED", "SEGMENT_LEFT"] } }),
    )
    .await;
    let probe = create_segment(&app, "Probe", json!({ "hasRole": [role] })).await;
    let mut received = Vec::new();
    for _ in 0..3 {
        received.push(live.next_data().await["membershipChanges"].clone());
    }

    // Act: a second segment over the role, then the role is deleted.
    let vip = create_segment(&app, "VIPs", json!({ "hasRole": [role] })).await;
    app.delete_role(&role).await;
    for _ in 0..9 {
        received.push(live.next_data().await["membershipChanges"].clone());
    }

    // Assert: every change in log order, each segment's joins then both segments' leaves.
    let ids: Vec<i64> = received
        .iter()
        .map(|c| {
            c["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("an id")
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let summary: Vec<(String, String, String)> = received
        .iter()
        .map(|c| {
            (
                c["segmentId"].as_str().unwrap_or_default().to_owned(),
                c["kind"].as_str().unwrap_or_default().to_owned(),
                c["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let expect = |segment: &str, kind: &str, reason: &str, n: usize| {
        vec![(segment.to_owned(), kind.to_owned(), reason.to_owned()); n]
    };
    let mut wanted = expect(&probe, "SEGMENT_JOINED", "definition", 3);
    wanted.extend(expect(&vip, "SEGMENT_JOINED", "definition", 3));
    let mut leaves: Vec<(String, String, String)> = summary[6..].to_vec();
    leaves.sort();
    let mut wanted_leaves = expect(&probe, "SEGMENT_LEFT", "admin", 3);
    wanted_leaves.extend(expect(&vip, "SEGMENT_LEFT", "admin", 3));
    wanted_leaves.sort();
    assert_eq!(summary[..6].to_vec(), wanted);
    assert_eq!(leaves, wanted_leaves);
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_cut_off_with_a_reason_and_resumes_with_after() {
    // Arrange: wholesale customers written straight to the database, so many that their joins
    // (each message about 200 bytes) are more than twice what the kernel may buffer for the
    // server's socket; a segment of them logs a join each.
    let send_buffer_ceiling: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2).and_then(|n| n.parse().ok()))
        .unwrap_or(4 << 20);
    let customers = send_buffer_ceiling / 100 + 2_000;
    let app = crate::helpers::spawn_app_with(|s| {
        s.limits.socket_send_timeout = std::time::Duration::from_millis(2_000);
        s.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
    })
    .await;
    app.insert_wholesale_customers("w", customers).await;
    let segment = create_segment(&app, "Trade", json!({ "wholesale": true })).await;
    let key = app.create_key("INTEGRATOR").await;
    let joins = json!({ "after": "0", "filter": { "segmentIds": [segment] } });

    // Act: subscribe from the start and read nothing until the server says it cut a client
    // off (the buffers between are the kernel's: how long they take to fill varies); then
    // read what comes.
    let mut slow = crate::helpers::WsClient::connect_with_receive_buffer(&app, &key, 4096).await;
    slow.subscribe("1", FEED, joins).await;
    let cut_offs_before = cut_offs(&app).await;
    while cut_offs(&app).await == cut_offs_before {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    slow.widen_receive_buffer(1 << 20);
    let mut seen = std::collections::BTreeSet::new();
    let mut last = 0_i64;
    let close = loop {
        match slow.next_frame_or_end().await {
            Some(tokio_tungstenite::tungstenite::Message::Text(text)) => {
                let message: serde_json::Value = serde_json::from_str(&text).expect("json");
                let change = &message["payload"]["data"]["membershipChanges"];
                take(change, &mut last, &mut seen);
            }
            Some(tokio_tungstenite::tungstenite::Message::Close(frame)) => break frame,
            other => panic!("expected changes, then a close frame: {other:?}"),
        }
    };
    let cut_off_after = seen.len();
    let mut resumed = crate::helpers::WsClient::connect(&app, &key).await;
    resumed
        .subscribe(
            "1",
            FEED,
            json!({ "after": last.to_string(), "filter": { "segmentIds": [segment] } }),
        )
        .await;
    while seen.len() < customers {
        let change = resumed.next_data().await["membershipChanges"].clone();
        assert!(
            take(&change, &mut last, &mut seen),
            "each join once: {change}"
        );
    }

    // Assert: cut off part-way with the reason, and nothing lost or repeated on resuming.
    let frame = close.expect("a close frame with a reason");
    assert_eq!(u16::from(frame.code), 4008, "{frame:?}");
    assert!(frame.reason.contains("resume with after"), "{frame:?}");
    assert!(
        cut_off_after < customers,
        "the slow client was cut off before the end"
    );
    assert_eq!(seen.len(), customers);
}

/// How many WebSocket clients the server's process has cut off (its Prometheus counter).
async fn cut_offs(app: &crate::helpers::TestApp) -> u64 {
    let metrics = app.metrics_address.clone().expect("metrics are served");
    let text = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("a body");
    crate::metrics::sample(&text, "nudge_websocket_cut_offs_total", &[]).map_or(0, |n| n as u64)
}

/// Notes a change of the feed: its id must come after `last`; whether its customer is new to
/// `seen`.
fn take(
    change: &serde_json::Value,
    last: &mut i64,
    seen: &mut std::collections::BTreeSet<String>,
) -> bool {
    let id: i64 = change["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    assert!(id > *last, "in order: {id} after {last}");
    *last = id;
    seen.insert(
        change["customerExternalId"]
            .as_str()
            .expect("a customer")
            .to_owned(),
    )
}
