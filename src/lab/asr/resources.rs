//! ARM resources of the vault: routing by path, the resource bodies, item operations (submission
//! rules: 532 when busy, `InvalidOperation` outside `allowedOperations`), jobs and LRO polling.
//!
//! Submission only queues a job; the world changes when the job runs (see `jobs`).

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::jobs::{Job, JobState, Op, tasks_json};
use super::model::{
    ContainerMapping, Item, Location, Policy, ProtectionState, Side, op, replication,
};
use super::{Ctx, accepted, arm_error, arm_time, fabric_name, plans};
use crate::lab::LabState;
use crate::lab::net::{field, field_i64, field_str, json_response};
use crate::lab::world::World;

const NONE_TIME: &str = "1753-01-01T01:01:01Z";

/// The last path segment of an ARM id (or the text itself).
pub fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// The segment after `key` (case-insensitive) in an ARM id.
pub fn segment_after<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case(key) {
            return parts.next();
        }
    }
    None
}

/// The stamp whose fabric is named `name`.
pub fn fabric(world: &World, name: &str) -> Option<usize> {
    world
        .stamps
        .iter()
        .position(|s| fabric_name(s.id).eq_ignore_ascii_case(name))
}

fn container(world: &World, stamp: usize, name: &str) -> Option<Uuid> {
    Uuid::parse_str(name)
        .ok()
        .filter(|c| world.stamps[stamp].clouds.contains_key(c))
}

fn props(body: &Value) -> Value {
    field(body, "properties").cloned().unwrap_or(Value::Null)
}

fn not_found(what: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{what} was not found."),
    )
}

fn list(items: Vec<Value>) -> Response {
    json_response(StatusCode::OK, json!({"value": items, "nextLink": null}))
}

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// Routes one ARM call under the vault.
pub fn dispatch(
    state: &LabState,
    ctx: &Ctx,
    method: &Method,
    rest: &[&str],
    body: &Value,
) -> Response {
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let knobs = state.knobs();
    let (mut world, now) = state.world();
    let world = &mut *world;
    let m = method.as_str();
    match (m, l.as_slice()) {
        ("GET", []) => ok(
            json!({"id": ctx.vault_id, "name": state.asr.vault, "type": "Microsoft.RecoveryServices/vaults", "sku": {"name": "RS0", "tier": "Standard"}, "properties": {"provisioningState": "Succeeded"}}),
        ),
        ("GET", ["replicationfabrics"]) => list(
            (0..world.stamps.len())
                .map(|i| fabric_json(ctx, world, i))
                .collect(),
        ),
        ("GET", ["replicationfabrics", _]) => match fabric(world, rest[1]) {
            Some(i) => ok(fabric_json(ctx, world, i)),
            None => not_found("The fabric"),
        },
        ("GET", ["replicationfabrics", _, "replicationprotectioncontainers"]) => {
            match fabric(world, rest[1]) {
                Some(i) => list(
                    world.stamps[i]
                        .clouds
                        .keys()
                        .map(|c| container_json(ctx, world, i, *c))
                        .collect(),
                ),
                None => not_found("The fabric"),
            }
        }
        (
            _,
            [
                "replicationfabrics",
                _,
                "replicationprotectioncontainers",
                _,
                tail @ ..,
            ],
        ) => {
            let Some(stamp) = fabric(world, rest[1]) else {
                return not_found("The fabric");
            };
            let Some(cloud) = container(world, stamp, rest[3]) else {
                return not_found("The protection container");
            };
            container_scope(
                state,
                ctx,
                world,
                now,
                &knobs,
                m,
                stamp,
                cloud,
                tail,
                &rest[4..],
                body,
            )
        }
        (_, ["replicationfabrics", _, "replicationnetworks", ..]) => {
            plans::networks(state, ctx, world, now, m, rest, &l, body)
        }
        ("GET", ["replicationnetworkmappings"]) => plans::list_network_mappings(ctx, world),
        ("GET", ["replicationpolicies"]) => list(
            world
                .vault
                .policies
                .values()
                .map(|p| policy_json(ctx, p))
                .collect(),
        ),
        ("GET", ["replicationpolicies", _]) => match world.vault.policies.get(&lower[1]) {
            Some(p) => ok(policy_json(ctx, p)),
            None => not_found("The replication policy"),
        },
        ("PUT" | "PATCH", ["replicationpolicies", _]) => {
            put_policy(state, ctx, world, now, rest[1], body)
        }
        ("DELETE", ["replicationpolicies", _]) => {
            if world.vault.mappings.iter().any(|m| m.policy == lower[1]) {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "PolicyInUse",
                    "The policy is used by a container mapping.",
                );
            }
            match world.vault.policies.remove(&lower[1]) {
                Some(_) => configuration_done(
                    state,
                    ctx,
                    world,
                    now,
                    "RemoveProtectionProfile",
                    "Remove the replication policy",
                    rest[1],
                    String::new(),
                ),
                None => not_found("The replication policy"),
            }
        }
        ("GET", ["replicationprotecteditems"]) => {
            let items: Vec<Item> = world.vault.items.values().cloned().collect();
            list(
                items
                    .iter()
                    .map(|i| item_json(ctx, world, i, now))
                    .collect(),
            )
        }
        ("GET", ["replicationjobs"]) => {
            let mut jobs: Vec<&Job> = world.vault.jobs.values().collect();
            jobs.sort_by_key(|j| (j.queued_at, j.id));
            list(jobs.iter().map(|j| job_json(ctx, j, now)).collect())
        }
        ("GET", ["replicationjobs", _]) => match Uuid::parse_str(rest[1])
            .ok()
            .and_then(|id| world.vault.jobs.get(&id))
        {
            Some(job) => ok(job_json(ctx, job, now)),
            None => not_found("The job"),
        },
        ("GET", ["replicationjobs", _, "operationresults", _]) => {
            operation_result(state, ctx, world, now, rest[1])
        }
        ("GET", ["replicationoperationstatus", _]) => match Uuid::parse_str(rest[1])
            .ok()
            .and_then(|id| world.vault.jobs.get(&id))
        {
            Some(job) => {
                let status = match job.state {
                    JobState::NotStarted | JobState::InProgress => "InProgress",
                    JobState::Succeeded => "Succeeded",
                    JobState::Failed => "Failed",
                };
                let error = job
                    .errors
                    .first()
                    .map(|(c, m)| json!({"code": c, "message": m}));
                let mut response = ok(json!({
                    "id": format!("{}/replicationOperationStatus/{}", ctx.vault_id, job.id),
                    "name": job.id, "status": status,
                    "startTime": arm_time(job.started_at.unwrap_or(job.queued_at)),
                    "endTime": job.ended_at.map(arm_time), "error": error,
                }));
                if !job.state.is_terminal() {
                    let retry = state
                        .clock
                        .real_seconds_until(job.expected_end(ctx.operation_seconds));
                    if let Ok(v) = retry.to_string().parse() {
                        response.headers_mut().insert("retry-after", v);
                    }
                }
                response
            }
            None => not_found("The operation"),
        },
        (_, ["replicationrecoveryplans", ..]) => {
            plans::recovery_plans(state, ctx, world, now, m, rest, &l, body)
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("No route for {m} {}", rest.join("/")),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn container_scope(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    knobs: &crate::lab::knobs::Knobs,
    m: &str,
    stamp: usize,
    cloud: Uuid,
    tail: &[&str],
    raw: &[&str],
    body: &Value,
) -> Response {
    let _ = knobs;
    match (m, tail) {
        ("GET", []) => ok(container_json(ctx, world, stamp, cloud)),
        ("GET", ["replicationprotectioncontainermappings"]) => list(
            world
                .vault
                .mappings
                .iter()
                .filter(|mp| mp.primary == (stamp, cloud))
                .map(|mp| mapping_json(ctx, world, mp))
                .collect(),
        ),
        ("GET", ["replicationprotectioncontainermappings", _]) => match world
            .vault
            .mappings
            .iter()
            .find(|mp| mp.primary == (stamp, cloud) && mp.name.eq_ignore_ascii_case(raw[1]))
        {
            Some(mp) => ok(mapping_json(ctx, world, mp)),
            None => not_found("The container mapping"),
        },
        ("PUT", ["replicationprotectioncontainermappings", _]) => {
            put_mapping(state, ctx, world, now, stamp, cloud, raw[1], body)
        }
        ("DELETE", ["replicationprotectioncontainermappings", _])
        | ("POST", ["replicationprotectioncontainermappings", _, "remove"]) => {
            let before = world.vault.mappings.len();
            let name = raw[1];
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
        ("GET", ["replicationprotectableitems"]) => {
            let vms: Vec<Uuid> = world.stamps[stamp]
                .vms
                .values()
                .filter(|v| v.cloud_id == Some(cloud) && !v.is_recovery_vm)
                .map(|v| v.id)
                .collect();
            list(
                vms.iter()
                    .map(|v| protectable_json(ctx, world, stamp, cloud, *v, now))
                    .collect(),
            )
        }
        ("GET", ["replicationprotectableitems", _]) => {
            match Uuid::parse_str(raw[1]).ok().filter(|v| {
                world.stamps[stamp]
                    .vms
                    .get(v)
                    .is_some_and(|vm| vm.cloud_id == Some(cloud))
            }) {
                Some(vm) => ok(protectable_json(ctx, world, stamp, cloud, vm, now)),
                None => not_found("The protectable item"),
            }
        }
        ("GET", ["replicationprotecteditems"]) => {
            let items: Vec<Item> = world
                .vault
                .items
                .values()
                .filter(|i| i.primary.stamp == stamp && i.primary.cloud == cloud)
                .cloned()
                .collect();
            list(
                items
                    .iter()
                    .map(|i| item_json(ctx, world, i, now))
                    .collect(),
            )
        }
        (_, ["replicationprotecteditems", _, rest @ ..]) => {
            let name = Uuid::parse_str(raw[1]).ok();
            let item = name
                .and_then(|n| world.vault.items.get(&n))
                .filter(|i| {
                    (i.primary.stamp == stamp && i.primary.cloud == cloud)
                        || (i.recovery.stamp == stamp && i.recovery.cloud == cloud)
                })
                .cloned();
            match (m, rest, item) {
                ("PUT", [], existing) => {
                    enable_protection(state, ctx, world, now, stamp, cloud, raw[1], existing, body)
                }
                ("GET", [], Some(item)) => ok(item_json(ctx, world, &item, now)),
                ("GET", ["recoverypoints"], Some(item)) => {
                    list(recovery_points(ctx, world, &item, now))
                }
                ("GET", ["recoverypoints", p], Some(item)) => {
                    match recovery_points(ctx, world, &item, now)
                        .into_iter()
                        .find(|rp| {
                            rp["name"]
                                .as_str()
                                .is_some_and(|n| n.eq_ignore_ascii_case(p))
                        }) {
                        Some(rp) => ok(rp),
                        None => not_found("The recovery point"),
                    }
                }
                ("DELETE", [], Some(item)) => {
                    submit_action(state, ctx, world, now, &item, "remove", &Value::Null)
                }
                ("POST", [action], Some(item)) => {
                    submit_action(state, ctx, world, now, &item, action, body)
                }
                (_, _, None) => not_found("The replication protected item"),
                _ => arm_error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFound",
                    "No such operation on a protected item.",
                ),
            }
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "No such resource under the container.",
        ),
    }
}

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
    world.vault.jobs.insert(
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

fn fabric_json(ctx: &Ctx, world: &World, i: usize) -> Value {
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

fn container_id(ctx: &Ctx, world: &World, stamp: usize, cloud: Uuid) -> String {
    format!(
        "{}/replicationProtectionContainers/{cloud}",
        ctx.fabric_id(world.stamps[stamp].id)
    )
}

fn container_json(ctx: &Ctx, world: &World, stamp: usize, cloud: Uuid) -> Value {
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

fn policy_id(ctx: &Ctx, name: &str) -> String {
    format!("{}/replicationPolicies/{name}", ctx.vault_id)
}

fn policy_json(ctx: &Ctx, p: &Policy) -> Value {
    let mut details = p.input.clone();
    if let Some(d) = details.as_object_mut() {
        d.insert("instanceType".into(), json!("HyperVReplica2012R2"));
    }
    json!({
        "id": policy_id(ctx, &p.name), "name": p.name, "type": "Microsoft.RecoveryServices/vaults/replicationPolicies",
        "properties": {"friendlyName": p.name, "providerSpecificDetails": details},
    })
}

fn put_policy(
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

fn mapping_json(ctx: &Ctx, world: &World, m: &ContainerMapping) -> Value {
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

#[allow(clippy::too_many_arguments)]
fn put_mapping(
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

fn readiness_errors(world: &World, stamp: usize, vm: Uuid, now: OffsetDateTime) -> Vec<String> {
    let Some(v) = world.stamps[stamp].vms.get(&vm) else {
        return vec!["The virtual machine no longer exists.".into()];
    };
    let mut errors = Vec::new();
    if v.is_creating(now) {
        errors.push("The virtual machine is still being created.".to_owned());
    }
    if v.is_recovery_vm {
        errors.push("The virtual machine is a recovery virtual machine.".to_owned());
    }
    if !world
        .vault
        .mappings
        .iter()
        .any(|m| m.primary == (stamp, v.cloud_id.unwrap_or_default()))
    {
        errors.push("The virtual machine's cloud is not paired with a recovery cloud.".to_owned());
    }
    errors
}

fn item_path(ctx: &Ctx, world: &World, item: &Item) -> String {
    format!(
        "{}/replicationProtectedItems/{}",
        container_id(ctx, world, item.primary.stamp, item.primary.cloud),
        item.name
    )
}

fn protectable_json(
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
fn point_id(t: OffsetDateTime) -> Uuid {
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

fn recovery_points(ctx: &Ctx, world: &World, item: &Item, now: OffsetDateTime) -> Vec<Value> {
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

#[allow(clippy::too_many_arguments)]
fn enable_protection(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    stamp: usize,
    cloud: Uuid,
    name: &str,
    existing: Option<Item>,
    body: &Value,
) -> Response {
    let p = props(body);
    let policy = last_segment(&field_str(&p, "policyId").unwrap_or_default()).to_ascii_lowercase();
    if let Some(item) = existing {
        if item.policy == policy {
            return ok(item_json(ctx, world, &item, now));
        }
        return arm_error(
            StatusCode::CONFLICT,
            "ProtectedItemExists",
            "The item is already protected with another policy.",
        );
    }
    let Some(vm) = Uuid::parse_str(name).ok().filter(|v| {
        world.stamps[stamp]
            .vms
            .get(v)
            .is_some_and(|vm| vm.cloud_id == Some(cloud))
    }) else {
        return not_found("The protectable item");
    };
    let protectable = field_str(&p, "protectableItemId").unwrap_or_default();
    if !last_segment(&protectable).eq_ignore_ascii_case(name) {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidProtectableItem",
            "protectableItemId must name this virtual machine.",
        );
    }
    let Some(mapping) = world
        .vault
        .mappings
        .iter()
        .find(|m| m.primary == (stamp, cloud))
        .cloned()
    else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "ProtectionContainerNotPaired",
            "The cloud is not paired with a recovery cloud.",
        );
    };
    if mapping.policy != policy {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "PolicyNotAssociated",
            "policyId is not the policy of the cloud's pairing.",
        );
    }
    let errors = readiness_errors(world, stamp, vm, now);
    if !errors.is_empty() {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "ProtectionNotReady",
            errors.join(" "),
        );
    }
    let v = &world.stamps[stamp].vms[&vm];
    let (friendly, vm_id) = (v.name.clone(), v.vm_id);
    let replica = world.new_id();
    let item = Item {
        name: vm,
        friendly_name: friendly,
        vm_id,
        primary: Side { stamp, cloud, vm },
        recovery: Side {
            stamp: mapping.recovery.0,
            cloud: mapping.recovery.1,
            vm: replica,
        },
        policy,
        state: ProtectionState::Enabling,
        active: Location::Primary,
        test_vm: None,
        busy: None,
        scenario: None,
        initial_replication: None,
        anchor: now,
        stopped_at: None,
        final_point: None,
        archived: Vec::new(),
        applied_point: None,
        last_failover: None,
        last_test_failover: None,
    };
    world.vault.items.insert(vm, item.clone());
    queue(state, ctx, world, now, &item, Op::Enable)
}

fn queue(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    item: &Item,
    op: Op,
) -> Response {
    let id = world.new_id();
    let job = Job::for_item(
        id,
        op,
        item,
        item_path(ctx, world, item).replacen(&ctx.vault_id, "", 1),
        now,
    );
    let expected = job.expected_end(ctx.operation_seconds);
    let scenario = job.scenario.to_owned();
    world.vault.jobs.insert(id, job);
    if let Some(i) = world.vault.items.get_mut(&item.name) {
        i.busy = Some(id);
        i.scenario = Some((scenario, id, now));
    }
    accepted(state, ctx, id, expected)
}

/// Checks an operation may be submitted on `item`: 409 `532` while another runs, 400
/// `InvalidOperation` when `allowed` is not in `allowedOperations`.
pub fn check_submission(item: &Item, allowed: &str) -> Result<(), Response> {
    if let Some(job) = item.busy {
        return Err(arm_error(
            StatusCode::CONFLICT,
            "532",
            format!(
                "An operation is already in progress on '{}' (job {job}). Wait for it to finish and try again.",
                item.friendly_name
            ),
        ));
    }
    let ops = item.allowed_operations();
    if !ops.contains(&allowed) {
        return Err(arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidOperation",
            format!(
                "'{allowed}' is not allowed on '{}' now; allowed operations: {}.",
                item.friendly_name,
                ops.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Turns an action name and body into the operation and the `allowedOperations` name it needs.
pub fn parse_action(
    world: &World,
    item: &Item,
    action: &str,
    body: &Value,
) -> Result<(Op, &'static str), Response> {
    let p = props(body);
    let direction = field_str(&p, "failoverDirection");
    let expected = match item.active {
        Location::Primary => "PrimaryToRecovery",
        Location::Recovery => "RecoveryToPrimary",
    };
    let check_direction = || match &direction {
        Some(d) if !d.eq_ignore_ascii_case(expected) => Err(arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidOperation",
            format!(
                "failoverDirection must be {expected} while the item is active on its {} side.",
                if expected == "PrimaryToRecovery" {
                    "primary"
                } else {
                    "recovery"
                }
            ),
        )),
        _ => Ok(()),
    };
    let parsed = match action.to_ascii_lowercase().as_str() {
        "plannedfailover" => {
            check_direction()?;
            (Op::PlannedFailover, op::PLANNED)
        }
        "unplannedfailover" => {
            check_direction()?;
            let required = field_str(&p, "sourceSiteOperations")
                .is_none_or(|s| !s.eq_ignore_ascii_case("NotRequired"));
            (
                Op::UnplannedFailover {
                    source_required: required,
                },
                op::UNPLANNED,
            )
        }
        "testfailover" => {
            check_direction()?;
            let network = match field_str(&p, "networkType") {
                Some(t) if t.eq_ignore_ascii_case("NoNetworkAttachAsInput") => None,
                _ => {
                    let id = field_str(&p, "networkId").unwrap_or_default();
                    let target = item.passive_side().stamp;
                    match Uuid::parse_str(last_segment(&id))
                        .ok()
                        .filter(|n| world.stamps[target].networks.contains_key(n))
                    {
                        Some(n) => Some(n),
                        None => {
                            return Err(arm_error(
                                StatusCode::BAD_REQUEST,
                                "InvalidNetwork",
                                format!(
                                    "networkId '{id}' names no VM network on the recovery side."
                                ),
                            ));
                        }
                    }
                }
            };
            (Op::TestFailover { network }, op::TEST)
        }
        "testfailovercleanup" => (Op::TestFailoverCleanup, op::TEST_CLEANUP),
        "failovercommit" => (Op::Commit, op::COMMIT),
        "reprotect" => (Op::Reprotect, op::REVERSE),
        "applyrecoverypoint" => {
            let id = field_str(&p, "recoveryPointId").unwrap_or_default();
            let Some(point) = Uuid::parse_str(last_segment(&id)).ok().and_then(point_time) else {
                return Err(arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRecoveryPoint",
                    format!("recoveryPointId '{id}' names no recovery point."),
                ));
            };
            (Op::ChangePit { point }, op::CHANGE_PIT)
        }
        "remove" => (Op::Disable, op::DISABLE),
        other => {
            return Err(arm_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("'{other}' is not an action of protected items."),
            ));
        }
    };
    Ok(parsed)
}

fn submit_action(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    item: &Item,
    action: &str,
    body: &Value,
) -> Response {
    let (operation, allowed) = match parse_action(world, item, action, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(r) = check_submission(item, allowed) {
        return r;
    }
    queue(state, ctx, world, now, item, operation)
}

/// Queues an item operation for a recovery plan (checks already done); returns the job id.
pub fn queue_for_plan(
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    item: &Item,
    operation: Op,
) -> Uuid {
    let id = world.new_id();
    let job = Job::for_item(
        id,
        operation,
        item,
        item_path(ctx, world, item).replacen(&ctx.vault_id, "", 1),
        now,
    );
    let scenario = job.scenario.to_owned();
    world.vault.jobs.insert(id, job);
    if let Some(i) = world.vault.items.get_mut(&item.name) {
        i.busy = Some(id);
        i.scenario = Some((scenario, id, now));
    }
    id
}

fn job_json(ctx: &Ctx, job: &Job, now: OffsetDateTime) -> Value {
    let errors: Vec<Value> = job
        .errors
        .iter()
        .map(|(c, m)| json!({"serviceErrorDetails": {"code": c, "message": m, "possibleCauses": m, "recommendedAction": "Resolve the cause and retry the operation."}, "errorLevel": "Error", "creationTime": job.ended_at.map(arm_time)}))
        .collect();
    let state = job.state.name();
    json!({
        "id": format!("{}/replicationJobs/{}", ctx.vault_id, job.id), "name": job.id,
        "type": "Microsoft.RecoveryServices/vaults/replicationJobs",
        "status": state,
        "error": job.errors.first().map(|(c, m)| json!({"code": c, "message": m})),
        "startTime": job.started_at.map(arm_time), "endTime": job.ended_at.map(arm_time),
        "properties": {
            "activityId": format!("{} ActivityId: {}", job.id, job.id),
            "scenarioName": job.scenario, "friendlyName": job.friendly,
            "state": state, "stateDescription": match job.state { JobState::Succeeded => "Completed", JobState::Failed => "Failed", JobState::InProgress => "InProgress", JobState::NotStarted => "NotStarted" },
            "startTime": job.started_at.map(arm_time), "endTime": job.ended_at.map(arm_time),
            "targetObjectId": job.target.0, "targetObjectName": job.target.1, "targetInstanceType": job.target.2,
            "allowedActions": if job.state.is_terminal() { json!([]) } else { json!(["Cancel"]) },
            "tasks": tasks_json(job, now, &arm_time),
            "errors": errors,
            "childJobs": job.children.iter().map(|c| format!("{}/replicationJobs/{c}", ctx.vault_id)).collect::<Vec<_>>(),
            "customDetails": {"instanceType": match job.op { Op::PlannedFailover | Op::UnplannedFailover { .. } => "FailoverJobDetails", Op::TestFailover { .. } => "TestFailoverJobDetails", _ => "AsrJobDetails" }, "affectedObjectDetails": {}},
        }
    })
}

fn operation_result(
    state: &LabState,
    ctx: &Ctx,
    world: &World,
    now: OffsetDateTime,
    id: &str,
) -> Response {
    let Some(job) = Uuid::parse_str(id)
        .ok()
        .and_then(|id| world.vault.jobs.get(&id))
    else {
        return not_found("The operation");
    };
    match job.state {
        JobState::NotStarted | JobState::InProgress => {
            accepted(state, ctx, job.id, job.expected_end(ctx.operation_seconds))
        }
        JobState::Failed => {
            let (code, message) = job
                .errors
                .first()
                .cloned()
                .unwrap_or_else(|| ("OperationFailed".into(), "The operation failed.".into()));
            arm_error(StatusCode::BAD_REQUEST, &code, message)
        }
        JobState::Succeeded => {
            let path: Vec<String> = job
                .resource_path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let item = job.item.and_then(|i| world.vault.items.get(&i));
            match (item, path.first().map(|s| s.to_ascii_lowercase())) {
                (Some(item), _) => ok(item_json(ctx, world, item, now)),
                (None, Some(first)) if first == "replicationpolicies" => {
                    match world.vault.policies.get(&path[1].to_ascii_lowercase()) {
                        Some(p) => ok(policy_json(ctx, p)),
                        None => StatusCode::OK.into_response(),
                    }
                }
                (None, Some(first)) if first == "replicationrecoveryplans" => {
                    plans::plan_result(ctx, world, &path[1], now)
                }
                _ => StatusCode::OK.into_response(),
            }
        }
    }
}
