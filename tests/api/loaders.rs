//! What a read costs the database, counted by the real binary's own
//! `nudge_database_statements_total{pool="api"}`. Fields reached from lists load in one query
//! per level, not one per parent: a page of 20 customers (with their carts, orders and order
//! lines), deliveries (attempts, tracking events), runs (logs) or templates (locales) costs as
//! many statements as a page of two. A storefront's read costs two statements when it is not kept, none when it is.

use crate::helpers::{TestDatabase, ev};
use crate::process::{Server, TempDir, free_port, metric, post};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Statements the API pool has run so far (every outcome).
async fn api_statements(metrics: &str) -> f64 {
    metric(metrics, "nudge_database_statements_total", "pool=\"api\"").await
}

/// How many statements `query` costs the API pool: the least of three tries, after a first
/// that warms what a request warms once (the key cache), so that a write nothing in the request
/// asked for (a key's `lastUsedAt`, at most once a minute) is not counted. A scrape's own
/// statements (the gauges it reads) count in what it reports: their number, the least of
/// three, is taken off.
async fn cost(server: &Server, metrics: &str, query: &str, variables: Value) -> f64 {
    post(server, &server.admin, query, variables.clone()).await;
    let scrape = scrape_cost(metrics).await;
    let mut least = f64::MAX;
    for _ in 0..3 {
        let before = api_statements(metrics).await;
        let data = post(server, &server.admin, query, variables.clone()).await;
        let after = api_statements(metrics).await;
        assert!(data.is_object());
        least = least.min(after - before - scrape);
    }
    least
}

/// The statements one scrape of the metrics costs.
async fn scrape_cost(metrics: &str) -> f64 {
    let mut scrape = f64::MAX;
    for _ in 0..3 {
        let first = api_statements(metrics).await;
        scrape = scrape.min(api_statements(metrics).await - first);
    }
    scrape
}

/// The statements the next run of `query` costs (not warmed, run once).
async fn cost_once(server: &Server, metrics: &str, query: &str) -> f64 {
    let scrape = scrape_cost(metrics).await;
    // What a request warms (the key: its cached row and `lastUsedAt`) is warmed just before,
    // so a key refresh that came due while the test ran is not counted as the read's.
    post(server, &server.admin, "{ __typename }", json!({})).await;
    let before = api_statements(metrics).await;
    post(server, &server.admin, query, json!({})).await;
    api_statements(metrics).await - before - scrape
}

/// The binary with its metrics on a port of its own, on a database of its own.
struct Metered {
    server: Server,
    metrics: String,
    _dir: TempDir,
    _database: TestDatabase,
}

impl Metered {
    async fn start() -> Self {
        let database = TestDatabase::create().await;
        let dir = TempDir::new();
        let port = free_port();
        let server = Server::start(
            &database.url,
            dir.path(),
            &[("NUDGE_METRICS_LISTEN", format!("127.0.0.1:{port}"))],
        )
        .await;
        Metered {
            server,
            metrics: format!("http://127.0.0.1:{port}"),
            _dir: dir,
            _database: database,
        }
    }
}

#[tokio::test]
async fn a_page_of_twenty_parents_costs_as_many_statements_as_a_page_of_two() {
    // Arrange: the binary with metrics; 20 customers with a cart and two orders of two lines
    // each, a registration campaign that mails each of them (one run, one delivery each) and
    // ten templates with a locale.
    let metered = Metered::start().await;
    let (server, metrics) = (&metered.server, metered.metrics.as_str());
    let admin = server.admin.clone();
    post(
        server,
        &admin,
        "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
        json!({ "p": [
            { "externalId": "p1", "name": "One", "price": "10.00", "currency": "USD" },
            { "externalId": "p2", "name": "Two", "price": "5.00", "currency": "USD" }
        ] }),
    )
    .await;
    let mut templates = Vec::new();
    for n in 0..10 {
        let data = post(
            server,
            &admin,
            "mutation($input: TemplateInput!) { createTemplate(input: $input) { template { id } userErrors { message } } }",
            json!({ "input": { "name": format!("t{n}"), "channel": "EMAIL", "subject": "Hi", "bodyHtml": "<p>Hi</p>",
                "locales": [{ "locale": "de", "subject": "Hallo" }] } }),
        )
        .await;
        templates.push(data["createTemplate"]["template"]["id"].clone());
    }
    let created = post(
        server,
        &admin,
        "mutation($input: CampaignInput!) { createCampaign(input: $input) { campaign { id } userErrors { message } } }",
        json!({ "input": { "name": "welcome", "status": "ACTIVE", "anchor": { "registered": true },
            "steps": [{ "id": "mail", "message": { "channel": "EMAIL", "templateId": templates[0] } }] } }),
    )
    .await;
    let campaign = created["createCampaign"]["campaign"]["id"].clone();
    let storefront = server.storefront_key().await;
    let lines = json!([
        { "productExternalId": "p1", "quantity": 1, "unitPrice": "10.00" },
        { "productExternalId": "p2", "quantity": 2, "unitPrice": "5.00" }
    ]);
    let mut events = Vec::new();
    for n in 0..20 {
        let customer = format!("c{n:02}");
        let at = |minute: u32| format!("2026-11-22T10:{minute:02}:00Z");
        events.push(ev(
            &format!("{customer}-r"),
            &customer,
            &at(0),
            json!({ "registered": { "email": format!("{customer}@example.com"), "emailConsent": true } }),
        ));
        for order in 0..2 {
            events.push(ev(
                &format!("{customer}-o{order}"),
                &customer,
                &at(1 + order),
                json!({ "orderPlaced": { "orderExternalId": format!("{customer}-{order}"),
                    "total": "20.00", "currency": "USD", "lines": lines } }),
            ));
        }
        // After the orders, which empty the cart.
        events.push(ev(
            &format!("{customer}-c"),
            &customer,
            &at(5),
            json!({ "addedToCart": { "lines": [{ "productExternalId": "p1", "quantity": 1 }] } }),
        ));
    }
    post(
        server,
        &storefront,
        "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }",
        json!({ "e": events }),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let data = post(
            server,
            &admin,
            "{ deliveries(first: 50, filter: { status: SENT }) { edges { cursor } } }",
            json!({}),
        )
        .await;
        if data["deliveries"]["edges"].as_array().map(Vec::len) == Some(20) {
            break;
        }
        assert!(Instant::now() < deadline, "not all sent: {data}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Act: each list at two page sizes.
    let customers = "query($n: Int) { customers(first: $n) { edges { node { id roles { id } tags { name } cart { quantity product { id } } orders(first: 5) { id attribution { touch } lines { quantity product { id } } } } } } }";
    let deliveries = "query($n: Int) { deliveries(first: $n) { edges { node { id attempts { attempt outcome } trackingEvents { kind } } } } }";
    let runs =
        "query($c: ID, $n: Int) { campaignRuns(campaignId: $c, first: $n) { id log { outcome } } }";
    let mut costs = Vec::new();
    for (query, n) in [
        (customers, 2),
        (customers, 20),
        (deliveries, 2),
        (deliveries, 20),
    ] {
        costs.push(cost(server, metrics, query, json!({ "n": n })).await);
    }
    for n in [2, 20] {
        costs.push(cost(server, metrics, runs, json!({ "c": campaign, "n": n })).await);
    }
    let all_templates = cost(
        server,
        metrics,
        "{ templates { id locales { locale } } }",
        json!({}),
    )
    .await;
    let one_template = cost(
        server,
        metrics,
        "query($id: ID!) { template(id: $id) { id locales { locale } } }",
        json!({ "id": templates[0] }),
    )
    .await;
    for (n, template) in templates.iter().enumerate().skip(1) {
        post(
            server,
            &admin,
            "mutation($input: CampaignInput!) { createCampaign(input: $input) { userErrors { message } } }",
            json!({ "input": { "name": format!("c{n}"), "status": "ACTIVE", "anchor": { "registered": true },
                "steps": [{ "id": "mail", "message": { "channel": "EMAIL", "templateId": template } }] } }),
        )
        .await;
    }
    let stats = "totals { sent } steps { totals { sent } }";
    let all_campaigns = cost(
        server,
        metrics,
        &format!("{{ campaigns {{ id stats {{ {stats} }} }} }}"),
        json!({}),
    )
    .await;
    let one_campaign = cost(
        server,
        metrics,
        &format!("query($id: ID!) {{ campaign(id: $id) {{ id stats {{ {stats} }} }} }}"),
        json!({ "id": campaign }),
    )
    .await;
    let shown = post(server, &admin, customers, json!({ "n": 20 })).await;

    // Assert: the pages hold what they should, and the larger page costs no more.
    let nodes = shown["customers"]["edges"].as_array().expect("edges");
    assert_eq!(nodes.len(), 20);
    assert!(
        nodes.iter().all(|e| {
            let node = &e["node"];
            node["cart"].as_array().map(Vec::len) == Some(1)
                && node["orders"].as_array().map(Vec::len) == Some(2)
                && node["orders"][1]["lines"].as_array().map(Vec::len) == Some(2)
        }),
        "{shown}"
    );
    assert_eq!(
        costs[0], costs[1],
        "customers: 2 cost {}, 20 cost {}",
        costs[0], costs[1]
    );
    assert_eq!(
        costs[2], costs[3],
        "deliveries: 2 cost {}, 20 cost {}",
        costs[2], costs[3]
    );
    assert_eq!(
        costs[4], costs[5],
        "runs: 2 cost {}, 20 cost {}",
        costs[4], costs[5]
    );
    assert!(costs[0] > 0.0, "statements are counted");
    assert!(
        all_campaigns <= one_campaign + 1.0,
        "ten campaigns' statistics cost {all_campaigns}, one's {one_campaign}"
    );
    assert!(
        all_templates <= one_template + 1.0,
        "ten templates cost {all_templates}, one {one_template}"
    );
}

#[tokio::test]
async fn a_storefront_read_costs_two_statements_when_read_and_none_when_kept() {
    // Arrange: a customer whose registration gave them a role with three products and a
    // banner.
    let metered = Metered::start().await;
    let (server, metrics) = (&metered.server, metered.metrics.as_str());
    let admin = server.admin.clone();
    let products: Vec<Value> = ["p1", "p2", "p3"]
        .iter()
        .map(|id| json!({ "externalId": id, "name": id, "price": "1.00", "currency": "USD" }))
        .collect();
    post(
        server,
        &admin,
        "mutation($p: [ProductInput!]!) { upsertProducts(products: $p) { userErrors { message } } }",
        json!({ "p": products }),
    )
    .await;
    let role = post(
        server,
        &admin,
        "mutation($input: RoleInput!) { createRole(input: $input) { role { id } userErrors { message } } }",
        json!({ "input": { "name": "Fans", "systemName": "fans", "recommendedProducts": ["p2", "p1", "p3"] } }),
    )
    .await["createRole"]["role"]["id"]
        .clone();
    post(
        server,
        &admin,
        "mutation($input: CustomerActionInput!) { createCustomerAction(input: $input) { userErrors { message } } }",
        json!({ "input": { "name": "welcome", "trigger": "REGISTERED", "effects": [
            { "assignRole": role },
            { "showBanner": { "title": "Welcome", "bodyHtml": "<p>Hi</p>" } }
        ] } }),
    )
    .await;
    let storefront = server.storefront_key().await;
    post(
        server,
        &storefront,
        "mutation($e: [EventInput!]!) { recordEvents(events: $e) { userErrors { message } } }",
        json!({ "e": [ev("r1", "ann", "2026-11-22T10:00:00Z", json!({ "registered": { "email": "ann@example.com" } }))] }),
    )
    .await;
    let read = "{ recommendations(customerExternalId: \"ann\", first: 6) { externalId } banners(customerExternalId: \"ann\") { title } }";
    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = loop {
        let data = post(server, &admin, read, json!({})).await;
        // The processor's round may commit between two reads (never inside one).
        let len = |field: &str| data[field].as_array().map(Vec::len);
        if len("banners") == Some(1) && len("recommendations") == Some(3) {
            break data;
        }
        assert!(Instant::now() < deadline, "no banner: {data}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Act: the role changes, so the answer is read again, once; then it is kept.
    // The least of three changes and reads, as `cost` takes the least of three reads: a
    // background statement that falls inside one read is not the read's.
    let mut read_again = f64::MAX;
    for priority in 2..5 {
        post(
            server,
            &admin,
            "mutation($r: ID!, $p: Int!) { updateRole(id: $r, input: { priority: $p }) { role { id } } }",
            json!({ "r": role, "p": priority }),
        )
        .await;
        read_again = read_again.min(cost_once(server, metrics, read).await);
    }
    let kept = cost(server, metrics, read, json!({})).await;

    // Assert
    assert_eq!(
        shown["recommendations"],
        json!([{ "externalId": "p2" }, { "externalId": "p1" }, { "externalId": "p3" }])
    );
    assert_eq!(
        read_again, 2.0,
        "the customer's roles and banners in one statement, the roles' products"
    );
    assert_eq!(kept, 0.0, "from memory");
}
