//! A stand-in for a provider's script webhooks (an HTTP server that answers each path as told
//! and keeps every call), and the checks that a webhook's token never shows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wapdr::store::RunRecord;

use crate::common::app::TestApp;
use crate::support::{report, steps};

/// The token every script webhook URL carries in its query; it must never show.
pub(crate) const TOKEN: &str = "s3cr3t-hook-token";

/// Asserts `text` never shows the webhook token.
pub(crate) fn assert_no_token(what: &str, text: &str) {
    assert!(
        !text.contains(TOKEN),
        "{what} shows the webhook token: {text}"
    );
}

/// Asserts no step name or error of a job, nor the job's error, shows the webhook token.
pub(crate) async fn assert_job_hides_token(app: &TestApp, run: &RunRecord) {
    assert_no_token("the job's error", run.error.as_deref().unwrap_or_default());
    for step in steps(app, run.id).await {
        assert_no_token("a step name", &step.name);
        assert_no_token("a step error", step.error.as_deref().unwrap_or_default());
    }
    let report = report(app, run.id).await;
    for group in report["Groups"].as_array().expect("Groups") {
        for action in group["Actions"].as_array().expect("Actions") {
            assert_no_token("a reported action", &action.to_string());
        }
    }
    assert_no_token("the report's error", &report["Error"].to_string());
}

/// One call a [`Hooks`] server received.
#[derive(Debug, Clone)]
pub(crate) struct HookCall {
    /// The URL's query string.
    pub(crate) query: Option<String>,
    /// The `Idempotency-Key` header.
    pub(crate) idempotency_key: Option<String>,
    /// The JSON body (the failover's context).
    pub(crate) body: Value,
}

/// How a [`Hooks`] path answers: after `delay`, `status` with `body`.
#[derive(Debug, Clone)]
struct HookAnswer {
    status: u16,
    body: String,
    delay: Duration,
}

/// What a [`Hooks`] server answers per path, and the calls it got per path.
#[derive(Default)]
struct HookState {
    answers: HashMap<String, HookAnswer>,
    calls: HashMap<String, Vec<HookCall>>,
}

/// A stand-in for a provider's script webhooks: answers each path as told (200 "ok" unless
/// told otherwise) and keeps every call.
pub(crate) struct Hooks {
    base: String,
    state: Arc<Mutex<HookState>>,
}

impl Hooks {
    /// Starts the server on a free local port.
    pub(crate) async fn start() -> Self {
        let state = Arc::new(Mutex::new(HookState::default()));
        let shared = state.clone();
        let router = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let shared = shared.clone();
                async move {
                    let answer = {
                        let mut state = shared.lock().unwrap();
                        state
                            .calls
                            .entry(uri.path().to_owned())
                            .or_default()
                            .push(HookCall {
                                query: uri.query().map(str::to_owned),
                                idempotency_key: headers
                                    .get("idempotency-key")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            });
                        state.answers.get(uri.path()).cloned()
                    };
                    let answer = answer.unwrap_or(HookAnswer {
                        status: 200,
                        body: "ok".into(),
                        delay: Duration::ZERO,
                    });
                    tokio::time::sleep(answer.delay).await;
                    (
                        axum::http::StatusCode::from_u16(answer.status).unwrap(),
                        answer.body,
                    )
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            state,
        }
    }

    /// The URL of `path` as a plan names it, with the secret token in its query.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}?token={TOKEN}", self.base)
    }

    /// The URL of `path` as errors may show it (no query).
    pub(crate) fn shown(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// From now on `path` answers `status` with `body`.
    pub(crate) fn answer(&self, path: &str, status: u16, body: &str) {
        self.answer_after(path, Duration::ZERO, status, body);
    }

    /// From now on `path` answers `status` with `body` after `delay`.
    pub(crate) fn answer_after(&self, path: &str, delay: Duration, status: u16, body: &str) {
        let answer = HookAnswer {
            status,
            body: body.to_owned(),
            delay,
        };
        self.state
            .lock()
            .unwrap()
            .answers
            .insert(path.to_owned(), answer);
    }

    /// The calls `path` got, in order.
    pub(crate) fn calls(&self, path: &str) -> Vec<HookCall> {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

/// A script action calling `url`.
pub(crate) fn script(url: &str) -> Value {
    json!({ "Kind": "Script", "Url": url, "TimeoutSeconds": 10 })
}
