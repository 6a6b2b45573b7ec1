//! The PostgreSQL backend, for several RP instances sharing one database.
//!
//! This file holds only what differs from SQLite: the SQL text and the pool set-up; the row mapping
//! is in `rows`. EventIds come from the one `usage_counter` row, whose lock serialises writers until
//! they commit, so EventIds become visible in order (see the migration for why not a sequence).

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::rows::{
    SUBSCRIPTION_COLUMNS, SubscriptionColumns, SubscriptionRow, USAGE_COLUMNS, UsageColumns,
    UsageRow, distinct_ids, encode_quota, list_limit,
};
use super::{Store, StoreError, SubscriptionFilter};
use crate::domain::{NewUsageRecord, QuotaSources, Subscription, SubscriptionId, UsageRecord};

/// The database clock (the transaction's start time).
const NOW: &str = "now()";

/// How long a caller waits for a free connection before the store gives up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database a `postgres://` URL names and applies the migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("schemas/migrations/postgres")
            .run(&pool)
            .await?;
        Ok(Self { pool })
    }

    async fn write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {NOW}, {NOW}, 1) ON CONFLICT (id) DO NOTHING"
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
                "UPDATE subscriptions SET name = $1, state = $2, lifecycle = $3, last_error = $4, \
                 admin_id = $5, co_admins = $6, quota = $7, updated_at = {NOW}, version = version + 1 \
                 WHERE id = $8 AND version = $9"
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
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"
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
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"
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
             WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR lifecycle = $2) \
               AND ($3 OR lifecycle <> 'Deleted') AND ($4::text IS NULL OR id > $4) \
             ORDER BY id LIMIT $5"
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
                "UPDATE subscriptions SET quota = $1, updated_at = {NOW}, version = version + 1 \
                 WHERE id = $2 AND lifecycle <> 'Deleted'"
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
            "UPDATE usage_counter SET next_event_id = next_event_id + $1 \
             RETURNING next_event_id - $1",
        )
        .bind(count)
        .fetch_one(&mut *tx)
        .await?;
        let mut ids = Vec::with_capacity(records.len());
        for (event_id, record) in (first..).zip(records) {
            let cols = UsageColumns::of(record)?;
            sqlx::query(&format!(
                "INSERT INTO usage_records ({USAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
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
            "SELECT {USAGE_COLUMNS} FROM usage_records WHERE event_id > $1 ORDER BY event_id LIMIT $2"
        ))
        .bind(last_id)
        .bind(i64::from(batch))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(UsageRow::into_record).collect()
    }

    async fn acknowledge_usage(&self, last_id: i64) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE usage_counter SET acked_event_id = GREATEST(acked_event_id, $1)")
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
        let value: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.map(|(v,)| v))
    }

    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let (stored,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }
}

super::engine_impl::impl_engine_store!(
    PostgresStore,
    Postgres,
    super::engine_sql::Dialect::Postgres
);
super::setup_impl::impl_setup_store!(
    PostgresStore,
    Postgres,
    super::engine_sql::Dialect::Postgres
);
