//! Enabling DR end to end on the lab over HTTP: WAP's `POST /subscriptions` for a tenant on a
//! paired plan answers 202 Provisioning, and the enable-DR job protects every VM, gives each
//! replica to the tenant on stamp B, builds the suspended mirror subscription and recreates and
//! maps the tenant's networks; exclusions, quota, readiness and replication frequency decide
//! each VM's fate, and are recorded with a reason.

mod common;

use common::app::Backend;
use common::dr::{OUT_OF_SYNC, admin, pair_plans};
use common::dr::{
    PROVISIONED, PROVISIONING, UPDATING, add_network, add_vms, add_vms_with, enable_dr_and_settle,
    gold_world, item_frequency, networks_on_b, new_tenant, notification_body, notify_create,
    notify_update, record, records, replicas_on_b, settled_lifecycle, until_all,
    vault_network_mappings,
};
use common::lab::{calls, set_knobs, spf, wap_admin};
use common::setup::bound_cloud;
use reqwest::{Method, StatusCode};
use serde_json::json;
use wapdr::domain::{DrPhase, Exclusion, MirrorState, VmProtectionState};
use wapdr::fabric::wap_admin::AdminSubscriptionState;

on_both_backends!(
    enabling_dr_protects_every_vm_gives_replicas_to_the_tenant_and_builds_the_mirror,
    a_tagged_vm_is_excluded_and_a_vm_beyond_the_quota_waits_until_the_quota_rises,
    a_vm_the_fabric_cannot_protect_is_unprotectable_with_the_fabrics_reason,
    a_vm_still_being_created_waits_with_a_reason_and_is_protected_once_created,
    the_quotas_replication_frequency_is_the_vault_items_policy_frequency,
    a_plan_without_a_pair_is_out_of_sync_naming_the_plan_until_the_provider_pairs_it,
    a_vm_deleted_on_the_fabric_is_released_and_usage_counts_what_is_protected,
    a_lowered_quota_releases_the_last_protected_vm_beyond_it,
    a_network_the_provider_mapped_on_the_pair_is_used_not_recreated,
    the_vaults_containers_are_looked_up_once_not_per_vm,
);

async fn enabling_dr_protects_every_vm_gives_replicas_to_the_tenant_and_builds_the_mirror(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "dave@tailspin.lab", "a-gold").await;
    let net = add_network(lab, &tenant, "dave-net").await;
    let vms = add_vms(lab, &tenant, "Gold", "dave", 3, &[net]).await;

    let (status, body) =
        notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["LifecycleState"], PROVISIONING);
    let again = notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(
        again.0,
        StatusCode::ACCEPTED,
        "WAP's retry is answered the same"
    );
    assert_eq!(again.1["LifecycleState"], PROVISIONING);

    let done = settled_lifecycle(app, &tenant).await;
    assert_eq!(done["LifecycleState"], PROVISIONED, "{done}");
    let runs = app
        .store()
        .list_runs(&wapdr::store::RunFilter {
            subscription_id: Some(tenant.id.to_string()),
            ..Default::default()
        })
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "WAP's retry started no second run");

    let protected = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert_eq!(protected.len(), 3);
    let b_stamp = spf(lab, 1).list_stamps().await.expect("SPF-B")[0].id;
    for vm in &protected {
        assert_eq!(vm.state, VmProtectionState::Protected, "{vm:?}");
        let replica = vm.replica_vm_id.expect("a replica id");
        assert!(vm.replica_owned);
        assert!(vm.protected_at.is_some() && vm.protection_requested_at.is_some());
        let on_b = spf(lab, 1)
            .get_vm(b_stamp, replica)
            .await
            .expect("SPF-B")
            .expect("the replica exists on B");
        let owner = on_b.owner.expect("an owner");
        assert_eq!(
            owner.role_id,
            Some(tenant.id.as_uuid()),
            "the tenant's role owns it"
        );
        assert_eq!(owner.user_name.as_deref(), Some(tenant.user.as_str()));
    }

    let mirror = wap_admin(lab, 1)
        .get_subscription(tenant.id)
        .await
        .expect("WAP-B")
        .expect("the mirror has the same id");
    assert_eq!(mirror.plan_id.as_deref(), Some("b-gold"));
    assert_eq!(mirror.state, AdminSubscriptionState::Suspended);
    assert_eq!(
        mirror.account_admin_live_email_id.as_deref(),
        Some(tenant.user.as_str())
    );
    assert_eq!(mirror.co_admin_names, vec![tenant.co_admin.clone()]);
    let dr = app
        .store()
        .get_dr_subscription(tenant.id)
        .await
        .expect("store")
        .expect("a DR record");
    assert_eq!(dr.mirror, MirrorState::Suspended);

    let recreated = networks_on_b(lab, &tenant).await;
    assert_eq!(recreated.len(), 1);
    assert_eq!(recreated[0].name, "dave-net");
    assert_eq!(dr.networks, vec![(net, recreated[0].id)]);
    assert!(
        vault_network_mappings(lab)
            .await
            .contains(&("dave-net".to_owned(), "dave-net".to_owned())),
        "the vault maps the network"
    );
}

async fn a_tagged_vm_is_excluded_and_a_vm_beyond_the_quota_waits_until_the_quota_rises(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "erin@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "erin", 4, &[]).await;
    let a_stamp = spf(lab, 0).list_stamps().await.expect("SPF-A")[0].id;
    spf(lab, 0)
        .set_vm_tag(a_stamp, vms[3], "web; wapdr:exclude")
        .await
        .expect("tag");

    let quota = [("DrEnabled", "true"), ("MaxProtectedVms", "2")];
    let (status, _) = notify_create(app, &notification_body(&tenant, &quota)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );

    let excluded = record(app, &tenant, vms[3]).await;
    assert_eq!(excluded.state, VmProtectionState::Excluded);
    assert_eq!(excluded.exclusion, Some(Exclusion::Tag));
    assert!(
        excluded
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("wapdr:exclude")
    );
    let all = records(app, &tenant).await;
    let counted: Vec<_> = all
        .iter()
        .filter(|r| r.state == VmProtectionState::Protected)
        .collect();
    let over: Vec<_> = all
        .iter()
        .filter(|r| r.state == VmProtectionState::OverQuota)
        .collect();
    assert_eq!(counted.len(), 2, "{all:?}");
    assert_eq!(over.len(), 1, "{all:?}");
    assert!(
        over[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("MaxProtectedVms")
    );
    assert!(over[0].replica_vm_id.is_none());

    let raised = json!({
        "SubscriptionId": tenant.id.to_string(),
        "QuotaSettings": [
            {"Key": "DrEnabled", "Value": "true"},
            {"Key": "MaxProtectedVms", "Value": "3"},
        ],
    });
    let (status, body) = notify_update(app, &tenant, &raised).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["LifecycleState"], UPDATING);
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    let now_protected = until_all(app, &tenant, &vms[..3], VmProtectionState::Protected).await;
    assert!(
        now_protected
            .iter()
            .all(|r| r.state == VmProtectionState::Protected),
        "{now_protected:?}"
    );
    assert_eq!(
        record(app, &tenant, vms[3]).await.state,
        VmProtectionState::Excluded,
        "an excluded VM takes no quota slot"
    );
}

async fn a_vm_the_fabric_cannot_protect_is_unprotectable_with_the_fabrics_reason(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "frank@tailspin.lab", "a-gold").await;
    let ready = add_vms(lab, &tenant, "Gold", "frank", 1, &[]).await;
    let blocked = add_vms_with(
        lab,
        &tenant,
        "Gold",
        "frank-db",
        1,
        &[],
        json!({ "description": "SQL cluster node with a pass-through disk" }),
    )
    .await;

    notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );

    let refused = record(app, &tenant, blocked[0]).await;
    assert_eq!(refused.state, VmProtectionState::Unprotectable);
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("pass-through disk"),
        "{refused:?}"
    );
    assert_eq!(
        until_all(app, &tenant, &ready, VmProtectionState::Protected).await[0].state,
        VmProtectionState::Protected
    );
}

async fn a_vm_still_being_created_waits_with_a_reason_and_is_protected_once_created(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "fred@tailspin.lab", "a-gold").await;
    // Creation takes 15 s of real time (lab clock at 600×).
    set_knobs(lab, json!({ "vm_create_seconds": 9000.0 })).await;
    let creating = add_vms_with(
        lab,
        &tenant,
        "Gold",
        "fred",
        1,
        &[],
        json!({ "running": false }),
    )
    .await;

    notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let waiting = loop {
        let found = app
            .store()
            .get_protected_vm(tenant.id, creating[0])
            .await
            .expect("store");
        if let Some(vm) = found.filter(|vm| vm.reason.is_some()) {
            break vm;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no record while creating"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(waiting.state, VmProtectionState::Pending, "{waiting:?}");
    assert!(
        waiting
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("still being created"),
        "{waiting:?}"
    );
    assert_eq!(
        until_all(app, &tenant, &creating, VmProtectionState::Protected).await[0].state,
        VmProtectionState::Protected
    );
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
}

async fn the_quotas_replication_frequency_is_the_vault_items_policy_frequency(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "gina@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "gina", 1, &[]).await;
    let quota = [("DrEnabled", "true"), ("ReplicationFrequencySeconds", "30")];
    notify_create(app, &notification_body(&tenant, &quota)).await;
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    let gold_a = bound_cloud(lab, 0, "a-gold").await;
    assert_eq!(item_frequency(lab, gold_a, vms[0]).await, 30);
    assert_eq!(replicas_on_b(lab, vms[0]).await.len(), 1);
}

async fn a_plan_without_a_pair_is_out_of_sync_naming_the_plan_until_the_provider_pairs_it(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "olga@tailspin.lab", "a-silver").await;
    let vms = add_vms(lab, &tenant, "Silver", "olga", 1, &[]).await;
    let body = notification_body(&tenant, &[("DrEnabled", "true")]);
    let (status, _) = notify_create(app, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let failed = settled_lifecycle(app, &tenant).await;
    assert_eq!(failed["LifecycleState"], OUT_OF_SYNC, "{failed}");
    let message = failed["LastErrorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("a-silver"), "names the plan: {message}");
    assert!(
        message.contains(&format!("stamp '{}'", lab.stamps()[0].name)),
        "names the stamp: {message}"
    );
    assert!(message.contains("POST /admin/cloud-pairs"), "{message}");
    let dr = app
        .store()
        .get_dr_subscription(tenant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dr.phase, DrPhase::Failed);
    assert!(records(app, &tenant).await.is_empty(), "no VM was touched");

    // The provider pairs the plan; WAP's retry of the failed create enables DR.
    pair_plans(
        app,
        lab,
        (&world.a, "a-silver"),
        (&world.b, "b-silver"),
        "silver-5min",
    )
    .await;
    let (status, body) = notify_create(app, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    let protected = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert_eq!(protected[0].state, VmProtectionState::Protected);
}

async fn a_vm_deleted_on_the_fabric_is_released_and_usage_counts_what_is_protected(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "pete@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "pete", 3, &[]).await;
    enable_dr_and_settle(app, &tenant, &vms).await;

    let usage = |app: &common::app::TestApp| {
        app.notification(
            Method::GET,
            &format!("/subscriptions/{}/usagesummary", tenant.id),
        )
        .send()
    };
    let summary: serde_json::Value = usage(app).await.unwrap().json().await.unwrap();
    assert_eq!(summary["Usages"][0]["CurrentValue"], 3, "{summary}");

    let replica = record(app, &tenant, vms[0])
        .await
        .replica_vm_id
        .expect("replica");
    let a_stamp = spf(lab, 0).list_stamps().await.expect("SPF-A")[0].id;
    spf(lab, 0)
        .delete_vm(a_stamp, vms[0])
        .await
        .expect("deleted on A");
    // A later quota change re-runs enable DR, which reconciles every recorded VM.
    let change = serde_json::json!({
        "SubscriptionId": tenant.id.to_string(),
        "QuotaSettings": [
            {"Key": "DrEnabled", "Value": "true"},
            {"Key": "MaxProtectedVms", "Value": "10"},
        ],
    });
    let (status, _) = notify_update(app, &tenant, &change).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    let gone = record(app, &tenant, vms[0]).await;
    assert_eq!(gone.state, VmProtectionState::Disabled, "{gone:?}");
    assert!(
        gone.reason
            .as_deref()
            .unwrap_or_default()
            .contains("deleted")
    );
    let b_stamp = spf(lab, 1).list_stamps().await.expect("SPF-B")[0].id;
    assert!(
        spf(lab, 1)
            .get_vm(b_stamp, replica)
            .await
            .expect("SPF-B")
            .is_none(),
        "its replica is gone"
    );
    let summary: serde_json::Value = usage(app).await.unwrap().json().await.unwrap();
    assert_eq!(summary["Usages"][0]["CurrentValue"], 2, "{summary}");
}

async fn a_lowered_quota_releases_the_last_protected_vm_beyond_it(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "rita@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "rita", 3, &[]).await;
    let quota = |max: &str| {
        json!({
            "SubscriptionId": tenant.id.to_string(),
            "QuotaSettings": [
                {"Key": "DrEnabled", "Value": "true"},
                {"Key": "MaxProtectedVms", "Value": max},
            ],
        })
    };
    let mut create = quota("3");
    create["AdminId"] = json!(tenant.user);
    create["CoAdminIds"] = json!([tenant.co_admin]);
    notify_create(app, &create).await;
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    let newest = records(app, &tenant)
        .await
        .into_iter()
        .max_by_key(|r| (r.protection_requested_at, r.vm_id))
        .expect("records");

    let (status, _) = notify_update(app, &tenant, &quota("2")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    let all = records(app, &tenant).await;
    let over: Vec<_> = all
        .iter()
        .filter(|r| r.state == VmProtectionState::OverQuota)
        .collect();
    assert_eq!(over.len(), 1, "{all:?}");
    assert_eq!(
        over[0].vm_id, newest.vm_id,
        "the last one protected gives way"
    );
    assert!(replicas_on_b(lab, newest.vm_id).await.is_empty());
    assert_eq!(
        all.iter()
            .filter(|r| r.state == VmProtectionState::Protected)
            .count(),
        2
    );
}

async fn a_network_the_provider_mapped_on_the_pair_is_used_not_recreated(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "sam@tailspin.lab", "a-gold").await;
    let net = add_network(lab, &tenant, "sam-net").await;
    add_vms(lab, &tenant, "Gold", "sam", 1, &[net]).await;
    let b_stamp = spf(lab, 1).list_stamps().await.expect("SPF-B")[0].id;
    let provider_net = spf(lab, 1)
        .create_vm_network(&wapdr::fabric::spf::NewVmNetwork {
            id: None,
            stamp_id: b_stamp,
            name: "provider-dr-net".into(),
            description: None,
            logical_network_id: None,
            isolation_type: Some("NoIsolation".into()),
            owner: None,
        })
        .await
        .expect("provider network on B");
    let (status, body) = admin(
        app,
        Method::PUT,
        &format!("/cloud-pairs/{}/network-mappings", world.pair),
        Some(json!({"mappings": [
            {"primaryNetworkId": net, "recoveryNetworkId": provider_net.id},
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    assert!(
        networks_on_b(lab, &tenant).await.is_empty(),
        "no copy of the network was made"
    );
    let dr = app
        .store()
        .get_dr_subscription(tenant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dr.networks, vec![(net, provider_net.id)]);
    assert!(
        vault_network_mappings(lab)
            .await
            .contains(&("sam-net".to_owned(), "provider-dr-net".to_owned()))
    );
}

/// The vault's listings of a site's containers so far (`asr/container_lists` of `GET /lab/calls`).
async fn container_lists(lab: &wapdr::lab::LabHandle) -> u64 {
    calls(lab).await["asr/container_lists"]
        .as_u64()
        .unwrap_or(0)
}

/// Azure throttles a subscription's reads, so protecting thousands of VMs must not ask the
/// vault for the same containers, policy and pairing for each of them: a tenant's twelve VMs
/// are protected with the two clouds' containers looked up at most once each (9 to 12 listings
/// when they were looked up for each VM).
async fn the_vaults_containers_are_looked_up_once_not_per_vm(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "ida@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "ida", 12, &[]).await;
    let before = container_lists(lab).await;
    enable_dr_and_settle(app, &tenant, &vms).await;
    let listed = container_lists(lab).await - before;
    assert!(
        listed <= 2,
        "protecting 12 VMs listed a site's containers {listed} times"
    );
}
