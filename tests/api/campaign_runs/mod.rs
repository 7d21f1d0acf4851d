//! The campaign engine driven through `runCampaignTick` at chosen instants.

mod entry;
mod failures;
mod orders;
mod timed;

use crate::helpers::{TestApp, error_code, ev, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const RUNS: &str = "query($c: ID) { campaignRuns(campaignId: $c) { id customerId subject status stepId endReason log { stepId outcome detail deliveryId } } }";

async fn template(app: &TestApp, name: &str, channel: &str) -> String {
    let input = if channel == "SMS" {
        json!({ "name": name, "channel": "SMS", "bodyText": "Hi" })
    } else {
        json!({ "name": name, "channel": "EMAIL", "subject": name, "bodyHtml": "<p>Hi</p>" })
    };
    let data = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } userErrors { message } } }",
            json!({ "input": input }),
        )
        .await;
    data["createTemplate"]["template"]["id"]
        .as_str()
        .expect("template id")
        .to_owned()
}

pub(crate) async fn active_campaign(app: &TestApp, mut input: Value) -> String {
    input["status"] = json!("ACTIVE");
    input["name"] = json!("campaign");
    let data = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { field code message } } }",
            json!({ "input": input }),
        )
        .await;
    let payload = &data["createCampaign"];
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    payload["campaign"]["id"].as_str().expect("id").to_owned()
}

pub(crate) async fn tick(app: &TestApp, at: &str) -> Value {
    app.admin_data(
        "mutation($at: DateTime) { runCampaignTick(at: $at) { enrolled advanced } }",
        json!({ "at": at }),
    )
    .await["runCampaignTick"]
        .clone()
}

/// The campaign's runs, by customer id.
pub(crate) async fn runs(app: &TestApp, campaign: &str) -> Vec<Value> {
    let data = app.admin_data(RUNS, json!({ "c": campaign })).await;
    let mut list = data["campaignRuns"].as_array().expect("runs").clone();
    list.sort_by_key(|r| r["customerId"].as_str().map(str::to_owned));
    list
}

fn outcomes(run: &Value) -> Vec<String> {
    run["log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|l| l["outcome"].as_str().expect("outcome").to_owned())
        .collect()
}

fn queued(run: &Value) -> Vec<String> {
    run["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter(|l| l["outcome"] == "queued")
        .map(|l| l["stepId"].as_str().expect("step").to_owned())
        .collect()
}

async fn customer(app: &TestApp, input: Value) -> String {
    app.create_customer(input).await
}

pub(crate) fn order(id: &str, at: &str, extra: Value) -> Value {
    let mut placed = json!({ "orderExternalId": id, "total": "10.00", "currency": "USD",
        "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] });
    if let (Some(placed), Some(extra)) = (placed.as_object_mut(), extra.as_object()) {
        placed.extend(extra.clone());
    }
    ev(
        &format!("place-{id}"),
        "olga",
        at,
        json!({ "orderPlaced": placed }),
    )
}

fn status(id: &str, event: &str, at: &str, status: &str, planned: Option<&str>) -> Value {
    let mut change = json!({ "orderExternalId": id, "status": status });
    if let Some(planned) = planned {
        change["plannedDeliveryAt"] = json!(planned);
    }
    ev(event, "olga", at, json!({ "orderStatusChanged": change }))
}

/// An app with product `p1`, customer `olga` (with an email) and a storefront key.
async fn shop() -> (TestApp, String) {
    shop_with(|_| {}).await
}

/// [`shop`] with its settings adjusted by `configure`.
pub(crate) async fn shop_with(
    configure: impl FnOnce(&mut nudge::config::Settings),
) -> (TestApp, String) {
    let app = spawn_app_with(configure).await;
    app.create_products(&["p1"]).await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "reg",
            "olga",
            "2026-11-01T10:00:00Z",
            json!({ "registered": { "email": "olga@example.com" } })
        )]),
    )
    .await;
    (app, storefront)
}

async fn one_message_campaign(app: &TestApp, anchor: Value, extra: Value) -> String {
    let mail = template(app, &format!("mail-{}", uuid::Uuid::new_v4()), "EMAIL").await;
    let mut input = json!({
        "anchor": anchor,
        "steps": [{ "id": "mail", "message": { "channel": "EMAIL", "templateId": mail } }]
    });
    if let (Some(input), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        input.extend(extra.clone());
    }
    active_campaign(app, input).await
}
