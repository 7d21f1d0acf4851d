use crate::helpers::{spawn_app, user_errors};
use serde_json::json;

#[tokio::test]
async fn tags_round_trip_and_names_are_unique() {
    let app = spawn_app().await;

    let created = app
        .admin_data(
            "mutation { createTag(name: \" vip \") { tag { id name } userErrors { code } } }",
            json!({}),
        )
        .await;
    let id = created["createTag"]["tag"]["id"].clone();
    let duplicate = app
        .admin_data(
            "mutation { createTag(name: \"vip\") { tag { id } userErrors { field code } } }",
            json!({}),
        )
        .await;
    let blank = app
        .admin_data(
            "mutation { createTag(name: \"  \") { tag { id } userErrors { field code } } }",
            json!({}),
        )
        .await;
    let renamed = app
        .admin_data(
            "mutation($id: ID!) { renameTag(id: $id, name: \"very-important\") { tag { name } } }",
            json!({ "id": id }),
        )
        .await;
    let listed = app.admin_data("{ tags { name } }", json!({})).await;

    assert_eq!(
        created["createTag"]["tag"]["name"], "vip",
        "names are trimmed"
    );
    assert_eq!(
        user_errors(&duplicate["createTag"]),
        vec![("name".to_owned(), "TAKEN".to_owned())]
    );
    assert_eq!(
        user_errors(&blank["createTag"]),
        vec![("name".to_owned(), "BLANK".to_owned())]
    );
    assert_eq!(renamed["renameTag"]["tag"]["name"], "very-important");
    assert_eq!(listed["tags"], json!([{ "name": "very-important" }]));
}

#[tokio::test]
async fn setting_a_tag_value_changes_only_when_the_value_differs() {
    let app = spawn_app().await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let tag = app
        .admin_data(
            "mutation { createTag(name: \"vip\") { tag { id } } }",
            json!({}),
        )
        .await["createTag"]["tag"]["id"]
        .clone();
    let set = "mutation($c: ID!, $t: ID!, $v: String) { setCustomerTag(customerId: $c, tagId: $t, value: $v) { changed userErrors { code } } }";
    let tags = "query($c: ID!) { customer(id: $c) { tags { name value tag { id } } } }";

    let first = app
        .admin_data(set, json!({ "c": customer, "t": tag, "v": "reviewed" }))
        .await;
    let same = app
        .admin_data(set, json!({ "c": customer, "t": tag, "v": "reviewed" }))
        .await;
    let other = app
        .admin_data(set, json!({ "c": customer, "t": tag, "v": "gold" }))
        .await;
    let read = app.admin_data(tags, json!({ "c": customer })).await;
    let removed = app
        .admin_data(
            "mutation($c: ID!, $t: ID!) { removeCustomerTag(customerId: $c, tagId: $t) { changed } }",
            json!({ "c": customer, "t": tag }),
        )
        .await;
    let after = app.admin_data(tags, json!({ "c": customer })).await;

    assert_eq!(first["setCustomerTag"]["changed"], true);
    assert_eq!(same["setCustomerTag"]["changed"], false);
    assert_eq!(other["setCustomerTag"]["changed"], true);
    assert_eq!(
        read["customer"]["tags"],
        json!([{ "name": "vip", "value": "gold", "tag": { "id": tag } }])
    );
    assert_eq!(removed["removeCustomerTag"]["changed"], true);
    assert_eq!(after["customer"]["tags"], json!([]));
}

#[tokio::test]
async fn deleting_a_tag_takes_it_off_every_customer() {
    let app = spawn_app().await;
    let customer = app.create_customer(json!({ "externalId": "c1" })).await;
    let tag = app
        .admin_data(
            "mutation { createTag(name: \"vip\") { tag { id } } }",
            json!({}),
        )
        .await["createTag"]["tag"]["id"]
        .clone();
    app.admin_data(
        "mutation($c: ID!, $t: ID!) { setCustomerTag(customerId: $c, tagId: $t) { changed } }",
        json!({ "c": customer, "t": tag }),
    )
    .await;

    let deleted = app
        .admin_data(
            "mutation($t: ID!) { deleteTag(id: $t) { deletedTagId } }",
            json!({ "t": tag }),
        )
        .await;
    let read = app
        .admin_data(
            "query($c: ID!) { customer(id: $c) { tags { name } } }",
            json!({ "c": customer }),
        )
        .await;
    let again = app
        .admin(
            "mutation($t: ID!) { deleteTag(id: $t) { deletedTagId } }",
            json!({ "t": tag }),
        )
        .await;

    assert_eq!(deleted["deleteTag"]["deletedTagId"], tag);
    assert_eq!(read["customer"]["tags"], json!([]));
    assert_eq!(crate::helpers::error_code(&again), "NOT_FOUND");
}
