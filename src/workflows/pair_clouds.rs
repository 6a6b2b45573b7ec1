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

use crate::domain::{CloudPair, InitialReplicationMethod, PairState, ReplicationPolicy, Stamp};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::replication::{
    Container, Ensured, InitialReplication, OperationState, PolicyRef, PolicySpec,
};
use crate::fabric::{FabricError, ReplicationEngine};

use super::StampClients;
use super::stamp_verify::{discover_spf_stamp, site_for};

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

/// Why a step cannot go on: worth another try later, or final.
enum Stop {
    Transient(String),
    Final(String),
}

impl From<FabricError> for Stop {
    fn from(err: FabricError) -> Self {
        if err.is_transient() {
            Self::Transient(err.to_string())
        } else {
            Self::Final(err.to_string())
        }
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(err: crate::store::StoreError) -> Self {
        Self::Transient(format!("the store failed: {err}"))
    }
}

fn pair_id(params: &Value) -> Result<Uuid, String> {
    params
        .get("pairId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| "pairId must be the GUID of a cloud pair".to_owned())
}

fn policy_spec(policy: &ReplicationPolicy) -> PolicySpec {
    PolicySpec {
        copy_frequency_seconds: policy.copy_frequency_seconds,
        recovery_points: policy.recovery_points,
        app_consistent_frequency_hours: policy.app_consistent_frequency_hours,
        compression: policy.compression,
        initial_replication: match policy.initial_replication {
            InitialReplicationMethod::OverNetwork => InitialReplication::OverNetwork,
            InitialReplicationMethod::Offline => InitialReplication::Offline,
        },
    }
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

/// The transient failures this step has had before this attempt (the engine's count).
async fn failures_so_far(ctx: &StepContext) -> u32 {
    match ctx.store.run_steps(ctx.run_id).await {
        Ok(steps) => steps
            .iter()
            .find(|s| s.id == ctx.step_id)
            .map_or(0, |s| u32::try_from(s.retries).unwrap_or(u32::MAX)),
        // Unknown: assume none, so a store hiccup never gives up early.
        Err(_) => 0,
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

fn retry(reason: String) -> StepOutcome {
    StepOutcome::RetryLater {
        reason,
        after: None,
    }
}

impl PairClouds {
    fn engine(&self) -> Result<Arc<dyn ReplicationEngine>, Stop> {
        self.clients.replication().ok_or_else(|| {
            Stop::Final(
                "No replication engine configured: add an [asr] section to wapdr's configuration."
                    .into(),
            )
        })
    }

    async fn policy_ref(&self, ctx: &StepContext, pair: &CloudPair) -> Result<PolicyRef, Stop> {
        let policy = ctx.store.get_policy(&pair.policy).await?.ok_or_else(|| {
            Stop::Final(format!(
                "Replication policy '{}' no longer exists.",
                pair.policy
            ))
        })?;
        Ok(self
            .engine()?
            .ensure_policy(&policy.name, &policy_spec(&policy))
            .await?)
    }

    /// Creates or updates the policy in the engine (by name: safe to repeat).
    async fn ensure_policy(&self, ctx: &StepContext, pair: &CloudPair) -> Result<Value, Stop> {
        let policy = self.policy_ref(ctx, pair).await?;
        Ok(json!({ "policyId": policy.id, "policyName": policy.name }))
    }

    /// The engine's container for a side's cloud, through the stamp's site.
    async fn container(
        &self,
        ctx: &StepContext,
        stamp_id: Uuid,
        cloud_id: Uuid,
    ) -> Result<Container, Stop> {
        let stamp: Stamp = ctx
            .store
            .get_stamp(stamp_id)
            .await?
            .ok_or_else(|| Stop::Final(format!("Stamp {stamp_id} no longer exists.")))?;
        let spf_stamp_id = match stamp.spf_stamp_id {
            Some(id) => id,
            None => {
                let spf = self.clients.spf(&stamp)?;
                let id = discover_spf_stamp(&spf, &stamp)
                    .await?
                    .map_err(Stop::Final)?;
                ctx.store.set_spf_stamp_id(stamp.id, id).await?;
                id
            }
        };
        let engine = self.engine()?;
        let sites = engine.sites().await?;
        let site = site_for(&sites, spf_stamp_id).ok_or_else(|| {
            Stop::Final(format!(
                "The vault has no site for stamp '{}' (VMM stamp {spf_stamp_id}): register its VMM server in the vault.",
                stamp.name
            ))
        })?;
        let wanted = cloud_id.to_string();
        engine
            .containers(&site.id)
            .await?
            .into_iter()
            .find(|c| c.id.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| {
                Stop::Final(format!(
                    "The vault has no cloud {cloud_id} on site '{}' of stamp '{}'.",
                    site.name, stamp.name
                ))
            })
    }

    /// Pairs the primary cloud's container with the recovery cloud's under the policy, waiting
    /// for the engine's operation; already paired is done.
    async fn ensure_pairing(&self, ctx: &StepContext, pair: &CloudPair) -> Result<Value, Stop> {
        let policy = self.policy_ref(ctx, pair).await?;
        let primary = self
            .container(ctx, pair.primary.stamp_id, pair.primary.cloud_id)
            .await?;
        let recovery = self
            .container(ctx, pair.recovery.stamp_id, pair.recovery.cloud_id)
            .await?;
        let engine = self.engine()?;
        match engine
            .ensure_container_pairing(&primary, &recovery, &policy)
            .await?
        {
            Ensured::AlreadyDone => Ok(json!({ "pairing": "already" })),
            Ensured::Started(operation) => {
                let status = engine.wait(&operation, PAIRING_WAIT).await?;
                match status.state {
                    OperationState::Succeeded => Ok(json!({ "pairing": operation.0 })),
                    OperationState::Failed { message } => Err(Stop::Final(format!(
                        "The replication engine could not pair the clouds: {message}"
                    ))),
                    OperationState::Cancelled => Err(Stop::Final(
                        "The replication engine's pairing operation was cancelled.".into(),
                    )),
                    OperationState::InProgress => Err(Stop::Transient(
                        "the replication engine is still pairing the clouds".into(),
                    )),
                }
            }
        }
    }
}
