//! What the statistics and segments benchmarks share: a migrated database to measure on (a
//! temporary SQLite file, or the one `NUDGE_BENCH_DATABASE_URL` names), the size asked for,
//! and plain statements on it.

use nudge::clock::{SharedClock, SystemClock};
use nudge::config::Settings;
use nudge::db::{connect, raw_statement};
use nudge::startup::{Bootstrap, prepare_database};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use std::path::PathBuf;
use std::sync::Arc;

/// A migrated database for one benchmark run.
pub struct BenchDb {
    pub settings: Settings,
    pub clock: SharedClock,
    pub db: DatabaseConnection,
    temp: PathBuf,
}

impl BenchDb {
    /// Migrates and connects (`connections` pooled); other `NUDGE_*` settings apply as in the
    /// server.
    pub async fn open(name: &str, connections: u32) -> Self {
        let temp = std::env::temp_dir().join(format!("nudge-{name}-{}.db", std::process::id()));
        let url = std::env::var("NUDGE_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", temp.display()));
        let mut settings = Settings::from_env().expect("settings");
        settings.database_url = url.clone();
        let clock: SharedClock = Arc::new(SystemClock);
        prepare_database(&settings, &clock, Bootstrap::MigrateOnly)
            .await
            .expect("migrated");
        let db = connect(&url, connections).await.expect("database");
        Self {
            settings,
            clock,
            db,
            temp,
        }
    }

    /// `SQLite` or `PostgreSQL`.
    pub fn label(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Postgres => "PostgreSQL",
            _ => "SQLite",
        }
    }

    /// Removes the temporary SQLite file, if one was used.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// The number in environment variable `name`, else `default`.
pub fn size(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(raw_statement(db.get_database_backend(), sql, []))
        .await
        .expect("statement");
}

/// The BIGINT column `n` of the one row `sql` returns.
pub async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(raw_statement(db.get_database_backend(), sql, []))
        .await
        .expect("query")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

/// A query of the numbers 1 to `n` (BIGINT) as column `i`.
pub fn numbers(db: &DatabaseConnection, n: i64) -> String {
    match db.get_database_backend() {
        DbBackend::Postgres => format!("SELECT CAST(generate_series(1, {n}) AS BIGINT) AS i"),
        _ => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) SELECT i FROM n"
        ),
    }
}
