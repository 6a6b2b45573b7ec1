//! Isolation and authentication, route by route, on SQLite and PostgreSQL.
//!
//! [`ROUTES`] lists every route of every authenticated endpoint. It cannot drift from the router:
//! [`the_route_table_matches_the_router`] checks that each `.route("...")` in `src/api/` appears in
//! it as often as in the sources, and that each listed path answers 405 to every method the table
//! does not list for it (so a method added to a path is noticed too).
//!
//! The walks then call every route the wrong way — a tenant route for another subscription, by a
//! principal who is no admin of it, or by nobody; any route without credentials, with a wrong
//! password or with another endpoint's credentials — and check the refusal (a WAP `Error`) and that
//! every admin view of the store reads the same afterwards.

mod common;

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::{SubscriptionId, VmProtectionState};

use common::app::{ADMIN, Backend, NOTIFICATION, TENANT, TestApp, USAGE};
use common::dr_api::{CO_ADMIN, OWNER, STRANGER, World, add_subscription_of, send, world};

/// The endpoint a route belongs to, which fixes its prefix and its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Notification,
    Usage,
    Admin,
    Tenant,
    Webhook,
}

use Endpoint::{Admin, Notification, Tenant, Usage, Webhook};

/// Every authenticated route: its endpoint, its path as written in `src/api/` (relative to the
/// endpoint's prefix) and its methods.
const ROUTES: &[(Endpoint, &str, &[&str])] = &[
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
];

/// Routes that need no credentials by design: health probes and the portal's static files.
const OPEN_ROUTES: &[&str] = &[
    "/health",
    "/health/ready",
    "/portal",
    "/portal/tenant",
    "/portal/admin",
    "/portal/{*path}",
];

const ALL_METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// The admin of the second subscription: a tenant, but not of the first.
const OTHER_ADMIN: &str = "admin@northwind.com";

/// The ids a walk fills the path parameters with: real records of the first subscription.
struct Ids {
    sub: SubscriptionId,
    vm: Uuid,
    plan: String,
    job: Uuid,
    stamp: Uuid,
    pair: Uuid,
}

/// `path` with its parameters filled in from `ids`, under the endpoint's prefix.
fn concrete(endpoint: Endpoint, path: &str, ids: &Ids) -> String {
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
        Usage | Webhook => String::new(),
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
fn plausible_body(path: &str, ids: &Ids) -> Value {
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
async fn snapshot(app: &TestApp, ids: &Ids) -> BTreeMap<String, Value> {
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
async fn walk_world(backend: Backend) -> Option<(World, Ids)> {
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
    wait_finished(&w.app, job).await;
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

async fn wait_finished(app: &TestApp, job: Uuid) {
    for _ in 0..250 {
        let run = app.store().get_run(job).await.unwrap().unwrap();
        if run.state.is_final() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("job {job} did not finish");
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// Sends `method path` with the route's plausible body and the given credentials and principal.
async fn call(
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

fn own_credentials(endpoint: Endpoint) -> (&'static str, &'static str) {
    match endpoint {
        Notification => NOTIFICATION,
        Usage => USAGE,
        Admin => ADMIN,
        Tenant | Webhook => TENANT,
    }
}

fn every_call() -> impl Iterator<Item = (Endpoint, &'static str, &'static str)> {
    ROUTES.iter().flat_map(|(endpoint, path, methods)| {
        methods.iter().map(move |verb| (*endpoint, *path, *verb))
    })
}

async fn every_tenant_route_refuses_other_principals_and_changes_nothing(backend: Backend) {
    let Some((w, ids)) = walk_world(backend).await else {
        return;
    };
    let before = snapshot(&w.app, &ids).await;
    let mut walked = 0;
    for route in every_call().filter(|(endpoint, ..)| *endpoint == Tenant) {
        for principal in [OTHER_ADMIN, STRANGER, "OWNER@fabrikam.com.evil"] {
            let (status, body) = call(&w.app, route, &ids, Some(TENANT), Some(principal)).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{route:?} as {principal}: {body}"
            );
            assert_eq!(
                (body["Code"].as_str(), body["Message"].as_str()),
                (Some("NotFound"), Some("Subscription not found.")),
                "{route:?} as {principal}: the guard's answer, the same as for no subscription"
            );
        }
        let (status, body) = call(&w.app, route, &ids, Some(TENANT), None).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{route:?} without a principal: {body}"
        );
        assert_eq!(body["Code"], "Forbidden", "{route:?}");
        walked += 1;
    }
    assert_eq!(walked, 17, "every tenant route and method was walked");
    assert_eq!(
        snapshot(&w.app, &ids).await,
        before,
        "the refused calls changed nothing"
    );

    // The same routes answer their own administrators: the refusals above were the guard's.
    for who in [OWNER, CO_ADMIN] {
        let (status, body) = call(
            &w.app,
            (Tenant, "/dr", "GET"),
            &ids,
            Some(TENANT),
            Some(who),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
    }
    let (status, body) = call(
        &w.app,
        (Tenant, "/vms/{vm_id}/protection", "PUT"),
        &ids,
        Some(TENANT),
        Some(OWNER),
    )
    .await;
    assert!(
        status.is_success(),
        "the owner's own write goes through: {body}"
    );
}

async fn every_route_refuses_missing_wrong_and_borrowed_credentials(backend: Backend) {
    let Some((w, ids)) = walk_world(backend).await else {
        return;
    };
    let before = snapshot(&w.app, &ids).await;
    let endpoints = [NOTIFICATION, USAGE, ADMIN, TENANT];
    for route @ (endpoint, path, verb) in every_call() {
        if endpoint == Webhook {
            // A runbook's webhook takes its own token, never an endpoint's credentials.
            for credentials in [None, Some(ADMIN), Some(TENANT)] {
                let (status, body) = call(&w.app, route, &ids, credentials, None).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{route:?}: {body}");
                assert_eq!(body["Code"], "Unauthorized");
            }
            let request = w
                .app
                .anonymous(method(verb), &concrete(endpoint, path, &ids))
                .header(wapdr::api::WEBHOOK_TOKEN_HEADER, "not-the-token");
            let (status, body) = send(request, Some(json!({}))).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{route:?} with a wrong token: {body}"
            );
            continue;
        }
        let own = own_credentials(endpoint);
        let wrong_password = (own.0, "wrong-password");
        let wrong_user = ("someone-else", own.1);
        let mut attempts = vec![None, Some(wrong_password), Some(wrong_user)];
        attempts.extend(endpoints.iter().filter(|c| **c != own).map(|c| Some(*c)));
        for credentials in attempts {
            let (status, body) = call(&w.app, route, &ids, credentials, Some(OWNER)).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{route:?} with {credentials:?}: {body}"
            );
            assert_eq!(body["Code"], "Unauthorized", "{route:?}");
        }
    }
    assert_eq!(
        snapshot(&w.app, &ids).await,
        before,
        "the refused calls changed nothing"
    );
}

/// The `.route("...")` paths of `src/api/*.rs`, each as often as it is written there.
fn routes_in_sources() -> BTreeMap<String, usize> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in source.split(".route(").skip(1) {
            let literal = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|rest| rest.split('"').next())
                .expect("a route path literal");
            *found.entry(literal.to_owned()).or_insert(0) += 1;
        }
    }
    found
}

async fn the_route_table_matches_the_router(backend: Backend) {
    let mut listed = BTreeMap::new();
    for path in ROUTES
        .iter()
        .map(|(_, path, _)| *path)
        .chain(OPEN_ROUTES.iter().copied())
    {
        *listed.entry(path.to_owned()).or_insert(0) += 1;
    }
    let defined = routes_in_sources();
    let differing: Vec<_> = defined
        .keys()
        .chain(listed.keys())
        .filter(|path| defined.get(*path) != listed.get(*path))
        .map(|path| (path, defined.get(path), listed.get(path)))
        .collect();
    assert!(
        differing.is_empty(),
        "every route of src/api/ is in ROUTES (or OPEN_ROUTES), as often as it is defined \
         (path, times defined, times listed): {differing:?}"
    );

    let Some((w, ids)) = walk_world(backend).await else {
        return;
    };
    for (endpoint, path, methods) in ROUTES {
        for verb in ALL_METHODS.iter().filter(|m| !methods.contains(m)) {
            let (status, body) = call(
                &w.app,
                (*endpoint, path, verb),
                &ids,
                Some(own_credentials(*endpoint)),
                Some(OWNER),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{verb} {path} is routed but missing from ROUTES: {body}"
            );
        }
    }
}

on_both_backends!(
    every_tenant_route_refuses_other_principals_and_changes_nothing,
    every_route_refuses_missing_wrong_and_borrowed_credentials,
    the_route_table_matches_the_router,
);
