//! `site_failover`: one failover operation on every DR subscription of a stamp — a whole site
//! (`{"stampId", "kind", "recoveryPoint", "sourceFenced", "reason"}`), started by the admin API
//! or by the site heartbeat when a stamp the provider opted in is Down.
//!
//! Stages: `select` finds the Enabled DR subscriptions the operation concerns on that stamp (a
//! drill, cleanup or failover: those active there; commit, rollback or reprotect: those that
//! moved away from it; failback: those whose primary it is, now on their recovery stamp), skips
//! the ones whose phase does not allow it (named in the output), and appends one pair of stages
//! per priority tier, first tier first: a `start` step per subscription, which starts its own
//! `failover` job (ordered by its default plan) as a child of this one through
//! [`start_operation`] — on the same rules as any other start — and a `wait` step until every
//! child has ended. A drill or planned site failover stops after a tier with failures; an
//! unplanned one goes on to the next tier. `finish` sums it up: children by result and the site's
//! recovery time (its creation to the last VM running in any child).
//!
//! Every child's VM steps share the replication engine's slot, so a site of thousands of VMs
//! runs exactly as many at once as the engine allows, tier after tier.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{
    DrPhase, DrSubscription, FailoverKind, FailoverRefusal, FailoverState, SubscriptionId,
};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::report::recovery_timing;
use crate::store::{DrFilter, RunFilter, RunPriority, RunState};

use super::failover::kind_of;
use super::failover_start::{OperationRequest, StartError, start_operation};
use super::{Stop, check_again, fabric_refs, retry};

/// The workflow's registered name.
pub const SITE_FAILOVER: &str = "site_failover";

/// How often a tier's wait looks at its children.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// The site failover workflow.
pub struct SiteFailover;

/// The parameters of a site operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteParams {
    /// The stamp (site) it concerns.
    pub stamp_id: Uuid,
    /// The operation on each subscription.
    pub kind: FailoverKind,
    /// Whether the stamp is fenced (an admin confirmed it is down, or the heartbeat's verdict).
    pub source_fenced: bool,
}

impl SiteParams {
    /// The run's parameters as stored.
    pub fn to_json(&self) -> Value {
        let point = match self.kind {
            FailoverKind::UnplannedFailover { point } => Some(point.to_text()),
            _ => None,
        };
        json!({
            "stampId": self.stamp_id.to_string(),
            "kind": self.kind.as_str(),
            "recoveryPoint": point,
            "sourceFenced": self.source_fenced,
        })
    }

    /// Reads a run's parameters.
    pub fn from_json(params: &Value) -> Result<Self, String> {
        let stamp_id = params
            .get("stampId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or("stampId must be the GUID of a stamp")?;
        Ok(Self {
            stamp_id,
            kind: kind_of(params)?,
            source_fenced: params
                .get("sourceFenced")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// Whether a site operation of `kind` on `stamp` concerns the DR subscription `dr`.
fn concerns(kind: FailoverKind, stamp: Uuid, dr: &DrSubscription) -> bool {
    let active = dr.active_stamp_id == Some(stamp);
    let involved = dr.primary_stamp_id == Some(stamp) || dr.recovery_stamp_id == Some(stamp);
    match kind {
        FailoverKind::TestFailover
        | FailoverKind::TestFailoverCleanup
        | FailoverKind::PlannedFailover
        | FailoverKind::UnplannedFailover { .. } => active,
        FailoverKind::Commit | FailoverKind::Rollback | FailoverKind::Reprotect => {
            involved && !active
        }
        FailoverKind::Failback => {
            dr.primary_stamp_id == Some(stamp) && dr.active_stamp_id == dr.recovery_stamp_id
        }
    }
}

#[async_trait]
impl Workflow for SiteFailover {
    fn name(&self) -> &'static str {
        SITE_FAILOVER
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Recovery
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        SiteParams::from_json(params).map(drop)
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("select subscriptions", "select").at_least_once()],
            vec![StepSpec::new("finish", "finish").at_least_once()],
        ]
    }

    fn subscription_of(&self, _params: &Value) -> Option<String> {
        None
    }

    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        if kind == "wait" {
            // A tier of thousands of VMs may take hours: its wait looks again and again.
            RetryPolicy {
                max_attempts: 1_000_000,
                initial_backoff: LOOK_AGAIN,
                max_backoff: Duration::from_secs(30),
                jitter: 0.2,
            }
        } else {
            RetryPolicy::default()
        }
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let params = match SiteParams::from_json(&ctx.params) {
            Ok(params) => params,
            Err(message) => return StepOutcome::Fail(message),
        };
        let result = match step.kind.as_str() {
            "select" => select(ctx, &params).await,
            "start" => start(ctx, &params, &step.input).await,
            "wait" => wait(ctx, &params, &step.input).await,
            "finish" => finish(ctx, &params).await,
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        };
        match result {
            Ok(outcome) => outcome,
            Err(Stop::Transient(reason)) => retry(reason),
            Err(Stop::Final(reason)) => StepOutcome::Fail(reason),
        }
    }
}

/// Finds the subscriptions concerned, skips those that cannot take the operation, and appends
/// one start stage and one wait stage per priority tier.
async fn select(ctx: &StepContext, params: &SiteParams) -> Result<StepOutcome, Stop> {
    let stamp = fabric_refs::stamp(&ctx.store, params.stamp_id).await?;
    let mut tiers: BTreeMap<u8, Vec<SubscriptionId>> = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut after = None;
    loop {
        let page = ctx
            .store
            .list_dr_subscriptions(&DrFilter {
                phase: Some(DrPhase::Enabled),
                stamp_id: Some(stamp.id),
                after,
                limit: Some(1000),
                ..DrFilter::default()
            })
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.subscription_id);
        let full = page.len() == 1000;
        for dr in page.iter().filter(|dr| concerns(params.kind, stamp.id, dr)) {
            let state = ctx
                .store
                .get_failover(dr.subscription_id)
                .await?
                .unwrap_or_else(|| FailoverState::new(dr.subscription_id));
            let on_recovery =
                dr.active_stamp_id.is_some() && dr.active_stamp_id == dr.recovery_stamp_id;
            if state.phase.allows(params.kind, on_recovery) {
                tiers
                    .entry(state.settings.priority)
                    .or_default()
                    .push(dr.subscription_id);
            } else {
                skipped.push(json!({
                    "subscriptionId": dr.subscription_id.to_string(),
                    "reason": format!(
                        "it is {}; allowed: {}",
                        state.phase.as_str(),
                        state.phase.allowed(on_recovery).join(", ")
                    ),
                }));
            }
        }
        if !full {
            break;
        }
    }
    let total: usize = tiers.values().map(Vec::len).sum();
    let output = json!({
        "stampId": stamp.id.to_string(),
        "stampName": stamp.name,
        "kind": params.kind.as_str(),
        "subscriptions": total,
        "tiers": tiers.iter().map(|(priority, subs)| json!({
            "priority": priority,
            "subscriptions": subs.len(),
        })).collect::<Vec<_>>(),
        "skipped": skipped,
    });
    if total == 0 {
        return Err(Stop::Final(format!(
            "No DR subscription on stamp '{}' can take '{}' now ({} skipped).",
            stamp.name,
            params.kind.as_str(),
            skipped.len()
        )));
    }
    let mut next = Vec::new();
    for (priority, subs) in &tiers {
        next.push(
            subs.iter()
                .map(|id| {
                    StepSpec::new(format!("tier {priority}: start {id}"), "start")
                        .with_input(
                            json!({ "subscriptionId": id.to_string(), "priority": priority }),
                        )
                        .at_least_once()
                })
                .collect(),
        );
        next.push(vec![
            StepSpec::new(format!("tier {priority}: wait"), "wait")
                .with_input(json!({ "priority": priority, "subscriptions": subs.len() }))
                .at_least_once(),
        ]);
    }
    Ok(StepOutcome::DoneThen { output, next })
}

/// Starts one subscription's failover as a child of this run (finding it again after a crash).
async fn start(ctx: &StepContext, params: &SiteParams, input: &Value) -> Result<StepOutcome, Stop> {
    let id = input
        .get("subscriptionId")
        .and_then(Value::as_str)
        .and_then(|s| SubscriptionId::parse(s).ok())
        .ok_or_else(|| Stop::Final("the step names no subscription".into()))?;
    // Run again after a crash that came after the start and before this step was recorded: the
    // job it started is a child of this run, maybe ended already (so the subscription's phase
    // no longer allows the operation) — it is the step's outcome, not a reason to skip.
    let started = ctx
        .store
        .list_runs(&RunFilter {
            parent_id: Some(ctx.run_id),
            subscription_id: Some(id.to_string()),
            limit: Some(1),
            ..RunFilter::default()
        })
        .await?;
    if let Some(job) = started.first() {
        return Ok(StepOutcome::Done(json!({
            "subscriptionId": id.to_string(),
            "jobId": job.id.to_string(),
        })));
    }
    let run = ctx
        .store
        .get_run(ctx.run_id)
        .await?
        .ok_or_else(|| Stop::Final("the site job is gone".into()))?;
    let request = OperationRequest {
        subscription_id: id,
        kind: params.kind,
        plan_id: None,
        source_fenced: params.source_fenced,
        reason: Some(format!(
            "site {} of stamp {} (job {}){}",
            params.kind.as_str(),
            params.stamp_id,
            ctx.run_id,
            run.reason.map(|r| format!(": {r}")).unwrap_or_default()
        )),
        requested_by: run.started_by,
        trigger: "site".into(),
        commit_policy: None,
        cleanup_after_minutes: None,
        site_job: Some(ctx.run_id),
    };
    let skipped = |reason: String| {
        Ok(StepOutcome::Done(json!({
            "subscriptionId": id.to_string(),
            "skipped": reason,
        })))
    };
    match start_operation(&ctx.store, &ctx.registry, request).await {
        Ok(job) => Ok(StepOutcome::Done(json!({
            "subscriptionId": id.to_string(),
            "jobId": job.to_string(),
        }))),
        Err(StartError::Refused(FailoverRefusal::Running { job_id, kind })) => {
            // This step may have started it before a crash: then it is ours.
            let ours = ctx
                .store
                .get_run(job_id)
                .await?
                .is_some_and(|r| r.parent_id == Some(ctx.run_id));
            if ours {
                return Ok(StepOutcome::Done(json!({
                    "subscriptionId": id.to_string(),
                    "jobId": job_id.to_string(),
                })));
            }
            skipped(format!("a '{kind}' operation is running (job {job_id})"))
        }
        Err(StartError::Store(err)) => Err(err.into()),
        Err(other) => skipped(other.to_string()),
    }
}

/// Waits until every child started so far has ended; then, for a drill or planned failover,
/// stops the site operation if any of them failed.
async fn wait(ctx: &StepContext, params: &SiteParams, input: &Value) -> Result<StepOutcome, Stop> {
    let states = ctx.store.child_run_states(ctx.run_id).await?;
    let count = |wanted: &[RunState]| -> i64 {
        states
            .iter()
            .filter(|(s, _)| wanted.contains(s))
            .map(|(_, n)| n)
            .sum()
    };
    let unfinished = count(&[RunState::Pending, RunState::Running, RunState::Waiting]);
    let priority = input["priority"].as_u64().unwrap_or_default();
    if unfinished > 0 {
        return Ok(check_again(
            format!("tier {priority}: {unfinished} failovers still running"),
            LOOK_AGAIN,
        ));
    }
    let failed = count(&[RunState::Failed, RunState::Cancelled]);
    if failed > 0 && !params.kind.keeps_going_past_failures() {
        return Err(Stop::Final(format!(
            "Tier {priority}: {failed} subscription failovers failed, so later tiers were not started; see the jobs with ?parent={}.",
            ctx.run_id
        )));
    }
    Ok(StepOutcome::Done(json!({
        "priority": priority,
        "ended": count(&[RunState::Succeeded, RunState::Failed, RunState::Cancelled]),
        "failedSoFar": failed,
    })))
}

/// Sums the site operation up: children by result, the subscriptions that failed, and the
/// recovery time from this job's creation to the last VM running in any child.
async fn finish(ctx: &StepContext, params: &SiteParams) -> Result<StepOutcome, Stop> {
    let run = ctx
        .store
        .get_run(ctx.run_id)
        .await?
        .ok_or_else(|| Stop::Final("the site job is gone".into()))?;
    let mut children = Vec::new();
    let mut after = None;
    loop {
        let page = ctx
            .store
            .list_runs(&RunFilter {
                parent_id: Some(ctx.run_id),
                after,
                limit: Some(1000),
                ..RunFilter::default()
            })
            .await?;
        let full = page.len() == 1000;
        after = page.last().map(|r| r.id);
        children.extend(page);
        if !full {
            break;
        }
    }
    let mut last_running = None;
    let mut failed = Vec::new();
    for child in &children {
        if child.state != RunState::Succeeded {
            failed.push(json!({
                "subscriptionId": child.subscription_id,
                "jobId": child.id.to_string(),
                "error": child.error,
            }));
        }
        let steps = ctx.store.run_steps(child.id).await?;
        if let Some(rto) = recovery_timing(child, &steps).rto_seconds {
            let running = child.created_at + Duration::from_secs_f64(rto);
            last_running = last_running.max(Some(running));
        }
    }
    let rto = last_running.map(|t| (t - run.created_at).as_seconds_f64().max(0.0));
    let succeeded = children.len() - failed.len();
    let output = json!({
        "kind": params.kind.as_str(),
        "stampId": params.stamp_id.to_string(),
        "subscriptions": children.len(),
        "succeeded": succeeded,
        "failed": failed,
        "rtoSeconds": rto,
    });
    if failed.is_empty() {
        Ok(StepOutcome::Done(output))
    } else {
        Ok(StepOutcome::Fail(format!(
            "{} of {} subscription failovers did not succeed; see the jobs with ?parent={}.",
            failed.len(),
            children.len(),
            ctx.run_id
        )))
    }
}

/// Why a site operation was not started.
#[derive(Debug, thiserror::Error)]
pub enum SiteStartError {
    /// No such stamp.
    #[error("Stamp {0} is not known.")]
    UnknownStamp(Uuid),
    /// An unplanned site failover of a stamp that is not fenced.
    #[error(
        "An unplanned site failover needs stamp '{0}' fenced: confirm with \"sourceDown\": true that it is down and will not run its VMs, or wait for the site heartbeat's verdict Down."
    )]
    NotFenced(String),
    /// Another site operation on the stamp is under way.
    #[error("A site '{kind}' of this stamp is already running (job {job_id}); wait for it to end.")]
    Running {
        /// Its operation.
        kind: String,
        /// Its job.
        job_id: Uuid,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The engine refused the run.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

/// Starts a site operation on stamp `stamp_id`: refused for an unknown stamp, for an unplanned
/// failover of a stamp neither confirmed down (`confirmed_down`) nor judged Down by the site
/// heartbeat, and while another site operation of the stamp runs. `dedupe_key` makes a repeated
/// start (the heartbeat's, for one outage) create nothing. Returns the job id.
#[allow(clippy::too_many_arguments)]
pub async fn start_site_operation(
    store: &crate::store::SharedStore,
    registry: &crate::engine::Registry,
    stamp_id: Uuid,
    kind: FailoverKind,
    confirmed_down: bool,
    reason: Option<String>,
    started_by: &str,
    trigger: &str,
    dedupe_key: Option<String>,
) -> Result<Uuid, SiteStartError> {
    let stamp = store
        .get_stamp(stamp_id)
        .await?
        .ok_or(SiteStartError::UnknownStamp(stamp_id))?;
    let judged_down = store
        .get_site_health(stamp_id)
        .await?
        .is_some_and(|h| h.verdict == crate::domain::SiteVerdict::Down);
    let fenced = confirmed_down || judged_down;
    if matches!(kind, FailoverKind::UnplannedFailover { .. }) && !fenced {
        return Err(SiteStartError::NotFenced(stamp.name));
    }
    for state in [RunState::Pending, RunState::Running, RunState::Waiting] {
        let running = store
            .list_runs(&RunFilter {
                state: Some(state),
                workflow: Some(SITE_FAILOVER.into()),
                limit: Some(1000),
                ..RunFilter::default()
            })
            .await?;
        if let Some(run) = running
            .iter()
            .find(|r| r.params["stampId"] == stamp_id.to_string())
        {
            if dedupe_key.is_some() && run.dedupe_key == dedupe_key {
                return Ok(run.id);
            }
            return Err(SiteStartError::Running {
                kind: run.params["kind"].as_str().unwrap_or_default().to_owned(),
                job_id: run.id,
            });
        }
    }
    let params = SiteParams {
        stamp_id,
        kind,
        source_fenced: fenced,
    };
    let created = crate::engine::start_run(
        store,
        registry,
        crate::engine::StartRequest {
            workflow: SITE_FAILOVER.into(),
            params: params.to_json(),
            trigger: trigger.into(),
            started_by: started_by.into(),
            reason: Some(
                reason
                    .unwrap_or_else(|| format!("site {} of stamp '{}'", kind.as_str(), stamp.name)),
            ),
            dedupe_key,
        },
    )
    .await?;
    tracing::info!(stamp = %stamp.name, kind = kind.as_str(), job_id = %created.id, by = %started_by, "site operation started");
    Ok(created.id)
}
