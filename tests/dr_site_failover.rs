//! Site failover and what keeps failovers safe, end to end on the lab over HTTP: a whole stamp's
//! DR subscriptions fail over tier by tier as the provider ranked them; an unplanned site
//! failover needs the site fenced — an admin's confirmation or the site heartbeat's verdict —
//! and never calls it; a stamp the provider opted in fails over by itself when the heartbeat
//! judges it Down, once; no more VM operations run at once than the replication engine allows;
//! an instance killed in the middle of a failover is resumed by the next, leaving every VM
//! running on exactly one stamp; and a site of a thousand VMs fails over in one job.

mod common;

use std::time::{Duration, Instant};

use common::app::{Backend, TestApp};
use common::dr::{
    DrWorld, Tenant, add_vms, admin, gold_world, gold_world_on, new_tenant, notification_body,
    notify_create, records, settled_lifecycle, until_all,
};
use common::failover::{dr, failover, finished, job_id, protected_tenant, run_ok, vm_copies};
use common::lab::{asr_operations, calls, reset_asr_operations, set_knobs, set_outage, small_lab};
use common::setup::asr_section;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::VmProtectionState;
use wapdr::store::{RunFilter, RunRecord, RunState};

on_both_backends!(
    a_site_failover_moves_every_subscription_in_its_priority_tier_order,
    an_unplanned_site_failover_needs_the_site_fenced_and_never_calls_it,
    a_stamp_opted_in_fails_over_by_itself_once_when_the_heartbeat_judges_it_down,
    vm_operations_never_exceed_the_replication_engines_concurrency,
    a_failover_killed_midway_resumes_and_every_vm_runs_on_exactly_one_stamp,
    a_site_start_step_run_again_after_a_crash_finds_the_job_it_started,
    a_site_of_a_thousand_vms_fails_over_in_one_job,
);

/// A world whose lab runs `concurrency` operations at once, each `operation_seconds` lab seconds,
/// with wapdr allowed as many at once in the vault and `engine` settings.
async fn world_with(
    backend: Backend,
    concurrency: u32,
    operation_seconds: f64,
    engine: &str,
) -> Option<DrWorld> {
    let lab = small_lab().await;
    set_knobs(
        &lab,
        json!({ "concurrency": concurrency, "operation_seconds": operation_seconds }),
    )
    .await;
    let extra = format!(
        "{}\nmax_parallel_operations = {concurrency}\n",
        asr_section(&lab)
    );
    let app = TestApp::start_with_engine(backend, wapdr::app::workflows(), &extra, engine).await?;
    Some(gold_world_on(app, lab).await)
}

/// `POST /admin/stamps/{stamp}/failover`.
async fn site(app: &TestApp, stamp: &str, body: Value) -> (StatusCode, Value) {
    admin(
        app,
        Method::POST,
        &format!("/stamps/{stamp}/failover"),
        Some(body),
    )
    .await
}

/// Starts a site operation and waits for its job; the job.
async fn site_ok(app: &TestApp, stamp: &str, body: Value) -> RunRecord {
    let (status, started) = site(app, stamp, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body} → {started}");
    let run = finished(app, job_id(&started)).await;
    assert_eq!(run.state, RunState::Succeeded, "{body}: {:?}", run.error);
    run
}

/// The jobs a site job started, oldest first.
async fn children(app: &TestApp, parent: Uuid) -> Vec<RunRecord> {
    let mut runs = app
        .store()
        .list_runs(&RunFilter {
            parent_id: Some(parent),
            limit: Some(1000),
            ..RunFilter::default()
        })
        .await
        .expect("store");
    runs.reverse();
    runs
}

/// Sets a subscription's priority tier.
async fn set_priority(app: &TestApp, tenant: &Tenant, priority: u8) {
    let (status, body) = admin(
        app,
        Method::PUT,
        &format!("/subscriptions/{}/failover-settings", tenant.id),
        Some(json!({ "Priority": priority })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Runs the site-heartbeat runbook once with `missed_before_alert` and waits for its job.
async fn heartbeat(app: &TestApp, missed_before_alert: u32) -> Value {
    let (status, job) = admin(
        app,
        Method::POST,
        "/runbooks/site-heartbeat/start",
        Some(json!({ "parameters": { "missed_before_alert": missed_before_alert } })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = Uuid::parse_str(job["Id"].as_str().expect("Id")).expect("GUID");
    let run = finished(app, id).await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    let steps = app.store().run_steps(id).await.expect("steps");
    json!(
        steps
            .into_iter()
            .filter(|s| s.kind == "probe_stamp")
            .filter_map(|s| s.output)
            .collect::<Vec<_>>()
    )
}

/// Requests the lab received from anyone for stamp `name`'s SPF and WAP admin API.
async fn stamp_calls(lab: &wapdr::lab::LabHandle, name: &str) -> u64 {
    let counted = calls(lab).await;
    ["spf", "wap_admin"]
        .iter()
        .map(|service| counted[format!("{name}/{service}")].as_u64().unwrap_or(0))
        .sum()
}

async fn a_site_failover_moves_every_subscription_in_its_priority_tier_order(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let mut tenants = Vec::new();
    for (user, priority) in [("olga@x.lab", 2), ("pete@x.lab", 1), ("quinn@x.lab", 1)] {
        let (tenant, _) = protected_tenant(&world, user, 2, &[]).await;
        set_priority(app, &tenant, priority).await;
        tenants.push((tenant, priority));
    }

    let run = site_ok(
        app,
        &world.a,
        json!({ "kind": "planned", "reason": "datacenter A maintenance" }),
    )
    .await;
    let kids = children(app, run.id).await;
    assert_eq!(kids.len(), 3, "one failover job per subscription");
    assert!(
        kids.iter()
            .all(|k| k.state == RunState::Succeeded && k.trigger == "site")
    );
    let of = |tenant: &Tenant| {
        kids.iter()
            .find(|k| k.subscription_id.as_deref() == Some(&tenant.id.to_string()))
            .expect("the subscription's job")
    };
    let last_first_tier = tenants
        .iter()
        .filter(|(_, p)| *p == 1)
        .filter_map(|(t, _)| of(t).finished_at)
        .max()
        .expect("tier 1 finished");
    let second_tier = of(&tenants[0].0);
    assert!(
        second_tier.created_at >= last_first_tier,
        "tier 2 started only after tier 1 was done"
    );
    let b = Uuid::parse_str(&world.b).expect("B");
    for (tenant, _) in &tenants {
        assert_eq!(dr(app, tenant).await.active_stamp_id, Some(b));
    }
    let steps = app.store().run_steps(run.id).await.expect("steps");
    let summary = steps
        .iter()
        .find(|s| s.kind == "finish")
        .and_then(|s| s.output.clone())
        .expect("a summary");
    assert_eq!(summary["subscriptions"], 3, "{summary}");
    assert!(
        summary["rtoSeconds"].as_f64().is_some_and(|s| s > 0.0),
        "{summary}"
    );

    // The same site again: nothing is active on A any more, so nothing can fail over.
    let (status, again) = site(app, &world.a, json!({ "kind": "planned" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let again = finished(app, job_id(&again)).await;
    assert_eq!(again.state, RunState::Failed);
    assert!(
        again
            .error
            .as_deref()
            .is_some_and(|e| e.contains("No DR subscription")),
        "{again:?}"
    );
    // And bad requests change nothing.
    let (status, body) = site(
        app,
        &Uuid::new_v4().to_string(),
        json!({ "kind": "planned" }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = site(app, &world.b, json!({ "kind": "sideways" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = site(
        app,
        &world.b,
        json!({ "kind": "planned", "commitPolicy": { "onExpiry": "commit", "afterMinutes": 5 } }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn an_unplanned_site_failover_needs_the_site_fenced_and_never_calls_it(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (first, _) = protected_tenant(&world, "rita@x.lab", 2, &[]).await;
    let (second, _) = protected_tenant(&world, "sam@x.lab", 2, &[]).await;
    set_outage(lab, "A", true).await;

    let (status, body) = site(app, &world.a, json!({ "kind": "unplanned" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["Message"]
            .as_str()
            .unwrap_or_default()
            .contains("fenced"),
        "{body}"
    );
    let (status, body) = failover(app, &first, json!({ "kind": "unplanned" })).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "neither is a subscription's: {body}"
    );

    // Two misses in a row make the heartbeat's verdict Down: that is fencing enough.
    heartbeat(app, 2).await;
    let beats = heartbeat(app, 2).await;
    let a = beats
        .as_array()
        .and_then(|b| b.iter().find(|o| o["stampId"] == world.a))
        .expect("A's heartbeat");
    assert_eq!(a["verdict"], "Down", "{beats}");
    let before = stamp_calls(lab, "A").await;
    let run = site_ok(
        app,
        &world.a,
        json!({ "kind": "unplanned", "reason": "fire in A" }),
    )
    .await;
    assert_eq!(
        stamp_calls(lab, "A").await,
        before,
        "no request reached stamp A during the unplanned site failover"
    );
    assert_eq!(children(app, run.id).await.len(), 2);
    let b = Uuid::parse_str(&world.b).expect("B");
    for tenant in [&first, &second] {
        let record = dr(app, tenant).await;
        assert_eq!(record.active_stamp_id, Some(b));
        let state = app
            .store()
            .get_failover(tenant.id)
            .await
            .expect("store")
            .expect("a record");
        assert_eq!(
            state.pending.len(),
            1,
            "A's suspension waits for A: {state:?}"
        );
    }
}

async fn a_stamp_opted_in_fails_over_by_itself_once_when_the_heartbeat_judges_it_down(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, _) = protected_tenant(&world, "tess@x.lab", 2, &[]).await;
    // Cut off while not opted in: the heartbeat only reports.
    set_outage(lab, "A", true).await;
    heartbeat(app, 1).await;
    let runs = |app: &TestApp| {
        let store = app.store();
        async move {
            store
                .list_runs(&RunFilter {
                    workflow: Some("site_failover".into()),
                    ..RunFilter::default()
                })
                .await
                .expect("store")
        }
    };
    assert!(runs(app).await.is_empty(), "no failover without the opt-in");

    set_outage(lab, "A", false).await;
    heartbeat(app, 1).await;
    let (status, body) = admin(
        app,
        Method::PUT,
        &format!("/stamps/{}", world.a),
        Some(json!({ "AutoFailover": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    set_outage(lab, "A", true).await;
    let beats = heartbeat(app, 1).await;
    let a = beats
        .as_array()
        .and_then(|b| b.iter().find(|o| o["stampId"] == world.a))
        .expect("A's heartbeat");
    let job = a["autoFailover"]["siteJobId"]
        .as_str()
        .map(|j| Uuid::parse_str(j).expect("GUID"))
        .unwrap_or_else(|| panic!("an automatic site failover: {beats}"));
    let run = finished(app, job).await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    assert_eq!(run.trigger, "heartbeat");
    assert_eq!(run.params["kind"], "unplanned");
    let b = Uuid::parse_str(&world.b).expect("B");
    assert_eq!(dr(app, &tenant).await.active_stamp_id, Some(b));
    // Later heartbeats of the same outage start nothing more.
    heartbeat(app, 1).await;
    assert_eq!(
        runs(app).await.len(),
        1,
        "one automatic failover per outage"
    );
}

async fn vm_operations_never_exceed_the_replication_engines_concurrency(backend: Backend) {
    let Some(world) = world_with(backend, 3, 60.0, "concurrency = 16").await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "uma@x.lab", 10, &[]).await;
    reset_asr_operations(&world.lab).await;

    run_ok(app, &tenant, json!({ "kind": "planned" })).await;
    let seen = asr_operations(&world.lab).await;
    assert_eq!(
        seen.peak_outstanding, 3,
        "ten VMs failed over three at a time, as the vault allows, never more: {seen:?}"
    );
}

async fn a_failover_killed_midway_resumes_and_every_vm_runs_on_exactly_one_stamp(backend: Backend) {
    // Ten lab minutes per operation (a second here), two at a time: the kill lands midway.
    let Some(mut world) = world_with(backend, 2, 600.0, "lease_seconds = 3").await else {
        return;
    };
    let (tenant, vms) = protected_tenant(&world, "vera@x.lab", 6, &[]).await;
    let (status, started) = failover(&world.app, &tenant, json!({ "kind": "planned" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let job = job_id(&started);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let steps = world.app.store().run_steps(job).await.expect("steps");
        let done = steps
            .iter()
            .filter(|s| s.kind == "vm" && s.state == RunState::Succeeded)
            .count();
        if done >= 1 {
            assert!(done < vms.len(), "the kill lands midway");
            break;
        }
        assert!(Instant::now() < deadline, "no VM failed over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    world.app.crash_and_restart().await;

    let app = &world.app;
    let run = finished(app, job).await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    let b = Uuid::parse_str(&world.b).expect("B");
    assert_eq!(dr(app, &tenant).await.active_stamp_id, Some(b));
    for vm in &vms {
        let copies = vm_copies(&world.lab, *vm).await;
        assert_eq!(copies.replicas, 1, "one replica, never a second");
        assert!(
            copies.on_b && !copies.on_a,
            "VM {vm} runs on B only: {copies:?}"
        );
    }
    let steps = app.store().run_steps(job).await.expect("steps");
    assert_eq!(
        steps.iter().filter(|s| s.kind == "vm").count(),
        vms.len(),
        "one step per VM, none added by the restart"
    );
}

/// A crash after a site job's `start` step started a subscription's failover and before the step
/// was recorded runs the step again (and what follows it), possibly after that failover ended:
/// the step must find the job it started, not report the subscription skipped or start another.
async fn a_site_start_step_run_again_after_a_crash_finds_the_job_it_started(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "again@x.lab", 1, &[]).await;
    let run = site_ok(app, &world.a, json!({ "kind": "planned" })).await;
    let kids = children(app, run.id).await;
    assert_eq!(kids.len(), 1);
    // What the crash leaves: the step and those after it not recorded, the job running.
    app.execute(&format!(
        "UPDATE workflow_steps SET state = 'Pending', output = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, finished_at = NULL \
         WHERE run_id = '{id}' AND kind IN ('start', 'wait', 'finish'); \
         UPDATE workflow_runs SET state = 'Running', finished_at = NULL, current_stage = \
         (SELECT MIN(stage) FROM workflow_steps WHERE run_id = '{id}' AND kind = 'start') \
         WHERE id = '{id}';",
        id = run.id
    ))
    .await;
    let again = finished(app, run.id).await;
    assert_eq!(again.state, RunState::Succeeded, "{:?}", again.error);
    let start = app
        .store()
        .run_steps(run.id)
        .await
        .expect("steps")
        .into_iter()
        .find(|s| s.kind == "start")
        .and_then(|s| s.output)
        .expect("the start step's output");
    assert_eq!(start["jobId"], kids[0].id.to_string(), "{start}");
    assert_eq!(children(app, run.id).await.len(), 1, "no second job");
    assert_eq!(
        dr(app, &tenant).await.active_stamp_id,
        Some(Uuid::parse_str(&world.b).expect("B"))
    );
}

async fn a_site_of_a_thousand_vms_fails_over_in_one_job(backend: Backend) {
    const TENANTS: usize = 50;
    const VMS_EACH: usize = 20;
    let Some(world) = world_with(backend, 40, 60.0, "concurrency = 64").await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let mut tenants = Vec::new();
    for i in 0..TENANTS {
        let tenant = new_tenant(lab, &format!("bulk{i}@x.lab"), "a-gold").await;
        let vms = add_vms(lab, &tenant, "Gold", &format!("bulk{i}"), VMS_EACH, &[]).await;
        let (status, body) =
            notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        tenants.push((tenant, vms));
    }
    for (tenant, vms) in &tenants {
        settled_lifecycle(app, tenant).await;
        let protected = until_all(app, tenant, vms, VmProtectionState::Protected).await;
        assert_eq!(protected.len(), VMS_EACH);
    }

    let run = site_ok(app, &world.a, json!({ "kind": "planned" })).await;
    let kids = children(app, run.id).await;
    assert_eq!(kids.len(), TENANTS);
    assert!(kids.iter().all(|k| k.state == RunState::Succeeded));
    let b = Uuid::parse_str(&world.b).expect("B");
    let mut vm_steps = 0;
    for (tenant, vms) in &tenants {
        assert_eq!(dr(app, tenant).await.active_stamp_id, Some(b));
        assert_eq!(records(app, tenant).await.len(), vms.len());
    }
    for kid in &kids {
        vm_steps += app
            .store()
            .run_steps(kid.id)
            .await
            .expect("steps")
            .iter()
            .filter(|s| s.kind == "vm" && s.state == RunState::Succeeded)
            .count();
    }
    assert_eq!(vm_steps, TENANTS * VMS_EACH, "every VM failed over once");
}
