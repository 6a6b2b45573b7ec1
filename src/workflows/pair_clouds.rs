//! `pair_clouds`: makes a stored cloud pair real in the replication engine, then marks it
//! `Paired` (or `Failed` with the engine's message).
//!
//! Three stages, each looking before it acts so a re-run after a crash is harmless: ensure the
//! policy in the engine (create or update by name), ensure the container pairing (start it if
//! missing and wait for the engine's operation), mark the pair paired. A transient failure
//! (unreachable, throttled, an operation in progress) is retried with the step's backoff and
//! noted on the pair; any other failure, or the last retry, marks the pair `Failed` and ends the
//! run, so a pair is never left `Pending` behind a run that ended.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::{CloudPair, PairState};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::replication::Ensured;

use super::{StampClients, Stop, fabric_refs, failures_so_far, retry};

/// The workflow's registered name.
pub const PAIR_CLOUDS: &str = "pair_clouds";

/// How long one attempt waits for the engine's pairing operation before trying again later.
const PAIRING_WAIT: Duration = Duration::from_secs(20);

/// The pairing workflow; its parameter is `{"pairId": "<guid>"}`.
pub struct PairClouds {
    clients: Arc<StampClients>,
    retry: RetryPolicy,
}

impl PairClouds {
    /// The workflow, reaching the fabric through `clients`; transient failures are retried for
    /// a few minutes (a vault or stamp outage), then the pair is marked Failed.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self {
            clients,
            retry: RetryPolicy {
                max_attempts: 8,
                initial_backoff: Duration::from_secs(2),
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

/// The parameters of a run for `pair_id`.
pub fn pair_clouds_params(pair_id: Uuid) -> Value {
    json!({ "pairId": pair_id.to_string() })
}

fn pair_id(params: &Value) -> Result<Uuid, String> {
    params
        .get("pairId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| "pairId must be the GUID of a cloud pair".to_owned())
}

#[async_trait]
impl Workflow for PairClouds {
    fn name(&self) -> &'static str {
        PAIR_CLOUDS
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        pair_id(params).map(|_| ())
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("ensure policy", "ensure_policy").at_least_once()],
            vec![StepSpec::new("ensure container pairing", "ensure_pairing").at_least_once()],
            vec![StepSpec::new("mark paired", "mark_paired").at_least_once()],
        ]
    }

    fn retry_policy(&self, _kind: &str) -> RetryPolicy {
        self.retry
    }

    fn subscription_of(&self, _params: &Value) -> Option<String> {
        None
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let id = match pair_id(&ctx.params) {
            Ok(id) => id,
            Err(message) => return StepOutcome::Fail(message),
        };
        let pair = match ctx.store.get_cloud_pair(id).await {
            Ok(Some(pair)) => pair,
            Ok(None) => return StepOutcome::Fail(format!("Cloud pair {id} no longer exists.")),
            Err(err) => return retry(format!("the store failed: {err}")),
        };
        let result = match step.kind.as_str() {
            "ensure_policy" => self.ensure_policy(ctx, &pair).await,
            "ensure_pairing" => self.ensure_pairing(ctx, &pair).await,
            "mark_paired" => ctx
                .store
                .set_pair_state(pair.id, PairState::Paired, None)
                .await
                .map(|_| json!({ "state": "Paired" }))
                .map_err(Stop::from),
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        };
        match result {
            Ok(output) => StepOutcome::Done(output),
            Err(Stop::Transient(reason)) => {
                let failures = failures_so_far(ctx).await.saturating_add(1);
                if self
                    .retry_policy(&step.kind)
                    .allows_another_attempt(failures)
                {
                    // The pair stays Pending; the provider sees why it is taking long.
                    let note = format!("Retrying: {reason}");
                    let _ = ctx
                        .store
                        .set_pair_state(pair.id, PairState::Pending, Some(&note))
                        .await;
                    return retry(reason);
                }
                // The engine would end the run here; the pair must not stay Pending behind it.
                self.fail(
                    ctx,
                    &pair,
                    format!("gave up after {failures} attempts: {reason}"),
                )
                .await
            }
            Err(Stop::Final(reason)) => self.fail(ctx, &pair, reason).await,
        }
    }
}

impl PairClouds {
    /// Marks the pair Failed with `reason` and ends the run with it.
    async fn fail(&self, ctx: &StepContext, pair: &CloudPair, reason: String) -> StepOutcome {
        if let Err(err) = ctx
            .store
            .set_pair_state(pair.id, PairState::Failed, Some(&reason))
            .await
        {
            return retry(format!("the store failed: {err}"));
        }
        tracing::warn!(pair = %pair.id, %reason, "cloud pairing failed");
        StepOutcome::Fail(reason)
    }
}

impl PairClouds {
    /// Creates or updates the pair's policy in the engine (by name: safe to repeat), at the
    /// policy's own frequency.
    async fn ensure_policy(&self, ctx: &StepContext, pair: &CloudPair) -> Result<Value, Stop> {
        let policy = fabric_refs::ensure_pair_policy(&self.clients, &ctx.store, pair, None).await?;
        Ok(json!({ "policyId": policy.id, "policyName": policy.name }))
    }

    /// Pairs the primary cloud's container with the recovery cloud's under the policy, waiting
    /// for the engine's operation; already paired is done.
    async fn ensure_pairing(&self, ctx: &StepContext, pair: &CloudPair) -> Result<Value, Stop> {
        let policy = fabric_refs::ensure_pair_policy(&self.clients, &ctx.store, pair, None).await?;
        match fabric_refs::ensure_pair_pairing(
            &self.clients,
            &ctx.store,
            pair,
            &policy,
            PAIRING_WAIT,
        )
        .await?
        {
            Ensured::AlreadyDone => Ok(json!({ "pairing": "already" })),
            Ensured::Started(operation) => Ok(json!({ "pairing": operation.0 })),
        }
    }
}
