//! What the log holds: the real binary at `NUDGE_LOG=debug` and `NUDGE_LOG_FORMAT=json`, every
//! token route and a GraphQL GET with variables hit; the log holds none of the tokens,
//! addresses, numbers, bodies or keys.

use crate::helpers::TestDatabase;
use crate::process::{Server, TempDir, post};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Every tracking token in the message's HTML and text, with its route.
fn links(html: &str, base: &str) -> Vec<String> {
    html.split('"')
        .filter(|part| part.starts_with(base))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_log_holds_no_token_address_number_body_or_key_even_at_debug() {
    // Arrange: the release binary's own server, an action that mails and texts on login.
    let database = TestDatabase::create().await;
    let dir = TempDir::new();
    let server = Server::start(
        &database.url,
        dir.path(),
        &[
            ("NUDGE_LOG", "debug".into()),
            ("NUDGE_LOG_FORMAT", "json".into()),
            ("NUDGE_SMS_AUTH_TOKEN", "sms-auth-token-never-logged".into()),
            ("NUDGE_SMS_ACCOUNT_SID", "AC0000".into()),
            ("NUDGE_SMS_FROM", "+14155550100".into()),
            ("NUDGE_SMS_API_URL", "http://127.0.0.1:9".into()),
        ],
    )
    .await;
    let admin = server.admin.clone();
    let storefront = server.storefront_key().await;
    let email = "secret.person@example.com";
    let phone = "+14155550177";
    let body = "A body only the customer may read";
    post(
        &server,
        &admin,
        "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { userErrors { message } } }",
        json!({ "input": { "name": "hello", "trigger": "LOGGED_IN", "effects": [{ "sendEmail": {
            "subject": "Hello there", "bodyText": body,
            "bodyHtml": format!("<p>{body}</p><a href=\"https://shop.example/p\">shop</a><a href=\"{{{{ links.unsubscribe }}}}\">u</a>") } }] } }),
    )
    .await;

    // Act: the customer registers and logs in; the message goes out (recorded locally).
    let events = json!([
        { "eventId": "r1", "customerExternalId": "cust-1", "occurredAt": "2026-11-22T10:00:00Z",
          "payload": { "registered": { "email": email, "phone": phone, "firstName": "Secretname", "emailConsent": true } } },
        { "eventId": "l1", "customerExternalId": "cust-1", "occurredAt": "2026-11-22T10:01:00Z",
          "payload": { "loggedIn": true } }
    ]);
    post(
        &server,
        &storefront,
        "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }",
        json!({ "e": events }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let html = loop {
        let data = post(
            &server,
            &admin,
            "{ deliveries(first: 5) { edges { node { status bodyHtml } } } }",
            json!({}),
        )
        .await;
        let node = &data["deliveries"]["edges"][0]["node"];
        if node["status"] == "SENT" {
            break node["bodyHtml"].as_str().expect("html").to_owned();
        }
        assert!(Instant::now() < deadline, "not sent: {data}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let tracked = links(&html, &server.base);
    assert!(
        ["/t/o/", "/t/c/", "/u/"]
            .iter()
            .all(|route| tracked.iter().any(|l| l.contains(route))),
        "{tracked:?}"
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut tokens = Vec::new();
    for link in &tracked {
        no_redirects.get(link).send().await.expect("tracked");
        tokens.push(link.rsplit('/').next().expect("token").to_owned());
    }
    let unsubscribe = tracked.iter().find(|l| l.contains("/u/")).expect("link");
    let view = unsubscribe.replace("/u/", "/m/");
    no_redirects.get(&view).send().await.expect("view");
    no_redirects
        .post(unsubscribe)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .expect("one click");
    no_redirects
        .post(format!("{}/sms/status", server.base))
        .form(&[
            ("MessageSid", "SM-secret-sid"),
            ("MessageStatus", "delivered"),
            ("To", phone),
        ])
        .send()
        .await
        .expect("status");
    no_redirects
        .post(format!("{}/sms/inbound", server.base))
        .form(&[
            ("From", phone),
            ("Body", "STOP"),
            ("MessageSid", "SM-secret-2"),
        ])
        .send()
        .await
        .expect("inbound");
    let variables = json!({ "email": email }).to_string();
    no_redirects
        .get(format!("{}/graphql", server.base))
        .bearer_auth(&admin)
        .query(&[
            ("query", "query Find($email: String) { customers(first: 1, filter: { email: $email }) { edges { node { id } } } }"),
            ("operationName", "Find"),
            ("variables", variables.as_str()),
        ])
        .send()
        .await
        .expect("get");
    // The log is written as it goes: stop the server so every line is out.
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("the log");

    // Assert: JSON lines, and none of what must stay out.
    assert!(log.lines().count() > 10, "{log}");
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
    for route in [
        "/t/o/{token}",
        "/t/c/{token}",
        "/u/{token}",
        "/m/{token}",
        "/sms/status",
        "/graphql",
        "\"graphql.operation\":\"Find\"",
    ] {
        assert!(log.contains(route), "no line names {route}:\n{log}");
    }
    let mut secrets = vec![
        email.to_owned(),
        "secret.person".to_owned(),
        phone.to_owned(),
        "4155550177".to_owned(),
        body.to_owned(),
        "Secretname".to_owned(),
        "SM-secret".to_owned(),
        "sms-auth-token-never-logged".to_owned(),
        admin.clone(),
        storefront.clone(),
    ];
    secrets.extend(tokens);
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log holds {secret:?}:\n{log}"
        );
    }
}
