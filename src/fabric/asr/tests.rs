//! The ASR engine's readers against the recorded ASR examples, and its id helpers.

use super::*;

#[test]
fn job_ids_are_found_in_every_status_url_shape() {
    let base = "https://arm/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v";
    assert_eq!(
        job_id(&format!(
            "{base}/replicationOperationStatus/j1?api-version=x"
        ))
        .as_deref(),
        Some("j1")
    );
    assert_eq!(
        job_id(&format!(
            "{base}/replicationJobs/j2/operationresults/j2?api-version=x"
        ))
        .as_deref(),
        Some("j2")
    );
    assert_eq!(job_id(COMPLETED), None);
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/asr");

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn body(fixture: &Value) -> Vec<u8> {
    serde_json::to_vec(&fixture["responses"]["200"]["body"]).unwrap()
}

#[test]
fn every_recorded_response_body_parses() {
    let mut files = 0;
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        files += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let recorded = fixture(&name);
        for (code, response) in recorded["responses"].as_object().unwrap() {
            let Some(body) = response.get("body") else {
                continue;
            };
            let bytes = serde_json::to_vec(body).unwrap();
            let parsed = if name.starts_with("ReplicationJobs") {
                read_job(&bytes).map(drop)
            } else if name.starts_with("ReplicationRecoveryPlans") {
                tolerant::from_slice::<Resource<model::RecoveryPlanProperties>>(&bytes)
                    .map(drop)
                    .map_err(|e| FabricError::protocol(SERVICE, &name, e))
            } else if name.ends_with("_List.json") {
                tolerant::from_slice::<List<ProtectedItemProperties>>(&bytes)
                    .map(drop)
                    .map_err(|e| FabricError::protocol(SERVICE, &name, e))
            } else {
                read_protection_status(&bytes).map(drop)
            };
            assert!(parsed.is_ok(), "{name} {code}: {parsed:?}");
        }
    }
    assert!(files >= 5, "found only {files} fixtures");
}

#[test]
fn the_recorded_planned_failover_waits_for_commit_on_the_recovery_side() {
    let s = read_protection_status(&body(&fixture(
        "ReplicationProtectedItems_PlannedFailover.json",
    )))
    .unwrap();
    assert_eq!(
        s.phase,
        crate::fabric::replication::Phase::FailedOver { planned: true }
    );
    assert_eq!(
        s.active_location,
        crate::fabric::replication::Location::Recovery
    );
    assert!(s.allows(&crate::fabric::replication::Operation::Commit));
    assert!(s.allows(&crate::fabric::replication::Operation::ChangeRecoveryPoint));
}

#[test]
fn the_recorded_test_failover_waits_for_cleanup() {
    let s = read_protection_status(&body(&fixture(
        "ReplicationProtectedItems_TestFailover.json",
    )))
    .unwrap();
    assert_eq!(
        s.phase,
        crate::fabric::replication::Phase::TestFailoverRunning
    );
    assert_eq!(
        s.allowed,
        [crate::fabric::replication::Operation::TestFailoverCleanup]
    );
    assert_eq!(s.operation_in_progress.as_deref(), Some("TestFailover"));
}

#[test]
fn the_recorded_protected_items_are_protected_on_the_primary() {
    let list: List<ProtectedItemProperties> =
        tolerant::from_slice(&body(&fixture("ReplicationProtectedItems_List.json"))).unwrap();
    assert!(!list.value.is_empty());
    for item in list.value {
        let s = status::protection_status(&item.properties);
        assert_eq!(s.phase, crate::fabric::replication::Phase::Protected);
        assert_eq!(s.operation_in_progress, None);
    }
}

#[test]
fn the_recorded_job_maps_to_its_tasks_with_states() {
    let s = read_job(&body(&fixture("ReplicationJobs_Get.json"))).unwrap();
    assert_eq!(s.state, OperationState::Succeeded);
    assert_eq!(s.tasks.len(), 1);
    assert_eq!(s.tasks[0].name, "DeleteRecoveryPlanTask");
    assert_eq!(s.tasks[0].state, OperationState::Succeeded);
    assert!(s.tasks[0].started.is_some() && s.tasks[0].ended.is_some());
    assert_eq!(s.progress, Some(100));
}

#[test]
fn the_recorded_recovery_plan_lists_the_service_groups_first() {
    let plan: Resource<model::RecoveryPlanProperties> =
        tolerant::from_slice(&body(&fixture("ReplicationRecoveryPlans_Create.json"))).unwrap();
    let info = plans::plan_info(plan);
    let kinds: Vec<_> = info.groups.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["Shutdown", "Failover", "Boot"]);
    assert_eq!(info.groups[2].1, ["f8491e4f-817a-40dd-a90c-af773978c75b"]);
}

#[test]
fn arm_ids_compare_without_regard_to_case() {
    assert!(same_resource(
        "/Subscriptions/S/resourceGroups/G/providers/Microsoft.RecoveryServices/vaults/V/replicationPolicies/p",
        "/subscriptions/s/resourcegroups/g/providers/microsoft.recoveryservices/vaults/v/replicationPolicies/P",
    ));
    assert!(same_resource(
        "/subscriptions/s/x/replicationPolicies/p",
        "p"
    ));
    assert!(!same_resource(
        "/subscriptions/s/x/replicationPolicies/p",
        "/subscriptions/s/y/replicationPolicies/q"
    ));
}
