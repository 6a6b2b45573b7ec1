//! The per-VM steps of the `failover` workflow: one replication-engine operation (test failover,
//! cleanup, planned or unplanned failover, recovery point, commit, reprotect, cancel) on one
//! protected VM, waited for. Each step looks at the VM's replication state first, so a step run again after
//! a crash neither starts the operation twice nor fails because it already happened.
//!
//! Only the replication engine is called: an unplanned failover with the source down never
//! reaches the source stamp's SPF or WAP.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{DrSubscription, RecoveryPointChoice};
use crate::engine::{StepContext, StepOutcome};
use crate::fabric::replication::{
    Direction, ItemRef, Location, Operation, OperationState, OperationStatus, Phase,
    ProtectionStatus,
};

use super::{StampClients, Stop, check_again, fabric_refs};

/// How long one attempt waits for the engine's operation before looking again later.
const OPERATION_WAIT: Duration = Duration::from_secs(20);

/// How soon a VM whose operation is still running is looked at again.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// One per-VM operation of a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VmOp {
    Test,
    TestCleanup,
    Planned,
    Unplanned,
    ApplyPoint(RecoveryPointChoice),
    Commit,
    Reprotect,
    Cancel,
}

impl VmOp {
    /// The name in step inputs and outputs.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Test => "testFailover",
            Self::TestCleanup => "testFailoverCleanup",
            Self::Planned => "plannedFailover",
            Self::Unplanned => "unplannedFailover",
            Self::ApplyPoint(_) => "applyRecoveryPoint",
            Self::Commit => "commit",
            Self::Reprotect => "reprotect",
            Self::Cancel => "cancelFailover",
        }
    }

    /// The step input of this operation on one VM: its engine item (resolved once for the whole
    /// run), its name, the direction and the recovery plan group it belongs to.
    pub(super) fn input(
        self,
        item: &ItemRef,
        name: &str,
        direction: Direction,
        group: &str,
    ) -> Value {
        let point = match self {
            Self::ApplyPoint(point) => Some(point.to_text()),
            _ => None,
        };
        json!({
            "vmId": item.vm_id,
            "name": name,
            "op": self.as_str(),
            "recoveryPoint": point,
            "direction": direction_name(direction),
            "group": group,
            "site": item.site,
            "container": item.container,
        })
    }

    fn from_input(input: &Value) -> Result<Self, String> {
        let op = input.get("op").and_then(Value::as_str).unwrap_or_default();
        Ok(match op {
            "testFailover" => Self::Test,
            "testFailoverCleanup" => Self::TestCleanup,
            "plannedFailover" => Self::Planned,
            "unplannedFailover" => Self::Unplanned,
            "applyRecoveryPoint" => Self::ApplyPoint(RecoveryPointChoice::parse(
                input
                    .get("recoveryPoint")
                    .and_then(Value::as_str)
                    .unwrap_or("latest"),
            )?),
            "commit" => Self::Commit,
            "reprotect" => Self::Reprotect,
            "cancelFailover" => Self::Cancel,
            other => return Err(format!("unknown VM operation '{other}'")),
        })
    }

    /// The engine's name of the operation, to check it is allowed.
    fn engine_operation(self) -> Operation {
        match self {
            Self::Test => Operation::TestFailover,
            Self::TestCleanup => Operation::TestFailoverCleanup,
            Self::Planned => Operation::PlannedFailover,
            Self::Unplanned => Operation::UnplannedFailover,
            Self::ApplyPoint(_) => Operation::ChangeRecoveryPoint,
            Self::Commit => Operation::Commit,
            Self::Reprotect => Operation::Reprotect,
            Self::Cancel => Operation::CancelFailover,
        }
    }

    /// Whether the engine's state shows the operation done already.
    fn done_in(self, status: &ProtectionStatus, direction: Direction) -> bool {
        let target = match direction {
            Direction::PrimaryToRecovery => Location::Recovery,
            Direction::RecoveryToPrimary => Location::Primary,
        };
        match self {
            Self::Test => status.phase == Phase::TestFailoverRunning,
            Self::TestCleanup | Self::Reprotect => status.phase == Phase::Protected,
            Self::Planned | Self::Unplanned => {
                matches!(status.phase, Phase::FailedOver { .. }) && status.active_location == target
            }
            // Applying a point twice lands on the same point: never skipped.
            Self::ApplyPoint(_) => false,
            Self::Commit => status.phase == Phase::Committed,
            Self::Cancel => status.phase == Phase::Protected && status.active_location == target,
        }
    }
}

/// The name of a direction in step inputs and outputs.
pub(super) fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::PrimaryToRecovery => "PrimaryToRecovery",
        Direction::RecoveryToPrimary => "RecoveryToPrimary",
    }
}

fn direction_of(input: &Value) -> Direction {
    match input.get("direction").and_then(Value::as_str) {
        Some("RecoveryToPrimary") => Direction::RecoveryToPrimary,
        _ => Direction::PrimaryToRecovery,
    }
}

/// The engine's item of a VM of `dr`'s subscription (always addressed in the primary cloud), for
/// steps planned before `prepare` put it in their input.
async fn item_of(
    clients: &StampClients,
    ctx: &StepContext,
    dr: &DrSubscription,
    vm_id: Uuid,
) -> Result<ItemRef, Stop> {
    let pair = fabric_refs::pair(&ctx.store, dr.pair_id.unwrap_or_default()).await?;
    let container = fabric_refs::container(
        clients,
        &ctx.store,
        pair.primary.stamp_id,
        pair.primary.cloud_id,
    )
    .await?;
    Ok(ItemRef {
        site: container.site,
        container: container.id,
        vm_id: vm_id.to_string(),
    })
}

/// Runs one VM step: the operation in the input, unless the engine shows it done.
pub(super) async fn run_vm_step(
    clients: &StampClients,
    ctx: &StepContext,
    dr: &DrSubscription,
    input: &Value,
) -> Result<StepOutcome, Stop> {
    let op = VmOp::from_input(input).map_err(Stop::Final)?;
    let vm_id = super::reconcile_vm::vm_id_of(input).map_err(Stop::Final)?;
    let name = input.get("name").and_then(Value::as_str).unwrap_or("");
    let group = input.get("group").and_then(Value::as_str).unwrap_or("");
    let direction = direction_of(input);
    let engine = fabric_refs::engine(clients)?;
    let item = match (
        input.get("site").and_then(Value::as_str),
        input.get("container").and_then(Value::as_str),
    ) {
        (Some(site), Some(container)) => ItemRef {
            site: site.to_owned(),
            container: container.to_owned(),
            vm_id: vm_id.to_string(),
        },
        _ => item_of(clients, ctx, dr, vm_id).await?,
    };
    let Some(status) = engine.protection_status(&item).await? else {
        return Err(Stop::Final(format!(
            "VM '{name}' ({vm_id}) is not protected in the replication engine."
        )));
    };
    if let Some(running) = &status.operation_in_progress {
        return Ok(check_again(
            format!("VM '{name}' is busy with '{running}'"),
            LOOK_AGAIN,
        ));
    }
    if op.done_in(&status, direction) {
        return Ok(StepOutcome::Done(
            output(ctx, vm_id, name, group, op, None, Some(&status)).await?,
        ));
    }
    if !status.allows(&op.engine_operation()) {
        return Err(Stop::Final(format!(
            "The replication engine does not allow {} for VM '{name}' now (it is {:?}, active on its {:?} side).",
            op.as_str(),
            status.phase,
            status.active_location
        )));
    }
    let started = match op {
        VmOp::Test => {
            let pair = fabric_refs::pair(&ctx.store, dr.pair_id.unwrap_or_default()).await?;
            // The pair's test network is on the recovery stamp: a drill the other way runs
            // without a network.
            let network = pair
                .test_network_id
                .filter(|_| direction == Direction::PrimaryToRecovery)
                .map(|n| n.to_string());
            engine
                .test_failover(&item, direction, network.as_deref())
                .await?
        }
        VmOp::TestCleanup => {
            engine
                .test_failover_cleanup(&item, "Drill cleaned up by wapdr")
                .await?
        }
        VmOp::Planned => engine.planned_failover(&item, direction).await?,
        VmOp::Unplanned => engine.unplanned_failover(&item, direction, false).await?,
        VmOp::ApplyPoint(choice) => {
            let points = engine.recovery_points(&item).await?;
            let times: Vec<_> = points.iter().map(|p| (p.time, p.app_consistent)).collect();
            let Some(index) = choice.pick(&times) else {
                return Err(Stop::Final(format!(
                    "VM '{name}' has no recovery point matching '{}'.",
                    choice.to_text()
                )));
            };
            engine
                .apply_recovery_point(&item, &points[index].id)
                .await?
        }
        VmOp::Commit => engine.commit(&item).await?,
        VmOp::Reprotect => engine.reprotect(&item, direction).await?,
        VmOp::Cancel => engine.cancel_failover(&item).await?,
    };
    let ended = engine.wait(&started, OPERATION_WAIT).await?;
    match &ended.state {
        OperationState::Succeeded => Ok(StepOutcome::Done(
            output(ctx, vm_id, name, group, op, Some(&ended), None).await?,
        )),
        OperationState::InProgress => Ok(check_again(
            format!("{} of VM '{name}' is running", op.as_str()),
            LOOK_AGAIN,
        )),
        OperationState::Failed { message } => Err(Stop::Final(format!(
            "{} of VM '{name}' failed: {message}",
            op.as_str()
        ))),
        OperationState::Cancelled => Err(Stop::Final(format!(
            "{} of VM '{name}' was cancelled in the replication engine",
            op.as_str()
        ))),
    }
}

/// A VM step's output: what was done, when it was seen done (database clock) and the engine's
/// tasks with their times when this attempt waited for the operation.
async fn output(
    ctx: &StepContext,
    vm_id: Uuid,
    name: &str,
    group: &str,
    op: VmOp,
    ended: Option<&OperationStatus>,
    status: Option<&ProtectionStatus>,
) -> Result<Value, Stop> {
    let done_at = ctx.store.database_now().await?;
    let rfc = crate::clock::rfc3339;
    let tasks: Vec<Value> = ended
        .map(|s| {
            s.tasks
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "state": format!("{:?}", t.state),
                        "started": t.started.map(rfc),
                        "ended": t.ended.map(rfc),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "vmId": vm_id.to_string(),
        "name": name,
        "operation": op.as_str(),
        "group": group,
        "doneAt": rfc(done_at),
        "replicaVmId": status.and_then(|s| s.replica_vm_id.clone()),
        "tasks": tasks,
    }))
}
