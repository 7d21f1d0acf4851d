//! Which process runs the event processor: with PostgreSQL, the one holding a session
//! advisory lock, so events are handled once and in order however many processes serve.

use sea_orm::{ConnectionTrait, DatabaseConnection};

/// The processor lock: always held with SQLite (one process); with PostgreSQL a session
/// advisory lock on a dedicated connection, checked before every round and retried until won.
pub(super) struct Leadership {
    url: String,
    conn: Option<DatabaseConnection>,
}

/// The processor lock's two keys: "nudg" and 1.
const PROCESSOR_LOCK: (i32, i32) = (0x6e75_6467, 1);

impl Leadership {
    pub(super) fn new(url: String) -> Self {
        Self { url, conn: None }
    }

    /// Whether this process holds the lock now (it tries to win it when it does not).
    pub(super) async fn holds(&mut self) -> bool {
        if !self.url.starts_with("postgres") {
            return true;
        }
        if self.conn.is_none() {
            self.conn = crate::db::connect_dedicated(&self.url).await.ok();
        }
        let Some(conn) = &self.conn else {
            return false;
        };
        let (class, object) = PROCESSOR_LOCK;
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = {class} \
             AND objid = {object} AND objsubid = 2 AND pid = pg_backend_pid() AND granted) \
             OR pg_try_advisory_lock({class}, {object}) AS won"
        );
        match conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await
        {
            Ok(row) => row
                .and_then(|row| row.try_get::<bool>("", "won").ok())
                .unwrap_or(false),
            Err(e) => {
                tracing::warn!(error = %e, "processor lock connection failed; reconnecting");
                self.conn = None;
                false
            }
        }
    }
}
