//! The SQLite backend: one file in WAL mode, the default for a single RP instance.
//!
//! Every write transaction starts with `BEGIN IMMEDIATE`, taking the write lock up front: a deferred
//! transaction that reads and then writes can fail with SQLITE_BUSY on the lock upgrade, which
//! busy_timeout does not retry. This file holds only what differs from PostgreSQL: the SQL text and
//! the connection set-up; the row mapping is in `rows`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::rows::{
    SUBSCRIPTION_COLUMNS, SubscriptionColumns, SubscriptionRow, USAGE_COLUMNS, UsageColumns,
    UsageRow, distinct_ids, encode_quota, list_limit,
};
use super::{Store, StoreError, SubscriptionFilter};
use crate::domain::{NewUsageRecord, QuotaSources, Subscription, SubscriptionId, UsageRecord};

/// The database clock, as RFC 3339 UTC text with milliseconds.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The store in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
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
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("schemas/migrations/sqlite")
            .run(&pool)
            .await?;
        Ok(Self { pool })
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn save_subscription(&self, sub: &Subscription) -> Result<Subscription, StoreError> {
        let cols = SubscriptionColumns::of(sub)?;
        let mut tx = self.write().await?;
        let written = if sub.version == 0 {
            sqlx::query(&format!(
                "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, {NOW}, {NOW}, 1) ON CONFLICT (id) DO NOTHING"
            ))
            .bind(&cols.id)
            .bind(&sub.name)
            .bind(cols.state)
            .bind(cols.lifecycle)
            .bind(&sub.last_error)
            .bind(&sub.admin_id)
            .bind(&cols.co_admins)
            .bind(&cols.quota)
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(&format!(
                "UPDATE subscriptions SET name = ?, state = ?, lifecycle = ?, last_error = ?, \
                 admin_id = ?, co_admins = ?, quota = ?, updated_at = {NOW}, version = version + 1 \
                 WHERE id = ? AND version = ?"
            ))
            .bind(&sub.name)
            .bind(cols.state)
            .bind(cols.lifecycle)
            .bind(&sub.last_error)
            .bind(&sub.admin_id)
            .bind(&cols.co_admins)
            .bind(&cols.quota)
            .bind(&cols.id)
            .bind(sub.version)
            .execute(&mut *tx)
            .await?
        };
        if written.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        let stored: SubscriptionRow = sqlx::query_as(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?"
        ))
        .bind(&cols.id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        stored.into_subscription()
    }

    async fn get_subscription(
        &self,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        let row: Option<SubscriptionRow> = sqlx::query_as(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(SubscriptionRow::into_subscription).transpose()
    }

    async fn list_subscriptions(
        &self,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<Subscription>, StoreError> {
        let rows: Vec<SubscriptionRow> = sqlx::query_as(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions \
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR lifecycle = ?2) \
               AND (?3 OR lifecycle <> 'Deleted') AND (?4 IS NULL OR id > ?4) \
             ORDER BY id LIMIT ?5"
        ))
        .bind(filter.state.map(|s| s.as_str()))
        .bind(filter.lifecycle.map(|l| l.as_str()))
        .bind(filter.include_deleted)
        .bind(filter.after.map(|id| id.to_string()))
        .bind(list_limit(filter))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(SubscriptionRow::into_subscription)
            .collect()
    }

    async fn update_quotas(
        &self,
        ids: &[SubscriptionId],
        quota: &QuotaSources,
    ) -> Result<Vec<SubscriptionId>, StoreError> {
        let quota = encode_quota(quota)?;
        let mut tx = self.write().await?;
        let mut updated = Vec::new();
        for id in distinct_ids(ids) {
            let done = sqlx::query(&format!(
                "UPDATE subscriptions SET quota = ?, updated_at = {NOW}, version = version + 1 \
                 WHERE id = ? AND lifecycle <> 'Deleted'"
            ))
            .bind(&quota)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                updated.push(id);
            }
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn append_usage(&self, records: &[NewUsageRecord]) -> Result<Vec<i64>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let count = i64::try_from(records.len()).unwrap_or(i64::MAX);
        let mut tx = self.write().await?;
        let (first,): (i64,) = sqlx::query_as(
            "UPDATE usage_counter SET next_event_id = next_event_id + ?1 \
             RETURNING next_event_id - ?1",
        )
        .bind(count)
        .fetch_one(&mut *tx)
        .await?;
        let mut ids = Vec::with_capacity(records.len());
        for (event_id, record) in (first..).zip(records) {
            let cols = UsageColumns::of(record)?;
            sqlx::query(&format!(
                "INSERT INTO usage_records ({USAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .bind(event_id)
            .bind(&record.external_record_id)
            .bind(&cols.subscription_id)
            .bind(&record.resource_id)
            .bind(&record.service_type)
            .bind(&record.provider_name)
            .bind(cols.start_time)
            .bind(cols.end_time)
            .bind(&cols.properties)
            .bind(&cols.resources)
            .execute(&mut *tx)
            .await?;
            ids.push(event_id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn usage_after(&self, last_id: i64, batch: u32) -> Result<Vec<UsageRecord>, StoreError> {
        if batch == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<UsageRow> = sqlx::query_as(&format!(
            "SELECT {USAGE_COLUMNS} FROM usage_records WHERE event_id > ? ORDER BY event_id LIMIT ?"
        ))
        .bind(last_id)
        .bind(i64::from(batch))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(UsageRow::into_record).collect()
    }

    async fn acknowledge_usage(&self, last_id: i64) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE usage_counter SET acked_event_id = MAX(acked_event_id, ?)")
            .bind(last_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn usage_watermark(&self) -> Result<i64, StoreError> {
        let (acked,): (i64,) = sqlx::query_as("SELECT acked_event_id FROM usage_counter")
            .fetch_one(&self.pool)
            .await?;
        Ok(acked)
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.map(|(v,)| v))
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        let (stored,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }
}

super::engine_impl::impl_engine_store!(SqliteStore, Sqlite, super::engine_sql::Dialect::Sqlite);
super::setup_impl::impl_setup_store!(SqliteStore, Sqlite, super::engine_sql::Dialect::Sqlite);
