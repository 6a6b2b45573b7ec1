//! The one implementation of [`Store`](super::Store) (subscriptions, usage records, settings),
//! instantiated for each backend by `impl_core_store!` with the backend's store type and
//! [`Dialect`](super::sql::Dialect), as `impl_engine_store!` does for the engine.
//!
//! Statements are written once, in PostgreSQL's dialect, and translated by the dialect; the row
//! mapping is in `rows`. EventIds come from the one `usage_counter` row, whose lock serialises
//! writers until they commit, so EventIds become visible in order (see the migrations for why not
//! a sequence).

/// Implements `Store` for `$store` (with a `pool`, a `write()` that begins a write transaction
/// and a `backend()` name) translating statements with `$dialect`. Expects `async_trait` and
/// `StoreError` in scope.
macro_rules! impl_core_store {
    ($store:ty, $dialect:expr) => {
        use $crate::domain::{
            NewUsageRecord, QuotaSources, Subscription, SubscriptionId, UsageRecord,
        };
        use $crate::store::rows::{
            SUBSCRIPTION_COLUMNS, SubscriptionColumns, SubscriptionRow, USAGE_COLUMNS,
            UsageColumns, UsageRow, distinct_ids, encode_quota, list_limit,
        };
        use $crate::store::{Store, SubscriptionFilter};

        fn core_sql(sql: &str) -> String {
            $dialect.sql(sql)
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$store>::BACKEND
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn save_subscription(
                &self,
                sub: &Subscription,
            ) -> Result<Subscription, StoreError> {
                let cols = SubscriptionColumns::of(sub)?;
                let mut tx = self.write().await?;
                // Both statements take the same parameters; the stored version becomes the
                // expected one plus one (an insert expects 0).
                let sql = if sub.version == 0 {
                    format!(
                        "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now(), $9 + 1) \
                         ON CONFLICT (id) DO NOTHING"
                    )
                } else {
                    "UPDATE subscriptions SET name = $2, state = $3, lifecycle = $4, \
                     last_error = $5, admin_id = $6, co_admins = $7, quota = $8, \
                     updated_at = now(), version = $9 + 1 WHERE id = $1 AND version = $9"
                        .to_owned()
                };
                let written = sqlx::query(&core_sql(&sql))
                    .bind(&cols.id)
                    .bind(&sub.name)
                    .bind(cols.state)
                    .bind(cols.lifecycle)
                    .bind(&sub.last_error)
                    .bind(&sub.admin_id)
                    .bind(&cols.co_admins)
                    .bind(&cols.quota)
                    .bind(sub.version)
                    .execute(&mut *tx)
                    .await?;
                if written.rows_affected() != 1 {
                    return Err(StoreError::Conflict);
                }
                let stored: SubscriptionRow = sqlx::query_as(&core_sql(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"
                )))
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
                let row: Option<SubscriptionRow> = sqlx::query_as(&core_sql(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"
                )))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                row.map(SubscriptionRow::into_subscription).transpose()
            }

            async fn list_subscriptions(
                &self,
                filter: &SubscriptionFilter,
            ) -> Result<Vec<Subscription>, StoreError> {
                let rows: Vec<SubscriptionRow> = sqlx::query_as(&core_sql(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions \
                     WHERE ($1::text IS NULL OR state = $1) \
                       AND ($2::text IS NULL OR lifecycle = $2) \
                       AND ($3 OR lifecycle <> 'Deleted') AND ($4::text IS NULL OR id > $4) \
                     ORDER BY id LIMIT $5"
                )))
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
                    let done = sqlx::query(&core_sql(
                        "UPDATE subscriptions SET quota = $1, updated_at = now(), \
                         version = version + 1 WHERE id = $2 AND lifecycle <> 'Deleted'",
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

            async fn append_usage(
                &self,
                records: &[NewUsageRecord],
            ) -> Result<Vec<i64>, StoreError> {
                if records.is_empty() {
                    return Ok(Vec::new());
                }
                let count = i64::try_from(records.len()).unwrap_or(i64::MAX);
                let mut tx = self.write().await?;
                let (first,): (i64,) = sqlx::query_as(&core_sql(
                    "UPDATE usage_counter SET next_event_id = next_event_id + $1 \
                     RETURNING next_event_id - $1",
                ))
                .bind(count)
                .fetch_one(&mut *tx)
                .await?;
                let mut ids = Vec::with_capacity(records.len());
                for (event_id, record) in (first..).zip(records) {
                    let cols = UsageColumns::of(record)?;
                    sqlx::query(&core_sql(&format!(
                        "INSERT INTO usage_records ({USAGE_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    )))
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

            async fn usage_after(
                &self,
                last_id: i64,
                batch: u32,
            ) -> Result<Vec<UsageRecord>, StoreError> {
                if batch == 0 {
                    return Ok(Vec::new());
                }
                let rows: Vec<UsageRow> = sqlx::query_as(&core_sql(&format!(
                    "SELECT {USAGE_COLUMNS} FROM usage_records WHERE event_id > $1 \
                     ORDER BY event_id LIMIT $2"
                )))
                .bind(last_id)
                .bind(i64::from(batch))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(UsageRow::into_record).collect()
            }

            async fn acknowledge_usage(&self, last_id: i64) -> Result<(), StoreError> {
                let mut tx = self.write().await?;
                // The next EventId is bound already incremented (saturating) so an absurd
                // `last_id` cannot overflow in SQL.
                sqlx::query(&core_sql(
                    "UPDATE usage_counter SET acked_event_id = GREATEST(acked_event_id, $1), \
                     next_event_id = GREATEST(next_event_id, $2)",
                ))
                .bind(last_id)
                .bind(last_id.saturating_add(1))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn usage_watermark(&self) -> Result<i64, StoreError> {
                let (acked,): (i64,) =
                    sqlx::query_as(&core_sql("SELECT acked_event_id FROM usage_counter"))
                        .fetch_one(&self.pool)
                        .await?;
                Ok(acked)
            }

            async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
                let value: Option<(String,)> =
                    sqlx::query_as(&core_sql("SELECT value FROM settings WHERE key = $1"))
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(value.map(|(v,)| v))
            }

            async fn put_setting_if_absent(
                &self,
                key: &str,
                value: &str,
            ) -> Result<String, StoreError> {
                let mut tx = self.write().await?;
                sqlx::query(&core_sql(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO NOTHING",
                ))
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
                let (stored,): (String,) =
                    sqlx::query_as(&core_sql("SELECT value FROM settings WHERE key = $1"))
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(stored)
            }
        }
    };
}

pub(super) use impl_core_store;
