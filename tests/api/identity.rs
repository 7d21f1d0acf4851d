//! Storefront identity verification: a storefront key lives in browsers, so a key that
//! verifies customers acts for one only with the signature the shop's backend made of the
//! customer's external id.

use crate::helpers::{error_code, ev, sign_customer, spawn_app};
use serde_json::{Value, json};

const BANNERS: &str = "query($c: String!, $s: String) { banners(customerExternalId: $c, customerSignature: $s) { id title couponCode } recommendations(customerExternalId: $c, customerSignature: $s) { name } }";
const RECORD: &str = "mutation($events: [EventInput!]!) { recordEvents(events: $events) { results { duplicate } userErrors { field code } } }";

fn signed(event: Value, signature: &str) -> Value {
    let mut event = event;
    event["customerSignature"] = json!(signature);
    event
}

#[tokio::test]
async fn a_verifying_storefront_key_reads_a_customer_only_with_a_valid_signature() {
    let app = spawn_app().await;
    let (key, identity) = app.create_browser_key().await;
    app.create_customer(json!({ "externalId": "1001" })).await;
    let good = sign_customer(&identity, "1001");
    let of_another = sign_customer(&identity, "1002");

    let unsigned = app
        .graphql(Some(&key), BANNERS, json!({ "c": "1001" }))
        .await;
    let forged = app
        .graphql(Some(&key), BANNERS, json!({ "c": "1001", "s": of_another }))
        .await;
    let valid = app
        .graphql(Some(&key), BANNERS, json!({ "c": "1001", "s": good }))
        .await;
    let dismiss = app
        .graphql(
            Some(&key),
            "mutation { dismissBanner(customerExternalId: \"1001\", bannerId: \"1\") { userErrors { code } } }",
            json!({}),
        )
        .await;

    assert_eq!(error_code(&unsigned), "FORBIDDEN", "{unsigned}");
    assert_eq!(error_code(&forged), "FORBIDDEN", "{forged}");
    assert!(valid.get("errors").is_none(), "{valid}");
    assert_eq!(valid["data"]["banners"], json!([]));
    assert_eq!(error_code(&dismiss), "FORBIDDEN", "{dismiss}");
}

#[tokio::test]
async fn a_verifying_storefront_key_records_events_only_for_signed_customers() {
    let app = spawn_app().await;
    let (key, identity) = app.create_browser_key().await;
    let login = |id: &str, customer: &str| {
        ev(
            id,
            customer,
            "2026-11-22T12:00:00Z",
            json!({ "loggedIn": true }),
        )
    };

    let mixed = app
        .graphql(
            Some(&key),
            RECORD,
            json!({ "events": [
                signed(login("e-1", "1001"), &sign_customer(&identity, "1001")),
                login("e-2", "1002"),
            ] }),
        )
        .await;
    let nothing_yet = app.customer_count().await;
    let recorded = app
        .graphql(
            Some(&key),
            RECORD,
            json!({ "events": [signed(login("e-1", "1001"), &sign_customer(&identity, "1001"))] }),
        )
        .await;
    let event_unsigned = app
        .graphql(
            Some(&key),
            "{ event(eventId: \"e-1\") { processedAt } }",
            json!({}),
        )
        .await;
    let event_signed = app
        .graphql(
            Some(&key),
            "query($s: String) { event(eventId: \"e-1\", customerSignature: $s) { eventId } }",
            json!({ "s": sign_customer(&identity, "1001") }),
        )
        .await;

    assert_eq!(error_code(&mixed), "FORBIDDEN", "{mixed}");
    assert!(
        mixed["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("events.1.customerSignature")),
        "{mixed}"
    );
    assert_eq!(nothing_yet, 0, "a refused call writes nothing");
    assert_eq!(
        recorded["data"]["recordEvents"]["userErrors"],
        json!([]),
        "{recorded}"
    );
    assert_eq!(error_code(&event_unsigned), "FORBIDDEN", "{event_unsigned}");
    assert_eq!(
        event_signed["data"]["event"]["eventId"], "e-1",
        "{event_signed}"
    );
}

#[tokio::test]
async fn a_server_side_storefront_key_and_admin_keys_need_no_signature() {
    let app = spawn_app().await;
    let server_side = app.create_key("STOREFRONT").await;

    let storefront = app
        .graphql(Some(&server_side), BANNERS, json!({ "c": "1001" }))
        .await;
    let admin = app.admin(BANNERS, json!({ "c": "1001" })).await;

    assert!(storefront.get("errors").is_none(), "{storefront}");
    assert!(admin.get("errors").is_none(), "{admin}");
}

#[tokio::test]
async fn verification_can_be_turned_on_rotated_and_off_for_an_existing_key() {
    let app = spawn_app().await;
    // A key made before verification existed behaves like a server-side one.
    let key = app.create_key("STOREFRONT").await;
    let keys = app
        .admin_data("{ apiKeys { id scope identityVerification } }", json!({}))
        .await;
    let id = keys["apiKeys"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(keys["apiKeys"][0]["identityVerification"], false);
    let enable = "mutation($id: ID!) { enableIdentityVerification(id: $id) { identity { identitySecret apiKey { identityVerification } } userErrors { field code } } }";

    let first = app.admin_data(enable, json!({ "id": id })).await;
    let first_secret = first["enableIdentityVerification"]["identity"]["identitySecret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let unsigned = app
        .graphql(Some(&key), BANNERS, json!({ "c": "1001" }))
        .await;
    let rotated = app.admin_data(enable, json!({ "id": id })).await;
    let second_secret = rotated["enableIdentityVerification"]["identity"]["identitySecret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    let with_old = app
        .graphql(
            Some(&key),
            BANNERS,
            json!({ "c": "1001", "s": sign_customer(&first_secret, "1001") }),
        )
        .await;
    let with_new = app
        .graphql(
            Some(&key),
            BANNERS,
            json!({ "c": "1001", "s": sign_customer(&second_secret, "1001") }),
        )
        .await;
    app.admin_data(
        "mutation($id: ID!) { disableIdentityVerification(id: $id) { apiKey { identityVerification } } }",
        json!({ "id": id }),
    )
    .await;
    let after_disable = app
        .graphql(Some(&key), BANNERS, json!({ "c": "1001" }))
        .await;
    let admin_key_id = keys["apiKeys"]
        .as_array()
        .and_then(|k| k.iter().find(|k| k["scope"] == "ADMIN"))
        .map(|k| k["id"].clone())
        .expect("the bootstrap key");
    let on_admin = app.admin_data(enable, json!({ "id": admin_key_id })).await;

    assert_eq!(
        first["enableIdentityVerification"]["identity"]["apiKey"]["identityVerification"],
        true
    );
    assert_ne!(first_secret, second_secret);
    assert_eq!(error_code(&unsigned), "FORBIDDEN", "{unsigned}");
    assert_eq!(error_code(&with_old), "FORBIDDEN", "{with_old}");
    assert!(with_new.get("errors").is_none(), "{with_new}");
    assert!(after_disable.get("errors").is_none(), "{after_disable}");
    assert_eq!(
        on_admin["enableIdentityVerification"]["userErrors"],
        json!([{ "field": ["id"], "code": "INVALID" }])
    );
}
