//! `failover`: one failover operation on one DR subscription (`{"subscriptionId", "kind",
//! "recoveryPoint"}`), started by the failover API after it checked the rules
//! ([`FailoverState::check`](crate::domain::FailoverState::check)).
//!
//! Stages: `prepare` (the stamps and direction from the DR record, the split-brain guard, the
//! Protected VMs) fans out one stage of per-VM steps per engine operation, all VMs of the
//! subscription in parallel (failback: planned failover, then commit, then reprotect); then
//! `finish` records the new phase and, for a failover or failback, switches the subscription:
//! active stamp flipped, the subscription activated on the target stamp's WAP and suspended on
//! the source's — except after an unplanned failover, where the source is never called and its
//! suspension is recorded as pending. The final output lists every VM's result and the RTO (run
//! created → last VM running on the target).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::domain::{
    FailoverKind, FailoverPhase, FailoverState, RecoveryPointChoice, SubscriptionId,
    VmProtectionState, switch_target,
};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::replication::Direction;
use crate::store::{SharedStore, StoreError};

use super::failover_switch::switch_stamp;
use super::failover_vm::{VmOp, direction_name, run_vm_step};
use super::reconcile_vm::{dr_record, subscription_id_of, vm_step_retry_policy};
use super::{StampClients, Stop, VMS_PER_STAGE, failures_so_far, retry};

/// The workflow's registered name.
pub const FAILOVER: &str = "failover";

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

/// The parameters of a run of `kind` on `subscription`.
pub fn failover_params(subscription: SubscriptionId, kind: FailoverKind) -> Value {
    let point = match kind {
        FailoverKind::UnplannedFailover { point } => Some(point.to_text()),
        _ => None,
    };
    json!({
        "subscriptionId": subscription.to_string(),
        "kind": kind.as_str(),
        "recoveryPoint": point,
    })
}

/// Reads a run's kind.
fn kind_of(params: &Value) -> Result<FailoverKind, String> {
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

    fn validate(&self, params: &Value) -> Result<(), String> {
        subscription_id_of(params)?;
        kind_of(params).map(|_| ())
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("prepare", "prepare").at_least_once()],
            vec![StepSpec::new("finish", "finish").at_least_once()],
        ]
    }

    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        if kind == "vm" {
            vm_step_retry_policy()
        } else {
            self.retry
        }
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let (id, kind) = match (subscription_id_of(&ctx.params), kind_of(&ctx.params)) {
            (Ok(id), Ok(kind)) => (id, kind),
            (Err(message), _) | (_, Err(message)) => return StepOutcome::Fail(message),
        };
        let result = async {
            let dr = dr_record(&ctx.store, id).await?;
            match step.kind.as_str() {
                "prepare" => prepare(&self.clients, ctx, &dr, kind).await,
                "vm" => run_vm_step(&self.clients, ctx, &dr, &step.input).await,
                "finish" => self.finish(ctx, id, kind).await.map(StepOutcome::Done),
                other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
            }
        }
        .await;
        match result {
            Ok(outcome) => outcome,
            Err(Stop::Transient(reason)) => {
                let failures = failures_so_far(ctx).await.saturating_add(1);
                if self
                    .retry_policy(&step.kind)
                    .allows_another_attempt(failures)
                {
                    return retry(reason);
                }
                StepOutcome::Fail(format!("{} gave up: {reason}", kind.as_str()))
            }
            Err(Stop::Final(reason)) => {
                tracing::warn!(subscription_id = %id, kind = kind.as_str(), %reason, "failover step failed");
                StepOutcome::Fail(reason)
            }
        }
    }
}

fn flip(direction: Direction) -> Direction {
    match direction {
        Direction::PrimaryToRecovery => Direction::RecoveryToPrimary,
        Direction::RecoveryToPrimary => Direction::PrimaryToRecovery,
    }
}

/// The per-VM operations of `kind`, one stage each, in order.
fn vm_ops(kind: FailoverKind) -> Vec<VmOp> {
    match kind {
        FailoverKind::TestFailover => vec![VmOp::Test],
        FailoverKind::TestFailoverCleanup => vec![VmOp::TestCleanup],
        FailoverKind::PlannedFailover => vec![VmOp::Planned],
        FailoverKind::UnplannedFailover { point } => match point {
            RecoveryPointChoice::Latest => vec![VmOp::Unplanned],
            other => vec![VmOp::Unplanned, VmOp::ApplyPoint(other)],
        },
        FailoverKind::Commit => vec![VmOp::Commit],
        FailoverKind::Reprotect => vec![VmOp::Reprotect],
        FailoverKind::Failback => vec![VmOp::Planned, VmOp::Commit, VmOp::Reprotect],
    }
}

/// Checks the phase again, finds the direction (away from the active stamp) and the Protected
/// VMs, and fans out the per-VM stages.
async fn prepare(
    clients: &StampClients,
    ctx: &StepContext,
    dr: &crate::domain::DrSubscription,
    kind: FailoverKind,
) -> Result<StepOutcome, Stop> {
    let (source, target) = switch_target(
        dr.primary_stamp_id,
        dr.recovery_stamp_id,
        dr.active_stamp_id,
    )
    .map_err(Stop::Final)?;
    let on_recovery = Some(source) == dr.recovery_stamp_id;
    let state = ctx
        .store
        .get_failover(dr.subscription_id)
        .await?
        .unwrap_or_else(|| FailoverState::new(dr.subscription_id));
    if !state.phase.allows(kind, on_recovery) {
        return Err(Stop::Final(format!(
            "The subscription is {}; '{}' is not allowed now (allowed: {}).",
            state.phase.as_str(),
            kind.as_str(),
            state.phase.allowed(on_recovery).join(", ")
        )));
    }
    // Away from the active stamp; after a failover step of the same run (failback), the other
    // way.
    let mut direction = if on_recovery {
        Direction::RecoveryToPrimary
    } else {
        Direction::PrimaryToRecovery
    };
    let first_direction = direction;
    let vms: Vec<_> = ctx
        .store
        .list_protected_vms(dr.subscription_id)
        .await?
        .into_iter()
        .filter(|vm| vm.state == VmProtectionState::Protected)
        .collect();
    if vms.is_empty() {
        return Err(Stop::Final(
            "The subscription has no protected VMs to fail over.".into(),
        ));
    }
    if let FailoverKind::UnplannedFailover { point } = kind {
        if point != RecoveryPointChoice::Latest {
            check_points(clients, ctx, dr, &vms, point).await?;
        }
    }
    let mut next = Vec::new();
    for op in vm_ops(kind) {
        let this = direction;
        if matches!(op, VmOp::Planned | VmOp::Unplanned) {
            direction = flip(direction);
        }
        for chunk in vms.chunks(VMS_PER_STAGE) {
            next.push(
                chunk
                    .iter()
                    .map(|vm| {
                        StepSpec::new(format!("{} {}", op.as_str(), vm.name), "vm")
                            .with_input(op.input(vm.vm_id, &vm.name, this))
                            .at_least_once()
                    })
                    .collect(),
            );
        }
    }
    Ok(StepOutcome::DoneThen {
        output: json!({
            "sourceStampId": source.to_string(),
            "targetStampId": target.to_string(),
            "direction": direction_name(first_direction),
            "vms": vms.len(),
        }),
        next,
    })
}

impl Failover {
    /// Switches the stamp (failover, failback), records the new phase, and sums the run up.
    async fn finish(
        &self,
        ctx: &StepContext,
        id: SubscriptionId,
        kind: FailoverKind,
    ) -> Result<Value, Stop> {
        let outputs = ctx.earlier_outputs().await?;
        let mut pending = None;
        let mut active = None;
        if kind.switches_stamp() {
            let switched = switch_stamp(&self.clients, &ctx.store, id, kind, &outputs).await?;
            pending = switched.pending;
            active = Some(switched.active_stamp_id);
        }
        let state = record_phase(&ctx.store, id, kind, pending, active.is_some()).await?;
        let vms: Vec<Value> = outputs
            .iter()
            .filter(|(_, v)| v.get("operation").is_some())
            .map(|(_, v)| v.clone())
            .collect();
        let run = ctx.store.get_run(ctx.run_id).await?;
        // RTO: from the job's creation to the last VM seen running on the target.
        let rto = run
            .zip(last_running(&vms, kind))
            .map(|(run, last)| (last - run.created_at).as_seconds_f64().max(0.0));
        let dr = dr_record(&ctx.store, id).await?;
        Ok(json!({
            "kind": kind.as_str(),
            "phase": state.phase.as_str(),
            "activeStampId": dr.active_stamp_id.map(|s| s.to_string()),
            "mirror": dr.mirror.as_str(),
            "pending": state.pending,
            "vms": vms,
            "rtoSeconds": rto,
        }))
    }
}

/// Refuses an unplanned failover to a chosen point before any VM fails over when a VM has no
/// point that fits (a failover half done with no point to land on helps nobody).
async fn check_points(
    clients: &StampClients,
    ctx: &StepContext,
    dr: &crate::domain::DrSubscription,
    vms: &[crate::domain::ProtectedVm],
    point: RecoveryPointChoice,
) -> Result<(), Stop> {
    let engine = super::fabric_refs::engine(clients)?;
    let mut missing = Vec::new();
    for vm in vms {
        let item = super::failover_vm::item_of(clients, ctx, dr, vm.vm_id).await?;
        let points: Vec<_> = engine
            .recovery_points(&item)
            .await?
            .iter()
            .map(|p| (p.time, p.app_consistent))
            .collect();
        if point.pick(&points).is_none() {
            missing.push(format!("'{}'", vm.name));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Stop::Final(format!(
        "No VM was failed over: {} ha{} no recovery point matching '{}'; choose another point or 'latest'.",
        missing.join(", "),
        if missing.len() == 1 { "s" } else { "ve" },
        point.to_text()
    )))
}

/// When the last VM was seen running on the target, for kinds that start VMs there.
fn last_running(vms: &[Value], kind: FailoverKind) -> Option<time::OffsetDateTime> {
    let starts = match kind {
        FailoverKind::PlannedFailover | FailoverKind::Failback => "plannedFailover",
        FailoverKind::UnplannedFailover { .. } => "unplannedFailover",
        FailoverKind::TestFailover => "testFailover",
        _ => return None,
    };
    vms.iter()
        .filter(|v| v["operation"] == starts)
        .filter_map(|v| v["doneAt"].as_str())
        .filter_map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .max()
}

/// Records the phase `kind` leaves the subscription in (and pending work), retrying when the API
/// changed the record meanwhile; a switch that reached the source clears older pending notes.
async fn record_phase(
    store: &SharedStore,
    id: SubscriptionId,
    kind: FailoverKind,
    pending: Option<String>,
    switched: bool,
) -> Result<FailoverState, Stop> {
    for _ in 0..SAVE_ATTEMPTS {
        let mut state = store
            .get_failover(id)
            .await?
            .unwrap_or_else(|| FailoverState::new(id));
        let phase = FailoverPhase::after(kind);
        if switched && pending.is_none() {
            state.pending.clear();
        }
        if let Some(note) = &pending {
            if !state.pending.contains(note) {
                state.pending.push(note.clone());
            }
        }
        state.phase = phase;
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
