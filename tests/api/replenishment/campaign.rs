//! The `replenishmentDue` anchor end to end: the collection starts a run per cart, the email
//! shows the cart and its link, the customer's decision ends the run, and follow-up filters
//! branch on what the customer did with the message and the cart.

use super::*;
use crate::campaign_runs::{active_campaign, runs, tick};
use crate::deliveries::{fast, wait_until};
use crate::helpers::spawn_app_with;
use crate::replenishment::page::client;
use crate::segments::eventually;
use crate::smtp_sink::SmtpSink;

const PUBLIC: &str = "https://nudge.example";

async fn app_with_mail(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(move |s| {
        fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.delivery.public_url = PUBLIC.into();
    })
    .await
}

/// The restock email: the cart's lines, its total and the link to its page.
async fn restock_template(app: &TestApp) -> String {
    let input = json!({
        "name": "Restock", "channel": "EMAIL",
        "subject": "Time to restock, {{ customer.first_name }}",
        "bodyHtml": "<p>{% for line in predicted_cart.lines %}{{ line.product.name }} x {{ line.quantity }} at {{ line.price }} = {{ line.total }}; {% endfor %}Total {{ predicted_cart.total }} {{ predicted_cart.currency }}</p><a href=\"{{ links.predicted_cart }}\">Open your cart</a>",
        "bodyText": "Your cart: {{ links.predicted_cart }}"
    });
    let data = app
        .admin_data(
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } userErrors { field message } } }",
            json!({ "input": input }),
        )
        .await;
    data["createTemplate"]["template"]["id"]
        .as_str()
        .expect("template id")
        .to_owned()
}

/// Customers with an email each, who got 2 kg of coffee delivered on 20 November.
async fn coffee_drinkers(app: &TestApp, names: &[&str]) {
    catalog(app).await;
    for name in names {
        app.create_customer(json!({
            "externalId": name, "firstName": name, "email": format!("{name}@example.com"),
            "emailConsent": { "granted": true, "source": "checkout" }
        }))
        .await;
        upsert(
            app,
            json!([order(
                &format!("{name}-1"),
                name,
                "DELIVERED",
                "2026-11-20T10:00:00Z",
                &[("coffee", 2)]
            )]),
        )
        .await;
    }
}

/// The Monday collection of 7 December (09:00 UTC), then the processor's enrolments.
async fn collect_and_enrol(app: &TestApp, campaign: &str, expected: usize) {
    tick(app, "2026-12-07T08:00:00Z").await;
    tick(app, "2026-12-07T09:00:00Z").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while runs(app, campaign).await.len() < expected {
        assert!(std::time::Instant::now() < deadline, "no runs enrolled");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The address under the server of a link Nudge made under its public URL.
fn local(app: &TestApp, link: &str) -> String {
    let path = link.strip_prefix(PUBLIC).expect("under the public URL");
    format!("{}{path}", app.address)
}

/// The first link in `text` that starts with `prefix`.
fn link_in(text: &str, prefix: &str) -> String {
    let start = text.find(prefix).expect("the link");
    text[start..]
        .split(['"', ' ', '\n', '\r'])
        .next()
        .expect("a link")
        .to_owned()
}

async fn run_status(app: &TestApp, campaign: &str, customer_id: &str) -> (String, String) {
    let all = runs(app, campaign).await;
    let run = all
        .iter()
        .find(|r| r["customerId"] == customer_id)
        .expect("the run");
    (
        run["status"].as_str().unwrap_or_default().to_owned(),
        run["endReason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_gathered_cart_starts_a_run_whose_email_shows_the_cart_and_a_confirmation_converts_it() {
    // Arrange: a campaign anchored to gathered carts, active before the collection.
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    coffee_drinkers(&app, &["ann"]).await;
    let mail = restock_template(&app).await;
    let campaign = active_campaign(
        &app,
        json!({ "anchor": { "replenishmentDue": true },
            "steps": [
                { "id": "mail", "message": { "channel": "EMAIL", "templateId": mail } },
                { "id": "week", "wait": { "days": 7 } }
            ] }),
    )
    .await;
    app.clock
        .set("2026-12-07T09:00:00Z".parse().expect("instant"));

    // Act: the collection; the run's first step.
    collect_and_enrol(&app, &campaign, 1).await;
    tick(&app, "2026-12-07T09:01:00Z").await;
    let sent = wait_until(&app, |d| d.first().is_some_and(|d| d["status"] == "SENT")).await;

    // Assert: one run about the cart; the email lists the cart and links to its page.
    let run = &runs(&app, &campaign).await[0];
    assert!(
        run["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("predicted_cart:")),
        "{run}"
    );
    let html = sent[0]["bodyHtml"].as_str().expect("html");
    assert!(
        html.contains("Coffee 1 kg x 2 at 20.00 = 40.00; Total 40.00 USD"),
        "{html}"
    );
    assert!(html.contains("href=\"https://nudge.example/t/c/"), "{html}");
    let text = sent[0]["bodyText"].as_str().expect("text");
    let page = link_in(text, &format!("{PUBLIC}/r/"));
    assert_eq!(sink.count(), 1);
    let shown = client().get(local(&app, &page)).send().await.expect("page");
    assert_eq!(shown.status(), 200);
    assert!(shown.text().await.expect("html").contains("Coffee 1 kg"));

    // Act: Ann confirms on the page.
    let confirmed = client()
        .post(local(&app, &page))
        .form(&[("action", "confirm"), ("q1", "2")])
        .send()
        .await
        .expect("confirm");
    assert_eq!(confirmed.status(), 303);

    // Assert: the run converted.
    let ann = run["customerId"].as_str().expect("customer").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, reason) = run_status(&app, &campaign, &ann).await;
        if status == "converted" {
            assert_eq!(reason, "the cart was confirmed");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not converted: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn follow_ups_branch_on_opens_clicks_visits_and_decisions() {
    // Arrange: six customers get the restock email. Three days later a filter tree sorts
    // them: not opened / opened but not clicked / clicked but did not visit / visited but
    // did not decide (a decision ends the run before).
    let sink = SmtpSink::start().await;
    let app = app_with_mail(&sink).await;
    let names = ["ann", "bob", "cid", "dan", "eve", "fay"];
    coffee_drinkers(&app, &names).await;
    let mail = restock_template(&app).await;
    let mut tags = std::collections::HashMap::new();
    for tag in [
        "not-opened",
        "opened-not-clicked",
        "clicked-not-visited",
        "visited-undecided",
    ] {
        tags.insert(tag, app.create_tag(tag).await);
    }
    let tag = |id: &str, name: &str| json!({ "id": id, "effect": { "effects": [{ "setTag": { "tagId": tags[name] } }] } });
    let campaign = active_campaign(
        &app,
        json!({ "anchor": { "replenishmentDue": true },
            "steps": [
                { "id": "mail", "message": { "channel": "EMAIL", "templateId": mail } },
                { "id": "three-days", "wait": { "days": 3 } },
                { "id": "opened", "filter": {
                    "condition": { "messageOpened": { "stepId": "mail" } },
                    "no": [tag("tag-not-opened", "not-opened")],
                    "yes": [{ "id": "clicked", "filter": {
                        "condition": { "messageClicked": { "stepId": "mail", "linkContains": "/R/" } },
                        "no": [tag("tag-opened", "opened-not-clicked")],
                        "yes": [{ "id": "visited", "filter": {
                            "condition": { "all": [{ "cartViewed": true }, { "cartDecided": false }] },
                            "yes": [tag("tag-visited", "visited-undecided")],
                            "no": [tag("tag-clicked", "clicked-not-visited")]
                        } }]
                    } }]
                } }
            ] }),
    )
    .await;
    app.clock
        .set("2026-12-07T09:00:00Z".parse().expect("instant"));
    collect_and_enrol(&app, &campaign, names.len()).await;
    tick(&app, "2026-12-07T09:01:00Z").await;
    let sent = wait_until(&app, |d| {
        d.len() == names.len() && d.iter().all(|d| d["status"] == "SENT")
    })
    .await;
    let html_of = |name: &str| {
        let d = sent
            .iter()
            .find(|d| d["recipient"] == format!("{name}@example.com"))
            .expect("the email");
        d["bodyHtml"].as_str().expect("html").to_owned()
    };
    let pixel = |name: &str| link_in(&html_of(name), &format!("{PUBLIC}/t/o/"));
    let click = |name: &str| link_in(&html_of(name), &format!("{PUBLIC}/t/c/"));
    let browser = client();

    // Act: eve's mail is opened at once by a machine; an hour later bob opens his; cid and
    // dan and fay click through (a click is an open); dan confirms, cid only looks, fay never
    // loads the page.
    let scanner = reqwest::Client::new();
    scanner
        .get(local(&app, &pixel("eve")))
        .send()
        .await
        .expect("machine open");
    app.clock
        .set("2026-12-07T10:00:00Z".parse().expect("instant"));
    browser
        .get(local(&app, &pixel("bob")))
        .send()
        .await
        .expect("open");
    let mut pages = std::collections::HashMap::new();
    for name in ["cid", "dan", "fay"] {
        let redirect = browser
            .get(local(&app, &click(name)))
            .send()
            .await
            .expect("click");
        assert_eq!(redirect.status(), 302, "{name}");
        let page = redirect.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        assert!(page.starts_with(&format!("{PUBLIC}/r/")), "{page}");
        pages.insert(name, page);
    }
    browser
        .get(local(&app, &pages["cid"]))
        .send()
        .await
        .expect("visit");
    browser
        .post(local(&app, &pages["dan"]))
        .form(&[("action", "confirm"), ("q1", "2")])
        .send()
        .await
        .expect("confirm");
    // The processor ends dan's run on his decision.
    let dan_id = eventually(&app, "{ customer(externalId: \"dan\") { id } }", |d| {
        d["customer"]["id"].is_string()
    })
    .await["customer"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while run_status(&app, &campaign, &dan_id).await.0 != "converted" {
        assert!(
            std::time::Instant::now() < deadline,
            "dan's run did not convert"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tick(&app, "2026-12-10T10:00:00Z").await;

    // Assert: each customer took the branch of what they did.
    let mut sorted = Vec::new();
    for name in names {
        let data = app
            .admin_data(
                "query($e: String!) { customer(externalId: $e) { tags { name } } }",
                json!({ "e": name }),
            )
            .await;
        let names: Vec<String> = data["customer"]["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| t["name"].as_str().expect("name").to_owned())
            .collect();
        sorted.push((name, names));
    }
    assert_eq!(
        sorted,
        [
            ("ann", vec!["not-opened".to_owned()]),
            ("bob", vec!["opened-not-clicked".to_owned()]),
            ("cid", vec!["visited-undecided".to_owned()]),
            ("dan", vec![]),
            ("eve", vec!["not-opened".to_owned()]),
            ("fay", vec!["clicked-not-visited".to_owned()]),
        ]
    );
}

#[tokio::test]
async fn run_predicates_are_refused_outside_campaigns_and_must_name_a_message_step() {
    // Arrange
    let app = spawn_app_with(|_| {}).await;
    let mail = restock_template(&app).await;
    let tag = app.create_tag("t").await;

    // Act: a campaign filter naming a wait step and an unknown step; an action and a
    // segment looking at a run.
    let campaign = app
        .admin(
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { field code message } } }",
            json!({ "input": { "name": "c", "anchor": { "replenishmentDue": true }, "steps": [
                { "id": "mail", "message": { "channel": "EMAIL", "templateId": mail } },
                { "id": "wait", "wait": { "days": 1 } },
                { "id": "f", "filter": {
                    "condition": { "any": [
                        { "messageOpened": { "stepId": "wait" } },
                        { "messageClicked": { "stepId": "nope" } },
                        { "messageOpened": { "stepId": "mail" } }
                    ] },
                    "yes": [{ "id": "e", "effect": { "effects": [{ "setTag": { "tagId": tag } }] } }]
                } }
            ] } }),
        )
        .await;
    let action = app
        .admin(
            "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { userErrors { field code message } } }",
            json!({ "input": { "name": "a", "trigger": "LOGGED_IN",
                "condition": { "not": { "cartViewed": true } },
                "effects": [{ "setTag": { "tagId": tag } }] } }),
        )
        .await;
    let segment = app
        .admin(
            "mutation($input: SegmentInput!) { createSegment(input: $input) { userErrors { field code message } } }",
            json!({ "input": { "name": "s", "condition": { "messageOpened": { "stepId": "mail" } } } }),
        )
        .await;

    // Assert: each refused at its path, nothing written.
    assert_eq!(
        crate::helpers::user_errors(&campaign["data"]["createCampaign"]),
        vec![
            (
                "input.steps.2.filter.condition.any.0.messageOpened.stepId".to_owned(),
                "NOT_FOUND".to_owned()
            ),
            (
                "input.steps.2.filter.condition.any.1.messageClicked.stepId".to_owned(),
                "NOT_FOUND".to_owned()
            ),
        ]
    );
    assert_eq!(campaign["data"]["createCampaign"]["campaign"], Value::Null);
    assert_eq!(
        crate::helpers::user_errors(&action["data"]["createCustomerAction"]),
        vec![(
            "input.condition.not.cartViewed".to_owned(),
            "INVALID".to_owned()
        )]
    );
    assert_eq!(
        crate::helpers::user_errors(&segment["data"]["createSegment"]),
        vec![(
            "input.condition.messageOpened".to_owned(),
            "INVALID".to_owned()
        )]
    );
}

#[tokio::test]
async fn a_campaign_of_another_anchor_sees_whether_the_cart_gathered_since_was_decided() {
    // Arrange: a welcome campaign looks, ten days after registration, at the cart gathered
    // meanwhile. Gus and Hal register on 1 December; both get a cart on the 7th.
    let app = spawn_app_with(|_| {}).await;
    catalog(&app).await;
    let decided = app.create_tag("decided").await;
    let undecided = app.create_tag("undecided").await;
    let tag = |id: &str, tag: &str| json!({ "id": id, "effect": { "effects": [{ "setTag": { "tagId": tag } }] } });
    let campaign = active_campaign(
        &app,
        json!({ "anchor": { "registered": true }, "steps": [
            { "id": "ten-days", "wait": { "days": 10 } },
            { "id": "cart", "filter": { "condition": { "cartDecided": true },
                "yes": [tag("tag-decided", &decided)], "no": [tag("tag-undecided", &undecided)] } }
        ] }),
    )
    .await;
    app.clock
        .set("2026-12-01T10:00:00Z".parse().expect("instant"));
    let storefront = app.create_key("STOREFRONT").await;
    for name in ["gus", "hal"] {
        let id = format!("reg-{name}");
        app.record(
            &storefront,
            json!([crate::helpers::ev(
                &id,
                name,
                "2026-12-01T10:00:00Z",
                json!({ "registered": { "email": format!("{name}@example.com") } })
            )]),
        )
        .await;
        app.processed(&id).await;
        upsert(
            &app,
            json!([order(
                &format!("{name}-1"),
                name,
                "DELIVERED",
                "2026-11-20T10:00:00Z",
                &[("coffee", 2)]
            )]),
        )
        .await;
    }
    assert_eq!(runs(&app, &campaign).await.len(), 2);
    tick(&app, "2026-12-07T08:00:00Z").await;
    tick(&app, "2026-12-07T09:00:00Z").await;

    // Act: Gus declines his cart; Hal does nothing; ten days after registering, the filter.
    app.clock
        .set("2026-12-07T10:00:00Z".parse().expect("instant"));
    let cart = app
        .admin_data(
            "{ predictedCart(customerExternalId: \"gus\") { id } }",
            json!({}),
        )
        .await["predictedCart"]["id"]
        .clone();
    let declined = app
        .admin_data(
            "mutation($c: ID!) { declinePredictedCart(cartId: $c, customerExternalId: \"gus\") { userErrors { field } } }",
            json!({ "c": cart }),
        )
        .await;
    assert_eq!(declined["declinePredictedCart"]["userErrors"], json!([]));
    tick(&app, "2026-12-11T11:00:00Z").await;

    // Assert
    for (name, expected) in [("gus", "decided"), ("hal", "undecided")] {
        let data = app
            .admin_data(
                "query($e: String!) { customer(externalId: $e) { tags { name } } }",
                json!({ "e": name }),
            )
            .await;
        assert_eq!(
            data["customer"]["tags"],
            json!([{ "name": expected }]),
            "{name}"
        );
    }
}
