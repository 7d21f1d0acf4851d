//! Segments benchmark over 1,000,000 customers with varied facts (spend, orders, dates,
//! attributes, birthday months, consents, zones, a role). Not a test: it prints figures, each
//! beside a floor measured in the same run.
//!
//! 1. `previewSegment` for five conditions, against a bare `COUNT(*)`.
//! 2. Building 20 segments, one of them of about 300,000 members, against a raw
//!    `INSERT … SELECT` of the same rows into a bare table of the same columns and key, into
//!    `segment_members` itself, and into `segment_members` and the change log (the rows a
//!    build writes).
//! 3. A segment tick when no customer crosses a time boundary.
//! 4. The event processor's throughput (an action on every login) with the 20 segments,
//!    against the same run before they existed.
//! 5. `nudge export segment` of every customer: rows per second and the process's peak RSS
//!    (`/usr/bin/time`), against reading the same rows with one raw `SELECT`.
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
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
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
        build_tick_process_export(&opened, n, now_ms).await;
        opened.remove();
    });
}

/// Parts 2 to 5 (see the top of the file).
async fn build_tick_process_export(opened: &BenchDb, n: i64, now_ms: i64) {
    use nudge::domain::segments::{self, SegmentInput};
    use nudge::events::{BusMode, EventBus};
    let db = &opened.db;
    let bus = EventBus::new(BusMode::InProcess);
    let now = nudge::clock::from_millis(now_ms);

    // 4, before: the processor without segments.
    let before = process_logins(opened, &bus, n, 0, now_ms).await;

    // 2: the floor, then the build.
    let big = Condition::LifetimeSpent(Range {
        min: Some(0),
        max: Some(240_000),
    });
    let fragment = nudge::domain::conditions::sql::compile(&big, db.get_database_backend(), now_ms)
        .expect("sql");
    exec(
        db,
        "CREATE TABLE raw_members (segment_id BIGINT NOT NULL, customer_id BIGINT NOT NULL, \
         joined_at BIGINT NOT NULL, PRIMARY KEY (segment_id, customer_id))",
    )
    .await;
    let floor_started = Instant::now();
    db.execute_raw(nudge::db::raw_statement(
        db.get_database_backend(),
        &format!(
            "INSERT INTO raw_members (segment_id, customer_id, joined_at) \
             SELECT 1, c.id, {now_ms} FROM customers c WHERE {}",
            fragment.sql
        ),
        fragment.values.clone(),
    ))
    .await
    .expect("raw insert");
    let floor = floor_started.elapsed().as_secs_f64();
    // The same rows into the members table itself (its index by customer too), under a
    // segment id no segment has, then gone.
    let table_started = Instant::now();
    db.execute_raw(nudge::db::raw_statement(
        db.get_database_backend(),
        &format!(
            "INSERT INTO segment_members (segment_id, customer_id, joined_at) \
             SELECT -1, c.id, {now_ms} FROM customers c WHERE {}",
            fragment.sql
        ),
        fragment.values.clone(),
    ))
    .await
    .expect("raw insert into the members");
    let table_floor = table_started.elapsed().as_secs_f64();
    // And the log rows a build writes for them, so the two together are the same rows the
    // build writes.
    let log_started = Instant::now();
    db.execute_raw(nudge::db::raw_statement(
        db.get_database_backend(),
        &format!(
            "INSERT INTO membership_changes (kind, source, occurred_at, segment_id, customer_id, \
             reason, customer_external_id) SELECT 'segment_joined', 'segment:-1', {now_ms}, -1, \
             c.id, 'definition', c.external_id FROM customers c WHERE {} ORDER BY c.id",
            fragment.sql
        ),
        fragment.values.clone(),
    ))
    .await
    .expect("raw insert into the log");
    let same_rows_floor = table_floor + log_started.elapsed().as_secs_f64();
    exec(db, "DELETE FROM segment_members WHERE segment_id = -1").await;
    exec(db, "DELETE FROM membership_changes WHERE segment_id = -1").await;
    let started = Instant::now();
    let built = segments::create(
        db,
        &bus,
        now,
        SegmentInput {
            name: Some("Silver and below".into()),
            condition: Some(big),
            ..Default::default()
        },
    )
    .await
    .expect("segment");
    let took = started.elapsed().as_secs_f64();
    let members = segments::member_count(db, built.id()).await.expect("count");
    println!(
        "build: a segment of {members} members in {took:.2} s; raw INSERT … SELECT of the same rows {floor:.2} s ({:.1}x), into segment_members itself {table_floor:.2} s ({:.1}x), into segment_members and one log row each {same_rows_floor:.2} s ({:.1}x)",
        took / floor,
        took / table_floor,
        took / same_rows_floor
    );
    let mut others = 0.0;
    let mut more = conditions();
    more.extend(extra_conditions());
    for (i, (name, condition)) in more.into_iter().enumerate().take(19) {
        let started = Instant::now();
        segments::create(
            db,
            &bus,
            now,
            SegmentInput {
                name: Some(format!("{i}: {name}")),
                condition: Some(condition),
                ..Default::default()
            },
        )
        .await
        .expect("segment");
        others += started.elapsed().as_secs_f64();
    }
    println!("build: 19 more segments in {others:.1} s");
    if db.get_database_backend() == DbBackend::Postgres {
        exec(db, "VACUUM ANALYZE segment_members").await;
        exec(db, "VACUUM ANALYZE membership_changes").await;
    }

    // 3: ticks a minute apart, when nobody crosses a boundary (dates lie on whole days).
    let mut ticks = Vec::new();
    for minute in 1..=11 {
        let at = nudge::clock::from_millis(now_ms + minute * 60_000);
        let started = Instant::now();
        let moved = segments::tick::tick(db, &bus, at).await.expect("tick");
        ticks.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(moved.joined + moved.left, 0, "nobody crosses a boundary");
    }
    ticks.sort_by(f64::total_cmp);
    let select_one = {
        let started = Instant::now();
        exec(db, "SELECT 1").await;
        started.elapsed().as_secs_f64() * 1000.0
    };
    println!(
        "tick with nobody crossing: median {:.1} ms, worst {:.1} ms (floor SELECT 1: {select_one:.2} ms)",
        ticks[ticks.len() / 2],
        ticks[ticks.len() - 1]
    );

    // 4, after: the processor with the 20 segments.
    let after = process_logins(opened, &bus, n, 1, now_ms + 12 * 60_000).await;
    println!(
        "processor: {before:.0} events/s without segments, {after:.0} with 20 ({:.0} %)",
        after / before * 100.0
    );

    // 5: export every customer.
    let everyone = segments::create(
        db,
        &bus,
        now,
        SegmentInput {
            name: Some("Everyone".into()),
            condition: Some(Condition::All(Vec::new())),
            ..Default::default()
        },
    )
    .await
    .expect("segment");
    let floor_started = Instant::now();
    let raw = db
        .query_all_raw(nudge::db::raw_statement(
            db.get_database_backend(),
            &format!(
                "SELECT c.*, m.joined_at FROM segment_members m JOIN customers c ON c.id = m.customer_id \
                 WHERE m.segment_id = {} ORDER BY m.customer_id",
                everyone.id()
            ),
            [],
        ))
        .await
        .expect("raw rows")
        .len();
    let raw_rate = raw as f64 / floor_started.elapsed().as_secs_f64();
    let out = std::process::Command::new("/usr/bin/time")
        .args([
            "-f",
            "%e %M",
            env!("CARGO_BIN_EXE_nudge"),
            "export",
            "segment",
        ])
        .arg(everyone.id().to_string())
        .env("NUDGE_DATABASE_URL", &opened.settings.database_url)
        .env("NUDGE_LOG", "warn")
        .output()
        .expect("nudge export runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = out
        .stdout
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1);
    let timing = String::from_utf8_lossy(&out.stderr);
    let mut parts = timing.lines().last().unwrap_or_default().split_whitespace();
    let seconds: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    let peak_kib: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    println!(
        "export: {rows} rows ({:.0} MB) in {seconds:.2} s = {:.0} rows/s (raw SELECT of the rows in this process: {raw_rate:.0} rows/s), peak RSS {:.0} MB (the whole process, start and migration check included)",
        out.stdout.len() as f64 / 1e6,
        rows as f64 / seconds,
        peak_kib / 1024.0
    );
}

/// More conditions, so 20 segments have varied shapes.
fn extra_conditions() -> Vec<(&'static str, Condition)> {
    let count = |min, max| {
        Condition::OrdersCount(Range {
            min: Some(min),
            max: Some(max),
        })
    };
    let since = |fact, min, max| Condition::DaysSince {
        fact,
        range: Range {
            min: Some(min),
            max: Some(max),
        },
    };
    vec![
        ("one order", count(1, 1)),
        ("two to five orders", count(2, 5)),
        ("six or more orders", count(6, 100)),
        (
            "registered this month",
            since(DatedFact::Registration, 0, 30),
        ),
        (
            "registered 1–2 years ago",
            since(DatedFact::Registration, 365, 730),
        ),
        ("ordered this week", since(DatedFact::LastOrder, 0, 7)),
        ("lapsed 180–365 days", since(DatedFact::LastOrder, 180, 365)),
        ("wholesale", Condition::Wholesale { wholesale: true }),
        ("companies", Condition::CustomerType { company: true }),
        (
            "email consent",
            Condition::Consent {
                channel: Channel::Email,
            },
        ),
        (
            "in UTC",
            Condition::TimeZone {
                zones: vec!["UTC".into()],
            },
        ),
        (
            "birthday in June",
            Condition::BirthdayMonth { months: vec![6] },
        ),
        (
            "Platinum: over 5,000",
            Condition::LifetimeSpent(Range {
                min: Some(500_001),
                max: None,
            }),
        ),
        (
            "Gold in the role",
            Condition::All(vec![
                Condition::HasRole { role_ids: vec![1] },
                Condition::LifetimeSpent(Range {
                    min: Some(200_000),
                    max: Some(500_000),
                }),
            ]),
        ),
    ]
}

/// Records `batch`'s 20,000 logins of random customers and times the processor over them,
/// with an action that tags every login; events per second.
async fn process_logins(
    opened: &BenchDb,
    bus: &nudge::events::EventBus,
    n: i64,
    batch: i64,
    now_ms: i64,
) -> f64 {
    use nudge::domain::actions::{self, ActionInput, Effect, RepeatPolicy};
    use nudge::domain::ingest::EventKind;
    use nudge::domain::react::{Share, process_pending};
    let db = &opened.db;
    let events = 20_000;
    if batch == 0 {
        exec(db, &format!("INSERT INTO tags (name, created_at, updated_at) VALUES ('seen', {now_ms}, {now_ms})")).await;
        actions::create(
            db,
            nudge::clock::from_millis(now_ms),
            ActionInput {
                name: Some("tag every login".into()),
                trigger: Some(EventKind::LoggedIn),
                effects: Some(vec![Effect::SetTag {
                    tag_id: 1,
                    value: Some(format!("b{batch}")),
                }]),
                repeat: Some(RepeatPolicy::EveryTime),
                ..Default::default()
            },
        )
        .await
        .expect("action");
    }
    let payload = match db.get_database_backend() {
        DbBackend::Postgres => "CAST('{\"loggedIn\":{}}' AS json)",
        _ => "'{\"loggedIn\":{}}'",
    };
    exec(
        db,
        &format!(
            "INSERT INTO events (event_id, customer_id, kind, payload, fingerprint, occurred_at, received_at) \
             SELECT 'login-{batch}-' || i, (i * 104729) % {n} + 1, 'logged_in', {payload}, 'bench', {now_ms}, {now_ms} \
             FROM ({}) s",
            numbers(db, events)
        ),
    )
    .await;
    let store = &opened.settings.store;
    let now = nudge::clock::from_millis(now_ms);
    let started = Instant::now();
    let mut handled = 0;
    loop {
        let done = process_pending(db, bus, now, store, 500, &Share::All)
            .await
            .expect("processed");
        if done == 0 {
            break;
        }
        handled += done;
    }
    assert_eq!(handled as i64, events);
    events as f64 / started.elapsed().as_secs_f64()
}
