use crate::helpers::{error_code, spawn_app, spawn_app_with};
use serde_json::{Value, json};

#[tokio::test]
async fn a_query_nested_deeper_than_the_limit_is_refused() {
    let app = spawn_app_with(|s| s.limits.max_depth = 5).await;

    let shallow = app
        .admin(
            "{ customers { edges { node { roles { name } } } } }",
            json!({}),
        )
        .await;
    let deep = app
        .admin("{ customers { edges { node { roles { recommendedProducts { price { amount } } } } } } }", json!({}))
        .await;

    assert!(shallow.get("errors").is_none(), "{shallow}");
    assert_eq!(error_code(&deep), "LIMIT_EXCEEDED");
    assert_eq!(deep["data"], Value::Null);
}

#[tokio::test]
async fn a_query_more_complex_than_the_limit_is_refused_by_page_size_times_cost() {
    let app = spawn_app().await;

    let fine = app
        .admin(
            "{ customers(first: 100) { edges { node { id email } } } }",
            json!({}),
        )
        .await;
    let nested_pages = app
        .admin(
            "{ customers(first: 100) { edges { node { orders(first: 100) { lines { product { name sku } } } } } } }",
            json!({}),
        )
        .await;

    assert!(fine.get("errors").is_none(), "{fine}");
    assert_eq!(error_code(&nested_pages), "LIMIT_EXCEEDED");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = spawn_app().await;
    let padding = " ".repeat(1024 * 1024 + 1);

    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"query\": \"{{ viewer {{ scope }} }}\"{padding}}}"
        ))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "LIMIT_EXCEEDED");
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let app = spawn_app_with(|s| s.limits.max_body_bytes = 64).await;

    let small = app.admin("{ viewer { scope } }", json!({})).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_key)
        .json(&json!({ "query": "{ customers(first: 1) { edges { node { id email phone } } } }" }))
        .send()
        .await
        .expect("sent");

    assert!(small.get("errors").is_none());
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn queries_work_over_get_but_mutations_are_refused() {
    let app = spawn_app().await;
    let get = |query: &str| {
        app.client
            .get(format!("{}/graphql", app.address))
            .bearer_auth(&app.admin_key)
            .query(&[("query", query)])
            .send()
    };

    let query: Value = get("{ viewer { scope } }")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let mutation: Value = get("mutation { createTag(name: \"x\") { tag { id } } }")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let tags = app.admin_data("{ tags { id } }", json!({})).await;

    assert_eq!(query["data"]["viewer"]["scope"], "ADMIN");
    assert_eq!(error_code(&mutation), "BAD_REQUEST");
    assert_eq!(tags["tags"], json!([]), "nothing was written");
}

#[tokio::test]
async fn introspection_can_be_switched_off() {
    let on = spawn_app().await;
    let off = spawn_app_with(|s| s.limits.introspection = false).await;
    let query = "{ __schema { queryType { name } } }";
    let via_fragment = "query { ...F } fragment F on Query { __type(name: \"Customer\") { name } }";

    let allowed = on.admin(query, json!({})).await;
    let refused = off.admin(query, json!({})).await;
    let refused_fragment = off.admin(via_fragment, json!({})).await;
    let typename = off
        .admin("{ __typename viewer { scope } }", json!({}))
        .await;

    assert_eq!(allowed["data"]["__schema"]["queryType"]["name"], "Query");
    assert_eq!(error_code(&refused), "FORBIDDEN");
    assert_eq!(error_code(&refused_fragment), "FORBIDDEN");
    assert_eq!(
        typename["data"]["__typename"], "Query",
        "__typename still works"
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_a_bad_request() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(error_code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn an_operation_seen_before_is_checked_again_on_every_request() {
    let app = spawn_app().await;
    let mutation = "mutation { createTag(name: \"once\") { tag { id } } }";
    let deep = "{ customers { edges { node { roles { name } } } } }";
    app.admin(mutation, json!({})).await;

    // The same text, now over GET: the parsed operation may come from the cache, the refusal
    // must not.
    let over_get: Value = app
        .client
        .get(format!("{}/graphql", app.address))
        .bearer_auth(&app.admin_key)
        .query(&[("query", mutation)])
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let storefront = app.create_key("STOREFRONT").await;
    let first = app.graphql(Some(&app.admin_key), deep, json!({})).await;
    let again = app.graphql(Some(&storefront), deep, json!({})).await;
    let tags = app.admin_data("{ tags { name } }", json!({})).await;

    assert_eq!(error_code(&over_get), "BAD_REQUEST");
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(
        error_code(&again),
        "FORBIDDEN",
        "scopes are checked on each request"
    );
    assert_eq!(tags["tags"], json!([{ "name": "once" }]));
}

#[tokio::test]
async fn graphiqls_introspection_goes_deeper_than_the_limit_but_nothing_else_does() {
    // Arrange: the default limit (12); an introspection query shaped like GraphiQL's, whose
    // type references nest seven levels below the fields' arguments.
    let app = spawn_app().await;
    let type_ref = "fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
    let introspection = format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} types {{ kind name fields(includeDeprecated: true) {{ name args {{ name type {{ ...TypeRef }} }} type {{ ...TypeRef }} }} }} }} }} {type_ref}"
    );
    // The same depth with a real field beside it.
    let mixed = format!(
        "query Mixed {{ customers {{ edges {{ cursor }} }} __schema {{ types {{ fields {{ args {{ type {{ ...TypeRef }} }} }} }} }} }} {type_ref}"
    );

    // Act
    let schema = app.admin(&introspection, json!({})).await;
    let refused = app.admin(&mixed, json!({})).await;

    // Assert
    assert!(schema.get("errors").is_none(), "{schema}");
    assert!(
        schema["data"]["__schema"]["types"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(error_code(&refused), "LIMIT_EXCEEDED");
}
