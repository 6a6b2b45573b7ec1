//! Usage paging, credentials, tenant isolation, admin views and health, against a real listener
//! on SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::app::{ADMIN, Backend, NOTIFICATION, TENANT, TestApp, USAGE, fixture, json_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::macros::datetime;
use wapdr::domain::{NewUsageRecord, SubscriptionId};

const SUB: &str = "ec66ec96-8edd-4916-be45-607959155c2a";

fn usage_record(n: u32) -> NewUsageRecord {
    NewUsageRecord {
        external_record_id: format!("dr-usage-{n}"),
        subscription_id: SubscriptionId::parse(SUB).unwrap(),
        resource_id: format!("vm-{n}"),
        service_type: "disasterrecovery".into(),
        provider_name: "disasterrecovery".into(),
        start_time: datetime!(2026-11-01 10:00 UTC),
        end_time: datetime!(2026-11-01 11:00 UTC),
        properties: BTreeMap::from([("VMName".to_owned(), format!("web{n:02}"))]),
        resources: BTreeMap::from([("ProtectedVMHours".to_owned(), "1".to_owned())]),
    }
}

fn event_ids(page: &Value) -> Vec<i64> {
    page.as_array()
        .unwrap()
        .iter()
        .map(|r| r["EventId"].as_i64().unwrap())
        .collect()
}

async fn create_subscription(app: &TestApp) {
    let response = app
        .notification(Method::POST, "/subscriptions")
        .header("content-type", "application/json")
        .body(fixture("notification-subscription-create.json"))
        .send()
        .await
        .unwrap();
    // DR is enabled by a job: WAP is told to poll.
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

async fn usage_pages_by_last_id_across_a_restart(backend: Backend) {
    let Some(mut app) = TestApp::start(backend).await else {
        return;
    };
    let records: Vec<_> = (1..=5).map(usage_record).collect();
    app.store().append_usage(&records).await.unwrap();

    let first = json_of(
        app.usage("/usage?lastID=&batchSize=2")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(event_ids(&first), [1, 2]);
    assert_eq!(first[0]["SubscriptionId"], SUB);
    assert_eq!(first[0]["Resources"]["ProtectedVMHours"], "1");
    assert_eq!(first[0]["Properties"]["VMName"], "web01");
    let second = json_of(
        app.usage("/usage?LASTID=2&BATCHSIZE=2")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(event_ids(&second), [3, 4]);

    app.restart().await;
    let third = json_of(
        app.usage("/usage?lastId=4&batchSize=100")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(event_ids(&third), [5], "paging carries on after a restart");
    assert_eq!(
        app.store().usage_watermark().await.unwrap(),
        4,
        "lastID acknowledged"
    );

    app.store()
        .append_usage(&[usage_record(6), usage_record(7)])
        .await
        .unwrap();
    let fourth = json_of(
        app.usage("/usage?lastID=5&batchSize=100")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        event_ids(&fourth),
        [6, 7],
        "EventIds keep increasing after a restart"
    );

    let xml = app
        .usage("/usage?lastID=5&batchSize=1")
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("<UsageRecords") && xml.contains("<EventId>6</EventId>"),
        "{xml}"
    );
    assert!(
        !xml.contains("<EventId>7</EventId>"),
        "batchSize is a maximum: {xml}"
    );

    let empty = json_of(
        app.usage("/usage?lastID=0&batchSize=0")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(empty, json!([]));
}

async fn usage_refuses_bad_paging_parameters(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    for query in [
        "lastID=abc&batchSize=10",
        "lastID=1.5",
        "lastID=1&batchSize=-1",
        "batchSize=ten",
        "lastID=9223372036854775807",
    ] {
        let response = app.usage(&format!("/usage?{query}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let error = json_of(response).await;
        assert!(error["Message"].is_string(), "{query}: {error}");
    }
    assert_eq!(
        app.store().usage_watermark().await.unwrap(),
        0,
        "a refused call acknowledges nothing"
    );
}

async fn every_endpoint_demands_its_own_credentials(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let endpoints: [(&str, Method, String, (&str, &str)); 4] = [
        (
            "notification",
            Method::GET,
            "/notification/defaultquota".into(),
            NOTIFICATION,
        ),
        (
            "usage",
            Method::GET,
            "/usage?lastID=0&batchSize=1".into(),
            USAGE,
        ),
        ("admin", Method::GET, "/admin/subscriptions".into(), ADMIN),
        (
            "tenant",
            Method::GET,
            format!("/tenant/subscriptions/{SUB}"),
            TENANT,
        ),
    ];
    let all = [NOTIFICATION, USAGE, ADMIN, TENANT];
    for (name, method, path, own) in &endpoints {
        let missing = app.anonymous(method.clone(), path).send().await.unwrap();
        assert_eq!(
            missing.status(),
            StatusCode::UNAUTHORIZED,
            "{name} without credentials"
        );
        assert!(missing.headers().contains_key("www-authenticate"), "{name}");
        let error = json_of(missing).await;
        assert_eq!(error["Code"], "Unauthorized", "{name}");

        let wrong = app
            .anonymous(method.clone(), path)
            .basic_auth(own.0, Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "{name} with a wrong password"
        );

        for other in all.iter().filter(|c| *c != own) {
            let borrowed = app
                .anonymous(method.clone(), path)
                .basic_auth(other.0, Some(other.1))
                .send()
                .await
                .unwrap();
            assert_eq!(
                borrowed.status(),
                StatusCode::UNAUTHORIZED,
                "{name} with {}'s credentials",
                other.0
            );
        }
    }
    let xml = app
        .anonymous(Method::GET, "/admin/subscriptions")
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<Code>Unauthorized</Code>"), "{xml}");
}

async fn tenants_see_only_subscriptions_they_administer(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    create_subscription(&app).await;
    let other_id = SubscriptionId::new_random();
    let other = app
        .notification(Method::POST, "/subscriptions")
        .json(&json!({ "SubscriptionId": other_id.to_string(), "AdminId": "mallory@contoso.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::ACCEPTED);

    let path = format!("/subscriptions/{SUB}");
    for principal in [
        "tenant@fabrikam.com",
        "TENANT%40fabrikam.com",
        "coadmin@fabrikam.com",
    ] {
        let own = app
            .tenant(Method::GET, &path, Some(principal))
            .send()
            .await
            .unwrap();
        assert_eq!(own.status(), StatusCode::OK, "{principal}");
        assert_eq!(json_of(own).await["SubscriptionId"], SUB);
    }

    let stranger = app
        .tenant(Method::GET, &path, Some("mallory@contoso.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    let stranger_body = stranger.text().await.unwrap();
    let missing = app
        .tenant(
            Method::GET,
            &format!("/subscriptions/{}", SubscriptionId::new_random()),
            Some("mallory@contoso.com"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.text().await.unwrap(),
        stranger_body,
        "a stranger learns nothing"
    );
    assert!(!stranger_body.contains("tenant@fabrikam.com"));

    let anonymous = app.tenant(Method::GET, &path, None).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::FORBIDDEN);

    let own_other = app
        .tenant(
            Method::GET,
            &format!("/subscriptions/{other_id}"),
            Some("mallory@contoso.com"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(own_other.status(), StatusCode::OK, "mallory sees her own");

    app.notification(Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    let after_delete = app
        .tenant(Method::GET, &path, Some("tenant@fabrikam.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        after_delete.status(),
        StatusCode::NOT_FOUND,
        "a deleted subscription is gone for its tenant"
    );
}

async fn admins_list_subscriptions_with_filters(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    create_subscription(&app).await;
    let suspended = SubscriptionId::new_random().to_string();
    app.notification(Method::POST, "/subscriptions")
        .json(&json!({ "SubscriptionId": suspended, "AdminId": "b@fabrikam.com", "State": "Suspended" }))
        .send()
        .await
        .unwrap();

    let all = json_of(
        app.admin(Method::GET, "/subscriptions")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let only_suspended = json_of(
        app.admin(Method::GET, "/subscriptions?state=suspended")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(only_suspended.as_array().unwrap().len(), 1);
    assert_eq!(only_suspended[0]["SubscriptionId"], suspended.as_str());

    let first_page = json_of(
        app.admin(Method::GET, "/subscriptions?limit=1")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let first_id = first_page[0]["SubscriptionId"].as_str().unwrap().to_owned();
    let second_page = json_of(
        app.admin(
            Method::GET,
            &format!("/subscriptions?limit=1&after={first_id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(second_page.as_array().unwrap().len(), 1);
    assert_ne!(second_page[0]["SubscriptionId"], first_id.as_str());

    let bad = app
        .admin(Method::GET, "/subscriptions?state=Frozen")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(
        json_of(bad).await["Message"]
            .as_str()
            .unwrap()
            .contains("Frozen")
    );

    app.notification(Method::DELETE, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    let with_deleted = json_of(
        app.admin(Method::GET, "/subscriptions?includeDeleted=true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(with_deleted.as_array().unwrap().len(), 2);
    let one = json_of(
        app.admin(Method::GET, &format!("/subscriptions/{SUB}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(one["LifecycleState"], 4);
}

async fn health_reports_liveness_and_store_readiness(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let live = app.anonymous(Method::GET, "/health").send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app
        .anonymous(Method::GET, "/health/ready")
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(json_of(ready).await["store"], expected);
    let unknown = app.anonymous(Method::GET, "/nowhere").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_of(unknown).await["Code"], "NotFound");
}

on_both_backends!(
    usage_pages_by_last_id_across_a_restart,
    usage_refuses_bad_paging_parameters,
    every_endpoint_demands_its_own_credentials,
    tenants_see_only_subscriptions_they_administer,
    admins_list_subscriptions_with_filters,
    health_reports_liveness_and_store_readiness,
);
