//! SPF OData writes for one stamp: `POST` creates (VMs, VM networks, subnets, user roles,
//! clouds), `PUT`/`MERGE`/`PATCH` update (including a VM's `Operation`), `DELETE` removes (a VM
//! network takes its subnets along), as `schemas/fabric-http.md` §1 fixes them.
//!
//! A refused write (400/404/409) must change nothing: every check runs before the world is
//! touched. Stamps are read-only.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::net::{field, field_i64, field_str, field_strings, field_uuid};
use super::spf::error;
use super::spf_entities::Set;
use super::spf_read::find;
use super::world::{Owner, Power, Stamp, UserRole, Vm, VmNetwork, VmSubnet, World};

fn parse_owner(world: &World, stamp: usize, body: &Value) -> Result<Option<Owner>, Response> {
    let Some(owner) = field(body, "Owner") else {
        return Ok(None);
    };
    let role_id = field_uuid(owner, "RoleID");
    let role = role_id.and_then(|id| world.stamps[stamp].roles.get(&id));
    let user_name = field_str(owner, "UserName")
        .or_else(|| role.and_then(|r| r.members.first().cloned()))
        .unwrap_or_default();
    let role_name = field_str(owner, "RoleName")
        .or_else(|| role.map(|r| r.name.clone()))
        .unwrap_or_default();
    match role_id {
        Some(role_id) => Ok(Some(Owner {
            user_name,
            role_name,
            role_id,
        })),
        None => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Owner needs a RoleID",
        )),
    }
}

fn guid_list(body: &Value, name: &str) -> Option<Vec<Uuid>> {
    field(body, name)?.as_array().map(|items| {
        items
            .iter()
            .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
            .collect()
    })
}

pub(super) fn create(
    world: &mut World,
    stamp: usize,
    set: Set,
    body: &Value,
    now: OffsetDateTime,
    vm_create_seconds: f64,
) -> Result<Uuid, Response> {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, "BadRequest", m.to_owned());
    if let Some(stamp_id) = field_uuid(body, "StampId")
        && set.keyed_by_stamp()
        && stamp_id != world.stamps[stamp].id
    {
        return Err(bad("StampId names another stamp"));
    }
    let id = match field_uuid(body, "ID") {
        Some(id) => id,
        None => world.new_id(),
    };
    let exists = find(&world.stamps[stamp], set, &[("ID".into(), id)]).is_ok();
    if exists {
        return Err(error(
            StatusCode::CONFLICT,
            "Conflict",
            format!("an entity with ID {id} exists"),
        ));
    }
    let name = field_str(body, "Name");
    match set {
        Set::Vms => {
            let name = name.ok_or_else(|| bad("a VM needs a Name"))?;
            let cloud_id = field_uuid(body, "CloudId");
            if let Some(cloud) = cloud_id
                && !world.stamps[stamp].clouds.contains_key(&cloud)
            {
                return Err(bad("CloudId names no cloud of this stamp"));
            }
            let owner = parse_owner(world, stamp, body)?;
            let vm_id = match field_uuid(body, "VMId") {
                Some(v) => v,
                None => world.new_id(),
            };
            let vm = Vm {
                id,
                name,
                vm_id,
                cloud_id,
                owner,
                power: Power::Running,
                creating_until: Some(super::clock::after(now, vm_create_seconds)),
                cpu_count: field_i64(body, "CPUCount").unwrap_or(1),
                memory_mb: field_i64(body, "Memory").unwrap_or(1024),
                total_size: field_i64(body, "TotalSize").unwrap_or(40 << 30),
                tag: field_str(body, "Tag").unwrap_or_default(),
                description: field_str(body, "Description").unwrap_or_default(),
                is_recovery_vm: field(body, "IsRecoveryVM")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                vm_network_ids: guid_list(body, "VMNetworkIds").unwrap_or_default(),
                added: now,
                modified: now,
            };
            world.stamps[stamp].vms.insert(id, vm);
        }
        Set::Networks => {
            let owner = parse_owner(world, stamp, body)?;
            let logical = field_uuid(body, "LogicalNetworkId").unwrap_or_else(|| world.new_id());
            world.stamps[stamp].networks.insert(
                id,
                VmNetwork {
                    id,
                    name: name.ok_or_else(|| bad("a VM network needs a Name"))?,
                    description: field_str(body, "Description").unwrap_or_default(),
                    logical_network_id: logical,
                    isolation_type: field_str(body, "IsolationType")
                        .unwrap_or_else(|| "WindowsNetworkVirtualization".into()),
                    owner,
                    modified: now,
                },
            );
        }
        Set::Subnets => {
            let network = field_uuid(body, "VMNetworkId")
                .ok_or_else(|| bad("a subnet needs a VMNetworkId"))?;
            if !world.stamps[stamp].networks.contains_key(&network) {
                return Err(bad("VMNetworkId names no VM network of this stamp"));
            }
            world.stamps[stamp].subnets.insert(
                id,
                VmSubnet {
                    id,
                    name: name.unwrap_or_else(|| "Subnet".into()),
                    subnet: field_str(body, "Subnet")
                        .ok_or_else(|| bad("a subnet needs a Subnet"))?,
                    vm_network_id: network,
                },
            );
        }
        Set::Roles => {
            let members = field_strings(body, "Members");
            world.stamps[stamp].roles.insert(
                id,
                UserRole {
                    id,
                    name: name.ok_or_else(|| bad("a user role needs a Name"))?,
                    profile: field_str(body, "Profile").unwrap_or_else(|| "TenantAdmin".into()),
                    members,
                },
            );
        }
        Set::Clouds => {
            world.stamps[stamp].clouds.insert(
                id,
                super::world::Cloud {
                    id,
                    name: name.ok_or_else(|| bad("a cloud needs a Name"))?,
                    description: field_str(body, "Description").unwrap_or_default(),
                    modified: now,
                },
            );
        }
        Set::Stamps => return Err(bad("stamps cannot be created")),
    }
    Ok(id)
}

pub(super) fn update(
    world: &mut World,
    stamp: usize,
    set: Set,
    key: &[(String, Uuid)],
    body: &Value,
    now: OffsetDateTime,
) -> Result<(), Response> {
    let id = find(&world.stamps[stamp], set, key)?.id(&world.stamps[stamp]);
    let bad = |m: String| error(StatusCode::BAD_REQUEST, "BadRequest", m);
    match set {
        Set::Vms => {
            let owner = if field(body, "Owner").is_some() {
                Some(parse_owner(world, stamp, body)?)
            } else {
                None
            };
            let vm = world.stamps[stamp].vms.get_mut(&id).expect("found");
            if let Some(operation) = field_str(body, "Operation")
                && !vm.apply_operation(&operation, now)
            {
                return Err(bad(format!("unknown Operation '{operation}'")));
            }
            if let Some(owner) = owner {
                vm.owner = owner;
            }
            if let Some(name) = field_str(body, "Name") {
                vm.name = name;
            }
            if let Some(v) = field_str(body, "Description") {
                vm.description = v;
            }
            if let Some(v) = field_str(body, "Tag") {
                vm.tag = v;
            }
            if let Some(v) = field_i64(body, "CPUCount") {
                vm.cpu_count = v;
            }
            if let Some(v) = field_i64(body, "Memory") {
                vm.memory_mb = v;
            }
            if let Some(v) = field_i64(body, "TotalSize") {
                vm.total_size = v;
            }
            if let Some(v) = guid_list(body, "VMNetworkIds") {
                vm.vm_network_ids = v;
            }
            if let Some(v) = field_uuid(body, "CloudId") {
                vm.cloud_id = Some(v);
            }
            vm.modified = now;
        }
        Set::Networks => {
            let owner = if field(body, "Owner").is_some() {
                Some(parse_owner(world, stamp, body)?)
            } else {
                None
            };
            let n = world.stamps[stamp].networks.get_mut(&id).expect("found");
            if let Some(owner) = owner {
                n.owner = owner;
            }
            if let Some(v) = field_str(body, "Name") {
                n.name = v;
            }
            if let Some(v) = field_str(body, "Description") {
                n.description = v;
            }
            n.modified = now;
        }
        Set::Subnets => {
            let s = world.stamps[stamp].subnets.get_mut(&id).expect("found");
            if let Some(v) = field_str(body, "Name") {
                s.name = v;
            }
            if let Some(v) = field_str(body, "Subnet") {
                s.subnet = v;
            }
        }
        Set::Roles => {
            let r = world.stamps[stamp].roles.get_mut(&id).expect("found");
            if let Some(v) = field_str(body, "Name") {
                r.name = v;
            }
            if let Some(v) = field_str(body, "Profile") {
                r.profile = v;
            }
            if let Some(members) = field(body, "Members").and_then(Value::as_array) {
                r.members = members
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
            }
            if let Some(member) = field_str(body, "AddMember")
                && !r.members.contains(&member)
            {
                r.members.push(member);
            }
        }
        Set::Clouds => {
            let c = world.stamps[stamp].clouds.get_mut(&id).expect("found");
            if let Some(v) = field_str(body, "Name") {
                c.name = v;
            }
            if let Some(v) = field_str(body, "Description") {
                c.description = v;
            }
            c.modified = now;
        }
        Set::Stamps => return Err(bad("stamps are read-only".into())),
    }
    Ok(())
}

pub(super) fn delete(stamp: &mut Stamp, set: Set, key: &[(String, Uuid)]) -> Result<(), Response> {
    let id = find(stamp, set, key)?.id(stamp);
    match set {
        Set::Vms => {
            stamp.vms.remove(&id);
        }
        Set::Networks => {
            stamp.networks.remove(&id);
            stamp.subnets.retain(|_, s| s.vm_network_id != id);
        }
        Set::Subnets => {
            stamp.subnets.remove(&id);
        }
        Set::Roles => {
            stamp.roles.remove(&id);
        }
        Set::Clouds => {
            stamp.clouds.remove(&id);
        }
        Set::Stamps => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "stamps are read-only",
            ));
        }
    }
    Ok(())
}
