//! The JSON bodies of the vault's ARM resources, as ASR shapes them: fabrics, protection
//! containers, replication policies, container mappings, protectable items, protected items and
//! their recovery points; and the ids that tie them together (a recovery point's id encodes its
//! time).
//!
//! Serialisation only: nothing here may change the world.

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::items::readiness_errors;
use super::model::{ContainerMapping, Item, Location, Policy, ProtectionState, Side, replication};
use super::{Ctx, arm_time, fabric_name};
use crate::lab::world::World;

const NONE_TIME: &str = "1753-01-01T01:01:01Z";

pub(super) fn fabric_json(ctx: &Ctx, world: &World, i: usize) -> Value {
    let s = &world.stamps[i];
    json!({
        "id": ctx.fabric_id(s.id), "name": fabric_name(s.id), "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
        "properties": {
            "friendlyName": s.vmm_server, "internalIdentifier": s.id, "bcdrState": "Valid",
            "health": if s.down_since.is_some() { "Error" } else { "Normal" },
            "healthErrorDetails": [], "customDetails": {"instanceType": "VMM"},
        }
    })
}

pub(super) fn container_id(ctx: &Ctx, world: &World, stamp: usize, cloud: Uuid) -> String {
    format!(
        "{}/replicationProtectionContainers/{cloud}",
        ctx.fabric_id(world.stamps[stamp].id)
    )
}

pub(super) fn container_json(ctx: &Ctx, world: &World, stamp: usize, cloud: Uuid) -> Value {
    let c = &world.stamps[stamp].clouds[&cloud];
    let paired_as_primary = world
        .vault
        .mappings
        .iter()
        .any(|m| m.primary == (stamp, cloud));
    let paired = paired_as_primary
        || world
            .vault
            .mappings
            .iter()
            .any(|m| m.recovery == (stamp, cloud));
    let count = world
        .vault
        .items
        .values()
        .filter(|i| i.primary.stamp == stamp && i.primary.cloud == cloud)
        .count();
    json!({
        "id": container_id(ctx, world, stamp, cloud), "name": cloud,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers",
        "properties": {
            "friendlyName": c.name, "fabricFriendlyName": world.stamps[stamp].vmm_server, "fabricType": "VMM",
            "protectedItemCount": count, "pairingStatus": if paired { "Paired" } else { "NotPaired" },
            "role": if paired_as_primary { "Primary" } else { "" },
        }
    })
}

pub(super) fn policy_id(ctx: &Ctx, name: &str) -> String {
    format!("{}/replicationPolicies/{name}", ctx.vault_id)
}

pub(super) fn policy_json(ctx: &Ctx, p: &Policy) -> Value {
    let mut details = p.input.clone();
    if let Some(d) = details.as_object_mut() {
        d.insert("instanceType".into(), json!("HyperVReplica2012R2"));
    }
    json!({
        "id": policy_id(ctx, &p.name), "name": p.name, "type": "Microsoft.RecoveryServices/vaults/replicationPolicies",
        "properties": {"friendlyName": p.name, "providerSpecificDetails": details},
    })
}

pub(super) fn mapping_json(ctx: &Ctx, world: &World, m: &ContainerMapping) -> Value {
    json!({
        "id": format!("{}/replicationProtectionContainerMappings/{}", container_id(ctx, world, m.primary.0, m.primary.1), m.name),
        "name": m.name, "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectionContainerMappings",
        "properties": {
            "state": "Paired", "health": "Normal", "healthErrorDetails": [],
            "targetProtectionContainerId": container_id(ctx, world, m.recovery.0, m.recovery.1),
            "targetProtectionContainerFriendlyName": world.stamps[m.recovery.0].clouds.get(&m.recovery.1).map(|c| c.name.clone()),
            "sourceProtectionContainerFriendlyName": world.stamps[m.primary.0].clouds.get(&m.primary.1).map(|c| c.name.clone()),
            "sourceFabricFriendlyName": world.stamps[m.primary.0].vmm_server,
            "targetFabricFriendlyName": world.stamps[m.recovery.0].vmm_server,
            "policyId": policy_id(ctx, &world.vault.policies.get(&m.policy).map_or(m.policy.clone(), |p| p.name.clone())),
            "policyFriendlyName": world.vault.policies.get(&m.policy).map(|p| p.name.clone()),
        }
    })
}

pub(super) fn item_path(ctx: &Ctx, world: &World, item: &Item) -> String {
    format!(
        "{}/replicationProtectedItems/{}",
        container_id(ctx, world, item.primary.stamp, item.primary.cloud),
        item.name
    )
}

pub(super) fn protectable_json(
    ctx: &Ctx,
    world: &World,
    stamp: usize,
    cloud: Uuid,
    vm: Uuid,
    now: OffsetDateTime,
) -> Value {
    let v = &world.stamps[stamp].vms[&vm];
    let item = world.vault.items.get(&vm);
    let errors = if item.is_some() {
        Vec::new()
    } else {
        readiness_errors(world, stamp, vm, now)
    };
    json!({
        "id": format!("{}/replicationProtectableItems/{vm}", container_id(ctx, world, stamp, cloud)), "name": vm,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectableItems",
        "properties": {
            "friendlyName": v.name, "protectionStatus": if item.is_some() { "Protected" } else { "Unprotected" },
            "replicationProtectedItemId": item.map(|i| item_path(ctx, world, i)),
            "protectionReadinessErrors": errors, "supportedReplicationProviders": ["HyperVReplica2012R2"],
            "customDetails": {"instanceType": "HyperVVirtualMachine", "sourceItemId": v.vm_id},
        }
    })
}

/// A recovery point's id encodes its time, so `applyRecoveryPoint` can find it again.
pub(super) fn point_id(t: OffsetDateTime) -> Uuid {
    Uuid::from_u64_pair(
        0x1ab0_0000_0000_4000,
        (t.unix_timestamp_nanos() / 1_000_000) as u64,
    )
}

/// The time a recovery point id stands for.
pub fn point_time(id: Uuid) -> Option<OffsetDateTime> {
    let (hi, lo) = id.as_u64_pair();
    (hi == 0x1ab0_0000_0000_4000)
        .then(|| OffsetDateTime::from_unix_timestamp_nanos(lo as i128 * 1_000_000).ok())
        .flatten()
}

pub(super) fn recovery_points(
    ctx: &Ctx,
    world: &World,
    item: &Item,
    now: OffsetDateTime,
) -> Vec<Value> {
    let path = item_path(ctx, world, item);
    replication(world, item, now)
        .points
        .iter()
        .rev()
        .map(|(t, kind)| {
            let id = point_id(*t);
            json!({
                "id": format!("{path}/recoveryPoints/{id}"), "name": id,
                "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems/recoveryPoints",
                "properties": {"recoveryPointTime": arm_time(*t), "recoveryPointType": kind},
            })
        })
        .collect()
}

/// The protected item resource.
pub fn item_json(ctx: &Ctx, world: &World, item: &Item, now: OffsetDateTime) -> Value {
    let rep = replication(world, item, now);
    let (state, description) = item.protection_state();
    let stamp_name = |s: &Side| world.stamps[s.stamp].vmm_server.clone();
    let cloud_name = |s: &Side| {
        world.stamps[s.stamp]
            .clouds
            .get(&s.cloud)
            .map(|c| c.name.clone())
    };
    let scenario = match (&item.scenario, item.busy) {
        (Some((name, job, start)), Some(_)) => {
            json!({"scenarioName": name, "jobId": format!("{}/replicationJobs/{job}", ctx.vault_id), "startTime": arm_time(*start)})
        }
        _ => {
            json!({"scenarioName": "None", "jobId": format!("{}/replicationJobs/None", ctx.vault_id), "startTime": NONE_TIME})
        }
    };
    let progress = match (item.state, item.initial_replication) {
        (ProtectionState::Enabling, Some((start, end))) if end > start => {
            (((now - start) / (end - start)) * 100.0).clamp(0.0, 100.0) as i64
        }
        (ProtectionState::Enabling, _) => 0,
        _ => 100,
    };
    let policy_name = world
        .vault
        .policies
        .get(&item.policy)
        .map_or(item.policy.clone(), |p| p.name.clone());
    json!({
        "id": item_path(ctx, world, item), "name": item.name,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
        "properties": {
            "friendlyName": item.friendly_name, "protectedItemType": "HyperVVirtualMachine",
            "protectionState": state, "protectionStateDescription": description,
            "activeLocation": match item.active { Location::Primary => "Primary", Location::Recovery => "Recovery" },
            "testFailoverState": if item.test_vm.is_some() { "WaitingForCompletion" } else { "None" },
            "testFailoverStateDescription": if item.test_vm.is_some() { "Waiting for user input" } else { "None" },
            "allowedOperations": item.allowed_operations(),
            "replicationHealth": rep.health,
            "replicationHealthErrors": rep.errors.iter().map(|(c, m)| json!({"errorCode": c, "errorMessage": m, "errorLevel": if *c == "67501" { "Error" } else { "Warning" }})).collect::<Vec<_>>(),
            "failoverHealth": "Normal",
            "currentScenario": scenario,
            "lastSuccessfulFailoverTime": item.last_failover.map(arm_time),
            "lastSuccessfulTestFailoverTime": item.last_test_failover.map(arm_time),
            "failoverRecoveryPointId": item.applied_point.map(|t| format!("{}/recoveryPoints/{}", item_path(ctx, world, item), point_id(t))).unwrap_or_default(),
            "policyId": policy_id(ctx, &policy_name), "policyFriendlyName": policy_name,
            "primaryFabricFriendlyName": stamp_name(&item.primary), "recoveryFabricFriendlyName": stamp_name(&item.recovery),
            "primaryProtectionContainerFriendlyName": cloud_name(&item.primary), "recoveryProtectionContainerFriendlyName": cloud_name(&item.recovery),
            "recoveryFabricId": ctx.fabric_id(world.stamps[item.recovery.stamp].id),
            "recoveryContainerId": container_id(ctx, world, item.recovery.stamp, item.recovery.cloud),
            "protectableItemId": format!("{}/replicationProtectableItems/{}", container_id(ctx, world, item.primary.stamp, item.primary.cloud), item.name),
            "providerSpecificDetails": {
                "instanceType": "HyperVReplica2012R2", "vmId": item.vm_id, "vmProtectionState": state,
                "lastReplicatedTime": rep.last_replicated.map(arm_time),
                "initialReplicationDetails": {"initialReplicationType": "OverNetwork", "initialReplicationProgressPercentage": progress},
                "recoveryVmId": item.recovery.vm,
            },
        }
    })
}
