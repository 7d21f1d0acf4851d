//! One request cannot starve the others or the engine: its root fields share a small
//! budget of connections, text searches are costed by what they scan, batches are bounded,
//! and the background work has a pool of its own.

use crate::helpers::{error_code, ev, spawn_app, spawn_app_with};
use serde_json::{Value, json};

fn aliases(count: usize, field: &str) -> String {
    let body: String = (0..count).map(|i| format!(" a{i}: {field}")).collect();
    format!("{{{body} }}")
}

#[tokio::test]
async fn a_thousand_text_searches_in_one_request_are_refused_as_too_complex() {
    let app = spawn_app().await;
    let integrator = app.create_key("INTEGRATOR").await;

    let many = aliases(
        1_000,
        "customers(first: 1, filter: { text: \"ann\" }) { edges { node { id } } }",
    );
    let few = aliases(
        5,
        "customers(first: 1, filter: { text: \"ann\" }) { edges { node { id } } }",
    );
    let refused = app.graphql(Some(&integrator), &many, json!({})).await;
    let allowed = app.graphql(Some(&integrator), &few, json!({})).await;

    assert_eq!(error_code(&refused), "LIMIT_EXCEEDED", "{refused}");
    assert!(allowed.get("errors").is_none(), "{allowed}");
}

#[tokio::test]
async fn a_request_of_many_aliases_shares_a_small_budget_and_starves_neither_clients_nor_the_engine()
 {
    // A small API pool, so that without the per-request budget one request could take it all.
    let app = spawn_app_with(|s| {
        s.database_max_connections = 3;
        s.limits.request_connections = 2;
    })
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let heavy = aliases(600, "customers(first: 1) { edges { node { id email } } }");

    let (big, other, recorded) = tokio::join!(
        app.admin(&heavy, json!({})),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            app.admin("{ viewer { scope } }", json!({})).await
        },
        app.record(
            &storefront,
            json!([ev(
                "e-1",
                "c-1",
                "2026-11-22T12:00:00Z",
                json!({ "loggedIn": true })
            )]),
        ),
    );

    let errors: Vec<&Value> = big["errors"]
        .as_array()
        .map(|e| e.iter().collect())
        .unwrap_or_default();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(big["data"].as_object().map(|o| o.len()), Some(600));
    assert_eq!(other["data"]["viewer"]["scope"], "ADMIN", "{other}");
    assert_eq!(recorded["results"][0]["duplicate"], false);
    app.processed("e-1").await;
}

#[tokio::test]
async fn a_batch_with_more_operations_than_the_limit_is_refused() {
    let app = spawn_app_with(|s| s.limits.max_batch = 3).await;
    let batch = |n: usize| -> Value {
        Value::Array(
            (0..n)
                .map(|_| json!({ "query": "{ viewer { scope } }" }))
                .collect(),
        )
    };

    let send = |body: Value| {
        app.client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.admin_key)
            .json(&body)
            .send()
    };
    let fine = send(batch(3)).await.expect("sent");
    let refused = send(batch(4)).await.expect("sent");

    assert_eq!(fine.status(), 200);
    assert_eq!(
        fine.json::<Value>()
            .await
            .expect("json")
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(error_code(&body), "LIMIT_EXCEEDED", "{body}");
}
