//! The `reconcile_vm` job, as the exclusion endpoint and the runbooks start it by name: one VM of
//! a DR subscription brought to what its record and the fabric say, as one durable job. An
//! exclusion recorded on a protected VM removes its protection and replica; lifting it protects
//! the VM again.

mod common;

use std::sync::Arc;

use common::app::{Backend, TestApp};
use common::dr::{
    add_vms, enable_dr_and_settle, gold_world_on, new_tenant, record, replicas_on_b, until_all,
};
use common::lab::{asr, http, retries, small_lab};
use common::setup::asr_section;
use wapdr::domain::{Exclusion, VmProtectionState};
use wapdr::engine::{Registry, StartRequest, start_run};
use wapdr::workflows::{RECONCILE_VM, ReconcileVm, StampClients, reconcile_vm_params};

on_both_backends!(an_admin_exclusion_releases_a_protected_vm_and_lifting_it_protects_it_again);

async fn an_admin_exclusion_releases_a_protected_vm_and_lifting_it_protects_it_again(
    backend: Backend,
) {
    let lab = small_lab().await;
    let clients = StampClients::new(http(), retries(), Some(Arc::new(asr(&lab))));
    let registry = Registry::new().with(ReconcileVm::new(Arc::new(clients)));
    let Some(app) = TestApp::start_configured(backend, registry.clone(), &asr_section(&lab)).await
    else {
        return;
    };
    let world = gold_world_on(app, lab).await;
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "quinn@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "quinn", 2, &[]).await;
    enable_dr_and_settle(app, &tenant, &vms).await;

    let reconcile = |reason: &str| StartRequest {
        workflow: RECONCILE_VM.to_owned(),
        params: reconcile_vm_params(tenant.id, vms[0]),
        trigger: "api".to_owned(),
        started_by: "admin@provider.local".to_owned(),
        reason: Some(reason.to_owned()),
        dedupe_key: None,
    };
    let mut excluded = record(app, &tenant, vms[0]).await;
    excluded.exclusion = Some(Exclusion::Admin);
    app.store()
        .save_protected_vm(&excluded)
        .await
        .expect("saved");
    start_run(
        &app.store(),
        &registry,
        reconcile("excluded by the provider"),
    )
    .await
    .expect("started");
    let released = until_all(app, &tenant, &vms[..1], VmProtectionState::Excluded).await;
    assert_eq!(
        released[0].state,
        VmProtectionState::Excluded,
        "{released:?}"
    );
    assert_eq!(released[0].exclusion, Some(Exclusion::Admin));
    assert!(
        released[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("provider")
    );
    assert!(
        replicas_on_b(lab, vms[0]).await.is_empty(),
        "protection removed"
    );
    assert_eq!(
        record(app, &tenant, vms[1]).await.state,
        VmProtectionState::Protected,
        "the other VM is untouched"
    );

    let mut included = record(app, &tenant, vms[0]).await;
    included.exclusion = None;
    app.store()
        .save_protected_vm(&included)
        .await
        .expect("saved");
    start_run(&app.store(), &registry, reconcile("included again"))
        .await
        .expect("started");
    let again = until_all(app, &tenant, &vms[..1], VmProtectionState::Protected).await;
    assert_eq!(again[0].state, VmProtectionState::Protected, "{again:?}");
    assert_eq!(replicas_on_b(lab, vms[0]).await.len(), 1);
}
