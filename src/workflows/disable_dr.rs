//! `disable_dr`: switches DR off for a subscription (`{"subscriptionId": "<guid>"}`), started by
//! the notification endpoint when WAP deletes a DR subscription or a quota change turns DR off.
//!
//! Stages, each safe to repeat: mark DR Disabling → disable protection of every recorded VM (one
//! step per VM, waiting for the engine; each recorded `Disabled`) → delete the mirror
//! subscription on the recovery stamp (absent is fine) → mark DR Disabled and answer WAP: a
//! subscription being deleted becomes the `Deleted` tombstone, one that only lost DR is
//! `Provisioned` again.
//!
//! The tenant networks recreated on the recovery stamp and their mappings in the engine are kept
//! (the engine interface has no way to remove a mapping, and the networks may hold replicas of a
//! re-enabled subscription); the DR record's message says so.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::domain::{DrPhase, LifecycleState, MirrorState, SubscriptionId, VmProtectionState};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::store::{RunFilter, RunPriority, RunState, SharedStore};

use super::enable_dr::set_lifecycle;
use super::reconcile_vm::{subscription_id_of, vm_id_of, vm_step_outcome, vm_step_retry_policy};
use super::{ENABLE_DR, StampClients, Stop, VMS_PER_STAGE, check_again, disable_vm, mirror, retry};

/// The workflow's registered name.
pub const DISABLE_DR: &str = "disable_dr";

/// How soon to look again whether the subscription's enable run has stopped.
const WAIT_FOR_ENABLE: Duration = Duration::from_millis(500);

/// The disable-DR workflow.
pub struct DisableDr {
    clients: Arc<StampClients>,
    retry: RetryPolicy,
}

impl DisableDr {
    /// The workflow, reaching the fabric through `clients`; a stamp or vault outage is waited
    /// out for a long while (deletion must finish eventually, and WAP keeps polling).
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self {
            clients,
            retry: RetryPolicy {
                max_attempts: 100,
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(120),
                jitter: 0.2,
            },
        }
    }
}

/// The parameters of a run for `subscription`.
pub fn disable_dr_params(subscription: SubscriptionId) -> Value {
    json!({ "subscriptionId": subscription.to_string() })
}

#[async_trait]
impl Workflow for DisableDr {
    fn name(&self) -> &'static str {
        DISABLE_DR
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Bulk
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        subscription_id_of(params).map(|_| ())
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("list protected VMs", "list_vms").at_least_once()],
            vec![StepSpec::new("remove mirror subscription", "mirror").at_least_once()],
            vec![StepSpec::new("finish", "finish").at_least_once()],
        ]
    }

    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        if kind == "unprotect_vm" {
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
        let dr = match ctx.store.get_dr_subscription(id).await {
            Ok(Some(dr)) => dr,
            // Nothing was ever enabled: only the answer to WAP is left.
            Ok(None) if step.kind == "finish" => {
                return match answer_wap(&ctx.store, id).await {
                    Ok(()) => StepOutcome::Done(json!({ "phase": null })),
                    Err(stop) => retry(stop.to_string()),
                };
            }
            Ok(None) => return StepOutcome::Done(json!({ "skipped": "no DR record" })),
            Err(err) => return retry(format!("the store failed: {err}")),
        };
        let result: Result<StepOutcome, Stop> = match step.kind.as_str() {
            "unprotect_vm" => {
                let vm_id = match vm_id_of(&step.input) {
                    Ok(vm) => vm,
                    Err(message) => return StepOutcome::Fail(message),
                };
                let result = disable_vm(&self.clients, &ctx.store, &dr, vm_id).await;
                return vm_step_outcome(ctx, vm_id, result, false).await;
            }
            "list_vms" => async {
                let mut dr = dr.clone();
                dr.phase = DrPhase::Disabling;
                ctx.store.put_dr_subscription(&dr).await?;
                // An enable run still going could protect a VM after this list; its steps stop
                // at once for a subscription that no longer wants DR, so wait for it to end.
                if let Some(reason) = enable_still_running(&ctx.store, id).await? {
                    return Ok(check_again(reason, WAIT_FOR_ENABLE));
                }
                let vms: Vec<_> = ctx
                    .store
                    .list_protected_vms(id)
                    .await?
                    .into_iter()
                    .filter(|vm| vm.state != VmProtectionState::Disabled)
                    .collect();
                let next = vms
                    .chunks(VMS_PER_STAGE)
                    .map(|chunk| {
                        chunk
                            .iter()
                            .map(|vm| {
                                StepSpec::new(format!("unprotect {}", vm.name), "unprotect_vm")
                                    .with_input(json!({ "vmId": vm.vm_id.to_string() }))
                                    .at_least_once()
                            })
                            .collect()
                    })
                    .collect();
                Ok(StepOutcome::DoneThen {
                    output: json!({ "vms": vms.len() }),
                    next,
                })
            }
            .await,
            "mirror" => async {
                mirror::remove_mirror(&self.clients, &ctx.store, &dr).await?;
                let mut dr = dr.clone();
                dr.mirror = MirrorState::Absent;
                ctx.store.put_dr_subscription(&dr).await?;
                Ok(StepOutcome::Done(json!({ "mirror": "Absent" })))
            }
            .await,
            "finish" => async {
                let mut dr = dr.clone();
                dr.phase = DrPhase::Disabled;
                dr.message = (!dr.networks.is_empty()).then(|| {
                    format!(
                        "DR is off. The {} VM network(s) recreated on the recovery stamp and their mappings were kept; remove them there if they are no longer needed.",
                        dr.networks.len()
                    )
                });
                ctx.store.put_dr_subscription(&dr).await?;
                answer_wap(&ctx.store, id).await?;
                Ok(StepOutcome::Done(json!({ "phase": "Disabled" })))
            }
            .await,
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        };
        match result {
            Ok(outcome) => outcome,
            Err(Stop::Transient(reason)) => retry(reason),
            Err(Stop::Final(reason)) => {
                let mut dr = dr;
                dr.message = Some(reason.clone());
                let _ = ctx.store.put_dr_subscription(&dr).await;
                let _ = set_lifecycle(&ctx.store, id, |sub| {
                    if matches!(
                        sub.lifecycle,
                        LifecycleState::Deleting | LifecycleState::Updating
                    ) {
                        sub.lifecycle = LifecycleState::OutOfSync;
                        sub.last_error = Some(reason.clone());
                        return true;
                    }
                    false
                })
                .await;
                StepOutcome::Fail(reason)
            }
        }
    }
}

/// The enable-DR run of this subscription that has not ended, if any, in words.
async fn enable_still_running(
    store: &SharedStore,
    id: SubscriptionId,
) -> Result<Option<String>, Stop> {
    let runs = store
        .list_runs(&RunFilter {
            workflow: Some(ENABLE_DR.to_owned()),
            subscription_id: Some(id.to_string()),
            ..RunFilter::default()
        })
        .await?;
    Ok(runs
        .iter()
        .find(|r| {
            matches!(
                r.state,
                RunState::Pending | RunState::Running | RunState::Waiting
            )
        })
        .map(|r| format!("waiting for enable DR run {} to stop", r.id)))
}

/// Tells WAP (through what it polls) that disabling is done: a subscription being deleted becomes
/// the `Deleted` tombstone; one that only turned DR off is `Provisioned`.
async fn answer_wap(store: &SharedStore, id: SubscriptionId) -> Result<(), Stop> {
    set_lifecycle(store, id, |sub| match sub.lifecycle {
        LifecycleState::Deleting => {
            sub.mark_deleted();
            true
        }
        LifecycleState::Updating | LifecycleState::OutOfSync if !sub.is_deleted() => {
            sub.lifecycle = LifecycleState::Provisioned;
            sub.last_error = None;
            true
        }
        _ => false,
    })
    .await
}
