//! Campaign engine benchmark: enrols 1,000,000 inactive customers into an "inactive for 365
//! days" campaign with the planner, compares that with a raw `INSERT … SELECT` of the same rows
//! into the same table, then times ticks when nothing is due. Not a test: it prints figures.
//!
//!     cargo bench --bench campaigns                       # embedded SQLite (a temp file)
//!     NUDGE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench cargo bench --bench campaigns
//!
//! `NUDGE_BENCH_CUSTOMERS` changes the number of customers (default 1,000,000); the server's own
//! `NUDGE_*` settings apply (`NUDGE_SQLITE_CACHE_MB`, for one).

use chrono::{Duration, TimeZone, Utc};
use nudge::clock::{SharedClock, SystemClock, to_millis};
use nudge::config::{Settings, StoreSettings};
use nudge::db::{connect_with_cache, raw_statement};
use nudge::domain::campaigns::tick::{active_campaigns, plan};
use nudge::domain::campaigns::{
    self, Anchor, CampaignInput, CampaignStatus, InactivityBasis, Step, StepAction,
};
use nudge::domain::templates::{self, Channel, TemplateInput};
use nudge::events::{BusMode, EventBus};
use nudge::startup::{Bootstrap, prepare_database};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DAY_MS: i64 = 86_400_000;

async fn exec(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> u64 {
    db.execute_raw(raw_statement(db.get_database_backend(), sql, values))
        .await
        .expect("statement")
        .rows_affected()
}

/// Lets the database catch up after a bulk change, as it would on its own before the next
/// measured step: on PostgreSQL, what autovacuum does (`VACUUM ANALYZE` of `table`) and a
/// checkpoint, so the writes of the set-up are not flushed during the measurement; on SQLite,
/// a checkpoint of the write-ahead log (no `ANALYZE`: Nudge does not run it, so the query plans
/// stay the ones a server uses).
async fn settle(db: &DatabaseConnection, table: &str) {
    let statements = match db.get_database_backend() {
        DbBackend::Postgres => vec![format!("VACUUM ANALYZE {table}"), "CHECKPOINT".to_owned()],
        _ => vec!["PRAGMA wal_checkpoint(TRUNCATE)".to_owned()],
    };
    for sql in statements {
        exec(db, &sql, vec![]).await;
    }
}

/// Empties `campaign_runs` for the next enrolment and settles the database.
async fn empty_runs(db: &DatabaseConnection) {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "TRUNCATE campaign_runs, campaign_run_steps",
        // Without a WHERE clause SQLite truncates too.
        _ => "DELETE FROM campaign_runs",
    };
    exec(db, sql, vec![]).await;
    settle(db, "campaign_runs").await;
}

/// Customers `bench-1` … `bench-n`, each last seen 400 to 1,400 days before `now_ms`.
async fn seed_customers(db: &DatabaseConnection, n: i64, now_ms: i64) {
    let numbers = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT generate_series(1, ?) AS i".to_owned(),
        _ => "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
              SELECT i FROM n"
            .to_owned(),
    };
    let sql = format!(
        "INSERT INTO customers (external_id, customer_type, wholesale, email, email_consent, \
         sms_consent, orders_count, total_spent, attributes, last_login_at, created_at, updated_at) \
         SELECT 'bench-' || i, 'person', false, 'c' || i || '@example.com', true, false, 0, 0, \
         '{{}}', ? - (400 + i % 1000) * {DAY_MS}, ?, ? FROM ({numbers}) s"
    );
    let json_cast = if db.get_database_backend() == DbBackend::Postgres {
        sql.replace("'{}'", "'{}'::json")
    } else {
        sql
    };
    exec(
        db,
        &json_cast,
        vec![now_ms.into(), now_ms.into(), now_ms.into(), n.into()],
    )
    .await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let customers: i64 = std::env::var("NUDGE_BENCH_CUSTOMERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let temp = std::env::temp_dir().join(format!("nudge-campaigns-{}.db", std::process::id()));
        let url = std::env::var("NUDGE_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", temp.display()));
        let mut settings = Settings::from_env().expect("settings");
        settings.database_url = url.clone();
        let clock: SharedClock = Arc::new(SystemClock);
        prepare_database(&settings, &clock, Bootstrap::MigrateOnly)
            .await
            .expect("migrated");
        // The planner runs on the background pool.
        let cache_kib = settings.sqlite_cache_kib().background;
        let db = connect_with_cache(&url, 4, cache_kib)
            .await
            .expect("database");
        let now = Utc.with_ymd_and_hms(2027, 1, 4, 10, 0, 0).single().expect("instant");
        let now_ms = to_millis(now);
        println!(
            "database: {}; {customers} customers",
            if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" }
        );

        let started = Instant::now();
        seed_customers(&db, customers, now_ms).await;
        println!("seeded customers in {:.2} s", started.elapsed().as_secs_f64());
        settle(&db, "customers").await;

        let template = templates::create(
            &db,
            now,
            TemplateInput {
                name: Some("we miss you".into()),
                channel: Some(Channel::Email),
                subject: Some(Some("We miss you".into())),
                body_text: Some(Some("Come back!".into())),
                ..Default::default()
            },
        )
        .await
        .expect("template");
        campaigns::create(
            &db,
            now,
            CampaignInput {
                name: Some("win back".into()),
                status: Some(CampaignStatus::Active),
                anchor: Some(Anchor::Inactive {
                    basis: InactivityBasis::LastLogin,
                    days: 365,
                }),
                steps: Some(vec![Step {
                    id: "mail".into(),
                    action: StepAction::Message {
                        channel: Channel::Email,
                        template_id: template.id,
                        audience: None,
                        effects: vec![],
                    },
                }]),
                ..Default::default()
            },
        )
        .await
        .expect("campaign");
        let active = active_campaigns(&db, now.timestamp_millis())
            .await
            .expect("campaigns");
        let zone = settings.store.time_zone;

        // The planner's enrolment.
        let started = Instant::now();
        let enrolled = plan(&db, now, zone).await.expect("planned");
        let planner = started.elapsed().as_secs_f64();
        println!("planner enrolled {enrolled} runs in {planner:.2} s");

        // The same rows by hand, into the same table, emptied.
        empty_runs(&db).await;
        let campaign_id = active[0].model.id;
        let started = Instant::now();
        let raw = exec(
            &db,
            "INSERT INTO campaign_runs (campaign_id, customer_id, subject_key, subject_ref, order_id, \
             anchor_at, status, step_started_at, next_due_at, entered_at, updated_at) \
             SELECT ?, c.id, 'inactive:' || c.last_login_at, c.last_login_at, NULL, c.last_login_at, 'pending', ?, ?, ?, ? \
             FROM customers c WHERE c.last_login_at <= ?",
            vec![
                campaign_id.into(),
                now_ms.into(),
                now_ms.into(),
                now_ms.into(),
                now_ms.into(),
                (now_ms - 365 * DAY_MS).into(),
            ],
        )
        .await;
        let by_hand = started.elapsed().as_secs_f64();
        println!(
            "raw INSERT … SELECT of {raw} rows in {by_hand:.2} s; the planner took {:.2}× as long",
            planner / by_hand
        );

        // The planner again, into the table emptied the same way as for the raw insert.
        empty_runs(&db).await;
        exec(&db, "UPDATE campaigns SET planned_until = NULL", vec![]).await;
        let started = Instant::now();
        let again = plan(&db, now, zone).await.expect("planned");
        let second = started.elapsed().as_secs_f64();
        println!(
            "planner again, into the emptied table: {again} runs in {second:.2} s ({:.2}× the raw insert)",
            second / by_hand
        );

        // Nothing due: every run waits until tomorrow and nobody new is inactive.
        exec(
            &db,
            "UPDATE campaign_runs SET status = 'active', next_due_at = ?",
            vec![(now_ms + DAY_MS).into()],
        )
        .await;
        settle(&db, "campaign_runs").await;
        let bus = EventBus::new(BusMode::InProcess);
        let store = StoreSettings {
            time_zone: zone,
            staff_email: None,
            ..settings.store.clone()
        };
        let mut times = Vec::new();
        for minute in 1..=21 {
            let at = now + Duration::minutes(minute);
            let started = Instant::now();
            let report = campaigns::tick(&db, &bus, at, &store).await.expect("tick");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!((report.enrolled, report.advanced), (0, 0), "nothing is due");
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        println!(
            "idle tick at {customers} customers: median {:.2} ms, max {:.2} ms (21 ticks; the first, \
             which also prepares the statements on its connections, {first:.2} ms)",
            times[times.len() / 2],
            times[times.len() - 1]
        );
        for suffix in ["", "-wal", "-shm", ".setup-lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", temp.display()));
        }
    });
}
