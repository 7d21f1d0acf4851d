//! Messages of campaign runs: rendered with the run's order, and the step effects that follow
//! the message's outcome.

use super::*;

#[tokio::test]
async fn a_campaign_message_is_rendered_with_the_order_of_its_run() {
    // Arrange: one message per placed order, naming the order.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    app.create_customer(json!({ "externalId": "ann", "email": "ann@example.com",
        "emailConsent": { "granted": true, "source": "checkout" } }))
        .await;
    let template = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } userErrors { message } } }",
            json!({ "input": { "name": "thanks", "channel": "EMAIL",
                "subject": "Your order {{ order.external_id }}",
                "bodyText": "{% for l in order.lines %}{{ l.quantity }} x {{ l.product.name }}{% endfor %}, {{ order.total }} {{ order.currency }}" } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    app.admin_data(
        "mutation($input: CampaignInput!) { createCampaign(input: $input) { userErrors { message } } }",
        json!({ "input": { "name": "thanks", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
            "steps": [{ "id": "thanks", "message": { "channel": "EMAIL", "templateId": template } }] } }),
    )
    .await;
    let storefront = app.create_key("STOREFRONT").await;
    let order = |id: &str, quantity: i32, total: &str| {
        json!({ "orderPlaced": { "orderExternalId": id, "total": total, "currency": "USD",
            "lines": [{ "productExternalId": "p1", "quantity": quantity, "unitPrice": "10.00" }] } })
    };
    app.record(
        &storefront,
        json!([
            ev("o1", "ann", "2026-11-22T11:00:00Z", order("o1", 1, "10.00")),
            ev("o2", "ann", "2026-11-22T11:30:00Z", order("o2", 3, "30.00")),
        ]),
    )
    .await;
    app.processed("o2").await;

    // Act
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-11-22T12:00:00Z\") { advanced } }",
        json!({}),
    )
    .await;
    let list = wait_until(&app, |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "SENT")
    })
    .await;

    // Assert: each run's message speaks of its own order.
    let mut texts: Vec<(String, String)> = list
        .iter()
        .map(|d| {
            (
                d["subject"].as_str().unwrap_or_default().to_owned(),
                d["bodyText"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        vec![
            (
                "Your order o1".to_owned(),
                "1 x Product p1, 10.00 USD".to_owned()
            ),
            (
                "Your order o2".to_owned(),
                "3 x Product p1, 30.00 USD".to_owned()
            ),
        ]
    );
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn a_message_steps_effects_follow_its_message_sent_skipped_or_failed() {
    // Arrange: IdoSell's write-back — "review-asked = yes" after the review request. Ann gets
    // the mail, Bob never consented, the server refuses Carl's mailbox.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_products(&["p1"]).await;
    let consent = json!({ "granted": true, "source": "checkout" });
    for (id, email, consent) in [
        ("ann", "ann@example.com", consent.clone()),
        (
            "bob",
            "bob@example.com",
            json!({ "granted": false, "source": "checkout" }),
        ),
        ("carl", "bounce@example.com", consent),
    ] {
        app.create_customer(json!({ "externalId": id, "email": email, "emailConsent": consent }))
            .await;
    }
    let asked = app.create_tag("review-asked").await;
    let template = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } } }",
            json!({ "input": { "name": "review", "channel": "EMAIL", "subject": "How was it?",
                "bodyText": "Tell us" } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { message } } }",
            json!({ "input": { "name": "review", "status": "ACTIVE", "anchor": { "orderPlaced": {} },
                "steps": [{ "id": "ask", "message": { "channel": "EMAIL", "templateId": template,
                    "effects": [{ "setTag": { "tagId": asked, "value": "yes" } }] } }] } }),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    let storefront = app.create_key("STOREFRONT").await;
    let order = |id: &str| {
        json!({ "orderPlaced": { "orderExternalId": id, "total": "10.00", "currency": "USD",
            "lines": [{ "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" }] } })
    };
    let events: Vec<Value> = ["ann", "bob", "carl"]
        .iter()
        .map(|c| {
            ev(
                &format!("o-{c}"),
                c,
                "2026-11-22T11:00:00Z",
                order(&format!("o-{c}")),
            )
        })
        .collect();
    app.record(&storefront, json!(events)).await;
    app.processed("o-carl").await;

    // Act
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-11-22T12:00:00Z\") { advanced } }",
        json!({}),
    )
    .await;
    wait_until(&app, |l| {
        l.len() == 3
            && l.iter().all(|d| {
                ["SENT", "SKIPPED", "FAILED"].contains(&d["status"].as_str().unwrap_or_default())
            })
    })
    .await;

    // Assert: only the customer who got the message has the tag, and each run's log says why.
    let data = app
        .admin_data(
            "query($c: ID) { customers(first: 10) { edges { node { externalId tags { name value } } } }
              campaignRuns(campaignId: $c) { customerId log { stepId outcome detail } } }",
            json!({ "c": campaign }),
        )
        .await;
    let mut tags: Vec<(String, Value)> = data["customers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["externalId"].as_str().expect("id").to_owned(),
                e["node"]["tags"].clone(),
            )
        })
        .collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        tags,
        vec![
            (
                "ann".to_owned(),
                json!([{ "name": "review-asked", "value": "yes" }])
            ),
            ("bob".to_owned(), json!([])),
            ("carl".to_owned(), json!([])),
        ]
    );
    let mut followed: Vec<(String, String)> = data["campaignRuns"]
        .as_array()
        .expect("runs")
        .iter()
        .flat_map(|r| r["log"].as_array().expect("log").clone())
        .filter(|l| {
            l["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("effects"))
        })
        .map(|l| {
            let detail = l["detail"].as_str().unwrap_or_default();
            let detail = detail.split(": address refused").next().unwrap_or_default();
            (
                l["outcome"].as_str().unwrap_or_default().to_owned(),
                detail.to_owned(),
            )
        })
        .collect();
    followed.sort();
    assert_eq!(
        followed,
        vec![
            (
                "effectsApplied".to_owned(),
                "the message was sent".to_owned()
            ),
            (
                "effectsNotApplied".to_owned(),
                "the message failed".to_owned()
            ),
            (
                "effectsNotApplied".to_owned(),
                "the message was skipped: no email consent".to_owned()
            ),
        ]
    );
    assert_eq!(sink.count(), 1);
}

#[tokio::test]
async fn a_sent_messages_effects_that_cannot_be_applied_are_logged_and_the_message_stays_sent() {
    // Arrange: the step assigns a role deleted after the campaign was saved.
    let sink = SmtpSink::start().await;
    let app = spawn_with_smtp(&sink).await;
    app.create_customer(json!({ "externalId": "ann", "email": "ann@example.com",
        "emailConsent": { "granted": true, "source": "checkout" } }))
        .await;
    let role = app.create_role("Doomed", "doomed", &[]).await;
    let asked = app.create_tag("asked").await;
    let template = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } } }",
            json!({ "input": { "name": "hi", "channel": "EMAIL", "subject": "Hi", "bodyText": "Hi" } }),
        )
        .await["createTemplate"]["template"]["id"]
        .clone();
    let campaign = app
        .admin_data(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } } }",
            json!({ "input": { "name": "hi", "status": "ACTIVE", "anchor": { "registered": true },
                "steps": [{ "id": "hi", "message": { "channel": "EMAIL", "templateId": template,
                    "effects": [{ "setTag": { "tagId": asked, "value": "yes" } }, { "assignRole": role }] } }] } }),
        )
        .await["createCampaign"]["campaign"]["id"]
        .clone();
    app.delete_role(&role).await;
    let storefront = app.create_key("STOREFRONT").await;
    app.record(
        &storefront,
        json!([ev(
            "r1",
            "ann",
            "2026-11-22T12:00:00Z",
            json!({ "registered": { "email": "ann@example.com" } })
        )]),
    )
    .await;
    app.processed("r1").await;

    // Act
    app.admin_data(
        "mutation { runCampaignTick(at: \"2026-11-22T12:00:00Z\") { advanced } }",
        json!({}),
    )
    .await;
    let sent = wait_for(&app, 0, "SENT").await;

    // Assert: sent once; neither effect applied (they go together); the log says why.
    let data = app
        .admin_data(
            "query($c: ID) { customer(externalId: \"ann\") { tags { name } roles { name } }
              campaignRuns(campaignId: $c) { status log { outcome detail deliveryId } } }",
            json!({ "c": campaign }),
        )
        .await;
    assert_eq!(data["customer"]["tags"], json!([]));
    let log = data["campaignRuns"][0]["log"]
        .as_array()
        .expect("log")
        .clone();
    let failed = log
        .iter()
        .find(|l| l["outcome"] == "effectsFailed")
        .unwrap_or_else(|| panic!("no effectsFailed in {log:?}"));
    assert_eq!(failed["deliveryId"], sent["id"]);
    assert_eq!(failed["detail"], format!("role {role} no longer exists"));
    assert_eq!(sink.count(), 1);
}
