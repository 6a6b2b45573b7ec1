//! Excluding a VM from DR and including it again, through the tenant and admin APIs on SQLite
//! and PostgreSQL: a tenant may when the plan has self-service and the subscription is active, the
//! provider always, and the provider's exclusion outranks the tenant's; each change starts the
//! VM's reconciliation (a stand-in here). Strangers and bad input change nothing.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::{Exclusion, SubscriptionId, SubscriptionState, VmProtectionState};

use common::app::Backend;
use common::dr_api::*;

async fn a_co_admin_excludes_and_includes_a_vm_and_its_reconciliation_starts(backend: Backend) {
    let Some(w) = world(backend, &[("SelfService", "Drill")], true).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;

    let (status, body) = w.protect(vm, Some(CO_ADMIN), true).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["Exclusion"], "Tenant");
    let job = body["JobId"].as_str().unwrap().to_owned();
    assert_eq!(w.record(vm).await.exclusion, Some(Exclusion::Tenant));
    w.wait_reconciled(vm, 1).await;
    let (_, run) = w.admin(Method::GET, &format!("/jobs/{job}"), None).await;
    assert_eq!(run["Workflow"], "reconcile_vm");
    assert_eq!(run["StartedBy"], CO_ADMIN);
    assert_eq!(run["Trigger"], "api");

    // Including again, in XML this time, puts the VM back in line for protection.
    let mut excluded = w.record(vm).await;
    excluded.state = VmProtectionState::Excluded;
    w.app.store().save_protected_vm(&excluded).await.unwrap();
    let response = w
        .app
        .tenant(
            Method::PUT,
            &format!("/subscriptions/{}/vms/{vm}/protection", w.sub),
            Some(OWNER),
        )
        .header("content-type", "application/xml")
        .header("accept", "application/xml")
        .body("<VmProtection><Excluded>false</Excluded></VmProtection>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let leaves = xml_leaves(&response.text().await.unwrap());
    assert_eq!(leaf(&leaves, "State"), ["Pending"]);
    assert_eq!(leaf(&leaves, "JobId").len(), 1);
    let record = w.record(vm).await;
    assert_eq!(
        (record.exclusion, record.state),
        (None, VmProtectionState::Pending)
    );
    w.wait_reconciled(vm, 2).await;

    // Asking for what is already so starts nothing.
    let (status, again) = w.protect(vm, Some(OWNER), false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["JobId"], Value::Null);
}

async fn strangers_get_not_found_and_change_nothing(backend: Backend) {
    let Some(w) = world(backend, &[], true).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    // The stranger is a tenant too, of another subscription: that grants nothing here.
    add_subscription_of(&w.app, STRANGER, &[]).await;
    let before = w.record(vm).await;
    for (method, path) in [
        (Method::GET, "/dr".to_owned()),
        (Method::GET, "/vms".to_owned()),
    ] {
        let (status, _) = w.tenant(method, &path, STRANGER, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, body) = w.protect(vm, Some(STRANGER), true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["Message"], "Subscription not found.");
    assert_eq!(w.record(vm).await, before);
    // Only reconciliations: the bundled site heartbeat may tick (every minute) mid-test.
    let (_, jobs) = w
        .admin(Method::GET, "/jobs?workflow=reconcile_vm", None)
        .await;
    assert_eq!(jobs.as_array().unwrap().len(), 0, "{jobs}");
}

async fn a_plan_without_self_service_leaves_exclusion_to_the_provider(backend: Backend) {
    let Some(w) = world(backend, &[("SelfService", "None")], true).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    let (status, body) = w.protect(vm, Some(OWNER), true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("plan does not allow"),
        "{body}"
    );
    assert_eq!(w.record(vm).await.exclusion, None);

    let (status, body) = w.protect(vm, None, true).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(w.record(vm).await.exclusion, Some(Exclusion::Admin));
}

async fn a_suspended_subscription_is_shown_but_not_changed(backend: Backend) {
    let Some(w) = world(backend, &[], true).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    let store = w.app.store();
    let mut sub = store.get_subscription(w.sub).await.unwrap().unwrap();
    sub.state = SubscriptionState::Suspended;
    store.save_subscription(&sub).await.unwrap();

    let (status, _) = w.tenant(Method::GET, "/dr", OWNER, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = w.protect(vm, Some(OWNER), true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["Message"].as_str().unwrap().contains("suspended"),
        "{body}"
    );
    assert_eq!(w.record(vm).await.exclusion, None);
}

async fn the_providers_exclusion_outranks_the_tenant(backend: Backend) {
    let Some(w) = world(backend, &[("SelfService", "Full")], true).await else {
        return;
    };
    let vm = w.vm("db", VmProtectionState::Pending, |_| {}).await;
    let (status, body) = w.protect(vm, None, true).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["State"], "Excluded");
    assert_eq!(body["Exclusion"], "Admin");

    let (status, body) = w.protect(vm, Some(OWNER), false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .contains("by the provider"),
        "{body}"
    );
    // Excluding it again as the tenant must not turn it into an exclusion the tenant can lift.
    let (status, _) = w.protect(vm, Some(OWNER), true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(w.record(vm).await.exclusion, Some(Exclusion::Admin));

    let (status, body) = w.protect(vm, None, false).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["Exclusion"], Value::Null);
    assert_eq!(w.record(vm).await.state, VmProtectionState::Pending);
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let Some(w) = world(backend, &[], true).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    let before = w.record(vm).await;
    let path = |id: &str| format!("/vms/{id}/protection");
    let cases = [
        (
            path("not-a-guid"),
            json!({"excluded": true}),
            StatusCode::BAD_REQUEST,
        ),
        (path(&vm.to_string()), json!({}), StatusCode::BAD_REQUEST),
        (
            path(&vm.to_string()),
            json!({"excluded": "maybe"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            path(&Uuid::new_v4().to_string()),
            json!({"excluded": true}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, error) = w
            .tenant(Method::PUT, &path, OWNER, Some(body.clone()))
            .await;
        assert_eq!(status, expected, "{path} {body}: {error}");
        assert!(error["Code"].is_string(), "a WAP error: {error}");
    }
    for path in [
        "/subscriptions/nope/dr".to_owned(),
        format!("/subscriptions/{}/vms/nope/protection", w.sub),
        "/dr/subscriptions?phase=Sleeping".to_owned(),
        "/dr/subscriptions?pairId=xyz".to_owned(),
        "/dr/subscriptions?limit=0".to_owned(),
        "/dr/subscriptions?after=nope".to_owned(),
    ] {
        let method = if path.ends_with("protection") {
            Method::PUT
        } else {
            Method::GET
        };
        let (status, _) = w
            .admin(method, &path, Some(json!({"excluded": true})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
    let unknown = format!("/subscriptions/{}/dr", SubscriptionId::new_random());
    assert_eq!(
        w.admin(Method::GET, &unknown, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(w.record(vm).await, before);
}

on_both_backends!(
    a_co_admin_excludes_and_includes_a_vm_and_its_reconciliation_starts,
    strangers_get_not_found_and_change_nothing,
    a_plan_without_self_service_leaves_exclusion_to_the_provider,
    a_suspended_subscription_is_shown_but_not_changed,
    the_providers_exclusion_outranks_the_tenant,
    bad_input_is_refused_and_changes_nothing,
);
