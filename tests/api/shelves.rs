//! The storefront answer kept in memory: served from there until a write changes it, and
//! never older than the last write — in the process that wrote at once, in another process
//! on the same PostgreSQL database within moments.

use crate::helpers::{TestApp, ev, spawn_app};
use crate::process::{Server, TempDir, post};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SHELF: &str = "query($c: String!) { recommendations(customerExternalId: $c) { externalId name } banners(customerExternalId: $c) { id title } }";

/// What the app shows customer `c1` with `key`.
async fn shelf(app: &TestApp, key: &str) -> Value {
    shelf_of(app, key, "c1").await
}

/// What the app shows the customer with external id `customer`.
async fn shelf_of(app: &TestApp, key: &str, customer: &str) -> Value {
    let response = app
        .graphql(Some(key), SHELF, json!({ "c": customer }))
        .await;
    assert!(response.get("errors").is_none(), "{response}");
    response["data"].clone()
}

async fn assign(app: &TestApp, customer: &str, role: &str) {
    app.admin_data(
        "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
        json!({ "c": customer, "r": role }),
    )
    .await;
}

fn names(shelf: &Value) -> Vec<String> {
    shelf["recommendations"]
        .as_array()
        .expect("recommendations")
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p["externalId"].as_str().unwrap_or(""),
                p["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

fn titles(shelf: &Value) -> Vec<String> {
    shelf["banners"]
        .as_array()
        .expect("banners")
        .iter()
        .map(|b| b["title"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn a_kept_answer_changes_with_every_write_that_changes_it_and_only_then() {
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;
    app.create_products(&["p1", "p2"]).await;
    let role = app.create_role("Fans", "fans", &["p1"]).await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    app.create_action(json!({
        "name": "Welcome", "trigger": "PAGE_VISITED",
        "effects": [{ "showBanner": { "title": "Hi", "bodyHtml": "<p>Hi</p>" } }]
    }))
    .await;
    let empty = shelf(&app, &storefront).await;

    assign(&app, &customer, &role).await;
    let assigned = shelf(&app, &storefront).await;
    // Behind Nudge's back: the kept answer does not see it.
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    // Every app of this test process shares one set of fences, and another test's app may drop
    // every cache at any moment (its notice listener connecting, a product written): the
    // answer must be served from memory in one of three tries.
    let mut kept = Vec::new();
    for attempt in 0..3 {
        let before = names(&shelf(&app, &storefront).await);
        db.execute_unprepared(&format!(
            "UPDATE products SET name = 'behind {attempt}' WHERE external_id = 'p1'"
        ))
        .await
        .expect("updated");
        let after = names(&shelf(&app, &storefront).await);
        kept.push((before.clone(), after.clone()));
        if after == before {
            break;
        }
    }
    app.admin_data(
        "mutation { upsertProducts(products: [{ externalId: \"p1\", name: \"P1 renamed\", price: \"1.00\", currency: \"USD\" }]) { userErrors { message } } }",
        json!({}),
    )
    .await;
    let renamed = shelf(&app, &storefront).await;
    app.admin_data(
        "mutation($r: ID!) { updateRole(id: $r, input: { recommendedProducts: [\"p2\", \"p1\"] }) { role { id } } }",
        json!({ "r": role }),
    )
    .await;
    let reordered = shelf(&app, &storefront).await;
    app.record(
        &storefront,
        json!([ev(
            "v1",
            "c1",
            "2026-11-22T10:00:00Z",
            json!({ "pageVisited": { "url": "https://shop.example/" } })
        )]),
    )
    .await;
    app.processed("v1").await;
    let bannered = shelf(&app, &storefront).await;
    let banner = bannered["banners"][0]["id"].clone();
    app.graphql(
        Some(&storefront),
        "mutation($b: ID!) { dismissBanner(customerExternalId: \"c1\", bannerId: $b) { banner { id } } }",
        json!({ "b": banner }),
    )
    .await;
    let dismissed = shelf(&app, &storefront).await;
    app.delete_role(&role).await;
    let role_gone = shelf(&app, &storefront).await;

    assert_eq!(names(&empty), Vec::<String>::new());
    assert_eq!(names(&assigned), ["p1:Product p1"]);
    assert!(
        kept.iter().any(|(before, after)| before == after),
        "served from memory in none of the tries: {kept:?}"
    );
    assert_eq!(names(&renamed), ["p1:P1 renamed"]);
    assert_eq!(names(&reordered), ["p2:Product p2", "p1:P1 renamed"]);
    assert_eq!(titles(&bannered), ["Hi"]);
    assert_eq!(titles(&dismissed), Vec::<String>::new());
    assert_eq!(names(&role_gone), Vec::<String>::new());
}

#[tokio::test]
async fn customers_in_the_same_roles_share_products_but_each_sees_only_their_own_banners() {
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;
    app.create_products(&["p1", "p2", "p3"]).await;
    let low = app.create_role("Low", "low", &["p3", "p1"]).await;
    let high = app.create_role("High", "high", &["p2", "p1"]).await;
    app.admin_data(
        "mutation($r: ID!) { updateRole(id: $r, input: { priority: 5 }) { role { id } } }",
        json!({ "r": high }),
    )
    .await;
    let mut customers = Vec::new();
    for c in ["c1", "c2", "c3"] {
        customers.push(app.create_customer(json!({ "externalId": c })).await);
    }
    // c1 and c2 in both roles (assigned in other orders), c3 in the low one only.
    for (customer, roles) in customers.iter().zip([[&low, &high], [&high, &low]]) {
        for role in roles {
            assign(&app, customer, role).await;
        }
    }
    assign(&app, &customers[2], &low).await;
    app.create_action(json!({
        "name": "Welcome", "trigger": "PAGE_VISITED",
        "effects": [{ "showBanner": { "title": "Hi", "bodyHtml": "<p>Hi</p>" } }]
    }))
    .await;
    let visit = json!({ "pageVisited": { "url": "https://shop.example/" } });
    app.record(
        &storefront,
        json!([ev("v1", "c2", "2026-11-22T10:00:00Z", visit)]),
    )
    .await;
    app.processed("v1").await;
    let mut shown = Vec::new();
    // Twice each: once read, once kept.
    for _ in 0..2 {
        for c in ["c1", "c2", "c3"] {
            let shelf = shelf_of(&app, &storefront, c).await;
            shown.push(format!("{c} {:?} {:?}", names(&shelf), titles(&shelf)));
        }
    }
    let both = r#"["p2:Product p2", "p1:Product p1", "p3:Product p3"]"#;
    let expected = [
        format!("c1 {both} []"),
        format!("c2 {both} [\"Hi\"]"),
        r#"c3 ["p3:Product p3", "p1:Product p1"] []"#.to_owned(),
    ];
    assert_eq!(shown[..3], expected);
    assert_eq!(shown[3..], expected);
}

#[tokio::test]
async fn with_nothing_kept_every_read_shows_what_the_database_has() {
    let app = crate::helpers::spawn_app_with(|s| s.storefront_cache_mb = 0).await;
    let storefront = app.create_key("STOREFRONT").await;
    app.create_products(&["p1", "p2"]).await;
    let role = app.create_role("Fans", "fans", &["p2", "p1"]).await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let empty = shelf(&app, &storefront).await;
    assign(&app, &customer, &role).await;
    let assigned = shelf(&app, &storefront).await;
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    db.execute_unprepared("UPDATE products SET name = 'behind' WHERE external_id = 'p1'")
        .await
        .expect("updated");
    let behind = shelf(&app, &storefront).await;

    assert_eq!(names(&empty), Vec::<String>::new());
    assert_eq!(names(&assigned), ["p2:Product p2", "p1:Product p1"]);
    assert_eq!(
        names(&behind),
        ["p2:Product p2", "p1:behind"],
        "read each time"
    );
}

#[tokio::test]
async fn an_erased_or_renamed_customer_is_not_shown_what_was_kept_for_them() {
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;
    app.create_products(&["p1"]).await;
    let role = app.create_role("Fans", "fans", &["p1"]).await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    assign(&app, &customer, &role).await;
    let before = shelf(&app, &storefront).await;

    app.admin_data(
        "mutation($c: ID!) { updateCustomer(id: $c, input: { externalId: \"c1-new\" }) { userErrors { message } } }",
        json!({ "c": customer }),
    )
    .await;
    let renamed = shelf(&app, &storefront).await;
    let second = app.create_customer(json!({ "externalId": "c1" })).await;
    assign(&app, &second, &role).await;
    let again = shelf(&app, &storefront).await;
    app.admin_data(
        "mutation($c: ID!) { deleteCustomer(id: $c) { userErrors { message } } }",
        json!({ "c": second }),
    )
    .await;
    let erased = shelf(&app, &storefront).await;

    assert_eq!(names(&before), ["p1:Product p1"]);
    assert_eq!(names(&renamed), Vec::<String>::new());
    assert_eq!(names(&again), ["p1:Product p1"]);
    assert_eq!(names(&erased), Vec::<String>::new());
}

#[tokio::test]
async fn a_write_through_another_process_reaches_the_kept_answer_within_a_second() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        return; // SQLite serves one process.
    }
    let storefront = app.create_key("STOREFRONT").await;
    app.create_products(&["p1", "p2"]).await;
    let role = app.create_role("Fans", "fans", &["p1"]).await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let dir = TempDir::new();
    std::fs::write(dir.path().join("key.txt"), &app.admin_key).expect("key");
    let other = Server::start(&app.database_url, dir.path(), &[]).await;
    let before = shelf(&app, &storefront).await;
    let seen_within_a_second = |want: Vec<&'static str>| {
        let (app, storefront) = (&app, storefront.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(1);
            loop {
                let now = names(&shelf(app, &storefront).await);
                if now == want {
                    return;
                }
                assert!(Instant::now() < deadline, "still {now:?}, not {want:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };

    post(
        &other,
        &app.admin_key,
        "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
        json!({ "c": customer, "r": role }),
    )
    .await;
    seen_within_a_second(vec!["p1:Product p1"]).await;
    post(
        &other,
        &app.admin_key,
        "mutation($r: ID!) { updateRole(id: $r, input: { recommendedProducts: [\"p2\"] }) { role { id } } }",
        json!({ "r": role }),
    )
    .await;
    seen_within_a_second(vec!["p2:Product p2"]).await;
    let at_other = post(&other, &storefront, SHELF, json!({ "c": "c1" })).await;

    assert_eq!(names(&before), Vec::<String>::new());
    assert_eq!(names(&at_other), ["p2:Product p2"]);
}
