//! The pairing workflow through the admin API against a small lab: a new cloud pair is stored
//! `Pending`, the `pair_clouds` job ensures the policy and the container pairing in the vault, and
//! the pair ends `Paired`, or `Failed` with a reason the provider can act on.

mod common;

use std::time::{Duration, Instant};

use common::app::{Backend, TestApp};
use std::sync::Arc;

use common::lab::{asr, http, retries, small_lab};
use common::setup::{app_with_lab, bound_cloud, pair_body, register_lab_stamps};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use wapdr::engine::{Registry, RetryPolicy as EngineRetryPolicy};
use wapdr::fabric::ReplicationEngine as _;
use wapdr::fabric::RetryPolicy;
use wapdr::fabric::asr::{AsrEngine, AsrSettings};
use wapdr::fabric::replication::PollLimits;
use wapdr::lab::LabHandle;
use wapdr::workflows::{PairClouds, StampClients};

on_both_backends!(
    a_gold_pair_becomes_paired_in_the_vault_through_a_job,
    changing_a_policy_reapplies_it_through_every_pair_that_uses_it,
    no_get_of_the_admin_api_ever_shows_a_secret,
    a_vault_that_stays_unreachable_ends_the_pair_failed_not_pending,
    without_a_replication_engine_the_pair_ends_failed_with_the_reason,
);

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin call");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

/// Creates the gold-5min policy and the Gold A → Gold B pair; returns the pair as answered.
async fn pair_gold(app: &TestApp, lab: &LabHandle) -> Value {
    let (a, b) = register_lab_stamps(app, lab).await;
    let (status, _) = call(
        app,
        Method::POST,
        "/policies",
        Some(json!({"name": "gold-5min"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = pair_body(
        (&a, "a-gold", bound_cloud(lab, 0, "a-gold").await),
        (&b, "b-gold", bound_cloud(lab, 1, "b-gold").await),
        "gold-5min",
    );
    let (status, pair) = call(app, Method::POST, "/cloud-pairs", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{pair}");
    assert_eq!(pair["State"], "Pending");
    pair
}

/// Polls the pair until it leaves `Pending` (or 30 s pass).
async fn settled(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, pair) = call(app, Method::GET, &format!("/cloud-pairs/{id}"), None).await;
        if pair["State"] != "Pending" || Instant::now() > deadline {
            return pair;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_gold_pair_becomes_paired_in_the_vault_through_a_job(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let pair = pair_gold(&app, &lab).await;
    let id = pair["Id"].as_str().unwrap();
    let pair = settled(&app, id).await;
    assert_eq!(pair["State"], "Paired", "{pair}");
    assert_eq!(pair["Error"], Value::Null);

    // The vault holds the pairing and the policy, as the engine itself reports them.
    let engine = asr(&lab);
    let sites = engine.sites().await.unwrap();
    let a_site = sites
        .iter()
        .find(|s| {
            s.stamp_id
                .eq_ignore_ascii_case(&lab.stamps()[0].stamp_id.to_string())
        })
        .expect("stamp A's site");
    let gold = engine
        .containers(&a_site.id)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name.contains("Gold"))
        .expect("Gold");
    assert!(gold.paired, "{gold:?}");

    // Verify of stamp A now also judges the pair: its plan is bound and its cloud paired.
    let stamp_a = pair["Primary"]["StampId"].as_str().unwrap();
    let (_, report) = call(
        &app,
        Method::POST,
        &format!("/stamps/{stamp_a}/verify"),
        None,
    )
    .await;
    assert_eq!(report["Ok"], true, "{report:#}");
    let pairs_check = report["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Service"] == "Cloud pairs")
        .expect("a Cloud pairs check");
    assert!(
        pairs_check["Found"].to_string().contains(id),
        "{pairs_check}"
    );

    let (_, jobs) = call(&app, Method::GET, "/jobs?workflow=pair_clouds", None).await;
    let jobs = jobs.as_array().expect("jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["State"], "Succeeded", "{jobs:?}");
}

async fn without_a_replication_engine_the_pair_ends_failed_with_the_reason(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let lab = small_lab().await;
    let pair = pair_gold(&app, &lab).await;
    let pair = settled(&app, pair["Id"].as_str().unwrap()).await;
    assert_eq!(pair["State"], "Failed", "{pair}");
    assert!(
        pair["Error"]
            .as_str()
            .unwrap()
            .starts_with("No replication engine configured"),
        "{pair}"
    );
}

async fn changing_a_policy_reapplies_it_through_every_pair_that_uses_it(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let pair = pair_gold(&app, &lab).await;
    let id = pair["Id"].as_str().unwrap();
    assert_eq!(settled(&app, id).await["State"], "Paired");
    let (status, _) = call(
        &app,
        Method::PUT,
        "/policies/gold-5min",
        Some(json!({"copyFrequencySeconds": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(30);
    let jobs = loop {
        let (_, jobs) = call(&app, Method::GET, "/jobs?workflow=pair_clouds", None).await;
        let done = jobs
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["State"] == "Succeeded")
            .count();
        if done == 2 || Instant::now() > deadline {
            break jobs;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(jobs.as_array().unwrap().len(), 2, "{jobs}");
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["State"] == "Succeeded"),
        "{jobs}"
    );
    assert_eq!(settled(&app, id).await["State"], "Paired");
}

async fn no_get_of_the_admin_api_ever_shows_a_secret(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let pair = pair_gold(&app, &lab).await;
    let id = pair["Id"].as_str().unwrap();
    settled(&app, id).await;
    let (a, b) = (
        pair["Primary"]["StampId"].as_str().unwrap(),
        pair["Recovery"]["StampId"].as_str().unwrap(),
    );
    let mut secrets: Vec<String> = lab
        .stamps()
        .iter()
        .flat_map(|s| [s.spf_password.clone(), s.wap_admin_token.clone()])
        .collect();
    secrets.push(lab.asr().client_secret.clone());
    let mut paths = vec![
        "/stamps".to_owned(),
        "/policies".to_owned(),
        "/policies/gold-5min".to_owned(),
        "/cloud-pairs".to_owned(),
        format!("/cloud-pairs/{id}"),
        format!("/cloud-pairs/{id}/network-mappings"),
        "/jobs?workflow=pair_clouds".to_owned(),
    ];
    for stamp in [a, b] {
        for tail in ["", "/clouds", "/plans", "/networks"] {
            paths.push(format!("/stamps/{stamp}{tail}"));
        }
    }
    for path in paths {
        for accept in ["application/json", "application/xml"] {
            let response = app
                .admin(Method::GET, &path)
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let body = response.text().await.unwrap();
            for secret in &secrets {
                assert!(
                    !body.contains(secret.as_str()),
                    "{path} ({accept}) shows a secret"
                );
            }
        }
    }
}

async fn a_vault_that_stays_unreachable_ends_the_pair_failed_not_pending(backend: Backend) {
    // A vault nobody answers for, and a pairing workflow that gives up after two quick tries.
    let lab = small_lab().await;
    let dead = "http://127.0.0.1:9".to_owned();
    let access = lab.asr();
    let engine = AsrEngine::new(
        AsrSettings {
            arm_url: dead.clone(),
            login_url: dead,
            tenant_id: access.tenant_id.to_string(),
            client_id: access.client_id.to_string(),
            client_secret: SecretString::from(access.client_secret.clone()),
            subscription_id: access.subscription_id.to_string(),
            resource_group: access.resource_group.clone(),
            vault: access.vault.clone(),
            api_version: "2025-08-01".into(),
            setup_timeout: Duration::from_secs(5),
            poll: PollLimits::default(),
        },
        &http(),
        RetryPolicy::new(1, Duration::from_millis(1), Duration::from_millis(1)),
    )
    .unwrap();
    let clients = StampClients::new(http(), retries(), Some(Arc::new(engine)));
    let quick = EngineRetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
        jitter: 0.0,
    };
    let registry =
        Registry::new().with(PairClouds::new(Arc::new(clients)).with_retry_policy(quick));
    let Some(app) = TestApp::start_with_workflows(backend, registry).await else {
        return;
    };
    let pair = pair_gold(&app, &lab).await;
    let pair = settled(&app, pair["Id"].as_str().unwrap()).await;
    assert_eq!(pair["State"], "Failed", "{pair}");
    let error = pair["Error"].as_str().unwrap();
    assert!(error.starts_with("gave up after 2 attempts: "), "{error}");
    assert!(error.contains("unreachable"), "{error}");
}
