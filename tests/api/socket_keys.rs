//! A WebSocket holds no more power than its key: every operation checks the key again, and a
//! revoked key's connections are closed with 4403 — at once by the process that revoked it,
//! and within a second when it was revoked elsewhere (another server, `nudge keys revoke`).

use crate::helpers::{TestApp, WsClient, spawn_app};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const FEED: &str = "subscription { membershipChanges(after: \"0\") { id } }";

/// Creates an admin key named `socket` and returns (id, secret).
async fn second_admin_key(app: &TestApp) -> (String, String) {
    let data = app
        .admin_data(
            "mutation { createApiKey(scope: ADMIN, name: \"socket\") { created { secret apiKey { id } } } }",
            json!({}),
        )
        .await;
    let created = &data["createApiKey"]["created"];
    (
        created["apiKey"]["id"].as_str().expect("id").to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}

/// The frame that ends the connection, past what may come before it: when the revocation
/// won the race with the subscription's own key check, the operation is refused first
/// (`next` with `UNAUTHENTICATED`, then `complete`) — anything else is returned as is.
async fn closing_frame(client: &mut WsClient) -> Message {
    loop {
        let frame = client.next_frame().await;
        let Message::Text(text) = &frame else {
            return frame;
        };
        let message: Value = serde_json::from_str(text).expect("json");
        let refused = message["type"] == "next"
            && message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED";
        if !(refused || message["type"] == "complete") {
            return frame;
        }
    }
}

fn close_code(message: &Message) -> Option<u16> {
    match message {
        Message::Close(Some(frame)) => Some(frame.code.into()),
        _ => None,
    }
}

#[tokio::test]
async fn revoking_a_key_closes_its_websockets_at_once_with_4403() {
    let app = spawn_app().await;
    let (id, secret) = second_admin_key(&app).await;
    let mut client = WsClient::connect(&app, &secret).await;
    client.subscribe("1", FEED, json!({})).await;

    let started = Instant::now();
    app.admin_data(
        "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }",
        json!({ "id": id }),
    )
    .await;
    let frame = closing_frame(&mut client).await;

    assert_eq!(close_code(&frame), Some(4403), "{frame:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_key_revoked_by_another_process_closes_its_websockets_within_a_second() {
    let app = spawn_app().await;
    let (id, secret) = second_admin_key(&app).await;
    let mut client = WsClient::connect(&app, &secret).await;
    client.subscribe("1", FEED, json!({})).await;

    // What `nudge keys revoke` or another server does: the row changes, nothing else.
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    let started = Instant::now();
    db.execute_unprepared(&format!(
        "UPDATE api_keys SET revoked_at = 1 WHERE id = {id}"
    ))
    .await
    .expect("revoked");
    let frame = closing_frame(&mut client).await;

    assert_eq!(close_code(&frame), Some(4403), "{frame:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_operation_on_an_open_websocket_rechecks_its_key() {
    let app = spawn_app().await;
    let (id, secret) = second_admin_key(&app).await;
    let mut client = WsClient::connect(&app, &secret).await;
    client
        .subscribe("1", "{ viewer { scope } }", json!({}))
        .await;
    let before = client.next_data().await;
    assert_eq!(before["viewer"]["scope"], "ADMIN");
    assert_eq!(client.next_json().await["type"], "complete");

    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    db.execute_unprepared(&format!(
        "UPDATE api_keys SET revoked_at = 1 WHERE id = {id}"
    ))
    .await
    .expect("revoked");
    // Past the one-second trust of the cache, before or after the close: never a new key.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    client
        .subscribe(
            "2",
            "mutation { createApiKey(scope: ADMIN, name: \"stolen\") { created { secret } } }",
            json!({}),
        )
        .await;
    let reply = client.next_frame_or_end().await;

    // Refused, or the socket is gone already (closed with 4403, or reset under our feet).
    let refused = match &reply {
        Some(Message::Text(text)) => {
            let message: Value = serde_json::from_str(text).expect("json");
            message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                || message["payload"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        }
        Some(other) => close_code(other) == Some(4403),
        None => true,
    };
    assert!(refused, "{reply:?}");
    let keys = app.admin_data("{ apiKeys { name } }", json!({})).await;
    assert!(!keys.to_string().contains("stolen"), "{keys}");
}

#[tokio::test]
async fn a_websocket_outlives_the_request_timeout() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.limits.body_timeout = Duration::from_millis(200);
    })
    .await;
    let mut client = WsClient::connect(&app, &app.admin_key).await;

    tokio::time::sleep(Duration::from_millis(700)).await;
    client
        .subscribe("1", "{ viewer { scope } }", json!({}))
        .await;

    assert_eq!(client.next_data().await["viewer"]["scope"], "ADMIN");
}

#[tokio::test]
async fn a_websocket_that_never_initialises_is_closed_with_4408() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = crate::helpers::spawn_app_with(|s| {
        s.limits.body_timeout = Duration::from_millis(300);
    })
    .await;
    let url = app.address.replacen("http", "ws", 1) + "/graphql";
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connected");

    let frame = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("closed in time");

    match frame {
        Some(Ok(message)) => assert_eq!(close_code(&message), Some(4408), "{message:?}"),
        other => panic!("expected a close frame, got {other:?}"),
    }
}
