use crate::helpers::{spawn_app, user_errors};
use serde_json::{Value, json};

const CREATE: &str = "mutation($input: CustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { field code message } } }";

async fn refused(app: &crate::helpers::TestApp, input: Value) -> Vec<(String, String)> {
    let data = app.admin_data(CREATE, json!({ "input": input })).await;
    let payload = &data["createCustomer"];
    assert_eq!(payload["customer"], Value::Null, "{payload}");
    user_errors(payload)
}

fn pair(field: &str, code: &str) -> (String, String) {
    (field.to_owned(), code.to_owned())
}

#[tokio::test]
async fn each_invalid_customer_field_is_a_user_error_with_its_path_and_code() {
    let app = spawn_app().await;
    app.create_customer(json!({ "externalId": "taken" })).await;
    let cases = [
        (
            json!({ "externalId": "x", "email": "not-an-email" }),
            pair("input.email", "INVALID"),
        ),
        (
            json!({ "externalId": "x", "phone": "601234567" }),
            pair("input.phone", "INVALID"),
        ),
        (
            json!({ "externalId": "x", "phone": "+1 415 555 0100" }),
            pair("input.phone", "INVALID"),
        ),
        (
            json!({ "externalId": "x", "timeZone": "Mars/Olympus_Mons" }),
            pair("input.timeZone", "INVALID"),
        ),
        (
            json!({ "externalId": "taken" }),
            pair("input.externalId", "TAKEN"),
        ),
        (
            json!({ "email": "a@example.com" }),
            pair("input.externalId", "BLANK"),
        ),
        (
            json!({ "externalId": "   " }),
            pair("input.externalId", "BLANK"),
        ),
        (
            json!({ "externalId": "x", "locale": "english please" }),
            pair("input.locale", "INVALID"),
        ),
        (
            json!({ "externalId": "x", "birthday": "2030-01-01" }),
            pair("input.birthday", "OUT_OF_RANGE"),
        ),
        (
            json!({ "externalId": "x", "attributes": [1, 2] }),
            pair("input.attributes", "INVALID"),
        ),
        (
            json!({ "externalId": "x", "smsConsent": { "granted": true } }),
            pair("input.smsConsent", "INVALID"),
        ),
        (
            json!({ "externalId": "x", "firstName": "n".repeat(256) }),
            pair("input.firstName", "TOO_LONG"),
        ),
    ];

    for (input, expected) in cases {
        let errors = refused(&app, input.clone()).await;
        assert_eq!(errors, vec![expected], "input {input}");
    }
}

#[tokio::test]
async fn all_violations_of_one_input_are_reported_together() {
    let app = spawn_app().await;

    let errors = refused(
        &app,
        json!({ "externalId": "x", "email": "bad", "phone": "bad", "timeZone": "bad" }),
    )
    .await;

    assert_eq!(
        errors,
        vec![
            pair("input.email", "INVALID"),
            pair("input.phone", "INVALID"),
            pair("input.timeZone", "INVALID")
        ]
    );
}

#[tokio::test]
async fn a_refused_mutation_writes_nothing() {
    let app = spawn_app().await;
    let id = app
        .create_customer(json!({ "externalId": "c1", "firstName": "Ann" }))
        .await;

    let data = app
        .admin_data(
            "mutation($id: ID!) { updateCustomer(id: $id, input: { firstName: \"Bea\", email: \"broken\" }) { customer { id } userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    let refused_create = refused(&app, json!({ "externalId": "c2", "timeZone": "nowhere" })).await;
    let read = app
        .admin_data(
            "query($id: ID!) { customer(id: $id) { firstName } }",
            json!({ "id": id }),
        )
        .await;

    assert_eq!(data["updateCustomer"]["userErrors"][0]["code"], "INVALID");
    assert_eq!(refused_create.len(), 1);
    assert_eq!(
        read["customer"]["firstName"], "Ann",
        "the valid half was not written"
    );
    assert_eq!(app.customer_count().await, 1);
}

#[tokio::test]
async fn membership_calls_with_unknown_ids_are_user_errors() {
    let app = spawn_app().await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;

    let data = app
        .admin_data(
            "mutation($c: ID!) { assignRole(customerId: $c, roleId: \"4242\") { changed userErrors { field code } } setCustomerTag(customerId: \"4242\", tagId: \"4242\") { changed userErrors { field code } } }",
            json!({ "c": customer }),
        )
        .await;

    assert_eq!(
        user_errors(&data["assignRole"]),
        vec![pair("roleId", "NOT_FOUND")]
    );
    assert_eq!(
        user_errors(&data["setCustomerTag"]),
        vec![pair("customerId", "NOT_FOUND"), pair("tagId", "NOT_FOUND")]
    );
    assert_eq!(data["assignRole"]["changed"], Value::Null);
}

#[tokio::test]
async fn a_malformed_id_argument_is_a_bad_request() {
    let app = spawn_app().await;

    let response = app
        .admin("{ customer(id: \"abc\") { id } }", json!({}))
        .await;

    assert_eq!(crate::helpers::error_code(&response), "BAD_REQUEST");
}

#[tokio::test]
async fn a_text_filter_longer_than_the_limit_is_a_validation_error_not_internal() {
    let app = spawn_app().await;
    let long = "x".repeat(50_000);

    let response = app
        .admin(
            "query($t: String) { customers(first: 1, filter: { text: $t }) { edges { node { id } } } }",
            json!({ "t": long }),
        )
        .await;

    assert_eq!(
        crate::helpers::error_code(&response),
        "VALIDATION",
        "{}",
        &response.to_string()[..300.min(response.to_string().len())]
    );
    assert_eq!(
        response["errors"][0]["extensions"]["fields"],
        json!(["filter.text"])
    );
}

fn nested_object(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "a": inner }))
}

#[tokio::test]
async fn attributes_nested_too_deep_or_too_large_are_user_errors_on_the_way_in() {
    let app = spawn_app().await;

    let deep = refused(
        &app,
        json!({ "externalId": "x", "attributes": nested_object(40) }),
    )
    .await;
    let large = refused(
        &app,
        json!({ "externalId": "x", "attributes": { "notes": "n".repeat(20_000) } }),
    )
    .await;
    let fine = app
        .create_customer(json!({ "externalId": "y", "attributes": nested_object(15) }))
        .await;
    let read = app
        .admin_data(
            "query($id: ID!) { customer(id: $id) { attributes } }",
            json!({ "id": fine }),
        )
        .await;

    assert_eq!(deep, vec![pair("input.attributes", "OUT_OF_RANGE")]);
    assert_eq!(large, vec![pair("input.attributes", "TOO_LONG")]);
    assert_eq!(read["customer"]["attributes"], nested_object(15));
}

#[tokio::test]
async fn an_event_with_attributes_nested_too_deep_is_refused_with_its_path() {
    let app = spawn_app().await;

    let response = app
        .admin(
            "mutation($events: [EventInput!]!) { recordEvents(events: $events) { results { duplicate } userErrors { field code } } }",
            json!({ "events": [crate::helpers::ev(
                "e-1",
                "c-1",
                "2026-11-22T12:00:00Z",
                json!({ "registered": { "attributes": nested_object(40) } }),
            )] }),
        )
        .await;

    assert_eq!(
        user_errors(&response["data"]["recordEvents"]),
        vec![pair(
            "events.0.payload.registered.attributes",
            "OUT_OF_RANGE"
        )],
        "{response}"
    );
    assert_eq!(app.customer_count().await, 0);
}

#[tokio::test]
async fn a_currency_that_is_not_in_iso_4217_is_refused() {
    let app = spawn_app().await;

    let data = app
        .admin_data(
            "mutation { upsertProducts(products: [{ externalId: \"p\", name: \"P\", price: \"1.00\", currency: \"XYZ\" }]) { products { id } userErrors { field code } } }",
            json!({}),
        )
        .await;

    assert_eq!(
        user_errors(&data["upsertProducts"]),
        vec![pair("products.0.currency", "INVALID")]
    );
}
