//! What recovery plans persist: each subscription's plans, read and written whole (a plan's groups
//! are one JSON document). [`RecoveryPlanStore`] is implemented once for both backends by
//! `impl_recovery_plan_store!` (`recovery_plan_impl`), with SQL written in PostgreSQL's dialect.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{RecoveryPlan, SubscriptionId};

/// The recovery-plan operations; every method is one transaction.
#[async_trait]
pub trait RecoveryPlanStore: Send + Sync {
    /// Inserts a plan (its `version` is ignored; the stored one is 1), stamping `updated_at`;
    /// returns the stored plan. A plan of the same subscription with the same name, a second
    /// default plan, or an existing id is [`StoreError::Conflict`].
    async fn create_recovery_plan(&self, plan: &RecoveryPlan) -> Result<RecoveryPlan, StoreError>;

    /// One plan of a subscription (`None` when the subscription has no plan with that id).
    async fn get_recovery_plan(
        &self,
        subscription: SubscriptionId,
        id: Uuid,
    ) -> Result<Option<RecoveryPlan>, StoreError>;

    /// The subscription's default plan, if it has one yet.
    async fn get_default_recovery_plan(
        &self,
        subscription: SubscriptionId,
    ) -> Result<Option<RecoveryPlan>, StoreError>;

    /// Every plan of a subscription: the default plan first, then by name.
    async fn list_recovery_plans(
        &self,
        subscription: SubscriptionId,
    ) -> Result<Vec<RecoveryPlan>, StoreError>;

    /// Replaces a plan's name, description and groups when `plan.version` matches the stored
    /// version, stamping `updated_at`; returns the stored plan with its new version. A version
    /// mismatch, a plan that is gone, or a name another plan of the subscription has is
    /// [`StoreError::Conflict`]. Whether a plan is the default never changes.
    async fn update_recovery_plan(&self, plan: &RecoveryPlan) -> Result<RecoveryPlan, StoreError>;

    /// Removes a plan; `false` when the subscription had no plan with that id.
    async fn delete_recovery_plan(
        &self,
        subscription: SubscriptionId,
        id: Uuid,
    ) -> Result<bool, StoreError>;
}
