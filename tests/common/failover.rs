//! Failover test support: a protected tenant on stamp A, starting operations through the admin
//! API and waiting for their jobs, and reading what they did (the DR record, the job's report).

#![allow(dead_code)]

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::{DrSubscription, VmProtectionState};
use wapdr::store::{RunRecord, RunState};

use super::app::TestApp;
use super::dr::{
    DrWorld, Tenant, add_network, add_vms, admin, new_tenant, notification_body, notify_create,
    settled_lifecycle, until_all,
};

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
/// output (the `finish` step's).
pub async fn run_ok(app: &TestApp, tenant: &Tenant, body: Value) -> Value {
    let (status, started) = failover(app, tenant, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body} → {started}");
    let job = job_id(&started);
    let run = finished(app, job).await;
    assert_eq!(run.state, RunState::Succeeded, "{body}: {:?}", run.error);
    let steps = app.store().run_steps(job).await.expect("steps");
    let mut out = steps
        .into_iter()
        .find(|s| s.name == "finish")
        .and_then(|s| s.output)
        .expect("the finish step's output");
    out["job"] = json!({ "JobId": job.to_string() });
    out
}

/// The report of the job a [`run_ok`] output names.
pub async fn report(app: &TestApp, out: &Value) -> Value {
    let job = out["job"]["JobId"].as_str().expect("a job");
    let (status, report) = admin(app, Method::GET, &format!("/reports/{job}"), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

pub fn job_id(body: &Value) -> Uuid {
    Uuid::parse_str(body["JobId"].as_str().expect("a JobId")).expect("a GUID")
}

/// Polls a job until it ends (120 s at most).
pub async fn finished(app: &TestApp, job: Uuid) -> RunRecord {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = app.store().get_run(job).await.expect("store").expect("run");
        if matches!(
            run.state,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        ) || Instant::now() > deadline
        {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn dr(app: &TestApp, tenant: &Tenant) -> DrSubscription {
    app.store()
        .get_dr_subscription(tenant.id)
        .await
        .expect("store")
        .expect("a DR record")
}
