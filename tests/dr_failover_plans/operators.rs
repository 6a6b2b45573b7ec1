//! Actions that involve more than a webhook: a manual step an operator acknowledges through the
//! API, and a runbook of wapdr's that the failover starts and waits for.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wapdr::store::RunState;

use crate::common::app::Backend;
use crate::common::dr::{admin, gold_world, unschedule};
use crate::common::lab::spf;
use crate::support::*;

pub(crate) async fn a_manual_step_holds_its_group_until_an_operator_acknowledges_it(
    backend: Backend,
) {
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

pub(crate) async fn a_runbook_action_runs_its_runbook_and_waits_and_an_unknown_runbook_fails_clearly(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    unschedule(app, "reconcile-mirrors").await;
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

pub(crate) async fn a_tenant_follows_its_jobs_and_acknowledges_its_own_drills_manual_step(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) = protected_tenant(&world, "nell@tailspin.lab", 2).await;
    let (other, _) = protected_tenant(&world, "otto@tailspin.lab", 1).await;
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Checked drill",
            "Groups": [
                { "Name": "All", "Vms": vms, "PreActions": [{ "Kind": "Manual", "Prompt": "Tell the app team" }] },
            ],
        }),
    )
    .await;
    let tenant_call =
        |method: Method, path: String, who: &str| app.tenant(method, &path, Some(who));
    // The plan's SelfService is Drill (the default): the tenant runs the drill itself.
    let started = tenant_call(
        Method::POST,
        format!(
            "/subscriptions/{}/recovery-plans/{plan}/failover",
            tenant.id
        ),
        &tenant.user,
    )
    .json(&json!({ "kind": "test" }))
    .send()
    .await
    .expect("tenant call");
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let job = job_id(&started.json().await.expect("JSON"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while job_view(app, job).await["State"] != "Waiting" {
        assert!(Instant::now() < deadline, "the drill waits for the tenant");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let listed: Value = tenant_call(
        Method::GET,
        format!("/subscriptions/{}/jobs", tenant.id),
        &tenant.user,
    )
    .send()
    .await
    .expect("tenant call")
    .json()
    .await
    .expect("JSON");
    assert!(
        listed
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["Id"] == job.to_string() && j["State"] == "Waiting"),
        "the tenant follows its drill: {listed}"
    );
    let detail: Value = tenant_call(
        Method::GET,
        format!("/subscriptions/{}/jobs/{job}", tenant.id),
        &tenant.co_admin,
    )
    .send()
    .await
    .expect("tenant call")
    .json()
    .await
    .expect("JSON");
    let step = detail["Steps"]
        .as_array()
        .expect("Steps")
        .iter()
        .find(|s| s["State"] == "Waiting")
        .expect("the manual step")["Id"]
        .as_i64()
        .expect("Id");
    let ack = |who: &str, subscription: String| {
        tenant_call(
            Method::POST,
            format!("/subscriptions/{subscription}/jobs/{job}/steps/{step}/acknowledge"),
            who,
        )
        .json(&json!({ "comment": "app team told" }))
        .send()
    };
    // Another tenant sees no such job, under its own subscription or this one.
    let foreign = ack(&other.user, other.id.to_string()).await.expect("call");
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    let stranger = ack(&other.user, tenant.id.to_string()).await.expect("call");
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        job_view(app, job).await["State"],
        "Waiting",
        "nothing changed"
    );

    let done = ack(&tenant.co_admin, tenant.id.to_string())
        .await
        .expect("call");
    assert_eq!(done.status(), StatusCode::OK);
    let run = finished(app, job).await;
    succeeded(app, &run).await;
    let report = report(app, job).await;
    assert_eq!(
        group(&report, "All")["Actions"][0]["AcknowledgedBy"],
        tenant.co_admin.as_str(),
        "{report}"
    );
}
