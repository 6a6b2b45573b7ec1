//! Helpers of the recovery plan failover tests: a protected tenant, plans and failovers through
//! the admin API, jobs, their steps and reports, and where the subscription and its VMs run.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;
use wapdr::domain::VmProtectionState;
use wapdr::fabric::wap_admin::AdminSubscriptionState;
use wapdr::store::{RunRecord, RunState, StepRecord};

use crate::common::app::TestApp;
use crate::common::dr::{
    DrWorld, Tenant, add_network, add_vms, admin, new_tenant, notification_body, notify_create,
    settled_lifecycle, until_all,
};

/// The failover steps every failover test shares; `stamp_id` is the world's stamp id as a GUID.
pub(crate) use crate::common::failover::{
    finished, job_id, vm_status, wap_state, world_uuid as stamp_id,
};

/// A tenant with `count` VMs on stamp A, DR enabled and every VM protected.
pub(crate) async fn protected_tenant(
    world: &DrWorld,
    user: &str,
    count: usize,
) -> (Tenant, Vec<Uuid>) {
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, user, "a-gold").await;
    let net = add_network(lab, &tenant, &format!("{user}-net")).await;
    let prefix = user.split('@').next().unwrap_or("vm");
    let vms = add_vms(lab, &tenant, "Gold", prefix, count, &[net]).await;
    let (status, body) =
        notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    settled_lifecycle(app, &tenant).await;
    let protected = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert!(
        protected.len() == count
            && protected
                .iter()
                .all(|vm| vm.state == VmProtectionState::Protected),
        "{protected:?}"
    );
    (tenant, vms)
}

/// `POST /admin/subscriptions/{id}/recovery-plans`; returns the new plan's id.
pub(crate) async fn create_plan(app: &TestApp, tenant: &Tenant, plan: Value) -> Uuid {
    let (status, body) = admin(
        app,
        Method::POST,
        &format!("/subscriptions/{}/recovery-plans", tenant.id),
        Some(plan),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    Uuid::parse_str(body["Id"].as_str().expect("plan Id")).expect("a GUID")
}

/// `POST /admin/subscriptions/{id}/recovery-plans/{plan}/failover`.
pub(crate) async fn plan_failover(
    app: &TestApp,
    tenant: &Tenant,
    plan: &str,
    body: Value,
) -> (StatusCode, Value) {
    admin(
        app,
        Method::POST,
        &format!(
            "/subscriptions/{}/recovery-plans/{plan}/failover",
            tenant.id
        ),
        Some(body),
    )
    .await
}

/// Starts an operation by `plan` as the provider (202 expected) and waits for its job to end.
pub(crate) async fn run_plan(app: &TestApp, tenant: &Tenant, plan: Uuid, body: Value) -> RunRecord {
    let (status, started) = plan_failover(app, tenant, &plan.to_string(), body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body} → {started}");
    assert_eq!(started["RecoveryPlanId"], plan.to_string(), "{started}");
    finished(app, job_id(&started)).await
}

/// Asserts a job succeeded and returns its `finish` step's output.
pub(crate) async fn succeeded(app: &TestApp, run: &RunRecord) -> Value {
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    steps(app, run.id)
        .await
        .into_iter()
        .find(|s| s.kind == "finish")
        .and_then(|s| s.output)
        .expect("the finish step's output")
}

/// The steps of a job, from the store.
pub(crate) async fn steps(app: &TestApp, job: Uuid) -> Vec<StepRecord> {
    app.store().run_steps(job).await.expect("steps")
}

/// The VM steps of a job in recovery plan group `group`.
pub(crate) fn vm_steps_of<'a>(steps: &'a [StepRecord], group: &str) -> Vec<&'a StepRecord> {
    steps
        .iter()
        .filter(|s| s.kind == "vm" && s.input["group"] == group)
        .collect()
}

/// The action steps of a job in group `group`, in order.
pub(crate) fn action_steps_of<'a>(steps: &'a [StepRecord], group: &str) -> Vec<&'a StepRecord> {
    steps
        .iter()
        .filter(|s| s.kind == "action" && s.input["context"]["Group"] == group)
        .collect()
}

/// When the first of `steps` started and the last finished (each must have done both).
pub(crate) fn span(steps: &[&StepRecord]) -> (OffsetDateTime, OffsetDateTime) {
    let start = steps
        .iter()
        .map(|s| {
            s.started_at
                .unwrap_or_else(|| panic!("'{}' started", s.name))
        })
        .min()
        .expect("steps");
    let end = steps
        .iter()
        .map(|s| {
            s.finished_at
                .unwrap_or_else(|| panic!("'{}' finished", s.name))
        })
        .max()
        .expect("steps");
    (start, end)
}

/// The admin report of a job.
pub(crate) async fn report(app: &TestApp, job: Uuid) -> Value {
    let (status, report) = admin(app, Method::GET, &format!("/reports/{job}"), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// The report's group named `name`.
pub(crate) fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["Groups"]
        .as_array()
        .expect("Groups")
        .iter()
        .find(|g| g["Name"] == name)
        .unwrap_or_else(|| panic!("group '{name}' in {report}"))
}

/// The VM ids a report group lists.
pub(crate) fn group_vms(group: &Value) -> Vec<String> {
    group["Vms"]
        .as_array()
        .expect("Vms")
        .iter()
        .map(|vm| vm["VmId"].as_str().expect("VmId").to_owned())
        .collect()
}

/// An RFC 3339 time of a report.
pub(crate) fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).expect("an RFC 3339 time")
}

/// When the first VM of a report group started and the last finished.
pub(crate) fn reported_span(group: &Value) -> (OffsetDateTime, OffsetDateTime) {
    let vms = group["Vms"].as_array().expect("Vms");
    let start = vms.iter().map(|vm| time_of(&vm["StartedAt"])).min();
    let end = vms.iter().map(|vm| time_of(&vm["FinishedAt"])).max();
    (start.expect("VMs"), end.expect("VMs"))
}

/// `GET /admin/jobs/{id}`.
pub(crate) async fn job_view(app: &TestApp, job: Uuid) -> Value {
    let (status, view) = admin(app, Method::GET, &format!("/jobs/{job}"), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view
}

/// Whether `body` is a WAP `Error` (`Code` and `Message`).
pub(crate) fn is_wap_error(body: &Value) -> bool {
    body["Code"].is_string() && body["Message"].is_string()
}

/// Which stamp is active for the subscription, as the DR record says.
pub(crate) async fn active_stamp(app: &TestApp, tenant: &Tenant) -> Option<Uuid> {
    app.store()
        .get_dr_subscription(tenant.id)
        .await
        .expect("store")
        .expect("a DR record")
        .active_stamp_id
}

/// Asserts the subscription runs on stamp B: active there, suspended on A, its VMs running on B.
pub(crate) async fn assert_on_b(world: &DrWorld, tenant: &Tenant, vms: &[Uuid]) {
    let (app, lab) = (&world.app, &world.lab);
    assert_eq!(active_stamp(app, tenant).await, Some(stamp_id(&world.b)));
    assert_eq!(
        wap_state(lab, 1, tenant).await,
        AdminSubscriptionState::Active
    );
    assert_eq!(
        wap_state(lab, 0, tenant).await,
        AdminSubscriptionState::Suspended
    );
    for record in until_all(app, tenant, vms, VmProtectionState::Protected).await {
        let replica = record.replica_vm_id.expect("replica");
        assert_eq!(vm_status(lab, 1, replica).await, "Running", "runs on B");
    }
}

/// Asserts the subscription still runs on stamp A: active there, suspended on B.
pub(crate) async fn assert_still_on_a(world: &DrWorld, tenant: &Tenant) {
    let (app, lab) = (&world.app, &world.lab);
    assert_eq!(active_stamp(app, tenant).await, Some(stamp_id(&world.a)));
    assert_eq!(
        wap_state(lab, 0, tenant).await,
        AdminSubscriptionState::Active
    );
    assert_eq!(
        wap_state(lab, 1, tenant).await,
        AdminSubscriptionState::Suspended
    );
}

/// Seconds from `a` to `b`.
pub(crate) fn seconds(a: OffsetDateTime, b: OffsetDateTime) -> f64 {
    (b - a).as_seconds_f64()
}

/// A time as RFC 3339 text.
pub(crate) fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).expect("formats")
}
