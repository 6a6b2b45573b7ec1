//! What protection persists: each DR subscription's record (pair, stamps, mirror, networks) and
//! each VM's (replica, state, health), plus named cursors the runbooks keep between runs.
//! [`ProtectionStore`] is implemented once for both backends by `impl_protection_store!`
//! (`protection_impl`), with SQL written in PostgreSQL's dialect.

use std::collections::BTreeMap;

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{
    DrPhase, DrSubscription, ProtectedVm, SubscriptionId, VmHealth, VmProtectionState,
};

/// Which DR subscriptions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrFilter {
    /// Only in this phase.
    pub phase: Option<DrPhase>,
    /// Only those of this cloud pair.
    pub pair_id: Option<Uuid>,
    /// Only those whose primary or recovery stamp is this one.
    pub stamp_id: Option<Uuid>,
    /// Only those active on this stamp now.
    pub active_stamp_id: Option<Uuid>,
    /// Keyset paging: only ids greater than this one (ids sort as lower-case text).
    pub after: Option<SubscriptionId>,
    /// At most this many (1000 when unset, and never more).
    pub limit: Option<u32>,
}

/// Which VM records to list across subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmFilter {
    /// Only this subscription's.
    pub subscription_id: Option<SubscriptionId>,
    /// Only in one of these states (empty: any).
    pub states: Vec<VmProtectionState>,
    /// Only with this health.
    pub health: Option<VmHealth>,
    /// Only on this primary stamp.
    pub stamp_id: Option<Uuid>,
    /// Keyset paging: only records after this (subscription, vm) key.
    pub after: Option<(SubscriptionId, Uuid)>,
    /// At most this many (1000 when unset, and never more).
    pub limit: Option<u32>,
}

/// Counts of a subscription's VMs by protection state.
pub type StateCounts = BTreeMap<&'static str, u64>;

/// The protection operations; every method is one transaction.
#[async_trait]
pub trait ProtectionStore: Send + Sync {
    /// Inserts or replaces a subscription's DR record (last writer wins: only one enable or
    /// disable run per subscription writes it), stamping `updated_at` with the database clock;
    /// returns the stored record.
    async fn put_dr_subscription(&self, dr: &DrSubscription) -> Result<DrSubscription, StoreError>;

    /// One subscription's DR record.
    async fn get_dr_subscription(
        &self,
        id: SubscriptionId,
    ) -> Result<Option<DrSubscription>, StoreError>;

    /// DR records ordered by subscription id.
    async fn list_dr_subscriptions(
        &self,
        filter: &DrFilter,
    ) -> Result<Vec<DrSubscription>, StoreError>;

    /// Inserts (when `vm.version == 0`) or updates (when `vm.version` matches) a VM record,
    /// stamping `updated_at`; returns the stored record with its new version. A version
    /// mismatch, or an insert of a (subscription, vm) that exists, is [`StoreError::Conflict`].
    async fn save_protected_vm(&self, vm: &ProtectedVm) -> Result<ProtectedVm, StoreError>;

    /// One VM record.
    async fn get_protected_vm(
        &self,
        subscription: SubscriptionId,
        vm_id: Uuid,
    ) -> Result<Option<ProtectedVm>, StoreError>;

    /// The record of a VM by its SPF id alone (an event names a VM, not its subscription).
    async fn find_protected_vm(&self, vm_id: Uuid) -> Result<Option<ProtectedVm>, StoreError>;

    /// Every VM record of a subscription, ordered by name then id.
    async fn list_protected_vms(
        &self,
        subscription: SubscriptionId,
    ) -> Result<Vec<ProtectedVm>, StoreError>;

    /// VM records across subscriptions, ordered by (subscription, vm id).
    async fn query_protected_vms(&self, filter: &VmFilter) -> Result<Vec<ProtectedVm>, StoreError>;

    /// A subscription's VM records counted by state (states with none are absent).
    async fn count_protected_vms(
        &self,
        subscription: SubscriptionId,
    ) -> Result<StateCounts, StoreError>;

    /// Removes a VM record; `false` when there was none.
    async fn delete_protected_vm(
        &self,
        subscription: SubscriptionId,
        vm_id: Uuid,
    ) -> Result<bool, StoreError>;

    /// A runbook's cursor (what it read up to), by name.
    async fn get_cursor(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Sets a runbook's cursor.
    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError>;
}
