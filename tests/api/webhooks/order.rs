//! Order and durability: messages about one customer reach an endpoint in the order the
//! changes happened while customers go in parallel, and a message written before a crash is
//! sent after it.

use super::endpoints::in_test_sender;
use super::*;
use std::collections::HashMap;

#[tokio::test]
async fn messages_about_one_customer_arrive_in_order_while_customers_go_in_parallel() {
    // Arrange: a slow endpoint (so sends overlap), and four customers.
    let receiver = Receiver::start().await;
    receiver.delay("/slow", Duration::from_millis(15));
    receiver.script("/slow", &[500]);
    let app = spawn_app_with(|s| {
        local_hooks(s);
        s.webhooks.retry = "0s,0s,0s".parse().expect("a schedule");
    })
    .await;
    create_endpoint(
        &app,
        json!({ "url": receiver.url("/slow"), "eventTypes": ["TAG_SET"] }),
    )
    .await;
    let tag = app.create_tag("step").await;
    let mut customers = Vec::new();
    for n in 0..4 {
        let id = app
            .create_customer(json!({ "externalId": format!("c{n}") }))
            .await;
        customers.push(id);
    }

    // Act: each customer's tag value changes 12 times; the customers' writers run at once.
    let writers = customers.iter().map(|customer| {
        let app = &app;
        let tag = &tag;
        async move {
            for step in 0..12 {
                set_tag(app, customer, tag, &format!("{step}")).await;
            }
        }
    });
    futures_util::future::join_all(writers).await;

    // Assert: every change arrived once (the failed first attempt was retried in its place),
    // and each customer's values in the order they were set.
    let calls = receiver.wait_for(4 * 12 + 1).await;
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    let mut delivered = Vec::new();
    for (n, call) in calls.iter().enumerate() {
        // The first call was answered 500; the same message came again.
        if n > 0 && !ids.insert(call.id.clone()) {
            panic!("message {} arrived twice", call.id);
        }
        if n == 0 {
            continue;
        }
        delivered.push(call);
    }
    assert!(
        ids.contains(&calls[0].id),
        "the failed message was sent again"
    );
    for call in delivered {
        let body = call.json();
        let customer = body["data"]["customer"]["externalId"]
            .as_str()
            .expect("customer")
            .to_owned();
        seen.entry(customer)
            .or_default()
            .push(body["data"]["value"].as_str().expect("value").to_owned());
    }
    let expected: Vec<String> = (0..12).map(|n| n.to_string()).collect();
    for n in 0..4 {
        assert_eq!(seen.get(&format!("c{n}")), Some(&expected), "customer c{n}");
    }
}

#[tokio::test]
async fn a_message_written_before_a_crash_is_sent_after_it() {
    // Arrange: a server that does not send; its change commits a message, then "crashes".
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|s| {
        local_hooks(s);
        s.webhooks.send = false;
    })
    .await;
    let (endpoint_id, secret) =
        create_endpoint(&app, json!({ "url": receiver.url("/after") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;
    set_tag(&app, &customer, &tag, "a").await;
    set_tag(&app, &customer, &tag, "b").await;
    assert_eq!(messages(&app, &endpoint_id).await.len(), 2);
    // A process claimed the first, then died before it sent: its lease ended a minute ago.
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("db");
    use sea_orm::ConnectionTrait;
    let past = nudge::clock::to_millis(crate::helpers::test_start()) - 60_000;
    db.execute_unprepared(&format!(
        "UPDATE webhook_messages SET status = 'sending', lease_owner = 'dead', lease_until = {past}, \
         due_at = {past}, attempts = 1 WHERE id = (SELECT MIN(id) FROM webhook_messages)"
    ))
    .await
    .expect("updated");

    // Act: another process's sender runs.
    let mut settings = crate::helpers::test_settings(&app.database_url);
    local_hooks(&mut settings);
    let sender = in_test_sender(&app, settings).await;
    let first = sender.send_once().await.expect("a round");
    let second = sender.send_once().await.expect("a round");

    // Assert: the taken-over message first, then the next: in order, none lost.
    assert_eq!((first, second), (1, 1));
    let calls = receiver.wait_for(2).await;
    let values: Vec<Value> = calls
        .iter()
        .map(|c| c.json()["data"]["value"].clone())
        .collect();
    assert_eq!(values, [json!("a"), json!("b")]);
    assert!(calls.iter().all(|c| c.verified_by(&secret) == 1));
    let list = messages(&app, &endpoint_id).await;
    assert!(list.iter().all(|m| m["status"] == "SUCCEEDED"), "{list:?}");
    assert_eq!(
        list[0]["attemptCount"], 2,
        "the dead process's attempt counts"
    );
}

#[tokio::test]
async fn two_senders_on_one_database_send_each_message_once_and_in_order_per_customer() {
    // Arrange: 3 customers × 10 changes waiting, written by a server that does not send.
    let receiver = Receiver::start().await;
    receiver.delay("/two", Duration::from_millis(3));
    let app = spawn_app_with(|s| {
        local_hooks(s);
        s.webhooks.send = false;
    })
    .await;
    create_endpoint(&app, json!({ "url": receiver.url("/two") })).await;
    let tag = app.create_tag("step").await;
    for n in 0..3 {
        let customer = app
            .create_customer(json!({ "externalId": format!("c{n}") }))
            .await;
        for step in 0..10 {
            set_tag(&app, &customer, &tag, &format!("{step}")).await;
        }
    }

    // Act: two senders (as two processes would) take turns and race until nothing is left.
    let mut settings = crate::helpers::test_settings(&app.database_url);
    local_hooks(&mut settings);
    settings.webhooks.batch = 4;
    let senders = [
        in_test_sender(&app, settings.clone()).await,
        in_test_sender(&app, settings).await,
    ];
    let drain = |sender: &nudge::domain::webhook_sender::WebhookSender| {
        let sender = sender.clone();
        async move {
            let mut idle = 0;
            while idle < 3 {
                let claimed = sender.send_once().await.expect("a round");
                idle = if claimed == 0 { idle + 1 } else { 0 };
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    futures_util::future::join(drain(&senders[0]), drain(&senders[1])).await;

    // Assert
    let calls = receiver.wait_for(30).await;
    assert_eq!(calls.len(), 30, "each message once");
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for call in &calls {
        let body = call.json();
        seen.entry(
            body["data"]["customer"]["externalId"]
                .as_str()
                .expect("c")
                .to_owned(),
        )
        .or_default()
        .push(body["data"]["value"].as_str().expect("v").to_owned());
    }
    let expected: Vec<String> = (0..10).map(|n| n.to_string()).collect();
    for n in 0..3 {
        assert_eq!(seen.get(&format!("c{n}")), Some(&expected), "customer c{n}");
    }
}
