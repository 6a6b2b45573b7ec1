//! `enable_dr`: switches DR on for a subscription (`{"subscriptionId": "<guid>"}`), started by the
//! notification endpoint when WAP creates, re-activates or changes the quota of a DR subscription.
//!
//! Stages, each looking before it acts so a re-run (or a resumed run after a crash) is harmless:
//! locate the subscription's primary stamp, plan and cloud pair (recorded once in its
//! [`DrSubscription`], then reused) → ensure the mirror subscription on the recovery stamp →
//! recreate and map its VM networks → list its VMs and fan out one `protect_vm` step per VM (the
//! per-VM core, [`reconcile_vm`](super::reconcile_vm)) → mark DR enabled and the subscription
//! Provisioned (or OutOfSync with what the provider must do).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{
    DrPhase, DrSubscription, LifecycleState, MirrorState, Subscription, SubscriptionId,
    VmProtectionState,
};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::spf::VmQuery;
use crate::store::{RunPriority, SharedStore, StoreError};

use super::reconcile_vm::{
    dr_record, subscription_id_of, vm_id_of, vm_step_outcome, vm_step_retry_policy,
};
use super::{
    StampClients, Stop, VMS_PER_STAGE, fabric_refs, failures_so_far, mirror, networks, retry,
    sync_default_plan,
};

/// The workflow's registered name.
pub const ENABLE_DR: &str = "enable_dr";

/// How often a read-modify-write of the subscription is retried on a concurrent change.
const SAVE_ATTEMPTS: usize = 5;

/// The enable-DR workflow.
pub struct EnableDr {
    clients: Arc<StampClients>,
    retry: RetryPolicy,
}

impl EnableDr {
    /// The workflow, reaching the fabric through `clients`; transient failures of the
    /// subscription-wide steps are retried for a few minutes before DR is marked Failed.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self {
            clients,
            retry: RetryPolicy {
                max_attempts: 10,
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(60),
                jitter: 0.2,
            },
        }
    }

    /// The same workflow with another retry policy for transient failures (tests).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// The parameters of a run for `subscription`.
pub fn enable_dr_params(subscription: SubscriptionId) -> Value {
    json!({ "subscriptionId": subscription.to_string() })
}

/// Whether the subscription as stored still wants DR (not deleted, DR in its quota).
pub(super) fn wants_dr(sub: &Subscription) -> bool {
    !sub.is_deleted()
        && sub.lifecycle != LifecycleState::Deleting
        && sub.effective_quota().is_ok_and(|q| q.dr_enabled)
}

#[async_trait]
impl Workflow for EnableDr {
    fn name(&self) -> &'static str {
        ENABLE_DR
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Bulk
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        subscription_id_of(params).map(|_| ())
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("locate subscription", "locate").at_least_once()],
            vec![StepSpec::new("ensure mirror subscription", "mirror").at_least_once()],
            vec![StepSpec::new("ensure networks", "networks").at_least_once()],
            vec![StepSpec::new("list VMs", "list_vms").at_least_once()],
            vec![StepSpec::new("finish", "finish").at_least_once()],
        ]
    }

    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        if kind == "protect_vm" {
            vm_step_retry_policy()
        } else {
            self.retry
        }
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let id = match subscription_id_of(&ctx.params) {
            Ok(id) => id,
            Err(message) => return StepOutcome::Fail(message),
        };
        let sub = match ctx.store.get_subscription(id).await {
            Ok(Some(sub)) => sub,
            Ok(None) => return StepOutcome::Fail(format!("Subscription {id} is not known.")),
            Err(err) => return retry(format!("the store failed: {err}")),
        };
        if !wants_dr(&sub) {
            // Deleted or DR turned off since the run started: disable_dr owns it now.
            return StepOutcome::Done(json!({ "skipped": "the subscription no longer wants DR" }));
        }
        if step.kind == "protect_vm" {
            let vm_id = match vm_id_of(&step.input) {
                Ok(vm) => vm,
                Err(message) => return StepOutcome::Fail(message),
            };
            let result = match dr_record(&ctx.store, id).await {
                Ok(dr) => super::reconcile_vm(&self.clients, &ctx.store, &dr, vm_id)
                    .await
                    .map(Some),
                Err(stop) => Err(stop),
            };
            return vm_step_outcome(ctx, vm_id, result, false).await;
        }
        let result = match step.kind.as_str() {
            "locate" => self.locate(ctx, &sub).await,
            "mirror" => self.mirror(ctx, id).await,
            "networks" => self.networks(ctx, id).await,
            "list_vms" => self.list_vms(ctx, id).await,
            "finish" => finish(&ctx.store, id).await.map(StepOutcome::Done),
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        };
        match result {
            Ok(outcome) => outcome,
            Err(Stop::Transient(reason)) => {
                let failures = failures_so_far(ctx).await.saturating_add(1);
                if self.retry.allows_another_attempt(failures) {
                    return retry(reason);
                }
                fail(
                    &ctx.store,
                    id,
                    format!("Enabling DR gave up after {failures} attempts: {reason}"),
                )
                .await
            }
            Err(Stop::Final(reason)) => fail(&ctx.store, id, reason).await,
        }
    }
}

impl EnableDr {
    /// Finds (once) and records where the subscription lives; reuses what is recorded.
    async fn locate(&self, ctx: &StepContext, sub: &Subscription) -> Result<StepOutcome, Stop> {
        let existing = ctx.store.get_dr_subscription(sub.id).await?;
        if let Some(mut dr) = existing.filter(|d| d.pair_id.is_some()) {
            // Still a pair? A provider may have removed it since.
            fabric_refs::pair(&ctx.store, dr.pair_id.unwrap_or_default()).await?;
            dr.phase = DrPhase::Enabling;
            dr.message = None;
            let dr = ctx.store.put_dr_subscription(&dr).await?;
            return Ok(StepOutcome::Done(
                json!({ "pairId": dr.pair_id, "reused": true }),
            ));
        }
        let placement = match mirror::find_placement(&self.clients, &ctx.store, sub.id).await? {
            Ok(placement) => placement,
            Err(message) => return Err(Stop::Final(message)),
        };
        let mut dr = DrSubscription::enabling(sub.id);
        dr.pair_id = Some(placement.pair.id);
        dr.primary_stamp_id = Some(placement.stamp_id);
        dr.recovery_stamp_id = Some(placement.pair.recovery.stamp_id);
        dr.active_stamp_id = Some(placement.stamp_id);
        dr.primary_plan_id = placement.subscription.plan_id.clone();
        dr.owner = placement
            .subscription
            .account_admin_live_email_id
            .clone()
            .or_else(|| Some(sub.admin_id.clone()).filter(|a| !a.is_empty()));
        ctx.store.put_dr_subscription(&dr).await?;
        Ok(StepOutcome::Done(
            json!({ "pairId": placement.pair.id, "primaryStampId": placement.stamp_id }),
        ))
    }

    /// Ensures the mirror subscription (with the primary's current co-admins) on the recovery stamp.
    async fn mirror(&self, ctx: &StepContext, id: SubscriptionId) -> Result<StepOutcome, Stop> {
        let mut dr = dr_record(&ctx.store, id).await?;
        let pair = fabric_refs::pair(&ctx.store, dr.pair_id.unwrap_or_default()).await?;
        let primary = fabric_refs::stamp(&ctx.store, pair.primary.stamp_id).await?;
        let on_primary = self
            .clients
            .wap_admin(&primary)?
            .get_subscription(id)
            .await?
            .ok_or_else(|| {
                Stop::Final(format!(
                    "Stamp '{}' no longer has subscription {id}.",
                    primary.name
                ))
            })?;
        mirror::ensure_mirror(&self.clients, &ctx.store, &dr, &pair, &on_primary).await?;
        dr.mirror = MirrorState::Suspended;
        ctx.store.put_dr_subscription(&dr).await?;
        Ok(StepOutcome::Done(json!({ "mirror": "Suspended" })))
    }

    /// Recreates and maps the tenant's VM networks; records the mapping.
    async fn networks(&self, ctx: &StepContext, id: SubscriptionId) -> Result<StepOutcome, Stop> {
        let mut dr = dr_record(&ctx.store, id).await?;
        let pair = fabric_refs::pair(&ctx.store, dr.pair_id.unwrap_or_default()).await?;
        let mapped = networks::ensure_networks(&self.clients, &ctx.store, &dr, &pair).await?;
        let count = mapped.len();
        dr.networks = mapped;
        ctx.store.put_dr_subscription(&dr).await?;
        Ok(StepOutcome::Done(json!({ "networks": count })))
    }

    /// Lists the subscription's VMs in the pair's primary cloud (and those recorded before, so a
    /// VM deleted meanwhile is released) and fans out one protect step per VM.
    async fn list_vms(&self, ctx: &StepContext, id: SubscriptionId) -> Result<StepOutcome, Stop> {
        let dr = dr_record(&ctx.store, id).await?;
        let pair = fabric_refs::pair(&ctx.store, dr.pair_id.unwrap_or_default()).await?;
        let primary = fabric_refs::stamp(&ctx.store, pair.primary.stamp_id).await?;
        let vmm = fabric_refs::spf_stamp_id(&self.clients, &ctx.store, &primary).await?;
        let vms = self
            .clients
            .spf(&primary)?
            .list_vms(&VmQuery {
                stamp_id: Some(vmm),
                cloud_id: Some(pair.primary.cloud_id),
                owner_role_id: Some(id.as_uuid()),
                ..VmQuery::default()
            })
            .await?;
        let mut ids: Vec<(Uuid, String)> = vms
            .into_iter()
            .filter(|vm| !vm.is_recovery_vm.unwrap_or(false))
            .map(|vm| (vm.id, vm.name))
            .collect();
        for record in ctx.store.list_protected_vms(id).await? {
            if record.state != VmProtectionState::Disabled
                && !ids.iter().any(|(vm, _)| *vm == record.vm_id)
            {
                ids.push((record.vm_id, record.name));
            }
        }
        let count = ids.len();
        let next = ids
            .chunks(VMS_PER_STAGE)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(vm, name)| {
                        StepSpec::new(format!("protect {name}"), "protect_vm")
                            .with_input(json!({ "vmId": vm.to_string() }))
                            .at_least_once()
                    })
                    .collect()
            })
            .collect();
        Ok(StepOutcome::DoneThen {
            output: json!({ "vms": count }),
            next,
        })
    }
}

/// Marks DR enabled and the subscription Provisioned, or OutOfSync naming the VMs that failed.
async fn finish(store: &SharedStore, id: SubscriptionId) -> Result<Value, Stop> {
    let mut dr = dr_record(store, id).await?;
    let failed: Vec<String> = store
        .list_protected_vms(id)
        .await?
        .into_iter()
        .filter(|vm| vm.state == VmProtectionState::Failed)
        .map(|vm| format!("'{}': {}", vm.name, vm.reason.unwrap_or_default()))
        .collect();
    let message = (!failed.is_empty()).then(|| {
        format!(
            "DR is enabled, but {} VM(s) could not be protected: {}",
            failed.len(),
            failed.join("; ")
        )
    });
    dr.phase = DrPhase::Enabled;
    dr.message = message.clone();
    store.put_dr_subscription(&dr).await?;
    // Every DR subscription has its default plan from the moment DR is enabled.
    sync_default_plan(store, id).await?;
    set_lifecycle(store, id, |sub| {
        if !wants_dr(sub) {
            return false;
        }
        match &message {
            Some(m) => {
                sub.lifecycle = LifecycleState::OutOfSync;
                sub.last_error = Some(m.clone());
            }
            None => {
                sub.lifecycle = LifecycleState::Provisioned;
                sub.last_error = None;
            }
        }
        true
    })
    .await?;
    Ok(json!({ "phase": "Enabled", "failedVms": failed.len() }))
}

/// Marks DR Failed with `reason` and the subscription OutOfSync with it, and ends the run.
async fn fail(store: &SharedStore, id: SubscriptionId, reason: String) -> StepOutcome {
    let record: Result<(), Stop> = async {
        let mut dr = store
            .get_dr_subscription(id)
            .await?
            .unwrap_or_else(|| DrSubscription::enabling(id));
        dr.phase = DrPhase::Failed;
        dr.message = Some(reason.clone());
        store.put_dr_subscription(&dr).await?;
        set_lifecycle(store, id, |sub| {
            if !wants_dr(sub) {
                return false;
            }
            sub.lifecycle = LifecycleState::OutOfSync;
            sub.last_error = Some(reason.clone());
            true
        })
        .await
    }
    .await;
    if let Err(err) = record {
        return retry(format!("recording the failure failed: {err}"));
    }
    tracing::warn!(subscription_id = %id, %reason, "enabling DR failed");
    StepOutcome::Fail(reason)
}

/// Changes the stored subscription with `change` (which says whether it changed anything),
/// retrying when a notification changed it meanwhile.
pub(super) async fn set_lifecycle<F>(
    store: &SharedStore,
    id: SubscriptionId,
    change: F,
) -> Result<(), Stop>
where
    F: Fn(&mut Subscription) -> bool,
{
    for _ in 0..SAVE_ATTEMPTS {
        let Some(mut sub) = store.get_subscription(id).await? else {
            return Ok(());
        };
        if !change(&mut sub) {
            return Ok(());
        }
        match store.save_subscription(&sub).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(Stop::Transient(format!(
        "subscription {id} kept changing while its state was recorded"
    )))
}
