use crate::helpers::{TestDatabase, test_settings, test_start};
use nudge::clock::{ManualClock, SharedClock};
use nudge::startup::Application;
use serde_json::json;
use std::sync::Arc;

async fn start(url: &str) -> Application {
    let clock: SharedClock = Arc::new(ManualClock::new(test_start()));
    Application::build(test_settings(url), clock)
        .await
        .expect("the application starts")
}

async fn key_count(url: &str) -> u64 {
    let db = nudge::db::connect(url, 1).await.expect("connected");
    let keys = nudge::domain::api_keys::list(&db)
        .await
        .expect("listed")
        .len() as u64;
    db.close().await.expect("closed");
    keys
}

#[tokio::test]
async fn a_restart_keeps_the_data_and_makes_no_second_admin_key() {
    let database = TestDatabase::create().await;
    let first = start(&database.url).await;
    let key = first
        .bootstrap_key
        .as_ref()
        .expect("first start makes a key")
        .secret
        .clone();
    let client = reqwest::Client::new();
    let address = format!("http://127.0.0.1:{}/graphql", first.port());
    tokio::spawn(first.run_until_stopped());
    client
        .post(&address)
        .bearer_auth(&key)
        .json(&json!({ "query": "mutation { createTag(name: \"kept\") { tag { id } } }" }))
        .send()
        .await
        .expect("sent");

    let second = start(&database.url).await;
    let address = format!("http://127.0.0.1:{}/graphql", second.port());
    let made_key = second.bootstrap_key.is_some();
    tokio::spawn(second.run_until_stopped());
    let tags: serde_json::Value = client
        .post(&address)
        .bearer_auth(&key)
        .json(&json!({ "query": "{ tags { name } }" }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");

    assert!(!made_key, "the second start finds a key and makes none");
    assert_eq!(tags["data"]["tags"], json!([{ "name": "kept" }]));
    assert_eq!(key_count(&database.url).await, 1);
}

#[tokio::test]
async fn processes_starting_together_migrate_once_and_make_one_key() {
    let database = TestDatabase::create().await;

    let (a, b, c) = tokio::join!(
        start(&database.url),
        start(&database.url),
        start(&database.url)
    );

    let made = [&a, &b, &c]
        .iter()
        .filter(|app| app.bootstrap_key.is_some())
        .count();
    assert_eq!(made, 1, "exactly one process makes the first admin key");
    assert_eq!(key_count(&database.url).await, 1);
}
