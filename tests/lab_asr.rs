//! The lab's ASR vault and Azure AD token endpoint (`schemas/fabric-http.md` §3–4), over real
//! sockets: tokens, pairing and enabling protection, the state table, failovers, plans, knobs.

mod lab_support;

use std::time::Duration;

use lab_support::*;
use reqwest::Response;
use serde_json::{Value, json};
use wapdr::lab::{LabConfig, LabHandle, WorldKind};

const API: &str = "api-version=2025-08-01";

async fn token(lab: &LabHandle, secret: &str) -> Response {
    let a = lab.asr();
    client()
        .post(format!("{}/{}/oauth2/v2.0/token", lab.token(), a.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &a.client_id.to_string()),
            ("client_secret", secret),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
}

struct Arm<'a> {
    lab: &'a LabHandle,
    token: String,
}

impl<'a> Arm<'a> {
    async fn new(lab: &'a LabHandle) -> Arm<'a> {
        let body: Value = token(lab, &lab.asr().client_secret)
            .await
            .json()
            .await
            .unwrap();
        Arm {
            lab,
            token: body["access_token"].as_str().unwrap().to_owned(),
        }
    }

    fn vault(&self) -> String {
        let a = self.lab.asr();
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
            a.arm, a.subscription_id, a.resource_group, a.vault
        )
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut request = client()
            .request(
                method.parse().unwrap(),
                format!("{}/{path}{sep}{API}", self.vault()),
            )
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.call("GET", path, None).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// Polls the Azure-AsyncOperation URL (advancing lab time) until the operation ends.
    async fn wait(&self, accepted: Response) -> Value {
        assert_eq!(accepted.status(), 202, "an LRO");
        let status_url = accepted.headers()["azure-asyncoperation"]
            .to_str()
            .unwrap()
            .to_owned();
        for _ in 0..200 {
            let status: Value = client()
                .get(&status_url)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if status["status"] != "InProgress" {
                return status;
            }
            advance(self.lab, 30.0).await;
        }
        panic!("operation did not finish");
    }
}

/// Pairs A/Gold with B/Gold under a 300 s policy and returns (fabric A, container A Gold).
async fn pair_gold(arm: &Arm<'_>) -> (String, String) {
    let policy = json!({"properties": {"providerSpecificInput": {"instanceType": "HyperVReplica2012R2", "replicationFrequencyInSeconds": 300, "recoveryPoints": 2, "applicationConsistentSnapshotFrequencyInHours": 1, "compression": "Enable", "initialReplicationMethod": "OverNetwork"}}});
    let status = arm
        .wait(
            arm.call("PUT", "replicationPolicies/gold", Some(policy.clone()))
                .await,
        )
        .await;
    assert_eq!(status["status"], "Succeeded");
    assert_eq!(
        arm.call("PUT", "replicationPolicies/gold", Some(policy))
            .await
            .status(),
        200,
        "idempotent re-submission"
    );
    let fabrics = arm.get("replicationFabrics").await;
    let fabric_of = |stamp: usize| {
        let id = arm.lab.stamps()[stamp].stamp_id.to_string();
        fabrics["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["properties"]["internalIdentifier"] == id.as_str())
            .unwrap()
            .clone()
    };
    let (fa, fb) = (fabric_of(0), fabric_of(1));
    assert_eq!(fa["properties"]["customDetails"]["instanceType"], "VMM");
    let gold = |f: &Value| {
        let f = f.clone();
        async move {
            let cs = arm
                .get(&format!(
                    "replicationFabrics/{}/replicationProtectionContainers",
                    f["name"].as_str().unwrap()
                ))
                .await;
            cs["value"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["properties"]["friendlyName"] == "Gold")
                .unwrap()
                .clone()
        }
    };
    let (ga, gb) = (gold(&fa).await, gold(&fb).await);
    let mapping = json!({"properties": {"targetProtectionContainerId": gb["id"], "policyId": format!("/Subscriptions/x/replicationPolicies/gold"), "providerSpecificInput": {}}});
    let path = format!(
        "replicationFabrics/{}/replicationProtectionContainers/{}/replicationProtectionContainerMappings/gold-pair",
        fa["name"].as_str().unwrap(),
        ga["name"].as_str().unwrap()
    );
    assert_eq!(
        arm.wait(arm.call("PUT", &path, Some(mapping)).await).await["status"],
        "Succeeded"
    );
    (
        fa["name"].as_str().unwrap().to_owned(),
        ga["name"].as_str().unwrap().to_owned(),
    )
}

/// Enables protection of `vm` and waits until it is `Protected`; returns the item path.
async fn protect(arm: &Arm<'_>, fabric: &str, container: &str, vm: &str) -> String {
    let path = format!(
        "replicationFabrics/{fabric}/replicationProtectionContainers/{container}/replicationProtectedItems/{vm}"
    );
    let body = json!({"properties": {"policyId": "/Subscriptions/x/replicationPolicies/gold", "protectableItemId": format!("/x/replicationProtectableItems/{vm}"), "providerSpecificDetails": {"instanceType": "HyperVReplica2012R2"}}});
    let accepted = arm.call("PUT", &path, Some(body)).await;
    assert_eq!(accepted.status(), 202);
    assert!(
        accepted.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/operationresults/")
    );
    assert!(accepted.headers().get("retry-after").is_some());
    assert_eq!(arm.wait(accepted).await["status"], "Succeeded");
    path
}

async fn gold_vms(lab: &LabHandle, arm: &Arm<'_>, fabric: &str, container: &str) -> Vec<Value> {
    let _ = lab;
    let items = arm.get(&format!("replicationFabrics/{fabric}/replicationProtectionContainers/{container}/replicationProtectableItems")).await;
    items["value"].as_array().unwrap().clone()
}

async fn small_lab() -> LabHandle {
    let mut config = LabConfig::default();
    config.knobs.acceleration = 6000.0;
    // 1 GiB/s: a 200 GiB VM replicates in under 4 lab minutes.
    config.knobs.initial_replication_bytes_per_second = 1024.0 * 1024.0 * 1024.0;
    start_with(config).await
}

async fn item(arm: &Arm<'_>, path: &str) -> Value {
    arm.get(path).await["properties"].clone()
}

async fn post(arm: &Arm<'_>, path: &str, action: &str, body: Value) -> Response {
    arm.call("POST", &format!("{path}/{action}"), Some(body))
        .await
}

/// The job id of an accepted long-running operation (from its `Location`).
fn job_of(accepted: &Response) -> String {
    accepted.headers()["location"]
        .to_str()
        .unwrap()
        .split("/operationresults/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

fn arm_time(text: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        text.as_str().expect("a time"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

#[tokio::test]
async fn the_token_endpoint_refuses_a_bad_secret_and_arm_refuses_missing_or_expired_tokens() {
    let mut config = LabConfig::default();
    config.asr.token_lifetime_seconds = 600;
    let lab = start_with(config).await;
    let bad = token(&lab, "wrong").await;
    assert_eq!(bad.status(), 401);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let good: Value = token(&lab, &lab.asr().client_secret)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(good["token_type"], "Bearer");
    assert_eq!(good["expires_in"], 600);
    let arm = Arm::new(&lab).await;
    assert_eq!(
        arm.call("GET", "replicationFabrics", None).await.status(),
        200
    );
    let anonymous = client()
        .get(format!("{}/replicationFabrics?{API}", arm.vault()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let no_version = client()
        .get(format!("{}/replicationFabrics", arm.vault()))
        .bearer_auth(&arm.token)
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 400);
    advance(&lab, 601.0).await;
    let expired = arm.call("GET", "replicationFabrics", None).await;
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap()["error"]["code"],
        "ExpiredAuthenticationToken"
    );
}

#[tokio::test]
async fn enabling_protection_creates_the_replica_on_stamp_b_and_ends_protected_after_initial_replication()
 {
    let lab = small_lab().await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let vms = gold_vms(&lab, &arm, &fabric, &container).await;
    assert!(vms.len() >= 5);
    let vm = vms[0]["name"].as_str().unwrap().to_owned();
    let path = format!(
        "replicationFabrics/{fabric}/replicationProtectionContainers/{container}/replicationProtectedItems/{vm}"
    );
    let body = json!({"properties": {"policyId": "/x/replicationPolicies/gold", "protectableItemId": format!("/x/{vm}"), "providerSpecificDetails": {"instanceType": "HyperVReplica2012R2"}}});
    let accepted = arm.call("PUT", &path, Some(body)).await;
    let location = accepted.headers()["location"].to_str().unwrap().to_owned();
    // While enabling, only DisableProtection is allowed.
    advance(&lab, 61.0).await;
    let enabling = item(&arm, &path).await;
    assert_eq!(enabling["protectionState"], "UnprotectedStatesBegin");
    assert_eq!(enabling["allowedOperations"], json!(["DisableProtection"]));
    let refused = post(
        &arm,
        &path,
        "plannedFailover",
        json!({"properties": {"failoverDirection": "PrimaryToRecovery"}}),
    )
    .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "InvalidOperation"
    );
    assert_eq!(arm.wait(accepted).await["status"], "Succeeded");
    let done = client()
        .get(&location)
        .bearer_auth(&arm.token)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let protected = item(&arm, &path).await;
    assert_eq!(protected["protectionState"], "Protected");
    assert_eq!(protected["replicationHealth"], "Normal");
    let replica = protected["providerSpecificDetails"]["recoveryVmId"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_b = spf_json(&lab, 1, &vm_key(&lab, 1, &replica)).await;
    assert_eq!(on_b["IsRecoveryVM"], true);
    assert_eq!(on_b["StatusString"], "Stopped");
    let primary = spf_json(&lab, 0, &vm_key(&lab, 0, &vm)).await;
    assert_eq!(on_b["VMId"], primary["VMId"]);
    let protectable = arm.get(&format!("replicationFabrics/{fabric}/replicationProtectionContainers/{container}/replicationProtectableItems/{vm}")).await;
    assert_eq!(protectable["properties"]["protectionStatus"], "Protected");
    let job = arm
        .get(&format!(
            "replicationJobs/{}",
            location
                .split("/operationresults/")
                .nth(1)
                .unwrap()
                .split('?')
                .next()
                .unwrap()
        ))
        .await;
    assert_eq!(job["properties"]["state"], "Succeeded");
    assert!(
        job["properties"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "Succeeded")
    );
}

#[tokio::test]
async fn the_state_table_allows_and_forbids_each_operation_and_a_second_operation_gets_532() {
    let lab = small_lab().await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let vm = gold_vms(&lab, &arm, &fabric, &container).await[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = protect(&arm, &fabric, &container, &vm).await;
    let forbidden = |state: Value, ops: &[&str]| {
        let allowed: Vec<String> = state["allowedOperations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        for op in ops {
            assert!(
                !allowed.contains(&op.to_string()),
                "{op} must not be allowed in {state}"
            );
        }
    };
    let p2r = json!({"properties": {"failoverDirection": "PrimaryToRecovery"}});
    // Protected: forbidden commit / cleanup / reprotect.
    for (action, body) in [
        ("failoverCommit", json!({})),
        (
            "testFailoverCleanup",
            json!({"properties": {"comments": "x"}}),
        ),
        ("reProtect", p2r.clone()),
    ] {
        let r = post(&arm, &path, action, body).await;
        assert_eq!(r.status(), 400, "{action} on Protected");
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "InvalidOperation"
        );
    }
    // Test failover → only cleanup.
    let test_net = spf_json(&lab, 1, "VMNetworks?$filter=Name eq 'B-test-failover'").await["value"]
        [0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let tfo = post(&arm, &path, "testFailover", json!({"properties": {"failoverDirection": "PrimaryToRecovery", "networkType": "VmNetworkAsInput", "networkId": test_net}})).await;
    assert_eq!(tfo.status(), 202);
    let busy = post(&arm, &path, "plannedFailover", p2r.clone()).await;
    assert_eq!(busy.status(), 409);
    assert_eq!(busy.json::<Value>().await.unwrap()["error"]["code"], "532");
    arm.wait(tfo).await;
    let testing = item(&arm, &path).await;
    assert_eq!(testing["allowedOperations"], json!(["TestFailoverCleanup"]));
    assert_eq!(testing["testFailoverState"], "WaitingForCompletion");
    forbidden(
        testing,
        &[
            "PlannedFailover",
            "UnplannedFailover",
            "TestFailover",
            "Commit",
        ],
    );
    assert_eq!(
        post(&arm, &path, "plannedFailover", p2r.clone())
            .await
            .status(),
        400
    );
    arm.wait(
        post(
            &arm,
            &path,
            "testFailoverCleanup",
            json!({"properties": {"comments": "ok"}}),
        )
        .await,
    )
    .await;
    // Planned failover → commit pending.
    arm.wait(post(&arm, &path, "plannedFailover", p2r.clone()).await)
        .await;
    let failed_over = item(&arm, &path).await;
    assert_eq!(
        failed_over["protectionState"],
        "PlannedFailoverCommitRequired"
    );
    assert_eq!(failed_over["activeLocation"], "Recovery");
    forbidden(
        failed_over.clone(),
        &[
            "PlannedFailover",
            "UnplannedFailover",
            "TestFailover",
            "TestFailoverCleanup",
        ],
    );
    assert_eq!(
        post(
            &arm,
            &path,
            "testFailover",
            json!({"properties": {"networkType": "NoNetworkAttachAsInput"}})
        )
        .await
        .status(),
        400
    );
    // Commit → committed: only reverse replicate / disable.
    arm.wait(post(&arm, &path, "failoverCommit", json!({})).await)
        .await;
    let committed = item(&arm, &path).await;
    assert_eq!(committed["protectionState"], "FailoverCommitted");
    assert_eq!(
        committed["allowedOperations"],
        json!(["ReverseReplicate", "DisableProtection"])
    );
    assert_eq!(
        post(&arm, &path, "failoverCommit", json!({}))
            .await
            .status(),
        400
    );
    // Reprotect → protected in reverse, failback direction required.
    arm.wait(
        post(
            &arm,
            &path,
            "reProtect",
            json!({"properties": {"failoverDirection": "RecoveryToPrimary"}}),
        )
        .await,
    )
    .await;
    let reversed = item(&arm, &path).await;
    assert_eq!(reversed["protectionState"], "Protected");
    assert_eq!(reversed["activeLocation"], "Recovery");
    assert_eq!(
        post(&arm, &path, "plannedFailover", p2r).await.status(),
        400,
        "wrong direction"
    );
    let back = post(
        &arm,
        &path,
        "plannedFailover",
        json!({"properties": {"failoverDirection": "RecoveryToPrimary"}}),
    )
    .await;
    arm.wait(back).await;
    assert_eq!(item(&arm, &path).await["activeLocation"], "Primary");
    // Unplanned from protected, then disable.
    arm.wait(post(&arm, &path, "failoverCommit", json!({})).await)
        .await;
    arm.wait(post(&arm, &path, "reProtect", json!({})).await)
        .await;
    arm.wait(post(&arm, &path, "unplannedFailover", json!({"properties": {"failoverDirection": "PrimaryToRecovery", "sourceSiteOperations": "Required"}})).await).await;
    assert_eq!(
        item(&arm, &path).await["protectionState"],
        "UnplannedFailoverCommitPendingStatesBegin"
    );
    arm.wait(
        post(
            &arm,
            &path,
            "remove",
            json!({"properties": {"disableProtectionReason": "NotSpecified"}}),
        )
        .await,
    )
    .await;
    assert_eq!(arm.call("GET", &path, None).await.status(), 404);
}

#[tokio::test]
async fn planned_failover_stops_the_primary_and_loses_nothing() {
    let lab = small_lab().await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let vm = gold_vms(&lab, &arm, &fabric, &container).await[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = protect(&arm, &fabric, &container, &vm).await;
    advance(&lab, 1000.0).await;
    arm.wait(
        post(
            &arm,
            &path,
            "plannedFailover",
            json!({"properties": {"failoverDirection": "PrimaryToRecovery"}}),
        )
        .await,
    )
    .await;
    let primary = spf_json(&lab, 0, &vm_key(&lab, 0, &vm)).await;
    assert_eq!(primary["StatusString"], "Stopped");
    let state = item(&arm, &path).await;
    let replica = spf_json(
        &lab,
        1,
        &vm_key(
            &lab,
            1,
            state["providerSpecificDetails"]["recoveryVmId"]
                .as_str()
                .unwrap(),
        ),
    )
    .await;
    assert_eq!(replica["StatusString"], "Running");
    let points = arm.get(&format!("{path}/recoveryPoints")).await;
    let latest = points["value"][0]["properties"]["recoveryPointTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let last_change = time::OffsetDateTime::parse(
        &format!("{}Z", primary["ModifiedTime"].as_str().unwrap()),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let latest =
        time::OffsetDateTime::parse(&latest, &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(
        latest, last_change,
        "the last point is the primary's last change"
    );
}

#[tokio::test]
async fn cancelling_a_planned_failover_runs_the_primary_again_stops_the_replica_and_protects_it_as_before()
 {
    let lab = small_lab().await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let vm = gold_vms(&lab, &arm, &fabric, &container).await[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = protect(&arm, &fabric, &container, &vm).await;
    advance(&lab, 1000.0).await;
    let failover = arm
        .wait(
            post(
                &arm,
                &path,
                "plannedFailover",
                json!({"properties": {"failoverDirection": "PrimaryToRecovery"}}),
            )
            .await,
        )
        .await;
    assert_eq!(failover["status"], "Succeeded");
    let failed_over = item(&arm, &path).await;
    assert!(
        failed_over["allowedOperations"]
            .as_array()
            .unwrap()
            .contains(&json!("CancelFailover")),
        "{failed_over}"
    );
    let replica = failed_over["providerSpecificDetails"]["recoveryVmId"]
        .as_str()
        .unwrap()
        .to_owned();

    // ASR's failoverCancel has no body.
    let accepted = arm
        .call("POST", &format!("{path}/failoverCancel"), None)
        .await;
    let job = job_of(&accepted);
    let cancelled = arm.wait(accepted).await;

    assert_eq!(cancelled["status"], "Succeeded", "{cancelled}");
    let primary = spf_json(&lab, 0, &vm_key(&lab, 0, &vm)).await;
    assert_eq!(primary["StatusString"], "Running", "the primary runs again");
    let replica = spf_json(&lab, 1, &vm_key(&lab, 1, &replica)).await;
    assert_eq!(
        replica["StatusString"], "Stopped",
        "the replica is shut down"
    );
    let state = item(&arm, &path).await;
    assert_eq!(state["protectionState"], "Protected");
    assert_eq!(state["activeLocation"], "Primary");
    assert_eq!(
        state["allowedOperations"],
        json!([
            "PlannedFailover",
            "UnplannedFailover",
            "TestFailover",
            "DisableProtection"
        ])
    );
    let job = arm.get(&format!("replicationJobs/{job}")).await["properties"].clone();
    assert_eq!(job["scenarioName"], "CancelFailover");
    let tasks: Vec<(&str, &str)> = job["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("VmCfoPrerequisitesCheck", "Succeeded"),
            ("VmCfoShutdownFailedOverVm", "Succeeded"),
            ("VmCfoStartVmOnSource", "Succeeded"),
            ("VmCfoResumeReplication", "Succeeded"),
        ]
    );
    // The failover's points are gone and replication runs on from the cancel.
    let ended = arm_time(&job["endTime"]);
    let points = arm.get(&format!("{path}/recoveryPoints")).await;
    let points = points["value"].as_array().unwrap();
    assert!(!points.is_empty(), "the cancel's own first point");
    for point in points {
        assert!(
            arm_time(&point["properties"]["recoveryPointTime"]) >= ended,
            "a point of the failover survived the cancel: {point}"
        );
    }
    advance(&lab, 600.0).await;
    let replicating = item(&arm, &path).await;
    assert!(
        arm_time(&replicating["providerSpecificDetails"]["lastReplicatedTime"]) > ended,
        "replication resumed: {replicating}"
    );
    assert_eq!(replicating["replicationHealth"], "Normal");

    let again = arm
        .call("POST", &format!("{path}/failoverCancel"), None)
        .await;
    assert_eq!(again.status(), 400, "nothing left to cancel");
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"]["code"],
        "InvalidOperation"
    );
    let drill = arm
        .wait(
            post(
                &arm,
                &path,
                "testFailover",
                json!({"properties": {"failoverDirection": "PrimaryToRecovery", "networkType": "NoNetworkAttachAsInput"}}),
            )
            .await,
        )
        .await;
    assert_eq!(drill["status"], "Succeeded", "a further test failover runs");
    assert_eq!(
        item(&arm, &path).await["testFailoverState"],
        "WaitingForCompletion"
    );
}

#[tokio::test]
async fn unplanned_failover_needs_no_primary_stamp_and_health_degrades_while_it_is_cut_off() {
    let lab = small_lab().await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let vms = gold_vms(&lab, &arm, &fabric, &container).await;
    let (vm, vm2) = (
        vms[0]["name"].as_str().unwrap().to_owned(),
        vms[1]["name"].as_str().unwrap().to_owned(),
    );
    let path = protect(&arm, &fabric, &container, &vm).await;
    let path2 = protect(&arm, &fabric, &container, &vm2).await;
    advance(&lab, 450.0).await;
    control(
        &lab,
        "POST",
        "/lab/stamps/A/outage",
        Some(json!({"down": true})),
    )
    .await;
    assert!(
        client()
            .get(format!("{}/plans", lab.stamps()[0].wap_admin))
            .send()
            .await
            .is_err(),
        "connections refused"
    );
    let before = control(&lab, "GET", "/lab/calls", None).await;
    advance(&lab, 700.0).await;
    assert_eq!(item(&arm, &path).await["replicationHealth"], "Warning");
    advance(&lab, 3600.0).await;
    // An hour later the first token has expired, as a real client would notice: renew it.
    let arm = Arm::new(&lab).await;
    let critical = item(&arm, &path).await;
    assert_eq!(critical["replicationHealth"], "Critical");
    assert!(
        !critical["replicationHealthErrors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Planned failover needs the source: it fails with a clear job error.
    let planned = arm
        .wait(
            post(
                &arm,
                &path2,
                "plannedFailover",
                json!({"properties": {"failoverDirection": "PrimaryToRecovery"}}),
            )
            .await,
        )
        .await;
    assert_eq!(planned["status"], "Failed");
    assert_eq!(planned["error"]["code"], "SourceSiteUnreachable");
    let unplanned = arm.wait(post(&arm, &path, "unplannedFailover", json!({"properties": {"failoverDirection": "PrimaryToRecovery", "sourceSiteOperations": "NotRequired"}})).await).await;
    assert_eq!(unplanned["status"], "Succeeded");
    let state = item(&arm, &path).await;
    assert_eq!(state["activeLocation"], "Recovery");
    let replica = spf_json(
        &lab,
        1,
        &vm_key(
            &lab,
            1,
            state["providerSpecificDetails"]["recoveryVmId"]
                .as_str()
                .unwrap(),
        ),
    )
    .await;
    assert_eq!(replica["StatusString"], "Running");
    // What was not replicated before the cut-off is lost: the last point predates the outage.
    let last = state["providerSpecificDetails"]["lastReplicatedTime"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(last.as_str() < state["lastSuccessfulFailoverTime"].as_str().unwrap());
    let after = control(&lab, "GET", "/lab/calls", None).await;
    assert_eq!(
        before.get("A/spf"),
        after.get("A/spf"),
        "no call reached stamp A's SPF"
    );
    assert_eq!(before.get("A/wap_admin"), after.get("A/wap_admin"));
    control(
        &lab,
        "POST",
        "/lab/stamps/A/outage",
        Some(json!({"down": false})),
    )
    .await;
    assert_eq!(
        wap(&lab, 0, "GET", "plans", None).await.status(),
        200,
        "same port again"
    );
}

#[tokio::test]
async fn test_failover_creates_a_test_vm_in_the_test_network_and_cleanup_removes_it() {
    let lab = small_lab().await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let vm = gold_vms(&lab, &arm, &fabric, &container).await[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = protect(&arm, &fabric, &container, &vm).await;
    let net =
        spf_json(&lab, 1, "VMNetworks?$filter=Name eq 'B-test-failover'").await["value"][0]["ID"]
            .as_str()
            .unwrap()
            .to_owned();
    let before_b = spf_json(&lab, 1, "VirtualMachines").await["value"]
        .as_array()
        .unwrap()
        .len();
    arm.wait(post(&arm, &path, "testFailover", json!({"properties": {"failoverDirection": "PrimaryToRecovery", "networkType": "VmNetworkAsInput", "networkId": net}})).await).await;
    let test_vms = spf_json(
        &lab,
        1,
        "VirtualMachines?$filter=IsRecoveryVM eq true and Name ne null",
    )
    .await;
    let test_vm = test_vms["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"].as_str().unwrap().ends_with("-test"))
        .unwrap()
        .clone();
    assert_eq!(test_vm["VMNetworkIds"], json!([net]));
    assert_eq!(test_vm["StatusString"], "Running");
    let primary = spf_json(&lab, 0, &vm_key(&lab, 0, &vm)).await;
    assert_eq!(primary["StatusString"], "Running", "production untouched");
    assert_eq!(item(&arm, &path).await["activeLocation"], "Primary");
    arm.wait(
        post(
            &arm,
            &path,
            "testFailoverCleanup",
            json!({"properties": {"comments": "drill ok"}}),
        )
        .await,
    )
    .await;
    assert_eq!(
        spf_json(&lab, 1, "VirtualMachines").await["value"]
            .as_array()
            .unwrap()
            .len(),
        before_b
    );
    assert_eq!(
        item(&arm, &path).await["allowedOperations"],
        json!([
            "PlannedFailover",
            "UnplannedFailover",
            "TestFailover",
            "DisableProtection"
        ])
    );
}

#[tokio::test]
async fn a_recovery_plan_gets_shutdown_and_failover_groups_and_refuses_101_items() {
    let lab = small_lab().await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let vm = gold_vms(&lab, &arm, &fabric, &container).await[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = protect(&arm, &fabric, &container, &vm).await;
    let item_id = arm.get(&path).await["id"].as_str().unwrap().to_owned();
    let plan = json!({"properties": {"primaryFabricId": fabric, "recoveryFabricId": "b", "failoverDeploymentModel": "NotApplicable", "groups": [{"groupType": "Boot", "replicationProtectedItems": [{"id": item_id, "virtualMachineId": vm}], "startGroupActions": [], "endGroupActions": []}]}});
    arm.wait(
        arm.call("PUT", "replicationRecoveryPlans/tenant-plan", Some(plan))
            .await,
    )
    .await;
    let read = arm.get("replicationRecoveryPlans/tenant-plan").await;
    let kinds: Vec<&str> = read["properties"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["groupType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Shutdown", "Failover", "Boot"]);
    assert!(
        read["properties"]["allowedOperations"]
            .as_array()
            .unwrap()
            .contains(&json!("TestFailover"))
    );
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"id": item_id.replace(&vm, &uuid::Uuid::new_v4().to_string())}))
        .collect();
    let too_big = arm.call("PUT", "replicationRecoveryPlans/big", Some(json!({"properties": {"groups": [{"groupType": "Boot", "replicationProtectedItems": many}]}}))).await;
    assert_eq!(too_big.status(), 400);
    let plan_run = arm.wait(post(&arm, "replicationRecoveryPlans/tenant-plan", "testFailover", json!({"properties": {"failoverDirection": "PrimaryToRecovery", "networkType": "NoNetworkAttachAsInput"}})).await).await;
    assert_eq!(plan_run["status"], "Succeeded");
    assert_eq!(
        item(&arm, &path).await["testFailoverState"],
        "WaitingForCompletion"
    );
}

#[tokio::test]
async fn the_concurrency_knob_keeps_the_rest_not_started() {
    let lab = small_lab().await;
    control(
        &lab,
        "PUT",
        "/lab/knobs",
        Some(json!({"concurrency": 1, "acceleration": 1.0})),
    )
    .await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    control(
        &lab,
        "PUT",
        "/lab/knobs",
        Some(json!({"acceleration": 6000.0})),
    )
    .await;
    let vms = gold_vms(&lab, &arm, &fabric, &container).await;
    let mut paths = Vec::new();
    for vm in vms.iter().take(2) {
        paths.push(protect(&arm, &fabric, &container, vm["name"].as_str().unwrap()).await);
    }
    control(
        &lab,
        "PUT",
        "/lab/knobs",
        Some(json!({"acceleration": 1.0})),
    )
    .await;
    let a = post(
        &arm,
        &paths[0],
        "testFailover",
        json!({"properties": {"networkType": "NoNetworkAttachAsInput"}}),
    )
    .await;
    let b = post(
        &arm,
        &paths[1],
        "testFailover",
        json!({"properties": {"networkType": "NoNetworkAttachAsInput"}}),
    )
    .await;
    let job = |r: &Response| {
        r.headers()["location"]
            .to_str()
            .unwrap()
            .split("/operationresults/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned()
    };
    let (ja, jb) = (job(&a), job(&b));
    let first = arm.get(&format!("replicationJobs/{ja}")).await;
    let second = arm.get(&format!("replicationJobs/{jb}")).await;
    assert_eq!(first["properties"]["state"], "InProgress");
    assert_eq!(second["properties"]["state"], "NotStarted");
    advance(&lab, 61.0).await;
    assert_eq!(
        arm.get(&format!("replicationJobs/{jb}")).await["properties"]["state"],
        "InProgress"
    );
    advance(&lab, 61.0).await;
    assert_eq!(
        arm.get(&format!("replicationJobs/{jb}")).await["properties"]["state"],
        "Succeeded"
    );
}

#[tokio::test]
async fn the_outstanding_operations_gauge_counts_waiting_and_running_item_jobs_and_keeps_their_exact_peak()
 {
    let lab = small_lab().await;
    // Lab time moves only when the test advances it, so six submissions count as at once.
    control(
        &lab,
        "PUT",
        "/lab/knobs",
        Some(json!({"concurrency": 2, "acceleration": 1.0})),
    )
    .await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let created = control(
        &lab,
        "POST",
        "/lab/stamps/A/vms",
        Some(json!({"count": 6, "cloud": "Gold", "name_prefix": "gauge", "running": true, "total_size": 1u64 << 30})),
    )
    .await;
    let mut paths = Vec::new();
    for vm in created["ids"].as_array().unwrap() {
        paths.push(protect(&arm, &fabric, &container, vm.as_str().unwrap()).await);
    }
    let gauge = |answer: Value| {
        (
            answer["asr_operations"]["outstanding"].as_u64().unwrap(),
            answer["asr_operations"]["peak_outstanding"]
                .as_u64()
                .unwrap(),
        )
    };
    assert_eq!(
        gauge(control(&lab, "DELETE", "/lab/operations", None).await),
        (0, 0),
        "a reset with nothing outstanding starts from zero"
    );

    // Six test failovers at once: two run, four wait for a slot, all six are outstanding.
    let mut submitted = Vec::new();
    for path in &paths {
        submitted.push(
            post(
                &arm,
                path,
                "testFailover",
                json!({"properties": {"networkType": "NoNetworkAttachAsInput"}}),
            )
            .await,
        );
    }
    let mut states = Vec::new();
    for accepted in &submitted {
        let job = arm
            .get(&format!("replicationJobs/{}", job_of(accepted)))
            .await;
        states.push(job["properties"]["state"].as_str().unwrap().to_owned());
    }
    states.sort();
    assert_eq!(
        states,
        [
            "InProgress",
            "InProgress",
            "NotStarted",
            "NotStarted",
            "NotStarted",
            "NotStarted"
        ]
    );
    assert_eq!(
        gauge(control(&lab, "GET", "/lab/operations", None).await),
        (6, 6)
    );
    for accepted in submitted {
        assert_eq!(arm.wait(accepted).await["status"], "Succeeded");
    }
    assert_eq!(
        gauge(control(&lab, "GET", "/lab/operations", None).await),
        (0, 6),
        "all ended; the peak stays until reset"
    );

    // Two at a time, each pair ended before the next: the peak is two.
    assert_eq!(
        gauge(control(&lab, "DELETE", "/lab/operations", None).await),
        (0, 0)
    );
    for pair in paths.chunks(2) {
        let mut accepted = Vec::new();
        for path in pair {
            accepted.push(
                post(
                    &arm,
                    path,
                    "testFailoverCleanup",
                    json!({"properties": {"comments": "gauge"}}),
                )
                .await,
            );
        }
        for accepted in accepted {
            assert_eq!(arm.wait(accepted).await["status"], "Succeeded");
        }
    }
    assert_eq!(
        gauge(control(&lab, "GET", "/lab/operations", None).await),
        (0, 2)
    );

    // Again two at a time, but with nothing reading the jobs between pairs, only lab time moving
    // past their end: the ends still count at their lab time, not when the lab next looks.
    control(&lab, "DELETE", "/lab/operations", None).await;
    let mut submitted = Vec::new();
    for pair in paths.chunks(2) {
        for path in pair {
            submitted.push(
                post(
                    &arm,
                    path,
                    "testFailover",
                    json!({"properties": {"networkType": "NoNetworkAttachAsInput"}}),
                )
                .await,
            );
        }
        advance(&lab, 61.0).await;
    }
    for accepted in submitted {
        assert_eq!(arm.wait(accepted).await["status"], "Succeeded");
    }
    assert_eq!(
        gauge(control(&lab, "GET", "/lab/operations", None).await),
        (0, 2)
    );
}

#[tokio::test]
async fn the_error_rate_knob_refuses_some_requests_before_any_effect_and_retries_succeed() {
    let lab = start(WorldKind::Small).await;
    control(&lab, "PUT", "/lab/knobs", Some(json!({"error_rate": 0.5}))).await;
    let (mut refused, mut created) = (0, 0);
    for n in 0..40 {
        let r = spf_send(
            &lab,
            0,
            "POST",
            "VMNetworks",
            json!({"Name": format!("net-{n}")}),
        )
        .await;
        match r.status().as_u16() {
            503 => {
                assert_eq!(r.headers()["retry-after"], "0");
                refused += 1;
            }
            201 => created += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        refused > 0 && created > 0,
        "{refused} refused, {created} created"
    );
    control(&lab, "PUT", "/lab/knobs", Some(json!({"error_rate": 0.0}))).await;
    let nets = spf_json(
        &lab,
        0,
        "VMNetworks?$filter=IsolationType eq 'WindowsNetworkVirtualization'&$top=1000",
    )
    .await;
    let made = nets["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["Name"].as_str().unwrap().starts_with("net-"))
        .count();
    assert_eq!(made, created, "a refused request created nothing");
    let _ = Duration::from_secs(0);
}

#[tokio::test]
async fn a_cloud_s_protectable_items_come_in_pages_joined_by_next_links() {
    let mut config = LabConfig::default();
    config.knobs.acceleration = 6000.0;
    config.knobs.arm_page_size = 3;
    let lab = start_with(config).await;
    let arm = Arm::new(&lab).await;
    let (fabric, container) = pair_gold(&arm).await;
    let path = format!(
        "replicationFabrics/{fabric}/replicationProtectionContainers/{container}/replicationProtectableItems"
    );

    let names_of = |page: &Value| -> Vec<Value> {
        let values = page["value"].as_array().unwrap();
        values.iter().map(|v| v["name"].clone()).collect()
    };
    let mut names = Vec::new();
    let mut page = arm.get(&path).await;
    while let Some(next) = page["nextLink"].as_str().map(str::to_owned) {
        assert_eq!(page["value"].as_array().unwrap().len(), 3, "a full page");
        assert!(next.starts_with(&arm.vault()), "an absolute link: {next}");
        names.extend(names_of(&page));
        let response = client()
            .get(&next)
            .bearer_auth(&arm.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {next}");
        page = response.json().await.unwrap();
    }
    names.extend(names_of(&page));
    assert!(page["value"].as_array().unwrap().len() <= 3);

    let mut knobs = control(&lab, "GET", "/lab/knobs", None).await;
    knobs["arm_page_size"] = json!(1000);
    control(&lab, "PUT", "/lab/knobs", Some(knobs)).await;
    let whole = arm.get(&path).await;
    assert!(whole["nextLink"].is_null());
    let all = names_of(&whole);
    assert!(
        all.len() > 3,
        "the default world's Gold cloud spans pages of 3"
    );
    assert_eq!(names, all, "the pages, joined, are the whole list in order");

    let refused = arm
        .call("GET", &format!("{path}?skipToken=nope"), None)
        .await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidSkipToken");
}
