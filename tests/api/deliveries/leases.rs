//! Claims with leases: a dead process's lease is recovered, two dispatchers send each message
//! once, and a dispatcher killed mid-round resends at most what was in flight.

use super::*;

#[tokio::test]
async fn a_lease_of_a_dead_process_is_recovered_and_the_message_sent() {
    // Arrange: a delivery claimed by a process that died (its lease ended a minute ago);
    // the frequency cap is on and must not count the message against itself.
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |s| {
        fast(s);
        s.delivery.email.smtp_url = Some(url.into());
        s.delivery.email_cap = Some(Duration::from_secs(16 * 3600));
    })
    .await;
    customer_and_action(&app, email_effect(), json!({})).await;
    log_in(&app, "l1").await;
    wait_for(&app, 0, "SENT").await;
    let db = sea_orm::Database::connect(&app.database_url)
        .await
        .expect("db");
    use sea_orm::ConnectionTrait;
    let past = nudge::clock::to_millis(crate::helpers::test_start()) - 60_000;
    db.execute_unprepared(&format!(
        "UPDATE deliveries SET status = 'sending', lease_owner = 'dead-process', lease_until = {past}, due_at = {past}"
    ))
    .await
    .expect("updated");

    // Act / Assert: the running dispatcher takes it over.
    let recovered = wait_until(&app, |l| {
        l.first()
            .is_some_and(|d| d["status"] == "SENT" && d["attemptCount"] == 2)
    })
    .await[0]
        .clone();
    assert_eq!(recovered["attempts"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        sink.count(),
        2,
        "at most the message in flight is sent twice"
    );
}

/// Two processes on one database (PostgreSQL in CI): each claims with a lease, none sends a
/// message the other took.
#[tokio::test]
async fn two_dispatchers_on_one_database_send_each_message_once() {
    use nudge::clock::{ManualClock, SharedClock};
    use nudge::db::raw_statement;
    use sea_orm::ConnectionTrait;
    use std::sync::Arc;

    // Arrange: two servers sharing a database and an SMTP server.
    let sink = SmtpSink::start().await;
    let database = crate::helpers::TestDatabase::create().await;
    for _ in 0..2 {
        let mut settings = crate::helpers::test_settings(&database.url);
        fast(&mut settings);
        settings.delivery.email.smtp_url = Some(sink.url().into());
        settings.delivery.batch = 20;
        let clock: SharedClock = Arc::new(ManualClock::new(crate::helpers::test_start()));
        let app = nudge::startup::Application::build(settings, clock)
            .await
            .expect("the application starts");
        tokio::spawn(app.run_until_stopped());
    }
    // Act: 300 consenting customers, one queued email each.
    let db = queue_marketing_emails(&database.url, 300).await;
    let backend = db.get_database_backend();

    // Assert: every message sent once, each with one attempt.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sink.count() < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "sent {}",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mails = sink.messages();
    let mut recipients: Vec<&String> = mails.iter().flat_map(|m| &m.to).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!((mails.len(), recipients.len()), (300, 300));
    let row = db
        .query_one_raw(raw_statement(
            backend,
            "SELECT COUNT(*) AS n, MAX(attempts) AS most FROM deliveries WHERE status = 'sent'",
            vec![],
        ))
        .await
        .expect("query")
        .expect("row");
    let sent: i64 = row.try_get("", "n").expect("n");
    let most: i32 = row.try_get("", "most").expect("most");
    assert_eq!((sent, most), (300, 1));
}

/// `count` consenting customers with one queued marketing email each, written directly.
async fn queue_marketing_emails(url: &str, count: usize) -> sea_orm::DatabaseConnection {
    use nudge::db::raw_statement;
    use sea_orm::ConnectionTrait;
    let db = nudge::db::connect(url, 2).await.expect("connected");
    let backend = db.get_database_backend();
    let now = nudge::clock::to_millis(crate::helpers::test_start());
    let json = if backend == sea_orm::DbBackend::Postgres {
        "'{}'::json"
    } else {
        "'{}'"
    };
    let numbers = if backend == sea_orm::DbBackend::Postgres {
        format!("SELECT generate_series(1, {count}) AS i")
    } else {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) SELECT i FROM n"
        )
    };
    for sql in [
        format!(
            "INSERT INTO customers (external_id, customer_type, wholesale, email, email_consent, \
             sms_consent, orders_count, total_spent, attributes, created_at, updated_at) \
             SELECT 'c' || i, 'person', false, 'c' || i || '@example.com', true, false, 0, 0, \
             {json}, ?, ? FROM ({numbers}) s"
        ),
        "INSERT INTO deliveries (dedupe_key, channel, purpose, customer_id, subject, body_text, \
         status, created_at, due_at) SELECT 'm' || id, 'email', 'marketing', id, 'Hi', \
         'Hello {{ customer.email }}', 'queued', ?, ? FROM customers"
            .to_owned(),
    ] {
        db.execute_raw(raw_statement(backend, &sql, vec![now.into(), now.into()]))
            .await
            .expect("inserted");
    }
    db
}

/// A dispatcher killed in the middle of a round (its task aborted, as `kill -9` would stop
/// it) leaves sent but unrecorded at most the messages in flight; the next dispatcher, once
/// the leases end, sends the rest — so at most `concurrency` recipients get a message twice.
#[tokio::test]
async fn a_dispatcher_killed_mid_round_sends_at_most_what_was_in_flight_twice() {
    use nudge::clock::{ManualClock, SharedClock};
    use nudge::domain::deliveries::Dispatcher;
    use std::sync::Arc;

    // Arrange: 300 queued emails; a server that sends nothing itself.
    let sink = SmtpSink::start().await;
    let concurrency = 8;
    let configure = |s: &mut Settings| {
        fast(s);
        s.delivery.email.smtp_url = Some(sink.url().into());
        s.delivery.batch = 200;
        s.delivery.concurrency = concurrency;
    };
    let app = spawn_app_with(|s| {
        configure(s);
        s.delivery.dispatch = false;
    })
    .await;
    let db = queue_marketing_emails(&app.database_url, 300).await;
    let mut settings = crate::helpers::test_settings(&app.database_url);
    configure(&mut settings);
    let settings = Arc::new(settings);
    let clock = ManualClock::new(crate::helpers::test_start());
    let shared: SharedClock = Arc::new(clock.clone());
    let dispatcher = || async {
        let senders = nudge::startup::build_senders(&settings, &db, &shared)
            .await
            .expect("senders");
        Dispatcher::new(
            db.clone(),
            shared.clone(),
            senders,
            settings.clone(),
            Arc::new(nudge::domain::deliveries::follow::Nothing),
        )
    };

    // Act: kill the first dispatcher once about 60 mails went out.
    let first = dispatcher().await;
    let round = tokio::spawn(async move { first.dispatch_once().await });
    while sink.count() < 60 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    round.abort();
    let _ = round.await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let received_before = sink.count();
    let recorded = deliveries_with_status(&db, "sent").await;
    // The leases end; another dispatcher takes over and sends everything left.
    clock.advance(chrono::Duration::seconds(121));
    let second = dispatcher().await;
    while second.dispatch_once().await.expect("a round") > 0 {}

    // Assert
    let mails = sink.messages();
    let mut recipients: Vec<&String> = mails.iter().flat_map(|m| &m.to).collect();
    recipients.sort();
    recipients.dedup();
    let twice = mails.len() - recipients.len();
    assert!((60..300).contains(&received_before), "{received_before}");
    assert!(
        received_before - recorded <= concurrency,
        "{received_before} received, {recorded} recorded"
    );
    assert_eq!(recipients.len(), 300, "none is lost");
    assert!(twice <= concurrency, "{twice} sent twice");
    assert_eq!(deliveries_with_status(&db, "sent").await, 300);
}

async fn deliveries_with_status(db: &sea_orm::DatabaseConnection, status: &str) -> usize {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(nudge::db::raw_statement(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM deliveries WHERE status = ?",
            vec![status.into()],
        ))
        .await
        .expect("query")
        .expect("row");
    row.try_get::<i64>("", "n").expect("n") as usize
}
