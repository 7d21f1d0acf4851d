//! What else reaches endpoints: segment joins, and an endpoint failing for days disabled with
//! an email to the shop's staff.

use super::*;
use crate::smtp_sink::SmtpSink;

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_and_the_staff_are_emailed() {
    // Arrange: an endpoint that always fails, retried once a day; staff mail to a real SMTP
    // server.
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let receiver = Receiver::start().await;
    receiver.script("/down", &[503; 10]);
    let app = spawn_app_with(move |s| {
        local_hooks(s);
        crate::deliveries::fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.store.staff_email = Some("ops@shop.example".into());
        s.webhooks.retry = "1d,1d,1d,1d,1d,1d,1d".parse().expect("a schedule");
    })
    .await;
    let (endpoint_id, _) = create_endpoint(&app, json!({ "url": receiver.url("/down") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;
    set_tag(&app, &customer, &tag, "a").await;
    receiver.wait_for(1).await;

    // Act: four days of failures leave it enabled; the fifth disables it.
    for day in 1..=5 {
        wait_messages(&app, &endpoint_id, |l| {
            l.first()
                .is_some_and(|m| m["attemptCount"] == day && m["status"] == "QUEUED")
        })
        .await;
        assert_eq!(
            endpoint(&app, &endpoint_id).await["enabled"],
            true,
            "day {day}"
        );
        app.clock.advance(chrono::Duration::days(1));
        receiver.wait_for(day as usize + 1).await;
    }

    // Assert
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let disabled = loop {
        let now = endpoint(&app, &endpoint_id).await;
        if now["enabled"] == false {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "still enabled: {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        disabled["disabledReason"],
        "failing without a success for 120 h"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sink.count() == 0 {
        assert!(std::time::Instant::now() < deadline, "no staff email came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mail = sink.messages().remove(0);
    assert_eq!(mail.to, vec!["<ops@shop.example>".to_owned()]);
    assert!(
        mail.data
            .contains(&format!("Nudge disabled webhook endpoint {endpoint_id}")),
        "{}",
        mail.data
    );
}

#[tokio::test]
async fn segment_joins_reach_an_endpoint_that_wants_that_segment_only() {
    // Arrange: two segments; the endpoint wants joins of the first.
    let receiver = Receiver::start().await;
    let app = spawn_local().await;
    let segment = |name: &'static str, tag: String| {
        let app = &app;
        async move {
            let data = app
                .admin_data(
                    "mutation($input: SegmentInput!) { createSegment(input: $input) { segment { id } } }",
                    json!({ "input": { "name": name, "condition": { "hasTag": { "tagId": tag } } } }),
                )
                .await;
            data["createSegment"]["segment"]["id"]
                .as_str()
                .expect("segment id")
                .to_owned()
        }
    };
    let (customer, vip) = customer_and_tag(&app, "ann").await;
    let wanted = segment("VIPs", vip.clone()).await;
    segment("Also VIPs", vip.clone()).await;
    create_endpoint(
        &app,
        json!({ "url": receiver.url("/segments"), "eventTypes": ["SEGMENT_JOINED"], "segmentIds": [wanted] }),
    )
    .await;

    // Act: the customer joins both segments.
    set_tag(&app, &customer, &vip, "").await;

    // Assert: only the wanted segment's join arrives, with the segment's name and reason.
    let calls = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.calls().len(), 1);
    let body = calls[0].json();
    assert_eq!(body["type"], "segment.joined");
    assert_eq!(
        body["data"]["segment"],
        json!({ "id": wanted, "name": "VIPs" })
    );
    assert_eq!(body["data"]["customer"]["externalId"], "ann");
    assert!(body["data"]["reason"].as_str().is_some());
}

#[tokio::test]
async fn erasing_a_customer_drops_their_unsent_messages_but_tells_their_segment_leave() {
    // Arrange: messages about Ann wait (this server does not send): her tag, her join.
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|s| {
        local_hooks(s);
        s.webhooks.send = false;
    })
    .await;
    let (endpoint_id, _) = create_endpoint(&app, json!({ "url": receiver.url("/all") })).await;
    let (customer, vip) = customer_and_tag(&app, "ann").await;
    app.admin_data(
        "mutation($input: SegmentInput!) { createSegment(input: $input) { segment { id } } }",
        json!({ "input": { "name": "VIPs", "condition": { "hasTag": { "tagId": vip } } } }),
    )
    .await;
    set_tag(&app, &customer, &vip, "gold").await;
    let before: Vec<Value> = messages(&app, &endpoint_id)
        .await
        .iter()
        .map(|m| m["eventType"].clone())
        .collect();
    assert_eq!(before, [json!("tag.set"), json!("segment.joined")]);

    // Act
    let deleted = app
        .admin_data(
            "mutation($id: ID!) { deleteCustomer(id: $id) { deletedCustomerId } }",
            json!({ "id": customer }),
        )
        .await;
    assert_eq!(deleted["deleteCustomer"]["deletedCustomerId"], customer);

    // Assert: only the leave is left, and it is sent with the reason.
    let left = messages(&app, &endpoint_id).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["eventType"], "segment.left");
    let mut settings = crate::helpers::test_settings(&app.database_url);
    local_hooks(&mut settings);
    let sender = super::endpoints::in_test_sender(&app, settings).await;
    assert_eq!(sender.send_once().await.expect("a round"), 1);
    let body = receiver.wait_for(1).await[0].json();
    assert_eq!(body["type"], "segment.left");
    assert_eq!(body["data"]["reason"], "erased");
    assert_eq!(body["data"]["customer"]["externalId"], "ann");
}

#[tokio::test]
async fn retention_forgets_finished_messages_with_their_attempts_and_keeps_waiting_ones() {
    // Arrange: one change; one endpoint took it, the other failed and waits for a retry.
    let receiver = Receiver::start().await;
    receiver.script("/fail", &[500]);
    let app = spawn_local().await;
    let (ok, _) = create_endpoint(&app, json!({ "url": receiver.url("/ok") })).await;
    let (failing, _) = create_endpoint(&app, json!({ "url": receiver.url("/fail") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;
    set_tag(&app, &customer, &tag, "a").await;
    wait_messages(&app, &ok, |l| {
        l.first().is_some_and(|m| m["status"] == "SUCCEEDED")
    })
    .await;
    wait_messages(&app, &failing, |l| {
        l.first()
            .is_some_and(|m| m["attemptCount"] == 1 && m["status"] == "QUEUED")
    })
    .await;

    // Act: the retention period ended a day after the change.
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("db");
    let cutoff = nudge::clock::to_millis(crate::helpers::test_start()) + 86_400_000;
    let forgotten = nudge::domain::webhooks::messages::forget_before(&db, cutoff)
        .await
        .expect("forgotten");

    // Assert
    assert_eq!(forgotten, 1);
    assert!(messages(&app, &ok).await.is_empty());
    let waiting = messages(&app, &failing).await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["attempts"].as_array().map(Vec::len), Some(1));
    use sea_orm::ConnectionTrait;
    let attempts = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM webhook_attempts",
        ))
        .await
        .expect("count")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("n");
    assert_eq!(attempts, 1, "the forgotten message's attempt went with it");
}
