//! Segments: what a condition selects, previewed without saving anything.

use crate::helpers::{error_code, spawn_app};
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
