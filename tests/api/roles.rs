use crate::helpers::{spawn_app, user_errors};
use serde_json::{Value, json};

const ROLE_FIELDS: &str = "id name systemName priority recommendedProducts { externalId }";

fn products(role: &Value) -> Vec<String> {
    role["recommendedProducts"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| p["externalId"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn roles_round_trip_with_recommended_products_in_order() {
    let app = spawn_app().await;
    app.create_products(&["p1", "p2", "p3"]).await;

    let created = app
        .admin_data(
            &format!("mutation {{ createRole(input: {{ name: \"Allergic to gluten\", systemName: \"gluten-free\", priority: 5, recommendedProducts: [\"p3\", \"p1\"] }}) {{ role {{ {ROLE_FIELDS} }} userErrors {{ message }} }} }}"),
            json!({}),
        )
        .await;
    let id = created["createRole"]["role"]["id"].clone();
    let updated = app
        .admin_data(
            &format!("mutation($id: ID!) {{ updateRole(id: $id, input: {{ name: \"Gluten-free\", recommendedProducts: [\"p2\", \"p3\", \"p2\"] }}) {{ role {{ {ROLE_FIELDS} }} }} }}"),
            json!({ "id": id }),
        )
        .await;
    let listed = app
        .admin_data(&format!("{{ roles {{ {ROLE_FIELDS} }} }}"), json!({}))
        .await;

    let role = &created["createRole"]["role"];
    assert_eq!(role["systemName"], "gluten-free");
    assert_eq!(role["priority"], 5);
    assert_eq!(products(role), ["p3", "p1"]);
    let role = &updated["updateRole"]["role"];
    assert_eq!(role["name"], "Gluten-free");
    assert_eq!(role["systemName"], "gluten-free", "omitted fields stay");
    assert_eq!(
        products(role),
        ["p2", "p3"],
        "duplicates are dropped, order kept"
    );
    assert_eq!(listed["roles"].as_array().expect("roles").len(), 1);
}

#[tokio::test]
async fn role_validation_reports_each_problem() {
    let app = spawn_app().await;
    app.admin_data(
        "mutation { createRole(input: { name: \"VIP\", systemName: \"vip\" }) { role { id } } }",
        json!({}),
    )
    .await;

    let data = app
        .admin_data(
            "mutation { taken: createRole(input: { name: \"VIP 2\", systemName: \"vip\" }) { role { id } userErrors { field code } } bad: createRole(input: { name: \"\", systemName: \"Not Valid!\", recommendedProducts: [\"ghost\"] }) { role { id } userErrors { field code } } missing: createRole(input: { priority: 1 }) { role { id } userErrors { field code } } }",
            json!({}),
        )
        .await;

    let pair = |f: &str, c: &str| (f.to_owned(), c.to_owned());
    assert_eq!(
        user_errors(&data["taken"]),
        vec![pair("input.systemName", "TAKEN")]
    );
    assert_eq!(
        user_errors(&data["bad"]),
        vec![
            pair("input.name", "BLANK"),
            pair("input.systemName", "INVALID"),
            pair("input.recommendedProducts.0", "NOT_FOUND")
        ]
    );
    assert_eq!(
        user_errors(&data["missing"]),
        vec![
            pair("input.name", "BLANK"),
            pair("input.systemName", "BLANK")
        ]
    );
    let roles = app.admin_data("{ roles { id } }", json!({})).await;
    assert_eq!(roles["roles"].as_array().expect("roles").len(), 1);
}

#[tokio::test]
async fn assigning_a_role_twice_changes_once_and_removal_reverses_it() {
    let app = spawn_app().await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let role = app
        .admin_data("mutation { createRole(input: { name: \"VIP\", systemName: \"vip\" }) { role { id } } }", json!({}))
        .await["createRole"]["role"]["id"]
        .clone();
    let assign = "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed userErrors { code } } }";
    let remove = "mutation($c: ID!, $r: ID!) { removeRole(customerId: $c, roleId: $r) { changed userErrors { code } } }";
    let vars = json!({ "c": customer, "r": role });

    let first = app.admin_data(assign, vars.clone()).await;
    let second = app.admin_data(assign, vars.clone()).await;
    let member = app
        .admin_data(
            "query($c: ID!) { customer(id: $c) { roles { systemName } } }",
            json!({ "c": customer }),
        )
        .await;
    let removed = app.admin_data(remove, vars.clone()).await;
    let removed_again = app.admin_data(remove, vars.clone()).await;
    let after = app
        .admin_data(
            "query($c: ID!) { customer(id: $c) { roles { systemName } } }",
            json!({ "c": customer }),
        )
        .await;

    assert_eq!(first["assignRole"]["changed"], true);
    assert_eq!(second["assignRole"]["changed"], false);
    assert_eq!(
        member["customer"]["roles"],
        json!([{ "systemName": "vip" }])
    );
    assert_eq!(removed["removeRole"]["changed"], true);
    assert_eq!(removed_again["removeRole"]["changed"], false);
    assert_eq!(after["customer"]["roles"], json!([]));
}

#[tokio::test]
async fn deleting_a_role_takes_it_from_its_members() {
    let app = spawn_app().await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let role = app
        .admin_data("mutation { createRole(input: { name: \"VIP\", systemName: \"vip\" }) { role { id } } }", json!({}))
        .await["createRole"]["role"]["id"]
        .clone();
    app.admin_data(
        "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
        json!({ "c": customer, "r": role }),
    )
    .await;

    let deleted = app
        .admin_data(
            "mutation($r: ID!) { deleteRole(id: $r) { deletedRoleId } }",
            json!({ "r": role }),
        )
        .await;
    let member = app
        .admin_data(
            "query($c: ID!) { customer(id: $c) { roles { id } } }",
            json!({ "c": customer }),
        )
        .await;

    assert_eq!(deleted["deleteRole"]["deletedRoleId"], role);
    assert_eq!(member["customer"]["roles"], json!([]));
}

#[tokio::test]
async fn a_page_of_customers_shows_each_ones_roles_by_priority() {
    let app = spawn_app().await;
    let role = app
        .admin_data("mutation { createRole(input: { name: \"VIP\", systemName: \"vip\", priority: 1 }) { role { id } } }", json!({}))
        .await["createRole"]["role"]["id"]
        .clone();
    let low = app
        .admin_data("mutation { createRole(input: { name: \"New\", systemName: \"new\", priority: 0 }) { role { id } } }", json!({}))
        .await["createRole"]["role"]["id"]
        .clone();
    for i in 0..10 {
        let c = app
            .create_customer(json!({ "externalId": format!("c{i}") }))
            .await;
        for r in [&low, &role] {
            app.admin_data(
                "mutation($c: ID!, $r: ID!) { assignRole(customerId: $c, roleId: $r) { changed } }",
                json!({ "c": c, "r": r }),
            )
            .await;
        }
    }

    let data = app
        .admin_data(
            "{ customers(first: 10) { edges { node { roles { systemName } tags { name } } } } }",
            json!({}),
        )
        .await;

    for edge in data["customers"]["edges"].as_array().expect("edges") {
        assert_eq!(
            edge["node"]["roles"],
            json!([{ "systemName": "vip" }, { "systemName": "new" }]),
            "each customer's roles, highest priority first"
        );
    }
}
