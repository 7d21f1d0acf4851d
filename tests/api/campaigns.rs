use crate::helpers::{TestApp, error_code, spawn_app, user_errors};
use serde_json::{Value, json};

const CREATE_TEMPLATE: &str = "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id channel } userErrors { field code message } } }";
const CREATE_CAMPAIGN: &str = "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id name status anchor steps reentry { kind days } sendWindow activatedAt } userErrors { field code message } } }";
const UPDATE_CAMPAIGN: &str = "mutation($id: ID!, $input: CampaignInput!) { updateCampaign(id: $id, input: $input) { campaign { id status activatedAt } userErrors { field code message } } }";

async fn create_template(app: &TestApp, input: Value) -> Value {
    app.admin_data(CREATE_TEMPLATE, json!({ "input": input }))
        .await["createTemplate"]
        .clone()
}

async fn email_template(app: &TestApp, name: &str) -> String {
    let payload = create_template(
        app,
        json!({ "name": name, "channel": "EMAIL", "subject": "Hello", "bodyHtml": "<p>Hi</p>" }),
    )
    .await;
    payload["template"]["id"].as_str().expect("id").to_owned()
}

async fn create_campaign(app: &TestApp, input: Value) -> Value {
    app.admin_data(CREATE_CAMPAIGN, json!({ "input": input }))
        .await["createCampaign"]
        .clone()
}

#[tokio::test]
async fn templates_are_checked_for_their_channel_and_name() {
    // Arrange
    let app = spawn_app().await;
    email_template(&app, "welcome").await;

    // Act
    let no_text = create_template(&app, json!({ "name": "sms", "channel": "SMS" })).await;
    let no_subject = create_template(
        &app,
        json!({ "name": "mail", "channel": "EMAIL", "bodyText": "hi" }),
    )
    .await;
    let taken = create_template(
        &app,
        json!({ "name": "welcome", "channel": "SMS", "bodyText": "Hi" }),
    )
    .await;
    let sms = create_template(
        &app,
        json!({ "name": "reminder", "channel": "SMS", "bodyText": "Your cart misses you" }),
    )
    .await;

    // Assert
    assert_eq!(
        user_errors(&no_text),
        vec![("input.bodyText".to_owned(), "BLANK".to_owned())]
    );
    assert_eq!(
        user_errors(&no_subject),
        vec![("input.subject".to_owned(), "BLANK".to_owned())]
    );
    assert_eq!(
        user_errors(&taken),
        vec![("input.name".to_owned(), "TAKEN".to_owned())]
    );
    assert_eq!(sms["template"]["channel"], "SMS");
}

#[tokio::test]
async fn a_campaign_with_waits_a_filter_and_messages_is_stored_as_given() {
    // Arrange: GrandNode's two-level cart reminder, with a different text for companies.
    let app = spawn_app().await;
    let persons = email_template(&app, "cart-persons").await;
    let companies = email_template(&app, "cart-companies").await;
    let reminded = app.create_tag("reminded").await;

    // Act
    let payload = create_campaign(
        &app,
        json!({
            "name": "Abandoned cart",
            "anchor": { "cartAbandoned": { "idleHours": 4 } },
            "steps": [
                { "id": "first", "message": { "channel": "EMAIL", "templateId": persons,
                    "effects": [{ "setTag": { "tagId": reminded, "value": "1" } }] } },
                { "id": "later", "wait": { "days": 2 } },
                { "id": "who", "filter": {
                    "condition": { "customerType": "COMPANY" },
                    "yes": [{ "id": "companies", "message": { "channel": "EMAIL", "templateId": companies } }],
                    "no": [{ "id": "persons", "message": { "channel": "EMAIL", "templateId": persons,
                        "audience": { "not": { "wholesale": true } } } }]
                } }
            ],
            "reentry": { "kind": "AT_MOST_EVERY_DAYS", "days": 30 },
            "sendWindow": { "startHour": 9, "endHour": 20, "weekdays": ["MONDAY", "FRIDAY"] }
        }),
    )
    .await;

    // Assert
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    let campaign = &payload["campaign"];
    assert_eq!(campaign["status"], "DRAFT");
    assert_eq!(campaign["activatedAt"], Value::Null);
    assert_eq!(
        campaign["anchor"],
        json!({ "cartAbandoned": { "idleHours": 4 } })
    );
    assert_eq!(
        campaign["steps"][1],
        json!({ "id": "later", "wait": { "duration": { "minutes": 2880 } } })
    );
    assert_eq!(
        campaign["steps"][2]["filter"]["yes"][0]["message"]["templateId"],
        companies.parse::<i64>().expect("number")
    );
    assert_eq!(
        campaign["reentry"],
        json!({ "kind": "AT_MOST_EVERY_DAYS", "days": 30 })
    );
    assert_eq!(
        campaign["sendWindow"]["weekdays"],
        json!(["monday", "friday"])
    );
}

#[tokio::test]
async fn unknown_templates_roles_impossible_offsets_and_empty_branches_are_user_errors() {
    // Arrange
    let app = spawn_app().await;
    let sms = create_template(
        &app,
        json!({ "name": "sms", "channel": "SMS", "bodyText": "Hi" }),
    )
    .await["template"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    // Act
    let payload = create_campaign(
        &app,
        json!({
            "name": "Broken",
            "anchor": { "orderPlaced": { "nth": 0 } },
            "audience": { "hasRole": ["999"] },
            "steps": [
                { "id": "before", "wait": { "until": { "offsetDays": -2, "hour": 9 } } },
                { "id": "mail", "message": { "channel": "EMAIL", "templateId": sms } },
                { "id": "ghost", "message": { "channel": "EMAIL", "templateId": "999" } },
                { "id": "empty", "filter": { "condition": { "wholesale": true } } },
                { "id": "two", "wait": { "days": 1 }, "effect": { "effects": [] } }
            ],
            "sendWindow": { "startHour": 20, "endHour": 9 }
        }),
    )
    .await;
    let list = app.admin_data("{ campaigns { id } }", json!({})).await;

    // Assert
    let mut errors = user_errors(&payload);
    errors.sort();
    assert_eq!(
        errors,
        vec![
            (
                "input.anchor.orderPlaced.nth".to_owned(),
                "OUT_OF_RANGE".to_owned()
            ),
            (
                "input.audience.hasRole.0".to_owned(),
                "NOT_FOUND".to_owned()
            ),
            (
                "input.sendWindow.endHour".to_owned(),
                "OUT_OF_RANGE".to_owned()
            ),
            (
                "input.steps.0.wait.until.offsetDays".to_owned(),
                "OUT_OF_RANGE".to_owned()
            ),
            (
                "input.steps.1.message.templateId".to_owned(),
                "NOT_FOUND".to_owned()
            ),
            (
                "input.steps.2.message.templateId".to_owned(),
                "NOT_FOUND".to_owned()
            ),
            ("input.steps.3.filter".to_owned(), "BLANK".to_owned()),
            ("input.steps.4".to_owned(), "INVALID".to_owned()),
        ],
        "{payload}"
    );
    assert_eq!(list["campaigns"], json!([]));
}

#[tokio::test]
async fn activating_stamps_the_campaign_and_an_archived_one_stays_archived() {
    // Arrange
    let app = spawn_app().await;
    let template = email_template(&app, "birthday").await;
    let created = create_campaign(
        &app,
        json!({
            "name": "Birthday",
            "anchor": { "birthday": true },
            "steps": [
                { "id": "morning", "wait": { "until": { "offsetDays": -1, "hour": 9 } } },
                { "id": "wish", "message": { "channel": "EMAIL", "templateId": template } }
            ]
        }),
    )
    .await;
    let id = created["campaign"]["id"].as_str().expect("id").to_owned();
    let update = |status: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            app.admin_data(
                UPDATE_CAMPAIGN,
                json!({ "id": id, "input": { "status": status } }),
            )
            .await["updateCampaign"]
                .clone()
        }
    };

    // Act
    let active = update("ACTIVE").await;
    let archived = update("ARCHIVED").await;
    let reopened = update("ACTIVE").await;
    let in_use = app
        .admin_data(
            "mutation($id: ID!) { deleteTemplate(id: $id) { deletedTemplateId userErrors { field code } } }",
            json!({ "id": template }),
        )
        .await;

    // Assert
    assert_eq!(created["userErrors"], json!([]), "{created}");
    assert_eq!(active["campaign"]["status"], "ACTIVE");
    assert!(active["campaign"]["activatedAt"].is_string());
    assert_eq!(archived["campaign"]["status"], "ARCHIVED");
    assert_eq!(
        user_errors(&reopened),
        vec![("input.status".to_owned(), "INVALID".to_owned())]
    );
    assert_eq!(
        user_errors(&in_use["deleteTemplate"]),
        vec![("id".to_owned(), "CONFLICT".to_owned())]
    );
}

#[tokio::test]
async fn only_admin_keys_write_campaigns_and_storefront_keys_cannot_read_them() {
    // Arrange
    let app = spawn_app().await;
    let storefront = app.create_key("STOREFRONT").await;
    let integrator = app.create_key("INTEGRATOR").await;

    // Act
    let read = app
        .graphql(Some(&storefront), "{ campaigns { id } }", json!({}))
        .await;
    let templates = app
        .graphql(Some(&integrator), "{ templates { id } }", json!({}))
        .await;
    let write = app
        .graphql(
            Some(&integrator),
            "mutation { deleteCampaign(id: \"1\") { deletedCampaignId } }",
            json!({}),
        )
        .await;
    let integrator_read = app
        .graphql(Some(&integrator), "{ campaigns { id } }", json!({}))
        .await;

    // Assert
    assert_eq!(error_code(&read), "FORBIDDEN");
    assert_eq!(error_code(&templates), "FORBIDDEN");
    assert_eq!(error_code(&write), "FORBIDDEN");
    assert_eq!(integrator_read["data"]["campaigns"], json!([]));
}
