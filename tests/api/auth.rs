use crate::helpers::{TestApp, WsClient, error_code, spawn_app};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// One kind of operation and the field it touches.
const OPERATIONS: [(&str, &str); 5] = [
    ("viewer", "{ viewer { scope } }"),
    (
        "read customers",
        "{ customers(first: 1) { edges { cursor } } }",
    ),
    (
        "read one customer",
        "{ customer(externalId: \"c1\") { id } }",
    ),
    ("manage keys", "{ apiKeys { id } }"),
    (
        "mutate",
        "mutation { createTag(name: \"t\") { tag { id } } }",
    ),
];

/// The outcome per operation, in the order of [`OPERATIONS`]: "ok" or an error code.
async fn outcomes(app: &TestApp, key: Option<&str>) -> Vec<String> {
    let mut results = Vec::new();
    for (_, query) in OPERATIONS {
        let response = app.graphql(key, query, json!({})).await;
        results.push(match response.get("errors") {
            None => "ok".to_owned(),
            Some(_) => error_code(&response).to_owned(),
        });
        // Undo the mutation so every scope meets the same state.
        app.admin_data("{ tags { id } }", json!({})).await;
        if let Some(id) =
            app.admin_data("{ tags { id } }", json!({})).await["tags"][0]["id"].as_str()
        {
            app.admin_data(
                "mutation($id: ID!) { deleteTag(id: $id) { deletedTagId } }",
                json!({ "id": id }),
            )
            .await;
        }
    }
    results
}

#[tokio::test]
async fn each_scope_reaches_exactly_its_operations() {
    let app = spawn_app().await;
    app.create_customer(json!({ "externalId": "c1" })).await;
    let integrator = app.create_key("INTEGRATOR").await;
    let storefront = app.create_key("STOREFRONT").await;
    let admin = app.admin_key.clone();

    let matrix = [
        (
            "admin",
            outcomes(&app, Some(&admin)).await,
            ["ok", "ok", "ok", "ok", "ok"],
        ),
        (
            "integrator",
            outcomes(&app, Some(&integrator)).await,
            ["ok", "ok", "ok", "FORBIDDEN", "FORBIDDEN"],
        ),
        (
            "storefront",
            outcomes(&app, Some(&storefront)).await,
            ["ok", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"],
        ),
        ("no key", outcomes(&app, None).await, ["UNAUTHENTICATED"; 5]),
    ];

    for (scope, actual, expected) in matrix {
        for ((operation, _), (got, want)) in OPERATIONS.iter().zip(actual.iter().zip(expected)) {
            assert_eq!(got, want, "{scope} × {operation}");
        }
    }
}

#[tokio::test]
async fn a_storefront_key_reads_no_customer_data_even_nested() {
    let app = spawn_app().await;
    app.create_customer(json!({ "externalId": "c1", "email": "secret@example.com" }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    let response = app
        .graphql(Some(&storefront), "{ customers { edges { node { email } } } customer(externalId: \"c1\") { email } order(externalId: \"o\") { id } }", json!({}))
        .await;

    assert_eq!(response["data"], Value::Null);
    assert!(!response.to_string().contains("secret@example.com"));
    assert_eq!(error_code(&response), "FORBIDDEN");
}

#[tokio::test]
async fn an_unknown_or_malformed_key_is_refused_with_401() {
    let app = spawn_app().await;

    for header in [
        "Bearer nk_adm_not-a-real-key",
        "Basic dXNlcjpwYXNz",
        "nk_adm_x",
    ] {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("Authorization", header)
            .json(&json!({ "query": "{ viewer { scope } }" }))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 401, "{header}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{header}");
    }
}

#[tokio::test]
async fn a_revoked_key_stops_working_and_keys_list_without_secrets() {
    let app = spawn_app().await;
    let key = app.create_key("INTEGRATOR").await;
    let before = app
        .graphql(Some(&key), "{ viewer { scope keyName } }", json!({}))
        .await;
    let listed = app
        .admin_data(
            "{ apiKeys { id name scope prefix lastUsedAt revokedAt } }",
            json!({}),
        )
        .await;
    let id = listed["apiKeys"][0]["id"].clone();

    let revoked = app
        .admin_data(
            "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }",
            json!({ "id": id }),
        )
        .await;
    let after = app
        .graphql(Some(&key), "{ viewer { scope } }", json!({}))
        .await;

    assert_eq!(
        before["data"]["viewer"],
        json!({ "scope": "INTEGRATOR", "keyName": "test" })
    );
    assert_eq!(listed["apiKeys"][0]["scope"], "INTEGRATOR");
    assert_eq!(listed["apiKeys"][0]["prefix"], &key[..12]);
    assert!(
        !listed["apiKeys"][0]["lastUsedAt"].is_null(),
        "use is recorded"
    );
    assert!(
        !listed.to_string().contains(&key),
        "secrets are never listed"
    );
    assert!(!revoked["revokeApiKey"]["apiKey"]["revokedAt"].is_null());
    assert_eq!(error_code(&after), "UNAUTHENTICATED");
}

async fn websocket_init(app: &TestApp, payload: Value) -> Message {
    WsClient::open(app, payload).await.next_frame().await
}

#[tokio::test]
async fn websocket_clients_authenticate_in_connection_init() {
    let app = spawn_app().await;
    let integrator = app.create_key("INTEGRATOR").await;

    let accepted = websocket_init(
        &app,
        json!({ "Authorization": format!("Bearer {integrator}") }),
    )
    .await;
    let by_api_key = websocket_init(&app, json!({ "apiKey": integrator })).await;
    let missing = websocket_init(&app, json!({})).await;
    let wrong = websocket_init(&app, json!({ "Authorization": "Bearer nk_int_wrong" })).await;

    let ack = |m: &Message| match m {
        Message::Text(text) => {
            serde_json::from_str::<Value>(text).expect("json")["type"] == "connection_ack"
        }
        _ => false,
    };
    assert!(ack(&accepted), "{accepted:?}");
    assert!(ack(&by_api_key), "{by_api_key:?}");
    assert!(
        matches!(missing, Message::Close(Some(ref f)) if f.reason.contains("connection_init")),
        "{missing:?}"
    );
    assert!(
        matches!(wrong, Message::Close(Some(ref f)) if f.reason.contains("not valid")),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn a_websocket_without_the_protocol_header_is_a_bad_request() {
    let app = spawn_app().await;
    let url = app.address.replacen("http", "ws", 1) + "/graphql";

    let result = tokio_tungstenite::connect_async(url).await;

    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}
