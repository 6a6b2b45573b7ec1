//! Failover tests' shared steps on a [`DrWorld`]: a protected tenant, starting an operation
//! through the admin API and waiting for its job, reading where the subscription and its VMs
//! are (the DR record, the DR view, each stamp's WAP and SPF), and letting a commit window's or
//! drill's deadline pass without waiting its minutes.
//!
//! Deadlines are minutes of the database clock. [`let_time_pass`] moves both stored times of an
//! open deadline to a second ago — the failover record's `Deadline.At` and the `not_before` of
//! the timer run's waiting step — so the `failover_deadline` run then acts by itself through the
//! engine, as it would once the minutes had gone by.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;
use wapdr::domain::{DrSubscription, VmProtectionState};
use wapdr::fabric::wap_admin::AdminSubscriptionState;
use wapdr::lab::LabHandle;
use wapdr::store::{RunFilter, RunRecord, RunState, WaitKind};

use super::app::TestApp;
use super::dr::{
    DrWorld, Tenant, add_network, add_vms, admin, new_tenant, notification_body, notify_create,
    settled_lifecycle, until_all,
};
use super::lab::{spf, wap_admin};

/// A tenant with `count` VMs on stamp A, DR enabled (with `quota`) and every VM protected.
pub async fn protected_tenant(
    world: &DrWorld,
    user: &str,
    count: usize,
    quota: &[(&str, &str)],
) -> (Tenant, Vec<Uuid>) {
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, user, "a-gold").await;
    let net = add_network(lab, &tenant, &format!("{user}-net")).await;
    let vms = add_vms(
        lab,
        &tenant,
        "Gold",
        user.split('@').next().unwrap_or("vm"),
        count,
        &[net],
    )
    .await;
    let mut settings = vec![("DrEnabled", "true")];
    settings.extend_from_slice(quota);
    let (status, body) = notify_create(app, &notification_body(&tenant, &settings)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    settled_lifecycle(app, &tenant).await;
    let protected = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert!(
        protected.len() == count
            && protected
                .iter()
                .all(|vm| vm.state == VmProtectionState::Protected && vm.replica_owned),
        "{protected:?}"
    );
    (tenant, vms)
}

/// `POST /admin/subscriptions/{id}/failover`.
pub async fn failover(app: &TestApp, tenant: &Tenant, body: Value) -> (StatusCode, Value) {
    admin(
        app,
        Method::POST,
        &format!("/subscriptions/{}/failover", tenant.id),
        Some(body),
    )
    .await
}

/// Starts an operation as the provider and waits for its job to succeed; returns the final
/// output (the `finish` step's, with the job under `job`).
pub async fn run_ok(app: &TestApp, tenant: &Tenant, body: Value) -> Value {
    let (status, started) = failover(app, tenant, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body} → {started}");
    finish_output(app, job_id(&started)).await
}

/// Waits for failover job `job` to succeed; returns its `finish` step's output with the job
/// under `job`.
pub async fn finish_output(app: &TestApp, job: Uuid) -> Value {
    let run = finished(app, job).await;
    assert_eq!(run.state, RunState::Succeeded, "job {job}: {:?}", run.error);
    let steps = app.store().run_steps(job).await.expect("steps");
    let mut out = steps
        .into_iter()
        .find(|s| s.name == "finish")
        .and_then(|s| s.output)
        .expect("the finish step's output");
    out["job"] = json!({ "JobId": job.to_string() });
    out
}

/// The `JobId` of an answer or a [`run_ok`] output's `job`.
pub fn job_id(body: &Value) -> Uuid {
    Uuid::parse_str(body["JobId"].as_str().expect("a JobId")).expect("a GUID")
}

/// Polls a job until it ends (120 s at most).
pub async fn finished(app: &TestApp, job: Uuid) -> RunRecord {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = app.store().get_run(job).await.expect("store").expect("run");
        if run.state.is_final() || Instant::now() > deadline {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The subscription's DR record.
pub async fn dr(app: &TestApp, tenant: &Tenant) -> DrSubscription {
    app.store()
        .get_dr_subscription(tenant.id)
        .await
        .expect("store")
        .expect("a DR record")
}

/// The `Failover` member of `GET /admin/subscriptions/{id}/dr`.
pub async fn failover_view(app: &TestApp, tenant: &Tenant) -> Value {
    let (status, view) = admin(
        app,
        Method::GET,
        &format!("/subscriptions/{}/dr", tenant.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view["Failover"].clone()
}

/// The subscription's state in stamp `index`'s WAP.
pub async fn wap_state(lab: &LabHandle, index: usize, tenant: &Tenant) -> AdminSubscriptionState {
    wap_admin(lab, index)
        .get_subscription(tenant.id)
        .await
        .expect("WAP")
        .expect("the subscription on the stamp")
        .state
}

/// `Status` of VM `vm` on stamp `index`.
pub async fn vm_status(lab: &LabHandle, index: usize, vm: Uuid) -> String {
    let stamp = spf(lab, index).list_stamps().await.expect("SPF")[0].id;
    spf(lab, index)
        .get_vm(stamp, vm)
        .await
        .expect("SPF")
        .unwrap_or_else(|| panic!("VM {vm} on stamp {index}"))
        .status
        .unwrap_or_default()
}

/// The drill VMs (test failover copies) on stamp B.
pub async fn test_vms_on_b(lab: &LabHandle) -> Vec<String> {
    spf(lab, 1)
        .list_vms(&Default::default())
        .await
        .expect("SPF-B")
        .into_iter()
        .filter(|vm| vm.name.ends_with("-test"))
        .map(|vm| vm.name)
        .collect()
}

/// A stamp id of the world as a GUID.
pub fn world_uuid(id: &str) -> Uuid {
    Uuid::parse_str(id).expect("stamp id")
}

/// The database clock now.
pub async fn database_now(app: &TestApp) -> OffsetDateTime {
    app.store().database_now().await.expect("store")
}

/// The subscription's runs of `workflow`, oldest first.
pub async fn runs_of(app: &TestApp, tenant: &Tenant, workflow: &str) -> Vec<RunRecord> {
    let mut runs = app
        .store()
        .list_runs(&RunFilter {
            workflow: Some(workflow.into()),
            subscription_id: Some(tenant.id.to_string()),
            ..RunFilter::default()
        })
        .await
        .expect("store");
    runs.sort_by_key(|r| r.id);
    runs
}

/// The `failover_deadline` run of the deadline job `opened_by` opened, once its wait step is
/// waiting for the deadline (20 s at most).
pub async fn waiting_timer(app: &TestApp, tenant: &Tenant, opened_by: Uuid) -> RunRecord {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let timer = runs_of(app, tenant, "failover_deadline")
            .await
            .into_iter()
            .find(|r| r.params["openedBy"] == opened_by.to_string())
            .unwrap_or_else(|| panic!("no timer for the deadline of job {opened_by}"));
        let steps = app.store().run_steps(timer.id).await.expect("steps");
        let waiting = steps
            .iter()
            .any(|s| s.kind == "wait" && s.wait == Some(WaitKind::Until));
        if waiting {
            return timer;
        }
        assert!(
            Instant::now() < deadline,
            "the timer never waited: {steps:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lets the timer's time pass: the subscription's open deadline (if any) and the timer's waiting
/// step are both moved to a second ago by the database clock, as if the minutes had gone by.
pub async fn let_time_pass(app: &TestApp, tenant: &Tenant, timer: &RunRecord) {
    let past = database_now(app).await - time::Duration::seconds(1);
    let store = app.store();
    let mut record = store
        .get_failover(tenant.id)
        .await
        .expect("store")
        .expect("a failover record");
    if let Some(deadline) = record.deadline.as_mut() {
        deadline.at = past;
        store.save_failover(&record).await.expect("deadline moved");
    }
    // The deadline first: a timer woken before it moved would find it not due yet. The step's
    // time is written as the store writes times (fixed-width UTC text, which SQLite compares).
    let past = past
        .to_offset(time::UtcOffset::UTC)
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("a time");
    app.execute(&format!(
        "UPDATE workflow_steps SET not_before = '{past}' \
         WHERE run_id = '{}' AND state = 'Waiting' AND wait_kind = 'until'",
        timer.id
    ))
    .await;
}

/// Waits for the timer to end and returns its `expire` step's output.
pub async fn timer_outcome(app: &TestApp, timer: &RunRecord) -> Value {
    let run = finished(app, timer.id).await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    app.store()
        .run_steps(timer.id)
        .await
        .expect("steps")
        .into_iter()
        .find(|s| s.kind == "expire")
        .and_then(|s| s.output)
        .expect("the expire step's output")
}

/// The job the timer started for `action`, checked to be a `failover` job of `action` that
/// wapdr started on the deadline's word.
pub async fn started_by_timer(app: &TestApp, timer: &RunRecord, action: &str) -> Uuid {
    let outcome = timer_outcome(app, timer).await;
    assert_eq!(outcome["started"], action, "{outcome}");
    let job = job_id(&json!({ "JobId": outcome["jobId"] }));
    let run = app.store().get_run(job).await.expect("store").expect("run");
    assert_eq!(run.workflow, "failover");
    assert_eq!(run.params["kind"], action, "{:?}", run.params);
    assert_eq!(run.trigger, "deadline");
    assert_eq!(run.started_by, "wapdr");
    job
}

/// Where a tenant VM runs, by the lab's two SPFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmCopies {
    /// The primary (on A) is Running.
    pub on_a: bool,
    /// Its replica on B is Running.
    pub on_b: bool,
    /// How many replicas B holds (one once protected, never two).
    pub replicas: usize,
}

/// Where primary VM `vm` (on A) and its replicas on B run now.
pub async fn vm_copies(lab: &LabHandle, vm: Uuid) -> VmCopies {
    let replicas = super::dr::replicas_on_b(lab, vm).await;
    let a_stamp = spf(lab, 0).list_stamps().await.expect("SPF-A")[0].id;
    let on_a = spf(lab, 0)
        .get_vm(a_stamp, vm)
        .await
        .expect("SPF-A")
        .and_then(|v| v.status)
        .as_deref()
        == Some("Running");
    VmCopies {
        on_a,
        on_b: replicas
            .iter()
            .any(|r| r.status.as_deref() == Some("Running")),
        replicas: replicas.len(),
    }
}
