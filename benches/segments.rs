//! Segments benchmark, first part: `previewSegment` over 1,000,000 customers with random facts
//! (spend, orders, dates, attributes, birthday months, consents, zones, roles and tags). It
//! times each condition's count and first 20 members against the floor of a bare
//! `COUNT(*)` over the same table in the same run. Not a test: it prints figures.
//!
//! Run it with:
//!
//!     cargo bench --bench segments
//!     NUDGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench segments
//!
//! `NUDGE_BENCH_CUSTOMERS` changes the number of customers (default 1,000,000).

#[path = "bench_db.rs"]
#[allow(dead_code)]
mod bench_db;

use bench_db::{BenchDb, exec, numbers, size};
use nudge::clock::to_millis;
use nudge::domain::conditions::{Condition, DatedFact, Range};
use nudge::domain::message::Channel;
use nudge::domain::segments::preview::preview;
use sea_orm::{DatabaseConnection, DbBackend};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_MS: i64 = 86_400_000;

/// `n` customers whose facts vary with their number; one role held by a third, one tag by a
/// fifth.
async fn seed(db: &DatabaseConnection, n: i64, now_ms: i64) {
    let json = |text: &str| match db.get_database_backend() {
        DbBackend::Postgres => format!("CAST({text} AS json)"),
        _ => text.to_owned(),
    };
    let attributes = json(
        "CASE i % 3 WHEN 0 THEN '{\"tier\":\"gold\"}' WHEN 1 THEN '{\"tier\":\"silver\",\"n\":3}' ELSE '{}' END",
    );
    exec(
        db,
        &format!(
            "INSERT INTO customers (external_id, customer_type, wholesale, email_consent, sms_consent, \
             orders_count, total_spent, attributes, registered_at, last_order_at, birthday_month, \
             time_zone, created_at, updated_at) \
             SELECT 'seg-' || i, CASE WHEN i % 10 = 0 THEN 'company' ELSE 'person' END, i % 7 = 0, \
             i % 2 = 0, i % 3 = 0, i % 12, (i * 7919) % 800000, {attributes}, \
             {now_ms} - (i % 1400) * {DAY_MS}, CASE WHEN i % 4 = 0 THEN NULL ELSE {now_ms} - (i % 700) * {DAY_MS} END, \
             i % 12 + 1, CASE i % 3 WHEN 0 THEN 'Europe/Warsaw' WHEN 1 THEN 'UTC' ELSE NULL END, {now_ms}, {now_ms} \
             FROM ({}) s",
            numbers(db, n)
        ),
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO roles (name, system_name, created_at, updated_at) VALUES ('Gold', 'gold', {now_ms}, {now_ms})"
        ),
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO customer_roles (customer_id, role_id, assigned_at) \
             SELECT id, (SELECT MAX(id) FROM roles), {now_ms} FROM customers WHERE id % 3 = 0"
        ),
    )
    .await;
}

fn conditions() -> Vec<(&'static str, Condition)> {
    let spent = |min, max| {
        Condition::LifetimeSpent(Range {
            min: Some(min),
            max: Some(max),
        })
    };
    vec![
        (
            "Gold tier: lifetime spent 2,000–5,000",
            spent(200_000, 500_000),
        ),
        (
            "no order for 90–365 days",
            Condition::DaysSince {
                fact: DatedFact::LastOrder,
                range: Range {
                    min: Some(90),
                    max: Some(365),
                },
            },
        ),
        ("has the role", Condition::HasRole { role_ids: vec![1] }),
        (
            "attribute tier = gold and SMS consent",
            Condition::All(vec![
                Condition::Attribute {
                    key: "tier".into(),
                    equals: serde_json::json!("gold"),
                },
                Condition::Consent {
                    channel: Channel::Sms,
                },
            ]),
        ),
        (
            "birthday in December or January, not a company, in Warsaw",
            Condition::All(vec![
                Condition::BirthdayMonth {
                    months: vec![12, 1],
                },
                Condition::Not(Box::new(Condition::CustomerType { company: true })),
                Condition::TimeZone {
                    zones: vec!["Europe/Warsaw".into()],
                },
            ]),
        ),
    ]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let n = size("NUDGE_BENCH_CUSTOMERS", 1_000_000);
        let opened = BenchDb::open("segments", 2).await;
        let (clock, db) = (&opened.clock, &opened.db);
        let now_ms = to_millis(clock.now());
        let started = Instant::now();
        seed(db, n, now_ms).await;
        if db.get_database_backend() == DbBackend::Postgres {
            exec(db, "VACUUM ANALYZE customers").await;
            exec(db, "VACUUM ANALYZE customer_roles").await;
        }
        println!(
            "database: {}; {n} customers seeded in {:.1} s",
            opened.label(),
            started.elapsed().as_secs_f64()
        );
        let floor = {
            let started = Instant::now();
            exec(db, "SELECT COUNT(*) FROM customers").await;
            started.elapsed().as_secs_f64() * 1000.0
        };
        println!("floor: COUNT(*) over customers {floor:.0} ms");
        let field = vec!["condition".to_owned()];
        for (name, condition) in conditions() {
            let mut best = f64::MAX;
            let mut count = 0;
            for _ in 0..3 {
                let started = Instant::now();
                let found = preview(db, &condition, now_ms, &field)
                    .await
                    .expect("preview");
                best = best.min(started.elapsed().as_secs_f64() * 1000.0);
                count = found.member_count;
            }
            println!(
                "previewSegment {name}: {count} members in {best:.0} ms ({:.1}x the floor)",
                best / floor
            );
        }
        opened.remove();
    });
}
