//! The SQLite backend: one file in WAL mode, the default for a single RP instance.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, taking the write lock up front: a deferred
//! transaction that reads and then writes can fail with SQLITE_BUSY on the lock upgrade, which
//! busy_timeout does not retry. Those transactions run on a pool of their own with one
//! connection, so this process's writers queue fairly for it (sqlx's pool hands connections out
//! in order) instead of polling SQLite's lock in its busy handler, where under load a writer can
//! lose to newcomers until busy_timeout gives up (`wapdr bench enable` saw 500s, "database is
//! locked", with 16 notifications and 64 engine steps at once). This file holds only what differs from PostgreSQL: the connection
//! set-up, how a write begins, and the dialect; the statements are in `core_impl` and
//! `engine_impl`, the row mapping in `rows` and `engine_rows`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::StoreError;
use super::sql::Dialect;

/// How the shared statements are spelled here.
const DIALECT: Dialect = Dialect::Sqlite;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a write transaction may wait for its turn on the writer connection.
const WRITER_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// The store in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection write transactions run on (the same pool in memory).
    writer: SqlitePool,
}

impl SqliteStore {
    /// The backend's name, as `Store::backend` reports it.
    const BACKEND: &'static str = "sqlite";

    /// Opens (creating if missing) the database a `sqlite:` URL names and applies the migrations.
    ///
    /// `sqlite::memory:` gives a private in-memory database held by one connection that is never
    /// closed, so every caller sees the same data for the life of the store.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let lower = url.to_ascii_lowercase();
        let in_memory = lower.contains(":memory:") || lower.contains("mode=memory");
        let mut options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool_options = if in_memory {
            // An in-memory database lives as long as its last connection: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            options = options.journal_mode(SqliteJournalMode::Wal);
            SqlitePoolOptions::new().max_connections(max_connections.max(1))
        };
        // No ping before handing out a connection: a SQLite connection is a thread of this
        // process on a local file, it cannot have been cut while idle, and the ping is a round
        // trip to that thread on every statement (sqlx pings again when it takes the connection
        // back, which cannot be turned off).
        let pool = pool_options
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("schemas/migrations/sqlite")
            .run(&pool)
            .await?;
        let writer = if in_memory {
            pool.clone()
        } else {
            // Writers wait their turn in the pool's queue: allow for a long queue under load.
            SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(WRITER_QUEUE_TIMEOUT)
                .connect_with(options)
                .await?
        };
        Ok(Self { pool, writer })
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Where a write of one statement runs, without a transaction of its own: the writer
    /// connection, so it queues with the write transactions. A statement that writes takes the
    /// write lock as it starts, so it has no lock to upgrade.
    fn single_write(&self) -> &SqlitePool {
        &self.writer
    }
}

super::core_impl::impl_core_store!(SqliteStore, DIALECT);
super::engine_impl::impl_engine_store!(SqliteStore, Sqlite, DIALECT);
super::setup_impl::impl_setup_store!(SqliteStore, Sqlite, DIALECT);
super::protection_impl::impl_protection_store!(SqliteStore, Sqlite, DIALECT);
super::recovery_plan_impl::impl_recovery_plan_store!(SqliteStore, Sqlite, DIALECT);
super::failover::impl_failover_store!(SqliteStore, Sqlite, DIALECT);
super::site_health::impl_site_health_store!(SqliteStore, Sqlite, DIALECT);
