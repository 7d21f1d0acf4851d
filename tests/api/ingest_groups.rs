//! Many `recordEvents` calls at once: the writer records them together, and each still gets
//! the answer it would have got alone.

use crate::helpers::{
    TestDatabase, default_store, spawn_app, test_settings, test_start, user_errors,
};
use nudge::clock::{ManualClock, SharedClock};
use nudge::domain::ingest::{self, EventInput, EventPayload, Profile};
use nudge::error::AppError;
use nudge::startup::Application;
use serde_json::{Value, json};
use std::sync::Arc;

const RECORD: &str = "mutation($events: [EventInput!]!) { recordEvents(events: $events) { results { duplicate event { id } } userErrors { field code } } }";

fn logged_in(event_id: &str, customer: &str) -> EventInput {
    EventInput {
        event_id: event_id.into(),
        customer_external_id: customer.into(),
        occurred_at: None,
        payload: EventPayload::LoggedIn {},
    }
}

fn batch(events: Vec<EventInput>) -> ingest::CheckedBatch {
    ingest::check_batch(events, test_start()).expect("well-formed")
}

fn violations(answer: &ingest::CallResult) -> Vec<(String, String)> {
    match answer {
        Err(AppError::Invalid(violations)) => violations
            .iter()
            .map(|v| (v.field.join("."), format!("{:?}", v.code)))
            .collect(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_group_answers_each_call_as_if_it_ran_alone() {
    let app = spawn_app().await;
    let db = nudge::db::connect(&app.database_url, 2)
        .await
        .expect("connected");
    let other_content = EventInput {
        payload: EventPayload::NewsletterSubscribed {},
        ..logged_in("e1", "first")
    };
    let viewed_unknown = EventInput {
        payload: EventPayload::ProductViewed {
            product_external_id: "no-such-product".into(),
        },
        ..logged_in("e4", "viewer")
    };
    let calls = vec![
        batch(vec![logged_in("e1", "first")]),
        batch(vec![other_content]),
        batch(vec![logged_in("e1", "first"), logged_in("e3", "third")]),
        batch(vec![viewed_unknown]),
    ];

    let txn = nudge::db::begin_write(&db).await.expect("begun");
    let answers = ingest::record_group(&txn, &default_store(), &calls)
        .await
        .expect("recorded");
    txn.commit().await.expect("committed");

    let first = answers[0].as_ref().expect("the first call is recorded");
    assert!(!first[0].duplicate);
    assert_eq!(
        violations(&answers[1]),
        vec![("0.eventId".to_owned(), "Conflict".to_owned())]
    );
    let third = answers[2].as_ref().expect("the third call is recorded");
    assert!(third[0].duplicate, "e1 repeats the first call's event");
    assert_eq!(third[0].event.id, first[0].event.id);
    assert!(!third[1].duplicate);
    assert_eq!(
        violations(&answers[3]),
        vec![(
            "0.payload.productViewed.productExternalId".to_owned(),
            "NotFound".to_owned()
        )]
    );
    assert_eq!(
        app.customer_count().await,
        2,
        "first and third; no refused call's customer"
    );
}

#[tokio::test]
async fn a_call_that_fails_while_applied_fails_the_group_so_the_writer_can_retry_one_by_one() {
    let app = spawn_app().await;
    let db = nudge::db::connect(&app.database_url, 2)
        .await
        .expect("connected");
    let bad_email = EventInput {
        payload: EventPayload::Registered(Profile {
            email: Some("not an address".into()),
            ..Default::default()
        }),
        ..logged_in("bad", "bad-customer")
    };
    let calls = vec![batch(vec![logged_in("ok", "fine")]), batch(vec![bad_email])];

    let txn = nudge::db::begin_write(&db).await.expect("begun");
    let result = ingest::record_group(&txn, &default_store(), &calls).await;
    txn.rollback().await.expect("rolled back");

    match result {
        Err(AppError::Invalid(violations)) => {
            assert_eq!(violations[0].field.join("."), "0.payload.registered.email")
        }
        other => panic!("expected the group to fail, got {other:?}"),
    }
}

#[tokio::test]
async fn many_calls_at_once_each_get_their_own_answer() {
    let app = spawn_app().await;
    let key = app.create_key("STOREFRONT").await;
    let taken = json!([{ "eventId": "taken", "customerExternalId": "c-taken", "payload": { "loggedIn": true } }]);
    app.graphql(Some(&key), RECORD, json!({ "events": taken }))
        .await;

    let calls = (0..40).map(|i| {
        let (app, key) = (&app, key.clone());
        async move {
            let events: Value = match i % 10 {
                // Every fifth call sends the same event.
                0 | 5 => json!([{ "eventId": "shared", "customerExternalId": "c-shared", "payload": { "loggedIn": true } }]),
                3 => json!([
                    { "eventId": format!("ok-{i}"), "customerExternalId": format!("c-bad-{i}"), "payload": { "loggedIn": true } },
                    { "eventId": format!("bad-{i}"), "customerExternalId": format!("c-bad-{i}"), "payload": { "registered": { "email": "nope" } } }
                ]),
                4 => json!([{ "eventId": "taken", "customerExternalId": "c-taken", "payload": { "newsletterSubscribed": true } }]),
                _ => json!([{ "eventId": format!("e-{i}"), "customerExternalId": format!("c-{i}"), "payload": { "loggedIn": true } }]),
            };
            let response = app.graphql(Some(&key), RECORD, json!({ "events": events })).await;
            let answer = response["data"]["recordEvents"].clone();
            // An error is shown whole, whatever the assertion that meets it.
            assert!(!answer.is_null(), "call {i} failed: {response}");
            answer
        }
    });
    let answers = futures_util::future::join_all(calls).await;

    let mut shared_ids = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        match i % 10 {
            0 | 5 => {
                assert_eq!(answer["userErrors"], json!([]), "call {i}: {answer}");
                shared_ids.push(answer["results"][0]["event"]["id"].clone());
            }
            3 => assert_eq!(
                user_errors(answer),
                vec![(
                    "events.1.payload.registered.email".to_owned(),
                    "INVALID".to_owned()
                )],
                "call {i}"
            ),
            4 => assert_eq!(
                user_errors(answer),
                vec![("events.0.eventId".to_owned(), "CONFLICT".to_owned())],
                "call {i}"
            ),
            _ => assert_eq!(answer["userErrors"], json!([]), "call {i}: {answer}"),
        }
    }
    shared_ids.dedup();
    assert_eq!(shared_ids.len(), 1, "one event for every copy of `shared`");
    assert_eq!(
        app.customer_count().await,
        2 + 24,
        "c-taken, c-shared and one per plain call; none for the refused calls"
    );
}

/// End to end with real timing: both servers create the same unknown customer and write its
/// facts. Whether their writes interleave is up to the scheduler; the deterministic check of
/// the row lock is `a_second_writer_of_a_customer_waits_for_the_first_and_reads_its_changes`.
#[tokio::test]
async fn two_servers_recording_for_one_customer_create_it_once_and_keep_every_fact() {
    let database = TestDatabase::create().await;
    let mut servers = Vec::new();
    for _ in 0..2 {
        let clock: SharedClock = Arc::new(ManualClock::new(test_start()));
        let app = Application::build(test_settings(&database.url), clock)
            .await
            .expect("the application starts");
        servers.push(format!("http://127.0.0.1:{}/graphql", app.port()));
        tokio::spawn(app.run_until_stopped());
    }
    let db = nudge::db::connect(&database.url, 2)
        .await
        .expect("connected");
    let key = nudge::domain::api_keys::create(
        &db,
        test_start(),
        nudge::domain::api_keys::Scope::Storefront,
        "both",
        nudge::domain::api_keys::Verification::ServerSide,
    )
    .await
    .expect("key")
    .secret;
    let client = reqwest::Client::new();

    // One server records logins, the other consent and a profile, all for the same customer.
    let calls = (0..30).map(|i| {
        let (client, key) = (&client, key.clone());
        let (url, payload) = if i % 2 == 0 {
            (&servers[0], json!({ "loggedIn": true }))
        } else if i == 29 {
            (&servers[1], json!({ "newsletterSubscribed": true }))
        } else {
            (&servers[1], json!({ "profileUpdated": { "firstName": format!("Ann{i}") } }))
        };
        let occurred_at = format!("2026-11-22T10:00:{:02}Z", i);
        async move {
            let events = json!([{ "eventId": format!("e{i}"), "customerExternalId": "shared", "occurredAt": occurred_at, "payload": payload }]);
            let response: Value = client
                .post(url)
                .bearer_auth(&key)
                .json(&json!({ "query": RECORD, "variables": { "events": events } }))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("json");
            assert_eq!(response["data"]["recordEvents"]["userErrors"], json!([]), "{response}");
        }
    });
    futures_util::future::join_all(calls).await;

    let customer = nudge::domain::customers::find_by_external_id(&db, "shared")
        .await
        .expect("read")
        .expect("created once");
    assert_eq!(
        customer.last_login_at,
        Some(nudge::clock::to_millis(
            "2026-11-22T10:00:28Z".parse().expect("instant")
        )),
        "the latest login"
    );
    assert!(
        customer.email_consent,
        "the subscription survived the logins"
    );
    assert!(
        customer.first_name.is_some(),
        "the profile survived the logins"
    );
}

#[tokio::test]
async fn a_second_writer_of_a_customer_waits_for_the_first_and_reads_its_changes() {
    let app = spawn_app().await;
    let db = nudge::db::connect(&app.database_url, 4)
        .await
        .expect("connected");
    let known = EventInput {
        payload: EventPayload::ProductViewed {
            product_external_id: "p1".into(),
        },
        ..logged_in("known", "shared")
    };
    app.create_products(&["p1"]).await;
    ingest::record_events(&db, test_start(), &default_store(), vec![known])
        .await
        .expect("the customer exists");
    let login = vec![batch(vec![logged_in("login", "shared")])];
    let first = nudge::db::begin_write(&db).await.expect("begun");
    ingest::record_group(&first, &default_store(), &login)
        .await
        .expect("recorded");

    let second = tokio::spawn({
        let db = db.clone();
        async move {
            let subscribe = EventInput {
                payload: EventPayload::NewsletterSubscribed {},
                ..logged_in("subscribe", "shared")
            };
            let txn = nudge::db::begin_write(&db).await.expect("begun");
            ingest::record_group(&txn, &default_store(), &[batch(vec![subscribe])])
                .await
                .expect("recorded");
            txn.commit().await.expect("committed");
        }
    });
    // Give the second writer time to reach the customer row before the first commits.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    first.commit().await.expect("committed");
    second.await.expect("the second writer finished");

    let customer = nudge::domain::customers::find_by_external_id(&db, "shared")
        .await
        .expect("read")
        .expect("created once");
    assert!(
        customer.last_login_at.is_some(),
        "the first writer's login is kept"
    );
    assert!(
        customer.email_consent,
        "the second writer's consent is kept"
    );
}
