//! Failovers ordered by recovery plans, end to end on the lab over HTTP: a plan's groups run in
//! order with their delays and the VMs it does not name last; script webhooks get the failover's
//! context around their group, stop a planned failover when their answer fails (the same request
//! finishes it once fixed) but not an unplanned one, and never show their token; a manual step
//! holds its group until an operator acknowledges it, and the recovery time is shown with and
//! without the wait; a runbook action runs its runbook and waits for it; drills by plan are
//! reported (JSON and a self-contained HTML page) to the provider and the tenant; an unknown or
//! foreign plan is 404 and starts nothing.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::app::{Backend, TestApp, json_of};
use common::dr::{
    DrWorld, Tenant, add_network, add_vms, admin, gold_world, new_tenant, notification_body,
    notify_create, settled_lifecycle, until_all,
};
use common::lab::{set_outage, spf, wap_admin};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;
use wapdr::domain::VmProtectionState;
use wapdr::fabric::wap_admin::AdminSubscriptionState;
use wapdr::lab::LabHandle;
use wapdr::store::{RunRecord, RunState, StepRecord};

on_both_backends!(
    a_recovery_plan_orders_a_planned_failover_group_by_group_with_its_delay_and_the_rest_last,
    script_actions_get_the_failover_context_before_and_after_their_group,
    a_failing_script_stops_a_planned_failover_and_the_same_request_finishes_it_once_fixed,
    a_failing_script_does_not_stop_an_unplanned_failover_and_is_reported_as_a_warning,
    a_manual_step_holds_its_group_until_an_operator_acknowledges_it,
    a_runbook_action_runs_its_runbook_and_waits_and_an_unknown_runbook_fails_clearly,
    a_drill_by_plan_is_reported_listed_and_served_as_html_to_the_provider_and_its_tenant,
    a_failover_by_an_unknown_or_foreign_plan_is_not_found_and_starts_nothing,
);

/// The token every script webhook URL carries in its query; it must never show.
const TOKEN: &str = "s3cr3t-hook-token";

/// A tenant with `count` VMs on stamp A, DR enabled and every VM protected.
async fn protected_tenant(world: &DrWorld, user: &str, count: usize) -> (Tenant, Vec<Uuid>) {
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
async fn create_plan(app: &TestApp, tenant: &Tenant, plan: Value) -> Uuid {
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
async fn plan_failover(
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
async fn run_plan(app: &TestApp, tenant: &Tenant, plan: Uuid, body: Value) -> RunRecord {
    let (status, started) = plan_failover(app, tenant, &plan.to_string(), body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body} → {started}");
    assert_eq!(started["RecoveryPlanId"], plan.to_string(), "{started}");
    finished(app, job_id(&started)).await
}

fn job_id(body: &Value) -> Uuid {
    Uuid::parse_str(body["JobId"].as_str().expect("a JobId")).expect("a GUID")
}

/// Polls a job until it ends (120 s at most).
async fn finished(app: &TestApp, job: Uuid) -> RunRecord {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = app.store().get_run(job).await.expect("store").expect("run");
        if run.state.is_final() || Instant::now() > deadline {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts a job succeeded and returns its `finish` step's output.
async fn succeeded(app: &TestApp, run: &RunRecord) -> Value {
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    steps(app, run.id)
        .await
        .into_iter()
        .find(|s| s.kind == "finish")
        .and_then(|s| s.output)
        .expect("the finish step's output")
}

/// The steps of a job, from the store.
async fn steps(app: &TestApp, job: Uuid) -> Vec<StepRecord> {
    app.store().run_steps(job).await.expect("steps")
}

/// The VM steps of a job in recovery plan group `group`.
fn vm_steps_of<'a>(steps: &'a [StepRecord], group: &str) -> Vec<&'a StepRecord> {
    steps
        .iter()
        .filter(|s| s.kind == "vm" && s.input["group"] == group)
        .collect()
}

/// The action steps of a job in group `group`, in order.
fn action_steps_of<'a>(steps: &'a [StepRecord], group: &str) -> Vec<&'a StepRecord> {
    steps
        .iter()
        .filter(|s| s.kind == "action" && s.input["context"]["Group"] == group)
        .collect()
}

/// When the first of `steps` started and the last finished (each must have done both).
fn span(steps: &[&StepRecord]) -> (OffsetDateTime, OffsetDateTime) {
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
async fn report(app: &TestApp, job: Uuid) -> Value {
    let (status, report) = admin(app, Method::GET, &format!("/reports/{job}"), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

/// The report's group named `name`.
fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["Groups"]
        .as_array()
        .expect("Groups")
        .iter()
        .find(|g| g["Name"] == name)
        .unwrap_or_else(|| panic!("group '{name}' in {report}"))
}

/// The VM ids a report group lists.
fn group_vms(group: &Value) -> Vec<String> {
    group["Vms"]
        .as_array()
        .expect("Vms")
        .iter()
        .map(|vm| vm["VmId"].as_str().expect("VmId").to_owned())
        .collect()
}

/// An RFC 3339 time of a report.
fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().expect("a time"), &Rfc3339).expect("an RFC 3339 time")
}

/// When the first VM of a report group started and the last finished.
fn reported_span(group: &Value) -> (OffsetDateTime, OffsetDateTime) {
    let vms = group["Vms"].as_array().expect("Vms");
    let start = vms.iter().map(|vm| time_of(&vm["StartedAt"])).min();
    let end = vms.iter().map(|vm| time_of(&vm["FinishedAt"])).max();
    (start.expect("VMs"), end.expect("VMs"))
}

/// `GET /admin/jobs/{id}`.
async fn job_view(app: &TestApp, job: Uuid) -> Value {
    let (status, view) = admin(app, Method::GET, &format!("/jobs/{job}"), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view
}

/// Whether `body` is a WAP `Error` (`Code` and `Message`).
fn is_wap_error(body: &Value) -> bool {
    body["Code"].is_string() && body["Message"].is_string()
}

/// Which stamp is active for the subscription, as the DR record says.
async fn active_stamp(app: &TestApp, tenant: &Tenant) -> Option<Uuid> {
    app.store()
        .get_dr_subscription(tenant.id)
        .await
        .expect("store")
        .expect("a DR record")
        .active_stamp_id
}

/// The subscription's state in stamp `index`'s WAP.
async fn wap_state(lab: &LabHandle, index: usize, tenant: &Tenant) -> AdminSubscriptionState {
    wap_admin(lab, index)
        .get_subscription(tenant.id)
        .await
        .expect("WAP")
        .expect("the subscription on the stamp")
        .state
}

/// `Status` of VM `vm` on stamp `index`.
async fn vm_status(lab: &LabHandle, index: usize, vm: Uuid) -> String {
    let stamp = spf(lab, index).list_stamps().await.expect("SPF")[0].id;
    spf(lab, index)
        .get_vm(stamp, vm)
        .await
        .expect("SPF")
        .unwrap_or_else(|| panic!("VM {vm} on stamp {index}"))
        .status
        .unwrap_or_default()
}

/// Asserts the subscription runs on stamp B: active there, suspended on A, its VMs running on B.
async fn assert_on_b(world: &DrWorld, tenant: &Tenant, vms: &[Uuid]) {
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
async fn assert_still_on_a(world: &DrWorld, tenant: &Tenant) {
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

fn stamp_id(id: &str) -> Uuid {
    Uuid::parse_str(id).expect("stamp id")
}

/// Seconds from `a` to `b`.
fn seconds(a: OffsetDateTime, b: OffsetDateTime) -> f64 {
    (b - a).as_seconds_f64()
}

/// A time as RFC 3339 text.
fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).expect("formats")
}

/// Asserts `text` never shows the webhook token.
fn assert_no_token(what: &str, text: &str) {
    assert!(
        !text.contains(TOKEN),
        "{what} shows the webhook token: {text}"
    );
}

/// Asserts no step name or error of a job, nor the job's error, shows the webhook token.
async fn assert_job_hides_token(app: &TestApp, run: &RunRecord) {
    assert_no_token("the job's error", run.error.as_deref().unwrap_or_default());
    for step in steps(app, run.id).await {
        assert_no_token("a step name", &step.name);
        assert_no_token("a step error", step.error.as_deref().unwrap_or_default());
    }
    let report = report(app, run.id).await;
    for group in report["Groups"].as_array().expect("Groups") {
        for action in group["Actions"].as_array().expect("Actions") {
            assert_no_token("a reported action", &action.to_string());
        }
    }
    assert_no_token("the report's error", &report["Error"].to_string());
}

/// One call a [`Hooks`] server received.
#[derive(Debug, Clone)]
struct HookCall {
    query: Option<String>,
    idempotency_key: Option<String>,
    body: Value,
}

/// How a [`Hooks`] path answers: after `delay`, `status` with `body`.
#[derive(Debug, Clone)]
struct HookAnswer {
    status: u16,
    body: String,
    delay: Duration,
}

/// What a [`Hooks`] server answers per path, and the calls it got per path.
#[derive(Default)]
struct HookState {
    answers: HashMap<String, HookAnswer>,
    calls: HashMap<String, Vec<HookCall>>,
}

/// A stand-in for a provider's script webhooks: answers each path as told (200 "ok" unless
/// told otherwise) and keeps every call.
struct Hooks {
    base: String,
    state: Arc<Mutex<HookState>>,
}

impl Hooks {
    /// Starts the server on a free local port.
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(HookState::default()));
        let shared = state.clone();
        let router = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    let answer = {
                        let mut state = shared.lock().unwrap();
                        state
                            .calls
                            .entry(uri.path().to_owned())
                            .or_default()
                            .push(HookCall {
                                query: uri.query().map(str::to_owned),
                                idempotency_key: headers
                                    .get("idempotency-key")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            });
                        state.answers.get(uri.path()).cloned()
                    };
                    let answer = answer.unwrap_or(HookAnswer {
                        status: 200,
                        body: "ok".into(),
                        delay: Duration::ZERO,
                    });
                    tokio::time::sleep(answer.delay).await;
                    (
                        axum::http::StatusCode::from_u16(answer.status).unwrap(),
                        answer.body,
                    )
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            state,
        }
    }

    /// The URL of `path` as a plan names it, with the secret token in its query.
    fn url(&self, path: &str) -> String {
        format!("{}{path}?token={TOKEN}", self.base)
    }

    /// The URL of `path` as errors may show it (no query).
    fn shown(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// From now on `path` answers `status` with `body`.
    fn answer(&self, path: &str, status: u16, body: &str) {
        self.answer_after(path, Duration::ZERO, status, body);
    }

    /// From now on `path` answers `status` with `body` after `delay`.
    fn answer_after(&self, path: &str, delay: Duration, status: u16, body: &str) {
        let answer = HookAnswer {
            status,
            body: body.to_owned(),
            delay,
        };
        self.state
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answer);
    }

    /// The calls `path` got, in order.
    fn calls(&self, path: &str) -> Vec<HookCall> {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

/// A script action calling `url`.
fn script(url: &str) -> Value {
    json!({ "Kind": "Script", "Url": url, "TimeoutSeconds": 10 })
}

async fn a_recovery_plan_orders_a_planned_failover_group_by_group_with_its_delay_and_the_rest_last(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) = protected_tenant(&world, "ivy@tailspin.lab", 5).await;
    let (dbs, app_vm, web, extra) = (&vms[..2], vms[2], vms[3], vms[4]);
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Three tiers",
            "Groups": [
                { "Name": "Databases", "Vms": dbs },
                { "Name": "App", "Vms": [app_vm], "DelaySeconds": 2 },
                { "Name": "Web", "Vms": [web] },
            ],
        }),
    )
    .await;

    let run = run_plan(
        app,
        &tenant,
        plan,
        json!({ "kind": "planned", "reason": "move to B" }),
    )
    .await;
    let out = succeeded(app, &run).await;
    assert_eq!(out["phase"], "FailedOver", "{out}");
    assert_eq!(out["plan"]["name"], "Three tiers", "{out}");

    let report = report(app, run.id).await;
    assert_eq!(report["Plan"]["id"], plan.to_string(), "{report}");
    let order = ["Databases", "App", "Web", "Not in plan"];
    let names: Vec<&str> = report["Groups"]
        .as_array()
        .expect("Groups")
        .iter()
        .map(|g| g["Name"].as_str().expect("Name"))
        .collect();
    assert_eq!(names, order, "{report}");
    let expected = [dbs.to_vec(), vec![app_vm], vec![web], vec![extra]];
    for (name, vms) in order.iter().zip(&expected) {
        let group = group(&report, name);
        let mut listed = group_vms(group);
        listed.sort();
        let mut wanted: Vec<String> = vms.iter().map(Uuid::to_string).collect();
        wanted.sort();
        assert_eq!(listed, wanted, "{name}: {report}");
        assert!(
            group["Vms"]
                .as_array()
                .expect("Vms")
                .iter()
                .all(|v| v["Operation"] == "plannedFailover" && v["Result"] == "Succeeded"),
            "{name}: {report}"
        );
    }
    let delay = &group(&report, "App")["Delay"];
    assert_eq!(delay["Seconds"], 2, "{report}");
    assert!(
        delay["WaitedSeconds"].as_f64().expect("WaitedSeconds") >= 1.95,
        "the delay was waited: {report}"
    );
    assert!(
        report["Timing"]["DelaySeconds"]
            .as_f64()
            .expect("DelaySeconds")
            >= 1.95,
        "{report}"
    );
    assert_eq!(report["Skipped"], json!([]), "{report}");

    // As the report shows it: every VM of a group done before any VM of the next starts.
    let reported: Vec<_> = order
        .iter()
        .map(|name| reported_span(group(&report, name)))
        .collect();
    for pair in reported.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "a group started before the previous one was done: {reported:?}"
        );
    }
    let delay_start = time_of(&delay["StartedAt"]);
    assert!(
        reported[0].1 <= delay_start && time_of(&delay["FinishedAt"]) <= reported[1].0,
        "the delay runs between Databases and App: {report}"
    );
    // The same from the steps' own records.
    let steps = steps(app, run.id).await;
    let spans: Vec<_> = order
        .iter()
        .map(|g| span(&vm_steps_of(&steps, g)))
        .collect();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "a group started before the previous one was done: {spans:?}"
        );
    }
    assert!(
        seconds(spans[0].1, spans[1].0) >= 1.95,
        "App waited its 2 s after Databases: {spans:?}"
    );

    assert_on_b(&world, &tenant, &vms).await;
}

async fn script_actions_get_the_failover_context_before_and_after_their_group(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let hooks = Hooks::start().await;
    let (tenant, vms) = protected_tenant(&world, "jade@tailspin.lab", 2).await;
    let (db, web) = (vms[0], vms[1]);
    let db_name = app
        .store()
        .get_protected_vm(tenant.id, db)
        .await
        .expect("store")
        .expect("db record")
        .name;
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Hooks around databases",
            "Groups": [
                {
                    "Name": "Databases",
                    "Vms": [db],
                    "PreActions": [script(&hooks.url("/before-db"))],
                    "PostActions": [script(&hooks.url("/after-db"))],
                },
                { "Name": "Web", "Vms": [web] },
            ],
        }),
    )
    .await;

    let run = run_plan(app, &tenant, plan, json!({ "kind": "test" })).await;
    succeeded(app, &run).await;

    let (before, after) = (hooks.calls("/before-db"), hooks.calls("/after-db"));
    assert_eq!(
        (before.len(), after.len()),
        (1, 1),
        "each script is called once"
    );
    for (call, when) in [(&before[0], "Before"), (&after[0], "After")] {
        let context = &call.body;
        assert_eq!(context["JobId"], run.id.to_string(), "{context}");
        assert_eq!(
            context["SubscriptionId"],
            tenant.id.to_string(),
            "{context}"
        );
        assert_eq!(context["Operation"], "test", "{context}");
        assert_eq!(
            context["RecoveryPlan"], "Hooks around databases",
            "{context}"
        );
        assert_eq!(context["Group"], "Databases", "{context}");
        assert_eq!(context["When"], when, "{context}");
        assert_eq!(
            context["Vms"],
            json!([{ "VmId": db.to_string(), "Name": db_name }]),
            "only the group's VMs: {context}"
        );
        assert_eq!(
            call.query.as_deref(),
            Some(format!("token={TOKEN}").as_str())
        );
        assert!(
            call.idempotency_key
                .as_deref()
                .is_some_and(|k| !k.is_empty()),
            "{call:?}"
        );
    }
    assert_ne!(
        before[0].idempotency_key, after[0].idempotency_key,
        "each call has its own key"
    );

    let steps = steps(app, run.id).await;
    let actions = action_steps_of(&steps, "Databases");
    assert_eq!(actions.len(), 2, "{actions:?}");
    let (db_start, db_end) = span(&vm_steps_of(&steps, "Databases"));
    let (_, pre_end) = span(&actions[..1]);
    let (post_start, _) = span(&actions[1..]);
    assert!(
        pre_end <= db_start,
        "the pre-action ran before the group's VMs"
    );
    assert!(db_end <= post_start, "the post-action ran after them");
    let (web_start, _) = span(&vm_steps_of(&steps, "Web"));
    assert!(
        span(&actions[1..]).1 <= web_start,
        "and before the next group"
    );
    for action in actions {
        assert_no_token("a step name", &action.name);
    }
    let report = report(app, run.id).await;
    let reported = group(&report, "Databases")["Actions"]
        .as_array()
        .expect("Actions")
        .clone();
    assert!(
        reported.len() == 2
            && reported
                .iter()
                .all(|a| a["Kind"] == "Script" && a["Result"] == "Succeeded" && a["Detail"] == 200),
        "{report}"
    );
    assert!(
        report["Timing"]["ScriptSeconds"]
            .as_f64()
            .is_some_and(|s| s >= 0.0),
        "{report}"
    );
}

async fn a_failing_script_stops_a_planned_failover_and_the_same_request_finishes_it_once_fixed(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let hooks = Hooks::start().await;
    let (tenant, vms) = protected_tenant(&world, "kim@tailspin.lab", 3).await;
    let (db, app_vm, web) = (vms[0], vms[1], vms[2]);
    let gate = json!({
        "Kind": "Script",
        "Url": hooks.url("/gate"),
        "TimeoutSeconds": 1,
        "SuccessStatusCodes": [200],
        "SuccessBodyContains": "ready",
    });
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Gated app",
            "Groups": [
                { "Name": "Databases", "Vms": [db] },
                { "Name": "App", "Vms": [app_vm], "PreActions": [gate] },
            ],
        }),
    )
    .await;
    let request = json!({ "kind": "planned", "reason": "maintenance" });

    // An answer later than the action's 1 s timeout: called once, and the failover stops.
    hooks.answer_after("/gate", Duration::from_secs(3), 200, "ready");
    let run = run_plan(app, &tenant, plan, request.clone()).await;
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains(&hooks.shown("/gate")) && error.contains("did not answer in time"),
        "names the script and its timeout: {error}"
    );
    assert_eq!(hooks.calls("/gate").len(), 1, "a script is never retried");
    assert_job_hides_token(app, &run).await;
    assert_still_on_a(&world, &tenant).await;

    hooks.answer("/gate", 500, "database not reachable");
    let run = run_plan(app, &tenant, plan, request.clone()).await;
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains(&hooks.shown("/gate")) && error.contains("500"),
        "names the script and its status: {error}"
    );
    assert_job_hides_token(app, &run).await;
    let steps = steps(app, run.id).await;
    for group in ["App", "Not in plan"] {
        let not_started = vm_steps_of(&steps, group);
        assert!(
            !not_started.is_empty() && not_started.iter().all(|s| s.started_at.is_none()),
            "{group} never started: {not_started:?}"
        );
    }
    for vm in [app_vm, web] {
        assert_eq!(vm_status(lab, 0, vm).await, "Running", "still on A");
    }
    assert_still_on_a(&world, &tenant).await;
    let (_, view) = admin(
        app,
        Method::GET,
        &format!("/subscriptions/{}/dr", tenant.id),
        None,
    )
    .await;
    assert_eq!(view["Failover"]["Phase"], "Replicating", "{view}");

    // 200 without the text the rule wants: still a failure, naming the rule.
    hooks.answer("/gate", 200, "not yet");
    let run = run_plan(app, &tenant, plan, request.clone()).await;
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains(&hooks.shown("/gate")) && error.contains("200") && error.contains("ready"),
        "names the script, its status and the rule: {error}"
    );
    assert_job_hides_token(app, &run).await;
    assert_still_on_a(&world, &tenant).await;

    hooks.answer("/gate", 200, "app tier ready");
    let run = run_plan(app, &tenant, plan, request).await;
    let out = succeeded(app, &run).await;
    assert_eq!(out["phase"], "FailedOver", "{out}");
    assert_eq!(hooks.calls("/gate").len(), 4, "one call per attempt");
    let report = report(app, run.id).await;
    assert_eq!(report["VmCounts"]["Succeeded"], 3, "{report}");
    assert_on_b(&world, &tenant, &vms).await;
}

async fn a_failing_script_does_not_stop_an_unplanned_failover_and_is_reported_as_a_warning(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let hooks = Hooks::start().await;
    let (tenant, vms) = protected_tenant(&world, "lou@tailspin.lab", 2).await;
    let (db, web) = (vms[0], vms[1]);
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Notify after databases",
            "Groups": [
                { "Name": "Databases", "Vms": [db], "PostActions": [script(&hooks.url("/notify"))] },
                { "Name": "Web", "Vms": [web] },
            ],
        }),
    )
    .await;
    hooks.answer("/notify", 500, "pager down");
    let a_name = lab.stamps()[0].name.clone();
    set_outage(lab, &a_name, true).await;

    let run = run_plan(
        app,
        &tenant,
        plan,
        json!({ "kind": "unplanned", "sourceDown": true, "reason": "site A lost" }),
    )
    .await;
    let out = succeeded(app, &run).await;
    assert_eq!(out["phase"], "FailedOver", "{out}");
    assert_eq!(hooks.calls("/notify").len(), 1);
    let warnings = out["warnings"].as_array().expect("warnings").clone();
    assert!(
        warnings.len() == 1
            && warnings[0]
                .as_str()
                .is_some_and(|w| w.contains(&hooks.shown("/notify")) && w.contains("500")),
        "the failed script is named: {out}"
    );
    assert_no_token("the finish output", &out.to_string());
    assert_job_hides_token(app, &run).await;
    let report = report(app, run.id).await;
    let action = &group(&report, "Databases")["Actions"][0];
    assert_eq!(action["Result"], "Failed", "{report}");
    assert!(
        action["Error"].as_str().is_some_and(|e| e.contains("500")),
        "{report}"
    );
    assert_eq!(report["VmCounts"]["Succeeded"], 2, "{report}");
    assert_eq!(report["VmCounts"]["Failed"], 0, "{report}");
    assert_eq!(active_stamp(app, &tenant).await, Some(stamp_id(&world.b)));
    assert_eq!(
        wap_state(lab, 1, &tenant).await,
        AdminSubscriptionState::Active
    );
    for record in until_all(app, &tenant, &vms, VmProtectionState::Protected).await {
        let replica = record.replica_vm_id.expect("replica");
        assert_eq!(vm_status(lab, 1, replica).await, "Running", "runs on B");
    }
}

async fn a_manual_step_holds_its_group_until_an_operator_acknowledges_it(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, vms) = protected_tenant(&world, "max@tailspin.lab", 2).await;
    let (db, app_vm) = (vms[0], vms[1]);
    let prompt = "Confirm the database replica is consistent before the app starts";
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Checked app",
            "Groups": [
                { "Name": "Databases", "Vms": [db] },
                { "Name": "App", "Vms": [app_vm], "PreActions": [{ "Kind": "Manual", "Prompt": prompt }] },
            ],
        }),
    )
    .await;
    let (status, started) = plan_failover(
        app,
        &tenant,
        &plan.to_string(),
        json!({ "kind": "planned" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let job = job_id(&started);

    let deadline = Instant::now() + Duration::from_secs(60);
    let view = loop {
        let view = job_view(app, job).await;
        if view["State"] == "Waiting" {
            break view;
        }
        assert!(
            Instant::now() < deadline
                && !["Succeeded", "Failed", "Cancelled"]
                    .contains(&view["State"].as_str().unwrap_or_default()),
            "the job waits for the operator: {view}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let job_steps = view["Steps"].as_array().expect("Steps");
    let waiting: Vec<&Value> = job_steps
        .iter()
        .filter(|s| s["State"] == "Waiting")
        .collect();
    assert_eq!(waiting.len(), 1, "{view}");
    let manual = waiting[0];
    assert_eq!(manual["WaitingFor"], "ack", "{view}");
    assert!(
        manual["AckPrompt"]
            .as_str()
            .is_some_and(|p| p.contains(prompt)),
        "the prompt is shown: {view}"
    );
    let app_step = job_steps
        .iter()
        .find(|s| {
            s["Kind"] == "vm"
                && s["Input"]
                    .as_str()
                    .is_some_and(|i| i.contains(&app_vm.to_string()))
        })
        .expect("the App VM's step");
    assert!(
        app_step["State"] == "Pending" && app_step["StartedAt"].is_null(),
        "no VM of the group has started: {app_step}"
    );
    assert_eq!(
        vm_status(lab, 0, app_vm).await,
        "Running",
        "the app still runs on A"
    );

    // The job keeps waiting while nobody answers.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(job_view(app, job).await["State"], "Waiting");
    let step_id = manual["Id"].as_i64().expect("step Id");
    let (status, body) = admin(
        app,
        Method::POST,
        &format!("/jobs/{job}/steps/{step_id}/acknowledge"),
        Some(json!({ "by": "oncall@tailspin.lab", "comment": "replica checked" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = finished(app, job).await;
    succeeded(app, &run).await;
    let (status, body) = admin(
        app,
        Method::POST,
        &format!("/jobs/{job}/steps/{step_id}/acknowledge"),
        Some(json!({ "by": "someone.else" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "acknowledged once: {body}");

    let report = report(app, job).await;
    let action = &group(&report, "App")["Actions"][0];
    assert_eq!(action["Kind"], "Manual", "{report}");
    assert_eq!(action["AcknowledgedBy"], "oncall@tailspin.lab", "{report}");
    assert_eq!(action["Comment"], "replica checked", "{report}");
    assert_eq!(action["Prompt"], prompt, "{report}");
    let timing = &report["Timing"];
    let manual_wait = timing["ManualWaitSeconds"]
        .as_f64()
        .expect("ManualWaitSeconds");
    let rto = timing["RtoSeconds"].as_f64().expect("RtoSeconds");
    let without = timing["RtoExcludingManualAndScriptsSeconds"]
        .as_f64()
        .expect("RtoExcludingManualAndScriptsSeconds");
    assert!(
        manual_wait >= 1.5,
        "the operator's wait is counted: {timing}"
    );
    assert_eq!(timing["ScriptSeconds"], 0.0, "{timing}");
    assert!(
        (rto - without - manual_wait).abs() < 0.01 && without < rto,
        "the RTO without manual steps is shorter by the wait: {timing}"
    );
    assert_on_b(&world, &tenant, &vms).await;
}

async fn a_runbook_action_runs_its_runbook_and_waits_and_an_unknown_runbook_fails_clearly(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    // reconcile-mirrors runs when a plan starts it, not on a schedule tick mid-test.
    let (status, view) = admin(
        app,
        Method::PUT,
        "/runbooks/reconcile-mirrors",
        Some(json!({ "schedule": null })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (tenant, vms) = protected_tenant(&world, "ned@tailspin.lab", 2).await;
    let (db, app_vm) = (vms[0], vms[1]);

    let unknown = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Unknown runbook",
            "Groups": [{ "Name": "Databases", "Vms": [db], "PreActions": [{ "Kind": "Runbook", "Runbook": "no-such-runbook" }] }],
        }),
    )
    .await;
    let run = run_plan(app, &tenant, unknown, json!({ "kind": "test" })).await;
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains("'no-such-runbook'") && error.contains("not known"),
        "says which runbook and why: {error}"
    );
    assert!(
        steps(app, run.id)
            .await
            .iter()
            .filter(|s| s.kind == "vm")
            .all(|s| s.started_at.is_none()),
        "no VM started"
    );
    let test_copies = spf(lab, 1)
        .list_vms(&Default::default())
        .await
        .expect("SPF-B")
        .into_iter()
        .filter(|vm| vm.name.ends_with("-test"))
        .count();
    assert_eq!(test_copies, 0, "no drill VM on B");

    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Mirrors before the app",
            "Groups": [
                { "Name": "Databases", "Vms": [db] },
                { "Name": "App", "Vms": [app_vm], "PreActions": [{ "Kind": "Runbook", "Runbook": "reconcile-mirrors" }] },
            ],
        }),
    )
    .await;
    let run = run_plan(app, &tenant, plan, json!({ "kind": "planned" })).await;
    succeeded(app, &run).await;

    let (status, jobs) = admin(app, Method::GET, "/jobs?workflow=reconcile_mirrors", None).await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    let started: Vec<&Value> = jobs
        .as_array()
        .expect("a job list")
        .iter()
        .filter(|j| {
            let params: Value = serde_json::from_str(j["Parameters"].as_str().unwrap_or("null"))
                .unwrap_or_default();
            params["recoveryPlanContext"]["JobId"] == run.id.to_string()
        })
        .collect();
    assert_eq!(started.len(), 1, "one runbook job for the action: {jobs}");
    let params: Value =
        serde_json::from_str(started[0]["Parameters"].as_str().expect("Parameters")).expect("JSON");
    let context = &params["recoveryPlanContext"];
    assert_eq!(context["Group"], "App", "{context}");
    assert_eq!(context["When"], "Before", "{context}");
    assert_eq!(
        context["RecoveryPlan"], "Mirrors before the app",
        "{context}"
    );
    assert_eq!(
        context["SubscriptionId"],
        tenant.id.to_string(),
        "{context}"
    );
    let runbook_job = job_id(&json!({ "JobId": started[0]["Id"] }));
    let runbook_run = app
        .store()
        .get_run(runbook_job)
        .await
        .expect("store")
        .expect("the runbook's run");
    assert_eq!(
        runbook_run.state,
        RunState::Succeeded,
        "{:?}",
        runbook_run.error
    );
    let steps = steps(app, run.id).await;
    let (app_start, _) = span(&vm_steps_of(&steps, "App"));
    assert!(
        runbook_run.finished_at.expect("finished") <= app_start,
        "the App group waited for the runbook"
    );
    let report = report(app, run.id).await;
    let action = &group(&report, "App")["Actions"][0];
    assert!(
        action["Kind"] == "Runbook" && action["Result"] == "Succeeded",
        "{report}"
    );
    assert_on_b(&world, &tenant, &vms).await;
}

async fn a_drill_by_plan_is_reported_listed_and_served_as_html_to_the_provider_and_its_tenant(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) = protected_tenant(&world, "olga@tailspin.lab", 2).await;
    let (other, _) = protected_tenant(&world, "pete@tailspin.lab", 1).await;
    let (db, web) = (vms[0], vms[1]);
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Web & DB drill",
            "Groups": [
                { "Name": "Databases", "Vms": [db] },
                { "Name": "Web", "Vms": [web] },
            ],
        }),
    )
    .await;
    // The tenant runs the drill by its plan (its SelfService allows drills).
    let response = app
        .tenant(
            Method::POST,
            &format!(
                "/subscriptions/{}/recovery-plans/{plan}/failover",
                tenant.id
            ),
            Some(&tenant.user),
        )
        .json(&json!({ "kind": "test", "reason": "quarterly drill" }))
        .send()
        .await
        .expect("tenant call");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let started = json_of(response).await;
    assert_eq!(started["RecoveryPlanId"], plan.to_string(), "{started}");
    let run = finished(app, job_id(&started)).await;
    succeeded(app, &run).await;
    let job = run.id.to_string();

    let report = report(app, run.id).await;
    assert_eq!(report["Kind"], "test", "{report}");
    assert_eq!(report["Plan"]["name"], "Web & DB drill", "{report}");
    assert_eq!(report["Reason"], "quarterly drill", "{report}");
    assert_eq!(report["StartedBy"], tenant.user, "{report}");
    assert_eq!(group_vms(group(&report, "Databases")), [db.to_string()]);
    assert_eq!(group_vms(group(&report, "Web")), [web.to_string()]);
    for vm in report["Groups"]
        .as_array()
        .expect("Groups")
        .iter()
        .flat_map(|g| g["Vms"].as_array().expect("Vms"))
    {
        assert!(
            vm["Operation"] == "testFailover"
                && vm["Result"] == "Succeeded"
                && vm["Tasks"].as_array().is_some_and(|t| !t.is_empty()),
            "per-VM tasks: {vm}"
        );
    }
    let rto = report["Timing"]["RtoSeconds"].as_f64().expect("RtoSeconds");

    let list = |query: String| async move {
        let (status, body) = admin(app, Method::GET, &format!("/reports?{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["Reports"]
            .as_array()
            .expect("Reports")
            .iter()
            .map(|r| r["JobId"].as_str().expect("JobId").to_owned())
            .collect::<Vec<_>>()
    };
    let sub = tenant.id;
    assert_eq!(
        list(format!("subscription={sub}&kind=test")).await,
        [job.clone()]
    );
    assert!(
        list(format!("subscription={sub}&kind=planned"))
            .await
            .is_empty()
    );
    assert!(
        !list(format!("subscription={}", other.id))
            .await
            .contains(&job)
    );
    let created = OffsetDateTime::parse(report["CreatedAt"].as_str().expect("CreatedAt"), &Rfc3339)
        .expect("an RFC 3339 time");
    let second = time::Duration::seconds(1);
    let (before, after) = (rfc3339(created - second), rfc3339(created + second));
    assert_eq!(
        list(format!("subscription={sub}&from={before}&to={after}")).await,
        [job.clone()]
    );
    assert!(
        list(format!("subscription={sub}&from={after}"))
            .await
            .is_empty()
    );
    assert!(
        list(format!("subscription={sub}&to={before}"))
            .await
            .is_empty()
    );
    for bad in [
        "kind=sideways",
        "from=yesterday",
        "to=2026-13-01",
        "subscription=not-a-guid",
        "limit=0",
        "after=not-a-job",
    ] {
        let (status, body) = admin(app, Method::GET, &format!("/reports?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(is_wap_error(&body), "{bad}: {body}");
    }

    let page = app
        .admin(Method::GET, &format!("/reports/{job}/html"))
        .send()
        .await
        .expect("GET html");
    assert_eq!(page.status(), StatusCode::OK);
    let content_type = page.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.expect("the page");
    for fetches in ["<script", "src=", "href="] {
        assert!(!html.contains(fetches), "self-contained, yet has {fetches}");
    }
    assert!(html.contains("Web &amp; DB drill"), "the plan's name");
    assert!(html.contains("Recovery time (RTO)") && html.contains(&format!("{rto:.1} s")));

    let tenant_get = |who: &Tenant, path: String| {
        app.tenant(
            Method::GET,
            &format!("/subscriptions/{}{path}", who.id),
            Some(&who.user),
        )
        .send()
    };
    let own = json_of(
        tenant_get(&tenant, "/reports".into())
            .await
            .expect("tenant"),
    )
    .await;
    assert!(
        own["Reports"]
            .as_array()
            .is_some_and(|r| r.len() == 1 && r[0]["JobId"] == job),
        "{own}"
    );
    let response = tenant_get(&tenant, format!("/reports/{job}"))
        .await
        .expect("tenant");
    assert_eq!(response.status(), StatusCode::OK);
    let seen = json_of(response).await;
    assert_eq!(seen["JobId"], job);
    assert_eq!(seen["Plan"]["name"], "Web & DB drill");
    let response = tenant_get(&tenant, format!("/reports/{job}/html"))
        .await
        .expect("tenant");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );

    let theirs = json_of(tenant_get(&other, "/reports".into()).await.expect("tenant")).await;
    assert_eq!(theirs["Reports"], json!([]), "{theirs}");
    for path in [format!("/reports/{job}"), format!("/reports/{job}/html")] {
        let response = tenant_get(&other, path.clone()).await.expect("tenant");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = json_of(response).await;
        assert!(is_wap_error(&body), "{path}: {body}");
    }
    let response = app
        .tenant(
            Method::GET,
            &format!("/subscriptions/{}/reports/{job}", tenant.id),
            Some(&other.user),
        )
        .send()
        .await
        .expect("tenant");
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "not their subscription"
    );
}

async fn a_failover_by_an_unknown_or_foreign_plan_is_not_found_and_starts_nothing(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "quin@tailspin.lab", 2).await;
    let (other, other_vms) = protected_tenant(&world, "rosa@tailspin.lab", 1).await;
    let foreign = create_plan(
        app,
        &other,
        json!({ "Name": "Theirs", "Groups": [{ "Name": "All", "Vms": [other_vms[0]] }] }),
    )
    .await;

    let unknown = Uuid::new_v4();
    for plan in [
        unknown.to_string(),
        "not-a-plan".into(),
        foreign.to_string(),
    ] {
        let (status, body) = plan_failover(app, &tenant, &plan, json!({ "kind": "planned" })).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{plan}: {body}");
        assert!(is_wap_error(&body), "{plan}: {body}");
    }
    let (_, body) = plan_failover(
        app,
        &tenant,
        &unknown.to_string(),
        json!({ "kind": "planned" }),
    )
    .await;
    assert!(
        body["Message"]
            .as_str()
            .is_some_and(|m| m.contains(&unknown.to_string())),
        "names the plan: {body}"
    );
    let response = app
        .tenant(
            Method::POST,
            &format!(
                "/subscriptions/{}/recovery-plans/{foreign}/failover",
                tenant.id
            ),
            Some(&tenant.user),
        )
        .json(&json!({ "kind": "test" }))
        .send()
        .await
        .expect("tenant call");
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "the tenant's drill by a foreign plan"
    );
    assert!(is_wap_error(&json_of(response).await));

    let (status, jobs) = admin(
        app,
        Method::GET,
        &format!("/jobs?workflow=failover&subscription={}", tenant.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{jobs}");
    assert_eq!(jobs, json!([]), "no failover job started");
    assert!(
        app.store()
            .get_failover(tenant.id)
            .await
            .expect("store")
            .is_none(),
        "no operation was recorded"
    );
    assert_still_on_a(&world, &tenant).await;
}
