//! Script actions: the context a webhook gets around its group, a failing webhook that stops a
//! planned failover until fixed, and one that an unplanned failover goes past with a warning.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use wapdr::domain::VmProtectionState;
use wapdr::fabric::wap_admin::AdminSubscriptionState;
use wapdr::store::RunState;

use crate::common::app::Backend;
use crate::common::dr::{admin, gold_world, until_all};
use crate::common::lab::set_outage;
use crate::hooks::{Hooks, TOKEN, assert_job_hides_token, assert_no_token, script};
use crate::support::*;

pub(crate) async fn script_actions_get_the_failover_context_before_and_after_their_group(
    backend: Backend,
) {
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

pub(crate) async fn a_failing_script_stops_a_planned_failover_and_the_same_request_finishes_it_once_fixed(
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

pub(crate) async fn a_failing_script_does_not_stop_an_unplanned_failover_and_is_reported_as_a_warning(
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
