use crate::helpers::{ev, spawn_app, user_errors};
use serde_json::{Value, json};

#[tokio::test]
async fn adding_gluten_free_bread_to_the_cart_puts_the_customer_in_the_allergy_role() {
    // Arrange: GrandNode's case — a role with recommended products and an add-to-cart action.
    let app = spawn_app().await;
    let catalog = json!([
        { "externalId": "bread-gf", "name": "Gluten-free bread", "price": "4.50", "currency": "USD", "categoryIds": ["gluten-free"] },
        { "externalId": "pasta-gf", "name": "Gluten-free pasta", "price": "3.00", "currency": "USD", "categoryIds": ["gluten-free"] },
        { "externalId": "rolls", "name": "Wheat rolls", "price": "2.00", "currency": "USD", "categoryIds": ["bakery"] }
    ]);
    app.admin_data("mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }", json!({ "p": catalog })).await;
    let role = app
        .create_role(
            "Allergic to gluten",
            "gluten-free",
            &["pasta-gf", "bread-gf"],
        )
        .await;
    app.create_action(json!({
        "name": "Products for allergy sufferers",
        "trigger": "ADDED_TO_CART",
        "condition": { "items": { "attribute": "CATEGORY", "values": ["gluten-free"] } },
        "effects": [{ "assignRole": role }]
    }))
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let recommendations = "{ recommendations(customerExternalId: \"ann\") { externalId } }";
    let before = app
        .graphql(Some(&storefront), recommendations, json!({}))
        .await;

    // Act
    app.record(
        &storefront,
        json!([ev(
            "e1",
            "ann",
            "2026-11-20T10:00:00Z",
            json!({ "addedToCart": { "lines": [{ "productExternalId": "rolls", "quantity": 1 }] } })
        ),]),
    )
    .await;
    let no_match = app.processed("e1").await;
    app.record(&storefront, json!([
        ev("e2", "ann", "2026-11-20T10:01:00Z", json!({ "addedToCart": { "lines": [{ "productExternalId": "bread-gf", "quantity": 1 }] } })),
    ])).await;
    let matched = app.processed("e2").await;
    let after = app
        .graphql(Some(&storefront), recommendations, json!({}))
        .await;

    // Assert
    assert_eq!(before["data"]["recommendations"], json!([]));
    assert_eq!(no_match["actions"][0]["fired"], false);
    assert_eq!(no_match["actions"][0]["reason"], "condition");
    assert_eq!(matched["actions"][0]["fired"], true);
    assert_eq!(
        matched["actions"][0]["effects"][0],
        json!({ "effect": "assignRole", "result": "changed", "detail": null })
    );
    assert_eq!(
        after["data"]["recommendations"],
        json!([{ "externalId": "pasta-gf" }, { "externalId": "bread-gf" }]),
        "the role's products, in the role's order"
    );
}

#[tokio::test]
async fn arriving_from_an_ad_link_tags_the_customer_and_shows_a_coupon_banner_once() {
    let app = spawn_app().await;
    let tag = app.create_tag("source").await;
    app.create_action(json!({
        "name": "Facebook visitors",
        "trigger": "PAGE_VISITED",
        "condition": { "url": { "field": "REFERRER", "value": "facebook.com/ads/spring" } },
        "effects": [
            { "setTag": { "tagId": tag, "value": "facebook" } },
            { "showBanner": { "title": "Welcome, Facebook friend", "bodyHtml": "<p>10% off today</p>", "couponCode": "FB10", "durationHours": 48 } }
        ],
        "repeat": { "kind": "ONCE_PER_CUSTOMER" }
    }))
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let visit = |id: &str, referrer: &str| {
        ev(
            id,
            "bob",
            "2026-11-22T11:00:00Z",
            json!({ "pageVisited": { "url": "https://shop.example/spring", "referrer": referrer } }),
        )
    };

    app.record(
        &storefront,
        json!([
            visit("v1", "https://www.facebook.com/ads/spring?id=1"),
            visit("v2", "https://www.facebook.com/ads/spring?id=2"),
            visit("v3", "https://google.com/"),
        ]),
    )
    .await;
    let first = app.processed("v1").await;
    let second = app.processed("v2").await;
    let banners = app
        .graphql(
            Some(&storefront),
            "{ banners(customerExternalId: \"bob\") { id title couponCode endsAt } }",
            json!({}),
        )
        .await["data"]["banners"]
        .clone();
    let tags = app
        .admin_data(
            "{ customer(externalId: \"bob\") { tags { name value } } }",
            json!({}),
        )
        .await;

    assert_eq!(first["actions"][0]["fired"], true);
    assert_eq!(second["actions"][0]["reason"], "repeatPolicy");
    assert_eq!(banners.as_array().unwrap().len(), 1, "{banners}");
    assert_eq!(banners[0]["couponCode"], "FB10");
    assert_eq!(
        banners[0]["endsAt"], "2026-11-24T12:00:00+00:00",
        "48 hours from when it was shown"
    );
    assert_eq!(
        tags["customer"]["tags"],
        json!([{ "name": "source", "value": "facebook" }])
    );

    // A dismissed banner is gone; another customer cannot dismiss it.
    let banner_id = banners[0]["id"].clone();
    let dismiss = "mutation($c: String!, $b: ID!) { dismissBanner(customerExternalId: $c, bannerId: $b) { banner { dismissedAt } } }";
    let by_other = app
        .graphql(
            Some(&storefront),
            dismiss,
            json!({ "c": "eve", "b": banner_id }),
        )
        .await;
    let dismissed = app
        .graphql(
            Some(&storefront),
            dismiss,
            json!({ "c": "bob", "b": banner_id }),
        )
        .await;
    let after = app
        .graphql(
            Some(&storefront),
            "{ banners(customerExternalId: \"bob\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&by_other), "NOT_FOUND");
    assert!(!dismissed["data"]["dismissBanner"]["banner"]["dismissedAt"].is_null());
    assert_eq!(after["data"]["banners"], json!([]));
}

#[tokio::test]
async fn registration_assigns_a_role_and_queues_a_welcome_email() {
    let app = spawn_app().await;
    let role = app.create_role("New customers", "new", &[]).await;
    app.create_action(json!({
        "name": "Welcome",
        "trigger": "REGISTERED",
        "effects": [
            { "assignRole": role },
            { "sendEmail": { "subject": "Welcome!", "bodyHtml": "<p>Hello</p>" } },
            { "sendSms": { "body": "Welcome" } },
            { "notifyStaff": { "subject": "New customer", "bodyText": "Someone registered" } }
        ]
    }))
    .await;
    let storefront = app.create_key("STOREFRONT").await;

    app.record(
        &storefront,
        json!([ev(
            "r1",
            "cara",
            "2026-11-22T09:00:00Z",
            json!({ "registered": { "email": "cara@example.com" } })
        )]),
    )
    .await;
    let outcome = app.processed("r1").await;
    let roles = app
        .admin_data(
            "{ customer(externalId: \"cara\") { roles { systemName } } }",
            json!({}),
        )
        .await;

    let results: Vec<&str> = outcome["actions"][0]["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        ["changed", "queued", "skipped", "skipped"],
        "no phone for the SMS, no staff address configured"
    );
    assert_eq!(roles["customer"]["roles"], json!([{ "systemName": "new" }]));
}

#[tokio::test]
async fn the_nth_order_condition_matches_only_that_order() {
    let app = spawn_app().await;
    app.create_products(&["p1"]).await;
    let tag = app.create_tag("second-order").await;
    app.create_action(json!({
        "name": "Second order thanks",
        "trigger": "ORDER_PLACED",
        "condition": { "nthOrder": 2 },
        "effects": [{ "setTag": { "tagId": tag } }],
        "repeat": { "kind": "EVERY_TIME" }
    }))
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let order = |id: &str, at: &str| {
        ev(
            id,
            "dan",
            at,
            json!({ "orderPlaced": { "orderExternalId": id, "total": "10.00", "currency": "USD", "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] } }),
        )
    };

    app.record(
        &storefront,
        json!([
            order("o1", "2026-11-01T10:00:00Z"),
            order("o2", "2026-11-05T10:00:00Z"),
            order("o3", "2026-11-09T10:00:00Z")
        ]),
    )
    .await;
    let fired: Vec<Value> = [
        app.processed("o1").await,
        app.processed("o2").await,
        app.processed("o3").await,
    ]
    .iter()
    .map(|o| o["actions"][0]["fired"].clone())
    .collect();

    assert_eq!(fired, [json!(false), json!(true), json!(false)]);
}

#[tokio::test]
async fn each_repeat_policy_limits_firings_as_it_says() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (name, repeat) in [
        ("every", json!({ "kind": "EVERY_TIME" })),
        ("once", json!({ "kind": "ONCE_PER_CUSTOMER" })),
        ("weekly", json!({ "kind": "AT_MOST_EVERY_DAYS", "days": 7 })),
    ] {
        let tag = app.create_tag(name).await;
        ids.push(app.create_action(json!({ "name": name, "trigger": "LOGGED_IN", "effects": [{ "setTag": { "tagId": tag } }], "repeat": repeat })).await);
    }
    let storefront = app.create_key("STOREFRONT").await;
    let logins: Vec<Value> = [
        "2026-11-01T10:00:00Z",
        "2026-11-04T10:00:00Z",
        "2026-11-09T10:00:00Z",
    ]
    .iter()
    .enumerate()
    .map(|(i, at)| ev(&format!("l{i}"), "erin", at, json!({ "loggedIn": true })))
    .collect();

    app.record(&storefront, json!(logins)).await;
    app.processed("l2").await;
    let mut counts = Vec::new();
    for id in &ids {
        let data = app
            .admin_data(
                "query($a: ID!) { actionFirings(actionId: $a) { firedAt } }",
                json!({ "a": id }),
            )
            .await;
        counts.push(data["actionFirings"].as_array().unwrap().len());
    }

    assert_eq!(
        counts,
        [3, 1, 2],
        "every time; once; days 0 and 8 but not day 3"
    );
}

#[tokio::test]
async fn actions_outside_their_window_or_switched_off_do_not_fire() {
    let app = spawn_app().await;
    let tag = app.create_tag("t").await;
    let windowed = app
        .create_action(json!({ "name": "window", "trigger": "LOGGED_IN", "activeFrom": "2026-11-10T00:00:00Z", "activeTo": "2026-11-20T00:00:00Z", "effects": [{ "setTag": { "tagId": tag } }], "repeat": { "kind": "EVERY_TIME" } }))
        .await;
    let off = app
        .create_action(json!({ "name": "off", "active": false, "trigger": "LOGGED_IN", "effects": [{ "setTag": { "tagId": tag } }] }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    app.record(
        &storefront,
        json!([
            ev(
                "w1",
                "fay",
                "2026-11-05T10:00:00Z",
                json!({ "loggedIn": true })
            ),
            ev(
                "w2",
                "fay",
                "2026-11-15T10:00:00Z",
                json!({ "loggedIn": true })
            ),
            ev(
                "w3",
                "fay",
                "2026-11-25T10:00:00Z",
                json!({ "loggedIn": true })
            ),
        ]),
    )
    .await;
    app.processed("w3").await;
    let windowed_firings = app
        .admin_data(
            "query($a: ID!) { actionFirings(actionId: $a) { firedAt } }",
            json!({ "a": windowed }),
        )
        .await;
    let off_firings = app
        .admin_data(
            "query($a: ID!) { actionFirings(actionId: $a) { firedAt } }",
            json!({ "a": off }),
        )
        .await;

    assert_eq!(
        windowed_firings["actionFirings"],
        json!([{ "firedAt": "2026-11-15T10:00:00+00:00" }])
    );
    assert_eq!(off_firings["actionFirings"], json!([]));
}

#[tokio::test]
async fn a_broken_rule_marks_its_event_failed_without_failing_ingest_or_other_events() {
    let app = spawn_app().await;
    let role = app.create_role("Doomed", "doomed", &[]).await;
    app.create_action(json!({ "name": "broken", "trigger": "LOGGED_IN", "effects": [{ "assignRole": role }], "repeat": { "kind": "EVERY_TIME" } })).await;
    // The role goes away after the action was saved: assigning it now fails.
    app.admin_data(
        "mutation($r: ID!) { deleteRole(id: $r) { deletedRoleId } }",
        json!({ "r": role }),
    )
    .await;
    let tag = app.create_tag("fine").await;
    app.create_action(json!({ "name": "fine", "trigger": "PAGE_VISITED", "effects": [{ "setTag": { "tagId": tag } }] })).await;
    let storefront = app.create_key("STOREFRONT").await;

    let accepted = app
        .record(
            &storefront,
            json!([
                ev(
                    "b1",
                    "gus",
                    "2026-11-22T10:00:00Z",
                    json!({ "loggedIn": true })
                ),
                ev(
                    "b2",
                    "gus",
                    "2026-11-22T10:01:00Z",
                    json!({ "pageVisited": { "url": "https://shop.example/" } })
                ),
            ]),
        )
        .await;
    let broken = app.processed("b1").await;
    let fine = app.processed("b2").await;

    assert_eq!(accepted["results"].as_array().unwrap().len(), 2);
    assert!(broken["error"].is_string(), "{broken}");
    assert_eq!(fine["actions"][0]["fired"], true);
}

#[tokio::test]
async fn action_validation_names_each_bad_field() {
    let app = spawn_app().await;
    let mutation = "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { action { id } userErrors { field code } } }";
    let pair = |f: &str, c: &str| (f.to_owned(), c.to_owned());

    let missing = app
        .admin_data(mutation, json!({ "input": { "active": true } }))
        .await;
    let bad = app
        .admin_data(
            mutation,
            json!({ "input": {
                "name": "x", "trigger": "LOGGED_IN",
                "activeFrom": "2026-12-01T00:00:00Z", "activeTo": "2026-11-01T00:00:00Z",
                "condition": { "all": [{ "hasRole": ["999"] }, { "items": { "attribute": "PRODUCT", "values": [] } }] },
                "effects": [{ "assignRole": "998" }, { "sendSms": { "body": "" } }],
                "repeat": { "kind": "AT_MOST_EVERY_DAYS" }
            } }),
        )
        .await;
    let bad_amount = app
        .admin_data(
            mutation,
            json!({ "input": { "name": "x", "trigger": "ORDER_PLACED", "condition": { "orderTotal": { "min": "1.234" } }, "effects": [{ "sendSms": { "body": "hi" } }] } }),
        )
        .await;

    assert_eq!(
        user_errors(&missing["createCustomerAction"]),
        vec![
            pair("input.name", "BLANK"),
            pair("input.trigger", "BLANK"),
            pair("input.effects", "BLANK")
        ]
    );
    assert_eq!(
        user_errors(&bad["createCustomerAction"]),
        vec![pair("input.repeat.days", "BLANK")]
    );
    let fixed = app
        .admin_data(
            mutation,
            json!({ "input": {
                "name": "x", "trigger": "LOGGED_IN",
                "activeFrom": "2026-12-01T00:00:00Z", "activeTo": "2026-11-01T00:00:00Z",
                "condition": { "all": [{ "hasRole": ["999"] }, { "items": { "attribute": "PRODUCT", "values": [] } }] },
                "effects": [{ "assignRole": "998" }, { "sendSms": { "body": "" } }]
            } }),
        )
        .await;
    assert_eq!(
        user_errors(&fixed["createCustomerAction"]),
        vec![
            pair("input.activeTo", "OUT_OF_RANGE"),
            pair("input.condition.all.1.items", "INVALID"),
            pair("input.effects.1.sendSms.body", "BLANK"),
            pair("input.condition.all.0.hasRole.0", "NOT_FOUND"),
            pair("input.effects.0.assignRole", "NOT_FOUND"),
        ]
    );
    assert_eq!(
        user_errors(&bad_amount["createCustomerAction"]),
        vec![pair("input.condition.orderTotal.min", "INVALID")]
    );
    let listed = app
        .admin_data("{ customerActions { id } }", json!({}))
        .await;
    assert_eq!(listed["customerActions"], json!([]), "nothing was saved");
}

#[tokio::test]
async fn an_action_whose_stored_definition_no_longer_decodes_is_switched_off_with_its_reason() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;
    let tag = app.create_tag("seen").await;
    let action = app
        .create_action(json!({
            "name": "Tag on login",
            "trigger": "LOGGED_IN",
            "effects": [{ "setTag": { "tagId": tag } }],
            "repeat": { "kind": "EVERY_TIME" }
        }))
        .await;
    // A row changed behind Nudge's back (a bad restore, a hand edit).
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("connected");
    db.execute_unprepared(&format!(
        "UPDATE customer_actions SET effects = '[{{\"launchRocket\": 1}}]' WHERE id = {action}"
    ))
    .await
    .expect("corrupted");

    app.record(
        &storefront,
        json!([ev(
            "e-1",
            "ann",
            "2026-11-22T12:00:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed("e-1").await;
    let read = app
        .admin_data(
            "query($id: ID!) { customerAction(id: $id) { active brokenReason } customers(first: 1) { edges { node { tags { name } } } } }",
            json!({ "id": action }),
        )
        .await;
    let stored = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT active, broken_reason FROM customer_actions WHERE id = {action}"),
        ))
        .await
        .expect("read")
        .expect("row");

    assert_eq!(read["customerAction"]["active"], false, "{read}");
    assert!(
        read["customerAction"]["brokenReason"]
            .as_str()
            .is_some_and(|r| r.contains("effects")),
        "{read}"
    );
    assert_eq!(read["customers"]["edges"][0]["node"]["tags"], json!([]));
    assert!(!stored.try_get::<bool>("", "active").expect("active"));
    assert!(
        stored
            .try_get::<Option<String>>("", "broken_reason")
            .expect("reason")
            .is_some()
    );
}

#[tokio::test]
async fn a_user_error_deep_inside_a_condition_names_its_full_path() {
    let app = spawn_app().await;

    let data = app
        .admin_data(
            "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { action { id } userErrors { field code } } }",
            json!({ "input": {
                "name": "x", "trigger": "LOGGED_IN",
                "condition": { "all": [{ "not": { "hasRole": [] } }] },
                "effects": [{ "assignRole": "1" }]
            } }),
        )
        .await;

    let errors = &data["createCustomerAction"]["userErrors"];
    assert!(
        errors.as_array().expect("errors").iter().any(|e| e["field"]
            == json!(["input", "condition", "all", "0", "not", "hasRole"])
            && e["code"] == "INVALID"),
        "{errors}"
    );
}

#[tokio::test]
async fn birthday_months_time_zones_and_consent_are_conditions_and_bad_ones_are_user_errors() {
    // Arrange
    let app = spawn_app().await;
    let tag = app.create_tag("seen").await;
    let create = |condition: serde_json::Value| {
        let (app, tag) = (&app, tag.clone());
        async move {
            app.admin_data(
                "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { action { condition } userErrors { field code message } } }",
                json!({ "input": { "name": "x", "trigger": "LOGGED_IN", "condition": condition,
                    "effects": [{ "setTag": { "tagId": tag } }] } }),
            )
            .await["createCustomerAction"]
                .clone()
        }
    };

    // Act
    let bad =
        create(json!({ "all": [{ "birthdayMonth": [13] }, { "timeZone": ["Mars/Base"] }] })).await;
    let good = create(json!({ "any": [{ "birthdayMonth": [12, 1] }, { "consent": "SMS" }, { "timeZone": ["Europe/Warsaw"] }] })).await;

    // Assert
    let fields: Vec<&serde_json::Value> = bad["userErrors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| &e["field"])
        .collect();
    assert!(
        fields.contains(&&json!(["input", "condition", "all", "0", "birthdayMonth"])),
        "{bad}"
    );
    assert!(
        fields.contains(&&json!(["input", "condition", "all", "1", "timeZone"])),
        "{bad}"
    );
    assert_eq!(
        good["action"]["condition"],
        json!({ "any": [{ "birthdayMonth": { "months": [12, 1] } }, { "consent": { "channel": "sms" } },
            { "timeZone": { "zones": ["Europe/Warsaw"] } }] }),
        "{good}"
    );
}
