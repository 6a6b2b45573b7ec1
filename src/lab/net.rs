//! The lab's listeners and the layer every fabric request passes: one listener per service, so
//! each has its own base URL; a stamp outage closes its listeners (connections refused) and
//! re-opens them on the same ports when it ends. The layer adds the latency knob, counts the call
//! and injects the error-rate knob's errors, always before any effect.
//!
//! Nothing here knows what a service means; it must never touch the world except the counters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::LabState;

/// Which kind of service a listener serves (decides the error body of injected errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// SPF VMM OData.
    Spf,
    /// WAP admin API.
    WapAdmin,
    /// ASR over ARM.
    Asr,
    /// Azure AD token endpoint.
    Token,
}

impl ServiceKind {
    /// The counter name (`spf`, `wap_admin`, `asr`, `token`).
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Spf => "spf",
            ServiceKind::WapAdmin => "wap_admin",
            ServiceKind::Asr => "asr",
            ServiceKind::Token => "token",
        }
    }
}

/// The service a request reached: its kind and, for per-stamp services, the stamp's index.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// What it serves.
    pub kind: ServiceKind,
    /// The stamp, for SPF and WAP admin.
    pub stamp: Option<usize>,
}

/// Binds `host:port` (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))
}

/// Wraps a service router in the fabric layer (latency, counting, error injection).
pub fn fabric_layer(router: Router, state: Arc<LabState>, service: Service) -> Router {
    router.layer(middleware::from_fn_with_state(
        (state, service),
        fabric_gate,
    ))
}

/// The `GET {control}/lab/calls` key counting the requests refused by the `error_rate` knob.
pub const INJECTED_ERRORS: &str = "injected/errors";
/// The `GET {control}/lab/calls` key counting the requests held by a latency spike.
pub const INJECTED_SPIKES: &str = "injected/latency_spikes";

async fn fabric_gate(
    State((state, service)): State<(Arc<LabState>, Service)>,
    request: Request,
    next: Next,
) -> Response {
    // A request that raced the listener closing must not count as reaching a downed stamp.
    if service.stamp.is_some_and(|stamp| state.is_down(stamp)) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let knobs = state.knobs();
    let (spike, inject) = {
        let mut world = state.world.lock().expect("world lock");
        let mut draw = |rate: f64| rate > 0.0 && world.rng.gen_bool(rate.clamp(0.0, 1.0));
        (
            knobs.latency_spike_ms > 0 && draw(knobs.latency_spike_rate),
            draw(knobs.error_rate),
        )
    };
    let spike_ms = if spike { knobs.latency_spike_ms } else { 0 };
    if knobs.latency_ms + spike_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms + spike_ms)).await;
    }
    state.count_call(service);
    if spike {
        state.count(INJECTED_SPIKES);
    }
    if inject {
        state.count(INJECTED_ERRORS);
        return injected_error(service.kind, knobs.error_status);
    }
    next.run(request).await
}

fn injected_error(kind: ServiceKind, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let message = "The lab injected this error (error_rate knob); retry.";
    let body = match kind {
        ServiceKind::Spf => super::odata_write::json_error("ServiceUnavailable", message),
        ServiceKind::WapAdmin => json!({"Code": "ServiceUnavailable", "Message": message}),
        ServiceKind::Asr => json!({"error": {"code": "ServiceUnavailable", "message": message}}),
        ServiceKind::Token => {
            json!({"error": "temporarily_unavailable", "error_description": message})
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
    response
}

/// Serves `router` on `listener` until `shutdown`; while `down` is true the listener is closed
/// (connections refused) and it is re-bound on the same address when `down` turns false.
pub fn serve_with_outage(
    listener: TcpListener,
    router: Router,
    mut down: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(_) => return,
        };
        let mut listener = Some(listener);
        loop {
            while *down.borrow() {
                tokio::select! {
                    changed = down.changed() => if changed.is_err() { return },
                    _ = shutdown.changed() => return,
                }
            }
            if *shutdown.borrow() {
                return;
            }
            let l = match listener.take() {
                Some(l) => l,
                None => match rebind(addr).await {
                    Some(l) => l,
                    None => return,
                },
            };
            let mut down_signal = down.clone();
            let mut stop_signal = shutdown.clone();
            let stopping = async move {
                tokio::select! {
                    _ = down_signal.wait_for(|d| *d) => {},
                    _ = stop_signal.wait_for(|s| *s) => {},
                }
            };
            let _ = axum::serve(l, router.clone().into_make_service())
                .with_graceful_shutdown(stopping)
                .await;
            if *shutdown.borrow() {
                return;
            }
        }
    })
}

/// Serves `router` until `shutdown` (services that never go down: ASR, token, control).
pub fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router.into_make_service())
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await;
    })
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    // The old socket may take a moment to be released.
    for _ in 0..50 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return Some(l);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::error!(%addr, "lab: could not re-open a listener after an outage");
    None
}

/// A JSON response with a status.
pub fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A response with a given content type and body.
pub fn typed_response(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The member `name` of a JSON object, matched without regard to case (clients differ).
pub fn field<'a>(value: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

/// A member as text (numbers too, as WAP and OData send some numbers as strings).
pub fn field_str(value: &serde_json::Value, name: &str) -> Option<String> {
    match field(value, name)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A member as a list of strings (absent, null or not a list: empty; non-string items skipped).
pub fn field_strings(value: &serde_json::Value, name: &str) -> Vec<String> {
    field(value, name)
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A member as an integer (JSON number or numeric string).
pub fn field_i64(value: &serde_json::Value, name: &str) -> Option<i64> {
    match field(value, name)? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A member as a guid.
pub fn field_uuid(value: &serde_json::Value, name: &str) -> Option<uuid::Uuid> {
    field_str(value, name).and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
}
