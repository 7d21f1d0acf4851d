//! What automation tells endpoints: the `callWebhook` effect of customer actions and campaign
//! steps, message outcomes, and converted campaign runs.

use super::*;
use crate::campaign_runs::{active_campaign, order, runs, shop_with, tick};
use crate::helpers::{ev, user_errors};
use crate::smtp_sink::SmtpSink;

#[tokio::test]
async fn a_customer_actions_call_webhook_posts_the_customer_the_trigger_and_the_payload() {
    // Arrange: the endpoint subscribes to role events only; a call goes to it anyway.
    let receiver = Receiver::start().await;
    let app = spawn_local().await;
    let (endpoint_id, secret) = create_endpoint(
        &app,
        json!({ "url": receiver.url("/crm"), "eventTypes": ["ROLE_ASSIGNED"] }),
    )
    .await;
    app.create_customer(json!({ "externalId": "ann" })).await;
    let create = "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { action { id } userErrors { field code } } }";
    let refused = app
        .admin_data(
            create,
            json!({ "input": { "name": "Call", "trigger": "LOGGED_IN",
                "effects": [{ "callWebhook": { "endpointId": "999" } }] } }),
        )
        .await;
    assert_eq!(
        user_errors(&refused["createCustomerAction"]),
        vec![(
            "input.effects.0.callWebhook.endpointId".to_owned(),
            "NOT_FOUND".to_owned()
        )]
    );
    let action = app
        .create_action(json!({
            "name": "Tell the operator",
            "trigger": "LOGGED_IN",
            "effects": [{ "callWebhook": { "endpointId": endpoint_id, "payload": { "task": "call", "priority": 2 } } }],
            "repeat": { "kind": "EVERY_TIME" }
        }))
        .await;
    let storefront = app.create_key("STOREFRONT").await;

    // Act
    app.record(
        &storefront,
        json!([ev(
            "in-1",
            "ann",
            "2026-11-22T11:59:00Z",
            json!({ "loggedIn": true })
        )]),
    )
    .await;
    app.processed("in-1").await;

    // Assert
    let call = receiver.wait_for(1).await.remove(0);
    assert_eq!(call.verified_by(&secret), 1);
    let body = call.json();
    assert_eq!(body["type"], "customer.called");
    assert_eq!(body["data"]["customer"]["externalId"], "ann");
    assert_eq!(body["data"]["trigger"]["actionId"], action);
    assert!(body["data"]["trigger"]["eventId"].is_string());
    assert_eq!(
        body["data"]["payload"],
        json!({ "task": "call", "priority": 2 })
    );
}

#[tokio::test]
async fn a_campaign_steps_call_and_the_runs_conversion_reach_their_endpoints() {
    // Arrange: one endpoint for the step's call, another wants conversions.
    let receiver = Receiver::start().await;
    let (app, storefront) = shop_with(local_hooks).await;
    let (operator, _) = create_endpoint(
        &app,
        json!({ "url": receiver.url("/operator"), "eventTypes": ["RUN_CONVERTED"] }),
    )
    .await;
    create_endpoint(
        &app,
        json!({ "url": receiver.url("/conversions"), "eventTypes": ["RUN_CONVERTED"] }),
    )
    .await;
    let campaign = active_campaign(
        &app,
        json!({
            "anchor": { "newsletterSubscribed": true },
            "steps": [
                { "id": "tell", "effect": { "effects": [{ "callWebhook": { "endpointId": operator, "payload": { "script": "welcome" } } }] } },
                { "id": "later", "wait": { "days": 3 } }
            ],
            "exitGoal": { "events": ["ORDER_PLACED"] }
        }),
    )
    .await;
    app.record(
        &storefront,
        json!([ev(
            "sub",
            "olga",
            "2026-11-22T12:00:00Z",
            json!({ "newsletterSubscribed": true })
        )]),
    )
    .await;
    app.processed("sub").await;

    // Act: the step runs; then an order converts the run.
    tick(&app, "2026-11-22T12:01:00Z").await;
    let call = receiver.wait_for(1).await.remove(0);
    app.record(
        &storefront,
        json!([order("o1", "2026-11-23T09:00:00Z", json!({}))]),
    )
    .await;
    app.processed("place-o1").await;
    tick(&app, "2026-11-26T12:00:00Z").await;

    // Assert: the call names the campaign step; each endpoint has its conversion.
    let body = call.json();
    assert_eq!(call.path, "/operator");
    assert_eq!(body["type"], "customer.called");
    assert_eq!(body["data"]["trigger"]["campaignId"], campaign);
    assert_eq!(body["data"]["trigger"]["stepId"], "tell");
    assert_eq!(body["data"]["payload"], json!({ "script": "welcome" }));
    let calls = receiver.wait_for(3).await;
    let run = &runs(&app, &campaign).await[0];
    assert_eq!(run["status"], "converted");
    let mut converted: Vec<&str> = calls[1..].iter().map(|c| c.path.as_str()).collect();
    converted.sort_unstable();
    assert_eq!(converted, ["/conversions", "/operator"]);
    let body = calls[1].json();
    assert_eq!(body["type"], "campaign_run.converted");
    assert_eq!(body["data"]["run"]["campaignId"], campaign);
    assert_eq!(body["data"]["run"]["id"], run["id"]);
    assert_eq!(
        body["data"]["run"]["reason"],
        "exit goal reached: order_placed"
    );
    assert_eq!(body["data"]["customer"]["externalId"], "olga");
}

#[tokio::test]
async fn a_sent_email_and_its_click_are_told_to_an_endpoint_that_wants_them() {
    // Arrange: an action that emails on login, through a real SMTP server.
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let receiver = Receiver::start().await;
    let app = spawn_app_with(move |s| {
        local_hooks(s);
        crate::deliveries::fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.delivery.public_url = "https://nudge.example".into();
    })
    .await;
    create_endpoint(
        &app,
        json!({ "url": receiver.url("/outcomes"), "eventTypes": ["MESSAGE_SENT", "MESSAGE_CLICKED"] }),
    )
    .await;
    crate::deliveries::customer_and_action(&app, crate::deliveries::email_effect(), json!({}))
        .await;

    // Act
    crate::deliveries::log_in(&app, "l1").await;
    let sent = crate::deliveries::wait_for(&app, 0, "SENT").await;
    let html = sent["bodyHtml"].as_str().expect("html");
    let start = html
        .find("https://nudge.example/t/c/")
        .expect("a tracked link");
    let link = &html[start..start + html[start..].find('"').expect("the link ends")];
    let path = link.trim_start_matches("https://nudge.example");
    let clicked = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("click");
    assert!(clicked.status().is_redirection());

    // Assert: sent, then clicked, in order (one customer).
    let calls = receiver.wait_for(2).await;
    let (first, second) = (calls[0].json(), calls[1].json());
    assert_eq!(first["type"], "message.sent");
    assert_eq!(first["data"]["message"]["id"], sent["id"]);
    assert_eq!(first["data"]["message"]["channel"], "email");
    assert_eq!(first["data"]["customer"]["externalId"], "ann");
    assert_eq!(second["type"], "message.clicked");
    assert_eq!(second["data"]["url"], "https://shop.example/sale?a=1&b=2");
    assert_eq!(second["data"]["first"], true);
}
