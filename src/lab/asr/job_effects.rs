//! What each item operation does to the world when its job's slot phase ends: the protected
//! item's state machine (enabling, failed over, committed or cancelled, protected again,
//! removed) and the VMs it starts, stops, creates (replicas, test VMs) or deletes, with networks
//! mapped across stamps.
//!
//! Only the scheduler in `jobs` may call these, once per job at its end time; HTTP handlers never
//! change the world this way.

use time::OffsetDateTime;
use uuid::Uuid;

use super::jobs::{JobState, Op};
use super::model::{Item, Location, ProtectionState, Side};
use crate::lab::clock::after;
use crate::lab::knobs::Knobs;
use crate::lab::world::{Power, Vm, World};

/// Creates the (stopped) replica VM on the recovery side when protection is enabled.
pub(super) fn create_replica(world: &mut World, item: &Item, at: OffsetDateTime) {
    let Some(primary) = world.stamps[item.primary.stamp]
        .vms
        .get(&item.primary.vm)
        .cloned()
    else {
        return;
    };
    let networks = map_networks(
        world,
        item.primary.stamp,
        item.recovery.stamp,
        &primary.vm_network_ids,
    );
    world.stamps[item.recovery.stamp].vms.insert(
        item.recovery.vm,
        Vm {
            id: item.recovery.vm,
            name: primary.name.clone(),
            vm_id: primary.vm_id,
            cloud_id: Some(item.recovery.cloud),
            owner: None,
            power: Power::Stopped,
            creating_until: None,
            cpu_count: primary.cpu_count,
            memory_mb: primary.memory_mb,
            total_size: primary.total_size,
            tag: primary.tag.clone(),
            description: primary.description.clone(),
            is_recovery_vm: true,
            vm_network_ids: networks,
            added: at,
            modified: at,
        },
    );
}

/// The VM networks on `to` that network mappings pair with `networks` on `from`.
pub fn map_networks(world: &World, from: usize, to: usize, networks: &[Uuid]) -> Vec<Uuid> {
    networks
        .iter()
        .filter_map(|n| {
            world.vault.network_mappings.iter().find_map(|m| {
                if m.primary == (from, *n) && m.recovery.0 == to {
                    Some(m.recovery.1)
                } else if m.recovery == (from, *n) && m.primary.0 == to {
                    Some(m.primary.1)
                } else {
                    None
                }
            })
        })
        .collect()
}

fn set_power(world: &mut World, stamp: usize, vm: Uuid, power: Power, at: OffsetDateTime) {
    if let Some(vm) = world.stamps[stamp].vms.get_mut(&vm) {
        vm.power = power;
        vm.modified = at;
    }
}

/// Applies an operation's effect at the end of its slot phase.
pub(super) fn finish_slot(world: &mut World, id: Uuid, at: OffsetDateTime, knobs: &Knobs) {
    let (op, item_name) = {
        let job = &world.vault.jobs[&id];
        (job.op.clone(), job.item)
    };
    let Some(mut item) = item_name.and_then(|i| world.vault.items.get(&i).cloned()) else {
        let job = world.vault.jobs.get_mut(&id).expect("job");
        job.state = JobState::Succeeded;
        job.ended_at = Some(at);
        return;
    };
    let mut done = true;
    match op {
        Op::Enable => {
            let size = world.stamps[item.primary.stamp]
                .vms
                .get(&item.primary.vm)
                .map_or(0, |v| v.total_size);
            let seconds = size as f64 / knobs.initial_replication_bytes_per_second;
            let end = after(at, seconds);
            item.initial_replication = Some((at, end));
            world.vault.jobs.get_mut(&id).expect("job").tail_end = Some(end);
            done = false;
        }
        Op::PlannedFailover => {
            let (source, target) = (item.active_side(), item.passive_side());
            set_power(world, source.stamp, source.vm, Power::Stopped, at);
            item.final_point = Some(at);
            item.stopped_at = Some(at);
            start_target(world, &item, target, at);
            item.active = flip(item.active);
            item.state = ProtectionState::PlannedFailedOver;
            item.last_failover = Some(at);
        }
        Op::UnplannedFailover { source_required } => {
            let (source, target) = (item.active_side(), item.passive_side());
            let source_up = world.stamps[source.stamp].down_since.is_none();
            if source_required && source_up {
                set_power(world, source.stamp, source.vm, Power::Stopped, at);
                item.final_point = Some(at);
            }
            item.stopped_at = Some(at);
            start_target(world, &item, target, at);
            item.active = flip(item.active);
            item.state = ProtectionState::UnplannedFailedOver;
            item.last_failover = Some(at);
        }
        Op::TestFailover { network } => {
            let target = item.passive_side();
            let test_id = world.new_id();
            let replica = world.stamps[target.stamp].vms.get(&target.vm).cloned();
            if let Some(replica) = replica {
                world.stamps[target.stamp].vms.insert(
                    test_id,
                    Vm {
                        id: test_id,
                        name: format!("{}-test", replica.name),
                        cloud_id: None,
                        owner: None,
                        power: Power::Running,
                        creating_until: None,
                        is_recovery_vm: true,
                        vm_network_ids: network.into_iter().collect(),
                        added: at,
                        modified: at,
                        ..replica
                    },
                );
                item.test_vm = Some((target.stamp, test_id));
            }
            item.last_test_failover = Some(at);
        }
        Op::TestFailoverCleanup => {
            if let Some((stamp, vm)) = item.test_vm.take() {
                world.stamps[stamp].vms.remove(&vm);
            }
        }
        Op::Commit => {
            item.state = ProtectionState::Committed;
            item.archived.clear();
        }
        Op::CancelFailover => {
            // Back to where it ran before the failover, replicating the same way as then; the
            // failover's points go, as a commit would discard them.
            let (failed_over_to, back_to) = (item.active_side(), item.passive_side());
            set_power(
                world,
                failed_over_to.stamp,
                failed_over_to.vm,
                Power::Stopped,
                at,
            );
            set_power(world, back_to.stamp, back_to.vm, Power::Running, at);
            item.active = flip(item.active);
            item.state = ProtectionState::Protected;
            item.anchor = at;
            item.stopped_at = None;
            item.final_point = None;
            item.applied_point = None;
            item.archived.clear();
        }
        Op::Reprotect => {
            // The running side becomes the source; the other side is the replica again.
            let passive = item.passive_side();
            set_power(world, passive.stamp, passive.vm, Power::Stopped, at);
            item.state = ProtectionState::Protected;
            item.anchor = at;
            item.stopped_at = None;
            item.final_point = None;
            item.applied_point = None;
            item.archived.clear();
        }
        Op::ChangePit { point } => item.applied_point = Some(point),
        Op::Disable => {
            if let Some((stamp, vm)) = item.test_vm.take() {
                world.stamps[stamp].vms.remove(&vm);
            }
            if matches!(
                item.state,
                ProtectionState::Enabling | ProtectionState::Protected
            ) && item.active == Location::Primary
            {
                world.stamps[item.recovery.stamp]
                    .vms
                    .remove(&item.recovery.vm);
            }
            world.vault.items.remove(&item.name);
            let job = world.vault.jobs.get_mut(&id).expect("job");
            job.state = JobState::Succeeded;
            job.ended_at = Some(at);
            return;
        }
        Op::Plan | Op::Configuration => {}
    }
    if item.busy == Some(id) {
        item.busy = None;
    }
    world.vault.items.insert(item.name, item);
    if done {
        let job = world.vault.jobs.get_mut(&id).expect("job");
        job.state = JobState::Succeeded;
        job.ended_at = Some(at);
    }
}

fn flip(location: Location) -> Location {
    match location {
        Location::Primary => Location::Recovery,
        Location::Recovery => Location::Primary,
    }
}

fn start_target(world: &mut World, item: &Item, target: Side, at: OffsetDateTime) {
    let source = item.active_side();
    let networks = world.stamps[source.stamp]
        .vms
        .get(&source.vm)
        .map(|v| v.vm_network_ids.clone())
        .unwrap_or_default();
    let mapped = map_networks(world, source.stamp, target.stamp, &networks);
    if let Some(vm) = world.stamps[target.stamp].vms.get_mut(&target.vm) {
        vm.power = Power::Running;
        vm.modified = at;
        if !mapped.is_empty() {
            vm.vm_network_ids = mapped;
        }
    }
}

/// Ends an enable job when its initial replication completes: the item is protected.
pub(super) fn finish_initial_replication(world: &mut World, id: Uuid, at: OffsetDateTime) {
    let item = world.vault.jobs[&id].item;
    if let Some(item) = item.and_then(|i| world.vault.items.get_mut(&i))
        && item.state == ProtectionState::Enabling
    {
        item.state = ProtectionState::Protected;
        item.anchor = at;
    }
    let job = world.vault.jobs.get_mut(&id).expect("job");
    job.state = JobState::Succeeded;
    job.ended_at = Some(at);
}
