//! The one implementation of [`ProtectionStore`](super::ProtectionStore), instantiated for each
//! backend by `impl_protection_store!` with the backend's store type, sqlx database and
//! [`Dialect`](super::sql::Dialect), like the setup store: the SQL is written once in
//! PostgreSQL's dialect and translated for SQLite; the row mapping is in `protection_rows`.
//!
//! The expansion sits in an anonymous `const` block so its imports cannot clash with the
//! backend file's own.

/// Implements `ProtectionStore` for `$store` (with a `pool` and a `write()` that begins a write
/// transaction) on database `$db`, translating statements with `$dialect`.
macro_rules! impl_protection_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use uuid::Uuid;
            use $crate::domain::{DrSubscription, ProtectedVm, SubscriptionId};
            use $crate::store::protection_rows::{
                DR_COLUMNS, DrColumns, DrSubscriptionRow, ProtectedVmRow, VM_COLUMNS, VmColumns,
                capped_limit, state_count,
            };
            use $crate::store::{DrFilter, ProtectionStore, StateCounts, StoreError, VmFilter};

            fn sql(text: &str) -> String {
                $dialect.sql(text)
            }

            /// The statement that reads one VM record back by its key.
            fn select_vm() -> String {
                sql(&format!(
                    "SELECT {VM_COLUMNS} FROM protected_vms \
                     WHERE subscription_id = $1 AND vm_id = $2"
                ))
            }

            #[async_trait::async_trait]
            impl ProtectionStore for $store {
                async fn put_dr_subscription(
                    &self,
                    dr: &DrSubscription,
                ) -> Result<DrSubscription, StoreError> {
                    let cols = DrColumns::of(dr)?;
                    let mut tx = self.write().await?;
                    sqlx::query(&sql(&format!(
                        "INSERT INTO dr_subscriptions ({DR_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now()) \
                         ON CONFLICT (subscription_id) DO UPDATE SET \
                         phase = excluded.phase, pair_id = excluded.pair_id, \
                         primary_stamp_id = excluded.primary_stamp_id, \
                         recovery_stamp_id = excluded.recovery_stamp_id, \
                         active_stamp_id = excluded.active_stamp_id, \
                         primary_plan_id = excluded.primary_plan_id, owner = excluded.owner, \
                         mirror = excluded.mirror, networks = excluded.networks, \
                         message = excluded.message, updated_at = excluded.updated_at"
                    )))
                    .bind(&cols.subscription_id)
                    .bind(dr.phase.as_str())
                    .bind(&cols.pair_id)
                    .bind(&cols.primary_stamp_id)
                    .bind(&cols.recovery_stamp_id)
                    .bind(&cols.active_stamp_id)
                    .bind(&dr.primary_plan_id)
                    .bind(&dr.owner)
                    .bind(dr.mirror.as_str())
                    .bind(&cols.networks)
                    .bind(&dr.message)
                    .execute(&mut *tx)
                    .await?;
                    let stored: DrSubscriptionRow = sqlx::query_as(&sql(&format!(
                        "SELECT {DR_COLUMNS} FROM dr_subscriptions WHERE subscription_id = $1"
                    )))
                    .bind(&cols.subscription_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    stored.into_dr()
                }

                async fn get_dr_subscription(
                    &self,
                    id: SubscriptionId,
                ) -> Result<Option<DrSubscription>, StoreError> {
                    let row: Option<DrSubscriptionRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {DR_COLUMNS} FROM dr_subscriptions WHERE subscription_id = $1"
                    )))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(DrSubscriptionRow::into_dr).transpose()
                }

                async fn list_dr_subscriptions(
                    &self,
                    filter: &DrFilter,
                ) -> Result<Vec<DrSubscription>, StoreError> {
                    let rows: Vec<DrSubscriptionRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {DR_COLUMNS} FROM dr_subscriptions \
                         WHERE ($1::text IS NULL OR phase = $1) \
                           AND ($2::text IS NULL OR pair_id = $2) \
                           AND ($3::text IS NULL OR primary_stamp_id = $3 \
                                OR recovery_stamp_id = $3) \
                           AND ($4::text IS NULL OR active_stamp_id = $4) \
                           AND ($5::text IS NULL OR subscription_id > $5) \
                         ORDER BY subscription_id LIMIT $6"
                    )))
                    .bind(filter.phase.map(|p| p.as_str()))
                    .bind(filter.pair_id.map(|id| id.to_string()))
                    .bind(filter.stamp_id.map(|id| id.to_string()))
                    .bind(filter.active_stamp_id.map(|id| id.to_string()))
                    .bind(filter.after.map(|id| id.to_string()))
                    .bind(capped_limit(filter.limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(DrSubscriptionRow::into_dr).collect()
                }

                async fn save_protected_vm(
                    &self,
                    vm: &ProtectedVm,
                ) -> Result<ProtectedVm, StoreError> {
                    let cols = VmColumns::of(vm);
                    let mut tx = self.write().await?;
                    // Both statements take the same parameters; the stored version becomes the
                    // expected one plus one (an insert expects 0).
                    let statement = if vm.version == 0 {
                        format!(
                            "INSERT INTO protected_vms ({VM_COLUMNS}) VALUES ($1, $2, $3, $4, \
                             $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
                             $19, now(), $20 + 1) ON CONFLICT (subscription_id, vm_id) DO NOTHING"
                        )
                    } else {
                        "UPDATE protected_vms SET name = $3, stamp_id = $4, cloud_id = $5, \
                         pair_id = $6, replica_vm_id = $7, replica_owned = $8, state = $9, \
                         exclusion = $10, reason = $11, health = $12, health_detail = $13, \
                         last_replicated = $14, last_recovery_point = $15, \
                         initial_replication_percent = $16, vm_created_at = $17, \
                         protection_requested_at = $18, protected_at = $19, \
                         updated_at = now(), version = $20 + 1 \
                         WHERE subscription_id = $1 AND vm_id = $2 AND version = $20"
                            .to_owned()
                    };
                    let written = sqlx::query(&sql(&statement))
                        .bind(&cols.subscription_id)
                        .bind(&cols.vm_id)
                        .bind(&vm.name)
                        .bind(&cols.stamp_id)
                        .bind(&cols.cloud_id)
                        .bind(&cols.pair_id)
                        .bind(&cols.replica_vm_id)
                        .bind(vm.replica_owned)
                        .bind(cols.state)
                        .bind(cols.exclusion)
                        .bind(&vm.reason)
                        .bind(cols.health)
                        .bind(&vm.health_detail)
                        .bind(cols.last_replicated)
                        .bind(cols.last_recovery_point)
                        .bind(cols.initial_replication_percent)
                        .bind(cols.vm_created_at)
                        .bind(cols.protection_requested_at)
                        .bind(cols.protected_at)
                        .bind(vm.version)
                        .execute(&mut *tx)
                        .await?;
                    if written.rows_affected() != 1 {
                        return Err(StoreError::Conflict);
                    }
                    let stored: ProtectedVmRow = sqlx::query_as(&select_vm())
                        .bind(&cols.subscription_id)
                        .bind(&cols.vm_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    stored.into_vm()
                }

                async fn get_protected_vm(
                    &self,
                    subscription: SubscriptionId,
                    vm_id: Uuid,
                ) -> Result<Option<ProtectedVm>, StoreError> {
                    let row: Option<ProtectedVmRow> = sqlx::query_as(&select_vm())
                        .bind(subscription.to_string())
                        .bind(vm_id.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(ProtectedVmRow::into_vm).transpose()
                }

                async fn find_protected_vm(
                    &self,
                    vm_id: Uuid,
                ) -> Result<Option<ProtectedVm>, StoreError> {
                    // A VM belongs to one subscription; should it ever have been recorded under
                    // two (moved between owners), the record changed last is the live one.
                    let row: Option<ProtectedVmRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {VM_COLUMNS} FROM protected_vms WHERE vm_id = $1 \
                         ORDER BY updated_at DESC, subscription_id LIMIT 1"
                    )))
                    .bind(vm_id.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(ProtectedVmRow::into_vm).transpose()
                }

                async fn list_protected_vms(
                    &self,
                    subscription: SubscriptionId,
                ) -> Result<Vec<ProtectedVm>, StoreError> {
                    let rows: Vec<ProtectedVmRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {VM_COLUMNS} FROM protected_vms WHERE subscription_id = $1 \
                         ORDER BY name, vm_id"
                    )))
                    .bind(subscription.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(ProtectedVmRow::into_vm).collect()
                }

                async fn query_protected_vms(
                    &self,
                    filter: &VmFilter,
                ) -> Result<Vec<ProtectedVm>, StoreError> {
                    // One placeholder per wanted state, after the six fixed parameters.
                    let states = if filter.states.is_empty() {
                        String::new()
                    } else {
                        let marks: Vec<String> = (0..filter.states.len())
                            .map(|i| format!("${}", i + 7))
                            .collect();
                        format!(" AND state IN ({})", marks.join(", "))
                    };
                    let statement = format!(
                        "SELECT {VM_COLUMNS} FROM protected_vms \
                         WHERE ($1::text IS NULL OR subscription_id = $1) \
                           AND ($2::text IS NULL OR health = $2) \
                           AND ($3::text IS NULL OR stamp_id = $3) \
                           AND ($4::text IS NULL OR (subscription_id, vm_id) > ($4, $5::text))\
                         {states} ORDER BY subscription_id, vm_id LIMIT $6"
                    );
                    let (after_subscription, after_vm) = filter
                        .after
                        .map(|(s, v)| (s.to_string(), v.to_string()))
                        .unzip();
                    let statement = sql(&statement);
                    let mut query = sqlx::query_as::<_, ProtectedVmRow>(&statement)
                        .bind(filter.subscription_id.map(|id| id.to_string()))
                        .bind(filter.health.map(|h| h.as_str()))
                        .bind(filter.stamp_id.map(|id| id.to_string()))
                        .bind(after_subscription)
                        .bind(after_vm)
                        .bind(capped_limit(filter.limit));
                    for state in &filter.states {
                        query = query.bind(state.as_str());
                    }
                    let rows = query.fetch_all(&self.pool).await?;
                    rows.into_iter().map(ProtectedVmRow::into_vm).collect()
                }

                async fn count_protected_vms(
                    &self,
                    subscription: SubscriptionId,
                ) -> Result<StateCounts, StoreError> {
                    let subscription = subscription.to_string();
                    let rows: Vec<(String, i64)> = sqlx::query_as(&sql(
                        "SELECT state, COUNT(*) FROM protected_vms WHERE subscription_id = $1 \
                         GROUP BY state",
                    ))
                    .bind(&subscription)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter()
                        .map(|(state, count)| state_count(&subscription, &state, count))
                        .collect()
                }

                async fn delete_protected_vm(
                    &self,
                    subscription: SubscriptionId,
                    vm_id: Uuid,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write().await?;
                    let done = sqlx::query(&sql(
                        "DELETE FROM protected_vms WHERE subscription_id = $1 AND vm_id = $2",
                    ))
                    .bind(subscription.to_string())
                    .bind(vm_id.to_string())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn get_cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
                    let value: Option<(String,)> = sqlx::query_as(&sql(
                        "SELECT value FROM protection_cursors WHERE name = $1",
                    ))
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(value.map(|(v,)| v))
                }

                async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
                    let mut tx = self.write().await?;
                    sqlx::query(&sql(
                        "INSERT INTO protection_cursors (name, value, updated_at) \
                         VALUES ($1, $2, now()) ON CONFLICT (name) DO UPDATE SET \
                         value = excluded.value, updated_at = excluded.updated_at",
                    ))
                    .bind(name)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        };
    };
}

pub(super) use impl_protection_store;
