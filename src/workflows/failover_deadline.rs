//! `failover_deadline`: the timer behind a commit window or a drill's automatic cleanup
//! (`{"subscriptionId", "openedBy": <the failover or drill job>}`), started by the `failover`
//! workflow's `finish` step when it opens a [`Deadline`](crate::domain::Deadline).
//!
//! Stages: `wait` (until the deadline, by the database clock; it survives restarts as a waiting
//! step), then `expire`: if the subscription's record still holds the same deadline — no
//! operator committed, rolled back or cleaned up since — it starts the deadline's operation
//! through [`start_operation`](super::start_operation), on the same rules as an operator's
//! request; otherwise it does nothing and says why. A phase that no longer takes the action
//! closes the deadline; anything else that stops it (DR being updated, an unreachable store) is
//! tried again later, backing off, so an expired window is never forgotten.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{Deadline, FailoverRefusal, SubscriptionId};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::store::RunPriority;
use crate::store::StoreError;

use super::failover_start::{OperationRequest, StartError, start_operation};
use super::reconcile_vm::subscription_id_of;
use super::{Stop, retry};

/// The workflow's registered name.
pub const FAILOVER_DEADLINE: &str = "failover_deadline";

/// The deadline timer workflow.
pub struct FailoverDeadline;

/// The parameters of the timer of the deadline opened by job `opened_by`.
pub fn deadline_params(subscription: SubscriptionId, opened_by: Uuid) -> Value {
    json!({ "subscriptionId": subscription.to_string(), "openedBy": opened_by.to_string() })
}

fn opened_by(params: &Value) -> Result<Uuid, String> {
    params
        .get("openedBy")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| "openedBy must be the GUID of the job that opened the deadline".into())
}

/// The subscription's open deadline when it is still the one `job` opened.
async fn still_open(
    ctx: &StepContext,
    id: SubscriptionId,
    job: Uuid,
) -> Result<Option<Deadline>, Stop> {
    Ok(ctx
        .store
        .get_failover(id)
        .await?
        .and_then(|state| state.deadline)
        .filter(|d| d.opened_by == job))
}

#[async_trait]
impl Workflow for FailoverDeadline {
    fn name(&self) -> &'static str {
        FAILOVER_DEADLINE
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Recovery
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        subscription_id_of(params)?;
        opened_by(params).map(drop)
    }

    fn retry_policy(&self, _kind: &str) -> RetryPolicy {
        // A deadline must act however long the subscription stays busy: keep trying, backing
        // off to five minutes, for days.
        RetryPolicy {
            max_attempts: 10_000,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            jitter: 0.2,
        }
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("wait for the deadline", "wait").at_least_once()],
            vec![StepSpec::new("act on the deadline", "expire").at_least_once()],
        ]
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let (id, job) = match (subscription_id_of(&ctx.params), opened_by(&ctx.params)) {
            (Ok(id), Ok(job)) => (id, job),
            (Err(message), _) | (_, Err(message)) => return StepOutcome::Fail(message),
        };
        let result = match step.kind.as_str() {
            "wait" => wait(ctx, id, job).await,
            "expire" => expire(ctx, id, job).await,
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        };
        match result {
            Ok(outcome) => outcome,
            Err(Stop::Transient(reason)) => retry(reason),
            Err(Stop::Final(reason)) => StepOutcome::Fail(reason),
        }
    }
}

/// Waits until the deadline (at once when it is closed or past).
async fn wait(ctx: &StepContext, id: SubscriptionId, job: Uuid) -> Result<StepOutcome, Stop> {
    Ok(match still_open(ctx, id, job).await? {
        Some(deadline) => StepOutcome::WaitUntil(deadline.at),
        None => StepOutcome::Done(json!({ "closed": "before it was due" })),
    })
}

/// Starts the deadline's operation if nobody acted first.
async fn expire(ctx: &StepContext, id: SubscriptionId, job: Uuid) -> Result<StepOutcome, Stop> {
    let Some(deadline) = still_open(ctx, id, job).await? else {
        return Ok(StepOutcome::Done(json!({
            "skipped": "an operator acted on the subscription before the deadline",
        })));
    };
    let now = ctx.store.database_now().await?;
    if now < deadline.at {
        // Woken early: look again at the deadline (a wait would end the step without acting).
        let left = (deadline.at - now).try_into().unwrap_or_default();
        return Ok(super::check_again(
            "the deadline is not due yet".into(),
            left,
        ));
    }
    let request = OperationRequest {
        subscription_id: id,
        kind: deadline.action.kind(),
        plan_id: None,
        source_fenced: false,
        reason: Some(format!(
            "the deadline set by job {job} expired: {}",
            deadline.action.as_str()
        )),
        requested_by: "wapdr".into(),
        trigger: "deadline".into(),
        commit_policy: None,
        cleanup_after_minutes: None,
        site_job: None,
    };
    match start_operation(&ctx.store, &ctx.registry, request).await {
        Ok(started) => Ok(StepOutcome::Done(json!({
            "started": deadline.action.as_str(),
            "jobId": started.to_string(),
        }))),
        Err(StartError::Refused(refusal @ FailoverRefusal::NotAllowed { .. })) => {
            // The subscription moved on (its phase no longer takes the action): the deadline is
            // moot, so it is closed rather than shown as pending forever.
            close(ctx, id, job).await?;
            Ok(StepOutcome::Done(json!({ "skipped": refusal.to_string() })))
        }
        // Anything else (DR being updated, the store, the engine) passes: try again later.
        Err(other) => Err(Stop::Transient(format!(
            "the deadline's {} could not start yet: {other}",
            deadline.action.as_str()
        ))),
    }
}

/// Clears the deadline `job` opened, if it is still the subscription's.
async fn close(ctx: &StepContext, id: SubscriptionId, job: Uuid) -> Result<(), Stop> {
    for _ in 0..5 {
        let Some(mut state) = ctx.store.get_failover(id).await? else {
            return Ok(());
        };
        if state.deadline.is_none_or(|d| d.opened_by != job) {
            return Ok(());
        }
        state.deadline = None;
        match ctx.store.save_failover(&state).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(Stop::Transient(format!(
        "the failover record of subscription {id} kept changing"
    )))
}
