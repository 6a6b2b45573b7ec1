//! Faults around wapdr, end to end on the lab over HTTP:
//! - a fabric that refuses one request in ten and holds some far longer: enablement and a
//!   failover still finish;
//! - stamp B cut off in the middle of a failover: the job says which service is unreachable,
//!   keeps trying, and finishes once B is back;
//! - PostgreSQL restarted under wapdr in the middle of enablement (a server the test runs
//!   itself): wapdr reconnects and carries on with no one's help.
//!
//! See RELIABILITY.md ("Faults").

mod common;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::VmProtectionState;
use wapdr::lab::LabHandle;
use wapdr::store::RunState;

use common::app::{Backend, TestApp};
use common::dr::{
    DrWorld, add_network, add_vms, admin, gold_world, gold_world_on, new_tenant, notification_body,
    notify_create, records, settled_lifecycle, until_all,
};
use common::failover::{
    dr, failover, finished, job_id, protected_tenant, run_ok, runs_of, vm_copies,
};
use common::lab::{calls, set_knobs, set_outage, small_lab};
use common::setup::asr_section;

on_both_backends!(
    enablement_and_a_failover_finish_on_a_fabric_failing_one_request_in_ten_with_latency_spikes,
    a_stamp_cut_off_mid_failover_is_named_in_the_job_which_finishes_once_it_returns,
);

/// Asserts that each of `vms` runs on B only, with one replica.
async fn assert_on_b_only(lab: &LabHandle, vms: &[Uuid]) {
    for vm in vms {
        let copies = vm_copies(lab, *vm).await;
        assert!(
            copies.replicas == 1 && copies.on_b && !copies.on_a,
            "VM {vm} runs on B only, with one replica: {copies:?}"
        );
    }
}

/// Slows the lab so that a fault lands mid-work: ASR operations take a second each, two at once.
async fn slow_operations(lab: &LabHandle) {
    set_knobs(lab, json!({ "operation_seconds": 600.0, "concurrency": 2 })).await;
}

async fn enablement_and_a_failover_finish_on_a_fabric_failing_one_request_in_ten_with_latency_spikes(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let lab = &world.lab;
    // One request in ten refused (503, as an overloaded SPF or ARM answers), one in twenty held
    // 1.5 s, from the tenant's first notification on.
    set_knobs(
        lab,
        json!({ "error_rate": 0.1, "latency_spike_rate": 0.05, "latency_spike_ms": 1500 }),
    )
    .await;
    let began = Instant::now();
    let (tenant, vms) = protected_tenant(&world, "flaky@x.lab", 4, &[]).await;
    let enabled_in = began.elapsed();
    let out = run_ok(&world.app, &tenant, json!({ "kind": "planned" })).await;
    assert_eq!(out["phase"], "FailedOver", "{out}");
    let b = Uuid::parse_str(&world.b).expect("B");
    assert_eq!(dr(&world.app, &tenant).await.active_stamp_id, Some(b));
    set_knobs(lab, json!({ "error_rate": 0.0, "latency_spike_rate": 0.0 })).await;
    assert_on_b_only(lab, &vms).await;

    let counted = calls(lab).await;
    let (errors, spikes) = (
        counted["injected/errors"].as_u64().unwrap_or(0),
        counted["injected/latency_spikes"].as_u64().unwrap_or(0),
    );
    println!(
        "{backend:?}: enabled in {enabled_in:?}, failed over in {:?}, through {errors} injected \
         errors and {spikes} latency spikes",
        began.elapsed() - enabled_in
    );
    assert!(errors > 0 && spikes > 0, "the faults happened: {counted}");
}

/// The job's steps as the admin API shows them.
async fn job_steps(app: &TestApp, job: Uuid) -> (String, Vec<Value>) {
    let (status, body) = admin(app, Method::GET, &format!("/jobs/{job}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["State"].as_str().unwrap_or_default().to_owned(),
        body["Steps"].as_array().cloned().unwrap_or_default(),
    )
}

async fn a_stamp_cut_off_mid_failover_is_named_in_the_job_which_finishes_once_it_returns(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let (tenant, vms) = protected_tenant(&world, "cutoff@x.lab", 4, &[]).await;
    slow_operations(lab).await;
    let (status, started) = failover(app, &tenant, json!({ "kind": "planned" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let job = job_id(&started);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, steps) = job_steps(app, job).await;
        if steps
            .iter()
            .any(|s| s["Kind"] == "vm" && s["State"] == "Succeeded")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no VM failed over: {steps:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let b = &lab.stamps()[1];
    set_outage(lab, &b.name, true).await;
    let cut = Instant::now();
    // The job goes on trying, and a step says what it cannot reach: one of stamp B's services,
    // by its name and address.
    let deadline = Instant::now() + Duration::from_secs(60);
    let reported = loop {
        let (state, steps) = job_steps(app, job).await;
        assert!(
            state == "Running" || state == "Pending",
            "the job waits for B, it does not end: {state} {steps:#?}"
        );
        let named = steps.iter().find_map(|s| {
            let error = s["Error"].as_str()?;
            (error.contains("unreachable")
                && error.contains(&format!("stamp {}", b.name))
                && (error.contains(&b.spf) || error.contains(&b.wap_admin)))
            .then(|| error.to_owned())
        });
        if let Some(error) = named {
            break error;
        }
        assert!(
            Instant::now() < deadline,
            "no step named B unreachable: {steps:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "{backend:?}: {:?} after the cut, the job said: {reported}",
        cut.elapsed()
    );
    set_outage(lab, &b.name, false).await;
    let back = Instant::now();

    let run = finished(app, job).await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    println!(
        "{backend:?}: the failover ended {:?} after B came back",
        back.elapsed()
    );
    assert_eq!(
        dr(app, &tenant).await.active_stamp_id,
        Some(Uuid::parse_str(&world.b).expect("B"))
    );
    assert_on_b_only(lab, &vms).await;
}

/// How long the test's PostgreSQL stays down.
const DATABASE_DOWN: Duration = Duration::from_secs(5);

/// PostgreSQL restarted (every connection cut, down for [`DATABASE_DOWN`]) while wapdr protects a tenant's VMs: the
/// protection finishes and a failover after it succeeds, with no restart of wapdr and no
/// operator step. The server is the test's own; the shared one is never touched.
#[cfg(unix)]
#[tokio::test]
async fn wapdr_reconnects_after_postgresql_restarts_mid_enablement_and_carries_on() {
    use common::own_postgres::OwnPostgres;

    let Some(postgres) = OwnPostgres::start() else {
        return;
    };
    let lab = small_lab().await;
    let app = TestApp::start_on(
        tempfile::tempdir().expect("tempdir"),
        &postgres.url(),
        wapdr::app::workflows(),
        &asr_section(&lab),
        "",
    )
    .await;
    let world: DrWorld = gold_world_on(app, lab).await;
    let (app, lab) = (&world.app, &world.lab);
    slow_operations(lab).await;
    let tenant = new_tenant(lab, "restart@x.lab", "a-gold").await;
    let net = add_network(lab, &tenant, "restart-net").await;
    let vms = add_vms(lab, &tenant, "Gold", "restart", 6, &[net]).await;
    let (status, body) =
        notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let protected = records(app, &tenant)
            .await
            .iter()
            .filter(|r| r.state == VmProtectionState::Protected)
            .count();
        if protected > 0 {
            assert!(protected < vms.len(), "the restart lands midway");
            break;
        }
        assert!(Instant::now() < deadline, "no VM was protected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Down for a few seconds, as a restart for an upgrade or a failover of the server is.
    let restarted = Instant::now();
    postgres.stop();
    tokio::time::sleep(DATABASE_DOWN).await;
    postgres.start_again();
    println!("PostgreSQL was down for {:?}", restarted.elapsed());
    let protected = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert!(
        protected.len() == vms.len()
            && protected
                .iter()
                .all(|r| r.state == VmProtectionState::Protected && r.replica_owned),
        "{protected:?}"
    );
    println!(
        "every VM protected {:?} after the restart began",
        restarted.elapsed()
    );
    let lifecycle = settled_lifecycle(app, &tenant).await;
    assert_eq!(lifecycle["LifecycleState"], 0, "Provisioned: {lifecycle}");
    for run in runs_of(app, &tenant, "enable_dr").await {
        assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    }
    let out = run_ok(app, &tenant, json!({ "kind": "planned" })).await;
    assert_eq!(out["phase"], "FailedOver", "{out}");
    assert_on_b_only(lab, &vms).await;
}
