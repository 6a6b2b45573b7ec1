//! Durable execution: workflow runs persisted as stages of steps, claimed by workers with leases,
//! retried with backoff, cancellable, able to wait for a time or an operator, and safe to resume
//! on any instance after a crash; plus the runbooks and their schedules.
//!
//! - [`Workflow`], [`StepSpec`], [`StepOutcome`], [`RetryPolicy`], [`Registry`]: what the DR
//!   workflows implement and register;
//! - [`StepContext`]: what a running step sees (idempotency key, parameters, stop signal, store);
//! - [`Engine`]: one instance's worker loop;
//! - [`runbooks`]: the runbook files, their store state, webhook tokens and cron schedules.
//!
//! The engine decides nothing from a worker's clock: leases, due steps and ticks are compared
//! with the database clock, so instances on one PostgreSQL agree. It never runs a step whose
//! lease it does not hold, and never records a result for a lease it lost.

mod context;
pub mod runbooks;
mod schedule;
mod worker;
mod workflow;

use serde_json::Value;
use uuid::Uuid;

pub use context::{StepContext, StopReason, idempotency_key};
pub use runbooks::{RunbookDefinition, RunbookView, Runbooks};
pub use schedule::Schedule;
pub use worker::{Engine, EngineSettings};
pub use workflow::{Registry, RetryPolicy, StepOutcome, StepSpec, Workflow};

use crate::clock::rfc3339;
use crate::store::{CreatedRun, NewRun, SharedStore, StoreError};

/// What can go wrong starting or scheduling work; each message is fit for an operator.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No workflow of that name in this build.
    #[error("workflow '{0}' is not available in this version")]
    UnknownWorkflow(String),
    /// The workflow refused the parameters.
    #[error("invalid parameters for workflow '{workflow}': {message}")]
    InvalidParameters {
        /// The workflow.
        workflow: String,
        /// What is wrong.
        message: String,
    },
    /// No runbook of that name.
    #[error("runbook '{0}' is not known")]
    UnknownRunbook(String),
    /// A cron expression that does not parse.
    #[error("invalid schedule '{expression}': {message}")]
    InvalidSchedule {
        /// The expression as given.
        expression: String,
        /// What is wrong.
        message: String,
    },
    /// A runbook file that cannot be loaded.
    #[error("runbook file {path}: {message}")]
    RunbookFile {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request to start a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    /// The workflow's registered name.
    pub workflow: String,
    /// Its parameters.
    pub params: Value,
    /// What starts it: `api`, `webhook`, `schedule`, `event`.
    pub trigger: String,
    /// Who starts it.
    pub started_by: String,
    /// Why.
    pub reason: Option<String>,
    /// The logical job's key: a second start with the same key creates nothing.
    pub dedupe_key: Option<String>,
}

/// The run a request would create, after the workflow checked its parameters.
pub fn plan_run(registry: &Registry, request: StartRequest) -> Result<NewRun, EngineError> {
    let workflow = registry
        .get(&request.workflow)
        .ok_or_else(|| EngineError::UnknownWorkflow(request.workflow.clone()))?;
    workflow
        .validate(&request.params)
        .map_err(|message| EngineError::InvalidParameters {
            workflow: request.workflow.clone(),
            message,
        })?;
    let stages = workflow
        .first_stages(&request.params)
        .iter()
        .map(|stage| stage.iter().map(StepSpec::to_new_step).collect())
        .collect();
    Ok(NewRun {
        id: Uuid::now_v7(),
        priority: workflow.priority(),
        subscription_id: workflow.subscription_of(&request.params),
        workflow: request.workflow,
        params: request.params,
        trigger: request.trigger,
        started_by: request.started_by,
        reason: request.reason,
        dedupe_key: request.dedupe_key,
        parent_id: None,
        stages,
    })
}

/// Validates and creates a run; an unknown workflow is refused with a clear error.
pub async fn start_run(
    store: &SharedStore,
    registry: &Registry,
    request: StartRequest,
) -> Result<CreatedRun, EngineError> {
    let run = plan_run(registry, request)?;
    Ok(store.create_run(&run).await?)
}

/// How often [`keep_statistics`] looks at the store's statistics: a large onboarding grows the
/// queue by thousands of runs a minute, and claims are planned from these statistics.
pub const STATISTICS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Has the store refresh its query planner's statistics at once and then every `interval`
/// (see [`Store::refresh_statistics`](crate::store::Store::refresh_statistics)) until
/// `shutdown`; a failure is logged and tried again at the next interval.
pub async fn keep_statistics(
    store: SharedStore,
    interval: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        match store.refresh_statistics().await {
            Ok(tables) if !tables.is_empty() => {
                tracing::debug!(?tables, "refreshed the query planner's statistics");
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "refreshing the query planner's statistics failed; will retry");
            }
        }
    }
}
