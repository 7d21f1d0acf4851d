//! Requests an attacker would send: documents and variables nested to any depth, random
//! bytes, without a key or with one. The server refuses them with a code and stays up.

use crate::helpers::{TestApp, error_code, spawn_app};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// `{ viewer(x: [[…1…]]) { scope } }` with `depth` levels of `open`/`close` in the argument.
fn nested_document(open: &str, close: &str, depth: usize) -> String {
    format!(
        "{{ viewer(x: {}1{}) {{ scope }} }}",
        open.repeat(depth),
        close.repeat(depth)
    )
}

async fn post_raw(app: &TestApp, key: Option<&str>, body: String) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn assert_alive(app: &TestApp) {
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("the server is still up");
    assert_eq!(health.status(), 200);
}

/// The depths tried: every one to 300, then steps to 100,000.
fn depths() -> impl Iterator<Item = usize> {
    (1..=300)
        .chain((400..=100_000).step_by(1_400))
        .chain([1_531, 1_562, 100_000])
}

#[tokio::test]
async fn documents_nested_to_any_depth_are_refused_without_crashing_the_server() {
    let app = spawn_app().await;
    let kinds = [("[", "]"), ("{a: ", "}")];

    for depth in depths() {
        for (open, close) in kinds {
            let query = nested_document(open, close, depth);
            let (_, response) = post_raw(&app, None, json!({ "query": query }).to_string()).await;
            let code = response["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("");
            assert!(
                response["errors"][0]["message"].is_string(),
                "depth {depth}: {response}"
            );
            if depth + 2 > 64 {
                assert_eq!(code, "LIMIT_EXCEEDED", "depth {depth}: {response}");
            } else {
                // Within the bound the document is parsed and refused for lacking a key
                // (or for the unknown argument): never a crash.
                assert_ne!(code, "LIMIT_EXCEEDED", "depth {depth}: {response}");
            }
        }
    }
    assert_alive(&app).await;
}

#[tokio::test]
async fn nesting_over_get_and_with_a_key_is_refused_the_same_way() {
    let app = spawn_app().await;
    let query = nested_document("[", "]", 1_562);

    let over_get = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query.as_str())])
        .send()
        .await
        .expect("answered");
    let body: Value = over_get.json().await.expect("json");
    let with_key = app.admin(&query, json!({})).await;

    assert_eq!(error_code(&body), "LIMIT_EXCEEDED", "{body}");
    assert_eq!(error_code(&with_key), "LIMIT_EXCEEDED", "{with_key}");
    assert_alive(&app).await;
}

#[tokio::test]
async fn variables_nested_past_the_bound_are_refused_with_limit_exceeded() {
    let app = spawn_app().await;
    let deep = |depth: usize| -> String { format!("{}1{}", "[".repeat(depth), "]".repeat(depth)) };

    for depth in [65, 100, 127, 130, 1_000, 100_000] {
        let body = format!(
            "{{\"query\": \"query($x: JSON) {{ viewer {{ scope }} }}\", \"variables\": {{\"x\": {}}}}}",
            deep(depth)
        );
        let (status, response) = post_raw(&app, Some(&app.admin_key), body).await;
        assert_eq!(
            error_code(&response),
            "LIMIT_EXCEEDED",
            "depth {depth}: {response}"
        );
        assert_ne!(status, 500);
        if depth > 5_000 {
            continue; // (such a URL is refused by the HTTP layer before GraphQL sees it)
        }
        let over_get = app
            .client
            .get(format!("{}/graphql", app.address))
            .query(&[
                ("query", "{ viewer { scope } }"),
                ("variables", &format!("{{\"x\": {}}}", deep(depth))),
            ])
            .send()
            .await
            .expect("answered");
        let body: Value = over_get.json().await.unwrap_or(Value::Null);
        assert_eq!(error_code(&body), "LIMIT_EXCEEDED", "depth {depth}: {body}");
    }
    let shallow = app
        .admin(
            "mutation($input: CustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { field } } }",
            json!({ "input": { "externalId": "c-1", "attributes": { "a": { "b": [1, 2] } } } }),
        )
        .await;
    assert!(shallow.get("errors").is_none(), "{shallow}");
    assert_alive(&app).await;
}

#[tokio::test]
async fn random_documents_and_bytes_never_stop_the_server() {
    let app = spawn_app().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let alphabet = b"{}[]()\"\\#\n :,$@!.aA1";

    for round in 0..200 {
        let length = if round % 20 == 0 {
            200_000
        } else {
            rng.random_range(1..4_000)
        };
        let text: String = (0..length)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect();
        let as_query = json!({ "query": text }).to_string();
        let (status, _) = post_raw(&app, None, as_query).await;
        assert!(status < 500, "round {round}: HTTP {status}");
        let (status, _) = post_raw(&app, Some(&app.admin_key), text).await;
        assert!(status < 500, "round {round}: HTTP {status}");
    }
    assert_alive(&app).await;
}
