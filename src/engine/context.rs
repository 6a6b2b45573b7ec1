//! What a step sees while it runs: who it is, its stable idempotency key, the run's parameters,
//! earlier outputs, the store, and a signal that says stop (run cancelled or lease lost).
//!
//! The worker heartbeats for the step while it runs; a step never extends its own lease.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use super::{Registry, Runbooks};
use crate::store::{SharedStore, StepState, StoreError};

/// Why a step is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// An operator cancelled the run.
    Cancelled,
    /// Another worker took the step over; this attempt's result will be dropped.
    LeaseLost,
    /// The instance is shutting down.
    ShuttingDown,
}

/// The context of one attempt at one step.
pub struct StepContext {
    /// The run.
    pub run_id: Uuid,
    /// The step, within the run.
    pub step_id: i64,
    /// This attempt's number (1 for the first claim; a takeover or retry raises it).
    pub attempt: i64,
    /// The run's parameters.
    pub params: Value,
    /// The store, for steps that record their own state.
    pub store: SharedStore,
    /// The workflows this instance knows, for steps that start other runs.
    pub registry: Arc<Registry>,
    /// The loaded runbooks, for steps that start one (`None` where the instance loaded none).
    pub runbooks: Option<Arc<Runbooks>>,
    pub(super) stop: watch::Receiver<Option<StopReason>>,
}

impl StepContext {
    /// A key that is the same for every attempt at this step, across retries and crashes: hand it
    /// to external calls so they apply once.
    pub fn idempotency_key(&self) -> String {
        idempotency_key(self.run_id, self.step_id)
    }

    /// Why the step should stop, if it should.
    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stop.borrow()
    }

    /// Resolves when the step should stop (the reason), for use in `select!`.
    pub async fn stopped(&self) -> StopReason {
        let mut stop = self.stop.clone();
        loop {
            if let Some(reason) = *stop.borrow_and_update() {
                return reason;
            }
            if stop.changed().await.is_err() {
                // The worker is gone; nobody will take this attempt's result.
                return StopReason::ShuttingDown;
            }
        }
    }

    /// The outputs of the run's succeeded steps, by step name.
    pub async fn earlier_outputs(&self) -> Result<BTreeMap<String, Value>, StoreError> {
        Ok(self
            .store
            .run_steps(self.run_id)
            .await?
            .into_iter()
            .filter(|s| s.state == StepState::Succeeded)
            .filter_map(|s| s.output.map(|o| (s.name, o)))
            .collect())
    }
}

/// The idempotency key of a step: `"{run_id}:{step_id}"`.
pub fn idempotency_key(run_id: Uuid, step_id: i64) -> String {
    format!("{run_id}:{step_id}")
}
