//! Statistics benchmark. Not a test: it prints figures.
//!
//! A shop of 1,000,000 sent email deliveries over 90 days across 50 campaigns of 5 message
//! steps, 300,000 opens, 100,000 clicks (20 links) and 20,000 credited orders; the facts those
//! writes note, folded by the folder. Then it times:
//! - a campaign's 90-day statistics with per-step and per-day figures (both day bases), and
//!   the whole shop's, against the floor of one trivial statement and the scan a dashboard
//!   without rollups would run over the raw tables;
//! - the dispatcher sending 10,000 emails to a local SMTP server with statistics noted (and
//!   the folder running) and without, alternately.
//!
//! Run it with:
//!
//!     cargo bench --bench stats
//!     NUDGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench stats
//!
//! `NUDGE_BENCH_DELIVERIES` changes the shop's size (default 1,000,000).

#[path = "bench_db.rs"]
mod bench_db;
#[path = "../tests/api/smtp_sink.rs"]
#[allow(dead_code)]
mod smtp_sink;

use bench_db::{BenchDb, exec, numbers, scalar, size};
use chrono::{Days, NaiveDate};
use nudge::clock::{SharedClock, to_millis};
use nudge::config::Settings;
use nudge::domain::deliveries::Dispatcher;
use nudge::domain::stats::fold;
use nudge::domain::stats::read::{self, Basis, Range};
use nudge::domain::stats::{Scope, set_recording};
use nudge::startup::build_senders;
use sea_orm::{DatabaseConnection, DbBackend};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CAMPAIGNS: i64 = 50;
const STEPS: i64 = 5;
const DAY_MS: i64 = 86_400_000;
/// The first day of the shop's 90 days: 2026-09-01 (UTC).
const START_MS: i64 = 1_788_220_800_000;

/// The raw tables: deliveries spread evenly over 90 days, opens on 3 in 10, clicks on 1 in
/// 10, a credited order on 1 in 50 — and the facts their writes note.
async fn seed(db: &DatabaseConnection, n: i64) {
    let span = 90 * DAY_MS;
    exec(
        db,
        &format!(
            "INSERT INTO deliveries (id, dedupe_key, channel, purpose, customer_id, status, created_at, \
             due_at, sent_at, campaign_id, step_id, template_id, attempts) \
             SELECT i, 'bench:' || i, 'email', 'marketing', NULL, 'sent', {START_MS} + i * {span} / {n}, \
             {START_MS} + i * {span} / {n}, {START_MS} + i * {span} / {n}, i % {CAMPAIGNS} + 1, \
             's' || ((i / {CAMPAIGNS}) % {STEPS} + 1), i % {CAMPAIGNS} + 1, 1 FROM ({}) s",
            numbers(db, n)
        ),
    )
    .await;
    if db.get_database_backend() == DbBackend::Postgres {
        // The ids were given: the sequence goes on after them.
        exec(
            db,
            "SELECT setval(pg_get_serial_sequence('deliveries', 'id'), (SELECT MAX(id) FROM deliveries))",
        )
        .await;
    }
    exec(
        db,
        "INSERT INTO delivery_events (delivery_id, kind, at) \
         SELECT id, 'opened', sent_at + 3600000 FROM deliveries WHERE id % 10 < 3",
    )
    .await;
    exec(
        db,
        "INSERT INTO delivery_events (delivery_id, kind, at, detail) \
         SELECT id, 'clicked', sent_at + 7200000, 'https://shop.example/p/' || (id % 20) \
         FROM deliveries WHERE id % 10 = 0",
    )
    .await;
    let dims = "'email', campaign_id, step_id, NULL, template_id";
    let facts = [
        format!("'queued', '', created_at, created_at, 1, {dims}, NULL FROM deliveries"),
        format!("'sent', '', sent_at, sent_at, 1, {dims}, 'default' FROM deliveries"),
        format!(
            "'opens', '', e.at, d.sent_at, 1, {dims}, 'default' FROM delivery_events e \
             JOIN deliveries d ON d.id = e.delivery_id WHERE e.kind = 'opened'"
        ),
        format!(
            "'uniqueOpens', '', e.at, d.sent_at, 1, {dims}, 'default' FROM delivery_events e \
             JOIN deliveries d ON d.id = e.delivery_id WHERE e.kind = 'opened'"
        ),
        format!(
            "'clicks', '', e.at, d.sent_at, 1, {dims}, 'default' FROM delivery_events e \
             JOIN deliveries d ON d.id = e.delivery_id WHERE e.kind = 'clicked'"
        ),
        format!(
            "'uniqueClicks', '', e.at, d.sent_at, 1, {dims}, 'default' FROM delivery_events e \
             JOIN deliveries d ON d.id = e.delivery_id WHERE e.kind = 'clicked'"
        ),
        format!(
            "'linkClicks', e.detail, e.at, d.sent_at, 1, {dims}, 'default' FROM delivery_events e \
             JOIN deliveries d ON d.id = e.delivery_id WHERE e.kind = 'clicked'"
        ),
        format!(
            "'conversions', '', sent_at + 10800000, sent_at, 1, {dims}, 'default' FROM deliveries \
             WHERE id % 50 = 0"
        ),
        format!(
            "'revenue', '', sent_at + 10800000, sent_at, 2500 + id % 5000, {dims}, 'default' \
             FROM deliveries WHERE id % 50 = 0"
        ),
    ];
    for select in facts {
        exec(
            db,
            &format!(
                "INSERT INTO stat_facts (metric, key, at, cohort, delta, channel, campaign_id, \
                 step_id, action_id, template_id, locale) SELECT {select}"
            ),
        )
        .await;
    }
}

/// Median and 95th percentile of `samples`, in milliseconds.
fn spread(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

async fn time<F: std::future::Future<Output = ()>>(f: impl Fn() -> F, runs: usize) -> (f64, f64) {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    spread(samples)
}

/// A campaign and its steps, as `Campaign.stats` reads them.
fn campaign_scopes(c: i64) -> Vec<Scope> {
    let mut scopes = vec![Scope::Campaign(c)];
    scopes.extend((1..=STEPS).map(|s| Scope::Step(c, format!("s{s}"))));
    scopes
}

async fn reads(db: &DatabaseConnection) {
    let tz = chrono_tz::UTC;
    let from = NaiveDate::from_ymd_opt(2026, 9, 1).expect("date");
    let range = Range::new(from, from + Days::new(89), &["from"]).expect("range");
    let (floor, _) = time(
        || async {
            scalar(db, "SELECT CAST(1 AS BIGINT) AS n").await;
        },
        200,
    )
    .await;
    println!("floor: SELECT 1 median {floor:.3} ms");
    for basis in [Basis::Activity, Basis::Cohort] {
        // The first read of each campaign finds its pages cold; later reads, warm.
        let (mut first, mut warm) = (Vec::new(), Vec::new());
        for round in 0..4 {
            for c in 1..=CAMPAIGNS {
                let started = Instant::now();
                // As `Campaign.stats` reads: the campaign per day, its steps whole.
                let scopes = campaign_scopes(c);
                let tallies = read::tallies(db, &scopes[..1], &scopes[1..], range, basis, tz)
                    .await
                    .expect("read");
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if round == 0 {
                    first.push(ms);
                } else {
                    warm.push(ms);
                }
                if round == 0 && c == 1 {
                    let sent: i64 = tallies[&Scope::Campaign(1)]
                        .totals()
                        .iter()
                        .filter(|((m, _), _)| m.as_str() == "sent")
                        .map(|(_, v)| v)
                        .sum();
                    println!("campaign 1: {sent} sent over the 90 days");
                }
            }
        }
        let (cold, cold_p95) = spread(first);
        let (median, p95) = spread(warm);
        println!(
            "campaign, 90 days with 5 steps and per-day figures, {basis:?}: median {median:.2} ms, p95 {p95:.2} ms ({:.0}x the floor); first read of each campaign median {cold:.2} ms, p95 {cold_p95:.2} ms",
            median / floor
        );
    }
    let (median, p95) = time(
        || async {
            read::tallies(db, &[Scope::Shop], &[], range, Basis::Activity, tz)
                .await
                .expect("read");
        },
        30,
    )
    .await;
    println!("shop-wide, 90 days per day: median {median:.2} ms, p95 {p95:.2} ms");
    let (naive, _) = time(
        || async {
            scalar(
                db,
                "SELECT COUNT(*) AS n FROM (SELECT d.step_id, e.kind, COUNT(*) FROM deliveries d \
                 LEFT JOIN delivery_events e ON e.delivery_id = d.id WHERE d.campaign_id = 7 \
                 GROUP BY d.step_id, e.kind) s",
            )
            .await;
        },
        5,
    )
    .await;
    println!("for comparison, one campaign's counts scanned from the raw tables: {naive:.1} ms");
}

/// Queues `n` campaign emails, sends them all, returns messages per second.
async fn dispatch_rate(
    dispatcher: &Dispatcher,
    db: &DatabaseConnection,
    n: i64,
    round: i64,
) -> f64 {
    let now_ms = to_millis(chrono::Utc::now());
    exec(
        db,
        &format!(
            "INSERT INTO deliveries (dedupe_key, channel, purpose, customer_id, subject, body_html, \
             body_text, status, created_at, due_at, campaign_id, step_id, template_id) \
             SELECT 'round{round}:' || id, 'email', 'marketing', id, 'Hi {{{{ customer.first_name }}}}', \
             '<p>Hello</p><a href=\"https://shop.example/sale\">Sale</a>', 'Hello', 'queued', {now_ms}, {now_ms}, \
             id % {CAMPAIGNS} + 1, 's1', 999999 FROM customers WHERE external_id LIKE 'bench-%' LIMIT {n}"
        ),
    )
    .await;
    let started = Instant::now();
    while dispatcher.dispatch_once().await.expect("round") > 0 {}
    n as f64 / started.elapsed().as_secs_f64()
}

async fn dispatch(settings: &Settings, db: &DatabaseConnection, clock: &SharedClock) {
    let n = 10_000;
    let sink = smtp_sink::SmtpSink::start().await;
    let mut settings = settings.clone();
    settings.delivery.email.smtp_url = Some(sink.url().into());
    settings.delivery.quiet_hours = None;
    settings.delivery.email_cap = None;
    let now_ms = to_millis(clock.now());
    exec(
        db,
        &format!(
            "INSERT INTO customers (external_id, customer_type, wholesale, email, first_name, \
             email_consent, sms_consent, orders_count, total_spent, attributes, created_at, updated_at) \
             SELECT 'bench-' || i, 'person', false, 'c' || i || '@example.com', 'Customer' || i, \
             true, false, 0, 0, {}, {now_ms}, {now_ms} FROM ({}) s",
            if db.get_database_backend() == DbBackend::Postgres { "'{}'::json" } else { "'{}'" },
            numbers(db, n)
        ),
    )
    .await;
    let senders = build_senders(&settings, db, clock).await.expect("senders");
    let dispatcher = Dispatcher::new(
        db.clone(),
        clock.clone(),
        senders,
        Arc::new(settings.clone()),
        Arc::new(nudge::domain::deliveries::follow::Nothing),
    );
    let mut with = Vec::new();
    let mut without = Vec::new();
    for round in 0..6 {
        let on = round % 2 == 1;
        set_recording(on);
        let folder = on.then(|| {
            let db = db.clone();
            tokio::spawn(async move {
                loop {
                    let _ = fold::fold_all(&db, chrono_tz::UTC).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            })
        });
        let rate = dispatch_rate(&dispatcher, db, n, round).await;
        if let Some(folder) = folder {
            folder.abort();
        }
        if on {
            with.push(rate)
        } else {
            without.push(rate)
        }
        println!(
            "dispatch round {round} ({}): {rate:.0} emails/s",
            if on { "statistics on" } else { "off" }
        );
    }
    set_recording(true);
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on, off) = (median(with), median(without));
    println!(
        "dispatch: {on:.0} emails/s with statistics, {off:.0} without = {:.0} % (SMTP server got {})",
        100.0 * on / off,
        sink.count()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let n = size("NUDGE_BENCH_DELIVERIES", 1_000_000);
        let opened = BenchDb::open(
            "stats",
            Settings::from_env()
                .expect("settings")
                .database_max_connections,
        )
        .await;
        let (settings, clock, db) = (&opened.settings, &opened.clock, &opened.db);
        println!("database: {}; {n} deliveries", opened.label());
        let started = Instant::now();
        seed(db, n).await;
        let facts = scalar(db, "SELECT COUNT(*) AS n FROM stat_facts").await;
        println!(
            "seeded in {:.1} s: {facts} facts",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let folded = fold::fold_all(db, chrono_tz::UTC).await.expect("folded");
        let seconds = started.elapsed().as_secs_f64();
        let rows = scalar(db, "SELECT COUNT(*) AS n FROM stat_days").await;
        println!(
            "folded {folded} facts in {seconds:.1} s = {:.0} facts/s into {rows} day rows",
            folded as f64 / seconds
        );
        if db.get_database_backend() == DbBackend::Postgres {
            exec(db, "VACUUM ANALYZE stat_days").await;
            exec(db, "VACUUM ANALYZE stat_facts").await;
        } else {
            exec(db, "ANALYZE").await;
        }
        reads(db).await;
        dispatch(settings, db, clock).await;
        opened.remove();
    });
}
