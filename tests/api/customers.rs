use crate::helpers::spawn_app;
use serde_json::json;

const CUSTOMER_FIELDS: &str = "id externalId email phone firstName lastName birthday timeZone locale type wholesale affiliateId registeredAt ordersCount totalSpent { amount currency } attributes consent { email { granted at source } sms { granted at source } } createdAt updatedAt";

#[tokio::test]
async fn a_created_customer_reads_back_with_every_field() {
    // Arrange
    let app = spawn_app().await;
    let input = json!({
        "externalId": "shop-42",
        "email": "Ann.Smith@Example.com",
        "phone": "+48601234567",
        "firstName": "Ann",
        "lastName": "Smith",
        "birthday": "1990-02-28",
        "timeZone": "Europe/Warsaw",
        "locale": "pl-PL",
        "type": "COMPANY",
        "wholesale": true,
        "affiliateId": "aff-7",
        "emailConsent": { "granted": true, "source": "checkout" },
        "smsConsent": { "granted": true, "source": "sms form" },
        "registeredAt": "2024-05-01T10:00:00Z",
        "attributes": { "shoeSize": 38, "newsletterTopics": ["shoes"] }
    });

    // Act
    let created = app
        .admin_data(
            &format!("mutation($input: CustomerInput!) {{ createCustomer(input: $input) {{ customer {{ {CUSTOMER_FIELDS} }} userErrors {{ message }} }} }}"),
            json!({ "input": input }),
        )
        .await;
    let id = created["createCustomer"]["customer"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let read = app
        .admin_data(
            &format!("query($id: ID!) {{ customer(id: $id) {{ {CUSTOMER_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;

    // Assert
    let customer = &read["customer"];
    assert_eq!(customer, &created["createCustomer"]["customer"]);
    assert_eq!(customer["email"], "ann.smith@example.com");
    assert_eq!(customer["phone"], "+48601234567");
    assert_eq!(customer["birthday"], "1990-02-28");
    assert_eq!(customer["timeZone"], "Europe/Warsaw");
    assert_eq!(customer["type"], "COMPANY");
    assert_eq!(customer["wholesale"], true);
    assert_eq!(customer["registeredAt"], "2024-05-01T10:00:00+00:00");
    assert_eq!(customer["attributes"]["shoeSize"], 38);
    assert_eq!(customer["consent"]["email"]["granted"], true);
    assert_eq!(customer["consent"]["email"]["source"], "checkout");
    assert_eq!(
        customer["consent"]["email"]["at"], "2026-11-22T12:00:00+00:00",
        "consent is stamped with the server's clock"
    );
    assert_eq!(
        customer["totalSpent"],
        json!({ "amount": "0.00", "currency": "USD" })
    );
}

#[tokio::test]
async fn a_customer_is_found_by_external_id() {
    let app = spawn_app().await;
    let id = app.create_customer(json!({ "externalId": "ext-1" })).await;

    let data = app
        .admin_data(
            "{ found: customer(externalId: \"ext-1\") { id } missing: customer(externalId: \"nope\") { id } }",
            json!({}),
        )
        .await;

    assert_eq!(data["found"]["id"], id.as_str());
    assert_eq!(data["missing"], serde_json::Value::Null);
}

#[tokio::test]
async fn an_update_changes_only_the_given_fields_and_null_clears_one() {
    let app = spawn_app().await;
    let id = app
        .create_customer(json!({ "externalId": "c1", "email": "a@example.com", "firstName": "Ann", "locale": "en" }))
        .await;

    let data = app
        .admin_data(
            "mutation($id: ID!, $input: CustomerInput!) { updateCustomer(id: $id, input: $input) { customer { email firstName locale } userErrors { message } } }",
            json!({ "id": id, "input": { "firstName": "Anna", "locale": null } }),
        )
        .await;

    let customer = &data["updateCustomer"]["customer"];
    assert_eq!(customer["firstName"], "Anna");
    assert_eq!(customer["email"], "a@example.com", "an omitted field stays");
    assert_eq!(customer["locale"], serde_json::Value::Null, "null clears");
}

#[tokio::test]
async fn withdrawing_consent_records_when_and_how() {
    let app = spawn_app().await;
    let id = app
        .create_customer(json!({ "externalId": "c1", "email": "a@example.com", "emailConsent": { "granted": true, "source": "checkout" } }))
        .await;
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
            .unwrap()
            .into(),
    );

    let data = app
        .admin_data(
            "mutation($id: ID!) { updateCustomer(id: $id, input: { emailConsent: { granted: false, source: \"support call\" } }) { customer { consent { email { granted at source } } } } }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(
        data["updateCustomer"]["customer"]["consent"]["email"],
        json!({ "granted": false, "at": "2026-12-01T08:00:00+00:00", "source": "support call" })
    );
}

#[tokio::test]
async fn deleting_a_customer_removes_them_and_a_second_delete_is_not_found() {
    let app = spawn_app().await;
    let id = app.create_customer(json!({ "externalId": "c1" })).await;
    let delete = "mutation($id: ID!) { deleteCustomer(id: $id) { deletedCustomerId userErrors { message } } }";

    let first = app.admin(delete, json!({ "id": id })).await;
    let second = app.admin(delete, json!({ "id": id })).await;
    let read = app
        .admin_data(
            "query($id: ID!) { customer(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(
        first["data"]["deleteCustomer"]["deletedCustomerId"],
        id.as_str()
    );
    assert_eq!(crate::helpers::error_code(&second), "NOT_FOUND");
    assert_eq!(read["customer"], serde_json::Value::Null);
}

#[tokio::test]
async fn updating_a_missing_customer_is_not_found() {
    let app = spawn_app().await;

    let response = app
        .admin(
            "mutation { updateCustomer(id: \"999\", input: { firstName: \"X\" }) { customer { id } } }",
            json!({}),
        )
        .await;

    assert_eq!(crate::helpers::error_code(&response), "NOT_FOUND");
}
