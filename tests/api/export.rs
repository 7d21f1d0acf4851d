//! Spreadsheet export of segments, roles and tags: over HTTP and from the command line.

use crate::helpers::spawn_app;
use serde_json::json;

const HEADER: &str = "customer_id,external_id,email,phone,first_name,last_name,type,wholesale,locale,time_zone,email_consent,sms_consent,registered_at,last_login_at,last_order_at,orders_count,total_spent,member_since,tag_value";

/// Creates the segment "Trade" (wholesale customers) and returns its id.
async fn trade(app: &crate::helpers::TestApp) -> String {
    app.admin_data(
        "mutation { createSegment(input: { name: \"Trade\", condition: { wholesale: true } }) { segment { id } } }",
        json!({}),
    )
    .await["createSegment"]["segment"]["id"]
    .as_str()
    .expect("id")
    .to_owned()
}

/// A segment's CSV over HTTP with the admin key.
async fn exported(app: &crate::helpers::TestApp, segment: &str) -> String {
    app.client
        .get(format!("{}/export/segments/{segment}.csv", app.address))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("a body")
}

#[tokio::test]
async fn a_segment_role_and_tag_export_as_quoted_csv_with_formulas_neutralised() {
    // Arrange: a hostile name, a quote and a comma; a tag with a value.
    let app = spawn_app().await;
    let hostile = app
        .create_customer(
            json!({ "externalId": "=cmd|' /C calc'!A0", "firstName": "Zoë, \"Z\"",
            "lastName": "@SUM(1+1)", "wholesale": true }),
        )
        .await;
    app.create_customer(json!({ "externalId": "plain", "wholesale": true }))
        .await;
    app.create_customer(json!({ "externalId": "out" })).await;
    let segment = trade(&app).await;
    let tag = app.create_tag("tier").await;
    app.admin_data(
        "mutation($c: ID!, $t: ID!) { setCustomerTag(customerId: $c, tagId: $t, value: \"-gold\") { changed } }",
        json!({ "c": hostile, "t": tag }),
    )
    .await;
    let integrator = app.create_key("INTEGRATOR").await;
    let get = |path: String, key: Option<String>| {
        let (client, address) = (app.client.clone(), app.address.clone());
        async move {
            let mut request = client.get(format!("{address}{path}"));
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.expect("answered");
            let status = response.status().as_u16();
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (status, kind, response.text().await.expect("a body"))
        }
    };

    // Act
    let (status, kind, segment_csv) = get(
        format!("/export/segments/{segment}.csv"),
        Some(integrator.clone()),
    )
    .await;
    let (_, _, tag_csv) = get(format!("/export/tags/{tag}.csv"), Some(integrator.clone())).await;
    let storefront = app.create_key("STOREFRONT").await;
    let refused = get(format!("/export/segments/{segment}.csv"), Some(storefront)).await;
    let anonymous = get(format!("/export/segments/{segment}.csv"), None).await;
    let missing = get(
        "/export/segments/999.csv".to_owned(),
        Some(integrator.clone()),
    )
    .await;

    // Assert: a header, then the two members by id, formulas neutralised and quoted per RFC 4180.
    assert_eq!(status, 200);
    assert_eq!(kind, "text/csv; charset=utf-8");
    let lines: Vec<&str> = segment_csv.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{segment_csv}");
    assert_eq!(lines[0], HEADER);
    assert!(
        lines[1].starts_with(&format!(
            "{hostile},'=cmd|' /C calc'!A0,,,\"Zoë, \"\"Z\"\"\",'@SUM(1+1),person,true,"
        )),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains(",plain,"), "{}", lines[2]);
    assert_eq!(lines[3], "");
    assert!(tag_csv.trim_end().ends_with(",'-gold"), "{tag_csv}");
    assert_eq!(tag_csv.split("\r\n").count(), 3, "{tag_csv}");
    assert_eq!((refused.0, anonymous.0, missing.0), (403, 401, 404));
}

#[tokio::test]
async fn the_command_line_writes_the_same_csv() {
    let app = spawn_app().await;
    app.create_customer(json!({ "externalId": "ann", "wholesale": true }))
        .await;
    let segment = trade(&app).await;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nudge"))
        .args(["export", "segment", &segment])
        .env("NUDGE_DATABASE_URL", &app.database_url)
        .env("NUDGE_LOG", "warn")
        .output()
        .expect("nudge runs");
    let from_http = exported(&app, &segment).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), from_http);
    assert!(from_http.contains(",ann,"), "{from_http}");
}

#[tokio::test]
async fn an_export_of_several_pages_lists_every_member_once_in_order() {
    // Arrange: more members than two pages of the reader hold.
    let app = spawn_app().await;
    let count = 12_001;
    app.insert_wholesale_customers("bulk-", count).await;
    let segment = trade(&app).await;

    // Act
    let csv = exported(&app, &segment).await;

    // Assert: one row per member, by customer id, each with its own external id and flags.
    let rows: Vec<Vec<&str>> = csv
        .split("\r\n")
        .skip(1)
        .filter(|line| !line.is_empty())
        .map(|line| line.split(',').collect())
        .collect();
    assert_eq!(rows.len(), count);
    let ids: Vec<i64> = rows.iter().map(|r| r[0].parse().expect("an id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids rise");
    let numbers: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(numbers.len(), count);
    assert!(numbers.contains("bulk-1") && numbers.contains("bulk-12001"));
    assert!(
        rows.iter().all(|r| r[7] == "true" && r[10] == "false"),
        "wholesale and no email consent: {:?}",
        rows[0]
    );
}
