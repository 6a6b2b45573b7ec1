//! The OpenAPI description: the committed copy matches the code, it is served without credentials,
//! every documented operation is routed (called on a real listener, SQLite and PostgreSQL), and
//! no API route is left out of it.

mod common;

use common::app::{ADMIN, Backend, NOTIFICATION, TENANT, TestApp, USAGE, json_of};
use common::dr_api::{OWNER, add_subscription};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json");

fn document() -> Value {
    serde_json::from_str(&wapdr::api::document_json(&wapdr::api::openapi_document()))
        .expect("the document is JSON")
}

#[test]
fn the_committed_description_matches_the_code() {
    let generated = wapdr::api::document_json(&wapdr::api::openapi_document());
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/openapi.json is not what the code describes; regenerate it with \
         `cargo run -- openapi > schemas/openapi.json` and commit it"
    );
}

#[test]
fn no_api_route_is_left_out_of_the_description() {
    // Routes added with a plain `.route` are not described; only these operational ones may be.
    let undocumented = [
        "/health",
        "/health/ready",
        "/openapi.json",
        "/metrics",
        "/webhooks/runbooks/{name}",
        "/",
        "/portal",
        "/portal/tenant",
        "/portal/admin",
        "/portal/{*path}",
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    let mut plain = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        for (at, _) in source.match_indices(".route(") {
            let rest = &source[at + ".route(".len()..];
            let literal = rest.split('"').nth(1).unwrap_or_default().to_owned();
            plain.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                literal,
            ));
        }
    }
    let stray: Vec<_> = plain
        .iter()
        .filter(|(_, route)| !undocumented.contains(&route.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "routes outside the OpenAPI description (add them with `.routes(routes!(handler))` and a \
         #[utoipa::path]): {stray:?}"
    );
    let paths = document()["paths"].as_object().unwrap().len();
    assert!(paths > 50, "the API's paths are described, not {paths}");
}

/// Fills a documented path's parameters: the subscription wherever one is named, step 1, and
/// a plausible id or name elsewhere (an unknown one still reaches the handler, which says so).
fn concrete(path: &str, sub: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(match &rest[start + 1..end] {
            "step" => "1",
            "name" => "nightly-drill",
            _ => sub,
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn every_documented_operation_is_routed(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let sub = add_subscription(&app, &[("DrEnabled", "true")])
        .await
        .to_string();
    let doc = document();
    let mut called = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let method: Method = method.to_uppercase().parse().unwrap();
            let scheme = operation["security"][0]
                .as_object()
                .and_then(|r| r.keys().find(|k| *k != "principal").cloned())
                .expect("every operation names its credentials");
            let (user, password) = match scheme.as_str() {
                "notification" => NOTIFICATION,
                "usage" => USAGE,
                "admin" => ADMIN,
                "tenant" => TENANT,
                other => panic!("unknown scheme {other}"),
            };
            let mut request = app
                .anonymous(method.clone(), &concrete(path, &sub))
                .basic_auth(user, Some(password))
                .header("x-ms-principal-id", OWNER);
            if method == Method::POST || method == Method::PUT {
                request = request.json(&json!({}));
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert!(
                !(status == StatusCode::NOT_FOUND && body["Message"] == "Not Found"),
                "{method} {path} is documented but not routed"
            );
            called += 1;
        }
    }
    assert!(called > 70, "every operation was called, {called} of them");
}

async fn the_description_is_served_without_credentials(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let response = app
        .anonymous(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let served = json_of(response).await;
    assert_eq!(served, document());
    assert_eq!(
        served["components"]["securitySchemes"]["admin"]["scheme"],
        "basic"
    );
}

on_both_backends!(
    every_documented_operation_is_routed,
    the_description_is_served_without_credentials
);
