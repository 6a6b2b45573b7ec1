//! The WAP admin API client: the create-subscription body, auth headers, conflicts and paging.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::{Value, json};
use wapdr::contract::{self, AzureProvisioningInfo, Format};
use wapdr::fabric::wap_admin::{AdminSubscriptionState, SubscriptionQuery};
use wapdr::fabric::{FabricError, WapAdminClient};

use super::{fixture, quick_retries, serve, settings};

fn client(base: &str) -> WapAdminClient {
    WapAdminClient::new(
        base,
        SecretString::from("admin-token"),
        "admin@contoso.com",
        &settings(),
        quick_retries(),
    )
    .unwrap()
}

fn subscription(id: &str, state: i64) -> Value {
    json!({"SubscriptionID": id, "SubscriptionName": "Gold DR", "AccountAdminLiveEmailId": "tenant@fabrikam.com",
           "CoAdminNames": [], "State": state, "PlanId": "e3a1c7e1",
           "AddOnReferences": null, "Created": "2026-11-22T10:00:00Z"})
}

#[tokio::test]
async fn creating_a_subscription_sends_the_fixture_body_with_bearer_and_principal() {
    let received: Arc<Mutex<Option<(Value, HeaderMap)>>> = Arc::default();
    let seen = received.clone();
    let router = Router::new().route(
        "/subscriptions",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap();
                let id = body["SubscriptionId"].as_str().unwrap().to_owned();
                *seen.lock().unwrap() = Some((body, headers));
                Json(subscription(&id, 1))
            }
        }),
    );
    let wap = client(&serve(router).await);
    let recorded = std::fs::read(fixture("wap/admin-subscription-provision-request.json")).unwrap();
    let info: AzureProvisioningInfo = contract::decode(Format::Json, &recorded).unwrap();

    let created = wap.create_subscription(&info).await.unwrap();

    let (body, headers) = received.lock().unwrap().take().unwrap();
    let expected: Value = serde_json::from_slice(&recorded).unwrap();
    assert_eq!(body, expected);
    assert_eq!(headers["authorization"], "Bearer admin-token");
    assert_eq!(headers["x-ms-principal-id"], "admin@contoso.com");
    assert_eq!(created.subscription_id, info.subscription_id);
    assert_eq!(created.state, AdminSubscriptionState::Active);
}

#[tokio::test]
async fn an_existing_subscription_id_is_a_conflict_and_is_not_re_sent() {
    let calls = Arc::new(Mutex::new(0));
    let counter = calls.clone();
    let router = Router::new().route(
        "/subscriptions",
        post(move || {
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += 1;
                (
                    StatusCode::CONFLICT,
                    Json(json!({"Code": "SubscriptionAlreadyExists", "Message": "exists"})),
                )
            }
        }),
    );
    let wap = client(&serve(router).await);
    let recorded = std::fs::read(fixture("wap/admin-subscription-provision-request.json")).unwrap();
    let info: AzureProvisioningInfo = contract::decode(Format::Json, &recorded).unwrap();

    let err = wap.create_subscription(&info).await.unwrap_err();

    assert!(
        matches!(&err, FabricError::Conflict { service, code, .. } if service == "WAP admin API" && code == "SubscriptionAlreadyExists"),
        "{err:?}"
    );
    assert_eq!(*calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn listing_subscriptions_reads_every_page_with_the_filters() {
    let router = Router::new().route(
        "/subscriptions",
        get(
            |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                assert_eq!(q.get("planId").map(String::as_str), Some("p1"));
                let skip: usize = q["skip"].parse().unwrap();
                let take: usize = q["take"].parse().unwrap();
                let total = 130;
                let items: Vec<Value> = (skip..(skip + take).min(total))
                    .map(|i| subscription(&format!("00000000-0000-0000-0000-{i:012}"), 2))
                    .collect();
                Json(json!({"items": items, "filteredTotalCount": total, "totalCount": 500}))
            },
        ),
    );
    let wap = client(&serve(router).await);

    let all = wap
        .list_subscriptions(&SubscriptionQuery {
            plan_id: Some("p1".into()),
            ..SubscriptionQuery::default()
        })
        .await
        .unwrap();

    assert_eq!(all.len(), 130);
    assert!(
        all.iter()
            .all(|s| s.state == AdminSubscriptionState::Suspended)
    );
}

#[tokio::test]
async fn a_missing_user_is_none_and_a_bad_token_is_unauthorized() {
    let router = Router::new()
        .route(
            "/users/{name}",
            get(
                |axum::extract::Path(name): axum::extract::Path<String>| async move {
                    assert_eq!(name, "o'brien+dr@f.com");
                    (
                        StatusCode::NOT_FOUND,
                        Json(json!({"Code": "NotFound", "Message": "no user"})),
                    )
                },
            ),
        )
        .route(
            "/plans",
            get(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"Code": "Unauthorized", "Message": "bad token"})),
                )
            }),
        );
    let wap = client(&serve(router).await);

    assert_eq!(wap.get_user("o'brien+dr@f.com").await.unwrap(), None);
    let err = wap.list_plans().await.unwrap_err();
    assert!(
        matches!(err, FabricError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("admin-token"));
}
