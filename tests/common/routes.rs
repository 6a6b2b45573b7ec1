//! The routes of every authenticated endpoint, and a world to walk them in: two subscriptions
//! with DR, real ids to fill the paths with, a plausible body per route, and a snapshot of what
//! the provider sees of the store to compare before and after. Used by the isolation, auth and
//! bad-input walks (`tests/secure_*.rs`).

#![allow(dead_code)]

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::{SubscriptionId, VmProtectionState};

use super::app::{ADMIN, Backend, NOTIFICATION, TENANT, TestApp, USAGE};
use super::dr_api::{OWNER, STRANGER, World, add_subscription_of, send, world};
use super::failover::finished;

/// The endpoint a route belongs to, which fixes its prefix and its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/notification`.
    Notification,
    /// `/usage`.
    Usage,
    /// `/admin`.
    Admin,
    /// `/tenant/subscriptions/{subid}`.
    Tenant,
    /// `/webhooks`, with a runbook's token.
    Webhook,
    /// `/metrics`, with the admin credentials.
    Metrics,
}

pub use Endpoint::{Admin, Metrics, Notification, Tenant, Usage, Webhook};

/// Every authenticated route: its endpoint, its path as written in `src/api/` (relative to the
/// endpoint's prefix) and its methods.
pub const ROUTES: &[(Endpoint, &str, &[&str])] = &[
    (
        Notification,
        "/subscriptions",
        &["GET", "POST", "PUT", "DELETE"],
    ),
    (
        Notification,
        "/subscriptions/{id}",
        &["GET", "PUT", "DELETE"],
    ),
    (Notification, "/subscriptions/{id}/usagesummary", &["GET"]),
    (Notification, "/quota", &["PUT"]),
    (Notification, "/defaultquota", &["GET"]),
    (Usage, "/usage", &["GET"]),
    (Admin, "/subscriptions", &["GET"]),
    (Admin, "/subscriptions/{id}", &["GET"]),
    (Admin, "/dr/subscriptions", &["GET"]),
    (Admin, "/subscriptions/{id}/dr", &["GET"]),
    (Admin, "/subscriptions/{id}/vms", &["GET"]),
    (
        Admin,
        "/subscriptions/{id}/vms/{vm_id}/protection",
        &["PUT"],
    ),
    (
        Admin,
        "/subscriptions/{id}/recovery-plans",
        &["GET", "POST"],
    ),
    (
        Admin,
        "/subscriptions/{id}/recovery-plans/{plan_id}",
        &["GET", "PUT", "DELETE"],
    ),
    (Admin, "/subscriptions/{id}/failover", &["POST"]),
    (
        Admin,
        "/subscriptions/{id}/recovery-plans/{plan}/failover",
        &["POST"],
    ),
    (
        Admin,
        "/subscriptions/{id}/failover-settings",
        &["GET", "PUT"],
    ),
    (Admin, "/reports", &["GET"]),
    (Admin, "/reports/{job}", &["GET"]),
    (Admin, "/reports/{job}/html", &["GET"]),
    (Admin, "/jobs", &["GET"]),
    (Admin, "/jobs/{id}", &["GET"]),
    (Admin, "/jobs/{id}/cancel", &["POST"]),
    (Admin, "/jobs/{id}/steps/{step}/acknowledge", &["POST"]),
    (Admin, "/runbooks", &["GET"]),
    (Admin, "/runbooks/{name}", &["GET", "PUT"]),
    (Admin, "/runbooks/{name}/start", &["POST"]),
    (Admin, "/events/vms", &["POST"]),
    (Admin, "/stamps", &["GET", "POST"]),
    (Admin, "/stamps/{id}", &["GET", "PUT", "DELETE"]),
    (Admin, "/stamps/{id}/failover", &["POST"]),
    (Admin, "/stamps/{id}/health", &["GET"]),
    (Admin, "/stamps/{id}/verify", &["POST"]),
    (Admin, "/stamps/{id}/clouds", &["GET"]),
    (Admin, "/stamps/{id}/plans", &["GET"]),
    (Admin, "/stamps/{id}/networks", &["GET"]),
    (Admin, "/site-health", &["GET"]),
    (Admin, "/policies", &["GET", "POST"]),
    (Admin, "/policies/{name}", &["GET", "PUT", "DELETE"]),
    (Admin, "/cloud-pairs", &["GET", "POST"]),
    (Admin, "/cloud-pairs/{id}", &["GET", "DELETE"]),
    (Admin, "/cloud-pairs/{id}/network-mappings", &["GET", "PUT"]),
    (Admin, "/cloud-pairs/{id}/test-network", &["PUT"]),
    (Tenant, "/", &["GET"]),
    (Tenant, "/dr", &["GET"]),
    (Tenant, "/vms", &["GET"]),
    (Tenant, "/vms/{vm_id}/protection", &["PUT"]),
    (Tenant, "/recovery-plans", &["GET", "POST"]),
    (
        Tenant,
        "/recovery-plans/{plan_id}",
        &["GET", "PUT", "DELETE"],
    ),
    (Tenant, "/failover", &["POST"]),
    (Tenant, "/recovery-plans/{plan}/failover", &["POST"]),
    (Tenant, "/reports", &["GET"]),
    (Tenant, "/reports/{job}", &["GET"]),
    (Tenant, "/reports/{job}/html", &["GET"]),
    (Tenant, "/jobs", &["GET"]),
    (Tenant, "/jobs/{job}", &["GET"]),
    (Tenant, "/jobs/{job}/steps/{step}/acknowledge", &["POST"]),
    (Webhook, "/webhooks/runbooks/{name}", &["POST"]),
    (Metrics, "/metrics", &["GET"]),
];

/// Routes that need no credentials by design: health probes and the portal's static files.
pub const OPEN_ROUTES: &[&str] = &[
    "/openapi.json",
    "/health",
    "/health/ready",
    "/portal",
    "/portal/tenant",
    "/portal/admin",
    "/portal/{*path}",
];

pub const ALL_METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// The admin of the second subscription: a tenant, but not of the first.
pub const OTHER_ADMIN: &str = "admin@northwind.com";

/// The ids a walk fills the path parameters with: real records of the first subscription.
pub struct Ids {
    pub sub: SubscriptionId,
    pub vm: Uuid,
    pub plan: String,
    pub job: Uuid,
    pub stamp: Uuid,
    pub pair: Uuid,
}

/// `path` with its parameters filled in from `ids`, under the endpoint's prefix.
pub fn concrete(endpoint: Endpoint, path: &str, ids: &Ids) -> String {
    let id = if path.starts_with("/stamps") {
        ids.stamp.to_string()
    } else if path.starts_with("/cloud-pairs") {
        ids.pair.to_string()
    } else if path.starts_with("/jobs") {
        ids.job.to_string()
    } else {
        ids.sub.to_string()
    };
    let name = if path.starts_with("/policies") {
        "Gold".to_owned()
    } else {
        "usage-meter".to_owned()
    };
    let filled = path
        .replace("{id}", &id)
        .replace("{subid}", &ids.sub.to_string())
        .replace("{vm_id}", &ids.vm.to_string())
        .replace("{plan_id}", &ids.plan)
        .replace("{plan}", &ids.plan)
        .replace("{job}", &ids.job.to_string())
        .replace("{step}", "approve")
        .replace("{name}", &name)
        .replace("{*path}", "tenant/index.html");
    let prefix = match endpoint {
        Notification => "/notification".to_owned(),
        Usage | Webhook | Metrics => String::new(),
        Admin => "/admin".to_owned(),
        Tenant => format!("/tenant/subscriptions/{}", ids.sub),
    };
    match (endpoint, filled.as_str()) {
        (Tenant, "/") => prefix,
        _ => format!("{prefix}{filled}"),
    }
}

/// A body that the route would act on if the caller were allowed: the walk must show a refusal,
/// not a validation error.
pub fn plausible_body(path: &str, ids: &Ids) -> Value {
    let vm = ids.vm.to_string();
    if path.ends_with("/protection") {
        json!({"excluded": true})
    } else if path.ends_with("/failover") {
        json!({"Kind": "test"})
    } else if path.ends_with("/acknowledge") {
        json!({"by": "ops", "comment": "done"})
    } else if path.contains("recovery-plans") {
        json!({"Name": "Walk", "Groups": [{"Name": "one", "Vms": [vm]}]})
    } else if path.starts_with("/subscriptions") {
        json!({"SubscriptionId": ids.sub.to_string(), "State": "Suspended", "AdminId": STRANGER})
    } else if path == "/quota" {
        json!([{"ServiceName": "disasterrecovery", "Settings": [{"Key": "DrEnabled", "Value": "false"}]}])
    } else if path.starts_with("/events") {
        json!({"event": "deleted", "stampId": ids.stamp.to_string(), "vmId": vm})
    } else if path.starts_with("/runbooks") || path.starts_with("/webhooks") {
        json!({"enabled": false, "parameters": {}})
    } else {
        json!({"Name": "walk", "excluded": true})
    }
}

/// What the provider sees of the store: every admin list and the first subscription's views.
pub async fn snapshot(app: &TestApp, ids: &Ids) -> BTreeMap<String, Value> {
    let sub = ids.sub;
    let views = [
        "/subscriptions?includeDeleted=true".to_owned(),
        "/dr/subscriptions".to_owned(),
        format!("/subscriptions/{sub}/dr"),
        format!("/subscriptions/{sub}/vms"),
        format!("/subscriptions/{sub}/recovery-plans"),
        format!("/subscriptions/{sub}/failover-settings"),
        "/jobs?limit=500".to_owned(),
        "/reports".to_owned(),
        "/runbooks".to_owned(),
        "/stamps".to_owned(),
        "/policies".to_owned(),
        "/cloud-pairs".to_owned(),
    ];
    let mut seen = BTreeMap::new();
    for view in views {
        let (status, body) = send(app.admin(Method::GET, &view), None).await;
        assert_eq!(status, StatusCode::OK, "{view}: {body}");
        seen.insert(view, body);
    }
    let (status, body) = send(app.notification(Method::GET, "/subscriptions"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    seen.insert("notification /subscriptions".into(), body);
    seen
}

/// Two subscriptions with DR (the first of `OWNER`/`CO_ADMIN` with full self-service, the second
/// of `OTHER_ADMIN`), a VM, a recovery plan and a finished job of the first.
pub async fn walk_world(backend: Backend) -> Option<(World, Ids)> {
    let w = world(backend, &[("SelfService", "Full")], true).await?;
    add_subscription_of(&w.app, OTHER_ADMIN, &[("SelfService", "Full")]).await;
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    let (status, plan) = w
        .admin(
            Method::POST,
            &format!("/subscriptions/{}/recovery-plans", w.sub),
            Some(json!({"Name": "Web", "Groups": [{"Name": "one", "Vms": [vm.to_string()]}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let plan = plan["Id"].as_str().expect("a plan id").to_owned();
    // A reconciliation started by the owner: a job of the subscription, finished before the walk.
    let (status, started) = w.protect(vm, Some(OWNER), true).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let job = Uuid::parse_str(started["JobId"].as_str().unwrap()).unwrap();
    w.wait_reconciled(vm, 1).await;
    assert!(finished(&w.app, job).await.state.is_final());
    let ids = Ids {
        sub: w.sub,
        vm,
        plan,
        job,
        stamp: w.a,
        pair: w.pair,
    };
    Some((w, ids))
}

pub fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// Sends `method path` with the route's plausible body and the given credentials and principal.
pub async fn call(
    app: &TestApp,
    (endpoint, path, verb): (Endpoint, &str, &str),
    ids: &Ids,
    credentials: Option<(&str, &str)>,
    principal: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.anonymous(method(verb), &concrete(endpoint, path, ids));
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    if let Some(principal) = principal {
        request = request.header("x-ms-principal-id", principal);
    }
    let body = (verb != "GET" && verb != "DELETE").then(|| plausible_body(path, ids));
    send(request, body).await
}

pub fn own_credentials(endpoint: Endpoint) -> (&'static str, &'static str) {
    match endpoint {
        Notification => NOTIFICATION,
        Usage => USAGE,
        Admin | Metrics => ADMIN,
        Tenant | Webhook => TENANT,
    }
}

pub fn every_call() -> impl Iterator<Item = (Endpoint, &'static str, &'static str)> {
    ROUTES.iter().flat_map(|(endpoint, path, methods)| {
        methods.iter().map(move |verb| (*endpoint, *path, *verb))
    })
}
