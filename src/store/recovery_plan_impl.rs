//! The one implementation of [`RecoveryPlanStore`](super::RecoveryPlanStore), instantiated for
//! each backend by `impl_recovery_plan_store!` like the protection store: the SQL is written once
//! in PostgreSQL's dialect and translated for SQLite; the row mapping is in
//! `recovery_plan_rows`. A unique-index violation (a name taken, a second default plan) is
//! [`StoreError::Conflict`], like a stale version.

/// Whether a database error is a unique-constraint violation (a name or default plan taken).
pub(super) fn unique_violation(err: sqlx::Error) -> super::StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => super::StoreError::Conflict,
        _ => super::StoreError::Database(err),
    }
}

/// Implements `RecoveryPlanStore` for `$store` (with a `pool` and a `write()` that begins a write
/// transaction) on database `$db`, translating statements with `$dialect`.
macro_rules! impl_recovery_plan_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use uuid::Uuid;
            use $crate::domain::{RecoveryPlan, SubscriptionId};
            use $crate::store::recovery_plan_impl::unique_violation;
            use $crate::store::recovery_plan_rows::{PLAN_COLUMNS, RecoveryPlanRow, groups_json};
            use $crate::store::{RecoveryPlanStore, StoreError};

            fn sql(text: &str) -> String {
                $dialect.sql(text)
            }

            /// The statement that reads one plan back by its id.
            fn select_plan() -> String {
                sql(&format!(
                    "SELECT {PLAN_COLUMNS} FROM recovery_plans \
                     WHERE subscription_id = $1 AND id = $2"
                ))
            }

            #[async_trait::async_trait]
            impl RecoveryPlanStore for $store {
                async fn create_recovery_plan(
                    &self,
                    plan: &RecoveryPlan,
                ) -> Result<RecoveryPlan, StoreError> {
                    let groups = groups_json(plan)?;
                    let (id, subscription) =
                        (plan.id.to_string(), plan.subscription_id.to_string());
                    let mut tx = self.write().await?;
                    let written = sqlx::query(&sql(&format!(
                        "INSERT INTO recovery_plans ({PLAN_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, $6, now(), 1) ON CONFLICT DO NOTHING"
                    )))
                    .bind(&id)
                    .bind(&subscription)
                    .bind(&plan.name)
                    .bind(&plan.description)
                    .bind(&groups)
                    .bind(plan.is_default)
                    .execute(&mut *tx)
                    .await?;
                    if written.rows_affected() != 1 {
                        return Err(StoreError::Conflict);
                    }
                    let stored: RecoveryPlanRow = sqlx::query_as(&select_plan())
                        .bind(&subscription)
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    stored.into_plan()
                }

                async fn get_recovery_plan(
                    &self,
                    subscription: SubscriptionId,
                    id: Uuid,
                ) -> Result<Option<RecoveryPlan>, StoreError> {
                    let row: Option<RecoveryPlanRow> = sqlx::query_as(&select_plan())
                        .bind(subscription.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(RecoveryPlanRow::into_plan).transpose()
                }

                async fn get_default_recovery_plan(
                    &self,
                    subscription: SubscriptionId,
                ) -> Result<Option<RecoveryPlan>, StoreError> {
                    let row: Option<RecoveryPlanRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {PLAN_COLUMNS} FROM recovery_plans \
                         WHERE subscription_id = $1 AND is_default"
                    )))
                    .bind(subscription.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                    row.map(RecoveryPlanRow::into_plan).transpose()
                }

                async fn list_recovery_plans(
                    &self,
                    subscription: SubscriptionId,
                ) -> Result<Vec<RecoveryPlan>, StoreError> {
                    let rows: Vec<RecoveryPlanRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {PLAN_COLUMNS} FROM recovery_plans WHERE subscription_id = $1 \
                         ORDER BY is_default DESC, name, id"
                    )))
                    .bind(subscription.to_string())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(RecoveryPlanRow::into_plan).collect()
                }

                async fn update_recovery_plan(
                    &self,
                    plan: &RecoveryPlan,
                ) -> Result<RecoveryPlan, StoreError> {
                    let groups = groups_json(plan)?;
                    let (id, subscription) =
                        (plan.id.to_string(), plan.subscription_id.to_string());
                    let mut tx = self.write().await?;
                    let written = sqlx::query(&sql(
                        "UPDATE recovery_plans SET name = $3, description = $4, groups = $5, \
                         updated_at = now(), version = $6 + 1 \
                         WHERE subscription_id = $1 AND id = $2 AND version = $6",
                    ))
                    .bind(&subscription)
                    .bind(&id)
                    .bind(&plan.name)
                    .bind(&plan.description)
                    .bind(&groups)
                    .bind(plan.version)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_violation)?;
                    if written.rows_affected() != 1 {
                        return Err(StoreError::Conflict);
                    }
                    let stored: RecoveryPlanRow = sqlx::query_as(&select_plan())
                        .bind(&subscription)
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    stored.into_plan()
                }

                async fn delete_recovery_plan(
                    &self,
                    subscription: SubscriptionId,
                    id: Uuid,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write().await?;
                    let done = sqlx::query(&sql(
                        "DELETE FROM recovery_plans WHERE subscription_id = $1 AND id = $2",
                    ))
                    .bind(subscription.to_string())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected() == 1)
                }
            }
        };
    };
}

pub(super) use impl_recovery_plan_store;
