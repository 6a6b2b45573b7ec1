//! Provider setup against a lab: the stamp bodies the admin API takes for the lab's stamps, and
//! what the lab's WAP says a plan is bound to.

#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::lab::LabHandle;

use super::app::TestApp;
use super::lab::SPF_SERVICE;

/// The `POST /admin/stamps` body for lab stamp `index` (0 = A), with the lab's URLs and secrets.
pub fn stamp_body(lab: &LabHandle, index: usize) -> Value {
    let stamp = &lab.stamps()[index];
    json!({
        "name": stamp.name,
        "spfUrl": format!("{}{SPF_SERVICE}", stamp.spf),
        "spfUsername": stamp.spf_username,
        "spfPassword": stamp.spf_password,
        "wapAdminUrl": stamp.wap_admin,
        "wapAdminToken": stamp.wap_admin_token,
        "tenantPortalUrl": stamp.tenant_portal,
    })
}

/// Registers both lab stamps through the admin API; returns their wapdr ids (A, B).
pub async fn register_lab_stamps(app: &TestApp, lab: &LabHandle) -> (String, String) {
    let mut ids = Vec::new();
    for index in 0..2 {
        let response = app
            .admin(Method::POST, "/stamps")
            .json(&stamp_body(lab, index))
            .send()
            .await
            .expect("POST /admin/stamps");
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("stamp JSON");
        ids.push(body["Id"].as_str().expect("Id").to_owned());
    }
    (ids[0].clone(), ids[1].clone())
}

/// The lab WAP plan `plan_id` of stamp `index`, as WAP's JSON.
pub async fn lab_plan(lab: &LabHandle, index: usize, plan_id: &str) -> Value {
    let stamp = &lab.stamps()[index];
    reqwest::Client::new()
        .get(format!(
            "{}/plans/{plan_id}",
            stamp.wap_admin.trim_end_matches('/')
        ))
        .bearer_auth(&stamp.wap_admin_token)
        .header("x-ms-principal-id", "test")
        .send()
        .await
        .expect("lab WAP")
        .json()
        .await
        .expect("plan JSON")
}

/// The cloud a lab plan is bound to (from the plan's VM Clouds quota, as WAP holds it).
pub async fn bound_cloud(lab: &LabHandle, index: usize, plan_id: &str) -> Uuid {
    let plan = super::lab::wap_admin(lab, index)
        .get_plan(plan_id)
        .await
        .expect("WAP answers")
        .expect("a plan");
    plan.vm_clouds_binding().expect("binding")[0].1
}

/// Adds plan `new_id` to stamp `index`'s WAP, bound to the same cloud as `like`.
pub async fn add_plan_like(lab: &LabHandle, index: usize, like: &str, new_id: &str, name: &str) {
    let stamp = &lab.stamps()[index];
    let mut plan = lab_plan(lab, index, like).await;
    plan["Id"] = json!(new_id);
    plan["DisplayName"] = json!(name);
    let response = reqwest::Client::new()
        .post(format!("{}/plans", stamp.wap_admin.trim_end_matches('/')))
        .bearer_auth(&stamp.wap_admin_token)
        .header("x-ms-principal-id", "test")
        .json(&plan)
        .send()
        .await
        .expect("lab WAP");
    assert!(response.status().is_success(), "{}", response.status());
}

/// A cloud-pair body.
pub fn pair_body(primary: (&str, &str, Uuid), recovery: (&str, &str, Uuid), policy: &str) -> Value {
    json!({
        "primary": {"stampId": primary.0, "planId": primary.1, "cloudId": primary.2},
        "recovery": {"stampId": recovery.0, "planId": recovery.1, "cloudId": recovery.2},
        "policy": policy,
    })
}

/// The `[asr]` section pointing wapdr at the lab's vault and token endpoint.
pub fn asr_section(lab: &LabHandle) -> String {
    let asr = lab.asr();
    format!(
        r#"
        [asr]
        arm_url = "{}"
        login_url = "{}"
        tenant_id = "{}"
        client_id = "{}"
        client_secret = "{}"
        subscription_id = "{}"
        resource_group = "{}"
        vault = "{}"
        "#,
        asr.arm,
        lab.token(),
        asr.tenant_id,
        asr.client_id,
        asr.client_secret,
        asr.subscription_id,
        asr.resource_group,
        asr.vault
    )
}

/// A small lab and wapdr configured with its vault (`None` when the backend is not configured).
pub async fn app_with_lab(backend: super::app::Backend) -> Option<(TestApp, LabHandle)> {
    let lab = super::lab::small_lab().await;
    let app =
        TestApp::start_configured(backend, wapdr::app::workflows(), &asr_section(&lab)).await?;
    Some((app, lab))
}
