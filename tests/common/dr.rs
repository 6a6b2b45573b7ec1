//! A DR world for end-to-end tests: wapdr with a small lab, both stamps registered, a policy and a
//! Gold A → Gold B cloud pair paired in the vault, and tenants created through the lab's WAP and
//! SPF APIs (user, subscription on the paired plan, VMs, a network), plus readers of what the
//! lab's vault holds.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::contract::AzureProvisioningInfo;
use wapdr::domain::{ProtectedVm, SubscriptionId, VmProtectionState};
use wapdr::fabric::ReplicationEngine as _;
use wapdr::fabric::spf::{NetworkQuery, NewVmNetwork, NewVmSubnet, Owner, VmQuery};
use wapdr::fabric::wap_admin::{NewUser, UserState};
use wapdr::lab::LabHandle;

use super::app::{Backend, TestApp, json_of};
use super::lab::{asr, set_knobs, spf, wap_admin};
use super::setup::{app_with_lab, bound_cloud, pair_body, register_lab_stamps};

/// wapdr, its lab, the stamps' wapdr ids and the Gold pair's id.
pub struct DrWorld {
    /// wapdr.
    pub app: TestApp,
    /// The lab.
    pub lab: LabHandle,
    /// Stamp A's wapdr id.
    pub a: String,
    /// Stamp B's wapdr id.
    pub b: String,
    /// The Gold A → Gold B pair.
    pub pair: String,
}

/// An admin API call.
pub async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin call");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Takes runbook `name` off its schedule, so it runs only when a test (or a plan) starts it, not
/// on a schedule tick mid-test.
pub async fn unschedule(app: &TestApp, name: &str) {
    let (status, view) = admin(
        app,
        Method::PUT,
        &format!("/runbooks/{name}"),
        Some(json!({ "schedule": null })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
}

/// Creates a policy and a pair through the admin API and waits until the vault paired it.
pub async fn pair_plans(
    app: &TestApp,
    lab: &LabHandle,
    (a, a_plan): (&str, &str),
    (b, b_plan): (&str, &str),
    policy: &str,
) -> String {
    let (status, _) = admin(
        app,
        Method::POST,
        "/policies",
        Some(json!({ "name": policy })),
    )
    .await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::CONFLICT,
        "policy {status}"
    );
    let body = pair_body(
        (a, a_plan, bound_cloud(lab, 0, a_plan).await),
        (b, b_plan, bound_cloud(lab, 1, b_plan).await),
        policy,
    );
    let (status, pair) = admin(app, Method::POST, "/cloud-pairs", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{pair}");
    let id = pair["Id"].as_str().expect("pair Id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, got) = admin(app, Method::GET, &format!("/cloud-pairs/{id}"), None).await;
        if got["State"] == "Paired" {
            return id;
        }
        assert!(
            got["State"] == "Pending" && Instant::now() < deadline,
            "{got}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A lab with both stamps registered and Gold A paired with Gold B (`None`: backend not set up).
pub async fn gold_world(backend: Backend) -> Option<DrWorld> {
    let (app, lab) = app_with_lab(backend).await?;
    Some(gold_world_on(app, lab).await)
}

/// [`gold_world`] on a wapdr and lab the caller started (with its own workflows).
pub async fn gold_world_on(app: TestApp, lab: LabHandle) -> DrWorld {
    // Initial replication of a 1 GiB VM takes a couple of lab seconds.
    set_knobs(
        &lab,
        json!({ "initial_replication_bytes_per_second": 1024.0 * 1024.0 * 1024.0 }),
    )
    .await;
    let (a, b) = register_lab_stamps(&app, &lab).await;
    let pair = pair_plans(&app, &lab, (&a, "a-gold"), (&b, "b-gold"), "gold-5min").await;
    DrWorld {
        app,
        lab,
        a,
        b,
        pair,
    }
}

/// A tenant on stamp A: its subscription id, user and co-admin.
pub struct Tenant {
    /// The subscription (and its user role on A).
    pub id: SubscriptionId,
    /// The account admin.
    pub user: String,
    /// One co-admin.
    pub co_admin: String,
}

/// Creates a user and a subscription on `plan` in lab WAP-A (which creates its SPF user role).
pub async fn new_tenant(lab: &LabHandle, user: &str, plan: &str) -> Tenant {
    let wap = wap_admin(lab, 0);
    let co_admin = format!("ops.{user}");
    for name in [user.to_owned(), co_admin.clone()] {
        if wap.get_user(&name).await.expect("WAP-A").is_none() {
            wap.create_user(&NewUser {
                name: name.clone(),
                email: name.clone(),
                state: UserState::Active,
            })
            .await
            .expect("user created");
        }
    }
    let id = SubscriptionId::new_random();
    wap.create_subscription(&AzureProvisioningInfo {
        account_admin_live_email_id: Some(user.to_owned()),
        account_admin_live_puid: Some(user.to_owned()),
        account_id: None,
        friendly_name: Some(format!("DR for {user}")),
        offer_category: None,
        offer_info: None,
        offer_type: 1,
        reason_code: None,
        service_admin_live_email_id: None,
        service_admin_live_puid: None,
        subscription_id: id,
        status: None,
        plan_id: Some(plan.to_owned()),
        co_admin_names: Some(vec![co_admin.clone()]),
    })
    .await
    .expect("subscription created in WAP-A");
    Tenant {
        id,
        user: user.to_owned(),
        co_admin,
    }
}

/// Creates `count` running 1 GiB VMs of `tenant` in `cloud` of stamp A; returns their ids.
pub async fn add_vms(
    lab: &LabHandle,
    tenant: &Tenant,
    cloud: &str,
    prefix: &str,
    count: usize,
    networks: &[Uuid],
) -> Vec<Uuid> {
    add_vms_with(lab, tenant, cloud, prefix, count, networks, json!({})).await
}

/// [`add_vms`] with more members for the lab's VM-creation body (`{"running": false}` for VMs
/// still being created, `{"description": "..."}`).
pub async fn add_vms_with(
    lab: &LabHandle,
    tenant: &Tenant,
    cloud: &str,
    prefix: &str,
    count: usize,
    networks: &[Uuid],
    more: Value,
) -> Vec<Uuid> {
    let stamp = &lab.stamps()[0].name;
    let mut body = json!({
        "count": count,
        "subscription_id": tenant.id.to_string(),
        "cloud": cloud,
        "name_prefix": prefix,
        "total_size": 1_i64 << 30,
        "vm_network_ids": networks,
        "running": true,
    });
    if let (Some(body), Some(more)) = (body.as_object_mut(), more.as_object()) {
        body.extend(more.clone());
    }
    let response = reqwest::Client::new()
        .post(format!("{}/lab/stamps/{stamp}/vms", lab.control()))
        .json(&body)
        .send()
        .await
        .expect("lab control");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("ids");
    body["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| Uuid::parse_str(v.as_str().expect("id")).expect("uuid"))
        .collect()
}

/// Creates a tenant VM network with one subnet on stamp A, owned by the tenant's role.
pub async fn add_network(lab: &LabHandle, tenant: &Tenant, name: &str) -> Uuid {
    let spf = spf(lab, 0);
    let stamp = spf.list_stamps().await.expect("SPF-A")[0].id;
    let owner = Owner {
        user_name: Some(tenant.user.clone()),
        role_name: Some(format!("{}_{}", tenant.user, tenant.id)),
        role_id: Some(tenant.id.as_uuid()),
    };
    let network = spf
        .create_vm_network(&NewVmNetwork {
            id: None,
            stamp_id: stamp,
            name: name.to_owned(),
            description: None,
            logical_network_id: None,
            isolation_type: Some("WindowsNetworkVirtualization".into()),
            owner: Some(owner),
        })
        .await
        .expect("network on A");
    spf.create_vm_subnet(&NewVmSubnet {
        id: None,
        stamp_id: stamp,
        name: "Subnet1".into(),
        subnet: "10.9.0.0/24".into(),
        vm_network_id: network.id,
    })
    .await
    .expect("subnet on A");
    network.id
}

/// The notification body WAP sends for `tenant` with these DR quota settings.
pub fn notification_body(tenant: &Tenant, quota: &[(&str, &str)]) -> Value {
    json!({
        "SubscriptionId": tenant.id.to_string(),
        "SubscriptionName": format!("DR for {}", tenant.user),
        "State": 0,
        "LifecycleState": 0,
        "QuotaSettings": quota
            .iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect::<Vec<_>>(),
        "AdminId": tenant.user,
        "CoAdminIds": [tenant.co_admin],
    })
}

/// `POST /notification/subscriptions`; returns the status and body.
pub async fn notify_create(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    let response = app
        .notification(Method::POST, "/subscriptions")
        .json(body)
        .send()
        .await
        .expect("notification");
    let status = response.status();
    (status, json_of(response).await)
}

/// `PUT /notification/subscriptions/{id}`; returns the status and body.
pub async fn notify_update(app: &TestApp, tenant: &Tenant, body: &Value) -> (StatusCode, Value) {
    let response = app
        .notification(Method::PUT, &format!("/subscriptions/{}", tenant.id))
        .json(body)
        .send()
        .await
        .expect("notification");
    let status = response.status();
    (status, json_of(response).await)
}

/// The wire numbers of LifecycleState.
pub const PROVISIONED: i64 = 0;
/// Provisioning.
pub const PROVISIONING: i64 = 1;
/// Updating.
pub const UPDATING: i64 = 2;
/// Deleting.
pub const DELETING: i64 = 3;
/// Deleted.
pub const DELETED: i64 = 4;
/// OutOfSync.
pub const OUT_OF_SYNC: i64 = 5;

/// Polls GET as WAP does until the LifecycleState is no longer in progress (60 s at most).
pub async fn settled_lifecycle(app: &TestApp, tenant: &Tenant) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = json_of(
            app.notification(Method::GET, &format!("/subscriptions/{}", tenant.id))
                .send()
                .await
                .expect("GET"),
        )
        .await;
        let state = got["LifecycleState"].as_i64().unwrap_or(-1);
        if ![PROVISIONING, UPDATING, DELETING].contains(&state) || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Tells wapdr the tenant took the DR add-on, as WAP does, and waits until the subscription is
/// Provisioned (asserted) and every VM of `vms` is Protected; the VMs' records.
pub async fn enable_dr_and_settle(
    app: &TestApp,
    tenant: &Tenant,
    vms: &[Uuid],
) -> Vec<ProtectedVm> {
    notify_create(app, &notification_body(tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(
        settled_lifecycle(app, tenant).await["LifecycleState"],
        PROVISIONED
    );
    until_all(app, tenant, vms, VmProtectionState::Protected).await
}

/// The tenant's VM records, by VM id order of `ids`.
pub async fn records(app: &TestApp, tenant: &Tenant) -> Vec<ProtectedVm> {
    app.store()
        .list_protected_vms(tenant.id)
        .await
        .expect("store")
}

/// The record of one VM.
pub async fn record(app: &TestApp, tenant: &Tenant, vm: Uuid) -> ProtectedVm {
    app.store()
        .get_protected_vm(tenant.id, vm)
        .await
        .expect("store")
        .unwrap_or_else(|| panic!("no record of VM {vm}"))
}

/// Polls until every record of `vms` is in `state` (60 s at most); returns them.
pub async fn until_all(
    app: &TestApp,
    tenant: &Tenant,
    vms: &[Uuid],
    state: VmProtectionState,
) -> Vec<ProtectedVm> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut found = Vec::new();
        for vm in vms {
            if let Some(r) = app
                .store()
                .get_protected_vm(tenant.id, *vm)
                .await
                .expect("store")
            {
                found.push(r);
            }
        }
        if (found.len() == vms.len() && found.iter().all(|r| r.state == state))
            || Instant::now() > deadline
        {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The VMs on stamp B (replicas) with Hyper-V id `vm_id` of a primary.
pub async fn replicas_on_b(lab: &LabHandle, primary: Uuid) -> Vec<wapdr::fabric::spf::Vm> {
    let a = spf(lab, 0);
    let a_stamp = a.list_stamps().await.expect("SPF-A")[0].id;
    let hyper_v = a
        .get_vm(a_stamp, primary)
        .await
        .expect("SPF-A")
        .expect("primary VM")
        .vm_id
        .expect("Hyper-V id");
    spf(lab, 1)
        .list_vms(&VmQuery {
            vm_id: Some(hyper_v),
            ..VmQuery::default()
        })
        .await
        .expect("SPF-B")
}

/// The tenant's VM networks on stamp B.
pub async fn networks_on_b(lab: &LabHandle, tenant: &Tenant) -> Vec<wapdr::fabric::spf::VmNetwork> {
    spf(lab, 1)
        .list_vm_networks(&NetworkQuery {
            stamp_id: None,
            owner_role_id: Some(tenant.id.as_uuid()),
        })
        .await
        .expect("SPF-B")
}

/// A bearer token for the lab's ARM API.
async fn arm_token(lab: &LabHandle) -> String {
    let a = lab.asr();
    let body: Value = reqwest::Client::new()
        .post(format!("{}/{}/oauth2/v2.0/token", lab.token(), a.tenant_id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &a.client_id.to_string()),
            ("client_secret", &a.client_secret),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    body["access_token"].as_str().expect("token").to_owned()
}

/// GET of a vault resource path (relative to the vault), as JSON.
pub async fn vault_get(lab: &LabHandle, path: &str) -> Value {
    let a = lab.asr();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}/{path}?api-version=2025-08-01",
        a.arm, a.subscription_id, a.resource_group, a.vault
    );
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(arm_token(lab).await)
        .send()
        .await
        .expect("ARM");
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.expect("ARM JSON")
}

/// The copy frequency of the policy the vault protects primary VM `vm` (in A's Gold cloud) with.
pub async fn item_frequency(lab: &LabHandle, cloud: Uuid, vm: Uuid) -> i64 {
    let a_stamp = spf(lab, 0).list_stamps().await.expect("SPF-A")[0].id;
    let sites = asr(lab).sites().await.expect("sites");
    let site = sites
        .iter()
        .find(|s| s.stamp_id.eq_ignore_ascii_case(&a_stamp.to_string()))
        .expect("site of A");
    let item = vault_get(
        lab,
        &format!(
            "replicationFabrics/{}/replicationProtectionContainers/{cloud}/replicationProtectedItems/{vm}",
            site.id
        ),
    )
    .await;
    let policy = item["properties"]["policyFriendlyName"]
        .as_str()
        .expect("policy name")
        .to_owned();
    let policy = vault_get(lab, &format!("replicationPolicies/{policy}")).await;
    policy["properties"]["providerSpecificDetails"]["replicationFrequencyInSeconds"]
        .as_i64()
        .expect("frequency")
}

/// The vault's network mappings as (primary network name, recovery network name).
pub async fn vault_network_mappings(lab: &LabHandle) -> Vec<(String, String)> {
    let body = vault_get(lab, "replicationNetworkMappings").await;
    body["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|m| {
            (
                m["properties"]["primaryNetworkFriendlyName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                m["properties"]["recoveryNetworkFriendlyName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}
