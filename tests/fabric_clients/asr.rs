//! The ASR engine: Azure AD tokens, long-running operations and ASR's refusals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use secrecy::SecretString;
use serde_json::{Value, json};
use wapdr::fabric::replication::{
    Direction, ItemRef, OperationState, PolicyRef, PollLimits, ReplicationEngine,
};
use wapdr::fabric::{AsrEngine, AsrSettings, FabricError};

use super::{quick_retries, serve, settings};

const VAULT: &str =
    "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v";

/// What one POST carried: its Content-Type and its body's length.
type Posted = (Option<String>, usize);

#[derive(Clone, Default)]
struct Lab {
    tokens_issued: Arc<AtomicUsize>,
    expires_in: Arc<AtomicUsize>,
    /// ARM refuses tokens numbered below this.
    first_good_token: Arc<AtomicUsize>,
    polls: Arc<Mutex<Vec<Instant>>>,
    /// Every `failoverCancel` POST received.
    cancels: Arc<Mutex<Vec<Posted>>>,
    /// Polls of the cancel's `Location` URL.
    cancel_polls: Arc<AtomicUsize>,
}

/// `failoverCancel`: declines the first attempt with 503 (the service did not act on it), then
/// accepts with a `Location` header only, as older ARM answers do.
async fn failover_cancel(State(lab): State<Lab>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let attempt = {
        let mut cancels = lab.cancels.lock().unwrap();
        cancels.push((content_type, body.len()));
        cancels.len()
    };
    if attempt == 1 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("Retry-After", "0")],
            Json(json!({"error": {"code": "ServiceUnavailable", "message": "busy"}})),
        )
            .into_response();
    }
    let host = headers["host"].to_str().unwrap().to_owned();
    (
        StatusCode::ACCEPTED,
        [
            ("Location", format!("http://{host}{VAULT}/replicationJobs/job2/operationresults/job2?api-version=2025-08-01")),
            ("Retry-After", "0".to_owned()),
        ],
    )
        .into_response()
}

/// The cancel's `Location`: 202 on the first poll, then 200 with no body.
async fn cancel_result(State(lab): State<Lab>) -> Response {
    if lab.cancel_polls.fetch_add(1, Ordering::SeqCst) == 0 {
        (StatusCode::ACCEPTED, [("Retry-After", "0")]).into_response()
    } else {
        StatusCode::OK.into_response()
    }
}

async fn token(
    State(lab): State<Lab>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["scope"], "https://management.azure.com/.default");
    assert_eq!(form["client_id"], "app");
    if form.get("client_secret").map(String::as_str) != Some("right") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."})),
        )
            .into_response();
    }
    let n = lab.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"token_type": "Bearer", "expires_in": lab.expires_in.load(Ordering::SeqCst), "access_token": format!("t{n}")}))
        .into_response()
}

fn authorised(lab: &Lab, headers: &HeaderMap) -> bool {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    presented
        .strip_prefix("Bearer t")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n >= lab.first_good_token.load(Ordering::SeqCst))
}

async fn fabrics(
    State(lab): State<Lab>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    assert_eq!(q["api-version"], "2025-08-01");
    if !authorised(&lab, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "ExpiredAuthenticationToken", "message": "expired"}})),
        )
            .into_response();
    }
    Json(json!({"value": [{"id": format!("/Subscriptions/sub{VAULT}/replicationFabrics/f1"), "name": "f1",
        "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
        "properties": {"friendlyName": "vmm-a.contoso.local", "internalIdentifier": "stamp-a",
                       "customDetails": {"instanceType": "VMM"}}}]}))
    .into_response()
}

async fn lab(expires_in: usize) -> (Lab, String) {
    let lab = Lab::default();
    lab.expires_in.store(expires_in, Ordering::SeqCst);
    let item = format!(
        "{VAULT}/replicationFabrics/f1/replicationProtectionContainers/c1/replicationProtectedItems/vm1"
    );
    let router = Router::new()
        .route("/tenant/oauth2/v2.0/token", post(token))
        .route(&format!("{VAULT}/replicationFabrics"), get(fabrics))
        .route(
            &item,
            put(|headers: HeaderMap, Json(body): Json<Value>| async move {
                assert_eq!(body["properties"]["providerSpecificDetails"]["instanceType"], "HyperVReplica2012R2");
                let host = headers["host"].to_str().unwrap().to_owned();
                (
                    StatusCode::ACCEPTED,
                    [
                        ("Azure-AsyncOperation", format!("http://{host}{VAULT}/replicationOperationStatus/job1?api-version=2025-08-01")),
                        ("Location", format!("http://{host}{VAULT}/replicationJobs/job1/operationresults/job1?api-version=2025-08-01")),
                        ("Retry-After", "1".to_owned()),
                    ],
                )
            }),
        )
        .route(
            &format!("{item}/plannedFailover"),
            post(|| async {
                (StatusCode::CONFLICT, Json(json!({"error": {"code": "532", "message": "An operation is already in progress."}})))
            }),
        )
        .route(
            &format!("{item}/failoverCommit"),
            post(|| async {
                (StatusCode::BAD_REQUEST, Json(json!({"error": {"code": "InvalidOperation", "message": "Allowed: PlannedFailover, TestFailover"}})))
            }),
        )
        .route(&format!("{item}/failoverCancel"), post(failover_cancel))
        .route(
            &format!("{VAULT}/replicationJobs/job2/operationresults/job2"),
            get(cancel_result),
        )
        .route(
            &format!("{VAULT}/replicationJobs/job2"),
            get(|| async {
                Json(json!({"name": "job2", "id": "x", "properties": {"state": "Succeeded", "scenarioName": "CancelFailover",
                    "tasks": [{"name": "VmCfoPrerequisitesCheck", "state": "Succeeded"},
                              {"name": "VmCfoShutdownFailedOverVm", "state": "Succeeded"},
                              {"name": "VmCfoStartVmOnSource", "state": "Succeeded"}], "errors": []}}))
            }),
        )
        .route(
            &format!("{VAULT}/replicationOperationStatus/job1"),
            get(|State(lab): State<Lab>| async move {
                let mut polls = lab.polls.lock().unwrap();
                polls.push(Instant::now());
                let status = if polls.len() < 2 { "InProgress" } else { "Succeeded" };
                ([("Retry-After", "1")], Json(json!({"name": "job1", "status": status})))
            }),
        )
        .route(
            &format!("{VAULT}/replicationJobs/job1"),
            get(|| async {
                Json(json!({"name": "job1", "id": "x", "properties": {"state": "Succeeded", "scenarioName": "EnableDr",
                    "tasks": [{"name": "EnableProtectionPrerequisitesCheck", "state": "Succeeded"},
                              {"name": "StartInitialReplication", "state": "Succeeded"}], "errors": []}}))
            }),
        )
        .with_state(lab.clone());
    (lab, serve(router).await)
}

fn engine(base: &str, secret: &str) -> AsrEngine {
    AsrEngine::new(
        AsrSettings {
            arm_url: base.to_owned(),
            login_url: base.to_owned(),
            tenant_id: "tenant".into(),
            client_id: "app".into(),
            client_secret: SecretString::from(secret.to_owned()),
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            vault: "v".into(),
            api_version: "2025-08-01".into(),
            setup_timeout: Duration::from_secs(10),
            poll: PollLimits {
                min_interval: Duration::from_millis(10),
                max_interval: Duration::from_secs(5),
            },
        },
        &settings(),
        quick_retries(),
    )
    .unwrap()
}

fn item() -> ItemRef {
    ItemRef {
        site: "f1".into(),
        container: "c1".into(),
        vm_id: "vm1".into(),
    }
}

#[tokio::test]
async fn one_token_serves_many_calls() {
    let (lab, base) = lab(3599).await;
    let asr = engine(&base, "right");

    let sites = asr.sites().await.unwrap();
    asr.sites().await.unwrap();
    asr.sites().await.unwrap();

    assert_eq!(lab.tokens_issued.load(Ordering::SeqCst), 1);
    assert_eq!(sites[0].name, "vmm-a.contoso.local");
    assert_eq!(sites[0].stamp_id, "stamp-a");
}

#[tokio::test]
async fn an_expiring_token_is_renewed() {
    let (lab, base) = lab(1).await;
    let asr = engine(&base, "right");

    asr.sites().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    asr.sites().await.unwrap();

    assert_eq!(lab.tokens_issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_token_arm_rejects_is_renewed_once() {
    let (lab, base) = lab(3599).await;
    lab.first_good_token.store(2, Ordering::SeqCst);
    let asr = engine(&base, "right");

    let sites = asr.sites().await.unwrap();

    assert_eq!(sites.len(), 1);
    assert_eq!(lab.tokens_issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_wrong_client_secret_is_unauthorized_and_not_disclosed() {
    let (_, base) = lab(3599).await;
    let asr = engine(&base, "wrong-secret-value");

    let err = asr.sites().await.unwrap_err();

    assert!(
        matches!(&err, FabricError::Unauthorized { service, .. } if service == "Azure AD"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("invalid_client")
            || err.to_string().contains("Invalid client secret")
    );
    assert!(!format!("{err:?}").contains("wrong-secret-value"));
}

#[tokio::test]
async fn enabling_protection_is_polled_until_done_honouring_retry_after() {
    let (lab, base) = lab(3599).await;
    let asr = engine(&base, "right");
    let policy = PolicyRef {
        id: format!("{VAULT}/replicationPolicies/p1"),
        name: "p1".into(),
    };

    let operation = asr.enable_protection(&item(), &policy).await.unwrap();
    let status = asr.wait(&operation, Duration::from_secs(10)).await.unwrap();

    assert_eq!(status.state, OperationState::Succeeded);
    assert_eq!(status.tasks.len(), 2);
    assert_eq!(status.tasks[1].name, "StartInitialReplication");
    let polls = lab.polls.lock().unwrap();
    assert_eq!(polls.len(), 2);
    assert!(
        polls[1] - polls[0] >= Duration::from_millis(950),
        "waited {:?}",
        polls[1] - polls[0]
    );
}

#[tokio::test]
async fn a_busy_item_and_a_forbidden_operation_are_told_apart() {
    let (_, base) = lab(3599).await;
    let asr = engine(&base, "right");

    let busy = asr
        .planned_failover(&item(), Direction::PrimaryToRecovery)
        .await
        .unwrap_err();
    let forbidden = asr.commit(&item()).await.unwrap_err();

    assert!(
        matches!(&busy, FabricError::Conflict { code, .. } if code == "532"),
        "{busy:?}"
    );
    assert!(busy.is_transient());
    assert!(
        matches!(&forbidden, FabricError::InvalidOperation { message, .. } if message.contains("PlannedFailover")),
        "{forbidden:?}"
    );
}

#[tokio::test]
async fn a_status_url_on_another_host_is_not_followed() {
    let (_, base) = lab(3599).await;
    let asr = engine(&base, "right");

    let err = asr
        .operation(&wapdr::fabric::replication::OperationId(
            "http://elsewhere.example/status/1".into(),
        ))
        .await
        .unwrap_err();

    assert!(matches!(err, FabricError::Protocol { .. }), "{err:?}");
}

#[tokio::test]
async fn cancelling_a_failover_posts_no_body_is_resent_after_a_503_and_follows_location() {
    let (lab, base) = lab(3599).await;
    let asr = engine(&base, "right");

    let operation = asr.cancel_failover(&item()).await.unwrap();
    let status = asr.wait(&operation, Duration::from_secs(10)).await.unwrap();

    assert!(
        operation
            .as_str()
            .contains("/replicationJobs/job2/operationresults/job2"),
        "the Location URL is the operation: {operation:?}"
    );
    assert_eq!(status.state, OperationState::Succeeded);
    let tasks: Vec<&str> = status.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tasks,
        [
            "VmCfoPrerequisitesCheck",
            "VmCfoShutdownFailedOverVm",
            "VmCfoStartVmOnSource"
        ],
        "the job behind the Location URL is read for its tasks"
    );
    assert_eq!(lab.cancel_polls.load(Ordering::SeqCst), 2);
    let cancels = lab.cancels.lock().unwrap();
    assert_eq!(cancels.len(), 2, "a 503 is re-sent even for an action");
    for (content_type, length) in cancels.iter() {
        assert_eq!(*length, 0, "failoverCancel has no body");
        assert_eq!(*content_type, None, "and so no Content-Type");
    }
}
