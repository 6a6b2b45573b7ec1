//! Vault configuration: replication policies (create, change, delete) and container mappings
//! (pairing a primary cloud with a recovery cloud under a policy). Each change is a
//! configuration job that is done the moment it is submitted, answered as an LRO.
//!
//! A refused change (400/404/409) must change nothing: a policy in use cannot go, nor a pairing
//! that protected items still use.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::bodies::{mapping_json, policy_json};
use super::jobs::Job;
use super::model::{ContainerMapping, Policy};
use super::resources::{container, fabric, last_segment, not_found, ok, props, segment_after};
use super::{Ctx, accepted, arm_error, fabric_name};
use crate::lab::LabState;
use crate::lab::net::{field, field_i64, field_str};
use crate::lab::world::World;

/// Records an already-finished configuration job and answers its LRO.
#[allow(clippy::too_many_arguments)]
pub fn configuration_done(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    scenario: &'static str,
    friendly: &'static str,
    target: &str,
    resource_path: String,
) -> Response {
    let id = world.new_id();
    world.vault.insert_job(
        id,
        Job::immediate(
            id,
            scenario,
            friendly,
            (target.to_owned(), target.to_owned(), "Other"),
            resource_path,
            now,
        ),
    );
    accepted(state, ctx, id, now)
}

/// Creates or changes a replication policy (idempotent for the same input).
pub(super) fn put_policy(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    name: &str,
    body: &Value,
) -> Response {
    let input = field(&props(body), "providerSpecificInput")
        .cloned()
        .unwrap_or(Value::Null);
    let instance = field_str(&input, "instanceType").unwrap_or_default();
    if !instance.eq_ignore_ascii_case("HyperVReplica2012R2")
        && !instance.eq_ignore_ascii_case("HyperVReplica2012")
    {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidProviderSpecificInput",
            "providerSpecificInput.instanceType must be HyperVReplica2012R2.",
        );
    }
    let frequency = field_i64(&input, "replicationFrequencyInSeconds").unwrap_or(300);
    if ![30, 300, 900].contains(&frequency) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidReplicationFrequency",
            "replicationFrequencyInSeconds must be 30, 300 or 900.",
        );
    }
    let key = name.to_ascii_lowercase();
    if world
        .vault
        .policies
        .get(&key)
        .is_some_and(|p| p.input == input)
    {
        let p = world.vault.policies[&key].clone();
        return ok(policy_json(ctx, &p));
    }
    world.vault.policies.insert(
        key,
        Policy {
            name: name.to_owned(),
            frequency,
            recovery_points: field_i64(&input, "recoveryPoints")
                .unwrap_or(0)
                .clamp(0, 24),
            app_consistent_hours: field_i64(
                &input,
                "applicationConsistentSnapshotFrequencyInHours",
            )
            .unwrap_or(0),
            input,
        },
    );
    configuration_done(
        state,
        ctx,
        world,
        now,
        "AddProtectionProfile",
        "Create replication policy",
        name,
        format!("replicationPolicies/{name}"),
    )
}

/// Deletes a replication policy no container mapping uses.
pub(super) fn delete_policy(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    name: &str,
) -> Response {
    let key = name.to_ascii_lowercase();
    if world.vault.mappings.iter().any(|m| m.policy == key) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "PolicyInUse",
            "The policy is used by a container mapping.",
        );
    }
    match world.vault.policies.remove(&key) {
        Some(_) => configuration_done(
            state,
            ctx,
            world,
            now,
            "RemoveProtectionProfile",
            "Remove the replication policy",
            name,
            String::new(),
        ),
        None => not_found("The replication policy"),
    }
}

#[allow(clippy::too_many_arguments)]
/// Pairs a primary cloud with a recovery cloud under a policy (idempotent for the same pairing).
pub(super) fn put_mapping(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    stamp: usize,
    cloud: Uuid,
    name: &str,
    body: &Value,
) -> Response {
    let p = props(body);
    let target = field_str(&p, "targetProtectionContainerId").unwrap_or_default();
    let policy = field_str(&p, "policyId").unwrap_or_default();
    let policy_key = last_segment(&policy).to_ascii_lowercase();
    if !world.vault.policies.contains_key(&policy_key) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "PolicyNotFound",
            format!("The policy '{policy}' does not exist."),
        );
    }
    let target_stamp = segment_after(&target, "replicationFabrics").and_then(|f| fabric(world, f));
    let target_cloud = target_stamp.and_then(|s| {
        segment_after(&target, "replicationProtectionContainers")
            .and_then(|c| container(world, s, c))
    });
    let (Some(ts), Some(tc)) = (target_stamp, target_cloud) else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidTargetContainer",
            format!("targetProtectionContainerId '{target}' names no protection container."),
        );
    };
    if (ts, tc) == (stamp, cloud) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidTargetContainer",
            "A cloud cannot be paired with itself.",
        );
    }
    if let Some(existing) = world
        .vault
        .mappings
        .iter()
        .find(|m| m.primary == (stamp, cloud) && m.name.eq_ignore_ascii_case(name))
    {
        if existing.recovery == (ts, tc) && existing.policy == policy_key {
            let mapping = existing.clone();
            return ok(mapping_json(ctx, world, &mapping));
        }
        return arm_error(
            StatusCode::CONFLICT,
            "ContainerMappingExists",
            "A different mapping with this name exists.",
        );
    }
    world.vault.mappings.push(ContainerMapping {
        name: name.to_owned(),
        primary: (stamp, cloud),
        recovery: (ts, tc),
        policy: policy_key,
        input: p,
    });
    let fabric = fabric_name(world.stamps[stamp].id);
    configuration_done(
        state,
        ctx,
        world,
        now,
        "PairClouds",
        "Pair clouds",
        name,
        format!(
            "replicationFabrics/{fabric}/replicationProtectionContainers/{cloud}/replicationProtectionContainerMappings/{name}"
        ),
    )
}

/// Removes a cloud pairing no protected item uses (`DELETE` or `POST …/remove`).
pub(super) fn remove_mapping(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    stamp: usize,
    cloud: Uuid,
    name: &str,
) -> Response {
    let before = world.vault.mappings.len();
    let in_use = world
        .vault
        .items
        .values()
        .any(|i| i.primary.stamp == stamp && i.primary.cloud == cloud);
    if in_use {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "ContainerMappingInUse",
            "Protected items still use this pairing.",
        );
    }
    world
        .vault
        .mappings
        .retain(|mp| !(mp.primary == (stamp, cloud) && mp.name.eq_ignore_ascii_case(name)));
    if world.vault.mappings.len() == before {
        return not_found("The container mapping");
    }
    configuration_done(
        state,
        ctx,
        world,
        now,
        "UnpairClouds",
        "Remove the cloud pairing",
        name,
        String::new(),
    )
}
