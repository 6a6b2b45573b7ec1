//! Failovers ordered by recovery plans, end to end on the lab over HTTP: a plan's groups run in
//! order with their delays and the VMs it does not name last; script webhooks get the failover's
//! context around their group, stop a planned failover when their answer fails (the same request
//! finishes it once fixed) but not an unplanned one, and never show their token; a manual step
//! holds its group until an operator acknowledges it, and the recovery time is shown with and
//! without the wait; a runbook action runs its runbook and waits for it; drills by plan are
//! reported (JSON and a self-contained HTML page) to the provider and the tenant; an unknown or
//! foreign plan is 404 and starts nothing; a tenant follows its own jobs and acknowledges its own
//! drill's manual step, and no other tenant can.

mod common;
#[path = "dr_failover_plans/hooks.rs"]
mod hooks;
#[path = "dr_failover_plans/operators.rs"]
mod operators;
#[path = "dr_failover_plans/reports.rs"]
mod reports;
#[path = "dr_failover_plans/scripts.rs"]
mod scripts;
#[path = "dr_failover_plans/support.rs"]
mod support;

use common::app::{Backend, json_of};
use common::dr::{admin, gold_world};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use operators::{
    a_manual_step_holds_its_group_until_an_operator_acknowledges_it,
    a_runbook_action_runs_its_runbook_and_waits_and_an_unknown_runbook_fails_clearly,
    a_tenant_follows_its_jobs_and_acknowledges_its_own_drills_manual_step,
};
use reports::a_drill_by_plan_is_reported_listed_and_served_as_html_to_the_provider_and_its_tenant;
use scripts::{
    a_failing_script_does_not_stop_an_unplanned_failover_and_is_reported_as_a_warning,
    a_failing_script_stops_a_planned_failover_and_the_same_request_finishes_it_once_fixed,
    script_actions_get_the_failover_context_before_and_after_their_group,
};
use support::*;

on_both_backends!(
    a_recovery_plan_orders_a_planned_failover_group_by_group_with_its_delay_and_the_rest_last,
    script_actions_get_the_failover_context_before_and_after_their_group,
    a_failing_script_stops_a_planned_failover_and_the_same_request_finishes_it_once_fixed,
    a_failing_script_does_not_stop_an_unplanned_failover_and_is_reported_as_a_warning,
    a_manual_step_holds_its_group_until_an_operator_acknowledges_it,
    a_runbook_action_runs_its_runbook_and_waits_and_an_unknown_runbook_fails_clearly,
    a_drill_by_plan_is_reported_listed_and_served_as_html_to_the_provider_and_its_tenant,
    a_failover_by_an_unknown_or_foreign_plan_is_not_found_and_starts_nothing,
    a_tenant_follows_its_jobs_and_acknowledges_its_own_drills_manual_step,
);

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
