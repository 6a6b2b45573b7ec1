//! Bad input on every write route, on SQLite and PostgreSQL: oversized bodies (413), XML with a
//! DTD, entity declarations or an external entity (400), a content type that is neither JSON nor
//! XML (415) and malformed JSON (400), each answered with a WAP `Error` and changing nothing; and
//! names that look like SQL or are not ASCII, stored and shown back verbatim.
//!
//! `tests/api_notification.rs` covers these for `POST /notification/subscriptions` alone; this
//! walks every route of [`ROUTES`] that takes a body.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use common::app::Backend;
use common::dr_api::{OWNER, leaf, send, xml_leaves};
use common::routes::*;

/// Write routes that take no body: their bad-input answer is the route's own, not the reader's.
const BODILESS: &[&str] = &["/stamps/{id}/verify"];

/// Write routes that read JSON only: any XML body is refused as an unsupported type (415).
const JSON_ONLY: &[&str] = &[
    "/jobs/{id}/cancel",
    "/jobs/{id}/steps/{step}/acknowledge",
    "/jobs/{job}/steps/{step}/acknowledge",
    "/runbooks/{name}",
    "/runbooks/{name}/start",
];

/// One bad body: what it is, its content type, the body and the status it must get.
fn bad_bodies() -> Vec<(&'static str, &'static str, String, StatusCode)> {
    let entity = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "boom">]><r><Name>&x;</Name></r>"#;
    let external = r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><Name>&x;</Name></r>"#;
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "lol">{}]><r><Name>&j;</Name></r>"#,
        (b'b'..=b'j')
            .map(|c| {
                let prev = (c - 1) as char;
                format!(
                    r#"<!ENTITY {} "{}">"#,
                    c as char,
                    format!("&{prev};").repeat(10)
                )
            })
            .collect::<String>()
    );
    vec![
        (
            "an oversized body",
            "application/json",
            format!(r#"{{"Name":"{}"}}"#, "x".repeat(70_000)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "an entity declaration",
            "application/xml",
            entity.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an external entity",
            "application/xml",
            external.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "nested entities",
            "application/xml",
            laughs,
            StatusCode::BAD_REQUEST,
        ),
        (
            "a plain-text body",
            "text/plain",
            r#"{"Name":"x"}"#.into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a form body",
            "application/x-www-form-urlencoded",
            "Name=x".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "malformed JSON",
            "application/json",
            r#"{"Name": "#.into(),
            StatusCode::BAD_REQUEST,
        ),
    ]
}

async fn every_write_route_refuses_bad_bodies_and_changes_nothing(backend: Backend) {
    let Some((w, ids)) = walk_world(backend).await else {
        return;
    };
    let before = snapshot(&w.app, &ids).await;
    let writes = every_call().filter(|(endpoint, path, verb)| {
        matches!(*verb, "POST" | "PUT") && *endpoint != Webhook && !BODILESS.contains(path)
    });
    let mut walked = 0;
    for (endpoint, path, verb) in writes {
        for (what, content_type, body, mut status) in bad_bodies() {
            if JSON_ONLY.contains(&path) && content_type.ends_with("/xml") {
                status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            }
            let (user, password) = own_credentials(endpoint);
            let response = w
                .app
                .anonymous(method(verb), &concrete(endpoint, path, &ids))
                .basic_auth(user, Some(password))
                .header("x-ms-principal-id", OWNER)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let got = response.status();
            let error: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(got, status, "{verb} {path} with {what}: {error}");
            assert!(
                error["Code"].is_string() && error["Message"].is_string(),
                "{verb} {path} with {what}: a WAP Error, not {error}"
            );
        }
        walked += 1;
    }
    assert_eq!(walked, 29, "every write route that reads a body was walked");
    assert_eq!(
        snapshot(&w.app, &ids).await,
        before,
        "the refused calls changed nothing"
    );
}

/// Names an operator or tenant may type that a careless store or page would break on.
const AWKWARD_NAMES: &[&str] = &[
    "Robert'); DROP TABLE subscriptions;--",
    "x' OR '1'='1",
    "Zoë Ærøskøbing — 東京 🚀",
    "\"quoted\" <b>&amp;</b> \\ back",
];

async fn awkward_names_are_stored_and_shown_verbatim(backend: Backend) {
    let Some((w, ids)) = walk_world(backend).await else {
        return;
    };
    let app = &w.app;
    for (n, name) in AWKWARD_NAMES.iter().enumerate() {
        // A subscription named so, of an admin with a non-ASCII principal, through WAP's call.
        let id = wapdr::domain::SubscriptionId::new_random();
        let admin = format!("zoë.{n}@ærø.example");
        let (status, body) = send(
            app.notification(Method::POST, "/subscriptions"),
            Some(
                json!({"SubscriptionId": id.to_string(), "SubscriptionName": name,
                        "AdminId": admin, "State": "Active"}),
            ),
        )
        .await;
        assert!(status.is_success(), "{name}: {body}");
        let (_, shown) = send(
            app.admin(Method::GET, &format!("/subscriptions/{id}")),
            None,
        )
        .await;
        assert_eq!(shown["SubscriptionName"], *name, "{shown}");
        assert_eq!(shown["AdminId"], admin.as_str(), "{shown}");
        let encoded =
            percent_encoding::utf8_percent_encode(&admin, percent_encoding::NON_ALPHANUMERIC);
        let (status, own) = send(
            app.tenant(
                Method::GET,
                &format!("/subscriptions/{id}"),
                Some(&encoded.to_string()),
            ),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "the non-ASCII admin sees it: {own}");
        assert_eq!(own["SubscriptionName"], *name);
        let xml = app
            .notification(Method::GET, &format!("/subscriptions/{id}"))
            .header("accept", "application/xml")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let xml = leaf(&xml_leaves(&xml), "SubscriptionName").join("");
        assert_eq!(xml, *name, "in XML too");

        // A stamp and a recovery plan (the provider's and the tenant's) named so.
        let stamp = json!({"Name": name, "SpfUrl": format!("https://spf-{n}.example/"),
                           "SpfUsername": name, "SpfPassword": "pw-secret",
                           "WapAdminUrl": format!("https://wap-{n}.example/"),
                           "WapAdminToken": "token-secret",
                           "TenantPortalUrl": format!("https://portal-{n}.example/")});
        let (status, created) = send(app.admin(Method::POST, "/stamps"), Some(stamp)).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {created}");
        let path = format!("/stamps/{}", created["Id"].as_str().unwrap());
        let (status, stamp) = send(app.admin(Method::GET, &path), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {stamp}");
        assert_eq!(
            (&stamp["Name"], &stamp["SpfUsername"]),
            (&json!(name), &json!(name))
        );

        let plan = json!({"Name": name, "Description": name,
                          "Groups": [{"Name": name, "Vms": [ids.vm.to_string()]}]});
        let (status, created) = send(
            app.tenant(
                Method::POST,
                &format!("/subscriptions/{}/recovery-plans", ids.sub),
                Some(OWNER),
            ),
            Some(plan),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {created}");
        let plan_id = created["Id"].as_str().unwrap();
        let (_, got) = send(
            app.admin(
                Method::GET,
                &format!("/subscriptions/{}/recovery-plans/{plan_id}", ids.sub),
            ),
            None,
        )
        .await;
        assert_eq!(
            (&got["Name"], &got["Description"], &got["Groups"][0]["Name"]),
            (&json!(name), &json!(name), &json!(name)),
            "{got}"
        );
    }
    // Nothing was broken: every list still reads, with every name in it.
    let (status, all) = send(app.admin(Method::GET, "/subscriptions"), None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = all["Subscriptions"]
        .as_array()
        .or(all.as_array())
        .expect("a list")
        .iter()
        .filter_map(|s| s["SubscriptionName"].as_str())
        .collect();
    for name in AWKWARD_NAMES {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    let (status, stamps) = send(app.admin(Method::GET, "/stamps"), None).await;
    assert_eq!(status, StatusCode::OK);
    for name in AWKWARD_NAMES {
        assert!(
            stamps.to_string().contains(&json!(name).to_string()),
            "{name} in {stamps}"
        );
    }
}

on_both_backends!(
    every_write_route_refuses_bad_bodies_and_changes_nothing,
    awkward_names_are_stored_and_shown_verbatim,
);
