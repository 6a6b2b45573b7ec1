//! `/metrics`: behind the admin credentials, it reports the VMs DR protects (by state, health
//! and RPO, as the store has them) and the fabric calls wapdr made, failed ones included; on a
//! lab world, SQLite and PostgreSQL.

mod common;

use common::app::ADMIN;
use common::dr::{
    add_network, add_vms, gold_world, new_tenant, notification_body, notify_create, records,
    until_all,
};
use common::engine::wait_for_run;
use common::lab::set_knobs;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

use wapdr::domain::VmProtectionState;
use wapdr::store::{RunFilter, RunState};
use wapdr::workflows::ENABLE_DR;

use crate::common::app::{Backend, TestApp};

/// The value of the series `name{labels}` (labels as Prometheus writes them, sorted), if present.
fn series(text: &str, name: &str, labels: &str) -> Option<f64> {
    let key = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| *series == key)
        .map(|(_, value)| value.parse().expect("a number"))
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .anonymous(Method::GET, "/metrics")
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

async fn metrics_report_protected_vms_their_rpo_and_failed_fabric_calls(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "mia@tailspin.lab", "a-gold").await;
    let net = add_network(lab, &tenant, "mia-net").await;
    let vms = add_vms(lab, &tenant, "Gold", "mia", 2, &[net]).await;
    let (status, body) =
        notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let protected = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert!(
        protected
            .iter()
            .all(|vm| vm.state == VmProtectionState::Protected)
    );

    let enable = app
        .store()
        .list_runs(&RunFilter {
            workflow: Some(ENABLE_DR.into()),
            subscription_id: Some(tenant.id.to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    let enabled = wait_for_run(&app.store(), enable[0].id, Duration::from_secs(60), |run| {
        run.state.is_final()
    })
    .await;
    assert_eq!(enabled.state, RunState::Succeeded);

    let anonymous = app.anonymous(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let spf_a = format!("SPF stamp {}", lab.stamps()[0].name);
    let errors = |text: &str| {
        series(
            text,
            "wapdr_fabric_call_errors_total",
            &format!("kind=\"http_5xx\",service=\"{spf_a}\""),
        )
        .unwrap_or(0.0)
    };
    let before = scrape(app).await;
    // SPF-A answers every call with a 503 now: listing its clouds fails after the retries.
    set_knobs(lab, json!({ "error_rate": 1.0, "error_status": 503 })).await;
    let failed = app
        .anonymous(Method::GET, &format!("/admin/stamps/{}/clouds", world.a))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    set_knobs(lab, json!({ "error_rate": 0.0 })).await;
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    let text = scrape(app).await;

    assert!(
        errors(&text) > errors(&before),
        "the failed SPF calls are counted:\n{text}"
    );
    let ok_calls = series(
        &text,
        "wapdr_fabric_call_duration_seconds_count",
        &format!("outcome=\"ok\",service=\"{spf_a}\""),
    );
    assert!(
        ok_calls.is_some_and(|n| n > 0.0),
        "enabling DR called SPF-A:\n{text}"
    );
    let enable_jobs = series(
        &text,
        "wapdr_job_duration_seconds_count",
        "result=\"Succeeded\",workflow=\"enable_dr\"",
    );
    assert!(
        enable_jobs.is_some_and(|n| n >= 1.0),
        "the enable_dr job that ended is counted:\n{text}"
    );
    assert_eq!(
        series(&text, "wapdr_protected_vms", "state=\"Protected\""),
        Some(2.0),
        "{text}"
    );
    let healthy: f64 = text
        .lines()
        .filter(|l| l.starts_with("wapdr_replication_health_vms{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(healthy, 2.0, "each Protected VM has one health:\n{text}");
    let replicated = records(app, &tenant)
        .await
        .iter()
        .filter(|vm| vm.last_replicated.is_some())
        .count();
    assert_eq!(
        series(&text, "wapdr_rpo_seconds_count", ""),
        Some(replicated as f64),
        "every replicated Protected VM has an RPO:\n{text}"
    );
    assert!(
        series(&text, "wapdr_rpo_seconds_sum", "").is_some_and(|s| s >= 0.0),
        "{text}"
    );
}

on_both_backends!(metrics_report_protected_vms_their_rpo_and_failed_fabric_calls);
