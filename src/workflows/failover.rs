//! `failover`: one failover operation on one DR subscription, ordered by a recovery plan, started
//! through [`start_operation`](super::start_operation) after the rules were checked.
//!
//! Stages: `prepare` (the stamps and direction from the DR record, the split-brain guard, the
//! Protected VMs, the plan — the one asked for or the default — mapped onto them) appends the
//! plan's stages: for a drill, a failover or a failback, each group in order with its delay, its
//! actions before, its VMs in parallel and its actions after; for the other kinds (cleanup,
//! commit, rollback, reprotect) every VM at once. Every VM step takes one of the replication
//! engine's places ([`REPLICATION_ENGINE_SLOT`]), so however many VMs and jobs there are, no more
//! operations run at once than the engine allows. Then `finish` records the new phase and, for a
//! failover, failback or rollback, switches the subscription (see `failover_switch`), opens the
//! commit window or drill deadline the settings ask for, and sums the run up with its recovery
//! time. A drill or planned failover stops at the first VM or action that fails (the same
//! request finishes what is left); an unplanned failover keeps going and names what failed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::domain::{
    CommitPolicy, FailoverKind, FailoverPhase, FailoverState, RecoveryPointChoice, SubscriptionId,
    deadline_after,
};
use crate::engine::{
    RetryPolicy, StartRequest, StepContext, StepOutcome, StepSpec, Workflow, start_run,
};
use crate::report::recovery_timing;
use crate::store::{RunPriority, SharedStore, StepState, StoreError};

use super::failover_action::{run_action, run_delay};
use super::failover_deadline::{FAILOVER_DEADLINE, deadline_params};
use super::failover_plan::prepare;
use super::failover_switch::switch_stamp;
use super::failover_vm::run_vm_step;
use super::reconcile_vm::{dr_record, subscription_id_of, vm_step_retry_policy};
use super::{StampClients, Stop, failures_so_far, retry};

/// The workflow's registered name.
pub const FAILOVER: &str = "failover";

/// The slot every VM operation of a failover takes a place in: the replication engine's
/// concurrency, shared by all runs and instances.
pub const REPLICATION_ENGINE_SLOT: &str = "replication-engine";

/// How often a read-modify-write of the failover record is retried on a concurrent change.
const SAVE_ATTEMPTS: usize = 5;

/// The failover workflow.
pub struct Failover {
    clients: Arc<StampClients>,
    retry: RetryPolicy,
}

impl Failover {
    /// The workflow, reaching the fabric through `clients`.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self {
            clients,
            retry: RetryPolicy {
                max_attempts: 10,
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(30),
                jitter: 0.2,
            },
        }
    }
}

/// The parameters of a `failover` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverParams {
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// The operation.
    pub kind: FailoverKind,
    /// The recovery plan that orders it (`None`: the default plan).
    pub plan_id: Option<Uuid>,
    /// The commit window this failover opens, instead of the subscription's setting.
    pub commit_policy: Option<CommitPolicy>,
    /// Minutes until this drill is cleaned up by itself, instead of the subscription's setting.
    pub cleanup_after_minutes: Option<u32>,
    /// The site failover job it belongs to.
    pub site_job: Option<Uuid>,
}

impl FailoverParams {
    /// The run's parameters as stored.
    pub fn to_json(&self) -> Value {
        let point = match self.kind {
            FailoverKind::UnplannedFailover { point } => Some(point.to_text()),
            _ => None,
        };
        json!({
            "subscriptionId": self.subscription_id.to_string(),
            "kind": self.kind.as_str(),
            "recoveryPoint": point,
            "planId": self.plan_id.map(|p| p.to_string()),
            "commitPolicy": self.commit_policy.map(|p| json!({
                "onExpiry": p.on_expiry_name(),
                "afterMinutes": p.after_minutes,
            })),
            "cleanupAfterMinutes": self.cleanup_after_minutes,
            "siteJobId": self.site_job.map(|j| j.to_string()),
        })
    }

    /// Reads a run's parameters.
    pub fn from_json(params: &Value) -> Result<Self, String> {
        let subscription_id = subscription_id_of(params)?;
        let kind = kind_of(params)?;
        let uuid = |key: &str| -> Result<Option<Uuid>, String> {
            match params.get(key).and_then(Value::as_str) {
                None => Ok(None),
                Some(text) => Uuid::parse_str(text)
                    .map(Some)
                    .map_err(|_| format!("{key} must be a GUID")),
            }
        };
        let commit_policy = match params.get("commitPolicy").filter(|p| !p.is_null()) {
            None => None,
            Some(policy) => Some(CommitPolicy::parse(
                policy["onExpiry"].as_str().unwrap_or("none"),
                policy["afterMinutes"]
                    .as_u64()
                    .and_then(|m| u32::try_from(m).ok()),
            )?),
        };
        Ok(Self {
            subscription_id,
            kind,
            plan_id: uuid("planId")?,
            commit_policy,
            cleanup_after_minutes: params
                .get("cleanupAfterMinutes")
                .and_then(Value::as_u64)
                .and_then(|m| u32::try_from(m).ok()),
            site_job: uuid("siteJobId")?,
        })
    }
}

/// The operation a run's parameters name (`kind`, and `recoveryPoint` for an unplanned one).
pub(super) fn kind_of(params: &Value) -> Result<FailoverKind, String> {
    let point = match params.get("recoveryPoint").and_then(Value::as_str) {
        Some(text) => RecoveryPointChoice::parse(text)?,
        None => RecoveryPointChoice::Latest,
    };
    let name = params.get("kind").and_then(Value::as_str).unwrap_or("");
    FailoverKind::from_name(name, point).ok_or_else(|| {
        format!(
            "kind '{name}' is not one of {}",
            FailoverKind::NAMES.join(", ")
        )
    })
}

#[async_trait]
impl Workflow for Failover {
    fn name(&self) -> &'static str {
        FAILOVER
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Recovery
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        FailoverParams::from_json(params).map(drop)
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("prepare", "prepare").at_least_once()],
            vec![StepSpec::new("finish", "finish").at_least_once()],
        ]
    }

    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        match kind {
            // VM operations and runbooks are looked at again and again while they run.
            "vm" | "action" => vm_step_retry_policy(),
            _ => self.retry,
        }
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let params = match FailoverParams::from_json(&ctx.params) {
            Ok(params) => params,
            Err(message) => return StepOutcome::Fail(message),
        };
        let kind = params.kind;
        let result = async {
            match step.kind.as_str() {
                "prepare" => {
                    let dr = dr_record(&ctx.store, params.subscription_id).await?;
                    prepare(&self.clients, ctx, &dr, &params).await
                }
                "vm" => {
                    let dr = dr_record(&ctx.store, params.subscription_id).await?;
                    run_vm_step(&self.clients, ctx, &dr, &step.input).await
                }
                "delay" => run_delay(ctx, &step.input).await,
                "action" => run_action(&self.clients, ctx, &step.input).await,
                "finish" => self.finish(ctx, &params).await,
                other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
            }
        }
        .await;
        let stop = match result {
            Ok(outcome) => return outcome,
            Err(Stop::Transient(reason)) => {
                let failures = failures_so_far(ctx).await.saturating_add(1);
                if self
                    .retry_policy(&step.kind)
                    .allows_another_attempt(failures)
                {
                    return retry(reason);
                }
                format!("{} gave up: {reason}", kind.as_str())
            }
            Err(Stop::Final(reason)) => reason,
        };
        tracing::warn!(subscription_id = %params.subscription_id, kind = kind.as_str(), step = %step.name, reason = %stop, "failover step failed");
        if kind.keeps_going_past_failures() && matches!(step.kind.as_str(), "vm" | "action") {
            // A disaster recovery brings up what it can: the failure is recorded and the rest
            // goes on; `finish` names it.
            return StepOutcome::Done(json!({
                "vmId": step.input.get("vmId"),
                "name": step.input.get("name"),
                "operation": step.input.get("op"),
                "group": step.input.get("group"),
                "failed": true,
                "error": stop,
            }));
        }
        StepOutcome::Fail(stop)
    }
}

impl Failover {
    /// Switches the stamp (failover, failback, rollback), records the new phase and the deadline
    /// it opens, and sums the run up; fails, after recording, when VMs did not make it.
    async fn finish(
        &self,
        ctx: &StepContext,
        params: &FailoverParams,
    ) -> Result<StepOutcome, Stop> {
        let id = params.subscription_id;
        let kind = params.kind;
        let steps = ctx.store.run_steps(ctx.run_id).await?;
        let prepared = steps
            .iter()
            .find(|s| s.kind == "prepare")
            .and_then(|s| s.output.clone())
            .ok_or_else(|| Stop::Final("the prepare step recorded nothing".into()))?;
        // What an unplanned failover recorded as failed and went past (see `run_step`).
        let failures = |step_kind: &str| -> Vec<String> {
            steps
                .iter()
                .filter(|s| s.kind == step_kind && s.state == StepState::Succeeded)
                .filter_map(|s| s.output.as_ref())
                .filter(|o| o["failed"] == true)
                .map(|o| o["error"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let (failed_vms, failed_actions) = (failures("vm"), failures("action"));
        let vm_count = prepared["vms"].as_u64().unwrap_or(0);
        if !failed_vms.is_empty() && failed_vms.len() as u64 >= vm_count {
            return Ok(StepOutcome::Fail(format!(
                "No VM could {}; the subscription stays where it was: {}",
                kind.as_str(),
                failed_vms.join("; ")
            )));
        }
        let mut pending = None;
        let mut switched = false;
        if kind.switches_stamp() {
            let done = switch_stamp(&self.clients, &ctx.store, id, kind, &prepared).await?;
            pending = done.pending;
            switched = true;
        }
        let now = ctx.store.database_now().await?;
        let state = ctx
            .store
            .get_failover(id)
            .await?
            .unwrap_or_else(|| FailoverState::new(id));
        let deadline = deadline_after(
            kind,
            now,
            ctx.run_id,
            params.commit_policy.unwrap_or(state.settings.commit_policy),
            params
                .cleanup_after_minutes
                .or(state.settings.drill_cleanup_after_minutes),
        );
        let state = record_phase(&ctx.store, id, kind, pending, switched, deadline).await?;
        if let Some(deadline) = deadline {
            start_run(
                &ctx.store,
                &ctx.registry,
                StartRequest {
                    workflow: FAILOVER_DEADLINE.into(),
                    params: deadline_params(id, deadline.opened_by),
                    trigger: "failover".into(),
                    started_by: "wapdr".into(),
                    reason: Some(format!(
                        "{} at {} unless an operator acts first",
                        deadline.action.as_str(),
                        rfc3339(deadline.at)
                    )),
                    dedupe_key: Some(format!("{FAILOVER_DEADLINE}:{}", ctx.run_id)),
                },
            )
            .await
            .map_err(|err| Stop::Transient(format!("the deadline job could not start: {err}")))?;
        }
        let run = ctx
            .store
            .get_run(ctx.run_id)
            .await?
            .ok_or_else(|| Stop::Final("the run is gone".into()))?;
        let timing = recovery_timing(&run, &steps);
        let dr = dr_record(&ctx.store, id).await?;
        let output = json!({
            "kind": kind.as_str(),
            "phase": state.phase.as_str(),
            "activeStampId": dr.active_stamp_id.map(|s| s.to_string()),
            "mirror": dr.mirror.as_str(),
            "pending": state.pending,
            "plan": prepared["plan"],
            "vms": prepared["vms"],
            "failedVms": failed_vms,
            "warnings": failed_actions,
            "deadline": deadline.map(|d| json!({
                "action": d.action.as_str(),
                "at": rfc3339(d.at),
            })),
            "rtoSeconds": timing.rto_seconds,
            "rtoExcludingManualAndScriptsSeconds": timing.rto_excluding_manual_and_scripts_seconds,
            "manualWaitSeconds": timing.manual_seconds,
            "scriptSeconds": timing.script_seconds,
            "delaySeconds": timing.delay_seconds,
        });
        if failed_vms.is_empty() {
            return Ok(StepOutcome::Done(output));
        }
        Ok(StepOutcome::Fail(format!(
            "{} of {} VMs did not {}: {}{}",
            failed_vms.len(),
            vm_count,
            kind.as_str(),
            failed_vms.join("; "),
            if switched {
                " The subscription was switched for the VMs that did; fail the others over in the replication engine or roll back."
            } else {
                ""
            }
        )))
    }
}

/// Records the phase `kind` leaves the subscription in, the pending work and the deadline it
/// opens, retrying when the API changed the record meanwhile; a switch that reached the source
/// clears older pending notes.
async fn record_phase(
    store: &SharedStore,
    id: SubscriptionId,
    kind: FailoverKind,
    pending: Option<String>,
    switched: bool,
    deadline: Option<crate::domain::Deadline>,
) -> Result<FailoverState, Stop> {
    for _ in 0..SAVE_ATTEMPTS {
        let mut state = store
            .get_failover(id)
            .await?
            .unwrap_or_else(|| FailoverState::new(id));
        if switched && pending.is_none() {
            state.pending.clear();
        }
        if let Some(note) = &pending {
            if !state.pending.contains(note) {
                state.pending.push(note.clone());
            }
        }
        state.phase = FailoverPhase::after(kind);
        state.deadline = deadline;
        match store.save_failover(&state).await {
            Ok(saved) => return Ok(saved),
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(Stop::Transient(format!(
        "the failover record of subscription {id} kept changing"
    )))
}
