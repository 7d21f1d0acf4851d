//! Which events this process handles. With SQLite (one process) all of them. With PostgreSQL
//! the events are split by customer into [`PARTITIONS`] partitions, each handled by one process
//! at a time: the one holding the partition's session advisory lock on a dedicated connection.
//! Every processor also holds a shared "member" lock, so the live ones (of this database) can
//! be counted; before
//! every round each takes free partitions up to its fair share (the partitions over the live
//! processors, rounded up) and gives back what it holds beyond it. So the partitions spread
//! over the live processes, and when one dies (`kill -9` closes its connection, and its locks
//! go with it) the others take its partitions at their next round, within a second or two.
//! One customer's events are always in one partition, so they are handled in order.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use std::collections::BTreeSet;

/// How many partitions the events of PostgreSQL are split into (by customer id).
pub const PARTITIONS: i64 = 16;

/// The advisory locks' first key: "nudg".
const CLASS: i64 = 0x6e75_6467;
/// The second key of the shared lock every live processor holds.
const MEMBER: i64 = 3;
/// The second key of partition `p`'s lock is `FIRST + p`.
const FIRST: i64 = 100;

/// The events a round may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Share {
    /// Every event (SQLite: this is the only process).
    All,
    /// The events of customers in these partitions (`customer_id % PARTITIONS`).
    Partitions(Vec<i64>),
}

impl Share {
    /// Whether there is anything to take.
    pub fn is_empty(&self) -> bool {
        matches!(self, Share::Partitions(parts) if parts.is_empty())
    }
}

/// This process's partitions, and the connection that holds their locks.
pub(super) struct Partitions {
    url: String,
    conn: Option<DatabaseConnection>,
    held: BTreeSet<i64>,
}

impl Partitions {
    pub(super) fn new(url: String) -> Self {
        Self {
            url,
            conn: None,
            held: BTreeSet::new(),
        }
    }

    /// The partitions this process handles now, after taking or giving back its share; none
    /// while its lock connection is down (it reconnects at the next call).
    pub(super) async fn share(&mut self) -> Share {
        if !self.url.starts_with("postgres") {
            return Share::All;
        }
        match self.balance().await {
            Ok(()) => Share::Partitions(self.held.iter().copied().collect()),
            Err(e) => {
                tracing::warn!(error = %e, "processor lock connection failed; reconnecting");
                // Its locks went with the connection (or go when it is dropped).
                self.conn = None;
                self.held.clear();
                Share::Partitions(Vec::new())
            }
        }
    }

    async fn balance(&mut self) -> Result<(), DbErr> {
        if self.conn.is_none() {
            let conn = crate::db::connect_dedicated(&self.url).await?;
            run(
                &conn,
                format!("SELECT pg_advisory_lock_shared({CLASS}, {MEMBER})"),
            )
            .await?;
            self.held.clear();
            self.conn = Some(conn);
        }
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        let members = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "SELECT count(DISTINCT pid) AS members FROM pg_locks WHERE locktype = 'advisory' \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND classid = {CLASS} AND objid = {MEMBER} AND objsubid = 2 AND granted"
                ),
            ))
            .await?
            .and_then(|row| row.try_get::<i64>("", "members").ok())
            .unwrap_or(1)
            .max(1);
        let fair = (PARTITIONS + members - 1) / members;
        while self.held.len() as i64 > fair {
            let Some(p) = self.held.pop_last() else { break };
            run(
                conn,
                format!("SELECT pg_advisory_unlock({CLASS}, {FIRST} + {p})"),
            )
            .await?;
        }
        let wanted = fair - self.held.len() as i64;
        if wanted > 0 {
            let held: Vec<String> = self.held.iter().map(i64::to_string).collect();
            let not_held = if held.is_empty() {
                String::new()
            } else {
                format!("WHERE p NOT IN ({})", held.join(","))
            };
            // The executor stops at the limit: a lock is tried until enough were won.
            let won = conn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!(
                        "SELECT p FROM (SELECT p FROM generate_series(0, {last}) AS p {not_held}) AS free \
                         WHERE pg_try_advisory_lock({CLASS}, {FIRST} + p) LIMIT {wanted}",
                        last = PARTITIONS - 1
                    ),
                ))
                .await?;
            for row in won {
                self.held.insert(row.try_get::<i32>("", "p")?.into());
            }
        }
        Ok(())
    }
}

async fn run(conn: &DatabaseConnection, sql: String) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map(|_| ())
}
