//! A DR subscription's life after enablement, end to end on the lab: suspension keeps
//! protection, deletion releases it (202 Deleting until the job is done, then the tombstone) and
//! a re-create protects again, DR turned off in the quota releases it but keeps the subscription,
//! one-to-many and many-to-one pairs put each replica in its pair's recovery cloud, and a crash in
//! the middle of enablement resumes without a duplicate replica or record.

mod common;

use std::time::{Duration, Instant};

use common::app::Backend;
use common::dr::{
    DELETED, DELETING, PROVISIONED, PROVISIONING, UPDATING, add_vms, enable_dr_and_settle,
    gold_world, new_tenant, notification_body, notify_create, notify_update, pair_plans, records,
    replicas_on_b, settled_lifecycle, until_all,
};
use common::lab::{set_knobs, wap_admin};
use common::setup::{add_plan_like, bound_cloud};
use reqwest::{Method, StatusCode};
use serde_json::json;
use wapdr::domain::{DrPhase, MirrorState, VmProtectionState};
use wapdr::store::RunFilter;

on_both_backends!(
    suspension_keeps_protection_and_starts_nothing,
    deleting_releases_protection_and_the_mirror_then_a_re_create_protects_again,
    turning_dr_off_in_the_quota_releases_protection_and_keeps_the_subscription,
    one_to_many_and_many_to_one_pairs_put_each_replica_in_its_pairs_recovery_cloud,
    a_crash_in_the_middle_of_enablement_resumes_without_duplicates,
);

async fn run_count(app: &common::app::TestApp, tenant: &common::dr::Tenant) -> usize {
    app.store()
        .list_runs(&RunFilter {
            subscription_id: Some(tenant.id.to_string()),
            ..RunFilter::default()
        })
        .await
        .expect("runs")
        .len()
}

async fn suspension_keeps_protection_and_starts_nothing(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "hank@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "hank", 2, &[]).await;
    enable_dr_and_settle(app, &tenant, &vms).await;
    let runs = run_count(app, &tenant).await;

    let suspend = json!({ "SubscriptionId": tenant.id.to_string(), "State": "Suspended" });
    let (status, body) = notify_update(app, &tenant, &suspend).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["LifecycleState"], PROVISIONED);
    assert_eq!(
        run_count(app, &tenant).await,
        runs,
        "suspension starts nothing"
    );
    for vm in &vms {
        assert_eq!(
            replicas_on_b(lab, *vm).await.len(),
            1,
            "replication goes on while suspended"
        );
    }
    assert!(
        records(app, &tenant)
            .await
            .iter()
            .all(|r| r.state == VmProtectionState::Protected)
    );

    let reactivate = json!({ "SubscriptionId": tenant.id.to_string(), "State": "Active" });
    let (status, body) = notify_update(app, &tenant, &reactivate).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["LifecycleState"], UPDATING);
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    assert_eq!(
        run_count(app, &tenant).await,
        runs + 1,
        "re-activation reconciles"
    );
    for vm in &vms {
        assert_eq!(
            replicas_on_b(lab, *vm).await.len(),
            1,
            "and duplicates nothing"
        );
    }
}

async fn deleting_releases_protection_and_the_mirror_then_a_re_create_protects_again(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "ivy@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "ivy", 2, &[]).await;
    let body = notification_body(&tenant, &[("DrEnabled", "true")]);
    notify_create(app, &body).await;
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    until_all(app, &tenant, &vms, VmProtectionState::Protected).await;

    let path = format!("/subscriptions/{}", tenant.id);
    let deleted = app
        .notification(Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);
    let deleted: serde_json::Value = deleted.json().await.unwrap();
    assert_eq!(deleted["LifecycleState"], DELETING);
    let runs = run_count(app, &tenant).await;
    let repeated = app
        .notification(Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert!(
        repeated.status() == StatusCode::ACCEPTED || repeated.status() == StatusCode::OK,
        "{}",
        repeated.status()
    );
    assert_eq!(
        run_count(app, &tenant).await,
        runs,
        "a repeated delete starts nothing"
    );

    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        DELETED
    );
    let released = records(app, &tenant).await;
    assert_eq!(released.len(), 2);
    assert!(
        released
            .iter()
            .all(|r| r.state == VmProtectionState::Disabled && r.replica_vm_id.is_none()),
        "{released:?}"
    );
    for vm in &vms {
        assert!(
            replicas_on_b(lab, *vm).await.is_empty(),
            "the replica is gone"
        );
    }
    assert!(
        wap_admin(lab, 1)
            .get_subscription(tenant.id)
            .await
            .expect("WAP-B")
            .is_none(),
        "the mirror is gone"
    );
    let dr = app
        .store()
        .get_dr_subscription(tenant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (dr.phase, dr.mirror),
        (DrPhase::Disabled, MirrorState::Absent)
    );
    let again = app
        .notification(Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "deleting a tombstone is as before"
    );

    let (status, recreated) = notify_create(app, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(recreated["LifecycleState"], PROVISIONING);
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    for vm in &vms {
        assert_eq!(replicas_on_b(lab, *vm).await.len(), 1);
    }
    assert!(
        wap_admin(lab, 1)
            .get_subscription(tenant.id)
            .await
            .expect("WAP-B")
            .is_some(),
        "the mirror is back"
    );
}

async fn turning_dr_off_in_the_quota_releases_protection_and_keeps_the_subscription(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "jack@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "jack", 2, &[]).await;
    enable_dr_and_settle(app, &tenant, &vms).await;

    let batch = json!({
        "SubscriptionIdsToUpdate": [tenant.id.to_string()],
        "BaseQuota": [{"Key": "DrEnabled", "Value": "false"}],
        "AddOnQuotas": [],
    });
    let response = app
        .notification(Method::PUT, "/quota")
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    let released = until_all(app, &tenant, &vms, VmProtectionState::Disabled).await;
    assert!(
        released
            .iter()
            .all(|r| r.state == VmProtectionState::Disabled)
    );
    for vm in &vms {
        assert!(replicas_on_b(lab, *vm).await.is_empty());
    }
    assert!(
        wap_admin(lab, 1)
            .get_subscription(tenant.id)
            .await
            .unwrap()
            .is_none()
    );
    let kept = app
        .store()
        .get_subscription(tenant.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!kept.is_deleted(), "the subscription stays");
}

async fn one_to_many_and_many_to_one_pairs_put_each_replica_in_its_pairs_recovery_cloud(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    // One-to-many: a second plan on A's Gold cloud replicates into B's Silver cloud.
    add_plan_like(lab, 0, "a-gold", "a-gold-2", "Gold VMs to Silver").await;
    pair_plans(
        app,
        lab,
        (&world.a, "a-gold-2"),
        (&world.b, "b-silver"),
        "silver-5min",
    )
    .await;
    // Many-to-one: A's Silver cloud replicates into B's Gold cloud too.
    pair_plans(
        app,
        lab,
        (&world.a, "a-silver"),
        (&world.b, "b-gold"),
        "gold-5min",
    )
    .await;

    let gold = new_tenant(lab, "kim@tailspin.lab", "a-gold").await;
    let gold_vms = add_vms(lab, &gold, "Gold", "kim", 2, &[]).await;
    let second = new_tenant(lab, "lee@tailspin.lab", "a-gold-2").await;
    let second_vms = add_vms(lab, &second, "Gold", "lee", 2, &[]).await;
    let silver = new_tenant(lab, "max@tailspin.lab", "a-silver").await;
    let silver_vms = add_vms(lab, &silver, "Silver", "max", 2, &[]).await;

    for tenant in [&gold, &second, &silver] {
        let (status, _) =
            notify_create(app, &notification_body(tenant, &[("DrEnabled", "true")])).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let b_gold = bound_cloud(lab, 1, "b-gold").await;
    let b_silver = bound_cloud(lab, 1, "b-silver").await;
    for (tenant, vms, recovery_cloud, plan) in [
        (&gold, &gold_vms, b_gold, "b-gold"),
        (&second, &second_vms, b_silver, "b-silver"),
        (&silver, &silver_vms, b_gold, "b-gold"),
    ] {
        let done = settled_lifecycle(app, tenant).await;
        assert_eq!(done["LifecycleState"], PROVISIONED, "{done}");
        let protected = until_all(app, tenant, vms, VmProtectionState::Protected).await;
        assert!(
            protected
                .iter()
                .all(|r| r.state == VmProtectionState::Protected),
            "{protected:?}"
        );
        for vm in vms.iter() {
            let replicas = replicas_on_b(lab, *vm).await;
            assert_eq!(replicas.len(), 1);
            assert_eq!(
                replicas[0].cloud_id,
                Some(recovery_cloud),
                "{}",
                tenant.user
            );
        }
        let mirror = wap_admin(lab, 1)
            .get_subscription(tenant.id)
            .await
            .unwrap()
            .expect("mirror");
        assert_eq!(mirror.plan_id.as_deref(), Some(plan));
    }
}

async fn a_crash_in_the_middle_of_enablement_resumes_without_duplicates(backend: Backend) {
    let Some(mut world) = gold_world(backend).await else {
        return;
    };
    // Slow initial replication, so the restart lands while VMs are still being protected.
    set_knobs(
        &world.lab,
        json!({ "initial_replication_bytes_per_second": 4.0 * 1024.0 * 1024.0 }),
    )
    .await;
    let tenant = new_tenant(&world.lab, "nina@tailspin.lab", "a-gold").await;
    let vms = add_vms(&world.lab, &tenant, "Gold", "nina", 8, &[]).await;
    notify_create(
        &world.app,
        &notification_body(&tenant, &[("DrEnabled", "true")]),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = records(&world.app, &tenant).await;
        if !seen.is_empty() || Instant::now() > deadline {
            assert!(!seen.is_empty(), "protection started");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    world.app.restart().await;

    let app = &world.app;
    assert_eq!(
        settled_lifecycle(app, &tenant).await["LifecycleState"],
        PROVISIONED
    );
    let protected = until_all(app, &tenant, &vms, VmProtectionState::Protected).await;
    assert_eq!(protected.len(), vms.len());
    assert!(
        protected
            .iter()
            .all(|r| r.state == VmProtectionState::Protected)
    );
    assert_eq!(
        records(app, &tenant).await.len(),
        vms.len(),
        "one record per VM"
    );
    for vm in &vms {
        assert_eq!(
            replicas_on_b(&world.lab, *vm).await.len(),
            1,
            "one replica per primary"
        );
    }
}
