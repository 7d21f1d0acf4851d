//! Ingest waits for a processor that is behind, and only for one that moves: the queue is
//! driven here without a processor, the test marking events processed in its place.

use crate::helpers::{TestDatabase, default_store, test_start};
use nudge::domain::ingest::backlog::STALL;
use nudge::domain::ingest::{self, EventInput, EventPayload, IngestQueue};
use nudge::supervisor::Supervisor;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::time::{Duration, Instant};

/// A migrated database and an ingest queue on it that holds groups while more than `limit`
/// events wait; nothing processes them.
async fn queue(limit: u64) -> (TestDatabase, DatabaseConnection, IngestQueue) {
    let database = TestDatabase::create().await;
    let setup = nudge::db::SetupSession::acquire(&database.url)
        .await
        .expect("connected");
    setup.migrate().await.expect("migrated");
    setup.release().await.expect("released");
    let db = nudge::db::connect(&database.url, 3)
        .await
        .expect("connected");
    let queue = IngestQueue::start(
        &Supervisor::default(),
        db.clone(),
        default_store(),
        1,
        limit,
        || {},
    );
    (database, db, queue)
}

fn logins(prefix: &str, n: usize) -> ingest::CheckedBatch {
    let events = (0..n)
        .map(|i| EventInput {
            event_id: format!("{prefix}-{i}"),
            customer_external_id: format!("c{i}"),
            occurred_at: None,
            payload: EventPayload::LoggedIn {},
        })
        .collect();
    ingest::check_batch(events, test_start()).expect("well-formed")
}

/// Marks up to `n` of the oldest unprocessed events processed, as the processor would.
async fn process_oldest(db: &DatabaseConnection, n: usize) {
    let sql = format!(
        "UPDATE events SET processed_at = 1 WHERE id IN \
         (SELECT id FROM events WHERE processed_at IS NULL ORDER BY id LIMIT {n})"
    );
    db.execute_unprepared(&sql).await.expect("marked");
}

#[tokio::test]
async fn a_call_waits_while_the_processor_works_through_a_backlog_over_the_bound() {
    let (_database, db, queue) = queue(10).await;
    queue.record(logins("first", 40)).await.expect("recorded");

    // Over the bound: the next call is held while the backlog moves, longer than a stall.
    let held = tokio::spawn({
        let queue = queue.clone();
        async move { queue.record(logins("second", 1)).await }
    });
    let moving_until = Instant::now() + STALL + Duration::from_millis(500);
    while Instant::now() < moving_until {
        process_oldest(&db, 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!held.is_finished(), "a call went in over the bound");
    }

    // Under the bound: it goes in.
    process_oldest(&db, 40).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("the held call is recorded once the backlog is under the bound")
        .expect("the call's task ran");
    assert_eq!(answer.expect("recorded").len(), 1);
}

#[tokio::test]
async fn a_processor_that_does_not_move_holds_ingest_no_longer_than_a_stall() {
    let (_database, _db, queue) = queue(10).await;
    queue.record(logins("first", 40)).await.expect("recorded");

    let started = Instant::now();
    queue.record(logins("second", 1)).await.expect("recorded");
    let first_wait = started.elapsed();
    let started = Instant::now();
    queue.record(logins("third", 1)).await.expect("recorded");
    let second_wait = started.elapsed();

    assert!(first_wait >= STALL, "held for {first_wait:?}");
    assert!(first_wait < STALL * 3, "held for {first_wait:?}");
    // The backlog still stands where it stood: nothing more is held for it.
    assert!(second_wait < STALL / 2, "held again for {second_wait:?}");
}

#[tokio::test]
async fn no_bound_never_holds_a_call() {
    let (_database, _db, queue) = queue(0).await;
    queue.record(logins("first", 100)).await.expect("recorded");

    let started = Instant::now();
    queue.record(logins("second", 100)).await.expect("recorded");

    assert!(
        started.elapsed() < STALL / 2,
        "held for {:?}",
        started.elapsed()
    );
}
