//! ASR's words into wapdr's: an RPI's `protectionState`/`activeLocation`/`testFailoverState`/
//! `allowedOperations`/health into a [`ProtectionStatus`] (the contract's state table), and
//! jobs and operation status answers into an [`OperationStatus`]. Nothing here does I/O.

use super::model::{AsyncOperation, JobProperties, JobTask, ProtectedItemProperties};
use crate::fabric::replication::{
    Health, Location, Operation, OperationState, OperationStatus, OperationTask, Phase,
    ProtectionStatus,
};

/// The wapdr state of an RPI.
pub fn protection_status(item: &ProtectedItemProperties) -> ProtectionStatus {
    let state = item.protection_state.as_deref().unwrap_or_default();
    let is = |name: &str| state.eq_ignore_ascii_case(name);
    let test_waiting = item
        .test_failover_state
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("WaitingForCompletion"));
    let phase = if is("PlannedFailoverCommitRequired") {
        Phase::FailedOver { planned: true }
    } else if starts_with(state, "UnplannedFailoverCommitPending") {
        Phase::FailedOver { planned: false }
    } else if is("FailoverCommitted")
        || is("PlannedFailoverStatesBegin")
        || is("UnplannedFailoverCommitted")
    {
        Phase::Committed
    } else if test_waiting {
        Phase::TestFailoverRunning
    } else if is("Protected") {
        Phase::Protected
    } else {
        // `UnprotectedStatesBegin` and any state ASR has not published: not yet usable.
        Phase::Enabling
    };
    let active_location = match item.active_location.as_deref() {
        Some(l) if l.eq_ignore_ascii_case("Recovery") => Location::Recovery,
        _ => Location::Primary,
    };
    let health = match item.replication_health.as_deref() {
        None => Health::Normal,
        Some(h) if h.eq_ignore_ascii_case("Normal") || h.eq_ignore_ascii_case("None") => {
            Health::Normal
        }
        Some(h) if h.eq_ignore_ascii_case("Critical") => Health::Critical,
        Some(_) => Health::Warning,
    };
    let health_errors = item
        .replication_health_errors
        .iter()
        .flatten()
        .map(|e| match (&e.error_code, &e.error_message) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (None, Some(message)) => message.clone(),
            (Some(code), None) => code.clone(),
            (None, None) => "unspecified health error".to_owned(),
        })
        .collect();
    let details = item.provider_specific_details.as_ref();
    let operation_in_progress = item
        .current_scenario
        .as_ref()
        .and_then(|s| s.scenario_name.clone())
        .filter(|name| !name.is_empty() && !name.eq_ignore_ascii_case("None"));
    ProtectionStatus {
        phase,
        active_location,
        allowed: item
            .allowed_operations
            .iter()
            .map(|o| operation(o))
            .collect(),
        health,
        health_errors,
        last_replicated: details.and_then(|d| d.last_replicated_time),
        initial_replication_percent: details
            .and_then(|d| d.initial_replication_details.as_ref())
            .and_then(|i| i.initial_replication_progress_percentage)
            .map(|p| p.clamp(0, 100) as u8),
        replica_vm_id: details.and_then(|d| d.recovery_vm_id.clone()),
        operation_in_progress,
    }
}

/// wapdr's name for an ASR allowed operation.
pub fn operation(name: &str) -> Operation {
    const NAMES: [(&str, Operation); 10] = [
        ("TestFailover", Operation::TestFailover),
        ("TestFailoverCleanup", Operation::TestFailoverCleanup),
        ("PlannedFailover", Operation::PlannedFailover),
        ("UnplannedFailover", Operation::UnplannedFailover),
        ("Commit", Operation::Commit),
        ("ChangePit", Operation::ChangeRecoveryPoint),
        ("ReverseReplicate", Operation::Reprotect),
        ("DisableProtection", Operation::DisableProtection),
        ("CompleteMigration", Operation::CompleteMigration),
        ("CancelFailover", Operation::CancelFailover),
    ];
    NAMES
        .iter()
        .find(|(asr, _)| asr.eq_ignore_ascii_case(name.trim()))
        .map(|(_, op)| op.clone())
        .unwrap_or_else(|| Operation::Other(name.to_owned()))
}

/// The state of an ASR job or task state name.
fn state(name: Option<&str>, message: impl FnOnce() -> String) -> OperationState {
    match name.unwrap_or_default() {
        s if s.eq_ignore_ascii_case("Succeeded") => OperationState::Succeeded,
        // A test failover's job suspends once the test VM is up, waiting for the cleanup
        // that wapdr sends as its own operation: the test failover itself is done.
        s if s.eq_ignore_ascii_case("Suspended") => OperationState::Succeeded,
        s if s.eq_ignore_ascii_case("Failed") => OperationState::Failed { message: message() },
        s if s.eq_ignore_ascii_case("Cancelled")
            || s.eq_ignore_ascii_case("Canceled")
            || s.eq_ignore_ascii_case("Skipped") =>
        {
            OperationState::Cancelled
        }
        _ => OperationState::InProgress,
    }
}

/// The status of an operation from its job.
pub fn job_status(job: &JobProperties) -> OperationStatus {
    let tasks: Vec<OperationTask> = job.tasks.iter().map(task).collect();
    let done = tasks.iter().filter(|t| t.state.is_terminal()).count();
    let progress = (!tasks.is_empty()).then(|| (done * 100 / tasks.len()) as u8);
    OperationStatus {
        state: state(job.state.as_deref(), || job_errors(&job.errors, job)),
        progress,
        retry_after: None,
        tasks,
    }
}

/// The status of an operation from an `Azure-AsyncOperation` answer.
pub fn async_status(answer: &AsyncOperation) -> OperationStatus {
    OperationStatus {
        state: state(answer.status.as_deref(), || {
            answer
                .error
                .as_ref()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.code.as_deref().unwrap_or("error"),
                        e.message.as_deref().unwrap_or("the operation failed")
                    )
                })
                .unwrap_or_else(|| "the operation failed".to_owned())
        }),
        progress: None,
        retry_after: None,
        tasks: Vec::new(),
    }
}

fn task(task: &JobTask) -> OperationTask {
    let name = task
        .name
        .clone()
        .or_else(|| task.task_id.clone())
        .unwrap_or_default();
    OperationTask {
        state: state(task.state.as_deref(), || {
            let messages: Vec<_> = task
                .errors
                .iter()
                .filter_map(|e| e.service_error_details.as_ref()?.message.clone())
                .collect();
            if messages.is_empty() {
                format!("task {name} failed")
            } else {
                messages.join("; ")
            }
        }),
        started: task.start_time,
        ended: task.end_time,
        name,
    }
}

fn job_errors(errors: &[super::model::JobError], job: &JobProperties) -> String {
    let messages: Vec<_> = errors
        .iter()
        .filter_map(|e| {
            let details = e.service_error_details.as_ref()?;
            Some(format!(
                "{}: {}",
                details.code.as_deref().unwrap_or("error"),
                details.message.as_deref().unwrap_or_default()
            ))
        })
        .collect();
    if messages.is_empty() {
        format!(
            "{} failed",
            job.friendly_name.as_deref().unwrap_or("the operation")
        )
    } else {
        messages.join("; ")
    }
}

fn starts_with(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabric::tolerant;

    fn item(state: &str, location: &str, tfo: &str, allowed: &[&str]) -> ProtectedItemProperties {
        tolerant::from_value(serde_json::json!({
            "protectionState": state, "activeLocation": location, "testFailoverState": tfo,
            "allowedOperations": allowed, "replicationHealth": "Normal",
        }))
        .unwrap()
    }

    #[test]
    fn enabling_allows_only_disabling() {
        let s = protection_status(&item(
            "UnprotectedStatesBegin",
            "Primary",
            "None",
            &["DisableProtection"],
        ));
        assert_eq!(s.phase, Phase::Enabling);
        assert_eq!(s.active_location, Location::Primary);
        assert_eq!(s.allowed, [Operation::DisableProtection]);
    }

    #[test]
    fn protected_allows_the_failover_family() {
        let s = protection_status(&item(
            "Protected",
            "Primary",
            "None",
            &[
                "PlannedFailover",
                "UnplannedFailover",
                "TestFailover",
                "DisableProtection",
            ],
        ));
        assert_eq!(s.phase, Phase::Protected);
        assert!(s.allows(&Operation::PlannedFailover) && s.allows(&Operation::TestFailover));
        assert!(!s.allows(&Operation::Commit));
    }

    #[test]
    fn protected_after_reverse_replication_is_active_on_recovery() {
        let s = protection_status(&item("Protected", "Recovery", "None", &["PlannedFailover"]));
        assert_eq!(
            (s.phase, s.active_location),
            (Phase::Protected, Location::Recovery)
        );
    }

    #[test]
    fn a_waiting_test_failover_allows_only_cleanup() {
        let s = protection_status(&item(
            "Protected",
            "Primary",
            "WaitingForCompletion",
            &["TestFailoverCleanup"],
        ));
        assert_eq!(s.phase, Phase::TestFailoverRunning);
        assert_eq!(s.allowed, [Operation::TestFailoverCleanup]);
    }

    #[test]
    fn a_planned_failover_waits_for_commit_on_the_other_side() {
        let s = protection_status(&item(
            "PlannedFailoverCommitRequired",
            "Recovery",
            "None",
            &[
                "Commit",
                "ChangePit",
                "DisableProtection",
                "CompleteMigration",
                "ReverseReplicate",
            ],
        ));
        assert_eq!(s.phase, Phase::FailedOver { planned: true });
        assert_eq!(s.active_location, Location::Recovery);
        assert!(s.allows(&Operation::ChangeRecoveryPoint) && s.allows(&Operation::Reprotect));
        assert!(s.allows(&Operation::CompleteMigration));
    }

    #[test]
    fn an_unplanned_failover_waits_for_commit_on_the_other_side() {
        let s = protection_status(&item(
            "UnplannedFailoverCommitPendingStatesBegin",
            "Recovery",
            "None",
            &[
                "Commit",
                "ChangePit",
                "DisableProtection",
                "CompleteMigration",
                "ReverseReplicate",
            ],
        ));
        assert_eq!(s.phase, Phase::FailedOver { planned: false });
        assert!(s.allows(&Operation::Commit));
    }

    #[test]
    fn a_committed_failover_allows_reprotect_and_disable() {
        let s = protection_status(&item(
            "FailoverCommitted",
            "Recovery",
            "None",
            &["ReverseReplicate", "DisableProtection"],
        ));
        assert_eq!(s.phase, Phase::Committed);
        assert_eq!(
            s.allowed,
            [Operation::Reprotect, Operation::DisableProtection]
        );
    }

    #[test]
    fn unknown_operations_are_kept_by_name() {
        assert_eq!(
            operation("repairReplication"),
            Operation::Other("repairReplication".into())
        );
        assert_eq!(operation("changepit"), Operation::ChangeRecoveryPoint);
        assert_eq!(operation("CancelFailover"), Operation::CancelFailover);
    }

    #[test]
    fn health_progress_replica_and_running_operation_are_reported() {
        let item: ProtectedItemProperties = tolerant::from_value(serde_json::json!({
            "protectionState": "UnprotectedStatesBegin", "replicationHealth": "Warning",
            "replicationHealthErrors": [{"errorCode": "67518", "errorMessage": "cycles missed"}],
            "currentScenario": {"scenarioName": "EnableDr", "jobId": "j"},
            "providerSpecificDetails": {"instanceType": "HyperVReplica2012R2",
                "lastReplicatedTime": "2026-11-22T10:00:00Z", "recoveryVmId": "r1",
                "initialReplicationDetails": {"initialReplicationProgressPercentage": "40"}}
        }))
        .unwrap();
        let s = protection_status(&item);
        assert_eq!(s.health, Health::Warning);
        assert_eq!(s.health_errors, ["67518: cycles missed"]);
        assert_eq!(s.initial_replication_percent, Some(40));
        assert_eq!(s.replica_vm_id.as_deref(), Some("r1"));
        assert_eq!(s.operation_in_progress.as_deref(), Some("EnableDr"));
        assert!(s.last_replicated.is_some());
    }

    #[test]
    fn a_failed_job_carries_its_service_error() {
        let job: JobProperties = tolerant::from_value(serde_json::json!({
            "state": "Failed", "tasks": [{"name": "A", "state": "Succeeded"}, {"name": "B", "state": "Skipped"}],
            "errors": [{"serviceErrorDetails": {"code": "532", "message": "in progress"}}]
        }))
        .unwrap();
        let status = job_status(&job);
        assert_eq!(
            status.state,
            OperationState::Failed {
                message: "532: in progress".into()
            }
        );
        assert_eq!(status.progress, Some(100));
    }
}
