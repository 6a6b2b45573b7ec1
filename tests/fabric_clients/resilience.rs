//! The shared retry policy end to end: transient failures retried where safe, outages and
//! timeouts reported as such.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::json;
use wapdr::fabric::spf::{NewVm, VmQuery};
use wapdr::fabric::{FabricError, HttpSettings, RetryPolicy, SpfClient};

use super::{quick_retries, serve, settings};

const ROOT: &str = "/SC2012R2/VMM/Microsoft.Management.Odata.svc";

fn spf(base: &str, http: &HttpSettings, policy: RetryPolicy) -> SpfClient {
    SpfClient::new(
        &format!("{base}{ROOT}"),
        "admin",
        SecretString::from("pw"),
        http,
        policy,
    )
    .unwrap()
    .named("SPF stamp A")
}

/// A route that fails `failures` times with `status`, then answers an empty collection.
fn flaky(failures: usize, status: StatusCode, calls: Arc<AtomicUsize>) -> Router {
    let handler = move || {
        let calls = calls.clone();
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) < failures {
                (
                    status,
                    Json(
                        json!({"odata.error": {"code": "Busy", "message": {"value": "try later"}}}),
                    ),
                )
            } else {
                (StatusCode::OK, Json(json!({"value": []})))
            }
        }
    };
    Router::new().route(
        &format!("{ROOT}/VirtualMachines"),
        get(handler.clone()).post(handler),
    )
}

#[tokio::test]
async fn a_read_succeeds_after_two_503s() {
    let calls = Arc::new(AtomicUsize::new(0));
    let base = serve(flaky(2, StatusCode::SERVICE_UNAVAILABLE, calls.clone())).await;

    let vms = spf(&base, &settings(), quick_retries())
        .list_vms(&VmQuery::default())
        .await
        .unwrap();

    assert!(vms.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_creating_post_is_not_re_sent_after_a_500() {
    let calls = Arc::new(AtomicUsize::new(0));
    let base = serve(flaky(1, StatusCode::INTERNAL_SERVER_ERROR, calls.clone())).await;
    let vm = NewVm {
        name: "web1".into(),
        ..NewVm::default()
    };

    let err = spf(&base, &settings(), quick_retries())
        .create_vm(&vm)
        .await
        .unwrap_err();

    assert!(
        matches!(err, FabricError::Unavailable { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_lasting_outage_is_unavailable_after_the_allowed_attempts() {
    let calls = Arc::new(AtomicUsize::new(0));
    let base = serve(flaky(
        usize::MAX,
        StatusCode::SERVICE_UNAVAILABLE,
        calls.clone(),
    ))
    .await;

    let err = spf(&base, &settings(), quick_retries())
        .list_vms(&VmQuery::default())
        .await
        .unwrap_err();

    assert!(
        matches!(&err, FabricError::Unavailable { status: 503, service, .. } if service == "SPF stamp A"),
        "{err:?}"
    );
    assert!(err.to_string().contains("try later"));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let err = spf(&base, &settings(), quick_retries())
        .list_stamps()
        .await
        .unwrap_err();

    assert!(
        matches!(&err, FabricError::Unreachable { service, .. } if service == "SPF stamp A"),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_silent_service_is_a_timeout() {
    let router = Router::new().route(
        &format!("{ROOT}/Stamps"),
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(json!({"value": []}))
        }),
    );
    let base = serve(router).await;
    let http = HttpSettings {
        request_timeout: Duration::from_millis(200),
        ..settings()
    };

    let err = spf(&base, &http, RetryPolicy::no_retry())
        .list_stamps()
        .await
        .unwrap_err();

    assert!(matches!(err, FabricError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn a_throttled_post_is_re_sent() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let router = Router::new().route(
        &format!("{ROOT}/VirtualMachines"),
        post(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "0")], Json(json!({})))
                } else {
                    (StatusCode::CREATED, [("Retry-After", "0")], Json(json!({"ID": "00000000-0000-0000-0000-000000000009",
                        "StampId": "00000000-0000-0000-0000-000000000001", "Name": "web1", "StatusString": "Creating..."})))
                }
            }
        }),
    );
    let base = serve(router).await;
    let vm = NewVm {
        name: "web1".into(),
        ..NewVm::default()
    };

    let created = spf(&base, &settings(), quick_retries())
        .create_vm(&vm)
        .await
        .unwrap();

    assert_eq!(created.status_string.as_deref(), Some("Creating..."));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
