//! Opening the database, migrating it, and starting write transactions that behave the same
//! on SQLite and PostgreSQL.

use crate::error::AppResult;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, ExecResult, QueryResult, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use std::sync::Arc;
use std::time::Duration;

/// Key of the PostgreSQL advisory lock held while one process migrates and bootstraps.
const SETUP_LOCK_KEY: i64 = 0x6e75_6467_6500;

/// Opens a connection pool. SQLite gets WAL, a busy timeout, foreign keys and a larger page
/// cache; the file is created when missing.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with_cache(url, max_connections, DEFAULT_CACHE_KIB).await
}

/// SQLite's page cache per connection of a pool opened with [`connect`]: 8 MiB (SQLite's own
/// default is 2 MiB).
pub const DEFAULT_CACHE_KIB: u32 = 8 * 1024;

/// Like [`connect`], with `cache_kib` of SQLite page cache per connection (each connection
/// keeps its own: a pool of n holds up to n times as much). PostgreSQL ignores it.
pub async fn connect_with_cache(
    url: &str,
    max_connections: u32,
    cache_kib: u32,
) -> Result<DatabaseConnection, DbErr> {
    let cache_size = format!("-{}", cache_kib.max(256));
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Negative: KiB. Large writes, such as a campaign enrolling a million
                // customers, spill and re-read index pages when it is small.
                .pragma("cache_size", cache_size.clone())
                .pragma("temp_store", "memory")
        });
    Database::connect(options).await
}

/// One connection kept open for the life of the process (no idle timeout, no recycling), for
/// session state such as advisory locks.
pub async fn connect_dedicated(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await
}

/// A single connection that holds the setup lock until released, so that several processes
/// starting together migrate and bootstrap one after the other. On PostgreSQL the lock is an
/// advisory lock; on SQLite it is an OS file lock on `<database file>.setup-lock`.
pub struct SetupSession {
    pub db: DatabaseConnection,
    _file_lock: Option<std::fs::File>,
}

impl SetupSession {
    /// Waits for the setup lock, then connects.
    pub async fn acquire(url: &str) -> Result<Self, DbErr> {
        let file_lock = match sqlite_file(url) {
            Some(path) => Some(lock_file(format!("{path}.setup-lock")).await?),
            None => None,
        };
        let db = connect(url, 1).await?;
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!("SELECT pg_advisory_lock({SETUP_LOCK_KEY})"))
                .await?;
        }
        Ok(Self {
            db,
            _file_lock: file_lock,
        })
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

/// The file of a SQLite URL (`sqlite://nudge.db?mode=rwc` → `nudge.db`); `None` for other
/// databases and in-memory ones.
fn sqlite_file(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.to_owned())
}

/// Opens (creating it if needed) and exclusively locks `path`, waiting for another holder.
async fn lock_file(path: String) -> Result<std::fs::File, DbErr> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| DbErr::Custom(format!("setup lock task failed: {e}")))?
    .map_err(|e| DbErr::Custom(format!("cannot lock the database for setup: {e}")))
}

/// One process-wide gate for SQLite writers. SQLite has one writer at a time; without the
/// gate, waiting writers sleep in SQLite's busy handler (in steps of up to 100 ms), which
/// wrecks latency under load. With it they queue in order and start the moment it is free.
static SQLITE_WRITE_GATE: std::sync::LazyLock<Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(|| Arc::new(tokio::sync::Mutex::new(())));

/// A transaction that will write. On SQLite it holds the write gate until it ends.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// Counted open until the transaction has ended (see [`writes`]).
    _open: writes::Open,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), DbErr> {
        let WriteTxn { txn, _gate, _open } = self;
        let committed = txn.commit().await;
        drop(_open);
        committed
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        let WriteTxn { txn, _gate, _open } = self;
        let rolled_back = txn.rollback().await;
        drop(_open);
        rolled_back
    }

    /// Runs `work` in a savepoint: kept in this transaction when it succeeds, undone alone
    /// when it fails.
    pub async fn in_savepoint<T>(
        &self,
        work: impl AsyncFnOnce(&DatabaseTransaction) -> AppResult<T>,
    ) -> AppResult<T> {
        let savepoint = self.txn.begin().await?;
        match work(&savepoint).await {
            Ok(value) => {
                savepoint.commit().await?;
                Ok(value)
            }
            Err(e) => {
                // The error that made us roll back says more than a failed rollback would.
                let _ = savepoint.rollback().await;
                Err(e)
            }
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.txn.is_mock_connection()
    }
}

/// Starts a transaction that will write. On SQLite it first waits for the write gate, then
/// takes the write lock at once (`BEGIN IMMEDIATE`), so a read-then-write transaction never
/// fails with "database is locked" when it upgrades; on PostgreSQL it is a plain `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let gate = if db.get_database_backend() == DbBackend::Sqlite {
        Some(SQLITE_WRITE_GATE.clone().lock_owned().await)
    } else {
        None
    };
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTxn {
        txn,
        _gate: gate,
        _open: writes::open(),
    })
}

/// The write transactions of this process in the order they began, and which have ended: what
/// a cache needs to know that a value it read cannot predate a write it was told of (see
/// [`crate::domain::stale`]). A transaction counts as open from before its first statement
/// until after its commit or rollback has returned.
pub mod writes {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    struct Writes {
        begun: u64,
        open: BTreeSet<u64>,
    }

    static WRITES: Mutex<Writes> = Mutex::new(Writes {
        begun: 0,
        open: BTreeSet::new(),
    });

    fn with<T>(f: impl FnOnce(&mut Writes) -> T) -> T {
        let mut writes = WRITES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut writes)
    }

    /// An open write transaction; it ends when dropped.
    pub struct Open(u64);

    impl Drop for Open {
        fn drop(&mut self) {
            with(|w| w.open.remove(&self.0));
        }
    }

    pub(super) fn open() -> Open {
        with(|w| {
            w.begun += 1;
            w.open.insert(w.begun);
            Open(w.begun)
        })
    }

    /// A mark in the order of writes, after every transaction begun so far: it is
    /// [`settled`] once all of those have ended.
    pub fn mark() -> u64 {
        with(|w| {
            w.begun += 1;
            w.begun
        })
    }

    /// Every write transaction and mark up to this one has ended.
    pub fn settled() -> u64 {
        with(|w| w.open.first().map_or(w.begun, |first| first - 1))
    }
}

/// The most one statement's parameters should take, in bytes. sqlx 0.9.0 writes a message to a
/// TLS connection one TLS record (at most 16 KiB) at a time and leaves Nagle's algorithm on
/// (upstream issue #4335), so the last record of a larger message waits for the server's
/// delayed acknowledgement, about 40 ms. PostgreSQL's default `sslmode=prefer` uses TLS
/// whenever the server offers it. Measured on such a connection: inserts of 64 events instead
/// of 32 (about 20 KiB) took ingest from 19,900 to 1,500 events/s.
pub const STATEMENT_BYTES: usize = 12 * 1024;

/// Bytes a parameter takes in a statement besides its value (length, format and type codes).
pub const PARAMETER_BYTES: usize = 8;

/// Splits `items` into runs of one statement each: at most `max_rows` items and, on
/// PostgreSQL (SQLite has no connection to stall), parameters within [`STATEMENT_BYTES`] by
/// `size`, an estimate of an item's. With `padded`, a run is measured as [`in_list`] pads it.
/// An item larger than the budget gets a statement alone.
pub fn statement_chunks<T>(
    backend: DbBackend,
    items: &[T],
    max_rows: usize,
    padded: bool,
    size: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let budget = match backend {
        DbBackend::Postgres => STATEMENT_BYTES,
        _ => usize::MAX,
    };
    let mut chunks = Vec::new();
    let (mut start, mut total, mut largest) = (0, 0, 0);
    for (i, item) in items.iter().enumerate() {
        let bytes = size(item);
        let rows = i - start + 1;
        let (with_total, with_largest) = (total + bytes, largest.max(bytes));
        let measured = if padded {
            rows.next_power_of_two() * with_largest
        } else {
            with_total
        };
        if rows > 1 && (rows > max_rows || measured > budget) {
            chunks.push(&items[start..i]);
            (start, total, largest) = (i, bytes, bytes);
        } else {
            (total, largest) = (with_total, with_largest);
        }
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

/// Text keys (event ids, external ids) for `IN (…)` lookups of at most `max` keys each, cut as
/// [`statement_chunks`] cuts a padded list.
pub fn key_lookup_chunks(backend: DbBackend, keys: &[String], max: usize) -> Vec<&[String]> {
    statement_chunks(backend, keys, max, true, |key| key.len() + PARAMETER_BYTES)
}

/// How many bytes `value` takes as JSON text, without writing it anywhere.
pub fn json_bytes(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The values of an `IN (…)` list, padded with repeats of the last one to a power of two.
/// A statement's text depends on how many values it lists, and both databases prepare every
/// new text anew (SQLite parses it, PostgreSQL takes a round trip); padding keeps the texts a
/// hot query produces down to a handful that stay prepared. Repeats change no result.
pub fn in_list<T: Clone>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut values: Vec<T> = values.into_iter().collect();
    if let Some(last) = values.last().cloned() {
        values.resize(values.len().next_power_of_two(), last);
    }
    values
}

/// A raw statement written with `?` placeholders, numbered `$1`, `$2` … for PostgreSQL. The
/// text must hold no `?` other than placeholders.
pub fn raw_statement(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> sea_orm::Statement {
    let text = if backend == DbBackend::Postgres {
        let mut numbered = String::with_capacity(sql.len() + 16);
        for (n, part) in sql.split('?').enumerate() {
            if n > 0 {
                numbered.push_str(&format!("${n}"));
            }
            numbered.push_str(part);
        }
        numbered
    } else {
        sql.to_owned()
    };
    sea_orm::Statement::from_sql_and_values(backend, text, values)
}

#[cfg(test)]
mod tests {
    use super::{DbBackend, STATEMENT_BYTES, in_list, json_bytes, raw_statement, statement_chunks};

    #[test]
    fn placeholders_are_numbered_for_postgresql_only() {
        let sql = "SELECT a FROM t WHERE b = ? AND c > ?";
        let pg = raw_statement(DbBackend::Postgres, sql, [1.into(), 2.into()]);
        assert_eq!(pg.sql, "SELECT a FROM t WHERE b = $1 AND c > $2");
        let lite = raw_statement(DbBackend::Sqlite, sql, [1.into(), 2.into()]);
        assert_eq!(lite.sql, sql);
    }

    #[test]
    fn in_lists_are_padded_to_a_power_of_two_with_the_last_value() {
        assert_eq!(in_list(Vec::<i64>::new()), Vec::<i64>::new());
        assert_eq!(in_list([7]), vec![7]);
        assert_eq!(in_list([1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(in_list(1..=5).len(), 8);
        assert_eq!(in_list(1..=8).len(), 8);
    }

    #[test]
    fn statements_are_cut_by_rows_and_by_bytes() {
        let lens = |chunks: Vec<&[usize]>| chunks.iter().map(|c| c.len()).collect::<Vec<_>>();
        let size = |b: &usize| *b;
        let pg = DbBackend::Postgres;
        let small = vec![10; 10];
        assert_eq!(
            lens(statement_chunks(pg, &small, 4, false, size)),
            [4, 4, 2]
        );
        let big = vec![STATEMENT_BYTES / 3; 7];
        assert_eq!(
            lens(statement_chunks(pg, &big, 100, false, size)),
            [3, 3, 1]
        );
        // Padded to a power of two, three items weigh as four.
        assert_eq!(
            lens(statement_chunks(pg, &big, 100, true, size)),
            [2, 2, 2, 1]
        );
        // One item over the budget still gets its statement.
        let huge = vec![1, STATEMENT_BYTES * 2, 1];
        assert_eq!(
            lens(statement_chunks(pg, &huge, 100, false, size)),
            [1, 1, 1]
        );
        assert!(statement_chunks(pg, &Vec::<usize>::new(), 4, false, size).is_empty());
        // SQLite counts rows only.
        let lite = DbBackend::Sqlite;
        assert_eq!(lens(statement_chunks(lite, &big, 4, false, size)), [4, 3]);
    }

    #[tokio::test]
    async fn each_sqlite_connection_gets_the_page_cache_it_was_given() {
        use sea_orm::ConnectionTrait;
        let path = std::env::temp_dir().join(format!("nudge-cache-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = super::connect_with_cache(&url, 1, 3 * 1024)
            .await
            .expect("connected");
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA cache_size",
            ))
            .await
            .expect("asked")
            .expect("a row");
        let size: i64 = row.try_get_by_index(0).expect("a number");
        drop(db);
        let _ = std::fs::remove_file(&path);
        assert_eq!(size, -3 * 1024);
    }

    #[test]
    fn json_bytes_counts_the_text_serde_writes() {
        let value = serde_json::json!({ "a": [1, "two", null], "b": { "c": true } });
        assert_eq!(json_bytes(&value), value.to_string().len());
    }
}
