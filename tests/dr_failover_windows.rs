//! Commit windows, rollback and drill deadlines end to end on the lab over HTTP: a failover's
//! commit window commits or rolls back by itself when it expires; an operator who acts first
//! closes it and the old timer then does nothing; a rollback by hand brings the subscription home
//! before commit and is refused after; a drill is cleaned up by itself when its time is up; the
//! provider's failover settings are checked, round-trip and apply to requests that name none; a
//! tenant rolls back only with Full self-service.
//!
//! Deadlines are minutes of the database clock: the tests let them pass with
//! [`let_time_pass`](common::failover::let_time_pass), which moves the stored deadline and the
//! timer's wait to a second ago, and the `failover_deadline` run then acts by itself.

mod common;

use common::app::{Backend, TestApp, json_of};
use common::dr::{DrWorld, Tenant, admin, gold_world, until_all};
use common::dr_api::{leaf, xml_leaves};
use common::failover::{
    database_now, dr, failover, failover_view, finish_output, job_id, let_time_pass,
    protected_tenant, run_ok, runs_of, started_by_timer, test_vms_on_b, timer_outcome, vm_status,
    waiting_timer, wap_state, world_uuid,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;
use wapdr::domain::{MirrorState, VmProtectionState};
use wapdr::fabric::wap_admin::AdminSubscriptionState;

on_both_backends!(
    a_commit_window_that_expires_commits_the_failover_by_itself,
    a_rollback_window_that_expires_brings_the_subscription_home,
    an_operator_who_commits_first_closes_the_window_and_the_old_timer_does_nothing,
    a_rollback_by_hand_brings_the_subscription_home_and_only_before_commit,
    a_drill_is_cleaned_up_by_itself_when_its_time_is_up,
    failover_settings_are_checked_and_apply_when_a_request_names_none,
    a_tenant_rolls_back_with_full_self_service_but_not_with_drill,
);

/// Asserts the view shows an open deadline of `action`, opened by `job`, `minutes` after the
/// job ended: at most `minutes` after the database time `after`, read just after it ended.
fn assert_deadline(view: &Value, action: &str, job: Uuid, after: OffsetDateTime, minutes: i64) {
    let deadline = &view["Deadline"];
    assert_eq!(deadline["Action"], action, "{view}");
    assert_eq!(deadline["OpenedByJobId"], job.to_string(), "{view}");
    let at = OffsetDateTime::parse(deadline["At"].as_str().expect("At"), &Rfc3339).expect("time");
    let latest = after + time::Duration::minutes(minutes);
    assert!(
        at <= latest && at > latest - time::Duration::minutes(1),
        "At {at} is {minutes} minutes after the job ended (by {after}): {view}"
    );
}

/// `GET /admin/subscriptions/{id}/failover-settings`.
async fn settings(app: &TestApp, tenant: &Tenant) -> Value {
    let path = format!("/subscriptions/{}/failover-settings", tenant.id);
    let (status, body) = admin(app, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `PUT /admin/subscriptions/{id}/failover-settings` with a JSON body.
async fn put_settings(app: &TestApp, tenant: &Tenant, body: Value) -> (StatusCode, Value) {
    let path = format!("/subscriptions/{}/failover-settings", tenant.id);
    admin(app, Method::PUT, &path, Some(body)).await
}

/// Asserts the subscription is on B after a failover: active stamp B, Active in B's WAP and
/// Suspended in A's.
async fn assert_on_b(world: &DrWorld, tenant: &Tenant) {
    let (app, lab) = (&world.app, &world.lab);
    let record = dr(app, tenant).await;
    assert_eq!(record.active_stamp_id, Some(world_uuid(&world.b)));
    assert_eq!(record.mirror, MirrorState::Active);
    assert_eq!(
        wap_state(lab, 1, tenant).await,
        AdminSubscriptionState::Active
    );
    assert_eq!(
        wap_state(lab, 0, tenant).await,
        AdminSubscriptionState::Suspended
    );
}

/// Asserts a rolled-back subscription is home: phase Replicating with no deadline, active stamp
/// A, Active in A's WAP and Suspended in B's, its VMs Running on A and their replicas off on B.
async fn assert_home_on_a(world: &DrWorld, tenant: &Tenant, vms: &[Uuid]) {
    let (app, lab) = (&world.app, &world.lab);
    let view = failover_view(app, tenant).await;
    assert_eq!(view["Phase"], "Replicating", "{view}");
    assert_eq!(view["Deadline"], Value::Null, "{view}");
    assert_eq!(view["Allowed"], json!(["test", "planned", "unplanned"]));
    let record = dr(app, tenant).await;
    assert_eq!(record.active_stamp_id, Some(world_uuid(&world.a)));
    assert_eq!(record.mirror, MirrorState::Suspended);
    assert_eq!(
        wap_state(lab, 0, tenant).await,
        AdminSubscriptionState::Active
    );
    assert_eq!(
        wap_state(lab, 1, tenant).await,
        AdminSubscriptionState::Suspended
    );
    for record in until_all(app, tenant, vms, VmProtectionState::Protected).await {
        assert_eq!(record.state, VmProtectionState::Protected);
        assert_eq!(vm_status(lab, 0, record.vm_id).await, "Running", "on A");
        let replica = record.replica_vm_id.expect("a replica");
        assert_ne!(vm_status(lab, 1, replica).await, "Running", "off on B");
    }
}

async fn a_commit_window_that_expires_commits_the_failover_by_itself(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "ivy@tailspin.lab", 2, &[]).await;

    let out = run_ok(
        app,
        &tenant,
        json!({
            "kind": "planned",
            "reason": "move to B for a week",
            "commitPolicy": { "onExpiry": "commit", "afterMinutes": 30 },
        }),
    )
    .await;
    let planned = job_id(&out["job"]);
    let now = database_now(app).await;
    assert_eq!(out["deadline"]["action"], "commit", "{out}");
    let view = failover_view(app, &tenant).await;
    assert_eq!(view["Phase"], "FailedOver", "{view}");
    assert_deadline(&view, "commit", planned, now, 30);

    // The timer waits for the deadline itself, and nothing else happens meanwhile.
    let timer = waiting_timer(app, &tenant, planned).await;
    assert_eq!(timer.started_by, "wapdr");
    let wait = app.store().run_steps(timer.id).await.expect("steps");
    let not_before = wait
        .iter()
        .find(|s| s.kind == "wait")
        .and_then(|s| s.not_before)
        .expect("the wait's time");
    assert!(
        (not_before - (now + time::Duration::minutes(30))).abs() < time::Duration::minutes(1),
        "waits until the deadline: {not_before}"
    );
    assert_eq!(runs_of(app, &tenant, "failover").await.len(), 1);

    let_time_pass(app, &tenant, &timer).await;
    let commit = started_by_timer(app, &timer, "commit").await;
    let out = finish_output(app, commit).await;
    assert_eq!(out["phase"], "Committed", "{out}");
    let view = failover_view(app, &tenant).await;
    assert_eq!(view["Phase"], "Committed", "{view}");
    assert_eq!(view["Deadline"], Value::Null, "{view}");
    assert_eq!(view["LastJobId"], commit.to_string(), "{view}");
    assert_eq!(view["Allowed"], json!(["reprotect"]), "{view}");
    assert_on_b(&world, &tenant).await;
    assert_eq!(
        runs_of(app, &tenant, "failover").await.len(),
        2,
        "the failover and the timer's commit"
    );
}

async fn a_rollback_window_that_expires_brings_the_subscription_home(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) = protected_tenant(&world, "jack@tailspin.lab", 2, &[]).await;

    let out = run_ok(
        app,
        &tenant,
        json!({
            "kind": "planned",
            "commitPolicy": { "onExpiry": "rollback", "afterMinutes": 45 },
        }),
    )
    .await;
    let planned = job_id(&out["job"]);
    let now = database_now(app).await;
    assert_deadline(
        &failover_view(app, &tenant).await,
        "rollback",
        planned,
        now,
        45,
    );
    assert_on_b(&world, &tenant).await;

    let timer = waiting_timer(app, &tenant, planned).await;
    let_time_pass(app, &tenant, &timer).await;
    let rollback = started_by_timer(app, &timer, "rollback").await;
    let out = finish_output(app, rollback).await;
    assert_eq!(out["phase"], "Replicating", "{out}");
    assert_home_on_a(&world, &tenant, &vms).await;
}

async fn an_operator_who_commits_first_closes_the_window_and_the_old_timer_does_nothing(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "kate@tailspin.lab", 2, &[]).await;

    let out = run_ok(
        app,
        &tenant,
        json!({
            "kind": "planned",
            "commitPolicy": { "onExpiry": "rollback", "afterMinutes": 30 },
        }),
    )
    .await;
    let planned = job_id(&out["job"]);
    let timer = waiting_timer(app, &tenant, planned).await;

    let out = run_ok(
        app,
        &tenant,
        json!({ "kind": "commit", "reason": "looks good" }),
    )
    .await;
    assert_eq!(out["phase"], "Committed", "{out}");
    let view = failover_view(app, &tenant).await;
    assert_eq!(view["Deadline"], Value::Null, "the window closed: {view}");

    let_time_pass(app, &tenant, &timer).await;
    let outcome = timer_outcome(app, &timer).await;
    assert!(outcome["skipped"].is_string(), "says it skipped: {outcome}");
    assert_eq!(outcome["started"], Value::Null, "{outcome}");
    let jobs = runs_of(app, &tenant, "failover").await;
    assert_eq!(
        jobs.iter()
            .map(|r| r.params["kind"].clone())
            .collect::<Vec<_>>(),
        [json!("planned"), json!("commit")],
        "no job of the timer's"
    );
    assert!(jobs.iter().all(|r| r.trigger == "api"));
    let view = failover_view(app, &tenant).await;
    assert_eq!(view["Phase"], "Committed", "{view}");
    assert_on_b(&world, &tenant).await;
}

async fn a_rollback_by_hand_brings_the_subscription_home_and_only_before_commit(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) = protected_tenant(&world, "liam@tailspin.lab", 2, &[]).await;

    let (status, body) = failover(app, &tenant, json!({ "kind": "rollback" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing to roll back: {body}");
    let message = body["Message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Replicating") && message.contains("test, planned, unplanned"),
        "names the phase and what is allowed: {body}"
    );

    let out = run_ok(app, &tenant, json!({ "kind": "planned" })).await;
    assert_eq!(out["deadline"], Value::Null, "no window by default: {out}");
    assert!(runs_of(app, &tenant, "failover_deadline").await.is_empty());
    assert_on_b(&world, &tenant).await;
    let out = run_ok(
        app,
        &tenant,
        json!({ "kind": "rollback", "reason": "the app misbehaves on B" }),
    )
    .await;
    assert_eq!(out["phase"], "Replicating", "{out}");
    assert_home_on_a(&world, &tenant, &vms).await;

    run_ok(app, &tenant, json!({ "kind": "planned" })).await;
    run_ok(app, &tenant, json!({ "kind": "commit" })).await;
    let (status, body) = failover(app, &tenant, json!({ "kind": "rollback" })).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "too late after commit: {body}"
    );
    let message = body["Message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Committed") && message.contains("reprotect"),
        "names the phase and what is allowed: {body}"
    );
    assert_on_b(&world, &tenant).await;
}

async fn a_drill_is_cleaned_up_by_itself_when_its_time_is_up(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, vms) = protected_tenant(&world, "mia@tailspin.lab", 2, &[]).await;

    let out = run_ok(
        app,
        &tenant,
        json!({ "kind": "test", "cleanupAfterMinutes": 60 }),
    )
    .await;
    let drill = job_id(&out["job"]);
    let now = database_now(app).await;
    assert_eq!(out["phase"], "TestRunning", "{out}");
    assert_eq!(test_vms_on_b(lab).await.len(), 2);
    assert_deadline(
        &failover_view(app, &tenant).await,
        "testCleanup",
        drill,
        now,
        60,
    );

    let timer = waiting_timer(app, &tenant, drill).await;
    let_time_pass(app, &tenant, &timer).await;
    let cleanup = started_by_timer(app, &timer, "testCleanup").await;
    let out = finish_output(app, cleanup).await;
    assert_eq!(out["phase"], "Replicating", "{out}");
    assert!(test_vms_on_b(lab).await.is_empty(), "test VMs gone from B");
    let view = failover_view(app, &tenant).await;
    assert_eq!(view["Phase"], "Replicating", "{view}");
    assert_eq!(view["Deadline"], Value::Null, "{view}");
    assert_eq!(
        dr(app, &tenant).await.active_stamp_id,
        Some(world_uuid(&world.a))
    );
    for vm in &vms {
        assert_eq!(vm_status(lab, 0, *vm).await, "Running", "production ran on");
    }

    // The subscription's setting applies to a drill that names no time.
    let (status, body) =
        put_settings(app, &tenant, json!({ "DrillCleanupAfterMinutes": 15 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let out = run_ok(app, &tenant, json!({ "kind": "test" })).await;
    let now = database_now(app).await;
    assert_deadline(
        &failover_view(app, &tenant).await,
        "testCleanup",
        job_id(&out["job"]),
        now,
        15,
    );
    run_ok(app, &tenant, json!({ "kind": "testCleanup" })).await;
    assert_eq!(failover_view(app, &tenant).await["Deadline"], Value::Null);
}

async fn failover_settings_are_checked_and_apply_when_a_request_names_none(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "noah@tailspin.lab", 2, &[]).await;
    let path = format!("/subscriptions/{}/failover-settings", tenant.id);

    let defaults = json!({
        "Priority": 5,
        "CommitPolicy": { "OnExpiry": "none", "AfterMinutes": null },
        "DrillCleanupAfterMinutes": null,
    });
    assert_eq!(settings(app, &tenant).await, defaults);

    // JSON round-trips.
    let chosen = json!({
        "Priority": 2,
        "CommitPolicy": { "OnExpiry": "rollback", "AfterMinutes": 90 },
        "DrillCleanupAfterMinutes": 120,
    });
    let (status, body) = put_settings(app, &tenant, chosen.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, chosen);
    assert_eq!(settings(app, &tenant).await, chosen);

    // XML round-trips.
    let response = app
        .admin(Method::PUT, &path)
        .header("content-type", "application/xml")
        .header("accept", "application/xml")
        .body(
            "<FailoverSettings><Priority>3</Priority><CommitPolicy><OnExpiry>commit</OnExpiry>\
             <AfterMinutes>20</AfterMinutes></CommitPolicy>\
             <DrillCleanupAfterMinutes>240</DrillCleanupAfterMinutes></FailoverSettings>",
        )
        .send()
        .await
        .expect("PUT XML");
    assert_eq!(response.status(), StatusCode::OK);
    let xml = response.text().await.expect("XML");
    let leaves = xml_leaves(&xml);
    assert_eq!(leaf(&leaves, "Priority"), ["3"], "{xml}");
    assert_eq!(leaf(&leaves, "OnExpiry"), ["commit"], "{xml}");
    assert_eq!(leaf(&leaves, "AfterMinutes"), ["20"], "{xml}");
    assert_eq!(leaf(&leaves, "DrillCleanupAfterMinutes"), ["240"], "{xml}");
    let response = app
        .admin(Method::GET, &path)
        .header("accept", "application/xml")
        .send()
        .await
        .expect("GET XML");
    assert_eq!(response.status(), StatusCode::OK);
    let xml = response.text().await.expect("XML");
    assert!(xml.contains("<FailoverSettings "), "{xml}");
    assert_eq!(xml_leaves(&xml), leaves, "GET shows what PUT stored");
    let stored = json!({
        "Priority": 3,
        "CommitPolicy": { "OnExpiry": "commit", "AfterMinutes": 20 },
        "DrillCleanupAfterMinutes": 240,
    });
    assert_eq!(settings(app, &tenant).await, stored);

    // A partial PUT changes what it names only.
    let (status, body) = put_settings(app, &tenant, json!({ "Priority": 7 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut stored = stored;
    stored["Priority"] = json!(7);
    assert_eq!(body, stored);
    assert_eq!(settings(app, &tenant).await, stored);

    // A null drill time (JSON null, XML i:nil) means cleanup by hand.
    let (status, body) =
        put_settings(app, &tenant, json!({ "DrillCleanupAfterMinutes": null })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stored["DrillCleanupAfterMinutes"] = Value::Null;
    assert_eq!(body, stored);
    let (status, body) =
        put_settings(app, &tenant, json!({ "DrillCleanupAfterMinutes": 240 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let response = app
        .admin(Method::PUT, &path)
        .header("content-type", "application/xml")
        .body(
            "<FailoverSettings xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\">\
             <DrillCleanupAfterMinutes i:nil=\"true\"/></FailoverSettings>",
        )
        .send()
        .await
        .expect("PUT XML");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_of(response).await,
        stored,
        "answers in JSON by default"
    );
    assert_eq!(settings(app, &tenant).await, stored);

    // Each bad value is a 400 WAP Error naming it, and changes nothing.
    let bad = [
        (json!({ "Priority": 0 }), "Priority"),
        (json!({ "Priority": 10 }), "Priority"),
        (
            json!({ "CommitPolicy": { "OnExpiry": "commit", "AfterMinutes": 0 } }),
            "afterMinutes",
        ),
        (
            json!({ "CommitPolicy": { "OnExpiry": "rollback", "AfterMinutes": 10081 } }),
            "afterMinutes",
        ),
        (
            json!({ "CommitPolicy": { "OnExpiry": "commit" } }),
            "afterMinutes",
        ),
        (
            json!({ "CommitPolicy": { "OnExpiry": "later", "AfterMinutes": 5 } }),
            "onExpiry",
        ),
        (json!({ "DrillCleanupAfterMinutes": 0 }), "drill cleanup"),
        (
            json!({ "DrillCleanupAfterMinutes": 20161 }),
            "drill cleanup",
        ),
        (
            json!({ "Priority": 1, "DrillCleanupAfterMinutes": 20161 }),
            "drill cleanup",
        ),
    ];
    for (body, names) in bad {
        let (status, error) = put_settings(app, &tenant, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        let message = error["Message"].as_str().unwrap_or_default();
        assert!(
            error["Code"].is_string() && message.contains(names),
            "{body} → a WAP Error naming {names}: {error}"
        );
        assert_eq!(
            settings(app, &tenant).await,
            stored,
            "{body} changed nothing"
        );
    }

    // Options for another kind, or out of range, are refused (naming them) before anything
    // starts.
    let policy = |on_expiry: &str, minutes: Option<i64>| json!({ "kind": "planned", "commitPolicy": { "onExpiry": on_expiry, "afterMinutes": minutes } });
    let refused = [
        (
            json!({ "kind": "test", "commitPolicy": { "onExpiry": "commit", "afterMinutes": 5 } }),
            "commitPolicy",
        ),
        (
            json!({ "kind": "planned", "cleanupAfterMinutes": 30 }),
            "cleanupAfterMinutes",
        ),
        (policy("commit", Some(0)), "afterMinutes"),
        (policy("commit", None), "afterMinutes"),
        (policy("later", Some(5)), "onExpiry"),
        (
            json!({ "kind": "test", "cleanupAfterMinutes": 20161 }),
            "drill cleanup",
        ),
    ];
    for (body, names) in refused {
        let (status, error) = failover(app, &tenant, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {error}");
        let message = error["Message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{body} → names {names}: {error}");
    }
    assert!(runs_of(app, &tenant, "failover").await.is_empty());

    // The subscription's commit policy (commit after 20 minutes) applies to a failover that
    // names none.
    let out = run_ok(app, &tenant, json!({ "kind": "planned" })).await;
    let now = database_now(app).await;
    let view = failover_view(app, &tenant).await;
    assert_deadline(&view, "commit", job_id(&out["job"]), now, 20);
    assert_eq!(view["Settings"], stored, "{view}");
}

async fn a_tenant_rolls_back_with_full_self_service_but_not_with_drill(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (full, full_vms) =
        protected_tenant(&world, "olga@tailspin.lab", 2, &[("SelfService", "Full")]).await;
    let (drill, _) =
        protected_tenant(&world, "pete@tailspin.lab", 2, &[("SelfService", "Drill")]).await;
    for tenant in [&full, &drill] {
        run_ok(app, tenant, json!({ "kind": "planned" })).await;
    }
    let tenant_rollback = |tenant: &Tenant| {
        app.tenant(
            Method::POST,
            &format!("/subscriptions/{}/failover", tenant.id),
            Some(&tenant.user),
        )
        .json(&json!({ "kind": "rollback" }))
        .send()
    };

    let refused = tenant_rollback(&drill).await.expect("tenant call");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body = json_of(refused).await;
    let message = body["Message"].as_str().unwrap_or_default();
    assert!(
        message.contains("rollback"),
        "a WAP Error naming it: {body}"
    );
    assert_eq!(failover_view(app, &drill).await["Phase"], "FailedOver");
    assert_on_b(&world, &drill).await;

    let started = tenant_rollback(&full).await.expect("tenant call");
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let job = job_id(&json_of(started).await);
    let run = app.store().get_run(job).await.expect("store").expect("run");
    assert_eq!(run.started_by, full.user, "the tenant started it");
    let out = finish_output(app, job).await;
    assert_eq!(out["phase"], "Replicating", "{out}");
    assert_home_on_a(&world, &full, &full_vms).await;
}
