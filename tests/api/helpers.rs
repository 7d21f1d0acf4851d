//! `spawn_app()`: a running Nudge with its own database, port and admin key.

use chrono::{TimeZone, Utc};
use nudge::clock::{ManualClock, SharedClock};
use nudge::config::Settings;
use nudge::startup::Application;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::sync::Arc;

/// A running server for one test. Its database is dropped when it goes out of scope.
pub struct TestApp {
    pub address: String,
    /// Where `/metrics` is served, when the test asked for it.
    pub metrics_address: Option<String>,
    pub admin_key: String,
    pub database_url: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    /// The server's task supervisor (for fault drills).
    pub supervisor: nudge::supervisor::Supervisor,
    _database: TestDatabase,
}

/// Starts Nudge with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Settings of a test server on `database_url`: a random port, one worker, a small pool.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::from_lookup(|_| None).expect("default settings are valid");
    settings.database_url = database_url.to_owned();
    settings.database_max_connections = 5;
    settings.listen = "127.0.0.1:0".parse().expect("valid address");
    settings.http_workers = Some(1);
    // Tests drive the campaign engine themselves, at the instants they choose.
    settings.tick_schedule = None;
    settings.tick_mutation = true;
    settings
}

/// The shop of the default settings (USD, UTC).
pub fn default_store() -> nudge::config::StoreSettings {
    Settings::from_lookup(|_| None)
        .expect("default settings are valid")
        .store
}

/// A storefront event as `recordEvents` takes it.
pub fn ev(id: &str, customer: &str, at: &str, payload: Value) -> Value {
    json!({ "eventId": id, "customerExternalId": customer, "occurredAt": at, "payload": payload })
}

/// The instant test clocks start at.
pub fn test_start() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

/// Starts Nudge after `configure` has adjusted its settings.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::create().await;
    let mut settings = test_settings(&database.url);
    configure(&mut settings);
    let clock = ManualClock::new(test_start());
    let shared: SharedClock = Arc::new(clock.clone());
    let app = Application::build(settings, shared)
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_key = app
        .bootstrap_key
        .as_ref()
        .expect("a fresh database gets a bootstrap key")
        .secret
        .clone();
    let supervisor = app.state.supervisor.clone();
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        metrics_address,
        admin_key,
        database_url: database.url.clone(),
        client: reqwest::Client::new(),
        clock,
        supervisor,
        _database: database,
    }
}

impl TestApp {
    /// POSTs a GraphQL operation with `key` (or none) and returns the JSON response.
    pub async fn graphql(&self, key: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
            .send()
            .await
            .expect("the request is sent")
            .json()
            .await
            .expect("the response is JSON")
    }

    /// Runs an operation with the admin key.
    pub async fn admin(&self, query: &str, variables: Value) -> Value {
        self.graphql(Some(&self.admin_key), query, variables).await
    }

    /// Runs an operation with the admin key and returns its `data`, failing on any error.
    pub async fn admin_data(&self, query: &str, variables: Value) -> Value {
        let response = self.admin(query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response}"
        );
        response["data"].clone()
    }

    /// Creates a key with `scope` ("ADMIN", "STOREFRONT", "INTEGRATOR") and returns its secret.
    /// A storefront key made here is a server-side one (no customer signatures); see
    /// [`TestApp::create_browser_key`] for one that verifies customers.
    pub async fn create_key(&self, scope: &str) -> String {
        let data = self
            .admin_data(
                "mutation($scope: ApiKeyScope!) { createApiKey(scope: $scope, name: \"test\", identityVerification: false) { created { secret } userErrors { message } } }",
                json!({ "scope": scope }),
            )
            .await;
        data["createApiKey"]["created"]["secret"]
            .as_str()
            .expect("a secret")
            .to_owned()
    }

    /// Creates a storefront key that verifies customers; returns its secret and identity
    /// secret.
    pub async fn create_browser_key(&self) -> (String, String) {
        let data = self
            .admin_data(
                "mutation { createApiKey(scope: STOREFRONT, name: \"browser\") { created { secret identitySecret apiKey { identityVerification } } } }",
                json!({}),
            )
            .await;
        let created = &data["createApiKey"]["created"];
        assert_eq!(created["apiKey"]["identityVerification"], true, "{created}");
        (
            created["secret"].as_str().expect("a secret").to_owned(),
            created["identitySecret"]
                .as_str()
                .expect("an identity secret")
                .to_owned(),
        )
    }

    /// Creates a customer from `input` and returns its id.
    pub async fn create_customer(&self, input: Value) -> String {
        let data = self
            .admin_data(
                "mutation($input: CustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { field message } } }",
                json!({ "input": input }),
            )
            .await;
        let payload = &data["createCustomer"];
        assert_eq!(payload["userErrors"], json!([]), "{payload}");
        payload["customer"]["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    }

    /// Upserts products with only the required fields.
    pub async fn create_products(&self, external_ids: &[&str]) {
        let products: Vec<Value> = external_ids
            .iter()
            .map(|id| json!({ "externalId": id, "name": format!("Product {id}"), "price": "10.00", "currency": "USD" }))
            .collect();
        let data = self
            .admin_data(
                "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
                json!({ "p": products }),
            )
            .await;
        assert_eq!(data["upsertProducts"]["userErrors"], json!([]));
    }

    /// Counts customers through the API.
    /// Inserts `n` wholesale customers (`{prefix}1` …) with one SQL statement, past the API,
    /// for tests that need many.
    pub async fn insert_wholesale_customers(&self, prefix: &str, n: usize) {
        let db = nudge::db::connect(&self.database_url, 1)
            .await
            .expect("connected");
        let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let numbers = if postgres {
            format!("SELECT CAST(generate_series(1, {n}) AS BIGINT) AS i")
        } else {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) SELECT i FROM n"
            )
        };
        let attributes = if postgres { "'{}'::json" } else { "'{}'" };
        db.execute_unprepared(&format!(
            "INSERT INTO customers (external_id, customer_type, wholesale, email_consent, sms_consent, \
             orders_count, total_spent, attributes, created_at, updated_at) \
             SELECT '{prefix}' || i, 'person', true, false, false, 0, 0, {attributes}, 0, 0 FROM ({numbers}) s"
        ))
        .await
        .expect("customers");
    }

    pub async fn customer_count(&self) -> usize {
        let data = self
            .admin_data("{ customers(first: 100) { edges { cursor } } }", json!({}))
            .await;
        data["customers"]["edges"].as_array().expect("edges").len()
    }
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
}

/// The (field path joined by dots, code) pairs of a payload's `userErrors`.
pub fn user_errors(payload: &Value) -> Vec<(String, String)> {
    payload["userErrors"]
        .as_array()
        .expect("userErrors")
        .iter()
        .map(|e| {
            let field = e["field"]
                .as_array()
                .expect("field")
                .iter()
                .map(|p| p.as_str().expect("segment").to_owned())
                .collect::<Vec<_>>()
                .join(".");
            (field, e["code"].as_str().expect("code").to_owned())
        })
        .collect()
}

/// A database that exists for one test, dropped (PostgreSQL) or deleted (SQLite) at its end.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new, empty database of the kind the suite runs on.
    pub async fn create() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match std::env::var("NUDGE_TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("nudge_test_{id}");
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .expect("NUDGE_TEST_DATABASE_URL is reachable");
                sea_orm::ConnectionTrait::execute_unprepared(
                    &admin,
                    &format!("CREATE DATABASE \"{name}\""),
                )
                .await
                .expect("the test database is created");
                admin.close().await.expect("closed");
                TestDatabase {
                    url: with_database_name(&admin_url, &name),
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
            _ => {
                let path = std::env::temp_dir().join(format!("nudge-test-{id}.db"));
                TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Cleanup::SqliteFile(path),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm", ".setup-lock"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // The test's runtime is shutting down: drop the database from a thread of its own.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime");
                    runtime.block_on(async {
                        if let Ok(admin) = sea_orm::Database::connect(&admin_url).await {
                            let _ = sea_orm::ConnectionTrait::execute_unprepared(
                                &admin,
                                &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                            )
                            .await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// `postgres://u@h:5432/test?x=y` with the database name replaced.
fn with_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let prefix = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

/// A graphql-transport-ws client.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsClient {
    /// Opens `/graphql` as a WebSocket and sends `connection_init` with `payload`.
    pub async fn open(app: &TestApp, payload: Value) -> Self {
        Self::open_with(app, payload, None, &[]).await
    }

    /// Like [`WsClient::open`], with more headers on the upgrade request (a browser's
    /// `Cookie` and `Origin`).
    pub async fn open_with_headers(
        app: &TestApp,
        payload: Value,
        headers: &[(&'static str, String)],
    ) -> Self {
        Self::open_with(app, payload, None, headers).await
    }

    /// Like [`WsClient::open`], over a socket whose receive buffer is about `receive_buffer`
    /// bytes when given.
    async fn open_with(
        app: &TestApp,
        payload: Value,
        receive_buffer: Option<u32>,
        headers: &[(&'static str, String)],
    ) -> Self {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let address: std::net::SocketAddr = app
            .address
            .trim_start_matches("http://")
            .parse()
            .expect("an address");
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes).expect("a buffer size");
        }
        let stream = socket.connect(address).await.expect("connected");
        let url = app.address.replacen("http", "ws", 1) + "/graphql";
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("a header value"));
        }
        let (mut socket, _) = tokio_tungstenite::client_async(
            request,
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("upgraded");
        socket
            .send(tokio_tungstenite::tungstenite::Message::text(
                json!({ "type": "connection_init", "payload": payload }).to_string(),
            ))
            .await
            .expect("sent");
        Self { socket }
    }

    /// Opens a connection with `key` and waits for `connection_ack`.
    pub async fn connect(app: &TestApp, key: &str) -> Self {
        Self::connect_with(app, key, None).await
    }

    /// Like [`WsClient::connect`], over a socket whose receive buffer is about `bytes`: a
    /// client that stops reading fills it soon.
    pub async fn connect_with_receive_buffer(app: &TestApp, key: &str, bytes: u32) -> Self {
        Self::connect_with(app, key, Some(bytes)).await
    }

    async fn connect_with(app: &TestApp, key: &str, receive_buffer: Option<u32>) -> Self {
        let payload = json!({ "Authorization": format!("Bearer {key}") });
        let mut client = Self::open_with(app, payload, receive_buffer, &[]).await;
        let ack = client.next_json().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Lets the socket's receive buffer grow to `bytes` (a client that starts reading fast).
    pub fn widen_receive_buffer(&self, bytes: usize) {
        if let tokio_tungstenite::MaybeTlsStream::Plain(stream) = self.socket.get_ref() {
            socket2::SockRef::from(stream)
                .set_recv_buffer_size(bytes)
                .expect("a buffer size");
        }
    }

    /// Like [`WsClient::next_frame`], but `None` when the connection ended instead (closed or
    /// reset by the server).
    pub async fn next_frame_or_end(&mut self) -> Option<tokio_tungstenite::tungstenite::Message> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a frame in time");
            match message {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next frame that is not a ping or pong (10 s at most, pings included: a server's
    /// keep-alive pings never make a test wait for ever).
    pub async fn next_frame(&mut self) -> tokio_tungstenite::tungstenite::Message {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a frame in time")
                .expect("a frame")
                .expect("readable");
            if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
                return message;
            }
        }
    }

    /// The next text frame as JSON.
    pub async fn next_json(&mut self) -> Value {
        match self.next_frame().await {
            tokio_tungstenite::tungstenite::Message::Text(text) => {
                serde_json::from_str(&text).expect("json")
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        use futures_util::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::text(
                json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })
                    .to_string(),
            ))
            .await
            .expect("sent");
    }

    /// The `data` of the next `next` message, failing on anything else.
    pub async fn next_data(&mut self) -> Value {
        let message = self.next_json().await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }
}

impl TestApp {
    /// Records events with `key`, asserting they were accepted.
    pub async fn record(&self, key: &str, events: Value) -> Value {
        let response = self
            .graphql(
                Some(key),
                "mutation($events: [EventInput!]!) { recordEvents(events: $events) { results { duplicate event { id eventId } } userErrors { field code message } } }",
                json!({ "events": events }),
            )
            .await;
        let payload = response["data"]["recordEvents"].clone();
        assert_eq!(payload["userErrors"], json!([]), "{response}");
        payload
    }

    /// Waits (10 s at most) until the processor has handled `event_id`; returns its outcome.
    pub async fn processed(&self, event_id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let data = self
                .admin_data(
                    "query($id: String!) { event(eventId: $id) { processedAt outcome } }",
                    json!({ "id": event_id }),
                )
                .await;
            if !data["event"]["processedAt"].is_null() {
                return data["event"]["outcome"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "event {event_id} was not processed in time"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Creates a customer action from `input` and returns its id.
    pub async fn create_action(&self, input: Value) -> String {
        let data = self
            .admin_data(
                "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { action { id } userErrors { field code message } } }",
                json!({ "input": input }),
            )
            .await;
        let payload = &data["createCustomerAction"];
        assert_eq!(payload["userErrors"], json!([]), "{payload}");
        payload["action"]["id"].as_str().expect("id").to_owned()
    }

    /// Creates a role and returns its id.
    pub async fn create_role(&self, name: &str, system_name: &str, products: &[&str]) -> String {
        let data = self
            .admin_data(
                "mutation($input: RoleInput!) { createRole(input: $input) { role { id } userErrors { message } } }",
                json!({ "input": { "name": name, "systemName": system_name, "recommendedProducts": products } }),
            )
            .await;
        data["createRole"]["role"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Creates a tag and returns its id.
    /// Deletes role `id` (a rule that names it stays as it was saved).
    pub async fn delete_role(&self, id: &str) {
        let data = self
            .admin_data(
                "mutation($id: ID!) { deleteRole(id: $id) { userErrors { message } } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(data["deleteRole"]["userErrors"], json!([]), "{data}");
    }

    pub async fn create_tag(&self, name: &str) -> String {
        let data = self
            .admin_data(
                "mutation($n: String!) { createTag(name: $n) { tag { id } } }",
                json!({ "n": name }),
            )
            .await;
        data["createTag"]["tag"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }
}

/// What the shop's backend computes: hex HMAC-SHA256 of the external id with the identity
/// secret as the key.
pub fn sign_customer(identity_secret: &str, external_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(identity_secret.as_bytes()).expect("any key");
    mac.update(external_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
