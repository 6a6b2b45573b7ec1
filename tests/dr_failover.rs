//! Failover of one DR subscription end to end on the lab over HTTP: a drill and its cleanup leave
//! production alone; a planned failover moves the subscription to stamp B (active stamp, WAP
//! subscriptions, portal, VMs running there) and commit, reprotect and failback bring it home;
//! an unplanned failover with stamp A down needs the admin's confirmation and never calls A;
//! a second operation while one runs, or one the phase does not allow, is refused; an unplanned
//! failover asked for the latest app-consistent point lands every VM on it.

mod common;

use common::app::{Backend, TestApp, json_of};
use common::dr::{admin, gold_world, unschedule, until_all};
use common::failover::{
    dr, failover, finished, job_id, protected_tenant, run_ok, test_vms_on_b, vm_status, wap_state,
    world_uuid,
};
use common::lab::{calls, set_outage, spf};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::{MirrorState, VmProtectionState};
use wapdr::fabric::ReplicationEngine as _;
use wapdr::fabric::wap_admin::AdminSubscriptionState;
use wapdr::store::RunState;

on_both_backends!(
    a_drill_and_its_cleanup_leave_production_and_replication_untouched,
    a_planned_failover_moves_the_subscription_to_b_and_failback_brings_it_home,
    an_unplanned_failover_with_stamp_a_down_needs_confirmation_and_never_calls_a,
    a_second_operation_while_one_runs_or_out_of_turn_is_refused,
    an_unplanned_failover_lands_every_vm_on_its_latest_app_consistent_point,
);

/// The report of the job a [`run_ok`] output names.
async fn report(app: &TestApp, out: &Value) -> Value {
    let job = out["job"]["JobId"].as_str().expect("a job");
    let (status, report) = admin(app, Method::GET, &format!("/reports/{job}"), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

async fn a_drill_and_its_cleanup_leave_production_and_replication_untouched(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, vms) = protected_tenant(&world, "erin@tailspin.lab", 2, &[]).await;
    let a = world_uuid(&world.a);
    assert!(test_vms_on_b(lab).await.is_empty());

    let out = run_ok(
        app,
        &tenant,
        json!({ "kind": "test", "reason": "quarterly drill" }),
    )
    .await;
    assert_eq!(out["phase"], "TestRunning", "{out}");
    assert_eq!(out["vms"], 2, "{out}");
    assert_eq!(test_vms_on_b(lab).await.len(), 2, "a test VM per VM on B");
    let during = dr(app, &tenant).await;
    assert_eq!(
        during.active_stamp_id,
        Some(a),
        "a drill never switches stamps"
    );
    assert_eq!(during.mirror, MirrorState::Suspended);
    assert_eq!(
        wap_state(lab, 0, &tenant).await,
        AdminSubscriptionState::Active
    );
    assert_eq!(
        wap_state(lab, 1, &tenant).await,
        AdminSubscriptionState::Suspended
    );
    for vm in &vms {
        assert_eq!(
            vm_status(lab, 0, *vm).await,
            "Running",
            "production keeps running"
        );
    }
    let (status, body) = failover(app, &tenant, json!({ "kind": "planned" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body.to_string();
    assert!(
        message.contains("TestRunning") && message.contains("testCleanup"),
        "says the state and what is allowed: {message}"
    );

    let out = run_ok(app, &tenant, json!({ "kind": "testCleanup" })).await;
    assert_eq!(out["phase"], "Replicating", "{out}");
    assert!(test_vms_on_b(lab).await.is_empty(), "test VMs gone");
    let after = dr(app, &tenant).await;
    assert_eq!(after.active_stamp_id, Some(a));
    assert_eq!(after.mirror, MirrorState::Suspended);
    let records = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert!(
        records
            .iter()
            .all(|r| r.state == VmProtectionState::Protected)
    );
    for vm in &vms {
        assert_eq!(vm_status(lab, 0, *vm).await, "Running");
    }
}

async fn a_planned_failover_moves_the_subscription_to_b_and_failback_brings_it_home(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, vms) = protected_tenant(&world, "frank@tailspin.lab", 2, &[]).await;
    let (a, b) = (world_uuid(&world.a), world_uuid(&world.b));

    let out = run_ok(
        app,
        &tenant,
        json!({ "kind": "planned", "reason": "maintenance" }),
    )
    .await;
    assert_eq!(out["phase"], "FailedOver", "{out}");
    assert!(
        out["rtoSeconds"].as_f64().is_some_and(|s| s >= 0.0),
        "{out}"
    );
    let report = report(app, &out).await;
    let results: Vec<&Value> = report["Groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["Vms"].as_array().expect("per-VM results"))
        .collect();
    assert_eq!(results.len(), 2, "{report}");
    assert!(
        results.iter().all(|r| r["Operation"] == "plannedFailover"
            && r["Result"] == "Succeeded"
            && r["FinishedAt"].is_string()),
        "{report}"
    );
    assert!(
        results.iter().all(|r| r["Tasks"]
            .as_array()
            .is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["ended"].is_string()))),
        "the engine's tasks with their times: {report}"
    );
    let switched = dr(app, &tenant).await;
    assert_eq!(switched.active_stamp_id, Some(b));
    assert_eq!(switched.mirror, MirrorState::Active);
    assert_eq!(
        wap_state(lab, 1, &tenant).await,
        AdminSubscriptionState::Active
    );
    assert_eq!(
        wap_state(lab, 0, &tenant).await,
        AdminSubscriptionState::Suspended
    );
    let view = json_of(
        app.admin(Method::GET, &format!("/subscriptions/{}/dr", tenant.id))
            .send()
            .await
            .expect("GET dr"),
    )
    .await;
    let b_stamp = app.store().get_stamp(b).await.expect("store").expect("B");
    assert_eq!(view["ActiveStamp"]["Id"], b.to_string(), "{view}");
    assert_eq!(view["PortalUrl"], b_stamp.tenant_portal_url, "{view}");
    assert_eq!(view["Failover"]["Phase"], "FailedOver", "{view}");
    assert_eq!(
        view["Failover"]["Allowed"],
        json!(["commit", "rollback"]),
        "{view}"
    );
    assert_eq!(view["Failover"]["LastOperation"], "planned", "{view}");
    // A VM event while failed over is taken, and leaves the failed-over VM as it is.
    let (status, event) = admin(
        app,
        Method::POST,
        "/events/vms",
        Some(json!({ "event": "changed", "stampId": world.a, "vmId": vms[0].to_string() })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{event}");
    let reconcile = finished(app, job_id(&event)).await;
    assert_eq!(
        reconcile.state,
        RunState::Succeeded,
        "{:?}",
        reconcile.error
    );
    let b_vmm = spf(lab, 1).list_stamps().await.expect("SPF-B")[0].id;
    for record in until_all(app, &tenant, &vms, VmProtectionState::Protected).await {
        let replica = record.replica_vm_id.expect("replica");
        assert_eq!(vm_status(lab, 1, replica).await, "Running", "runs on B");
        let owner = spf(lab, 1)
            .get_vm(b_vmm, replica)
            .await
            .expect("SPF-B")
            .and_then(|vm| vm.owner)
            .and_then(|o| o.role_id);
        assert_eq!(
            owner,
            Some(tenant.id.as_uuid()),
            "the tenant's role owns it"
        );
        assert_ne!(
            vm_status(lab, 0, record.vm_id).await,
            "Running",
            "A's copy is off"
        );
    }

    let (status, body) = failover(app, &tenant, json!({ "kind": "failback" })).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "failback before commit: {body}"
    );
    assert_eq!(
        run_ok(app, &tenant, json!({ "kind": "commit" })).await["phase"],
        "Committed"
    );
    assert_eq!(
        run_ok(app, &tenant, json!({ "kind": "reprotect" })).await["phase"],
        "Replicating"
    );
    assert_eq!(
        dr(app, &tenant).await.active_stamp_id,
        Some(b),
        "still on B"
    );

    let out = run_ok(app, &tenant, json!({ "kind": "failback" })).await;
    assert_eq!(out["phase"], "Replicating", "{out}");
    let home = dr(app, &tenant).await;
    assert_eq!(home.active_stamp_id, Some(a));
    assert_eq!(home.mirror, MirrorState::Suspended);
    assert_eq!(
        wap_state(lab, 0, &tenant).await,
        AdminSubscriptionState::Active
    );
    assert_eq!(
        wap_state(lab, 1, &tenant).await,
        AdminSubscriptionState::Suspended
    );
    for vm in &vms {
        assert_eq!(vm_status(lab, 0, *vm).await, "Running", "back on A");
    }
    // Replicating A → B again: a drill is allowed, failback is not.
    let (status, body) = failover(app, &tenant, json!({ "kind": "failback" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

async fn an_unplanned_failover_with_stamp_a_down_needs_confirmation_and_never_calls_a(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    unschedule(app, "reconcile-mirrors").await;
    let (tenant, vms) = protected_tenant(&world, "gina@tailspin.lab", 2, &[]).await;
    let (a, b) = (world_uuid(&world.a), world_uuid(&world.b));

    let (status, body) = failover(app, &tenant, json!({ "kind": "unplanned" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("sourceDown"), "{body}");
    let (status, _) = failover(
        app,
        &tenant,
        json!({ "kind": "unplanned", "sourceDown": false }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dr(app, &tenant).await.active_stamp_id,
        Some(a),
        "nothing changed"
    );
    assert!(
        app.store()
            .get_failover(tenant.id)
            .await
            .expect("store")
            .is_none(),
        "no operation was recorded"
    );

    let a_name = lab.stamps()[0].name.clone();
    set_outage(lab, &a_name, true).await;
    let before = calls(lab).await;
    let out = run_ok(
        app,
        &tenant,
        json!({ "kind": "unplanned", "sourceDown": true, "reason": "site A lost" }),
    )
    .await;
    let after = calls(lab).await;
    for service in ["spf", "wap_admin"] {
        let key = format!("{a_name}/{service}");
        assert_eq!(after[&key], before[&key], "no call reached {key}");
    }
    assert_eq!(out["phase"], "FailedOver", "{out}");
    let pending = out["pending"].to_string();
    assert!(
        pending.contains(&a_name),
        "A's suspension is pending: {out}"
    );
    let switched = dr(app, &tenant).await;
    assert_eq!(switched.active_stamp_id, Some(b));
    assert_eq!(switched.mirror, MirrorState::Active);
    assert_eq!(
        wap_state(lab, 1, &tenant).await,
        AdminSubscriptionState::Active
    );
    for record in until_all(app, &tenant, &vms, VmProtectionState::Protected).await {
        let replica = record.replica_vm_id.expect("replica");
        assert_eq!(vm_status(lab, 1, replica).await, "Running", "runs on B");
    }
    let job = job_id(&out["job"]);
    for step in app.store().run_steps(job).await.expect("steps") {
        let error = step.error.unwrap_or_default();
        assert!(
            error.is_empty() || error.contains("is running") || error.contains("is busy"),
            "step '{}' only ever waited for the engine: {error}",
            step.name
        );
    }

    // A is back: its subscription is still Active until reconcile-mirrors suspends it.
    set_outage(lab, &a_name, false).await;
    assert_eq!(
        wap_state(lab, 0, &tenant).await,
        AdminSubscriptionState::Active
    );
    let (status, started) = admin(
        app,
        Method::POST,
        "/runbooks/reconcile-mirrors/start",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let runbook = Uuid::parse_str(started["Id"].as_str().expect("Id")).expect("GUID");
    assert_eq!(finished(app, runbook).await.state, RunState::Succeeded);
    assert_eq!(
        wap_state(lab, 0, &tenant).await,
        AdminSubscriptionState::Suspended
    );
    let record = app.store().get_failover(tenant.id).await.expect("store");
    assert!(
        record.is_some_and(|r| r.pending.is_empty()),
        "nothing is pending any more"
    );
    assert_eq!(dr(app, &tenant).await.message, None);
}

async fn a_second_operation_while_one_runs_or_out_of_turn_is_refused(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, _) =
        protected_tenant(&world, "hank@tailspin.lab", 2, &[("SelfService", "Drill")]).await;
    let a = world_uuid(&world.a);

    let (status, body) = failover(app, &tenant, json!({ "kind": "commit" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing to commit: {body}");
    assert!(body.to_string().contains("Replicating"), "{body}");
    let (status, body) = failover(app, &tenant, json!({ "kind": "sideways" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let tenant_call = |kind: &str| {
        app.tenant(
            Method::POST,
            &format!("/subscriptions/{}/failover", tenant.id),
            Some(&tenant.user),
        )
        .json(&json!({ "kind": kind }))
        .send()
    };
    let refused = tenant_call("planned").await.expect("tenant call");
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "Drill allows drills only"
    );
    let started = tenant_call("test").await.expect("tenant call");
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let job = job_id(&json_of(started).await);

    let (status, body) = failover(app, &tenant, json!({ "kind": "testCleanup" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body.to_string().contains(&job.to_string()),
        "names the running job: {body}"
    );
    assert_eq!(finished(app, job).await.state, RunState::Succeeded);
    assert_eq!(dr(app, &tenant).await.active_stamp_id, Some(a));
    assert_eq!(test_vms_on_b(lab).await.len(), 2);
    // A VM of a subscription in a drill keeps its protection as the drill found it.
    let vm = app
        .store()
        .list_protected_vms(tenant.id)
        .await
        .expect("store")[0]
        .clone();
    let (status, body) = admin(
        app,
        Method::PUT,
        &format!("/subscriptions/{}/vms/{}/protection", tenant.id, vm.vm_id),
        Some(json!({ "excluded": true })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("TestRunning"), "{body}");
    let unchanged = app
        .store()
        .get_protected_vm(tenant.id, vm.vm_id)
        .await
        .expect("store")
        .expect("the VM");
    assert_eq!(unchanged.exclusion, vm.exclusion, "nothing changed");
    let out = run_ok(app, &tenant, json!({ "kind": "testCleanup" })).await;
    assert_eq!(out["phase"], "Replicating");

    // A point no VM has: the job fails before any VM fails over, and nothing moved.
    let (status, body) = failover(
        app,
        &tenant,
        json!({ "kind": "unplanned", "sourceDown": true, "recoveryPoint": "2000-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = finished(app, job_id(&body)).await;
    assert_eq!(run.state, RunState::Failed);
    assert!(
        run.error
            .as_deref()
            .is_some_and(|e| e.contains("No VM was failed over")),
        "{:?}",
        run.error
    );
    assert_eq!(dr(app, &tenant).await.active_stamp_id, Some(a));
    let (status, body) = failover(
        app,
        &tenant,
        json!({ "kind": "planned", "recoveryPoint": "latest" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a point is for unplanned only: {body}"
    );
    let out = run_ok(app, &tenant, json!({ "kind": "test" })).await;
    assert_eq!(
        out["phase"], "TestRunning",
        "the failed job left the phase as it was"
    );
}

async fn an_unplanned_failover_lands_every_vm_on_its_latest_app_consistent_point(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, vms) = protected_tenant(&world, "ivy@tailspin.lab", 2, &[]).await;
    let engine = common::lab::asr(lab);
    let a_stamp = spf(lab, 0).list_stamps().await.expect("SPF-A")[0].id;
    let site = engine
        .sites()
        .await
        .expect("sites")
        .into_iter()
        .find(|s| s.stamp_id.eq_ignore_ascii_case(&a_stamp.to_string()))
        .expect("A's site");
    let cloud = common::setup::bound_cloud(lab, 0, "a-gold").await;
    let item = |vm: Uuid| wapdr::fabric::replication::ItemRef {
        site: site.id.clone(),
        container: cloud.to_string(),
        vm_id: vm.to_string(),
    };
    // The policy takes an app-consistent point every lab hour (six seconds here): wait for one
    // on every VM, and for a newer crash-consistent point after it, so "latest" would differ.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut wanted = Vec::new();
    for vm in &vms {
        loop {
            let points = engine.recovery_points(&item(*vm)).await.expect("points");
            let app_point = points
                .iter()
                .filter(|p| p.app_consistent)
                .max_by_key(|p| p.time);
            let newest = points.iter().max_by_key(|p| p.time);
            if let (Some(app_point), Some(newest)) = (app_point, newest) {
                if newest.time > app_point.time {
                    wanted.push(app_point.id.clone());
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no app-consistent point: {points:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    set_outage(lab, "A", true).await;

    let out = run_ok(
        app,
        &tenant,
        json!({ "kind": "unplanned", "sourceDown": true, "recoveryPoint": "latestAppConsistent" }),
    )
    .await;
    assert_eq!(out["phase"], "FailedOver", "{out}");
    let applied: Vec<String> = report(app, &out).await["Groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["Vms"].as_array().cloned().unwrap_or_default())
        .filter(|v| v["Operation"] == "applyRecoveryPoint")
        .map(|v| v["Result"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        applied,
        ["Succeeded", "Succeeded"],
        "a point applied per VM"
    );
    for (vm, point) in vms.iter().zip(&wanted) {
        let status = common::dr::vault_get(
            lab,
            &format!(
                "replicationFabrics/{}/replicationProtectionContainers/{cloud}/replicationProtectedItems/{vm}",
                site.id
            ),
        )
        .await;
        let landed = status["properties"]["failoverRecoveryPointId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            landed.ends_with(&format!("/{point}")),
            "VM {vm} runs from its latest app-consistent point {point}, not {landed}"
        );
    }
}
