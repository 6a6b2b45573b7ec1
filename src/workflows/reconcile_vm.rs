//! The `reconcile_vm` workflow: the per-VM core ([`reconcile_vm`](super::reconcile_vm)) run as
//! one durable job for one VM (`{"subscriptionId", "vmId"}`), re-checked until the VM settles;
//! and what every step that runs the core shares (parameters, outcome, retry policy), so enable
//! and disable DR fan out to the same behaviour.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{DrPhase, DrSubscription, ProtectedVm, SubscriptionId, VmProtectionState};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::store::RunPriority;
use crate::store::SharedStore;

use super::protect::{needs_another_look, recheck_delay};
use super::{StampClients, Stop, check_again, disable_vm, failures_so_far, reconcile_vm, retry};

/// The workflow's registered name.
pub const RECONCILE_VM: &str = "reconcile_vm";

/// The parameters of a `reconcile_vm` run.
pub fn reconcile_vm_params(subscription: SubscriptionId, vm_id: Uuid) -> Value {
    json!({ "subscriptionId": subscription.to_string(), "vmId": vm_id.to_string() })
}

/// How a step that runs the core ends: another look soon while the VM moves, a backoff on
/// transient trouble, and on a final error either the run's failure (`fail_run`) or the VM's
/// record marked `Failed` with the reason (so one VM never stops a whole subscription).
pub(crate) async fn vm_step_outcome(
    ctx: &StepContext,
    vm_id: Uuid,
    result: Result<Option<ProtectedVm>, Stop>,
    fail_run: bool,
) -> StepOutcome {
    match result {
        Ok(Some(vm)) if needs_another_look(&vm) => check_again(
            format!("VM '{}' is {}", vm.name, vm.state.as_str()),
            recheck_delay(failures_so_far(ctx).await),
        ),
        Ok(Some(vm)) => StepOutcome::Done(json!({
            "vmId": vm.vm_id.to_string(),
            "state": vm.state.as_str(),
            "replicaVmId": vm.replica_vm_id.map(|r| r.to_string()),
            "reason": vm.reason,
        })),
        Ok(None) => StepOutcome::Done(json!({ "vmId": vm_id.to_string(), "state": null })),
        Err(Stop::Transient(reason)) => retry(reason),
        Err(Stop::Final(reason)) if fail_run => StepOutcome::Fail(reason),
        Err(Stop::Final(reason)) => {
            if let Some(sub) = ctx
                .params
                .get("subscriptionId")
                .and_then(Value::as_str)
                .and_then(|s| SubscriptionId::parse(s).ok())
            {
                if let Ok(Some(mut vm)) = ctx.store.get_protected_vm(sub, vm_id).await {
                    vm.state = VmProtectionState::Failed;
                    vm.reason = Some(reason.clone());
                    if ctx.store.save_protected_vm(&vm).await.is_err() {
                        return retry(format!("recording VM {vm_id} failed: {reason}"));
                    }
                }
            }
            tracing::warn!(%vm_id, %reason, "VM protection failed");
            StepOutcome::Done(
                json!({ "vmId": vm_id.to_string(), "state": "Failed", "reason": reason }),
            )
        }
    }
}

/// The retry policy of steps that run the core: a VM's initial replication may take long, so
/// many short looks; transient trouble backs off up to a minute.
pub(crate) fn vm_step_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5000,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(60),
        jitter: 0.2,
    }
}

/// Reads a run's `vmId` / the step input's `vmId`.
pub(crate) fn vm_id_of(value: &Value) -> Result<Uuid, String> {
    value
        .get("vmId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
        .ok_or_else(|| "vmId must be the GUID of a VM".to_owned())
}

/// Reads a run's `subscriptionId`.
pub(crate) fn subscription_id_of(params: &Value) -> Result<SubscriptionId, String> {
    params
        .get("subscriptionId")
        .and_then(Value::as_str)
        .and_then(|s| SubscriptionId::parse(s).ok())
        .ok_or_else(|| "subscriptionId must be the GUID of a subscription".to_owned())
}

/// Reads a subscription's DR record for a step: missing is final.
pub(crate) async fn dr_record(
    store: &SharedStore,
    id: SubscriptionId,
) -> Result<DrSubscription, Stop> {
    store.get_dr_subscription(id).await?.ok_or_else(|| {
        Stop::Final(format!(
            "DR is not enabled for subscription {id}: enable DR first."
        ))
    })
}

/// The `reconcile_vm` workflow: one VM brought to its desired state as one durable job
/// (`{"subscriptionId": "<guid>", "vmId": "<guid>"}`), re-checked until it settles.
pub struct ReconcileVm {
    clients: Arc<StampClients>,
}

impl ReconcileVm {
    /// The workflow, reaching the fabric through `clients`.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self { clients }
    }
}

#[async_trait]
impl Workflow for ReconcileVm {
    fn name(&self) -> &'static str {
        RECONCILE_VM
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Bulk
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        subscription_id_of(params)?;
        vm_id_of(params).map(|_| ())
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![
            StepSpec::new("reconcile vm", "reconcile_vm").at_least_once(),
        ]]
    }

    fn retry_policy(&self, _kind: &str) -> RetryPolicy {
        vm_step_retry_policy()
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let (sub, vm_id) = match (subscription_id_of(&ctx.params), vm_id_of(&ctx.params)) {
            (Ok(sub), Ok(vm)) => (sub, vm),
            (Err(message), _) | (_, Err(message)) => return StepOutcome::Fail(message),
        };
        let result = async {
            let dr = dr_record(&ctx.store, sub).await?;
            if matches!(dr.phase, DrPhase::Disabling | DrPhase::Disabled) {
                return disable_vm(&self.clients, &ctx.store, &dr, vm_id).await;
            }
            reconcile_vm(&self.clients, &ctx.store, &dr, vm_id)
                .await
                .map(Some)
        }
        .await;
        let _ = step;
        vm_step_outcome(ctx, vm_id, result, true).await
    }
}
