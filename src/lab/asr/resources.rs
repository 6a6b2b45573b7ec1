//! ARM routing under the vault: one `match` on the lower-cased path, from the vault itself down
//! to a protected item's actions, handing each call to its resource family (`configuration` for
//! policies and pairings, `items` for protected items, `operations` for jobs and LRO polling,
//! `plans` for recovery plans and networks); plus the small helpers every family shares.
//!
//! Routing only reads; a handler that refuses a call must have changed nothing.

use std::collections::BTreeMap;
use std::ops::Bound;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::bodies::{
    container_json, fabric_json, item_json, mapping_json, policy_json, protectable_json,
    recovery_points,
};
use super::configuration::{delete_policy, put_mapping, put_policy, remove_mapping};
use super::items::{enable_protection, submit_action};
use super::model::Item;
use super::operations::{get_job, list_jobs, operation_result, operation_status};
use super::{Ctx, arm_error, fabric_name, plans};
use crate::lab::LabState;
use crate::lab::net::{field, json_response};
use crate::lab::world::World;

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

pub(super) fn container(world: &World, stamp: usize, name: &str) -> Option<Uuid> {
    Uuid::parse_str(name)
        .ok()
        .filter(|c| world.stamps[stamp].clouds.contains_key(c))
}

pub(super) fn props(body: &Value) -> Value {
    field(body, "properties").cloned().unwrap_or(Value::Null)
}

pub(super) fn not_found(what: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{what} was not found."),
    )
}

pub(super) fn list(items: Vec<Value>) -> Response {
    list_page(items, None)
}

/// One page of a list, with the `nextLink` to the rest when there is more.
fn list_page(items: Vec<Value>, next_link: Option<String>) -> Response {
    json_response(
        StatusCode::OK,
        json!({"value": items, "nextLink": next_link}),
    )
}

/// One page of the vault's protected items that `wanted` keeps.
fn items_page(
    ctx: &Ctx,
    world: &World,
    now: OffsetDateTime,
    wanted: impl Fn(&Item) -> bool,
) -> Response {
    paged(ctx, &world.vault.items, wanted, |_, i| {
        item_json(ctx, world, i, now)
    })
}

/// The page (`arm_page_size` long) a request asks for among `all`'s entries that `wanted` keeps,
/// in key order from just after the request's `skipToken`, each written by `render`, with the
/// `nextLink` when more remain; a `skipToken` that is not a key is a 400.
fn paged<T>(
    ctx: &Ctx,
    all: &BTreeMap<Uuid, T>,
    wanted: impl Fn(&T) -> bool,
    render: impl Fn(Uuid, &T) -> Value,
) -> Response {
    let after = match ctx.skip_token.as_deref() {
        None => Bound::Unbounded,
        Some(token) => match Uuid::parse_str(token) {
            Ok(key) => Bound::Excluded(key),
            Err(_) => {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidSkipToken",
                    format!("The skipToken '{token}' is not valid."),
                );
            }
        },
    };
    let mut entries: Vec<(&Uuid, &T)> = all
        .range((after, Bound::Unbounded))
        .filter(|(_, v)| wanted(v))
        .take(ctx.page_size + 1)
        .collect();
    let next = (entries.len() > ctx.page_size).then(|| {
        entries.truncate(ctx.page_size);
        let last = entries[ctx.page_size - 1].0;
        format!(
            "{}?api-version={}&skipToken={last}",
            ctx.request_url, ctx.api_version
        )
    });
    list_page(
        entries.into_iter().map(|(k, v)| render(*k, v)).collect(),
        next,
    )
}

pub(super) fn ok(v: Value) -> Response {
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
    let (mut world, now) = state.world();
    let world = &mut *world;
    let m = method.as_str();
    match (m, l.as_slice()) {
        ("GET", []) => ok(
            json!({"id": ctx.vault_id, "name": state.access.asr.vault, "type": "Microsoft.RecoveryServices/vaults", "sku": {"name": "RS0", "tier": "Standard"}, "properties": {"provisioningState": "Succeeded"}}),
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
            state.count("asr/container_lists");
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
        ("DELETE", ["replicationpolicies", _]) => delete_policy(state, ctx, world, now, rest[1]),
        ("GET", ["replicationprotecteditems"]) => items_page(ctx, world, now, |_| true),
        ("GET", ["replicationjobs"]) => list_jobs(ctx, world, now),
        ("GET", ["replicationjobs", _]) => get_job(ctx, world, now, rest[1]),
        ("GET", ["replicationjobs", _, "operationresults", _]) => {
            operation_result(state, ctx, world, now, rest[1])
        }
        ("GET", ["replicationoperationstatus", _]) => operation_status(state, ctx, world, rest[1]),
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
    m: &str,
    stamp: usize,
    cloud: Uuid,
    tail: &[&str],
    raw: &[&str],
    body: &Value,
) -> Response {
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
            remove_mapping(state, ctx, world, now, stamp, cloud, raw[1])
        }
        ("GET", ["replicationprotectableitems"]) => paged(
            ctx,
            &world.stamps[stamp].vms,
            |v| v.cloud_id == Some(cloud) && !v.is_recovery_vm,
            |id, _| protectable_json(ctx, world, stamp, cloud, id, now),
        ),
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
        ("GET", ["replicationprotecteditems"]) => items_page(ctx, world, now, |i| {
            i.primary.stamp == stamp && i.primary.cloud == cloud
        }),
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
