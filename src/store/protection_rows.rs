//! The mapping between protection's table rows and its domain types, shared by both backends.
//!
//! Backends decode a row into one of the plain structs here (text, integers, timestamps) and turn
//! it into the domain type with `into_*`; anything the domain cannot accept is
//! [`StoreError::Corrupt`], naming the column and the row. This module holds no SQL beyond the
//! column lists.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use super::rows::{corrupt, decode_json, encode_json, storage_time};
use crate::domain::{
    DrPhase, DrSubscription, Exclusion, MirrorState, ProtectedVm, SubscriptionId, VmHealth,
    VmProtectionState,
};

/// The `dr_subscriptions` columns, in the order [`DrSubscriptionRow`] reads them.
pub(super) const DR_COLUMNS: &str = "subscription_id, phase, pair_id, primary_stamp_id, \
     recovery_stamp_id, active_stamp_id, primary_plan_id, owner, mirror, networks, message, \
     updated_at";

/// The `protected_vms` columns, in the order [`ProtectedVmRow`] reads them.
pub(super) const VM_COLUMNS: &str = "subscription_id, vm_id, name, stamp_id, cloud_id, pair_id, \
     replica_vm_id, replica_owned, state, exclusion, reason, health, health_detail, \
     last_replicated, last_recovery_point, initial_replication_percent, vm_created_at, \
     protection_requested_at, protected_at, updated_at, version";

/// The most records one listing returns, and what a listing without a limit returns.
const MAX_LIST_LIMIT: u32 = 1000;

/// The listing limit a filter asks for: none means the cap, and no more than the cap.
pub(super) fn capped_limit(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(MAX_LIST_LIMIT).min(MAX_LIST_LIMIT))
}

/// One network mapping as the `networks` JSON column holds it.
#[derive(Serialize, Deserialize)]
struct StoredNetwork {
    primary: Uuid,
    recovery: Uuid,
}

/// One `dr_subscriptions` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct DrSubscriptionRow {
    subscription_id: String,
    phase: String,
    pair_id: Option<String>,
    primary_stamp_id: Option<String>,
    recovery_stamp_id: Option<String>,
    active_stamp_id: Option<String>,
    primary_plan_id: Option<String>,
    owner: Option<String>,
    mirror: String,
    networks: String,
    message: Option<String>,
    updated_at: OffsetDateTime,
}

impl DrSubscriptionRow {
    /// The domain record this row holds.
    pub(super) fn into_dr(self) -> Result<DrSubscription, StoreError> {
        let row = self.subscription_id.as_str();
        let subscription_id = SubscriptionId::parse(row)
            .map_err(|_| corrupt("dr_subscriptions.subscription_id", row, row))?;
        let phase = DrPhase::from_name(&self.phase)
            .ok_or_else(|| corrupt("dr_subscriptions.phase", row, &self.phase))?;
        let mirror = MirrorState::from_name(&self.mirror)
            .ok_or_else(|| corrupt("dr_subscriptions.mirror", row, &self.mirror))?;
        let networks: Vec<StoredNetwork> =
            decode_json("dr_subscriptions.networks", row, &self.networks)?;
        let id = |column: &str, value: Option<String>| optional_uuid(column, row, value);
        Ok(DrSubscription {
            subscription_id,
            phase,
            pair_id: id("dr_subscriptions.pair_id", self.pair_id)?,
            primary_stamp_id: id("dr_subscriptions.primary_stamp_id", self.primary_stamp_id)?,
            recovery_stamp_id: id("dr_subscriptions.recovery_stamp_id", self.recovery_stamp_id)?,
            active_stamp_id: id("dr_subscriptions.active_stamp_id", self.active_stamp_id)?,
            primary_plan_id: self.primary_plan_id,
            owner: self.owner,
            mirror,
            networks: networks
                .into_iter()
                .map(|n| (n.primary, n.recovery))
                .collect(),
            message: self.message,
            updated_at: self.updated_at,
        })
    }
}

/// One `protected_vms` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ProtectedVmRow {
    subscription_id: String,
    vm_id: String,
    name: String,
    stamp_id: String,
    cloud_id: String,
    pair_id: String,
    replica_vm_id: Option<String>,
    replica_owned: bool,
    state: String,
    exclusion: Option<String>,
    reason: Option<String>,
    health: Option<String>,
    health_detail: Option<String>,
    last_replicated: Option<OffsetDateTime>,
    last_recovery_point: Option<OffsetDateTime>,
    initial_replication_percent: Option<i64>,
    vm_created_at: Option<OffsetDateTime>,
    protection_requested_at: Option<OffsetDateTime>,
    protected_at: Option<OffsetDateTime>,
    updated_at: OffsetDateTime,
    version: i64,
}

impl ProtectedVmRow {
    /// The domain record this row holds.
    pub(super) fn into_vm(self) -> Result<ProtectedVm, StoreError> {
        let row = format!("{}/{}", self.subscription_id, self.vm_id);
        let row = row.as_str();
        let subscription_id = SubscriptionId::parse(&self.subscription_id)
            .map_err(|_| corrupt("protected_vms.subscription_id", row, &self.subscription_id))?;
        let id = |column: &str, value: &str| {
            Uuid::parse_str(value).map_err(|_| corrupt(column, row, value))
        };
        let state = VmProtectionState::from_name(&self.state)
            .ok_or_else(|| corrupt("protected_vms.state", row, &self.state))?;
        let exclusion = self
            .exclusion
            .map(|e| {
                Exclusion::from_name(&e).ok_or_else(|| corrupt("protected_vms.exclusion", row, &e))
            })
            .transpose()?;
        let health = self
            .health
            .map(|h| {
                VmHealth::from_name(&h).ok_or_else(|| corrupt("protected_vms.health", row, &h))
            })
            .transpose()?;
        let initial_replication_percent = self
            .initial_replication_percent
            .map(|p| {
                u8::try_from(p).map_err(|_| {
                    corrupt(
                        "protected_vms.initial_replication_percent",
                        row,
                        &p.to_string(),
                    )
                })
            })
            .transpose()?;
        Ok(ProtectedVm {
            subscription_id,
            vm_id: id("protected_vms.vm_id", &self.vm_id)?,
            name: self.name,
            stamp_id: id("protected_vms.stamp_id", &self.stamp_id)?,
            cloud_id: id("protected_vms.cloud_id", &self.cloud_id)?,
            pair_id: id("protected_vms.pair_id", &self.pair_id)?,
            replica_vm_id: optional_uuid("protected_vms.replica_vm_id", row, self.replica_vm_id)?,
            replica_owned: self.replica_owned,
            state,
            exclusion,
            reason: self.reason,
            health,
            health_detail: self.health_detail,
            last_replicated: self.last_replicated,
            last_recovery_point: self.last_recovery_point,
            initial_replication_percent,
            vm_created_at: self.vm_created_at,
            protection_requested_at: self.protection_requested_at,
            protected_at: self.protected_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

/// A DR record's columns in their stored form, ready to bind.
pub(super) struct DrColumns {
    pub subscription_id: String,
    pub pair_id: Option<String>,
    pub primary_stamp_id: Option<String>,
    pub recovery_stamp_id: Option<String>,
    pub active_stamp_id: Option<String>,
    pub networks: String,
}

impl DrColumns {
    /// The stored form of the columns that are not stored as they are.
    pub(super) fn of(dr: &DrSubscription) -> Result<Self, StoreError> {
        let subscription_id = dr.subscription_id.to_string();
        let networks: Vec<StoredNetwork> = dr
            .networks
            .iter()
            .map(|&(primary, recovery)| StoredNetwork { primary, recovery })
            .collect();
        Ok(Self {
            networks: encode_json("dr_subscriptions.networks", &subscription_id, &networks)?,
            pair_id: text(dr.pair_id),
            primary_stamp_id: text(dr.primary_stamp_id),
            recovery_stamp_id: text(dr.recovery_stamp_id),
            active_stamp_id: text(dr.active_stamp_id),
            subscription_id,
        })
    }
}

/// A VM record's columns in their stored form, ready to bind.
pub(super) struct VmColumns {
    pub subscription_id: String,
    pub vm_id: String,
    pub stamp_id: String,
    pub cloud_id: String,
    pub pair_id: String,
    pub replica_vm_id: Option<String>,
    pub state: &'static str,
    pub exclusion: Option<&'static str>,
    pub health: Option<&'static str>,
    pub last_replicated: Option<OffsetDateTime>,
    pub last_recovery_point: Option<OffsetDateTime>,
    pub initial_replication_percent: Option<i64>,
    pub vm_created_at: Option<OffsetDateTime>,
    pub protection_requested_at: Option<OffsetDateTime>,
    pub protected_at: Option<OffsetDateTime>,
}

impl VmColumns {
    /// The stored form of the columns that are not stored as they are.
    pub(super) fn of(vm: &ProtectedVm) -> Self {
        Self {
            subscription_id: vm.subscription_id.to_string(),
            vm_id: vm.vm_id.to_string(),
            stamp_id: vm.stamp_id.to_string(),
            cloud_id: vm.cloud_id.to_string(),
            pair_id: vm.pair_id.to_string(),
            replica_vm_id: text(vm.replica_vm_id),
            state: vm.state.as_str(),
            exclusion: vm.exclusion.map(Exclusion::as_str),
            health: vm.health.map(VmHealth::as_str),
            last_replicated: vm.last_replicated.map(storage_time),
            last_recovery_point: vm.last_recovery_point.map(storage_time),
            initial_replication_percent: vm.initial_replication_percent.map(i64::from),
            vm_created_at: vm.vm_created_at.map(storage_time),
            protection_requested_at: vm.protection_requested_at.map(storage_time),
            protected_at: vm.protected_at.map(storage_time),
        }
    }
}

/// Counts by state name as the store reads them, keyed by the state's own name.
pub(super) fn state_count(
    subscription: &str,
    state: &str,
    count: i64,
) -> Result<(&'static str, u64), StoreError> {
    let name = VmProtectionState::from_name(state)
        .ok_or_else(|| corrupt("protected_vms.state", subscription, state))?
        .as_str();
    Ok((name, u64::try_from(count).unwrap_or(0)))
}

/// An id in its stored form (lower-case hyphenated).
fn text(id: Option<Uuid>) -> Option<String> {
    id.map(|id| id.to_string())
}

fn optional_uuid(
    column: &str,
    row: &str,
    value: Option<String>,
) -> Result<Option<Uuid>, StoreError> {
    value
        .map(|v| Uuid::parse_str(&v).map_err(|_| corrupt(column, row, &v)))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_limits_default_to_the_cap_of_1000() {
        assert_eq!(capped_limit(None), 1000);
        assert_eq!(capped_limit(Some(7)), 7);
        assert_eq!(capped_limit(Some(50_000)), 1000);
    }

    #[test]
    fn an_unknown_state_is_corrupt_naming_the_column() {
        match state_count("s", "Sleeping", 1) {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("protected_vms.state"), "{message}")
            }
            other => panic!("expected a corrupt row, got {other:?}"),
        }
    }
}
