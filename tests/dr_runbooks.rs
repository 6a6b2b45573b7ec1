//! The DR runbooks end to end on a small lab: VM events and the protect-new-vms safety net
//! protect new VMs (reading only what changed, oldest change first), a deleted VM's protection is disabled,
//! replication-health records health and RPO and alerts once when a VM degrades, and
//! reconcile-mirrors repairs a mirror and replica ownership changed behind wapdr's back.
//!
//! Enablement is the real one: the tenant's subscription is posted through WAP's notification
//! endpoint and each test starts once enable DR has finished (mirror built, DR Enabled).

mod common;

use std::time::{Duration, Instant};

use common::alerts::{Received, alert_sink};
use common::app::{Backend, TestApp};
use common::dr::{
    PROVISIONED, Tenant, add_vms, admin, gold_world_on, new_tenant, notification_body,
    notify_create, settled_lifecycle,
};
use common::lab::{small_lab, spf, wap_admin};
use common::setup::asr_section;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::{DrPhase, MirrorState, ProtectedVm, VmHealth, VmProtectionState};
use wapdr::fabric::spf::Owner;
use wapdr::lab::LabHandle;

on_both_backends!(
    a_created_event_protects_the_new_vm_and_a_deleted_event_disables_it,
    bad_vm_events_are_refused_and_vms_of_no_dr_subscription_are_left_alone,
    protect_new_vms_protects_a_new_vm_reading_only_what_changed,
    replication_health_alerts_once_when_a_vm_degrades_and_records_its_rpo,
    reconcile_mirrors_recreates_a_deleted_mirror_and_gives_replicas_back,
);

/// The tenant whose new subscription has DR in these tests (not one the lab seeded).
const TENANT: &str = "frank@fabrikam.lab";

/// A lab, wapdr with an alert sink, and one DR-enabled subscription on the Gold pair.
struct World {
    app: TestApp,
    lab: LabHandle,
    stamp_a: String,
    tenant: Tenant,
    alerts: Received,
}

async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn dr_world(backend: Backend) -> Option<World> {
    let lab = small_lab().await;
    let (hook, alerts) = alert_sink().await;
    let extra = format!(
        "{}\n[alerts]\nwebhook_url = \"{hook}\"\n",
        asr_section(&lab)
    );
    let app = TestApp::start_configured(backend, wapdr::app::workflows(), &extra).await?;
    // The runbooks run when a test starts them, not on a schedule tick mid-test.
    for runbook in [
        "protect-new-vms",
        "replication-health",
        "reconcile-mirrors",
        "site-heartbeat",
    ] {
        let (status, view) = admin(
            &app,
            Method::PUT,
            &format!("/runbooks/{runbook}"),
            Some(json!({"schedule": null})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{view}");
    }
    let world = gold_world_on(app, lab).await;
    for stamp in [&world.a, &world.b] {
        admin(
            &world.app,
            Method::POST,
            &format!("/stamps/{stamp}/verify"),
            None,
        )
        .await;
    }

    // The tenant's subscription on the paired plan, as WAP tells wapdr; enable DR does the rest.
    let tenant = new_tenant(&world.lab, TENANT, "a-gold").await;
    let (status, body) = notify_create(&world.app, &notification_body(&tenant, &[])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let done = settled_lifecycle(&world.app, &tenant).await;
    assert_eq!(done["LifecycleState"], PROVISIONED, "{done}");
    let dr = world
        .app
        .store()
        .get_dr_subscription(tenant.id)
        .await
        .unwrap()
        .expect("a DR record");
    assert_eq!(dr.phase, DrPhase::Enabled, "{dr:?}");
    assert_eq!(dr.mirror, MirrorState::Suspended);
    Some(World {
        app: world.app,
        lab: world.lab,
        stamp_a: world.a,
        tenant,
        alerts,
    })
}

/// Creates one running VM of the tenant in stamp A's Gold cloud; returns its SPF id.
async fn new_vm(w: &World, name: &str) -> Uuid {
    add_vms(&w.lab, &w.tenant, "Gold", name, 1, &[]).await[0]
}

/// Creates one running VM that no subscription owns in stamp A's Gold cloud; returns its SPF id.
async fn stray_vm(lab: &LabHandle) -> Uuid {
    let response = reqwest::Client::new()
        .post(format!("{}/lab/stamps/A/vms", lab.control()))
        .json(&json!({
            "subscription_id": null, "cloud": "Gold", "name_prefix": "stray", "running": true, "total_size": 1_i64 << 30,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["ids"][0].as_str().unwrap().parse().unwrap()
}
async fn record(w: &World, vm: Uuid) -> Option<ProtectedVm> {
    w.app
        .store()
        .get_protected_vm(w.tenant.id, vm)
        .await
        .unwrap()
}

async fn protected(w: &World, vm: Uuid) -> ProtectedVm {
    until(
        "the VM to be protected with its replica owned",
        async || {
            record(w, vm)
                .await
                .filter(|r| r.state == VmProtectionState::Protected && r.replica_owned)
        },
    )
    .await
}

async fn event(w: &World, body: Value) -> (StatusCode, Value) {
    admin(&w.app, Method::POST, "/events/vms", Some(body)).await
}

/// Starts a runbook and waits for its job to succeed; returns the job with its steps.
async fn run_runbook(w: &World, name: &str) -> Value {
    let (status, job) = admin(
        &w.app,
        Method::POST,
        &format!("/runbooks/{name}/start"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["Id"].as_str().unwrap().to_owned();
    let job = until("the runbook's job to end", async || {
        let (_, job) = admin(&w.app, Method::GET, &format!("/jobs/{id}"), None).await;
        matches!(
            job["State"].as_str(),
            Some("Succeeded" | "Failed" | "Cancelled")
        )
        .then_some(job)
    })
    .await;
    assert_eq!(job["State"], "Succeeded", "{job:#}");
    job
}

/// The outputs of a job's steps of `kind`.
fn outputs(job: &Value, kind: &str) -> Vec<Value> {
    job["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Kind"] == kind)
        .map(|s| serde_json::from_str(s["Output"].as_str().unwrap_or("null")).unwrap())
        .collect()
}

async fn a_created_event_protects_the_new_vm_and_a_deleted_event_disables_it(backend: Backend) {
    let Some(w) = dr_world(backend).await else {
        return;
    };
    let vm = new_vm(&w, "new").await;

    let (status, answer) = event(
        &w,
        json!({"event": "created", "stampId": w.stamp_a, "vmId": vm}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["Action"], "Reconcile");
    assert_eq!(answer["SubscriptionId"], w.tenant.id.to_string());
    let vm_record = protected(&w, vm).await;
    assert!(vm_record.replica_vm_id.is_some());

    // Deleted in SPF; the event (as an SPF entity, without a stamp) disables protection.
    spf(&w.lab, 0)
        .delete_vm(w.lab.stamps()[0].stamp_id, vm)
        .await
        .unwrap();
    let (status, answer) = event(
        &w,
        json!({"EventType": "Deleted", "ID": vm, "VMId": Uuid::new_v4()}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["Action"], "Reconcile");
    until("protection to be disabled", async || {
        record(&w, vm)
            .await
            .filter(|r| r.state == VmProtectionState::Disabled)
    })
    .await;
}

async fn bad_vm_events_are_refused_and_vms_of_no_dr_subscription_are_left_alone(backend: Backend) {
    let Some(w) = dr_world(backend).await else {
        return;
    };
    for bad in [
        json!({"event": "exploded", "stampId": w.stamp_a, "vmId": Uuid::new_v4()}),
        json!({"event": "created", "stampId": w.stamp_a, "vmId": "not-a-guid"}),
        json!({"event": "created", "vmId": Uuid::new_v4()}),
        json!({"stampId": w.stamp_a, "vmId": Uuid::new_v4()}),
    ] {
        let (status, answer) = event(&w, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(
            answer["Message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    let (status, _) = event(
        &w,
        json!({"event": "created", "stampId": Uuid::new_v4(), "vmId": Uuid::new_v4()}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A VM with no owner subscription: accepted, nothing started, and said so.
    let stray = stray_vm(&w.lab).await;
    let (status, answer) = event(
        &w,
        json!({"event": "created", "stampId": w.stamp_a, "vmId": stray}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["Action"], "None", "{answer}");
    assert_eq!(answer["JobId"], Value::Null);
    assert!(record(&w, stray).await.is_none());
    let (_, jobs) = admin(&w.app, Method::GET, "/jobs?workflow=reconcile_vm", None).await;
    assert_eq!(jobs.as_array().map(Vec::len), Some(0), "{jobs}");
}

async fn protect_new_vms_protects_a_new_vm_reading_only_what_changed(backend: Backend) {
    let Some(w) = dr_world(backend).await else {
        return;
    };
    // The seeded VMs all share one ModifiedTime; a VM created now is the stamp's latest change,
    // and one created after enable DR finished is left to the safety net (no event is sent).
    let earlier = new_vm(&w, "earlier").await;
    // First run: no cursor, a full read of stamp A, every VM of the tenant handed over.
    let first = run_runbook(&w, "protect-new-vms").await;
    let scan = &outputs(&first, "scan_stamp")[0];
    assert_eq!(scan["fullRead"], true, "{scan}");
    let read_all = scan["read"].as_u64().unwrap();
    let handed = scan["toReconcile"].as_array().unwrap();
    assert!(handed.contains(&json!(earlier.to_string())), "{scan}");
    protected(&w, earlier).await;

    // Several new VMs, one after the other (the lab's clock runs at 600×, so each has its own
    // ModifiedTime): they are handed over oldest change first, whatever order SPF lists them in
    // (the lab lists by id), so the VM that has waited longest is not queued behind younger ones.
    let mut later = Vec::new();
    for i in 0..5 {
        later.push(new_vm(&w, &format!("later-{i}")).await);
    }
    let second = run_runbook(&w, "protect-new-vms").await;
    let scan = &outputs(&second, "scan_stamp")[0];
    assert_eq!(scan["fullRead"], false, "{scan}");
    assert!(scan["since"].is_string(), "{scan}");
    assert!(
        scan["read"].as_u64().unwrap() < read_all,
        "read {scan} of {read_all}"
    );
    let in_creation_order: Vec<String> = later.iter().map(Uuid::to_string).collect();
    assert_eq!(scan["toReconcile"], json!(in_creation_order), "{scan}");
    for vm in later {
        let vm_record = protected(&w, vm).await;
        assert_eq!(vm_record.subscription_id, w.tenant.id);
    }
}

async fn replication_health_alerts_once_when_a_vm_degrades_and_records_its_rpo(backend: Backend) {
    let Some(w) = dr_world(backend).await else {
        return;
    };
    let vm = new_vm(&w, "watched").await;
    event(
        &w,
        json!({"event": "created", "stampId": w.stamp_a, "vmId": vm}),
    )
    .await;
    protected(&w, vm).await;

    run_runbook(&w, "replication-health").await;
    let healthy = record(&w, vm).await.unwrap();
    assert_eq!(healthy.health, Some(VmHealth::Normal));
    assert!(healthy.last_replicated.is_some() && healthy.last_recovery_point.is_some());
    assert!(w.alerts.lock().unwrap().is_empty());

    // The lab stalls this VM's replication a day back: Critical, and far past the RPO threshold.
    let response = reqwest::Client::new()
        .post(format!("{}/lab/vms/{vm}/replication", w.lab.control()))
        .json(&json!({"stalled_minutes": 24 * 60}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    run_runbook(&w, "replication-health").await;
    let degraded = record(&w, vm).await.unwrap();
    assert_eq!(degraded.health, Some(VmHealth::Critical));
    assert!(degraded.health_detail.is_some());
    let now = time::OffsetDateTime::now_utc();
    assert!(degraded.rpo_seconds(now).unwrap() > 30 * 60, "{degraded:?}");
    let alerts = w.alerts.lock().unwrap().clone();
    let mine: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["VmId"] == vm.to_string())
        .collect();
    assert_eq!(mine.len(), 1, "{alerts:#?}");
    assert_eq!(mine[0]["Health"], "Critical");
    assert_eq!(mine[0]["SubscriptionId"], w.tenant.id.to_string());
    assert!(mine[0]["RpoSeconds"].as_i64().unwrap() > 30 * 60);
    assert!(mine[0]["Reason"].as_str().unwrap().contains("RPO"));

    // Still Critical on the next run: no second alert.
    run_runbook(&w, "replication-health").await;
    let again = w
        .alerts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a["VmId"] == vm.to_string())
        .count();
    assert_eq!(again, 1);
}

async fn reconcile_mirrors_recreates_a_deleted_mirror_and_gives_replicas_back(backend: Backend) {
    let Some(w) = dr_world(backend).await else {
        return;
    };
    let vm = new_vm(&w, "mirrored").await;
    event(
        &w,
        json!({"event": "created", "stampId": w.stamp_a, "vmId": vm}),
    )
    .await;
    let replica = protected(&w, vm).await.replica_vm_id.unwrap();

    // Behind wapdr's back: the mirror deleted on B, the replica handed to someone else.
    let wap_b = wap_admin(&w.lab, 1);
    wap_b.delete_subscription(w.tenant.id).await.unwrap();
    let vmm_b = w.lab.stamps()[1].stamp_id;
    let stranger = Owner {
        user_name: Some("mallory@evil.lab".into()),
        role_name: Some("mallory".into()),
        role_id: Some(Uuid::new_v4()),
    };
    spf(&w.lab, 1)
        .set_vm_owner(vmm_b, replica, &stranger)
        .await
        .unwrap();

    let job = run_runbook(&w, "reconcile-mirrors").await;
    let report = &outputs(&job, "reconcile_mirror")[0];
    let fixed = report["fixed"].to_string();
    assert!(
        fixed.contains("recreated") && fixed.contains("given back"),
        "{report}"
    );

    let mirror = wap_b
        .get_subscription(w.tenant.id)
        .await
        .unwrap()
        .expect("the mirror again");
    assert_eq!(mirror.account_admin_live_email_id.as_deref(), Some(TENANT));
    assert_eq!(mirror.plan_id.as_deref(), Some("b-gold"));
    assert_eq!(format!("{:?}", mirror.state), "Suspended");
    let replica_vm = spf(&w.lab, 1)
        .get_vm(vmm_b, replica)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        replica_vm.owner.and_then(|o| o.role_id),
        Some(w.tenant.id.as_uuid())
    );

    // Nothing left to fix.
    let job = run_runbook(&w, "reconcile-mirrors").await;
    assert_eq!(outputs(&job, "reconcile_mirror")[0]["fixed"], json!([]));
}
