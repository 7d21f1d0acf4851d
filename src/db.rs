//! Opening the database, migrating it, and starting write transactions that behave the same
//! on SQLite and PostgreSQL.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Key of the PostgreSQL advisory lock held while one process migrates and bootstraps.
const SETUP_LOCK_KEY: i64 = 0x6e75_6467_6500;

/// Opens a connection pool. SQLite gets WAL, a busy timeout and foreign keys; the file is
/// created when missing.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options).await
}

/// A single connection that holds the setup lock (on PostgreSQL) until released, so that
/// several processes starting together migrate and bootstrap one after the other.
pub struct SetupSession {
    pub db: DatabaseConnection,
}

impl SetupSession {
    /// Connects and waits for the setup lock.
    pub async fn acquire(url: &str) -> Result<Self, DbErr> {
        let db = connect(url, 1).await?;
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!("SELECT pg_advisory_lock({SETUP_LOCK_KEY})"))
                .await?;
        }
        Ok(Self { db })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    /// Releases the lock and closes the connection.
    pub async fn release(self) -> Result<(), DbErr> {
        if self.db.get_database_backend() == DbBackend::Postgres {
            self.db
                .execute_unprepared(&format!("SELECT pg_advisory_unlock({SETUP_LOCK_KEY})"))
                .await?;
        }
        self.db.close().await
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so a read-then-write transaction never fails with "database is locked"
/// when it upgrades; on PostgreSQL it is a plain `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
