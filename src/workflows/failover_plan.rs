//! The `prepare` step of a failover: where the subscription goes, which VMs go, and the stages a
//! recovery plan makes of them.
//!
//! The stamps and direction come from the DR record (away from the active stamp; the split-brain
//! guard refuses anything else); the VMs are the subscription's Protected ones; the plan is the
//! one asked for or the default, mapped onto them by
//! [`plan_for_failover`](crate::domain::recovery_plan::plan_for_failover). The engine's item of
//! every VM is resolved here once, so VM steps never look the container up again.

use std::collections::BTreeMap;

use serde_json::json;
use uuid::Uuid;

use crate::domain::recovery_plan::{Group, default_groups, plan_for_failover};
use crate::domain::{
    DrSubscription, FailoverKind, FailoverState, RecoveryPointChoice, switch_target,
};
use crate::engine::{StepContext, StepOutcome, StepSpec};
use crate::fabric::replication::{Direction, ItemRef};

use super::failover::{FailoverParams, REPLICATION_ENGINE_SLOT};
use super::failover_action::{When, action_step, delay_step};
use super::failover_vm::{VmOp, direction_name};
use super::{StampClients, Stop, fabric_refs};

/// The name of the one group of an operation that runs every VM at once.
const ALL_VMS: &str = "All VMs";

/// One engine operation of a failover kind, and whether it follows the plan's groups.
struct OpStage {
    op: VmOp,
    by_group: bool,
}

/// The per-VM operations of `kind`, in order (failback: planned failover by the plan's groups,
/// then commit and reprotect of every VM).
fn vm_ops(kind: FailoverKind) -> Vec<OpStage> {
    let ordered = |op| OpStage { op, by_group: true };
    let all = |op| OpStage {
        op,
        by_group: false,
    };
    match kind {
        FailoverKind::TestFailover => vec![ordered(VmOp::Test)],
        FailoverKind::TestFailoverCleanup => vec![all(VmOp::TestCleanup)],
        FailoverKind::PlannedFailover => vec![ordered(VmOp::Planned)],
        FailoverKind::UnplannedFailover { point } => match point {
            RecoveryPointChoice::Latest => vec![ordered(VmOp::Unplanned)],
            other => vec![ordered(VmOp::Unplanned), all(VmOp::ApplyPoint(other))],
        },
        FailoverKind::Commit => vec![all(VmOp::Commit)],
        FailoverKind::Rollback => vec![all(VmOp::Cancel)],
        FailoverKind::Reprotect => vec![all(VmOp::Reprotect)],
        FailoverKind::Failback => vec![
            ordered(VmOp::Planned),
            all(VmOp::Commit),
            all(VmOp::Reprotect),
        ],
    }
}

fn flip(direction: Direction) -> Direction {
    match direction {
        Direction::PrimaryToRecovery => Direction::RecoveryToPrimary,
        Direction::RecoveryToPrimary => Direction::PrimaryToRecovery,
    }
}

/// Checks the phase again, finds the direction, the VMs and the plan, and appends the stages.
pub(super) async fn prepare(
    clients: &StampClients,
    ctx: &StepContext,
    dr: &DrSubscription,
    params: &FailoverParams,
) -> Result<StepOutcome, Stop> {
    let kind = params.kind;
    let (source, target) = switch_target(
        dr.primary_stamp_id,
        dr.recovery_stamp_id,
        dr.active_stamp_id,
    )
    .map_err(Stop::Final)?;
    let on_recovery = Some(source) == dr.recovery_stamp_id;
    let state = ctx
        .store
        .get_failover(dr.subscription_id)
        .await?
        .unwrap_or_else(|| FailoverState::new(dr.subscription_id));
    if !state.phase.allows(kind, on_recovery) {
        return Err(Stop::Final(format!(
            "The subscription is {}; '{}' is not allowed now (allowed: {}).",
            state.phase.as_str(),
            kind.as_str(),
            state.phase.allowed(on_recovery).join(", ")
        )));
    }
    let first_direction = if on_recovery {
        Direction::RecoveryToPrimary
    } else {
        Direction::PrimaryToRecovery
    };
    let records = ctx.store.list_protected_vms(dr.subscription_id).await?;
    let names: BTreeMap<Uuid, String> = records
        .iter()
        .map(|vm| (vm.vm_id, vm.name.clone()))
        .collect();
    let protected: Vec<Uuid> = default_groups(&records)
        .into_iter()
        .flat_map(|g| g.vms)
        .collect();
    if protected.is_empty() {
        return Err(Stop::Final(
            "The subscription has no protected VMs to fail over.".into(),
        ));
    }
    let plan = match params.plan_id {
        Some(plan_id) => Some(
            ctx.store
                .get_recovery_plan(dr.subscription_id, plan_id)
                .await?
                .ok_or_else(|| {
                    Stop::Final(format!(
                        "Recovery plan {plan_id} no longer exists; start the operation again with another plan."
                    ))
                })?,
        ),
        None => ctx.store.get_default_recovery_plan(dr.subscription_id).await?,
    };
    let (plan_id, plan_name, plan_groups) = match plan {
        Some(plan) => (Some(plan.id), plan.name, plan.groups),
        None => (None, "Default".to_owned(), default_groups(&records)),
    };
    let (groups, skipped) = if kind.follows_plan() {
        plan_for_failover(&plan_groups, &protected)
    } else {
        (vec![everything(&protected)], Vec::new())
    };
    let pair = fabric_refs::pair(&ctx.store, dr.pair_id.unwrap_or_default()).await?;
    // Items are always addressed in the primary cloud, whichever way the VM runs now.
    let container = fabric_refs::container(
        clients,
        &ctx.store,
        pair.primary.stamp_id,
        pair.primary.cloud_id,
    )
    .await?;
    let item = |vm: Uuid| ItemRef {
        site: container.site.clone(),
        container: container.id.clone(),
        vm_id: vm.to_string(),
    };
    if let FailoverKind::UnplannedFailover { point } = kind {
        if point != RecoveryPointChoice::Latest {
            check_points(clients, &protected, &item, &names, point).await?;
        }
    }
    let name_of = |vm: &Uuid| names.get(vm).cloned().unwrap_or_else(|| vm.to_string());
    let limit = fabric_refs::engine(clients)?.max_parallel_operations();
    let context = json!({
        "JobId": ctx.run_id.to_string(),
        "SubscriptionId": dr.subscription_id.to_string(),
        "Operation": kind.as_str(),
        "RecoveryPlan": plan_name,
        "SourceStampId": source.to_string(),
        "TargetStampId": target.to_string(),
    });
    let mut next = Vec::new();
    let mut direction = first_direction;
    for stage in vm_ops(kind) {
        let this = direction;
        if matches!(stage.op, VmOp::Planned | VmOp::Unplanned) {
            direction = flip(direction);
        }
        let vm_steps = |group: &Group| -> Vec<StepSpec> {
            group
                .vms
                .iter()
                .map(|vm| {
                    let name = name_of(vm);
                    StepSpec::new(format!("{} {name}", stage.op.as_str()), "vm")
                        .with_input(stage.op.input(&item(*vm), &name, this, &group.name))
                        .at_least_once()
                        .in_slot(REPLICATION_ENGINE_SLOT, limit)
                })
                .collect()
        };
        if !stage.by_group {
            next.push(vm_steps(&everything(&protected)));
            continue;
        }
        for (index, group) in groups.iter().enumerate() {
            if index > 0 && group.delay_seconds > 0 {
                next.push(vec![delay_step(&group.name, group.delay_seconds)]);
            }
            let mut context = context.clone();
            context["Group"] = json!(group.name);
            context["Direction"] = json!(direction_name(this));
            context["Vms"] = group
                .vms
                .iter()
                .map(|vm| json!({ "VmId": vm.to_string(), "Name": name_of(vm) }))
                .collect();
            for (i, action) in group.pre_actions.iter().enumerate() {
                next.push(vec![action_step(&context, When::Before, i, action)]);
            }
            next.push(vm_steps(group));
            for (i, action) in group.post_actions.iter().enumerate() {
                next.push(vec![action_step(&context, When::After, i, action)]);
            }
        }
    }
    Ok(StepOutcome::DoneThen {
        output: json!({
            "sourceStampId": source.to_string(),
            "targetStampId": target.to_string(),
            "direction": direction_name(first_direction),
            "vms": protected.len(),
            "plan": { "id": plan_id.map(|p| p.to_string()), "name": plan_name },
            "groups": groups.iter().map(|g| json!({
                "name": g.name,
                "vms": g.vms.len(),
                "delaySeconds": g.delay_seconds,
                "actionsBefore": g.pre_actions.len(),
                "actionsAfter": g.post_actions.len(),
            })).collect::<Vec<_>>(),
            "skipped": skipped.iter().map(|vm| json!({
                "vmId": vm.to_string(),
                "name": name_of(vm),
                "reason": "not protected",
            })).collect::<Vec<_>>(),
            "maxParallelOperations": limit,
        }),
        next,
    })
}

/// One group of every VM, for operations that do not follow the plan.
fn everything(vms: &[Uuid]) -> Group {
    Group {
        name: ALL_VMS.into(),
        vms: vms.to_vec(),
        delay_seconds: 0,
        pre_actions: Vec::new(),
        post_actions: Vec::new(),
    }
}

/// Refuses an unplanned failover to a chosen point before any VM fails over when a VM has no
/// point that fits (a failover half done with no point to land on helps nobody).
async fn check_points(
    clients: &StampClients,
    vms: &[Uuid],
    item: &impl Fn(Uuid) -> ItemRef,
    names: &BTreeMap<Uuid, String>,
    point: RecoveryPointChoice,
) -> Result<(), Stop> {
    let engine = fabric_refs::engine(clients)?;
    let mut missing = Vec::new();
    for vm in vms {
        let points: Vec<_> = engine
            .recovery_points(&item(*vm))
            .await?
            .iter()
            .map(|p| (p.time, p.app_consistent))
            .collect();
        if point.pick(&points).is_none() {
            missing.push(format!("'{}'", names.get(vm).map_or("?", String::as_str)));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Stop::Final(format!(
        "No VM was failed over: {} ha{} no recovery point matching '{}'; choose another point or 'latest'.",
        missing.join(", "),
        if missing.len() == 1 { "s" } else { "ve" },
        point.to_text()
    )))
}
