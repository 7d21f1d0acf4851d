//! SMS through a mock Twilio-compatible API: status callbacks, retries with backoff, and
//! outcomes that are unknown or final.

use super::*;

#[tokio::test]
async fn an_sms_goes_to_the_api_and_the_status_callback_marks_it_delivered() {
    // Arrange
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2010-04-01/Accounts/AC123/Messages.json"))
        .and(body_string_contains("To=%2B14155550111"))
        .and(body_string_contains("From=%2B14155550100"))
        .and(body_string_contains(
            "StatusCallback=https%3A%2F%2Fnudge.example%2Fsms%2Fstatus",
        ))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM1", "status": "queued" })),
        )
        .expect(1)
        .mount(&api)
        .await;
    let app = spawn_with_sms(&api).await;
    customer_and_action(
        &app,
        json!({ "sendSms": { "body": "Hi {{ customer.first_name }}" } }),
        json!({}),
    )
    .await;

    // Act
    log_in(&app, "l1").await;
    let sent = wait_for(&app, 0, "SENT").await;

    // Assert
    assert_eq!(sent["providerId"], "SM1");
    assert_eq!(sent["bodyText"], "Hi Ann");
    let requests = api.received_requests().await.expect("recorded");
    let auth = requests[0].headers["authorization"]
        .to_str()
        .unwrap_or_default();
    assert!(auth.starts_with("Basic "), "basic auth");

    // A callback with a bad signature is refused; a signed one is recorded.
    let params = vec![
        ("MessageSid".to_owned(), "SM1".to_owned()),
        ("MessageStatus".to_owned(), "delivered".to_owned()),
    ];
    let url = format!("{}/sms/status", app.address);
    let forged = app
        .client
        .post(&url)
        .header("X-Twilio-Signature", "bad")
        .form(&params)
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), 403);
    let signature = nudge::delivery::sms::twilio_signature(
        "secret-token",
        "https://nudge.example/sms/status",
        &params,
    );
    let signed = app
        .client
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .expect("sent");
    assert_eq!(signed.status(), 204);
    let delivered = wait_for(&app, 0, "DELIVERED").await;
    assert_eq!(delivered["trackingEvents"][0]["kind"], "delivered");

    // An inbound STOP revokes SMS consent and suppresses the number.
    let inbound = vec![
        ("From".to_owned(), "+14155550111".to_owned()),
        ("Body".to_owned(), " stop ".to_owned()),
    ];
    let signature = nudge::delivery::sms::twilio_signature(
        "secret-token",
        "https://nudge.example/sms/inbound",
        &inbound,
    );
    let stop = app
        .client
        .post(format!("{}/sms/inbound", app.address))
        .header("X-Twilio-Signature", signature)
        .form(&inbound)
        .send()
        .await
        .expect("sent");
    assert_eq!(stop.status(), 200);
    let customer = app
        .admin_data(
            "{ customer(externalId: \"ann\") { consent { sms { granted source } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        customer["customer"]["consent"]["sms"],
        json!({ "granted": false, "source": "sms STOP" })
    );
    log_in(&app, "l2").await;
    let skipped = wait_for(&app, 1, "SKIPPED").await;
    assert_eq!(skipped["reason"], "suppressed: stop");
}

#[tokio::test]
async fn transient_sms_failures_are_retried_with_backoff_until_sent() {
    // Arrange: a 500, then a 429, then success.
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({ "message": "oops" })))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({ "message": "slow down" })))
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "sid": "SM9" })))
        .mount(&api)
        .await;
    let app = spawn_with_sms(&api).await;
    customer_and_action(&app, json!({ "sendSms": { "body": "Hello" } }), json!({})).await;

    // Act / Assert: each retry waits for its backoff on the injected clock.
    log_in(&app, "l1").await;
    // Queued again after its first attempt (not still queued before it, nor sending).
    let first = wait_until(&app, |l| {
        l.first()
            .is_some_and(|d| d["attemptCount"] == 1 && d["status"] == "QUEUED")
    })
    .await[0]
        .clone();
    assert_eq!(first["reason"], "attempt 1 failed: HTTP 500: oops");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        api.received_requests().await.expect("recorded").len(),
        1,
        "not before its time"
    );
    app.clock.advance(chrono::Duration::seconds(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while api.received_requests().await.expect("recorded").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "second attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its outcome is written (and its next due time taken from the clock) before the clock
    // moves on: a request received is not yet an attempt recorded.
    wait_until(&app, |l| {
        l.first()
            .is_some_and(|d| d["attemptCount"] == 2 && d["status"] == "QUEUED")
    })
    .await;
    app.clock.advance(chrono::Duration::seconds(59));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        api.received_requests().await.expect("recorded").len(),
        2,
        "the second wait is 60 s"
    );
    app.clock.advance(chrono::Duration::seconds(1));
    let sent = wait_for(&app, 0, "SENT").await;
    let outcomes: Vec<&str> = sent["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter_map(|a| a["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, vec!["transient", "transient", "sent"]);
    assert_eq!(sent["attempts"][1]["detail"], "HTTP 429: slow down");
}

#[tokio::test]
async fn a_timeout_is_unknown_and_never_resent_and_a_bad_request_fails_at_once() {
    // Arrange: the API answers after the client gave up.
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Body=slow"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(3)))
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("Body=bad"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({ "message": "invalid To" })))
        .mount(&api)
        .await;
    let app = spawn_with_sms(&api).await;
    customer_and_action(&app, json!({ "sendSms": { "body": "slow" } }), json!({})).await;
    app.create_action(json!({
        "name": "Bad",
        "trigger": "LOGGED_IN",
        "effects": [{ "sendSms": { "body": "bad" } }],
        "repeat": { "kind": "EVERY_TIME" }
    }))
    .await;

    // Act
    log_in(&app, "l1").await;

    // Assert
    let list = wait_until(&app, |l| {
        l.len() == 2
            && l.iter()
                .all(|d| d["status"] != "QUEUED" && d["status"] != "SENDING")
    })
    .await;
    let by_body = |body: &str| {
        list.iter()
            .find(|d| d["bodyText"] == body)
            .cloned()
            .expect("the delivery")
    };
    let slow = by_body("slow");
    assert_eq!(slow["status"], "UNKNOWN");
    assert_eq!(by_body("bad")["status"], "FAILED");
    assert_eq!(by_body("bad")["reason"], "HTTP 400: invalid To");
    app.clock.advance(chrono::Duration::hours(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = deliveries(&app).await;
    assert!(again.iter().all(|d| d["attemptCount"] == 1), "{again:?}");
}
