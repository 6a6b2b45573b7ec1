//! The admin API of the engine against a real listener, on SQLite and PostgreSQL: runbooks
//! (list, enable/disable, reschedule, start, kept across restarts), the runbook webhook and its
//! token, and jobs (list, detail, cancel, acknowledge). Bad input is a WAP error that changes
//! nothing.

mod common;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wapdr::engine::{
    Registry, StartRequest, StepContext, StepOutcome, StepSpec, Workflow, start_run,
};
use wapdr::store::RunState;

use common::app::{Backend, TestApp};
use common::engine::wait_for_run;

/// Stands in for the monthly drill so one bundled runbook has its workflow: asks an operator to
/// confirm, then finishes.
struct Drill;

#[async_trait]
impl Workflow for Drill {
    fn name(&self) -> &'static str {
        "scheduled_drill"
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("confirm", "ack")],
            vec![StepSpec::new("drill", "drill")],
        ]
    }

    async fn run_step(&self, _ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        match step.kind.as_str() {
            "ack" => StepOutcome::WaitForAck {
                prompt: "Start the drill?".into(),
            },
            _ => StepOutcome::Done(json!("drilled")),
        }
    }
}

async fn app_with_drill(backend: Backend) -> Option<TestApp> {
    TestApp::start_with_workflows(backend, Registry::new().with(Drill)).await
}

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn runbook(app: &TestApp, name: &str) -> Value {
    json_of(
        app.admin(Method::GET, &format!("/runbooks/{name}"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .1
}

async fn runbooks_list_every_bundled_runbook_and_refuse_to_start_one_without_its_workflow(
    backend: Backend,
) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let (status, list) = json_of(app.admin(Method::GET, "/runbooks").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "protect-new-vms",
            "reconcile-mirrors",
            "replication-health",
            "scheduled-drill",
            "site-heartbeat",
            "usage-meter"
        ]
    );
    // The DR runbooks', the site heartbeat's and the usage meter's workflows are in this build;
    // scheduled-drill's is not yet.
    let protect = &list[0];
    assert_eq!(protect["Available"], json!(true));
    assert_eq!(protect["UnavailableReason"], Value::Null);
    assert_eq!(list[4]["Available"], json!(true), "site-heartbeat");
    assert_eq!(list[5]["Available"], json!(true), "usage-meter");
    let drill = &list[3];
    assert_eq!(drill["Available"], json!(false));
    assert_eq!(
        drill["UnavailableReason"],
        json!("workflow 'scheduled_drill' is not available in this version")
    );
    assert!(
        protect.get("WebhookToken").is_none(),
        "tokens only in detail"
    );
    let (status, error) = json_of(
        app.admin(Method::POST, "/runbooks/scheduled-drill/start")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error["Message"],
        json!("workflow 'scheduled_drill' is not available in this version")
    );
    let (status, _) = json_of(app.admin(Method::GET, "/jobs").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let xml = app
        .admin(Method::GET, "/runbooks/usage-meter")
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("<Runbook ") && xml.contains("<Name>usage-meter</Name>"),
        "{xml}"
    );
    let (status, _) = json_of(
        app.admin(Method::GET, "/runbooks/no-such")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn operator_changes_to_runbooks_are_kept_across_restarts_and_bad_ones_change_nothing(
    backend: Backend,
) {
    let Some(mut app) = TestApp::start(backend).await else {
        return;
    };
    let put = |body: Value| {
        app.admin(Method::PUT, "/runbooks/site-heartbeat")
            .json(&body)
            .send()
    };
    let (status, _) = json_of(
        put(json!({ "enabled": false, "schedule": "*/2 * * * *" }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = json_of(put(json!({ "schedule": "every minute" })).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["Message"]
            .as_str()
            .unwrap()
            .contains("'every minute'"),
        "{error}"
    );
    let (status, _) = json_of(put(json!({ "enabled": "yes" })).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = json_of(put(json!({ "colour": "red" })).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let token = runbook(&app, "site-heartbeat").await["WebhookToken"].clone();
    app.restart().await;
    let heartbeat = runbook(&app, "site-heartbeat").await;
    assert_eq!(heartbeat["Enabled"], json!(false));
    assert_eq!(heartbeat["Schedule"], json!("*/2 * * * *"));
    assert_eq!(
        heartbeat["WebhookToken"], token,
        "the token survives restarts"
    );
    let (status, cleared) = json_of(
        app.admin(Method::PUT, "/runbooks/site-heartbeat")
            .json(&json!({ "schedule": null }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (cleared["Schedule"].clone(), cleared["Enabled"].clone()),
        (Value::Null, json!(false))
    );
}

async fn the_webhook_takes_only_the_runbooks_own_token(backend: Backend) {
    let Some(app) = app_with_drill(backend).await else {
        return;
    };
    let hook = |token: Option<&str>| {
        let request = app.anonymous(Method::POST, "/webhooks/runbooks/scheduled-drill");
        match token {
            Some(t) => request.header("x-wapdr-webhook-token", t),
            None => request,
        }
    };
    let token = runbook(&app, "scheduled-drill").await["WebhookToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        hook(None).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let admin_creds = hook(None).basic_auth(common::app::ADMIN.0, Some(common::app::ADMIN.1));
    assert_eq!(
        admin_creds.send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        hook(Some("guess")).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let (status, error) = json_of(hook(Some(&token)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "disabled by default: {error}");
    // Only the drill's jobs: the bundled site heartbeat may tick (every minute) mid-test.
    let (_, jobs) = json_of(
        app.admin(Method::GET, "/jobs?workflow=scheduled_drill")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(jobs, json!([]), "refused calls started nothing");
    app.admin(Method::PUT, "/runbooks/scheduled-drill")
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .unwrap();
    let (status, job) = json_of(
        app.anonymous(
            Method::POST,
            &format!("/webhooks/runbooks/scheduled-drill?token={token}"),
        )
        .json(&json!({ "parameters": { "subscriptions": ["s1"] } }))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(job["Trigger"], json!("webhook"));
    let params: Value = serde_json::from_str(job["Parameters"].as_str().unwrap()).unwrap();
    assert_eq!(
        params,
        json!({ "subscriptions": ["s1"], "cleanup_after_minutes": 60 })
    );
}

async fn jobs_are_listed_shown_acknowledged_and_cancelled_through_the_api(backend: Backend) {
    let Some(app) = app_with_drill(backend).await else {
        return;
    };
    let store = app.store();
    let registry = Registry::new().with(Drill);
    let start = || StartRequest {
        workflow: "scheduled_drill".into(),
        params: json!({ "subscriptionId": "0f4c2a47-04b4-4d0c-8a7f-8f0d3e9c1b2a" }),
        trigger: "test".into(),
        started_by: "tester".into(),
        reason: None,
        dedupe_key: None,
    };
    let first = start_run(&store, &registry, start()).await.unwrap().id;
    let second = start_run(&store, &registry, start()).await.unwrap().id;
    for id in [first, second] {
        wait_for_run(&store, id, Duration::from_secs(10), |r| {
            r.state == RunState::Waiting
        })
        .await;
    }
    let (_, waiting) = json_of(
        app.admin(
            Method::GET,
            "/jobs?state=waiting&subscription=0f4c2a47-04b4-4d0c-8a7f-8f0d3e9c1b2a&limit=1",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(waiting.as_array().unwrap().len(), 1);
    assert_eq!(waiting[0]["Id"], json!(second.to_string()), "newest first");
    let (_, page_two) = json_of(
        app.admin(Method::GET, &format!("/jobs?after={second}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page_two[0]["Id"], json!(first.to_string()));
    for bad in ["/jobs?state=Sleeping", "/jobs?limit=0", "/jobs?after=nope"] {
        assert_eq!(
            app.admin(Method::GET, bad).send().await.unwrap().status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let (status, detail) = json_of(
        app.admin(Method::GET, &format!("/jobs/{first}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["Steps"][0]["State"], json!("Waiting"));
    assert_eq!(detail["Steps"][0]["AckPrompt"], json!("Start the drill?"));
    assert_eq!(detail["Steps"][1]["Stage"], json!(2));

    let ack = |job: uuid::Uuid, step: &str, body: Value| {
        app.admin(
            Method::POST,
            &format!("/jobs/{job}/steps/{step}/acknowledge"),
        )
        .json(&body)
        .send()
    };
    assert_eq!(
        ack(first, "1", json!({ "comment": "no who" }))
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ack(first, "2", json!({ "by": "alice" }))
            .await
            .unwrap()
            .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        ack(first, "9", json!({ "by": "alice" }))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let (status, acked) = json_of(
        ack(first, "1", json!({ "by": "alice", "comment": "go" }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(acked["Steps"][0]["AcknowledgedBy"], json!("alice"));
    let done = wait_for_run(&store, first, Duration::from_secs(10), |r| {
        r.state.is_final()
    })
    .await;
    assert_eq!(done.state, RunState::Succeeded);

    let cancel = |job: String| {
        app.admin(Method::POST, &format!("/jobs/{job}/cancel"))
            .send()
    };
    let (status, cancelled) = json_of(cancel(second.to_string()).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["State"], json!("Cancelled"));
    assert_eq!(
        cancel(first.to_string()).await.unwrap().status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        cancel(uuid::Uuid::now_v7().to_string())
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        cancel("not-a-job".into()).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let unauthenticated = app
        .anonymous(Method::GET, "/admin/jobs")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

on_both_backends!(
    runbooks_list_every_bundled_runbook_and_refuse_to_start_one_without_its_workflow,
    operator_changes_to_runbooks_are_kept_across_restarts_and_bad_ones_change_nothing,
    the_webhook_takes_only_the_runbooks_own_token,
    jobs_are_listed_shown_acknowledged_and_cancelled_through_the_api,
);
