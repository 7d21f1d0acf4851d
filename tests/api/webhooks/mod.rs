//! Webhooks end to end: a real receiver (actix-web) gets signed messages that another HMAC
//! implementation verifies; endpoints and their checks; rotation; the retry schedule on the
//! injected clock; `410 Gone`; auto-disable with the staff email; order per customer; a
//! crash between commit and send; replay; SSRF refusal at send time.

mod delivery;
mod effects;
mod endpoints;
mod order;
pub(crate) mod receiver;

use crate::helpers::{TestApp, spawn_app_with};
use nudge::config::Settings;
use receiver::Receiver;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const ENDPOINT: &str = "id url description eventTypes roleIds tagIds segmentIds enabled disabledReason failingSince lastSuccessAt previousSecretExpiresAt";
pub(crate) const MESSAGE: &str = "id webhookId eventType status reason body customerId attemptCount nextAttemptAt attempts { attempt statusCode response error latencyMs }";

/// Webhooks to local http receivers, polled often.
pub(crate) fn local_hooks(settings: &mut Settings) {
    settings.webhooks.allow_http = true;
    settings.webhooks.allow_private = true;
    settings.webhooks.poll = Duration::from_millis(20);
}

pub(crate) async fn spawn_local() -> TestApp {
    spawn_app_with(local_hooks).await
}

/// Creates an endpoint with `input` (as admin); returns (id, secret).
pub(crate) async fn create_endpoint(app: &TestApp, input: Value) -> (String, String) {
    let data = app
        .admin_data(
            &format!("mutation($input: WebhookEndpointInput!) {{ createWebhookEndpoint(input: $input) {{ created {{ secret webhookEndpoint {{ {ENDPOINT} }} }} userErrors {{ field code message }} }} }}"),
            json!({ "input": input }),
        )
        .await;
    let created = &data["createWebhookEndpoint"]["created"];
    assert!(created.is_object(), "created: {data}");
    (
        created["webhookEndpoint"]["id"]
            .as_str()
            .expect("id")
            .to_owned(),
        created["secret"].as_str().expect("secret").to_owned(),
    )
}

/// The endpoint `id` with its newest messages first.
pub(crate) async fn endpoint(app: &TestApp, id: &str) -> Value {
    app.admin_data(
        &format!("query($id: ID!) {{ webhookEndpoint(id: $id) {{ {ENDPOINT} messages(last: 100) {{ edges {{ node {{ {MESSAGE} }} }} }} }} }}"),
        json!({ "id": id }),
    )
    .await["webhookEndpoint"]
        .clone()
}

/// The endpoint's messages, oldest first.
pub(crate) async fn messages(app: &TestApp, id: &str) -> Vec<Value> {
    endpoint(app, id).await["messages"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Waits (20 s at most) until the endpoint's messages satisfy `done`; returns them.
pub(crate) async fn wait_messages(
    app: &TestApp,
    id: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let list = messages(app, id).await;
        if done(&list) {
            return list;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the messages did not get there: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A customer `external_id` and tag `vip`; returns (customer id, tag id).
pub(crate) async fn customer_and_tag(app: &TestApp, external_id: &str) -> (String, String) {
    let customer = app
        .create_customer(json!({ "externalId": external_id }))
        .await;
    let tag = app.create_tag("vip").await;
    (customer, tag)
}

pub(crate) async fn set_tag(app: &TestApp, customer: &str, tag: &str, value: &str) {
    let data = app
        .admin_data(
            "mutation($c: ID!, $t: ID!, $v: String) { setCustomerTag(customerId: $c, tagId: $t, value: $v) { changed } }",
            json!({ "c": customer, "t": tag, "v": value }),
        )
        .await;
    assert_eq!(data["setCustomerTag"]["changed"], true, "{data}");
}

#[tokio::test]
async fn a_tag_change_reaches_the_endpoint_signed_so_another_hmac_implementation_verifies_it() {
    // Arrange: an endpoint for tag events, and a customer.
    let receiver = Receiver::start().await;
    let app = spawn_local().await;
    let (endpoint_id, secret) = create_endpoint(
        &app,
        json!({ "url": receiver.url("/hooks"), "description": "CRM", "eventTypes": ["TAG_SET", "TAG_REMOVED"] }),
    )
    .await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;

    // Act
    set_tag(&app, &customer, &tag, "gold").await;

    // Assert: one call, verified by ring's HMAC, with the envelope and the data README
    // documents.
    let calls = receiver.wait_for(1).await;
    let call = &calls[0];
    assert_eq!(call.path, "/hooks");
    assert_eq!(call.verified_by(&secret), 1, "signature {}", call.signature);
    assert!(call.id.starts_with("msg_"), "{}", call.id);
    let sent_at: i64 = call.timestamp.parse().expect("integer seconds");
    assert!((sent_at - crate::helpers::test_start().timestamp()).abs() < 5);
    let body = call.json();
    assert_eq!(body["type"], "tag.set");
    assert_eq!(body["timestamp"], "2026-11-22T12:00:00.000Z");
    assert_eq!(body["data"]["customer"]["externalId"], "ann");
    assert_eq!(body["data"]["customer"]["id"], customer);
    assert_eq!(body["data"]["tag"], json!({ "id": tag, "name": "vip" }));
    assert_eq!(body["data"]["value"], "gold");
    assert_eq!(body["data"]["previousValue"], Value::Null);
    assert_eq!(body["data"]["source"], "admin");
    // A secret Nudge did not issue verifies nothing.
    assert_eq!(
        call.verified_by("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        0
    );

    // The message is recorded as it was sent, with its attempt.
    let list = wait_messages(&app, &endpoint_id, |l| {
        l.first().is_some_and(|m| m["status"] == "SUCCEEDED")
    })
    .await;
    assert_eq!(list.len(), 1);
    let message = &list[0];
    assert_eq!(message["webhookId"], call.id.as_str());
    assert_eq!(message["eventType"], "tag.set");
    assert_eq!(message["body"], call.body.as_str());
    assert_eq!(message["attempts"][0]["statusCode"], 200);
    assert_eq!(message["attempts"][0]["response"], "answered 200");
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_until_the_overlap_ends() {
    // Arrange
    let receiver = Receiver::start().await;
    let app = spawn_local().await;
    let (endpoint_id, old) = create_endpoint(&app, json!({ "url": receiver.url("/r") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;

    // Act: rotate, then a change during the overlap and one after it.
    let rotated = app
        .admin_data(
            &format!("mutation($id: ID!) {{ rotateWebhookSecret(id: $id) {{ rotated {{ secret webhookEndpoint {{ {ENDPOINT} }} }} userErrors {{ code }} }} }}"),
            json!({ "id": endpoint_id }),
        )
        .await;
    let new = rotated["rotateWebhookSecret"]["rotated"]["secret"]
        .as_str()
        .expect("a new secret")
        .to_owned();
    assert_ne!(new, old);
    assert_eq!(
        rotated["rotateWebhookSecret"]["rotated"]["webhookEndpoint"]["previousSecretExpiresAt"],
        "2026-11-23T12:00:00+00:00"
    );
    set_tag(&app, &customer, &tag, "during").await;
    let during = receiver.wait_for(1).await.remove(0);
    app.clock.advance(chrono::Duration::hours(25));
    set_tag(&app, &customer, &tag, "after").await;
    let after = receiver.wait_for(2).await.remove(1);

    // Assert: both secrets verify during the overlap; only the new one after it.
    assert_eq!(during.signature.split(' ').count(), 2);
    assert_eq!(during.verified_by(&new), 1);
    assert_eq!(during.verified_by(&old), 1);
    assert_eq!(after.signature.split(' ').count(), 1);
    assert_eq!(after.verified_by(&new), 1);
    assert_eq!(after.verified_by(&old), 0);
}

#[tokio::test]
async fn failures_are_retried_on_the_specifications_schedule_of_the_injected_clock() {
    // Arrange: the endpoint fails twice, then answers 200.
    let receiver = Receiver::start().await;
    receiver.script("/flaky", &[500, 503]);
    let app = spawn_local().await;
    let (endpoint_id, _) = create_endpoint(&app, json!({ "url": receiver.url("/flaky") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;

    // Act / Assert: the first attempt is immediate and fails; the next is due 5 s later.
    set_tag(&app, &customer, &tag, "x").await;
    receiver.wait_for(1).await;
    let list = wait_messages(&app, &endpoint_id, |l| {
        l.first()
            .is_some_and(|m| m["attemptCount"] == 1 && m["status"] == "QUEUED")
    })
    .await;
    assert_eq!(list[0]["nextAttemptAt"], "2026-11-22T12:00:05+00:00");
    assert!(
        list[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("answered 500")),
        "{}",
        list[0]
    );
    let failing = endpoint(&app, &endpoint_id).await;
    assert_eq!(failing["failingSince"], "2026-11-22T12:00:00+00:00");

    // Not before its time: 4 s on, nothing more is sent.
    app.clock.advance(chrono::Duration::seconds(4));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.calls().len(), 1);

    app.clock.advance(chrono::Duration::seconds(1));
    receiver.wait_for(2).await;
    let list = wait_messages(&app, &endpoint_id, |l| {
        l.first()
            .is_some_and(|m| m["attemptCount"] == 2 && m["status"] == "QUEUED")
    })
    .await;
    assert_eq!(list[0]["nextAttemptAt"], "2026-11-22T12:05:05+00:00");

    app.clock.advance(chrono::Duration::minutes(5));
    let calls = receiver.wait_for(3).await;
    let list = wait_messages(&app, &endpoint_id, |l| {
        l.first().is_some_and(|m| m["status"] == "SUCCEEDED")
    })
    .await;

    // Every attempt carries the same id and body; the attempts are recorded with their answers.
    assert!(
        calls
            .iter()
            .all(|c| c.id == calls[0].id && c.body == calls[0].body)
    );
    let codes: Vec<&Value> = list[0]["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(503), &json!(200)]);
    assert_eq!(list[0]["attempts"][0]["response"], "answered 500");
    let healthy = endpoint(&app, &endpoint_id).await;
    assert_eq!(healthy["failingSince"], Value::Null);
    assert_eq!(healthy["lastSuccessAt"], "2026-11-22T12:05:05+00:00");
}

#[tokio::test]
async fn an_endpoint_that_answers_410_gone_is_disabled_at_once_and_its_messages_wait() {
    // Arrange
    let receiver = Receiver::start().await;
    receiver.script("/gone", &[410]);
    let app = spawn_local().await;
    let (endpoint_id, _) = create_endpoint(&app, json!({ "url": receiver.url("/gone") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;

    // Act
    set_tag(&app, &customer, &tag, "a").await;
    receiver.wait_for(1).await;
    let list = wait_messages(&app, &endpoint_id, |l| {
        l.first().is_some_and(|m| m["status"] == "FAILED")
    })
    .await;
    set_tag(&app, &customer, &tag, "b").await;

    // Assert: disabled with the reason; a later change is not sent to it.
    assert!(
        list[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("410"))
    );
    let gone = endpoint(&app, &endpoint_id).await;
    assert_eq!(gone["enabled"], false);
    assert_eq!(gone["disabledReason"], "the endpoint answered 410 Gone");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.calls().len(), 1);
    assert_eq!(messages(&app, &endpoint_id).await.len(), 1);
}

#[tokio::test]
async fn replay_sends_what_failed_again_with_the_same_webhook_id() {
    // Arrange: one attempt only, and it fails.
    let receiver = Receiver::start().await;
    receiver.script("/once", &[500]);
    let app = spawn_app_with(|s| {
        local_hooks(s);
        s.webhooks.retry = nudge::delivery::RetryPolicy::Waits(Vec::new());
    })
    .await;
    let (endpoint_id, _) = create_endpoint(&app, json!({ "url": receiver.url("/once") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;
    set_tag(&app, &customer, &tag, "a").await;
    receiver.wait_for(1).await;
    let failed = wait_messages(&app, &endpoint_id, |l| {
        l.first().is_some_and(|m| m["status"] == "FAILED")
    })
    .await;
    assert!(
        failed[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("gave up after 1 attempts")),
        "{}",
        failed[0]
    );

    // Act
    let replay = "mutation($e: ID!, $since: DateTime!) { replayWebhooks(endpointId: $e, since: $since) { queued userErrors { code } } }";
    let data = app
        .admin_data(
            replay,
            json!({ "e": endpoint_id, "since": "2026-11-22T11:00:00Z" }),
        )
        .await;

    // Assert: queued once more, sent with the same id, and it succeeds.
    assert_eq!(data["replayWebhooks"]["queued"], 1);
    let calls = receiver.wait_for(2).await;
    assert_eq!(calls[1].id, calls[0].id);
    let list = wait_messages(&app, &endpoint_id, |l| {
        l.first().is_some_and(|m| m["status"] == "SUCCEEDED")
    })
    .await;
    assert_eq!(list[0]["attempts"].as_array().map(Vec::len), Some(2));
    // Nothing failed since: a second replay queues nothing; `everything` queues the success.
    let again = app
        .admin_data(
            replay,
            json!({ "e": endpoint_id, "since": "2026-11-22T11:00:00Z" }),
        )
        .await;
    assert_eq!(again["replayWebhooks"]["queued"], 0);
    let all = app
        .admin_data(
            "mutation($e: ID!) { replayWebhooks(endpointId: $e, since: \"2026-11-22T11:00:00Z\", everything: true) { queued } }",
            json!({ "e": endpoint_id }),
        )
        .await;
    assert_eq!(all["replayWebhooks"]["queued"], 1);
    receiver.wait_for(3).await;
}

#[tokio::test]
async fn a_test_ping_reaches_the_endpoint_even_while_it_is_disabled() {
    // Arrange
    let receiver = Receiver::start().await;
    let app = spawn_local().await;
    let (endpoint_id, secret) = create_endpoint(
        &app,
        json!({ "url": receiver.url("/ping"), "enabled": false }),
    )
    .await;

    // Act
    let data = app
        .admin_data(
            &format!("mutation($e: ID!) {{ sendTestWebhook(endpointId: $e) {{ message {{ {MESSAGE} }} userErrors {{ code }} }} }}"),
            json!({ "e": endpoint_id }),
        )
        .await;

    // Assert
    assert_eq!(
        data["sendTestWebhook"]["message"]["eventType"],
        "webhook.test"
    );
    let call = receiver.wait_for(1).await.remove(0);
    assert_eq!(call.verified_by(&secret), 1);
    assert_eq!(call.json()["type"], "webhook.test");
    assert_eq!(call.json()["data"]["endpointId"], endpoint_id);
}

#[tokio::test]
async fn a_membership_change_wakes_the_sender_without_waiting_for_its_poll() {
    // Arrange: a sender that would look only once an hour by itself.
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|s| {
        local_hooks(s);
        s.webhooks.poll = Duration::from_secs(3600);
    })
    .await;
    create_endpoint(&app, json!({ "url": receiver.url("/soon") })).await;
    let (customer, tag) = customer_and_tag(&app, "ann").await;
    // Let the sender finish its first look and go to sleep.
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Act
    set_tag(&app, &customer, &tag, "a").await;

    // Assert: it arrives well within the poll interval (the receiver waits 20 s at most).
    let calls = receiver.wait_for(1).await;
    assert_eq!(calls[0].json()["type"], "tag.set");
}
