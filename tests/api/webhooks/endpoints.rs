//! Endpoints: what is refused when saving, who may see and change which, and addresses that
//! are not public refused when a message is sent (against DNS rebinding).

use super::*;
use crate::helpers::{error_code, spawn_app, user_errors};

const CREATE: &str = "mutation($input: WebhookEndpointInput!) { createWebhookEndpoint(input: $input) { created { secret webhookEndpoint { id url eventTypes } } userErrors { field code message } } }";

#[tokio::test]
async fn saving_refuses_plain_http_private_addresses_unknown_ids_and_an_empty_type_list() {
    // Arrange: default settings — https only, public addresses only.
    let app = spawn_app().await;
    let refused = |url: &'static str| {
        let app = &app;
        async move {
            let data = app
                .admin_data(CREATE, json!({ "input": { "url": url } }))
                .await;
            user_errors(&data["createWebhookEndpoint"])
        }
    };

    // Act / Assert
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://localhost:8443/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://user:pw@hooks.example.com/x",
        "not a url",
    ] {
        assert_eq!(
            refused(url).await,
            vec![("input.url".to_owned(), "INVALID".to_owned())],
            "{url}"
        );
    }
    let data = app
        .admin_data(
            CREATE,
            json!({ "input": { "url": "https://hooks.example.com/x", "eventTypes": [], "roleIds": ["999"], "tagIds": ["abc"] } }),
        )
        .await;
    let mut errors = user_errors(&data["createWebhookEndpoint"]);
    errors.sort();
    assert_eq!(
        errors,
        vec![("input.tagIds.0".to_owned(), "INVALID".to_owned())],
        "ids that are not ids are refused before anything else"
    );
    let data = app
        .admin_data(
            CREATE,
            json!({ "input": { "url": "https://hooks.example.com/x", "eventTypes": [], "roleIds": ["999"] } }),
        )
        .await;
    let mut errors = user_errors(&data["createWebhookEndpoint"]);
    errors.sort();
    assert_eq!(
        errors,
        vec![
            ("input.eventTypes".to_owned(), "BLANK".to_owned()),
            ("input.roleIds.0".to_owned(), "NOT_FOUND".to_owned()),
        ]
    );
    let none = app
        .admin_data("{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(none["webhookEndpoints"], json!([]), "nothing was written");

    // A public https URL is kept; its secret is shown once, 32 random bytes.
    let data = app
        .admin_data(
            CREATE,
            json!({ "input": { "url": "https://hooks.example.com/x", "eventTypes": ["TAG_SET", "TAG_SET", "ROLE_ASSIGNED"] } }),
        )
        .await;
    let created = &data["createWebhookEndpoint"]["created"];
    let secret = created["secret"].as_str().expect("secret");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_"))
        .expect("base64");
    assert_eq!(bytes.len(), 32);
    assert_eq!(
        created["webhookEndpoint"]["eventTypes"],
        json!(["ROLE_ASSIGNED", "TAG_SET"])
    );
}

#[tokio::test]
async fn an_integrator_key_manages_its_own_endpoints_only_and_a_storefront_key_none() {
    // Arrange
    let app = spawn_app().await;
    let mine = app.create_key("INTEGRATOR").await;
    let theirs = app.create_key("INTEGRATOR").await;
    let storefront = app.create_key("STOREFRONT").await;
    let input = json!({ "input": { "url": "https://hooks.example.com/mine" } });
    let created = app.graphql(Some(&mine), CREATE, input.clone()).await;
    let id = created["data"]["createWebhookEndpoint"]["created"]["webhookEndpoint"]["id"]
        .as_str()
        .expect("an integrator creates an endpoint")
        .to_owned();
    app.admin_data(
        CREATE,
        json!({ "input": { "url": "https://hooks.example.com/admin" } }),
    )
    .await;

    // Act / Assert: each sees what it may.
    let list = "{ webhookEndpoints { url } }";
    let seen = app.graphql(Some(&mine), list, json!({})).await;
    assert_eq!(
        seen["data"]["webhookEndpoints"],
        json!([{ "url": "https://hooks.example.com/mine" }])
    );
    let seen = app.graphql(Some(&theirs), list, json!({})).await;
    assert_eq!(seen["data"]["webhookEndpoints"], json!([]));
    assert_eq!(
        app.admin_data(list, json!({})).await["webhookEndpoints"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let delete =
        "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedWebhookEndpointId } }";
    let denied = app
        .graphql(Some(&theirs), delete, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&denied), "NOT_FOUND");
    let denied = app.graphql(Some(&storefront), CREATE, input).await;
    assert_eq!(error_code(&denied), "FORBIDDEN");
    let deleted = app.graphql(Some(&mine), delete, json!({ "id": id })).await;
    assert_eq!(
        deleted["data"]["deleteWebhookEndpoint"]["deletedWebhookEndpointId"],
        id.as_str()
    );
}

#[tokio::test]
async fn a_host_that_resolves_to_a_private_address_is_refused_when_the_message_is_sent() {
    // Arrange: this server accepted a receiver on localhost (private addresses allowed when it
    // was saved) but does not send; a message waits for it.
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|s| {
        local_hooks(s);
        s.webhooks.send = false;
    })
    .await;
    let (endpoint_id, _) = create_endpoint(&app, json!({ "url": receiver.url("/inside") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;
    set_tag(&app, &customer, &tag, "a").await;

    // Act: a sender that allows only public addresses sends it.
    let mut settings = crate::helpers::test_settings(&app.database_url);
    settings.webhooks.allow_http = true;
    let sender = in_test_sender(&app, settings).await;
    let claimed = sender.send_once().await.expect("a round");

    // Assert: the attempt never reached the receiver, and says why.
    assert_eq!(claimed, 1);
    assert!(receiver.calls().is_empty());
    let list = messages(&app, &endpoint_id).await;
    let error = list[0]["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("not a public address"), "{error}");
    assert_eq!(list[0]["status"], "QUEUED");
}

/// A webhook sender in the test process, on the app's database and clock.
pub(crate) async fn in_test_sender(
    app: &TestApp,
    settings: Settings,
) -> nudge::domain::webhook_sender::WebhookSender {
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("db");
    nudge::domain::webhook_sender::WebhookSender::new(
        db,
        std::sync::Arc::new(app.clock.clone()),
        std::sync::Arc::new(settings),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    )
    .expect("a sender")
}
