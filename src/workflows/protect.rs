//! The per-VM core of protection: [`reconcile_vm`] reads one VM from its primary stamp's SPF and
//! brings its record and the replication engine to what DR wants for it (protected with its
//! replica owned by the tenant on the recovery stamp, or excluded, over quota, unprotectable or
//! disabled, always with a reason); [`disable_vm`] takes protection off. The `reconcile_vm`
//! workflow ([`ReconcileVm`](super::ReconcileVm)) runs the core as one durable job, re-checking
//! until the VM settles.
//!
//! Enable DR fans out to the same core, and the runbooks (protect new VMs, health) and the
//! exclusion endpoint reuse it, so every path applies one set of rules. The core never waits
//! long: it does what can be done now and returns the record; [`needs_another_look`] says
//! whether the caller should call again shortly.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{
    Admission, CloudPair, DrPhase, DrQuota, DrSubscription, Exclusion, FailoverPhase, ProtectedVm,
    Stamp, Subscription, VmHealth, VmProtectionState, admit,
};
use crate::fabric::replication::{
    Container, Health, ItemRef, OperationState, Phase, ProtectionStatus,
};
use crate::fabric::spf::Owner;
use crate::store::{SharedStore, StoreError};

use super::default_plan::sync_on_crossing;
use super::{StampClients, Stop, fabric_refs};

/// How long one pass waits for an engine operation before handing back (and looking later).
const OPERATION_WAIT: Duration = Duration::from_secs(5);

/// How soon a VM that has not settled is first looked at again.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// The longest pause between looks at a VM that has not settled (an initial replication may take
/// hours: polling a thousand VMs every second would flood the engine).
const RECHECK_AT_MOST: Duration = Duration::from_secs(30);

/// How long to wait before look number `looks + 1` at a VM that has not settled: one second,
/// doubling with each look, at most [`RECHECK_AT_MOST`].
pub fn recheck_delay(looks: u32) -> Duration {
    RECHECK_AFTER
        .saturating_mul(1_u32 << looks.min(16))
        .min(RECHECK_AT_MOST)
}

/// Whether a record is still moving (protection or its removal under way, or a replica not yet
/// given to the tenant): the caller should reconcile it again after [`recheck_delay`].
pub fn needs_another_look(vm: &ProtectedVm) -> bool {
    match vm.state {
        VmProtectionState::Pending | VmProtectionState::Enabling | VmProtectionState::Disabling => {
            true
        }
        VmProtectionState::Protected => !vm.replica_owned,
        _ => false,
    }
}

/// What one VM's reconciliation needs to know about its subscription, read once per pass.
struct Scope {
    dr: DrSubscription,
    sub: Subscription,
    quota: DrQuota,
    pair: CloudPair,
    primary: Stamp,
    recovery: Stamp,
    primary_vmm: Uuid,
    recovery_vmm: Uuid,
    container: Container,
}

impl Scope {
    async fn load(
        clients: &StampClients,
        store: &SharedStore,
        dr: &DrSubscription,
    ) -> Result<Self, Stop> {
        let not_enabled = || {
            Stop::Final(format!(
                "DR has not been set up for subscription {} (no cloud pair recorded): enable DR first.",
                dr.subscription_id
            ))
        };
        let pair_id = dr.pair_id.ok_or_else(not_enabled)?;
        let pair = fabric_refs::pair(store, pair_id).await?;
        let sub = store
            .get_subscription(dr.subscription_id)
            .await?
            .ok_or_else(|| {
                Stop::Final(format!(
                    "Subscription {} is not known to the DR service.",
                    dr.subscription_id
                ))
            })?;
        let quota = sub
            .effective_quota()
            .map_err(|e| Stop::Final(e.to_string()))?;
        let primary = fabric_refs::stamp(store, pair.primary.stamp_id).await?;
        let recovery = fabric_refs::stamp(store, pair.recovery.stamp_id).await?;
        let primary_vmm = fabric_refs::spf_stamp_id(clients, store, &primary).await?;
        let recovery_vmm = fabric_refs::spf_stamp_id(clients, store, &recovery).await?;
        let container =
            fabric_refs::container(clients, store, primary.id, pair.primary.cloud_id).await?;
        Ok(Self {
            dr: dr.clone(),
            sub,
            quota,
            pair,
            primary,
            recovery,
            primary_vmm,
            recovery_vmm,
            container,
        })
    }

    fn item(&self, vm_id: Uuid) -> ItemRef {
        ItemRef {
            site: self.container.site.clone(),
            container: self.container.id.clone(),
            vm_id: vm_id.to_string(),
        }
    }

    /// The subscription's account admin, who owns the replicas on the recovery stamp.
    fn owner(&self) -> String {
        self.dr
            .owner
            .clone()
            .unwrap_or_else(|| self.sub.admin_id.clone())
    }
}

/// Reads VM `vm_id` of `dr`'s subscription from the primary stamp's SPF and brings its record and
/// the replication engine to the desired state, in this order of rules:
///
/// - a VM gone from the fabric → protection disabled (if any), record `Disabled`;
/// - an exclusion (recorded by tenant or admin, or the `wapdr:exclude` tag) → protection
///   disabled (if any), record `Excluded` with who excluded it;
/// - the engine's readiness errors → `Unprotectable` with the engine's reason;
/// - beyond `MaxProtectedVms` (VMs ranked by when protection was requested) → `OverQuota`
///   (a protected VM beyond a lowered quota is disabled); a raised quota admits it again;
/// - otherwise protection is enabled under the pair's policy at the quota's
///   `ReplicationFrequencySeconds` (already protected is fine), and once the engine names the
///   replica it is given to the subscription's user role on the recovery stamp.
///
/// Returns the stored record. It does what can be done now: a record in `Enabling` or
/// `Disabling`, or protected with a replica not yet owned, [`needs_another_look`]. A failure of
/// the engine to enable is recorded as `Failed` with its reason (and returned as the record);
/// transient trouble (a stamp or the vault unreachable, a store race) is `Stop::Transient`.
/// While a failover job runs on the subscription the VM waits (transient); while the
/// subscription is failed over, drilling or committed its record is returned untouched.
pub async fn reconcile_vm(
    clients: &StampClients,
    store: &SharedStore,
    dr: &DrSubscription,
    vm_id: Uuid,
) -> Result<ProtectedVm, Stop> {
    let record = store.get_protected_vm(dr.subscription_id, vm_id).await?;
    if let Some(failover) = store.get_failover(dr.subscription_id).await? {
        // A VM of a subscription mid-failover belongs to the failover: it waits for a running
        // job, and is left as it is while the subscription is failed over, drilling or committed.
        if let Some(running) = failover.running.as_ref() {
            if super::last_job_running(store, &failover).await? {
                return Err(Stop::Transient(format!(
                    "a '{}' operation (job {}) is running on the subscription; the VM is reconciled after it",
                    running.kind, running.job_id
                )));
            }
        }
        if failover.phase != FailoverPhase::Replicating {
            return record.ok_or_else(|| {
                Stop::Final(format!(
                    "VM {vm_id} is not protected while the subscription is {}; it will be once the subscription replicates again.",
                    failover.phase.as_str()
                ))
            });
        }
    }
    let before = record.as_ref().map(|r| r.state);
    let after = reconcile_record(clients, store, dr, vm_id, record).await?;
    // While enable DR runs, its last step writes the default plan once; a rewrite per VM would
    // read every record of the subscription again for each of its VMs.
    if dr.phase != DrPhase::Enabling {
        sync_on_crossing(store, before, &after).await;
    }
    Ok(after)
}

/// [`reconcile_vm`] for the VM's record as read (`None` when it has none yet).
async fn reconcile_record(
    clients: &StampClients,
    store: &SharedStore,
    dr: &DrSubscription,
    vm_id: Uuid,
    record: Option<ProtectedVm>,
) -> Result<ProtectedVm, Stop> {
    let scope = Scope::load(clients, store, dr).await?;
    let spf = clients.spf(&scope.primary)?;
    let vm = spf
        .get_vm(scope.primary_vmm, vm_id)
        .await?
        .filter(|vm| vm.is_healthy());
    let engine = fabric_refs::engine(clients)?;
    let item = scope.item(vm_id);
    let Some(vm) = vm else {
        let Some(record) = record else {
            return Err(Stop::Final(format!(
                "VM {vm_id} is not on stamp '{}'.",
                scope.primary.name
            )));
        };
        let status = engine.protection_status(&item).await?;
        return release(
            clients,
            store,
            &scope,
            record,
            status,
            Release {
                state: VmProtectionState::Disabled,
                exclusion: None,
                reason: "The VM was deleted on the primary stamp; its protection was removed."
                    .into(),
            },
        )
        .await;
    };
    let sub_role = dr.subscription_id.as_uuid();
    if vm.owner.as_ref().and_then(|o| o.role_id) != Some(sub_role) {
        return Err(Stop::Final(format!(
            "VM '{}' ({vm_id}) does not belong to subscription {}.",
            vm.name, dr.subscription_id
        )));
    }
    if vm.cloud_id != Some(scope.pair.primary.cloud_id) {
        return Err(Stop::Final(format!(
            "VM '{}' ({vm_id}) is not in cloud {} that the subscription's cloud pair protects.",
            vm.name, scope.pair.primary.cloud_id
        )));
    }
    let mut record = record.unwrap_or_else(|| {
        ProtectedVm::pending(
            dr.subscription_id,
            vm_id,
            vm.name.clone(),
            scope.primary.id,
            scope.pair.primary.cloud_id,
            scope.pair.id,
        )
    });
    record.name = vm.name.clone();
    record.vm_created_at = vm.creation_time.or(vm.added_time);
    let status = engine.protection_status(&item).await?;

    if let Admission::Exclude(exclusion) = admit(record.exclusion, vm.tag.as_deref(), 0, None) {
        let reason = match exclusion {
            Exclusion::Tag => format!("The VM is tagged '{}'.", crate::domain::EXCLUDE_TAG),
            Exclusion::Tenant => "The tenant excluded the VM from DR.".to_owned(),
            Exclusion::Admin => "The provider excluded the VM from DR.".to_owned(),
        };
        let release_to = Release {
            state: VmProtectionState::Excluded,
            exclusion: Some(exclusion),
            reason,
        };
        return release(clients, store, &scope, record, status, release_to).await;
    }
    // A tag exclusion lapses with the tag.
    record.exclusion = None;

    if status.is_none() && vm.is_being_created() {
        // A VM-created event often arrives while VMM is still building the VM: wait for it
        // rather than report it unprotectable.
        record.state = VmProtectionState::Pending;
        record.reason =
            Some("The VM is still being created; protection is requested once it is.".to_owned());
        return save(store, &record).await;
    }
    if !record.state.counts_against_quota() {
        if status.is_none() {
            // This VM's item alone: listing the container's every item per VM made protection
            // cost grow with the cloud's size.
            let Some(found) = engine
                .protectable_vm(&scope.container, &vm_id.to_string())
                .await?
            else {
                return Err(Stop::Transient(format!(
                    "the vault does not list VM '{}' yet",
                    vm.name
                )));
            };
            if !found.readiness_errors.is_empty() {
                record.state = VmProtectionState::Unprotectable;
                record.reason = Some(found.readiness_errors.join(" "));
                return save(store, &record).await;
            }
        }
        record = claim_slot(store, record).await?;
    }
    if let Some(limit) = scope.quota.max_protected_vms {
        if rank_among_protected(store, &record).await? >= u64::from(limit) {
            let release_to = Release {
                state: VmProtectionState::OverQuota,
                exclusion: None,
                reason: format!(
                    "The subscription may protect {limit} VMs (MaxProtectedVms); raise the quota to protect this one."
                ),
            };
            return release(clients, store, &scope, record, status, release_to).await;
        }
    }

    let status = match status {
        Some(status) => status,
        None => match enable(clients, store, &scope, &item).await? {
            Ok(status) => status,
            Err(reason) => {
                record.state = VmProtectionState::Failed;
                record.reason = Some(reason);
                return save(store, &record).await;
            }
        },
    };
    apply_status(&mut record, &status);
    if !record.replica_owned {
        if let Some(replica) = record.replica_vm_id {
            record.replica_owned = give_replica(clients, &scope, replica).await?;
        }
    }
    save(store, &record).await
}

/// Takes protection off VM `vm_id` of `dr`'s subscription (DR turned off, or the subscription
/// deleted): disables it in the engine if protected, waits a little for the engine, and records
/// `Disabled` (or `Disabling` while the engine works: [`needs_another_look`]). A VM with no record
/// is `Ok(None)`: there is nothing to release.
pub async fn disable_vm(
    clients: &StampClients,
    store: &SharedStore,
    dr: &DrSubscription,
    vm_id: Uuid,
) -> Result<Option<ProtectedVm>, Stop> {
    let Some(record) = store.get_protected_vm(dr.subscription_id, vm_id).await? else {
        return Ok(None);
    };
    if record.state == VmProtectionState::Disabled {
        return Ok(Some(record));
    }
    let scope = Scope::load(clients, store, dr).await?;
    let engine = fabric_refs::engine(clients)?;
    let status = engine.protection_status(&scope.item(vm_id)).await?;
    let exclusion = record.exclusion;
    let before = record.state;
    let release_to = Release {
        state: VmProtectionState::Disabled,
        exclusion,
        reason: "DR was turned off for the subscription; protection was removed.".into(),
    };
    let after = release(clients, store, &scope, record, status, release_to).await?;
    sync_on_crossing(store, Some(before), &after).await;
    Ok(Some(after))
}

/// Where a VM whose protection is taken off ends, and why.
struct Release {
    state: VmProtectionState,
    exclusion: Option<Exclusion>,
    reason: String,
}

/// Disables protection if the engine has the VM, then records the VM's final state; while the
/// engine's operation runs the record says `Disabling`.
async fn release(
    clients: &StampClients,
    store: &SharedStore,
    scope: &Scope,
    mut record: ProtectedVm,
    status: Option<ProtectionStatus>,
    to: Release,
) -> Result<ProtectedVm, Stop> {
    if status.is_some() {
        let engine = fabric_refs::engine(clients)?;
        let item = scope.item(record.vm_id);
        let operation = engine.disable_protection(&item).await?;
        match engine.wait(&operation, OPERATION_WAIT).await?.state {
            OperationState::Succeeded => {}
            OperationState::InProgress => {
                record.state = VmProtectionState::Disabling;
                record.exclusion = to.exclusion;
                record.reason = Some(to.reason);
                return save(store, &record).await;
            }
            OperationState::Failed { message } => {
                return Err(Stop::Final(format!(
                    "The replication engine could not disable protection of VM '{}': {message}",
                    record.name
                )));
            }
            OperationState::Cancelled => {
                return Err(Stop::Transient(format!(
                    "disabling protection of VM '{}' was cancelled",
                    record.name
                )));
            }
        }
    }
    record.state = to.state;
    record.exclusion = to.exclusion;
    record.reason = Some(to.reason);
    record.replica_vm_id = None;
    record.replica_owned = false;
    record.health = None;
    record.health_detail = None;
    record.initial_replication_percent = None;
    save(store, &record).await
}

/// Takes a quota slot: the record is saved `Enabling` and its request time is the database's
/// time of that save, so every VM of the subscription ranks the claims the same way.
async fn claim_slot(store: &SharedStore, mut record: ProtectedVm) -> Result<ProtectedVm, Stop> {
    record.state = VmProtectionState::Enabling;
    record.reason = None;
    record.protection_requested_at = None;
    let mut stored = save(store, &record).await?;
    stored.protection_requested_at = Some(stored.updated_at);
    save(store, &stored).await
}

/// How many of the subscription's VMs that count against the quota rank before this one (by
/// when protection was requested, then by id).
async fn rank_among_protected(store: &SharedStore, record: &ProtectedVm) -> Result<u64, Stop> {
    let key = |vm: &ProtectedVm| {
        (
            vm.protection_requested_at.unwrap_or(vm.updated_at),
            vm.vm_id,
        )
    };
    let mine = key(record);
    let before = store
        .list_protected_vms(record.subscription_id)
        .await?
        .iter()
        .filter(|vm| vm.vm_id != record.vm_id && vm.state.counts_against_quota())
        .filter(|vm| key(vm) < mine)
        .count();
    Ok(before as u64)
}

/// Ensures the pair's policy at the quota's frequency and its container pairing, enables
/// protection and waits a little; `Ok(Err(reason))` when the engine refused or failed it.
async fn enable(
    clients: &StampClients,
    store: &SharedStore,
    scope: &Scope,
    item: &ItemRef,
) -> Result<Result<ProtectionStatus, String>, Stop> {
    let frequency = scope.quota.replication_frequency_seconds;
    let policy = fabric_refs::ensure_pair_ready(
        clients,
        store,
        &scope.pair,
        Some(frequency),
        OPERATION_WAIT,
    )
    .await?;
    let engine = fabric_refs::engine(clients)?;
    // A refusal may come from a policy or pairing removed since it was ensured: the next
    // attempt ensures them again.
    let forget = || clients.refs().forget_pair(scope.pair.id);
    let operation = match engine.enable_protection(item, &policy).await {
        Ok(operation) => operation,
        Err(err) if err.is_transient() => return Err(err.into()),
        Err(err) => {
            forget().await;
            return Ok(Err(err.to_string()));
        }
    };
    if let OperationState::Failed { message } = engine.wait(&operation, OPERATION_WAIT).await?.state
    {
        forget().await;
        return Ok(Err(format!(
            "The replication engine could not enable protection: {message}"
        )));
    }
    match engine.protection_status(item).await? {
        Some(status) => Ok(Ok(status)),
        None => Err(Stop::Transient(
            "the replication engine does not report the VM as protected yet".into(),
        )),
    }
}

/// Copies what the engine says into the record.
fn apply_status(record: &mut ProtectedVm, status: &ProtectionStatus) {
    record.state = match status.phase {
        Phase::Enabling => VmProtectionState::Enabling,
        _ => VmProtectionState::Protected,
    };
    record.reason = None;
    record.health = Some(match status.health {
        Health::Normal => VmHealth::Normal,
        Health::Warning => VmHealth::Warning,
        Health::Critical => VmHealth::Critical,
    });
    record.health_detail =
        (!status.health_errors.is_empty()).then(|| status.health_errors.join(" "));
    record.last_replicated = status.last_replicated.or(record.last_replicated);
    record.initial_replication_percent = match status.phase {
        Phase::Enabling => status.initial_replication_percent,
        _ => None,
    };
    if record.state == VmProtectionState::Protected && record.protected_at.is_none() {
        record.protected_at = Some(OffsetDateTime::now_utc());
    }
    let replica = status
        .replica_vm_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id.trim()).ok());
    if replica.is_some() && replica != record.replica_vm_id {
        record.replica_vm_id = replica;
        record.replica_owned = false;
    }
}

/// Gives the replica to the subscription's user role on the recovery stamp; `false` when SPF
/// does not show the replica yet (the next pass tries again).
async fn give_replica(clients: &StampClients, scope: &Scope, replica: Uuid) -> Result<bool, Stop> {
    let spf = clients.spf(&scope.recovery)?;
    let Some(vm) = spf.get_vm(scope.recovery_vmm, replica).await? else {
        return Ok(false);
    };
    let role_id = scope.dr.subscription_id.as_uuid();
    if vm.owner.as_ref().and_then(|o| o.role_id) == Some(role_id) {
        return Ok(true);
    }
    let user = scope.owner();
    let role_name = match spf.get_user_role(role_id).await? {
        Some(role) => role.name,
        None => format!("{user}_{role_id}"),
    };
    let owner = Owner {
        user_name: Some(user),
        role_name: Some(role_name),
        role_id: Some(role_id),
    };
    spf.set_vm_owner(scope.recovery_vmm, replica, &owner)
        .await?;
    Ok(true)
}

/// Saves a record; a concurrent writer is a transient race (the next pass reads it again).
async fn save(store: &SharedStore, record: &ProtectedVm) -> Result<ProtectedVm, Stop> {
    match store.save_protected_vm(record).await {
        Ok(saved) => Ok(saved),
        Err(StoreError::Conflict) => Err(Stop::Transient(format!(
            "VM '{}' was changed by another step meanwhile",
            record.name
        ))),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_at_an_unsettled_vm_slow_down_to_a_cap() {
        assert_eq!(recheck_delay(0), Duration::from_secs(1));
        assert_eq!(recheck_delay(1), Duration::from_secs(2));
        assert_eq!(recheck_delay(3), Duration::from_secs(8));
        assert_eq!(recheck_delay(5), RECHECK_AT_MOST);
        assert_eq!(recheck_delay(u32::MAX), RECHECK_AT_MOST);
    }
}
