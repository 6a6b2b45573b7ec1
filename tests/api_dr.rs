//! The tenant and admin DR views against a real listener, on SQLite and PostgreSQL: the DR status
//! (portal of the active stamp, counts, worst health, RPO), the VM list with its state filter, and
//! the provider's list of DR subscriptions with filters and paging, in JSON and XML. Records are
//! seeded through the store.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use time::Duration;
use uuid::Uuid;
use wapdr::domain::{DrPhase, Exclusion, ProtectedVm, SubscriptionId, VmHealth, VmProtectionState};

use common::app::Backend;
use common::dr_api::*;

async fn dr_status_shows_the_active_stamps_portal_worst_health_and_rpo(backend: Backend) {
    let Some(w) = world(backend, &[("SelfService", "Drill")], true).await else {
        return;
    };
    // After a failover the subscription runs on B: the tenant must be sent to B's portal.
    add_dr(&w.app, w.sub, DrPhase::Enabled, w.pair, (w.a, w.b), w.b).await;
    let now = w.now().await;
    w.vm("web", VmProtectionState::Protected, |vm| {
        vm.health = Some(VmHealth::Warning);
        vm.last_replicated = Some(now - Duration::seconds(600));
    })
    .await;
    w.vm("db", VmProtectionState::Protected, |vm| {
        vm.health = Some(VmHealth::Normal);
        vm.last_replicated = Some(now - Duration::seconds(30));
    })
    .await;
    // Not replicating: neither its health nor its stale replication count.
    w.vm("old", VmProtectionState::Failed, |vm| {
        vm.health = Some(VmHealth::Critical);
        vm.last_replicated = Some(now - Duration::days(2));
    })
    .await;
    w.vm("lab", VmProtectionState::Excluded, |vm| {
        vm.exclusion = Some(Exclusion::Tag)
    })
    .await;

    let (status, tenant) = w.tenant(Method::GET, "/dr", CO_ADMIN, None).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["Enabled"], true);
    assert_eq!(tenant["Phase"], "Enabled");
    assert_eq!(tenant["PortalUrl"], "https://portal-b");
    assert_eq!(tenant["ActiveStamp"]["Name"], "b");
    assert_eq!(tenant["PrimaryStamp"]["Id"], w.a.to_string());
    assert_eq!(tenant["VmCounts"]["Protected"], 2);
    assert_eq!(tenant["VmCounts"]["Failed"], 1);
    assert_eq!(tenant["VmCounts"]["Excluded"], 1);
    assert_eq!(tenant["VmCounts"]["Pending"], 0);
    assert_eq!(tenant["WorstHealth"], "Warning");
    let rpo = tenant["RpoSeconds"].as_i64().unwrap();
    assert!((600..660).contains(&rpo), "{rpo}");
    assert_eq!(tenant["SelfService"], "Drill");

    let (status, admin) = w
        .admin(Method::GET, &format!("/subscriptions/{}/dr", w.sub), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin["PortalUrl"], tenant["PortalUrl"]);
    assert_eq!(admin["VmCounts"], tenant["VmCounts"]);

    let xml = w
        .app
        .tenant(
            Method::GET,
            &format!("/subscriptions/{}/dr", w.sub),
            Some(OWNER),
        )
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let leaves = xml_leaves(&xml);
    assert!(xml.contains("<DrStatus"), "{xml}");
    assert_eq!(leaf(&leaves, "PortalUrl"), ["https://portal-b"]);
    assert_eq!(leaf(&leaves, "WorstHealth"), ["Warning"]);
}

async fn a_subscription_with_dr_turned_off_in_its_plan_is_not_enabled(backend: Backend) {
    let Some(w) = world(backend, &[("DrEnabled", "false")], true).await else {
        return;
    };
    let (status, body) = w.tenant(Method::GET, "/dr", OWNER, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["Enabled"], false);
    assert_eq!(body["RpoSeconds"], Value::Null);
}

async fn vm_list_shows_each_vm_and_filters_by_state(backend: Backend) {
    let Some(w) = world(backend, &[], true).await else {
        return;
    };
    let now = w.now().await;
    let replica = Uuid::new_v4();
    let web = w
        .vm("web", VmProtectionState::Protected, |vm| {
            vm.replica_vm_id = Some(replica);
            vm.health = Some(VmHealth::Normal);
            vm.last_replicated = Some(now - Duration::seconds(90));
            vm.last_recovery_point = Some(now - Duration::seconds(3600));
            vm.protected_at = Some(now - Duration::days(1));
        })
        .await;
    w.vm("app", VmProtectionState::Unprotectable, |vm| {
        vm.reason = Some("Generation 2 VMs with shared VHDX cannot be replicated.".into());
    })
    .await;
    w.vm("cache", VmProtectionState::Enabling, |vm| {
        vm.initial_replication_percent = Some(40)
    })
    .await;

    let (status, all) = w.tenant(Method::GET, "/vms", OWNER, None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "cache", "web"]);
    assert_eq!(
        all[0]["Reason"],
        "Generation 2 VMs with shared VHDX cannot be replicated."
    );
    assert_eq!(all[1]["InitialReplicationPercent"], 40);
    let shown = &all[2];
    assert_eq!(shown["Id"], web.to_string());
    assert_eq!(shown["ReplicaVmId"], replica.to_string());
    assert!((90..150).contains(&shown["RpoSeconds"].as_i64().unwrap()));
    assert!(shown["LastRecoveryPoint"].is_string() && shown["ProtectedAt"].is_string());

    let (status, protected) = w
        .tenant(Method::GET, "/vms?state=protected", OWNER, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(protected.as_array().unwrap().len(), 1);
    let path = format!("/subscriptions/{}/vms?state=Enabling,Unprotectable", w.sub);
    let (status, admin) = w.admin(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.as_array().unwrap().len(), 2);
    let (status, error) = w
        .tenant(Method::GET, "/vms?state=Sleeping", OWNER, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error["Message"].as_str().unwrap().contains("Sleeping"),
        "{error}"
    );
}
async fn the_provider_lists_dr_subscriptions_by_phase_pair_stamp_and_page(backend: Backend) {
    let Some(w) = world(backend, &[], true).await else {
        return;
    };
    // w.sub: Enabled, pair P, A→B, active A. Two more: failed over to B, and one still enabling
    // on another pair from B to A.
    let failed_over = add_subscription(&w.app, &[]).await;
    add_dr(
        &w.app,
        failed_over,
        DrPhase::Enabled,
        w.pair,
        (w.a, w.b),
        w.b,
    )
    .await;
    let other_pair = Uuid::new_v4();
    let reverse = add_subscription(&w.app, &[]).await;
    add_dr(
        &w.app,
        reverse,
        DrPhase::Enabling,
        other_pair,
        (w.b, w.a),
        w.b,
    )
    .await;
    let ids = |body: &Value| -> Vec<String> {
        let mut ids: Vec<String> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["SubscriptionId"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |v: Vec<SubscriptionId>| {
        let mut v: Vec<String> = v.iter().map(ToString::to_string).collect();
        v.sort();
        v
    };
    let (status, all) = w.list(String::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&all), sorted(vec![w.sub, failed_over, reverse]));
    assert_eq!(
        ids(&w.list("?phase=enabling".into()).await.1),
        sorted(vec![reverse])
    );
    assert_eq!(
        ids(&w.list(format!("?pairId={}", w.pair)).await.1),
        sorted(vec![w.sub, failed_over])
    );
    assert_eq!(
        ids(&w.list(format!("?activeStampId={}", w.b)).await.1),
        sorted(vec![failed_over, reverse])
    );
    assert_eq!(ids(&w.list(format!("?stampId={}", w.a)).await.1).len(), 3);
    assert_eq!(
        ids(&w.list(format!("?stampId={}", Uuid::new_v4())).await.1).len(),
        0
    );

    let (_, first) = w.list("?limit=2".into()).await;
    assert_eq!(first.as_array().unwrap().len(), 2);
    let last = first[1]["SubscriptionId"].as_str().unwrap();
    let (_, rest) = w.list(format!("?limit=2&after={last}")).await;
    let mut paged = ids(&first);
    paged.extend(ids(&rest));
    paged.sort();
    assert_eq!(paged, ids(&all));
    let moved = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["SubscriptionId"] == failed_over.to_string())
        .unwrap();
    assert_eq!(moved["PortalUrl"], "https://portal-b");

    let xml = w
        .app
        .admin(Method::GET, "/dr/subscriptions")
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(leaf(&xml_leaves(&xml), "SubscriptionId").len(), 3, "{xml}");
}

async fn the_vm_list_shows_what_another_instance_wrote_since_the_last_read(backend: Backend) {
    let Some(w) = world(backend, &[], true).await else {
        return;
    };
    let web = w.vm("web", VmProtectionState::Enabling, |_| {}).await;
    let db = w.vm("db", VmProtectionState::Enabling, |_| {}).await;
    let listed = || async {
        let (status, body) = w.tenant(Method::GET, "/vms", OWNER, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|vm| format!("{} {}", vm["Name"].as_str().unwrap(), vm["State"]))
            .collect::<Vec<_>>()
    };
    // Read twice, so the list is held between reads.
    assert_eq!(listed().await, ["db \"Enabling\"", "web \"Enabling\""]);
    assert_eq!(listed().await, ["db \"Enabling\"", "web \"Enabling\""]);

    // Another instance on the same database protects one VM, deletes the other and adds a third,
    // each write of its own, none through this instance.
    let other = w.app.other_instance_store().await;
    let mut protected = w.record(web).await;
    protected.state = VmProtectionState::Protected;
    other.save_protected_vm(&protected).await.unwrap();
    assert_eq!(listed().await, ["db \"Enabling\"", "web \"Protected\""]);
    assert!(other.delete_protected_vm(w.sub, db).await.unwrap());
    assert_eq!(listed().await, ["web \"Protected\""]);
    let mut added = ProtectedVm::pending(
        w.sub,
        Uuid::new_v4(),
        "app".into(),
        w.a,
        Uuid::new_v4(),
        w.pair,
    );
    added.state = VmProtectionState::Pending;
    other.save_protected_vm(&added).await.unwrap();
    assert_eq!(listed().await, ["app \"Pending\"", "web \"Protected\""]);
    // The provider's view agrees.
    let (status, admin) = w
        .admin(Method::GET, &format!("/subscriptions/{}/vms", w.sub), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.as_array().unwrap().len(), 2);
}

on_both_backends!(
    dr_status_shows_the_active_stamps_portal_worst_health_and_rpo,
    a_subscription_with_dr_turned_off_in_its_plan_is_not_enabled,
    vm_list_shows_each_vm_and_filters_by_state,
    the_vm_list_shows_what_another_instance_wrote_since_the_last_read,
    the_provider_lists_dr_subscriptions_by_phase_pair_stamp_and_page,
);
