use crate::helpers::{error_code, spawn_app};
use serde_json::{Value, json};

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $filter: CustomerFilterInput) { customers(first: $first, after: $after, last: $last, before: $before, filter: $filter) { edges { cursor node { externalId } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

fn ids(data: &Value) -> Vec<String> {
    data["customers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["externalId"].as_str().expect("id").to_owned())
        .collect()
}

async fn app_with_customers(n: usize) -> crate::helpers::TestApp {
    let app = spawn_app().await;
    for i in 1..=n {
        app.create_customer(
            json!({ "externalId": format!("c{i}"), "email": format!("c{i}@example.com") }),
        )
        .await;
    }
    app
}

#[tokio::test]
async fn paging_forward_visits_every_customer_once_and_stops() {
    let app = app_with_customers(5).await;

    let first = app.admin_data(PAGE, json!({ "first": 2 })).await;
    let after = first["customers"]["pageInfo"]["endCursor"].clone();
    let second = app
        .admin_data(PAGE, json!({ "first": 2, "after": after }))
        .await;
    let after = second["customers"]["pageInfo"]["endCursor"].clone();
    let third = app
        .admin_data(PAGE, json!({ "first": 2, "after": after }))
        .await;

    assert_eq!(ids(&first), ["c1", "c2"]);
    assert_eq!(first["customers"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["customers"]["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(ids(&second), ["c3", "c4"]);
    assert_eq!(second["customers"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(ids(&third), ["c5"]);
    assert_eq!(third["customers"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(third["customers"]["pageInfo"]["hasPreviousPage"], true);
}

#[tokio::test]
async fn paging_backward_from_the_end_and_before_a_cursor() {
    let app = app_with_customers(5).await;

    let last = app.admin_data(PAGE, json!({ "last": 2 })).await;
    let before = last["customers"]["pageInfo"]["startCursor"].clone();
    let previous = app
        .admin_data(PAGE, json!({ "last": 2, "before": before }))
        .await;
    let before = previous["customers"]["pageInfo"]["startCursor"].clone();
    let start = app
        .admin_data(PAGE, json!({ "last": 2, "before": before }))
        .await;

    assert_eq!(ids(&last), ["c4", "c5"]);
    assert_eq!(last["customers"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(last["customers"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(ids(&previous), ["c2", "c3"]);
    assert_eq!(previous["customers"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(ids(&start), ["c1"]);
    assert_eq!(start["customers"]["pageInfo"]["hasPreviousPage"], false);
}

#[tokio::test]
async fn page_edges_an_empty_list_a_zero_page_and_an_exact_fit() {
    let empty = spawn_app().await;
    let none = empty.admin_data(PAGE, json!({ "first": 10 })).await;
    assert_eq!(ids(&none), Vec::<String>::new());
    assert_eq!(none["customers"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(none["customers"]["pageInfo"]["endCursor"], Value::Null);

    let app = app_with_customers(3).await;
    let zero = app.admin_data(PAGE, json!({ "first": 0 })).await;
    assert_eq!(ids(&zero), Vec::<String>::new());
    assert_eq!(zero["customers"]["pageInfo"]["hasNextPage"], true);
    let exact = app.admin_data(PAGE, json!({ "first": 3 })).await;
    assert_eq!(ids(&exact).len(), 3);
    assert_eq!(exact["customers"]["pageInfo"]["hasNextPage"], false);
    let default = app.admin_data(PAGE, json!({})).await;
    assert_eq!(
        ids(&default).len(),
        3,
        "without first/last a page of 20 is served"
    );
}

#[tokio::test]
async fn page_arguments_out_of_bounds_are_refused_with_a_code() {
    let app = spawn_app().await;

    let too_many = app.admin(PAGE, json!({ "first": 101 })).await;
    let too_many_last = app.admin(PAGE, json!({ "last": 500 })).await;
    let both = app.admin(PAGE, json!({ "first": 1, "last": 1 })).await;
    let negative = app.admin(PAGE, json!({ "first": -1 })).await;
    let bad_cursor = app
        .admin(PAGE, json!({ "first": 1, "after": "not-a-cursor" }))
        .await;

    assert_eq!(error_code(&too_many), "LIMIT_EXCEEDED");
    assert_eq!(error_code(&too_many_last), "LIMIT_EXCEEDED");
    assert_eq!(error_code(&both), "BAD_REQUEST");
    assert_eq!(error_code(&negative), "BAD_REQUEST");
    assert_eq!(error_code(&bad_cursor), "BAD_REQUEST");
}

#[tokio::test]
async fn filters_by_email_role_tag_and_text_combine() {
    // Arrange
    let app = app_with_customers(4).await;
    app.admin_data(
        "mutation { updateCustomer(id: \"2\", input: { firstName: \"Zoë\", lastName: \"O'Brien\" }) { customer { id } } }",
        json!({}),
    )
    .await;
    let role = app
        .admin_data("mutation { createRole(input: { name: \"VIP\", systemName: \"vip\" }) { role { id } } }", json!({}))
        .await["createRole"]["role"]["id"]
        .clone();
    let tag = app
        .admin_data(
            "mutation { createTag(name: \"source\") { tag { id } } }",
            json!({}),
        )
        .await["createTag"]["tag"]["id"]
        .clone();
    for customer in ["1", "3"] {
        app.admin_data(
            "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
            json!({ "c": customer, "r": role }),
        )
        .await;
    }
    for (customer, value) in [("3", "ads"), ("4", "newsletter")] {
        app.admin_data(
            "mutation($c: ID!, $t: ID!, $v: String) { setCustomerTag(customerId: $c, tagId: $t, value: $v) { changed } }",
            json!({ "c": customer, "t": tag, "v": value }),
        )
        .await;
    }

    // Act
    let by_email = app
        .admin_data(PAGE, json!({ "filter": { "email": "C2@EXAMPLE.COM" } }))
        .await;
    let by_role = app
        .admin_data(PAGE, json!({ "filter": { "roleId": role } }))
        .await;
    let by_tag = app
        .admin_data(PAGE, json!({ "filter": { "tag": "source" } }))
        .await;
    let by_tag_value = app
        .admin_data(
            PAGE,
            json!({ "filter": { "tag": "source", "tagValue": "ads" } }),
        )
        .await;
    let by_text = app
        .admin_data(PAGE, json!({ "filter": { "text": "o'bri" } }))
        .await;
    let by_like_chars = app
        .admin_data(PAGE, json!({ "filter": { "text": "%" } }))
        .await;
    let combined = app
        .admin_data(
            PAGE,
            json!({ "filter": { "roleId": role, "tag": "source" } }),
        )
        .await;

    // Assert
    assert_eq!(ids(&by_email), ["c2"]);
    assert_eq!(ids(&by_role), ["c1", "c3"]);
    assert_eq!(ids(&by_tag), ["c3", "c4"]);
    assert_eq!(ids(&by_tag_value), ["c3"]);
    assert_eq!(ids(&by_text), ["c2"]);
    assert_eq!(
        ids(&by_like_chars),
        Vec::<String>::new(),
        "% is matched literally"
    );
    assert_eq!(ids(&combined), ["c3"]);
}
