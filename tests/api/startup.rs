use crate::helpers::{TestDatabase, default_store, test_settings, test_start};
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

#[tokio::test]
async fn events_stored_while_no_server_ran_are_processed_when_one_starts() {
    use nudge::domain::actions::{self, ActionInput, Effect};
    use nudge::domain::ingest::{EventInput, EventKind, EventPayload, record_events};
    use nudge::startup::{Bootstrap, prepare_database};

    // Arrange: a database with an action and an event, and no server running.
    let database = TestDatabase::create().await;
    let settings = test_settings(&database.url);
    let clock: SharedClock = Arc::new(ManualClock::new(test_start()));
    prepare_database(&settings, &clock, Bootstrap::MigrateOnly)
        .await
        .expect("migrated");
    let db = nudge::db::connect(&database.url, 2)
        .await
        .expect("connected");
    let tag = nudge::domain::tags::create(&db, test_start(), "seen")
        .await
        .expect("tag");
    let input = ActionInput {
        name: Some("mark logins".into()),
        trigger: Some(EventKind::LoggedIn),
        effects: Some(vec![Effect::SetTag {
            tag_id: tag.id,
            value: None,
        }]),
        ..Default::default()
    };
    actions::create(&db, test_start(), input)
        .await
        .expect("action");
    let event = EventInput {
        event_id: "offline-1".into(),
        customer_external_id: "c1".into(),
        occurred_at: None,
        payload: EventPayload::LoggedIn {},
    };
    let stored = record_events(&db, test_start(), &default_store(), vec![event])
        .await
        .expect("recorded");
    assert_eq!(stored[0].event.processed_at, None);

    // Act
    let app = start(&database.url).await;
    let key = app.bootstrap_key.as_ref().expect("key").secret.clone();
    let address = format!("http://127.0.0.1:{}/graphql", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let processed = loop {
        let response: serde_json::Value = client
            .post(&address)
            .bearer_auth(&key)
            .json(&json!({ "query": "{ event(eventId: \"offline-1\") { processedAt } customer(externalId: \"c1\") { tags { name } } }" }))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if !response["data"]["event"]["processedAt"].is_null() {
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not processed in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    // Assert
    assert_eq!(
        processed["data"]["customer"]["tags"],
        json!([{ "name": "seen" }])
    );
    db.close().await.expect("closed");
}

#[tokio::test]
async fn banners_shown_before_campaign_banners_existed_survive_the_migration() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    // Arrange: a database at migration 4 with one action's banner.
    let database = TestDatabase::create().await;
    let db = nudge::db::connect(&database.url, 1)
        .await
        .expect("connected");
    Migrator::up(&db, Some(4)).await.expect("migrated to 4");
    for sql in [
        "INSERT INTO customers (id, external_id, customer_type, wholesale, email_consent, sms_consent, orders_count, total_spent, attributes, created_at, updated_at) VALUES (1, 'c1', 'person', false, false, false, 0, 0, '{}', 0, 0)",
        "INSERT INTO customer_actions (id, name, active, trigger, condition, effects, repeat_policy, created_at, updated_at) VALUES (1, 'a', true, 'logged_in', '{}', '[]', 'every_time', 0, 0)",
        "INSERT INTO events (id, event_id, customer_id, kind, payload, fingerprint, occurred_at, received_at) VALUES (1, 'e1', 1, 'logged_in', '{}', 'f', 0, 0)",
        "INSERT INTO action_firings (id, action_id, customer_id, event_id, fired_at, effects) VALUES (7, 1, 1, 1, 0, '[]')",
        "INSERT INTO banners (id, customer_id, action_id, firing_id, effect_index, title, body_html, starts_at, created_at) VALUES (3, 1, 1, 7, 0, 'Hello', '<p>Hi</p>', 0, 0)",
    ] {
        db.execute_unprepared(sql).await.expect(sql);
    }

    // Act
    Migrator::up(&db, None).await.expect("migrated");
    let copied = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT owner_key, firing_id FROM banners WHERE id = 3",
        ))
        .await
        .expect("read")
        .expect("the banner is still there");
    db.execute_unprepared(
        "INSERT INTO banners (customer_id, owner_key, effect_index, title, body_html, starts_at, created_at) VALUES (1, 'run:1:step:s:effect:0', 0, 'Campaign', '<p/>', 0, 0)",
    )
    .await
    .expect("a banner without a firing");
    let fresh = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM banners WHERE owner_key = 'run:1:step:s:effect:0'",
        ))
        .await
        .expect("read")
        .expect("inserted");

    // Assert
    assert_eq!(
        copied.try_get::<String>("", "owner_key").expect("owner"),
        "firing:7:effect:0"
    );
    assert_eq!(
        copied
            .try_get::<Option<i64>>("", "firing_id")
            .expect("firing"),
        Some(7)
    );
    assert_eq!(
        fresh.try_get::<i64>("", "id").expect("id"),
        4,
        "ids go on after the copied rows"
    );
}

#[tokio::test]
async fn storefront_keys_made_before_identity_verification_keep_working_without_signatures() {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    // Arrange: a database at migration 6 with a storefront key.
    let database = TestDatabase::create().await;
    let db = nudge::db::connect(&database.url, 1)
        .await
        .expect("connected");
    Migrator::up(&db, Some(6)).await.expect("migrated to 6");
    let hash = nudge::domain::api_keys::key_hash("nk_sf_made_long_ago");
    db.execute_unprepared(&format!(
        "INSERT INTO api_keys (id, name, scope, prefix, key_hash, created_at) VALUES (5, 'shop', 'storefront', 'nk_sf_made_l', '{hash}', 0)"
    ))
    .await
    .expect("a key");

    // Act
    Migrator::up(&db, None).await.expect("migrated");
    let principal = nudge::domain::api_keys::KeyCache::default()
        .authenticate(&db, chrono::Utc::now(), "nk_sf_made_long_ago")
        .await
        .expect("the key still works");

    // Assert
    assert_eq!(principal.key_id, 5);
    assert!(principal.identity.is_none());
    assert!(principal.check_customer("1001", None).is_ok());
    db.close().await.expect("closed");
}
