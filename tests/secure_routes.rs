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

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::json;

use common::app::{ADMIN, Backend, NOTIFICATION, TENANT, USAGE};
use common::dr_api::{CO_ADMIN, OWNER, STRANGER, send};
use common::routes::*;

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

/// Every route wapdr serves, as `METHOD path` (or just the path, for the plain `.route("...")`
/// routes of `src/api/*.rs`, which the OpenAPI description leaves out): the described operations
/// come from the same list the router is built from.
fn served_routes() -> BTreeSet<String> {
    let document: serde_json::Value =
        serde_json::from_str(&wapdr::api::document_json(&wapdr::api::openapi_document()))
            .expect("the OpenAPI description is JSON");
    let mut served = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for verb in ALL_METHODS {
            if item.get(verb.to_lowercase()).is_some() {
                served.insert(format!("{verb} {path}"));
            }
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in source.split(".route(").skip(1) {
            let literal = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|rest| rest.split('"').next())
                .expect("a route path literal");
            served.insert(literal.to_owned());
        }
    }
    // `document_route` serves the description itself.
    served.insert("/openapi.json".to_owned());
    served
}

/// The routes of `ROUTES` and `OPEN_ROUTES` written as `served_routes` writes them.
fn listed_routes() -> BTreeSet<String> {
    let mut listed: BTreeSet<String> = OPEN_ROUTES.iter().map(|p| (*p).to_owned()).collect();
    for (endpoint, path, methods) in ROUTES {
        let full = match endpoint {
            Notification => format!("/notification{path}"),
            Admin => format!("/admin{path}"),
            Tenant if *path == "/" => "/tenant/subscriptions/{subid}".to_owned(),
            Tenant => format!("/tenant/subscriptions/{{subid}}{path}"),
            // Plain routes, outside the description: listed by path.
            Webhook | Metrics => {
                listed.insert((*path).to_owned());
                continue;
            }
            Usage => (*path).to_owned(),
        };
        listed.extend(methods.iter().map(|verb| format!("{verb} {full}")));
    }
    listed
}

async fn the_route_table_matches_the_router(backend: Backend) {
    let (served, listed) = (served_routes(), listed_routes());
    let unlisted: Vec<_> = served.difference(&listed).collect();
    let unserved: Vec<_> = listed.difference(&served).collect();
    assert!(
        unlisted.is_empty() && unserved.is_empty(),
        "every route wapdr serves (the OpenAPI description and the plain routes of src/api/) is \
         in ROUTES or OPEN_ROUTES: served but not listed {unlisted:?}, listed but not served \
         {unserved:?}"
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
