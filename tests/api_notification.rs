//! The notification endpoint against a real listener, in JSON and XML, on SQLite and PostgreSQL.

mod common;

use common::app::{Backend, TestApp, fixture, json_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SUB: &str = "ec66ec96-8edd-4916-be45-607959155c2a";
const OTHER: &str = "ae122d5f-3aab-4d75-ad48-d6593246a49e";

fn setting<'a>(sub: &'a Value, key: &str) -> Option<&'a str> {
    sub["QuotaSettings"].as_array()?.iter().find(|s| {
        s["Key"]
            .as_str()
            .is_some_and(|k| k.eq_ignore_ascii_case(key))
    })?["Value"]
        .as_str()
}

/// Polls the subscription until enable DR (with no stamps registered, as here) has given up and
/// says why, as WAP's poll of GET would see it; returns the last answer.
async fn settled_out_of_sync(app: &TestApp) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = json_of(
            app.notification(Method::GET, &format!("/subscriptions/{SUB}"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        if got["LifecycleState"] == 5 || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn create_json(app: &TestApp, body: &str) -> reqwest::Response {
    app.notification(Method::POST, "/subscriptions")
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn subscription_lifecycle_in_json(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };

    let created = create_json(&app, &fixture("notification-subscription-create.json")).await;
    assert_eq!(
        created.status(),
        StatusCode::ACCEPTED,
        "DR is enabled by a job: WAP is told to poll"
    );
    let created = json_of(created).await;
    assert_eq!(created["SubscriptionId"], SUB);
    assert_eq!(created["State"], 0);
    assert_eq!(created["LifecycleState"], 1, "Provisioning");
    assert_eq!(created["AdminId"], "tenant@fabrikam.com");
    assert_eq!(created["CoAdminIds"], json!(["coadmin@fabrikam.com"]));
    assert_eq!(setting(&created, "MaxProtectedVms"), Some("10"));

    // No stamp is registered: enablement ends OutOfSync with what the provider must do.
    let failed = settled_out_of_sync(&app).await;
    assert_eq!(failed["LifecycleState"], 5, "{failed}");
    let message = failed["LastErrorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("POST /admin/stamps"), "{message}");
    assert!(message.contains("POST /admin/cloud-pairs"), "{message}");

    let got = app
        .notification(Method::GET, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(json_of(got).await["SubscriptionName"], "Gold DR");

    let suspend = app
        .notification(Method::PUT, &format!("/subscriptions/{SUB}"))
        .json(&json!({ "SubscriptionId": SUB, "State": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(suspend.status(), StatusCode::OK);
    let suspended = json_of(suspend).await;
    assert_eq!(suspended["State"], 1);
    assert_eq!(
        suspended["AdminId"], "tenant@fabrikam.com",
        "a state change keeps the admins"
    );
    assert_eq!(suspended["CoAdminIds"], json!(["coadmin@fabrikam.com"]));

    let reactivate = app
        .notification(Method::PUT, &format!("/subscriptions/{SUB}"))
        .json(&json!({ "SubscriptionId": SUB, "State": "Active" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        reactivate.status(),
        StatusCode::ACCEPTED,
        "re-activation re-runs enable DR"
    );
    let reactivated = json_of(reactivate).await;
    assert_eq!(reactivated["State"], 0);
    assert_eq!(reactivated["LifecycleState"], 2, "Updating");
    assert_eq!(settled_out_of_sync(&app).await["LifecycleState"], 5);

    let deleted = app
        .notification(Method::DELETE, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    assert_eq!(json_of(deleted).await["LifecycleState"], 4, "Deleted");

    let again = app
        .notification(Method::DELETE, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    assert!(again.status().is_success(), "a repeated delete is success");

    let polled = app
        .notification(Method::GET, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(polled).await["LifecycleState"], 4);

    let listed = json_of(
        app.notification(Method::GET, "/subscriptions")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed, json!([]), "tombstones are not listed");

    let update_deleted = app
        .notification(Method::PUT, &format!("/subscriptions/{SUB}"))
        .json(&json!({ "SubscriptionId": SUB, "State": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(update_deleted.status(), StatusCode::NOT_FOUND);

    let recreated = create_json(&app, &fixture("notification-subscription-create.json")).await;
    assert_eq!(recreated.status(), StatusCode::ACCEPTED);
    assert_eq!(
        json_of(recreated).await["LifecycleState"],
        1,
        "Provisioning again"
    );
}

async fn subscription_lifecycle_in_xml(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let xml = |method: Method, path: &str| {
        app.notification(method, path)
            .header("content-type", "application/xml; charset=utf-8")
            .header("accept", "application/xml")
    };

    let created = xml(Method::POST, "/subscriptions")
        .body(fixture("notification-subscription-create.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::ACCEPTED);
    assert!(
        created.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("xml")
    );
    let text = created.text().await.unwrap();
    assert!(
        text.contains(r#"xmlns="http://schemas.microsoft.com/windowsazure""#),
        "{text}"
    );
    assert!(text.contains("<State>Active</State>"), "{text}");
    assert!(
        text.contains("<LifecycleState>Provisioning</LifecycleState>"),
        "{text}"
    );
    assert!(text.contains("coadmin@fabrikam.com"), "{text}");

    let suspend = format!(
        r#"<Subscription xmlns="http://schemas.microsoft.com/windowsazure"><SubscriptionId>{SUB}</SubscriptionId><State>Suspended</State></Subscription>"#
    );
    let suspended = xml(Method::PUT, &format!("/subscriptions/{SUB}"))
        .body(suspend)
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), StatusCode::OK);
    assert!(
        suspended
            .text()
            .await
            .unwrap()
            .contains("<State>Suspended</State>")
    );

    let reactivate = format!(
        r#"<Subscription xmlns="http://schemas.microsoft.com/windowsazure"><SubscriptionId>{SUB}</SubscriptionId><State>0</State></Subscription>"#
    );
    let reactivated = xml(Method::PUT, &format!("/subscriptions/{SUB}"))
        .body(reactivate)
        .send()
        .await
        .unwrap();
    assert!(
        reactivated
            .text()
            .await
            .unwrap()
            .contains("<State>Active</State>")
    );

    let deleted = xml(Method::DELETE, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let got = xml(Method::GET, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    assert!(
        got.text()
            .await
            .unwrap()
            .contains("<LifecycleState>Deleted</LifecycleState>")
    );
}

async fn sample_rp_forms_take_the_id_from_the_body(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    create_json(&app, &fixture("notification-subscription-create.json")).await;
    settled_out_of_sync(&app).await;

    let renamed = app
        .notification(Method::PUT, "/subscriptions")
        .json(&json!({ "SubscriptionId": SUB, "SubscriptionName": "Platinum DR" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        renamed.status(),
        StatusCode::OK,
        "a rename asks nothing of DR"
    );
    let renamed = json_of(renamed).await;
    assert_eq!(renamed["SubscriptionName"], "Platinum DR");
    assert_eq!(
        renamed["LifecycleState"], 5,
        "the failure is still reported"
    );

    let deleted = app
        .notification(Method::DELETE, "/subscriptions")
        .json(&json!({ "SubscriptionId": SUB }))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    let got = json_of(
        app.notification(Method::GET, &format!("/subscriptions/{SUB}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got["LifecycleState"], 4);
}

async fn legal_variants_of_the_subscription_are_understood(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    // Lower-case member names, the docs' spellings, enum names in JSON, a single co-admin string,
    // GUID in upper case with braces, an unknown member.
    let body = json!({
        "subscriptionid": "{EC66EC96-8EDD-4916-BE45-607959155C2A}",
        "subscriptionName": "Variant",
        "state": "suspended",
        "LifeCycleState": "Provisioning",
        "CoAdmins": "solo@fabrikam.com",
        "adminid": "tenant@fabrikam.com",
        "quotasettings": [{ "key": "drenabled", "value": "TRUE" }, { "Key": "KeyFromANewerWapdr", "Value": "1" }],
        "SomethingNew": { "nested": [1, 2] }
    });
    let created = create_json(&app, &body.to_string()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json_of(created).await;
    assert_eq!(created["SubscriptionId"], SUB);
    assert_eq!(created["State"], 1);
    assert_eq!(created["CoAdminIds"], json!(["solo@fabrikam.com"]));
    assert_eq!(setting(&created, "DrEnabled"), Some("true"));

    let xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
        <Subscription xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.microsoft.com/windowsazure">
          <SubscriptionId>{OTHER}</SubscriptionId>
          <State>2</State>
          <LifeCycleState>1</LifeCycleState>
          <LastErrorMessage i:nil="true"/>
          <AdminId>other@fabrikam.com</AdminId>
          <CoAdmins i:nil="true"/>
          <Extra>ignored</Extra>
        </Subscription>"#
    );
    let created = app
        .notification(Method::POST, "/subscriptions")
        .header("content-type", "text/xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = json_of(created).await;
    assert_eq!(created["State"], 2, "DeletePending by its integer");
    assert_eq!(created["CoAdminIds"], json!([]));
}

async fn quota_batches_update_known_subscriptions_and_report_the_rest(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    create_json(&app, &fixture("notification-subscription-create.json")).await;

    let result = app
        .notification(Method::PUT, "/quota")
        .header("content-type", "application/json")
        .body(fixture("notification-quota-update-batch.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(result.status(), StatusCode::OK);
    let result = json_of(result).await;
    assert_eq!(result["UpdatedSubscriptionIds"], json!([SUB]));
    assert_eq!(result["FailedSubscriptionIds"], json!([OTHER]));
    assert!(result["Error"]["Message"].as_str().unwrap().contains(OTHER));

    let sub = json_of(
        app.notification(Method::GET, &format!("/subscriptions/{SUB}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        setting(&sub, "MaxProtectedVms"),
        Some("15"),
        "plan 10 + add-on 5"
    );

    let xml = app
        .notification(Method::PUT, "/quota")
        .header("content-type", "application/xml")
        .header("accept", "application/xml")
        .body(fixture("notification-quota-update-batch.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), StatusCode::OK);
    let text = xml.text().await.unwrap();
    assert!(text.contains("<QuotaUpdateResultBatch"), "{text}");
    assert!(text.contains(SUB), "{text}");
}

async fn validate_only_names_the_invalid_key_and_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    create_json(&app, &fixture("notification-subscription-create.json")).await;
    let batch = |frequency: &str| {
        json!({
            "BaseQuota": [{ "Key": "ReplicationFrequencySeconds", "Value": frequency }],
            "AddOnQuotas": [],
            "SubscriptionIdsToUpdate": [SUB]
        })
    };

    for query in [
        "validateOnly=true",
        "VALIDATEONLY=True",
        "validateonly=TRUE",
    ] {
        let refused = app
            .notification(Method::PUT, &format!("/quota?{query}"))
            .json(&batch("60"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{query}");
        let error = json_of(refused).await;
        assert!(
            error["Message"]
                .as_str()
                .unwrap()
                .contains("ReplicationFrequencySeconds"),
            "{error}"
        );
        assert!(error["Code"].is_string());
    }

    let valid = app
        .notification(Method::PUT, "/quota?validateOnly=true")
        .json(&batch("30"))
        .send()
        .await
        .unwrap();
    assert_eq!(valid.status(), StatusCode::OK);
    let sub = json_of(
        app.notification(Method::GET, &format!("/subscriptions/{SUB}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        setting(&sub, "ReplicationFrequencySeconds"),
        Some("300"),
        "validation changes nothing"
    );

    let refused = app
        .notification(Method::PUT, "/quota")
        .json(&batch("61"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::BAD_REQUEST,
        "a real update is validated too"
    );
    let sub = json_of(
        app.notification(Method::GET, &format!("/subscriptions/{SUB}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(setting(&sub, "ReplicationFrequencySeconds"), Some("300"));

    let applied = app
        .notification(Method::PUT, "/quota")
        .json(&batch("30"))
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), StatusCode::OK);
    let sub = json_of(
        app.notification(Method::GET, &format!("/subscriptions/{SUB}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(setting(&sub, "ReplicationFrequencySeconds"), Some("30"));
}

async fn the_default_quota_lists_every_key(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let defaults = json_of(
        app.notification(Method::GET, "/defaultquota")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let keys: Vec<&str> = defaults
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "DrEnabled",
            "MaxProtectedVms",
            "ReplicationFrequencySeconds",
            "RecoveryPoints",
            "AppConsistentFrequencyHours",
            "SelfService"
        ]
    );
    let xml = app
        .notification(Method::GET, "/defaultquota")
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<ServiceQuotaSettings"), "{xml}");
    assert!(xml.contains("<Key>DrEnabled</Key>"), "{xml}");
}

async fn usage_summary_shows_the_protected_vm_allowance(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    create_json(&app, &fixture("notification-subscription-create.json")).await;
    let summary = app
        .notification(Method::GET, &format!("/subscriptions/{SUB}/usagesummary"))
        .send()
        .await
        .unwrap();
    assert_eq!(summary.status(), StatusCode::OK);
    let summary = json_of(summary).await;
    assert_eq!(summary["RetrievedSuccessfully"], true);
    assert_eq!(summary["Usages"][0]["Limit"], 10);
    let unknown = app
        .notification(Method::GET, &format!("/subscriptions/{OTHER}/usagesummary"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

async fn bad_input_gets_a_wap_error_and_stores_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let dtd = format!(
        r#"<?xml version="1.0"?><!DOCTYPE Subscription [<!ENTITY x "boom">]>
        <Subscription xmlns="http://schemas.microsoft.com/windowsazure"><SubscriptionId>{SUB}</SubscriptionId><SubscriptionName>&x;</SubscriptionName></Subscription>"#
    );
    let oversized = format!(
        r#"{{"SubscriptionId":"{SUB}","SubscriptionName":"{}"}}"#,
        "x".repeat(70_000)
    );
    let cases: Vec<(&str, &str, String, StatusCode)> = vec![
        (
            "malformed JSON",
            "application/json",
            format!(r#"{{"SubscriptionId":"{SUB}","#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed XML",
            "application/xml",
            format!("<Subscription><SubscriptionId>{SUB}</Subscription>"),
            StatusCode::BAD_REQUEST,
        ),
        ("a DTD", "application/xml", dtd, StatusCode::BAD_REQUEST),
        (
            "an oversized body",
            "application/json",
            oversized,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a non-GUID id",
            "application/json",
            r#"{"SubscriptionId":"abc"}"#.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an invalid state",
            "application/json",
            format!(r#"{{"SubscriptionId":"{SUB}","State":"Frozen"}}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "an invalid quota",
            "application/json",
            format!(
                r#"{{"SubscriptionId":"{SUB}","QuotaSettings":[{{"Key":"SelfService","Value":"Root"}}]}}"#
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a wrong content type",
            "text/plain",
            format!(r#"{{"SubscriptionId":"{SUB}"}}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "an empty body",
            "application/json",
            String::new(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, content_type, body, status) in cases {
        for accept in ["application/json", "application/xml"] {
            let response = app
                .notification(Method::POST, "/subscriptions")
                .header("content-type", content_type)
                .header("accept", accept)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{what}");
            let text = response.text().await.unwrap();
            if accept == "application/json" {
                let error: Value =
                    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
                assert!(
                    error["Code"].is_string() && error["Message"].is_string(),
                    "{what}: {text}"
                );
            } else {
                assert!(
                    text.contains("<Error") && text.contains("<Message>"),
                    "{what}: {text}"
                );
            }
        }
    }
    let got = app
        .notification(Method::GET, &format!("/subscriptions/{SUB}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::NOT_FOUND, "nothing was stored");

    let mismatch = app
        .notification(Method::PUT, &format!("/subscriptions/{OTHER}"))
        .json(&json!({ "SubscriptionId": SUB }))
        .send()
        .await
        .unwrap();
    assert_eq!(mismatch.status(), StatusCode::BAD_REQUEST);
    let bad_path = app
        .notification(Method::GET, "/subscriptions/not-a-guid")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_path.status(), StatusCode::BAD_REQUEST);
}

on_both_backends!(
    subscription_lifecycle_in_json,
    subscription_lifecycle_in_xml,
    sample_rp_forms_take_the_id_from_the_body,
    legal_variants_of_the_subscription_are_understood,
    quota_batches_update_known_subscriptions_and_report_the_rest,
    validate_only_names_the_invalid_key_and_changes_nothing,
    the_default_quota_lists_every_key,
    usage_summary_shows_the_protected_vm_allowance,
    bad_input_gets_a_wap_error_and_stores_nothing,
);
