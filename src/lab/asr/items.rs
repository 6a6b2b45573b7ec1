//! Protected items and their actions: enabling protection on a VM (the protection readiness
//! rules), and the item operations (planned, unplanned and test failover, cleanup, commit, cancel
//! failover, reprotect, apply recovery point, disable) with their submission rules: 409 `532` while
//! another operation runs on the item, 400 `InvalidOperation` outside `allowedOperations`.
//!
//! Submission only queues a job; the world changes when the job runs (see `jobs`). A refused
//! submission must change nothing.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::bodies::{item_json, item_path, point_time};
use super::jobs::{Job, Op};
use super::model::{Item, Location, ProtectionState, Side, op};
use super::outstanding;
use super::resources::{last_segment, not_found, ok, props};
use super::{Ctx, accepted, arm_error};
use crate::lab::LabState;
use crate::lab::net::field_str;
use crate::lab::world::World;

/// Why `vm` cannot be protected now (empty: it can).
pub(super) fn readiness_errors(
    world: &World,
    stamp: usize,
    vm: Uuid,
    now: OffsetDateTime,
) -> Vec<String> {
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
    // The lab's stand-in for a VM Hyper-V Replica cannot replicate: one whose description says
    // it has a pass-through disk (real Hyper-V Replica refuses those).
    if v.description
        .to_ascii_lowercase()
        .contains("pass-through disk")
    {
        errors.push(
            "The virtual machine has a pass-through disk, which Hyper-V Replica cannot replicate."
                .to_owned(),
        );
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

/// Enables protection of a VM (`PUT` on a protected item; idempotent for the same policy).
#[allow(clippy::too_many_arguments)]
pub(super) fn enable_protection(
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
        .find(|m| m.primary == (stamp, cloud) && m.policy == policy)
        .cloned()
    else {
        // As ASR: the policy chooses the pairing, so a policy no pairing of the cloud uses is
        // refused, and so is a cloud with no pairing at all.
        let paired = world
            .vault
            .mappings
            .iter()
            .any(|m| m.primary == (stamp, cloud));
        return if paired {
            arm_error(
                StatusCode::BAD_REQUEST,
                "PolicyNotAssociated",
                "policyId is not the policy of any of the cloud's pairings.",
            )
        } else {
            arm_error(
                StatusCode::BAD_REQUEST,
                "ProtectionContainerNotPaired",
                "The cloud is not paired with a recovery cloud.",
            )
        };
    };
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
        stalled_since: None,
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
    outstanding::submit(world, id, job);
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
        "failovercancel" => (Op::CancelFailover, op::CANCEL_FAILOVER),
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

/// Submits an action on a protected item.
pub(super) fn submit_action(
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
    outstanding::submit(world, id, job);
    if let Some(i) = world.vault.items.get_mut(&item.name) {
        i.busy = Some(id);
        i.scenario = Some((scenario, id, now));
    }
    id
}
