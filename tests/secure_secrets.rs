//! Secrets stay out of logs and error bodies, on SQLite and PostgreSQL.
//!
//! wapdr runs in-process under a tracing subscriber that captures everything at the most verbose
//! level into a buffer. It is set up against a lab (stamps registered with their SPF passwords and
//! WAP admin tokens, the vault reached with the ASR client secret), a tenant enables DR, and then
//! calls fail: wrong and borrowed Basic credentials, a stamp given a wrong password and verified,
//! a stamp's inventory read while the stamp is down, a runbook webhook called with its token in
//! the query. No secret may appear in any log line wapdr wrote or in any error body it answered.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use common::app::{ADMIN, Backend, NOTIFICATION, TENANT, TestApp, USAGE};
use common::dr::{DrWorld, gold_world};
use common::dr_api::send;
use common::failover::protected_tenant;
use common::lab::set_outage;

/// Everything every test of this binary logged, one JSON object per line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the capturing subscriber once for the binary: every target at TRACE, as JSON with
/// span fields, so nothing a handler, step or outbound call records escapes the check.
fn captured_logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(logs.clone())
            .init();
        logs
    })
}

/// The lines wapdr wrote (the lab runs in the same process and logs as `wapdr::lab`: it is the
/// fabric, not wapdr).
fn wapdr_log_lines() -> Vec<String> {
    let bytes = captured_logs().0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| {
            let target = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["target"].as_str().map(str::to_owned))
                .unwrap_or_default();
            !target.starts_with("wapdr::lab")
        })
        .map(str::to_owned)
        .collect()
}

/// Collects the bodies of failed calls.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    async fn call(&mut self, request: reqwest::RequestBuilder, body: Option<Value>) -> StatusCode {
        let (status, answer) = send(request, body).await;
        assert!(!status.is_success(), "{status}: {answer}");
        self.0.push(answer.to_string());
        status
    }
}

async fn an_admin_call(world: &DrWorld, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = send(world.app.admin(method, path), body).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

async fn no_secret_reaches_logs_or_error_bodies(backend: Backend) {
    captured_logs();
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (tenant, _) = protected_tenant(&world, "sara@contoso.com", 1, &[]).await;
    let app: &TestApp = &world.app;
    let stamps = world.lab.stamps();
    let wrong_password = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let runbook = an_admin_call(&world, Method::GET, "/runbooks/usage-meter", None).await;
    let webhook_token = runbook["WebhookToken"]
        .as_str()
        .expect("the admin detail shows the webhook token")
        .to_owned();
    let mut secrets: Vec<String> = stamps
        .iter()
        .flat_map(|s| [s.spf_password.clone(), s.wap_admin_token.clone()])
        .collect();
    secrets.push(world.lab.asr().client_secret.clone());
    secrets.extend([NOTIFICATION.1, USAGE.1, ADMIN.1, TENANT.1].map(str::to_owned));
    secrets.push(wrong_password.clone());
    secrets.push(webhook_token.clone());

    let mut failures = Failures::default();
    // Each endpoint called with another endpoint's password.
    let tenant_path = format!("/tenant/subscriptions/{}", tenant.id);
    let borrowed = [
        ("/admin/stamps", ADMIN.0, TENANT.1),
        ("/notification/defaultquota", NOTIFICATION.0, ADMIN.1),
        ("/usage?lastID=0&batchSize=1", USAGE.0, NOTIFICATION.1),
        (tenant_path.as_str(), TENANT.0, USAGE.1),
    ];
    for (path, user, password) in borrowed {
        let request = app
            .anonymous(Method::GET, path)
            .basic_auth(user, Some(password))
            .header("x-ms-principal-id", tenant.user.as_str());
        assert_eq!(
            failures.call(request, None).await,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    // Stamp A given a wrong SPF password: its verification fails on SPF's credentials.
    let stamp_a = format!("/stamps/{}", world.a);
    an_admin_call(
        &world,
        Method::PUT,
        &stamp_a,
        Some(json!({"SpfPassword": wrong_password})),
    )
    .await;
    let report = an_admin_call(&world, Method::POST, &format!("{stamp_a}/verify"), None).await;
    assert_eq!(report["Ok"], false, "{report}");
    failures.0.push(report.to_string());
    // Stamp B unreachable: its inventory cannot be read (502 naming the service).
    set_outage(&world.lab, &stamps[1].name, true).await;
    let status = failures
        .call(
            app.admin(Method::GET, &format!("/stamps/{}/clouds", world.b)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    set_outage(&world.lab, &stamps[1].name, false).await;
    // A webhook called with the token in its query (the form SMA schedules use), on a disabled
    // runbook, so it fails after the token was checked.
    an_admin_call(
        &world,
        Method::PUT,
        "/runbooks/usage-meter",
        Some(json!({"enabled": false})),
    )
    .await;
    let status = failures
        .call(
            app.anonymous(
                Method::POST,
                &format!("/webhooks/runbooks/usage-meter?token={webhook_token}"),
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // What the provider reads back never shows the secrets either.
    let mut answers = failures.0;
    for view in ["/stamps".to_owned(), stamp_a] {
        answers.push(
            an_admin_call(&world, Method::GET, &view, None)
                .await
                .to_string(),
        );
    }

    let logs = wapdr_log_lines();
    assert!(
        logs.iter().any(|line| line.contains("verify")) && logs.len() > 100,
        "the capture saw wapdr's work ({} lines)",
        logs.len()
    );
    for secret in &secrets {
        assert!(
            secret.len() >= 8,
            "a secret too short to search for: {secret}"
        );
        for answer in &answers {
            assert!(
                !answer.contains(secret.as_str()),
                "{secret} in an answer: {answer}"
            );
        }
        if let Some(line) = logs.iter().find(|line| line.contains(secret.as_str())) {
            panic!("{secret} in the log: {line}");
        }
    }
}

on_both_backends!(no_secret_reaches_logs_or_error_bodies);
