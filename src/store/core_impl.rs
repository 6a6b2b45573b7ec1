//! The one implementation of [`Store`](super::Store) (subscriptions, usage records, settings),
//! instantiated for each backend by `impl_core_store!` with the backend's store type and
//! [`Dialect`](super::sql::Dialect), as `impl_engine_store!` does for the engine.
//!
//! Statements are written once, in PostgreSQL's dialect, and translated by the dialect; the row
//! mapping is in `rows`. EventIds come from the one `usage_counter` row, whose lock serialises
//! writers until they commit, so EventIds become visible in order (see the migrations for why not
//! a sequence); the unique index on external record ids (migration 0009) makes a record appended
//! twice a conflict, or a skip for [`append_usage_once`](super::Store::append_usage_once).

/// Implements `Store` for `$store` (with a `pool`, a `write()` that begins a write transaction,
/// a `single_write()` pool for a write of one statement, and a `backend()` name) translating
/// statements with `$dialect`. Expects `async_trait` and `StoreError` in scope.
macro_rules! impl_core_store {
    ($store:ty, $dialect:expr) => {
        use $crate::domain::{
            NewUsageRecord, Subscription, SubscriptionId, UsageRecord,
        };
        use $crate::store::rows::{
            SUBSCRIPTION_COLUMNS, SnapshotRow, SubscriptionColumns, SubscriptionRow, USAGE_COLUMNS,
            UsageColumns, UsageRow, list_limit,
        };
        use $crate::store::recovery_plan_impl::unique_violation;
        use $crate::store::{Store, SubscriptionFilter};

        fn core_sql(sql: &str) -> String {
            $dialect.sql(sql)
        }

        impl $store {
            /// Appends `records` in one transaction, each with the next EventId. With
            /// `skip_existing`, a record whose external id is in the log already (or earlier in
            /// `records`) is skipped (`None`) and spends no EventId; without, it is
            /// [`StoreError::Conflict`] and nothing is appended.
            async fn append_usage_records(
                &self,
                records: &[NewUsageRecord],
                skip_existing: bool,
            ) -> Result<Vec<Option<i64>>, StoreError> {
                if records.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.write().await?;
                // The counter row is locked before anything is looked at: writers are serialised
                // until they commit, so EventIds become visible in order, and a writer racing
                // with the same external ids finds them once it gets the lock.
                let (first,): (i64,) = sqlx::query_as(&core_sql(
                    "SELECT next_event_id FROM usage_counter FOR UPDATE",
                ))
                .fetch_one(&mut *tx)
                .await?;
                let on_conflict = if skip_existing {
                    " ON CONFLICT (external_record_id) DO NOTHING"
                } else {
                    ""
                };
                let insert = core_sql(&format!(
                    "INSERT INTO usage_records ({USAGE_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10){on_conflict}"
                ));
                let mut next = first;
                let mut ids = Vec::with_capacity(records.len());
                for record in records {
                    let cols = UsageColumns::of(record)?;
                    let written = sqlx::query(&insert)
                        .bind(next)
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
                        .await
                        .map_err(unique_violation)?;
                    if written.rows_affected() == 1 {
                        ids.push(Some(next));
                        next += 1;
                    } else {
                        ids.push(None);
                    }
                }
                if next != first {
                    sqlx::query(&core_sql("UPDATE usage_counter SET next_event_id = $1"))
                        .bind(next)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(ids)
            }
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

            async fn refresh_statistics(&self) -> Result<Vec<String>, StoreError> {
                if <$store>::BACKEND != "postgres" {
                    return Ok(Vec::new());
                }
                let mut tx = self.pool.begin().await?;
                // Held to the commit: instances sharing the database analyse one at a time.
                let (ours,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(crate::store::STATISTICS_LOCK)
                    .fetch_one(&mut *tx)
                    .await?;
                if !ours {
                    return Ok(Vec::new());
                }
                let stale: Vec<(String,)> = sqlx::query_as(
                    "SELECT relname::text FROM pg_stat_user_tables \
                     WHERE schemaname = current_schema() \
                       AND n_mod_since_analyze > 50 + 0.1 * n_live_tup \
                     ORDER BY relname",
                )
                .fetch_all(&mut *tx)
                .await?;
                for (table,) in &stale {
                    let statement = format!("ANALYZE \"{}\"", table.replace('"', "\"\""));
                    sqlx::query(&statement).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(stale.into_iter().map(|(table,)| table).collect())
            }

            async fn save_subscription(
                &self,
                sub: &Subscription,
            ) -> Result<Subscription, StoreError> {
                let cols = SubscriptionColumns::of(sub)?;
                // Both statements take the same parameters; the stored version becomes the
                // expected one plus one (an insert expects 0). One statement is atomic on its
                // own and hands back the stored row, so no transaction is needed: on SQLite the
                // writer connection is held for one round trip instead of four.
                let sql = if sub.version == 0 {
                    format!(
                        "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now(), $9 + 1) \
                         ON CONFLICT (id) DO NOTHING RETURNING {SUBSCRIPTION_COLUMNS}"
                    )
                } else {
                    format!(
                        "UPDATE subscriptions SET name = $2, state = $3, lifecycle = $4, \
                         last_error = $5, admin_id = $6, co_admins = $7, quota = $8, \
                         updated_at = now(), version = $9 + 1 WHERE id = $1 AND version = $9 \
                         RETURNING {SUBSCRIPTION_COLUMNS}"
                    )
                };
                // All rows, not the first: SQLite commits a statement of its own when stepped
                // to its end, and only stepping there reports a failed commit.
                let stored: Vec<SubscriptionRow> = sqlx::query_as(&core_sql(&sql))
                    .bind(&cols.id)
                    .bind(&sub.name)
                    .bind(cols.state)
                    .bind(cols.lifecycle)
                    .bind(&sub.last_error)
                    .bind(&sub.admin_id)
                    .bind(&cols.co_admins)
                    .bind(&cols.quota)
                    .bind(sub.version)
                    .fetch_all(self.single_write())
                    .await?;
                // No row: the insert met an existing one, or the update a newer version.
                stored
                    .into_iter()
                    .next()
                    .ok_or(StoreError::Conflict)?
                    .into_subscription()
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

            async fn get_subscription_snapshot(
                &self,
                id: SubscriptionId,
            ) -> Result<Option<$crate::store::SubscriptionSnapshot>, StoreError> {
                let row: Option<SnapshotRow> = sqlx::query_as(&core_sql(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS}, vm_changes, now() AS read_at \
                     FROM subscriptions WHERE id = $1"
                )))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                row.map(SnapshotRow::into_snapshot).transpose()
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

            async fn append_usage(
                &self,
                records: &[NewUsageRecord],
            ) -> Result<Vec<i64>, StoreError> {
                let ids = self.append_usage_records(records, false).await?;
                Ok(ids.into_iter().flatten().collect())
            }

            async fn append_usage_once(
                &self,
                records: &[NewUsageRecord],
            ) -> Result<Vec<Option<i64>>, StoreError> {
                self.append_usage_records(records, true).await
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
