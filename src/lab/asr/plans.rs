//! Recovery plans (the service adds `Shutdown` and `Failover` groups ahead of the posted `Boot`
//! groups; at most 100 items; plan actions run the item operation on every item, all or none
//! accepted) and VMM network mappings (`replicationNetworks` are the fabric's VM networks).
//!
//! A plan action is refused as a whole if any item refuses it: nothing is queued then.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::configuration::configuration_done;
use super::items::{check_submission, parse_action, queue_for_plan};
use super::jobs::{Job, JobState, Op};
use super::model::{NetworkMapping, RecoveryPlan};
use super::resources::{fabric, last_segment, segment_after};
use super::{Ctx, accepted, arm_error, arm_time};
use crate::lab::LabState;
use crate::lab::net::{field, field_str, json_response};
use crate::lab::world::World;

/// Most protected items one recovery plan may hold.
pub const MAX_PLAN_ITEMS: usize = 100;

fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v)
}

fn network_id(ctx: &Ctx, world: &World, stamp: usize, network: Uuid) -> String {
    format!(
        "{}/replicationNetworks/{network}",
        ctx.fabric_id(world.stamps[stamp].id)
    )
}

fn network_json(ctx: &Ctx, world: &World, stamp: usize, network: Uuid) -> Value {
    let n = &world.stamps[stamp].networks[&network];
    let subnets: Vec<Value> = world.stamps[stamp]
        .subnets
        .values()
        .filter(|s| s.vm_network_id == network)
        .map(|s| json!({"name": s.name, "friendlyName": s.name, "addressList": [s.subnet]}))
        .collect();
    json!({
        "id": network_id(ctx, world, stamp, network), "name": network,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks",
        "properties": {"friendlyName": n.name, "networkType": n.isolation_type, "fabricType": "VMM", "subnets": subnets},
    })
}

fn mapping_json(ctx: &Ctx, world: &World, m: &NetworkMapping) -> Value {
    let name = |(s, n): (usize, Uuid)| world.stamps[s].networks.get(&n).map(|x| x.name.clone());
    json!({
        "id": format!("{}/replicationNetworkMappings/{}", network_id(ctx, world, m.primary.0, m.primary.1), m.name),
        "name": m.name,
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks/replicationNetworkMappings",
        "properties": {
            "state": "Paired",
            "primaryNetworkFriendlyName": name(m.primary), "primaryNetworkId": network_id(ctx, world, m.primary.0, m.primary.1),
            "primaryFabricFriendlyName": world.stamps[m.primary.0].vmm_server,
            "recoveryNetworkFriendlyName": name(m.recovery), "recoveryNetworkId": network_id(ctx, world, m.recovery.0, m.recovery.1),
            "recoveryFabricArmId": ctx.fabric_id(world.stamps[m.recovery.0].id),
            "recoveryFabricFriendlyName": world.stamps[m.recovery.0].vmm_server,
            "fabricSpecificSettings": {"instanceType": "VmmToVmm"},
        }
    })
}

/// `GET replicationNetworkMappings` across the vault.
pub fn list_network_mappings(ctx: &Ctx, world: &World) -> Response {
    let value: Vec<Value> = world
        .vault
        .network_mappings
        .iter()
        .map(|m| mapping_json(ctx, world, m))
        .collect();
    ok(json!({"value": value, "nextLink": null}))
}

/// Everything under `replicationFabrics/{f}/replicationNetworks`.
#[allow(clippy::too_many_arguments)]
pub fn networks(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    m: &str,
    rest: &[&str],
    l: &[&str],
    body: &Value,
) -> Response {
    let Some(stamp) = fabric(world, rest[1]) else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The fabric was not found.",
        );
    };
    let network = rest
        .get(3)
        .and_then(|n| Uuid::parse_str(n).ok())
        .filter(|n| world.stamps[stamp].networks.contains_key(n));
    match (m, &l[3..]) {
        ("GET", []) => {
            let value: Vec<Value> = world.stamps[stamp]
                .networks
                .keys()
                .map(|n| network_json(ctx, world, stamp, *n))
                .collect();
            ok(json!({"value": value, "nextLink": null}))
        }
        (_, [_, ..]) if network.is_none() => arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The network was not found.",
        ),
        ("GET", [_]) => ok(network_json(ctx, world, stamp, network.expect("checked"))),
        ("GET", [_, "replicationnetworkmappings"]) => {
            let n = network.expect("checked");
            let value: Vec<Value> = world
                .vault
                .network_mappings
                .iter()
                .filter(|x| x.primary == (stamp, n))
                .map(|x| mapping_json(ctx, world, x))
                .collect();
            ok(json!({"value": value, "nextLink": null}))
        }
        ("GET", [_, "replicationnetworkmappings", _]) => {
            let n = network.expect("checked");
            match world
                .vault
                .network_mappings
                .iter()
                .find(|x| x.primary == (stamp, n) && x.name.eq_ignore_ascii_case(rest[5]))
            {
                Some(x) => ok(mapping_json(ctx, world, x)),
                None => arm_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "The network mapping was not found.",
                ),
            }
        }
        ("PUT", [_, "replicationnetworkmappings", _]) => {
            let n = network.expect("checked");
            let p = field(body, "properties").cloned().unwrap_or(Value::Null);
            let recovery_fabric = field_str(&p, "recoveryFabricName").unwrap_or_default();
            let recovery_network = field_str(&p, "recoveryNetworkId").unwrap_or_default();
            let Some(rs) = fabric(world, last_segment(&recovery_fabric)).or_else(|| {
                segment_after(&recovery_network, "replicationFabrics")
                    .and_then(|f| fabric(world, f))
            }) else {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRecoveryFabric",
                    format!("recoveryFabricName '{recovery_fabric}' names no fabric."),
                );
            };
            let Some(rn) = Uuid::parse_str(last_segment(&recovery_network))
                .ok()
                .filter(|x| world.stamps[rs].networks.contains_key(x))
            else {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRecoveryNetwork",
                    format!(
                        "recoveryNetworkId '{recovery_network}' names no VM network on that fabric."
                    ),
                );
            };
            let name = rest[5];
            if let Some(existing) = world
                .vault
                .network_mappings
                .iter()
                .find(|x| x.primary == (stamp, n) && x.name.eq_ignore_ascii_case(name))
            {
                if existing.recovery == (rs, rn) {
                    let existing = existing.clone();
                    return ok(mapping_json(ctx, world, &existing));
                }
                return arm_error(
                    StatusCode::CONFLICT,
                    "NetworkMappingExists",
                    "A different mapping with this name exists.",
                );
            }
            world.vault.network_mappings.push(NetworkMapping {
                name: name.to_owned(),
                primary: (stamp, n),
                recovery: (rs, rn),
                input: p,
            });
            configuration_done(
                state,
                ctx,
                world,
                now,
                "MapNetwork",
                "Map networks",
                name,
                String::new(),
            )
        }
        ("DELETE", [_, "replicationnetworkmappings", _]) => {
            let n = network.expect("checked");
            let before = world.vault.network_mappings.len();
            world
                .vault
                .network_mappings
                .retain(|x| !(x.primary == (stamp, n) && x.name.eq_ignore_ascii_case(rest[5])));
            if before == world.vault.network_mappings.len() {
                return arm_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "The network mapping was not found.",
                );
            }
            configuration_done(
                state,
                ctx,
                world,
                now,
                "UnmapNetwork",
                "Remove the network mapping",
                rest[5],
                String::new(),
            )
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "No such network resource.",
        ),
    }
}

fn plan_json(ctx: &Ctx, world: &World, plan: &RecoveryPlan, now: OffsetDateTime) -> Value {
    let items: Vec<_> = plan
        .items
        .iter()
        .filter_map(|i| world.vault.items.get(i))
        .collect();
    // The plan allows what every one of its items allows, in the plan's vocabulary.
    let mut allowed: Vec<&str> = Vec::new();
    for candidate in [
        "PlannedFailover",
        "UnplannedFailover",
        "TestFailover",
        "TestFailoverCleanup",
        "Commit",
        "CancelFailover",
        "ReverseReplicate",
    ] {
        if !items.is_empty()
            && items
                .iter()
                .all(|i| i.allowed_operations().contains(&candidate))
        {
            allowed.push(candidate);
        }
    }
    let _ = now;
    let p = &plan.input;
    json!({
        "id": format!("{}/replicationRecoveryPlans/{}", ctx.vault_id, plan.name), "name": plan.name,
        "type": "Microsoft.RecoveryServices/vaults/replicationRecoveryPlans",
        "properties": {
            "friendlyName": plan.name,
            "primaryFabricId": field_str(p, "primaryFabricId"), "recoveryFabricId": field_str(p, "recoveryFabricId"),
            "primaryFabricFriendlyName": field_str(p, "primaryFabricId").and_then(|f| fabric(world, last_segment(&f))).map(|s| world.stamps[s].vmm_server.clone()),
            "recoveryFabricFriendlyName": field_str(p, "recoveryFabricId").and_then(|f| fabric(world, last_segment(&f))).map(|s| world.stamps[s].vmm_server.clone()),
            "failoverDeploymentModel": field_str(p, "failoverDeploymentModel").unwrap_or_else(|| "NotApplicable".into()),
            "replicationProviders": ["HyperVReplica2012R2"],
            "allowedOperations": allowed,
            "lastPlannedFailoverTime": plan.last_planned_failover.map(arm_time),
            "lastTestFailoverTime": plan.last_test_failover.map(arm_time),
            "groups": plan.groups,
        }
    })
}

/// The final result of a recovery plan's LRO.
pub fn plan_result(ctx: &Ctx, world: &World, name: &str, now: OffsetDateTime) -> Response {
    match world.vault.plans.get(&name.to_ascii_lowercase()) {
        Some(plan) => ok(plan_json(ctx, world, plan, now)),
        None => json_response(StatusCode::OK, Value::Null),
    }
}

fn empty_group(kind: &str) -> Value {
    json!({"groupType": kind, "replicationProtectedItems": [], "startGroupActions": [], "endGroupActions": []})
}

/// Everything under `replicationRecoveryPlans`.
#[allow(clippy::too_many_arguments)]
pub fn recovery_plans(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    m: &str,
    rest: &[&str],
    l: &[&str],
    body: &Value,
) -> Response {
    let key = rest.get(1).map(|n| n.to_ascii_lowercase());
    match (m, &l[1..]) {
        ("GET", []) => {
            let value: Vec<Value> = world
                .vault
                .plans
                .values()
                .map(|p| plan_json(ctx, world, p, now))
                .collect();
            ok(json!({"value": value, "nextLink": null}))
        }
        ("GET", [_]) => plan_result_or_404(ctx, world, key.as_deref().unwrap_or_default(), now),
        ("PUT" | "PATCH", [_]) => put_plan(state, ctx, world, now, rest[1], body),
        ("DELETE", [_]) => match world.vault.plans.remove(key.as_deref().unwrap_or_default()) {
            Some(_) => configuration_done(
                state,
                ctx,
                world,
                now,
                "DeleteRecoveryPlan",
                "Delete a recovery plan",
                rest[1],
                String::new(),
            ),
            None => arm_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The recovery plan was not found.",
            ),
        },
        ("POST", [_, action]) => plan_action(
            state,
            ctx,
            world,
            now,
            key.as_deref().unwrap_or_default(),
            action,
            body,
        ),
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "No such recovery plan resource.",
        ),
    }
}

fn plan_result_or_404(ctx: &Ctx, world: &World, key: &str, now: OffsetDateTime) -> Response {
    match world.vault.plans.get(key) {
        Some(plan) => ok(plan_json(ctx, world, plan, now)),
        None => arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The recovery plan was not found.",
        ),
    }
}

fn put_plan(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    name: &str,
    body: &Value,
) -> Response {
    let p = field(body, "properties").cloned().unwrap_or(Value::Null);
    let key = name.to_ascii_lowercase();
    if world
        .vault
        .plans
        .get(&key)
        .is_some_and(|plan| plan.input == p)
    {
        let plan = world.vault.plans[&key].clone();
        return ok(plan_json(ctx, world, &plan, now));
    }
    let posted = field(&p, "groups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut items = Vec::new();
    for group in &posted {
        for entry in field(group, "replicationProtectedItems")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let id = field_str(&entry, "id")
                .or_else(|| field_str(&entry, "virtualMachineId"))
                .unwrap_or_default();
            let Some(item) = Uuid::parse_str(last_segment(&id))
                .ok()
                .filter(|i| world.vault.items.contains_key(i))
            else {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidProtectedItem",
                    format!("'{id}' is not a protected item of this vault."),
                );
            };
            if !items.contains(&item) {
                items.push(item);
            }
        }
    }
    if items.len() > MAX_PLAN_ITEMS {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "RecoveryPlanMaxItemsExceeded",
            format!(
                "A recovery plan holds at most {MAX_PLAN_ITEMS} protected items; {} were given.",
                items.len()
            ),
        );
    }
    let has = |kind: &str| {
        posted
            .iter()
            .any(|g| field_str(g, "groupType").is_some_and(|t| t.eq_ignore_ascii_case(kind)))
    };
    let mut groups = Vec::new();
    if !has("Shutdown") {
        groups.push(empty_group("Shutdown"));
    }
    if !has("Failover") {
        groups.push(empty_group("Failover"));
    }
    groups.extend(posted);
    let previous = world.vault.plans.get(&key).cloned();
    world.vault.plans.insert(
        key,
        RecoveryPlan {
            name: name.to_owned(),
            input: p,
            groups,
            items,
            last_planned_failover: previous.as_ref().and_then(|x| x.last_planned_failover),
            last_test_failover: previous.and_then(|x| x.last_test_failover),
        },
    );
    configuration_done(
        state,
        ctx,
        world,
        now,
        "CreateRecoveryPlan",
        "Create a recovery plan",
        name,
        format!("replicationRecoveryPlans/{name}"),
    )
}

fn plan_action(
    state: &LabState,
    ctx: &Ctx,
    world: &mut World,
    now: OffsetDateTime,
    key: &str,
    action: &str,
    body: &Value,
) -> Response {
    let Some(plan) = world.vault.plans.get(key).cloned() else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The recovery plan was not found.",
        );
    };
    // Plan bodies carry providerSpecificDetails as an array; items take the same properties.
    let mut queued = Vec::new();
    for name in &plan.items {
        let Some(item) = world.vault.items.get(name).cloned() else {
            continue;
        };
        let (operation, allowed) = match parse_action(world, &item, action, body) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if let Err(r) = check_submission(&item, allowed) {
            return r;
        }
        queued.push((item, operation));
    }
    if queued.is_empty() {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidOperation",
            "The recovery plan has no protected items.",
        );
    }
    let children: Vec<Uuid> = queued
        .iter()
        .map(|(item, operation)| queue_for_plan(ctx, world, now, item, operation.clone()))
        .collect();
    let id = world.new_id();
    let first = world.vault.jobs[&children[0]].clone();
    let mut job = Job {
        id,
        op: Op::Plan,
        item: None,
        children,
        target: (plan.name.clone(), plan.name.clone(), "RecoveryPlan"),
        resource_path: format!("replicationRecoveryPlans/{}", plan.name),
        queued_at: now,
        started_at: Some(now),
        slot_end: None,
        tail_end: None,
        ended_at: None,
        state: JobState::NotStarted,
        errors: Vec::new(),
        tasks: Vec::new(),
        ..first
    };
    job.item = None;
    let expected = super::super::clock::after(now, ctx.operation_seconds);
    world.vault.insert_job(id, job);
    if let Some(p) = world.vault.plans.get_mut(key) {
        match action.to_ascii_lowercase().as_str() {
            "plannedfailover" | "unplannedfailover" => p.last_planned_failover = Some(now),
            "testfailover" => p.last_test_failover = Some(now),
            _ => {}
        }
    }
    accepted(state, ctx, id, expected)
}
