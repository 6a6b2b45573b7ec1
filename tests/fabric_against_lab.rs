//! wapdr's real fabric clients against the lab over real sockets: what the enable-DR and failover
//! workflows will do, step by step, must work through these clients exactly as it does here.

mod common;

use std::time::Duration;

use common::lab::{
    AsrOperations, asr, asr_operations, calls, reset_asr_operations, set_knobs, set_outage,
    small_lab, spf, wap_admin,
};
use serde_json::json;
use uuid::Uuid;
use wapdr::contract::AzureProvisioningInfo;
use wapdr::domain::SubscriptionId;
use wapdr::fabric::replication::{
    Container, Direction, Ensured, InitialReplication, ItemRef, Location, Operation,
    OperationState, Phase, PolicyRef, PolicySpec, Site,
};
use wapdr::fabric::spf::{NewVm, Owner, VmQuery};
use wapdr::fabric::wap_admin::{NewUser, SubscriptionStatus, UserState};
use wapdr::fabric::{FabricError, ReplicationEngine as _};
use wapdr::lab::LabHandle;

const WAIT: Duration = Duration::from_secs(30);

fn gold_policy() -> PolicySpec {
    PolicySpec {
        copy_frequency_seconds: 300,
        recovery_points: 4,
        app_consistent_frequency_hours: 1,
        compression: true,
        initial_replication: InitialReplication::OverNetwork,
    }
}

/// Stamp A's and B's sites and their `Gold` clouds, paired with a policy.
async fn paired_gold(lab: &LabHandle) -> (Site, Container, Container, PolicyRef) {
    let engine = asr(lab);
    let sites = engine.sites().await.unwrap();
    let site_of = |index: usize| {
        let stamp_id = lab.stamps()[index].stamp_id.to_string();
        sites
            .iter()
            .find(|s| s.stamp_id.eq_ignore_ascii_case(&stamp_id))
            .cloned()
            .unwrap_or_else(|| panic!("a site for stamp {index} in {sites:?}"))
    };
    let (a, b) = (site_of(0), site_of(1));
    let gold = |containers: Vec<Container>| {
        containers
            .into_iter()
            .find(|c| c.name.contains("Gold"))
            .expect("a Gold cloud")
    };
    let primary = gold(engine.containers(&a.id).await.unwrap());
    let recovery = gold(engine.containers(&b.id).await.unwrap());
    let policy = engine
        .ensure_policy("gold-5min", &gold_policy())
        .await
        .unwrap();
    if let Ensured::Started(op) = engine
        .ensure_container_pairing(&primary, &recovery, &policy)
        .await
        .unwrap()
    {
        let status = engine.wait(&op, WAIT).await.unwrap();
        assert_eq!(
            status.state,
            OperationState::Succeeded,
            "pairing: {status:?}"
        );
    }
    (a, primary, recovery, policy)
}

/// A tenant VM in stamp A's Gold cloud, protected and fully replicated.
async fn protected_vm(lab: &LabHandle, skip: usize) -> ItemRef {
    let engine = asr(lab);
    let (site, primary, _, policy) = paired_gold(lab).await;
    let candidates = engine.protectable_vms(&primary).await.unwrap();
    let vm = candidates
        .iter()
        .filter(|v| !v.protected && v.readiness_errors.is_empty())
        .nth(skip)
        .expect("an unprotected VM in Gold");
    let item = ItemRef {
        site: site.id.clone(),
        container: primary.id.clone(),
        vm_id: vm.vm_id.clone(),
    };
    let op = engine.enable_protection(&item, &policy).await.unwrap();
    assert_eq!(
        engine.wait(&op, WAIT).await.unwrap().state,
        OperationState::Succeeded
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = engine
            .protection_status(&item)
            .await
            .unwrap()
            .expect("protected item");
        if status.phase == Phase::Protected {
            return item;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "initial replication never finished: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(
    engine: &wapdr::fabric::AsrEngine,
    op: Result<wapdr::fabric::replication::OperationId, FabricError>,
) {
    let op = op.expect("operation accepted");
    let status = engine.wait(&op, WAIT).await.unwrap();
    assert_eq!(status.state, OperationState::Succeeded, "{status:?}");
}

#[tokio::test]
async fn spf_client_reads_and_writes_the_small_world() {
    let lab = small_lab().await;
    let client = spf(&lab, 0);
    let stamp_id = lab.stamps()[0].stamp_id;

    let stamps = client.list_stamps().await.unwrap();
    assert!(stamps.iter().any(|s| s.id == stamp_id));
    let clouds = client.list_clouds(stamp_id).await.unwrap();
    assert!(clouds.iter().any(|c| c.name.contains("Gold")), "{clouds:?}");

    let all = client
        .list_vms(&VmQuery {
            stamp_id: Some(stamp_id),
            ..VmQuery::default()
        })
        .await
        .unwrap();
    let tenant = all
        .iter()
        .find_map(|v| v.owner.as_ref().and_then(|o| o.role_id))
        .expect("tenant VMs are owned by a user role");
    let owned = client
        .list_vms(&VmQuery {
            stamp_id: Some(stamp_id),
            owner_role_id: Some(tenant),
            ..VmQuery::default()
        })
        .await
        .unwrap();
    assert!(
        (5..=20).contains(&owned.len()),
        "a small-world tenant has 5-20 VMs: {}",
        owned.len()
    );
    assert!(
        owned
            .iter()
            .all(|v| v.owner.as_ref().and_then(|o| o.role_id) == Some(tenant))
    );

    let role = client
        .get_user_role(tenant)
        .await
        .unwrap()
        .expect("the tenant's user role");
    assert!(role.name.ends_with(&tenant.to_string()), "{}", role.name);

    let before = time::OffsetDateTime::now_utc() - time::Duration::days(3650);
    let gold = clouds.iter().find(|c| c.name.contains("Gold")).unwrap();
    let created = client
        .create_vm(&NewVm {
            id: None,
            stamp_id,
            cloud_id: gold.id,
            name: "new-web".into(),
            vm_id: None,
            owner: Some(Owner {
                user_name: None,
                role_name: None,
                role_id: Some(tenant),
            }),
            cpu_count: Some(2),
            memory: Some(4096),
            total_size: Some(40 * 1024 * 1024 * 1024),
            tag: None,
            description: None,
            is_recovery_vm: None,
            vm_network_ids: vec![],
        })
        .await
        .unwrap();
    assert_eq!(created.status_string.as_deref(), Some("Creating..."));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let vm = client
            .get_vm(stamp_id, created.id)
            .await
            .unwrap()
            .expect("still there");
        if vm.status_string.as_deref() == Some("Running") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "VM never finished creating"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let changed = client
        .list_vms(&VmQuery {
            stamp_id: Some(stamp_id),
            modified_since: Some(before),
            ..VmQuery::default()
        })
        .await
        .unwrap();
    assert!(
        changed.iter().any(|v| v.id == created.id),
        "ModifiedTime finds the new VM"
    );

    client
        .set_vm_tag(stamp_id, created.id, "dr:exclude")
        .await
        .unwrap();
    let tagged = client.get_vm(stamp_id, created.id).await.unwrap().unwrap();
    assert_eq!(tagged.tag.as_deref(), Some("dr:exclude"));
    client.delete_vm(stamp_id, created.id).await.unwrap();
    assert!(client.get_vm(stamp_id, created.id).await.unwrap().is_none());
    lab.shutdown().await;
}

#[tokio::test]
async fn wap_admin_client_mirrors_a_subscription_with_the_same_id() {
    let lab = small_lab().await;
    let (admin_b, spf_b) = (wap_admin(&lab, 1), spf(&lab, 1));
    let stamp_b = lab.stamps()[1].stamp_id;

    let plans = admin_b.list_plans().await.unwrap();
    let plan = plans
        .iter()
        .find(|p| {
            p.vm_clouds_binding()
                .map(|b| b.iter().any(|(stamp, _)| *stamp == stamp_b))
                .unwrap_or(false)
        })
        .expect("a VM Clouds plan bound to a cloud of stamp B");

    let user = "tenant@fabrikam.com";
    if admin_b.get_user(user).await.unwrap().is_none() {
        admin_b
            .create_user(&NewUser {
                name: user.into(),
                email: user.into(),
                state: UserState::Active,
            })
            .await
            .unwrap();
    }
    let id = SubscriptionId::new_random();
    let request = AzureProvisioningInfo {
        account_admin_live_email_id: Some(user.into()),
        account_admin_live_puid: Some(user.into()),
        account_id: None,
        friendly_name: Some("Gold DR (mirror)".into()),
        offer_category: None,
        offer_info: None,
        offer_type: 0,
        reason_code: None,
        service_admin_live_email_id: None,
        service_admin_live_puid: None,
        subscription_id: id,
        status: None,
        plan_id: Some(plan.id.clone()),
        co_admin_names: Some(vec!["coadmin@fabrikam.com".into()]),
    };
    let mirror = admin_b.create_subscription(&request).await.unwrap();
    assert_eq!(
        mirror.subscription_id, id,
        "the mirror keeps the subscription id"
    );
    assert_eq!(mirror.plan_id.as_deref(), Some(plan.id.as_str()));

    let role = spf_b
        .get_user_role(id.as_uuid())
        .await
        .unwrap()
        .expect("VM Clouds made the user role");
    assert_eq!(role.id, id.as_uuid(), "user role id = subscription id");

    admin_b
        .set_subscription_status(id, SubscriptionStatus::Suspended)
        .await
        .unwrap();
    let suspended = admin_b.get_subscription(id).await.unwrap().unwrap();
    assert_eq!(format!("{:?}", suspended.state), "Suspended");
    admin_b
        .set_co_admins(id, &["other@fabrikam.com".to_owned()])
        .await
        .unwrap();
    let changed = admin_b.get_subscription(id).await.unwrap().unwrap();
    assert_eq!(changed.co_admin_names, ["other@fabrikam.com"]);

    let again = admin_b.create_subscription(&request).await;
    assert!(
        matches!(again, Err(FabricError::Conflict { .. })),
        "{again:?}"
    );

    admin_b.delete_subscription(id).await.unwrap();
    assert!(admin_b.get_subscription(id).await.unwrap().is_none());
    assert!(
        spf_b.get_user_role(id.as_uuid()).await.unwrap().is_none(),
        "the user role goes with it"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn asr_engine_protects_fails_over_commits_and_reprotects_a_vm() {
    let lab = small_lab().await;
    let engine = asr(&lab);
    let item = protected_vm(&lab, 0).await;

    // Setup calls are idempotent: a second ensure finds everything in place.
    let (_, primary, recovery, policy) = paired_gold(&lab).await;
    assert_eq!(
        engine
            .ensure_policy("gold-5min", &gold_policy())
            .await
            .unwrap(),
        policy
    );
    assert_eq!(
        engine
            .ensure_container_pairing(&primary, &recovery, &policy)
            .await
            .unwrap(),
        Ensured::AlreadyDone
    );

    let status = engine.protection_status(&item).await.unwrap().unwrap();
    assert_eq!(status.active_location, Location::Primary);
    let replica = status.replica_vm_id.clone().expect("the replica VM's id");
    let stamp_b = lab.stamps()[1].stamp_id;
    let replica_vm = spf(&lab, 1)
        .get_vm(stamp_b, replica.parse::<Uuid>().unwrap())
        .await
        .unwrap()
        .expect("the replica exists on stamp B");
    assert_eq!(replica_vm.is_recovery_vm, Some(true));
    assert!(
        !engine.recovery_points(&item).await.unwrap().is_empty(),
        "recovery points accrue"
    );

    run(
        &engine,
        engine
            .planned_failover(&item, Direction::PrimaryToRecovery)
            .await,
    )
    .await;
    let failed_over = engine.protection_status(&item).await.unwrap().unwrap();
    assert_eq!(failed_over.phase, Phase::FailedOver { planned: true });
    assert_eq!(failed_over.active_location, Location::Recovery);

    run(&engine, engine.commit(&item).await).await;
    assert_eq!(
        engine
            .protection_status(&item)
            .await
            .unwrap()
            .unwrap()
            .phase,
        Phase::Committed
    );
    run(
        &engine,
        engine.reprotect(&item, Direction::RecoveryToPrimary).await,
    )
    .await;
    let reversed = engine.protection_status(&item).await.unwrap().unwrap();
    assert_eq!(
        reversed.active_location,
        Location::Recovery,
        "reprotect keeps the VM where it runs"
    );
    assert!(
        matches!(reversed.phase, Phase::Enabling | Phase::Protected),
        "{reversed:?}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn every_state_allows_exactly_the_operations_of_the_table() {
    let lab = small_lab().await;
    let engine = asr(&lab);
    let item = protected_vm(&lab, 1).await;
    use Operation as Op;

    // (state reached, operations that must be refused there as InvalidOperation)
    let refused_when_protected = [Op::Commit, Op::TestFailoverCleanup, Op::Reprotect];
    let status = engine.protection_status(&item).await.unwrap().unwrap();
    for op in [
        Op::PlannedFailover,
        Op::UnplannedFailover,
        Op::TestFailover,
        Op::DisableProtection,
    ] {
        assert!(status.allows(&op), "Protected allows {op:?}: {status:?}");
    }
    for op in &refused_when_protected {
        assert!(!status.allows(op), "Protected refuses {op:?}");
    }
    assert!(matches!(
        engine.commit(&item).await,
        Err(FabricError::InvalidOperation { .. })
    ));
    assert!(matches!(
        engine.test_failover_cleanup(&item, "none").await,
        Err(FabricError::InvalidOperation { .. })
    ));
    assert!(matches!(
        engine.reprotect(&item, Direction::PrimaryToRecovery).await,
        Err(FabricError::InvalidOperation { .. })
    ));

    // An operation in progress refuses another one with 532.
    let op = engine
        .test_failover(&item, Direction::PrimaryToRecovery, None)
        .await
        .unwrap();
    let busy = engine
        .planned_failover(&item, Direction::PrimaryToRecovery)
        .await;
    assert!(
        matches!(&busy, Err(FabricError::Conflict { code, .. }) if code == "532"),
        "a second operation while one runs: {busy:?}"
    );
    assert_eq!(
        engine.wait(&op, WAIT).await.unwrap().state,
        OperationState::Succeeded
    );

    let testing = engine.protection_status(&item).await.unwrap().unwrap();
    assert_eq!(testing.phase, Phase::TestFailoverRunning);
    assert_eq!(
        testing.allowed,
        vec![Op::TestFailoverCleanup],
        "only cleanup during a drill"
    );
    assert!(matches!(
        engine
            .planned_failover(&item, Direction::PrimaryToRecovery)
            .await,
        Err(FabricError::InvalidOperation { .. })
    ));
    assert!(matches!(
        engine.commit(&item).await,
        Err(FabricError::InvalidOperation { .. })
    ));
    run(
        &engine,
        engine.test_failover_cleanup(&item, "drill done").await,
    )
    .await;
    assert_eq!(
        engine
            .protection_status(&item)
            .await
            .unwrap()
            .unwrap()
            .phase,
        Phase::Protected
    );

    run(
        &engine,
        engine
            .planned_failover(&item, Direction::PrimaryToRecovery)
            .await,
    )
    .await;
    let failed_over = engine.protection_status(&item).await.unwrap().unwrap();
    for op in [Op::Commit, Op::ChangeRecoveryPoint, Op::DisableProtection] {
        assert!(
            failed_over.allows(&op),
            "after failover {op:?} is allowed: {failed_over:?}"
        );
    }
    for op in [
        Op::PlannedFailover,
        Op::TestFailover,
        Op::TestFailoverCleanup,
    ] {
        assert!(!failed_over.allows(&op), "after failover {op:?} is refused");
    }
    assert!(matches!(
        engine
            .test_failover(&item, Direction::RecoveryToPrimary, None)
            .await,
        Err(FabricError::InvalidOperation { .. })
    ));

    run(&engine, engine.commit(&item).await).await;
    let committed = engine.protection_status(&item).await.unwrap().unwrap();
    assert!(
        committed.allows(&Op::Reprotect) && committed.allows(&Op::DisableProtection),
        "{committed:?}"
    );
    assert!(!committed.allows(&Op::Commit) && !committed.allows(&Op::PlannedFailover));
    assert!(matches!(
        engine.commit(&item).await,
        Err(FabricError::InvalidOperation { .. })
    ));
    lab.shutdown().await;
}

#[tokio::test]
async fn retries_ride_out_the_error_rate_knob() {
    let lab = small_lab().await;
    set_knobs(&lab, json!({ "error_rate": 0.2, "seed": 7 })).await;
    let client = spf(&lab, 0);
    let stamp_id = lab.stamps()[0].stamp_id;
    for _ in 0..30 {
        let clouds = client
            .list_clouds(stamp_id)
            .await
            .expect("retried through 503s");
        assert!(!clouds.is_empty());
    }
    let engine = asr(&lab);
    for _ in 0..10 {
        assert!(
            !engine
                .sites()
                .await
                .expect("retried through 503s")
                .is_empty()
        );
    }
    let item = protected_vm(&lab, 2).await;
    run(
        &engine,
        engine
            .test_failover(&item, Direction::PrimaryToRecovery, None)
            .await,
    )
    .await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_stamp_outage_is_a_typed_unreachable_error_naming_the_service() {
    let lab = small_lab().await;
    let stamp_id = lab.stamps()[0].stamp_id;
    set_outage(&lab, "A", true).await;

    let spf_error = spf(&lab, 0).list_clouds(stamp_id).await.unwrap_err();
    assert!(
        matches!(spf_error, FabricError::Unreachable { .. }),
        "{spf_error:?}"
    );
    assert!(spf_error.to_string().contains("SPF stamp A"), "{spf_error}");
    let wap_error = wap_admin(&lab, 0).list_plans().await.unwrap_err();
    assert!(
        matches!(wap_error, FabricError::Unreachable { .. }),
        "{wap_error:?}"
    );
    assert!(
        spf(&lab, 1)
            .list_clouds(lab.stamps()[1].stamp_id)
            .await
            .is_ok(),
        "stamp B still answers"
    );

    set_outage(&lab, "A", false).await;
    assert!(
        spf(&lab, 0).list_clouds(stamp_id).await.is_ok(),
        "back after the outage"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn unplanned_failover_works_with_the_primary_stamp_down_and_never_calls_it() {
    let lab = small_lab().await;
    let engine = asr(&lab);
    let item = protected_vm(&lab, 3).await;
    let other = protected_vm(&lab, 4).await;

    set_outage(&lab, "A", true).await;
    let before = calls(&lab).await;
    let status = engine.protection_status(&item).await.unwrap().unwrap();
    assert!(status.allows(&Operation::UnplannedFailover));
    run(
        &engine,
        engine
            .unplanned_failover(&item, Direction::PrimaryToRecovery, false)
            .await,
    )
    .await;
    let after = calls(&lab).await;
    for service in ["A/spf", "A/wap_admin"] {
        assert_eq!(
            before.get(service),
            after.get(service),
            "no call reached {service}"
        );
    }
    let failed_over = engine.protection_status(&item).await.unwrap().unwrap();
    assert_eq!(failed_over.phase, Phase::FailedOver { planned: false });
    assert_eq!(failed_over.active_location, Location::Recovery);

    // A planned failover needs the source stamp: refused up front or failed by its job, clearly.
    match engine
        .planned_failover(&other, Direction::PrimaryToRecovery)
        .await
    {
        Err(refused) => assert!(!refused.to_string().is_empty()),
        Ok(op) => match engine.wait(&op, WAIT).await.unwrap().state {
            OperationState::Failed { message } => {
                assert!(
                    message.to_lowercase().contains("unreachable") || message.contains("source"),
                    "{message}"
                )
            }
            unexpected => {
                panic!("a planned failover with the source down must fail: {unexpected:?}")
            }
        },
    }
    let untouched = engine.protection_status(&other).await.unwrap().unwrap();
    assert_eq!(
        untouched.active_location,
        Location::Primary,
        "the refused failover changed nothing"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn cancel_failover_brings_the_vm_back_protected_where_it_ran_and_fails_cleanly_without_that_stamp()
 {
    let lab = small_lab().await;
    let engine = asr(&lab);
    let item = protected_vm(&lab, 0).await;
    let cut_off = protected_vm(&lab, 0).await;
    for vm in [&item, &cut_off] {
        run(
            &engine,
            engine
                .planned_failover(vm, Direction::PrimaryToRecovery)
                .await,
        )
        .await;
    }
    let failed_over = engine.protection_status(&item).await.unwrap().unwrap();
    assert!(
        failed_over.allows(&Operation::CancelFailover),
        "{failed_over:?}"
    );

    let measured = reset_asr_operations(&lab).await;
    assert_eq!(measured.outstanding, 0, "{measured:?}");
    run(&engine, engine.cancel_failover(&item).await).await;
    assert_eq!(
        asr_operations(&lab).await,
        AsrOperations {
            outstanding: 0,
            peak_outstanding: 1
        },
        "the cancel ran as one item operation and has ended"
    );

    let back = engine.protection_status(&item).await.unwrap().unwrap();
    assert_eq!(back.phase, Phase::Protected);
    assert_eq!(back.active_location, Location::Primary);
    assert!(back.allows(&Operation::TestFailover), "{back:?}");
    assert!(!back.allows(&Operation::CancelFailover), "{back:?}");
    let stamp_a = lab.stamps()[0].stamp_id;
    let primary = spf(&lab, 0)
        .get_vm(stamp_a, item.vm_id.parse::<Uuid>().unwrap())
        .await
        .unwrap()
        .expect("the primary VM");
    assert_eq!(primary.status_string.as_deref(), Some("Running"));
    let replica = back.replica_vm_id.expect("the replica's id");
    let replica = spf(&lab, 1)
        .get_vm(lab.stamps()[1].stamp_id, replica.parse::<Uuid>().unwrap())
        .await
        .unwrap()
        .expect("the replica VM");
    assert_eq!(replica.status_string.as_deref(), Some("Stopped"));

    // Without the stamp it would go back to, the cancel's job fails, naming it, and nothing moves.
    set_outage(&lab, "A", true).await;
    let op = engine
        .cancel_failover(&cut_off)
        .await
        .expect("accepted: the vault, not stamp A, takes the request");
    let outcome = engine.wait(&op, WAIT).await.unwrap();
    match &outcome.state {
        OperationState::Failed { message } => {
            assert!(message.contains("SourceSiteUnreachable"), "{message}");
            assert!(message.contains("stamp A"), "names the site: {message}");
        }
        other => panic!("a cancel without stamp A must fail: {other:?}"),
    }
    let unchanged = engine.protection_status(&cut_off).await.unwrap().unwrap();
    assert_eq!(unchanged.phase, Phase::FailedOver { planned: true });
    assert_eq!(unchanged.active_location, Location::Recovery);
    assert!(unchanged.allows(&Operation::CancelFailover));

    set_outage(&lab, "A", false).await;
    run(&engine, engine.cancel_failover(&cut_off).await).await;
    assert_eq!(
        engine
            .protection_status(&cut_off)
            .await
            .unwrap()
            .unwrap()
            .active_location,
        Location::Primary,
        "once stamp A is back the same cancel goes through"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn the_asr_client_reads_every_page_of_a_cloud_s_items() {
    let lab = small_lab().await;
    let knobs = |page: usize| {
        json!({
            "acceleration": 600.0, "operation_seconds": 60.0, "vm_create_seconds": 60.0,
            "arm_page_size": page,
        })
    };
    let engine = asr(&lab);
    let (_, primary, _, _) = paired_gold(&lab).await;
    let in_one_page = engine.protectable_vms(&primary).await.unwrap();
    let mut protected = Vec::new();
    for _ in 0..3 {
        protected.push(protected_vm(&lab, 0).await.vm_id);
    }
    protected.sort();

    // Two items a page: the cloud's VMs take several pages, the three protected items two.
    set_knobs(&lab, knobs(2)).await;
    let paged = engine.protectable_vms(&primary).await.unwrap();
    assert!(
        in_one_page.len() > 4,
        "the small world's Gold cloud spans pages"
    );
    let ids = |vms: &[wapdr::fabric::replication::ProtectableVm]| {
        let mut ids: Vec<String> = vms.iter().map(|v| v.vm_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&paged), ids(&in_one_page), "every VM once, none lost");
    let mut items: Vec<String> = engine
        .protected_items(&primary)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.item.vm_id)
        .collect();
    items.sort();
    assert_eq!(items, protected);
    let asr_calls = calls(&lab).await["asr"].as_u64().unwrap();
    set_knobs(&lab, knobs(500)).await;
    engine.protected_items(&primary).await.unwrap();
    assert_eq!(
        calls(&lab).await["asr"].as_u64().unwrap(),
        asr_calls + 1,
        "with room for all, one page"
    );
}
