//! Starting a failover operation on one DR subscription, the one way every starter does it: the
//! admin and tenant APIs, a commit window or drill deadline that expires, and a site failover's
//! tiers. It checks the rules ([`FailoverState::check`]), claims the subscription's failover
//! record (optimistic version: of two starters racing, one wins and the other is refused with
//! the winner's job) and creates the `failover` run.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{
    CommitPolicy, DrPhase, FailoverKind, FailoverRefusal, FailoverState, RunningFailover,
    SiteVerdict, SubscriptionId, switch_target,
};
use crate::engine::{EngineError, Registry, StartRequest, plan_run};
use crate::store::{RunState, SharedStore, StoreError};

use super::failover::{FAILOVER, FailoverParams};

/// How often the claim is retried when the record changed between reading and saving it.
const SAVE_ATTEMPTS: usize = 5;

/// What to start, and on whose word.
#[derive(Debug, Clone)]
pub struct OperationRequest {
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// The operation.
    pub kind: FailoverKind,
    /// The recovery plan that orders it (`None`: the subscription's default plan).
    pub plan_id: Option<Uuid>,
    /// Whether the source stamp is fenced (an admin confirmed it is down, or the site
    /// heartbeat's verdict is Down); an unplanned failover needs it.
    pub source_fenced: bool,
    /// Why, in the starter's words.
    pub reason: Option<String>,
    /// Who starts it.
    pub requested_by: String,
    /// What starts it: `api`, `deadline`, `site`.
    pub trigger: String,
    /// A commit window for this failover instead of the subscription's setting.
    pub commit_policy: Option<CommitPolicy>,
    /// A drill cleanup time for this drill instead of the subscription's setting.
    pub cleanup_after_minutes: Option<u32>,
    /// The site failover job this operation is part of.
    pub site_job: Option<Uuid>,
}

/// Why an operation was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// DR is off or not ready for the subscription.
    #[error("{0}")]
    NotReady(String),
    /// The failover rules refuse it now.
    #[error("{0}")]
    Refused(FailoverRefusal),
    /// The recovery plan named is not one of the subscription's.
    #[error("Recovery plan {0} is not a plan of this subscription.")]
    UnknownPlan(Uuid),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine refused the run.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Checks the rules, claims the subscription's failover record and starts the `failover` run;
/// returns its job id.
pub async fn start_operation(
    store: &SharedStore,
    registry: &Registry,
    request: OperationRequest,
) -> Result<Uuid, StartError> {
    let id = request.subscription_id;
    let kind = request.kind;
    let dr = store
        .get_dr_subscription(id)
        .await?
        .filter(|dr| dr.phase != DrPhase::Disabled)
        .ok_or_else(|| {
            StartError::NotReady(format!(
                "Disaster recovery is not enabled for subscription {id}."
            ))
        })?;
    if dr.phase != DrPhase::Enabled {
        return Err(StartError::NotReady(format!(
            "Disaster recovery of subscription {id} is {}: failover needs it Enabled.",
            dr.phase.as_str()
        )));
    }
    let (source, _) = switch_target(
        dr.primary_stamp_id,
        dr.recovery_stamp_id,
        dr.active_stamp_id,
    )
    .map_err(StartError::NotReady)?;
    if let Some(plan) = request.plan_id {
        if store.get_recovery_plan(id, plan).await?.is_none() {
            return Err(StartError::UnknownPlan(plan));
        }
    }
    let on_recovery = Some(source) == dr.recovery_stamp_id;
    let record = store
        .get_failover(id)
        .await?
        .unwrap_or_else(|| FailoverState::new(id));
    let running = last_job_running(store, &record).await?;
    // Fenced: an operator confirmed the source is down, or the site heartbeat judged it Down.
    let judged_down = store
        .get_site_health(source)
        .await?
        .is_some_and(|health| health.verdict == SiteVerdict::Down);
    record
        .check(
            kind,
            running,
            on_recovery,
            request.source_fenced || judged_down,
        )
        .map_err(StartError::Refused)?;
    let reason = request.reason.clone().filter(|r| !r.trim().is_empty());
    let params = FailoverParams {
        subscription_id: id,
        kind,
        plan_id: request.plan_id,
        commit_policy: request.commit_policy,
        cleanup_after_minutes: request.cleanup_after_minutes,
        site_job: request.site_job,
    };
    let start = StartRequest {
        workflow: FAILOVER.into(),
        params: params.to_json(),
        trigger: request.trigger.clone(),
        started_by: request.requested_by.clone(),
        reason: Some(
            reason
                .clone()
                .unwrap_or_else(|| format!("{} requested", kind.as_str())),
        ),
        // One run per version of the record: of two requests racing on the same version, the
        // second finds the first's run and is refused.
        dedupe_key: Some(format!("{FAILOVER}:{id}:v{}", record.version)),
    };
    let mut run = plan_run(registry, start)?;
    run.parent_id = request.site_job;
    let created = store.create_run(&run).await?;
    if !created.created {
        return Err(StartError::Refused(FailoverRefusal::Running {
            kind: "failover".into(),
            job_id: created.id,
        }));
    }
    let started_at = store.database_now().await?;
    claim(
        store, record, kind, created.id, &request, reason, started_at,
    )
    .await?;
    tracing::info!(subscription_id = %id, kind = kind.as_str(), job_id = %created.id, by = %request.requested_by, "failover started");
    Ok(created.id)
}

/// Records the started job as the subscription's running operation (closing any open deadline:
/// an operator's own commit, rollback or cleanup replaces it).
async fn claim(
    store: &SharedStore,
    mut record: FailoverState,
    kind: FailoverKind,
    job_id: Uuid,
    request: &OperationRequest,
    reason: Option<String>,
    started_at: OffsetDateTime,
) -> Result<(), StoreError> {
    for _ in 0..SAVE_ATTEMPTS {
        record.running = Some(RunningFailover {
            kind: kind.as_str().into(),
            job_id,
            requested_by: request.requested_by.clone(),
            reason: reason.clone(),
            started_at,
        });
        record.deadline = None;
        match store.save_failover(&record).await {
            Ok(_) => return Ok(()),
            // The run's own steps wrote the record meanwhile: record the job on the new version.
            Err(StoreError::Conflict) => {
                record = store
                    .get_failover(record.subscription_id)
                    .await?
                    .unwrap_or_else(|| FailoverState::new(record.subscription_id));
            }
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Conflict)
}

/// Whether the job recorded as the subscription's last operation is still under way.
pub async fn last_job_running(
    store: &SharedStore,
    record: &FailoverState,
) -> Result<bool, StoreError> {
    let Some(running) = &record.running else {
        return Ok(false);
    };
    Ok(store.get_run(running.job_id).await?.is_some_and(|run| {
        !matches!(
            run.state,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        )
    }))
}
