//! What a workflow is to the engine: a name, a parameter check, a plan of stages, and a way to
//! run one step. The DR workflows implement [`Workflow`]; the engine never knows what a step does.
//!
//! A run has ordered stages; the steps of a stage may run in parallel on any instance; the next
//! stage starts when every step of the current one succeeded. A step may append stages it
//! discovers (fan-out). Every step must be safe to run again after a crash: look before acting,
//! and hand [`StepContext::idempotency_key`](super::StepContext::idempotency_key) to external calls.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;

use super::StepContext;
use crate::store::{NewStep, RunPriority, Slot};

/// A durable workflow the engine runs step by step.
#[async_trait]
pub trait Workflow: Send + Sync + 'static {
    /// The registered name runbooks and runs refer to (`protect_new_vms`).
    fn name(&self) -> &'static str;

    /// Checks the parameters before a run is created; the message says what is wrong.
    fn validate(&self, params: &Value) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// The stages known at the start; each stage's steps may run in parallel.
    fn first_stages(&self, params: &Value) -> Vec<Vec<StepSpec>>;

    /// How urgently its runs' steps are claimed when more are ready than workers are free.
    fn priority(&self) -> RunPriority {
        RunPriority::Normal
    }

    /// The retry policy of a step kind.
    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        let _ = kind;
        RetryPolicy::default()
    }

    /// The subscription a run concerns, for filtering jobs (default: `params.subscriptionId`).
    fn subscription_of(&self, params: &Value) -> Option<String> {
        params
            .get("subscriptionId")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// Runs one step. It may be called again for the same step after a crash or a lost lease, so
    /// it looks before it acts.
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome;
}

/// One step of a run, as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpec {
    /// The step's name, for operators (`protect vm-42`).
    pub name: String,
    /// The step's kind, which chooses its retry policy (`protect_vm`).
    pub kind: String,
    /// What the step works on.
    pub input: Value,
    /// Whether the step may take effect more than once (it must then be idempotent).
    pub at_least_once: bool,
    /// The shared resource it takes a place in, if its use is limited.
    pub slot: Option<Slot>,
}

impl StepSpec {
    /// A step with no input that must take effect once.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            input: Value::Null,
            at_least_once: false,
            slot: None,
        }
    }

    /// The same step with `input`.
    pub fn with_input(mut self, input: Value) -> Self {
        self.input = input;
        self
    }

    /// The same step, declared safe to take effect more than once.
    pub fn at_least_once(mut self) -> Self {
        self.at_least_once = true;
        self
    }

    /// The same step, taking one of `limit` places in the shared resource `key` while it is
    /// under way (from its first claim until it finishes).
    pub fn in_slot(mut self, key: impl Into<String>, limit: u32) -> Self {
        self.slot = Some(Slot {
            key: key.into(),
            limit: limit.max(1),
        });
        self
    }

    pub(super) fn to_new_step(&self) -> NewStep {
        NewStep {
            name: self.name.clone(),
            kind: self.kind.clone(),
            input: self.input.clone(),
            at_least_once: self.at_least_once,
            slot: self.slot.clone(),
        }
    }
}

/// What became of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Done, with an output later steps can read.
    Done(Value),
    /// Done; `next` stages (discovered now) run right after this step's stage.
    DoneThen {
        /// The step's output.
        output: Value,
        /// Stages to insert after this step's stage.
        next: Vec<Vec<StepSpec>>,
    },
    /// A transient failure: try again after `after` (or the kind's backoff) until the policy's
    /// attempts are spent, then the run fails.
    RetryLater {
        /// What went wrong.
        reason: String,
        /// When to try again; the policy's backoff when `None`.
        after: Option<Duration>,
    },
    /// Wait until this time (by the database clock), then the step completes.
    WaitUntil(OffsetDateTime),
    /// Wait for an operator's acknowledgement (admin API), then the step completes.
    WaitForAck {
        /// What the operator is asked to confirm.
        prompt: String,
    },
    /// A permanent failure: the run ends Failed with this message.
    Fail(String),
}

/// How a step kind retries transient failures: exponential backoff with jitter, capped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; the run fails when they are spent.
    pub max_attempts: u32,
    /// The delay before the first retry.
    pub initial_backoff: Duration,
    /// The longest delay.
    pub max_backoff: Duration,
    /// Each delay is up to this fraction shorter, at random, so instances do not retry in step.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        let full = self
            .initial_backoff
            .saturating_mul(1_u32 << doublings)
            .min(self.max_backoff);
        let cut = self.jitter.clamp(0.0, 1.0) * fastrand::f64();
        full.mul_f64(1.0 - cut)
    }

    /// Whether a step that has failed `failures` times may be tried again.
    pub fn allows_another_attempt(&self, failures: u32) -> bool {
        failures < self.max_attempts
    }
}

/// The workflows this build knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    workflows: BTreeMap<&'static str, Arc<dyn Workflow>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry with `workflow` added (replacing one of the same name).
    pub fn with(mut self, workflow: impl Workflow) -> Self {
        self.register(Arc::new(workflow));
        self
    }

    /// Adds a workflow (replacing one of the same name).
    pub fn register(&mut self, workflow: Arc<dyn Workflow>) {
        self.workflows.insert(workflow.name(), workflow);
    }

    /// The workflow registered under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Workflow>> {
        self.workflows.get(name).cloned()
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.workflows.keys().copied().collect()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.workflows.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_only_shortens() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            jitter: 0.0,
        };
        let delays: Vec<u64> = (1..=6).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        let jittered = RetryPolicy {
            jitter: 0.5,
            ..policy
        };
        for _ in 0..100 {
            let d = jittered.backoff(3);
            assert!(
                d <= Duration::from_secs(4) && d >= Duration::from_secs(2),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_policy_allows_attempts_until_they_are_spent() {
        let policy = RetryPolicy::default();
        assert!(policy.allows_another_attempt(4));
        assert!(!policy.allows_another_attempt(5));
    }
}
