//! The task sequence of each ASR job (the `taskId`, `name` and `friendlyName` ASR shows for
//! every step of an operation) and the task list's wire form, with task states derived from the
//! job's progress.
//!
//! Descriptive only: nothing here changes a job or the world.

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::jobs::{Job, JobState, Op};

type Task = (&'static str, &'static str, &'static str);

/// The scenario name, friendly name and task sequence of an operation.
pub(super) fn describe(op: &Op) -> (&'static str, &'static str, Vec<Task>) {
    match op {
        Op::Enable => (
            "EnableDr",
            "Enable protection",
            vec![
                (
                    "EnableProtectionPrerequisitesCheck",
                    "EnableProtectionPrerequisitesCheck",
                    "Prerequisites check",
                ),
                (
                    "CreateProtectionTargetTask",
                    "CreateProtectionTarget",
                    "Identify the replication target",
                ),
                (
                    "EnableReplicationTask",
                    "EnableReplication",
                    "Enable replication",
                ),
                (
                    "StartInitialReplicationTask",
                    "StartInitialReplication",
                    "Start the initial replication",
                ),
                (
                    "FinalizeProtectionTask",
                    "FinalizeProtection",
                    "Finalize protection on the virtual machine",
                ),
            ],
        ),
        Op::PlannedFailover => (
            "PlannedFailover",
            "Planned failover",
            vec![
                (
                    "PlannedFailoverPreflightChecksTask",
                    "VmPfoPrerequisitesCheck",
                    "Prerequisites check for planned failover",
                ),
                (
                    "ShutdownVmOnPrimary",
                    "VmShutdownVmOnPrimary",
                    "Shut down the virtual machine",
                ),
                (
                    "PrepareForFailoverTask",
                    "VmPrepareForFailover",
                    "Prepare for planned failover",
                ),
                ("FailoverTask", "VmFailover", "Start failover"),
                (
                    "StartVmOnSecondary",
                    "VmFoStartVmOnSecondary",
                    "Start the replica virtual machine",
                ),
            ],
        ),
        Op::UnplannedFailover { .. } => (
            "UnplannedFailover",
            "Unplanned failover",
            vec![
                (
                    "UnplannedFailoverPreflightChecksTask",
                    "VmUfoPrerequisitesCheck",
                    "Prerequisites check for failover",
                ),
                (
                    "ShutdownVmOnPrimary",
                    "VmShutdownVmOnPrimary",
                    "Shut down the virtual machine (if the source is reachable)",
                ),
                ("FailoverTask", "VmFailover", "Start failover"),
                (
                    "StartVmOnSecondary",
                    "VmFoStartVmOnSecondary",
                    "Start the replica virtual machine",
                ),
            ],
        ),
        Op::TestFailover { .. } => (
            "TestFailover",
            "Test failover",
            vec![
                (
                    "TestFailoverPrerequisitesCheck",
                    "VmTfoPrerequisitesCheck",
                    "Prerequisites check for test failover",
                ),
                (
                    "TestFailoverNetworkTask",
                    "VmTfoNetworkCreation",
                    "Prepare the test network",
                ),
                (
                    "TestFailoverInitiateTask",
                    "VmTfoInitiateFailover",
                    "Create the test virtual machine",
                ),
                (
                    "TestFailoverAttachNetworkTask",
                    "VmTfoAttachNetwork",
                    "Attach the test network",
                ),
                (
                    "TestFailoverBootTask",
                    "VmTfoBootTestVm",
                    "Start the test virtual machine",
                ),
            ],
        ),
        Op::TestFailoverCleanup => (
            "TestFailoverCleanup",
            "Cleanup test failover",
            vec![
                (
                    "TestFailoverDeleteVmTask",
                    "VmTfoDeleteTestVm",
                    "Delete the test virtual machine",
                ),
                (
                    "TestFailoverFinalizeTask",
                    "VmTfoFinalizeStatus",
                    "Finalize the test failover",
                ),
            ],
        ),
        Op::Commit => (
            "CommitFailover",
            "Commit",
            vec![(
                "CommitFailoverTask",
                "VmCommitFailover",
                "Commit the failover",
            )],
        ),
        Op::CancelFailover => (
            "CancelFailover",
            "Cancel failover",
            vec![
                (
                    "CancelFailoverPrerequisitesCheck",
                    "VmCfoPrerequisitesCheck",
                    "Prerequisites check for cancelling the failover",
                ),
                (
                    "ShutdownFailedOverVm",
                    "VmCfoShutdownFailedOverVm",
                    "Shut down the failed-over virtual machine",
                ),
                (
                    "StartVmOnSource",
                    "VmCfoStartVmOnSource",
                    "Start the virtual machine on the side it failed over from",
                ),
                (
                    "ResumeReplicationTask",
                    "VmCfoResumeReplication",
                    "Resume replication",
                ),
            ],
        ),
        Op::Reprotect => (
            "ReverseReplication",
            "Reverse replicate",
            vec![
                (
                    "ReverseReplicationPrerequisitesCheck",
                    "VmRrPrerequisitesCheck",
                    "Prerequisites check",
                ),
                (
                    "ReverseReplicationTask",
                    "VmReverseReplication",
                    "Start reverse replication",
                ),
            ],
        ),
        Op::ChangePit { .. } => (
            "ChangePit",
            "Change recovery point",
            vec![(
                "ApplyRecoveryPointTask",
                "VmApplyRecoveryPoint",
                "Apply the recovery point",
            )],
        ),
        Op::Disable => (
            "DisableDr",
            "Disable protection",
            vec![(
                "DisableProtectionTask",
                "VmDisableProtection",
                "Disable protection on the virtual machine",
            )],
        ),
        Op::Plan | Op::Configuration => (
            "RecoveryPlanOperation",
            "Recovery plan operation",
            Vec::new(),
        ),
    }
}

/// The job's task list with states derived from progress at `now`.
pub fn tasks_json(
    job: &Job,
    now: OffsetDateTime,
    format: &dyn Fn(OffsetDateTime) -> String,
) -> Vec<Value> {
    let n = job.tasks.len().max(1) as f64;
    let progress = match (job.state, job.started_at, job.slot_end) {
        (JobState::Succeeded, ..) => 1.0,
        (JobState::InProgress, Some(start), Some(end)) if job.tail_end.is_none() && end > start => {
            ((now - start) / (end - start)).clamp(0.0, 1.0)
        }
        // Enable: the slot phase is done, the last task (finalize) waits for initial replication.
        (JobState::InProgress, _, _) if job.tail_end.is_some() => (n - 1.0) / n,
        _ => 0.0,
    };
    job.tasks
        .iter()
        .enumerate()
        .map(|(i, (task_id, name, friendly))| {
            let (lo, hi) = (i as f64 / n, (i + 1) as f64 / n);
            let state = if job.state == JobState::Failed {
                if i == 0 { "Failed" } else { "Skipped" }
            } else if progress >= hi {
                "Succeeded"
            } else if progress >= lo && job.state == JobState::InProgress {
                "InProgress"
            } else {
                "NotStarted"
            };
            let start = job.started_at.filter(|_| state != "NotStarted" && state != "Skipped");
            let errors: Vec<Value> = if job.state == JobState::Failed && i == 0 {
                job.errors.iter().map(|(c, m)| json!({"serviceErrorDetails": {"code": c, "message": m}})).collect()
            } else {
                Vec::new()
            };
            json!({
                "taskId": task_id, "name": name, "friendlyName": friendly, "state": state,
                "stateDescription": state, "taskType": "TaskDetails", "allowedActions": [],
                "startTime": start.map_or("0001-01-01T00:00:00".to_owned(), format),
                "endTime": if state == "Succeeded" || state == "Failed" { job.ended_at.or(job.slot_end).map_or("0001-01-01T00:00:00".to_owned(), format) } else { "0001-01-01T00:00:00".to_owned() },
                "errors": errors,
            })
        })
        .collect()
}
