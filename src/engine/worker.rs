//! The worker: claims steps with leases, runs them, heartbeats while they run, records what
//! became of them, and gives its leases back on a graceful shutdown.
//!
//! Several workers (instances) may share one database; the store's claim makes sure a step is
//! held by one of them at a time and its fencing drops the result of a worker that lost its
//! lease. The worker sleeps through the [`Clock`](crate::clock::Clock) and never compares its own
//! time with a lease: the database does that.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument as _, debug, info, info_span, warn};

use super::context::{StepContext, StopReason};
use super::runbooks::Runbooks;
use super::workflow::{Registry, StepOutcome, StepSpec};
use crate::clock::{self, SharedClock};
use crate::metrics;
use crate::store::{ClaimedStep, LeaseCheck, SharedStore, StepRecorded, StepResult, WaitKind};

/// How a worker paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// Steps run at once by this instance.
    pub concurrency: usize,
    /// How long a claim holds a step without a heartbeat; heartbeats come every third of it.
    pub lease: Duration,
    /// How long an idle worker sleeps before looking for work again.
    pub poll_interval: Duration,
    /// On shutdown, how long running steps may take to finish before their leases are given back.
    pub shutdown_grace: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// One instance's worker.
pub struct Engine {
    store: SharedStore,
    registry: Arc<Registry>,
    instance_id: String,
    settings: EngineSettings,
    clock: SharedClock,
    runbooks: Option<Arc<Runbooks>>,
}

/// How many times a worker tries to record a step's result through transient store errors.
const RECORD_ATTEMPTS: u32 = 5;

/// Heartbeats in a row that may fail before the worker gives the step up: with a beat every
/// third of the lease, the second failure comes about when the lease runs out. Without this a
/// step whose heartbeats fail runs on unfenced, and one that never ends holds a place of this
/// worker's concurrency for good — enough of them and the worker stops claiming.
const UNRENEWED_BEATS: u32 = 2;

impl Engine {
    /// A worker for `instance_id` (unique per process) with default settings and the system clock.
    pub fn new(
        store: SharedStore,
        registry: Arc<Registry>,
        instance_id: impl Into<String>,
    ) -> Self {
        Self {
            store,
            registry,
            instance_id: instance_id.into(),
            settings: EngineSettings::default(),
            clock: clock::system(),
            runbooks: None,
        }
    }

    /// The same worker, letting steps start the loaded `runbooks` (recovery-plan actions).
    pub fn with_runbooks(mut self, runbooks: Arc<Runbooks>) -> Self {
        self.runbooks = Some(runbooks);
        self
    }

    /// The same worker with `settings`.
    pub fn with_settings(mut self, settings: EngineSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The same worker sleeping through `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The owner name this worker's leases carry.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Claims and runs steps until `shutdown` resolves, then stops claiming, lets running steps
    /// finish within the grace period and gives back the leases of those that do not.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let this = Arc::new(self);
        let (stopping, _) = watch::channel(false);
        let mut running = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let free = this.settings.concurrency.saturating_sub(running.len());
            let mut claimed = 0;
            if free > 0 {
                let max = u32::try_from(free).unwrap_or(u32::MAX);
                let known = this.registry.names();
                match this
                    .store
                    .claim_steps(&this.instance_id, this.settings.lease, max, &known)
                    .await
                {
                    Ok(steps) => {
                        claimed = steps.len();
                        for step in steps {
                            if step.taken_over {
                                metrics::lease_taken_over();
                                info!(job_id = %step.lease.run_id, step_id = step.step.id, "took over a step whose lease expired");
                            }
                            let worker = Arc::clone(&this);
                            let stop = stopping.subscribe();
                            running.spawn(async move { worker.execute(step, stop).await });
                        }
                    }
                    Err(err) => warn!(error = %err, "claiming steps failed; will retry"),
                }
            }
            if claimed > 0 && claimed == free {
                // Every free slot found work: there may be more. Look again unless told to stop.
                if (&mut shutdown).now_or_never().is_some() {
                    break;
                }
                continue;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                () = this.clock.sleep(this.settings.poll_interval) => {}
            }
        }
        let _ = stopping.send(true);
        while running.join_next().await.is_some() {}
    }

    /// Runs one claimed step to an outcome and records it.
    async fn execute(self: Arc<Self>, claimed: ClaimedStep, stopping: watch::Receiver<bool>) {
        let span = info_span!(
            "step",
            job_id = %claimed.lease.run_id,
            step_id = claimed.step.id,
            step = %claimed.step.name,
            attempt = claimed.lease.attempt
        );
        async move {
            let Some(result) = self.outcome_of(&claimed, stopping).await else {
                return;
            };
            self.record(&claimed, &result).await;
        }
        .instrument(span)
        .await;
    }

    /// What to record for a claimed step, or `None` when this attempt's result must be dropped.
    async fn outcome_of(
        &self,
        claimed: &ClaimedStep,
        mut stopping: watch::Receiver<bool>,
    ) -> Option<StepResult> {
        let Some(workflow) = self.registry.get(&claimed.workflow) else {
            return Some(StepResult::Failed {
                error: format!(
                    "workflow '{}' is not available in this version",
                    claimed.workflow
                ),
            });
        };
        if claimed.step.wait == Some(WaitKind::Until) {
            // Claimed after its time: the wait is over.
            return Some(StepResult::Succeeded {
                output: claimed.step.output.clone().unwrap_or_default(),
                append: Vec::new(),
            });
        }
        let spec = StepSpec {
            name: claimed.step.name.clone(),
            kind: claimed.step.kind.clone(),
            input: claimed.step.input.clone(),
            at_least_once: claimed.step.at_least_once,
            // The place in its slot was taken when the step was claimed; running it needs none.
            slot: None,
        };
        let (stop, stop_signal) = watch::channel(None);
        let ctx = StepContext {
            run_id: claimed.lease.run_id,
            step_id: claimed.step.id,
            attempt: claimed.lease.attempt,
            params: claimed.params.clone(),
            store: self.store.clone(),
            registry: self.registry.clone(),
            runbooks: self.runbooks.clone(),
            stop: stop_signal,
        };
        let mut step =
            std::pin::pin!(AssertUnwindSafe(workflow.run_step(&ctx, &spec)).catch_unwind());
        let clock = self.clock.clone();
        let grace = self.settings.shutdown_grace;
        let mut shutdown_deadline = std::pin::pin!(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
            clock.sleep(grace).await;
        });
        let beat = self.settings.lease / 3;
        // After a cancel or a lost lease the step gets one more beat to notice and stop cleanly;
        // then it is dropped. A lost lease's result is never recorded.
        let mut told_to_stop: Option<StopReason> = None;
        // Heartbeats in a row that did not renew the lease.
        let mut unrenewed = 0;
        let outcome = loop {
            tokio::select! {
                out = &mut step => {
                    if told_to_stop == Some(StopReason::LeaseLost) {
                        return None;
                    }
                    break out.unwrap_or_else(|_| StepOutcome::RetryLater {
                        reason: "the step panicked".into(),
                        after: None,
                    });
                }
                () = self.clock.sleep(beat) => {
                    if told_to_stop.is_some() {
                        debug!(reason = ?told_to_stop, "the step did not stop; dropping this attempt");
                        return None;
                    }
                    // A heartbeat that hangs (a write lock held elsewhere, a store that
                    // stopped answering) counts as failed once the next beat is due.
                    let check = tokio::select! {
                        check = self.store.heartbeat(&claimed.lease, self.settings.lease) => check.map_err(|e| e.to_string()),
                        () = self.clock.sleep(beat) => Err("no answer within a heartbeat interval".to_owned()),
                    };
                    match check {
                        Ok(LeaseCheck::Held) => unrenewed = 0,
                        Ok(LeaseCheck::Lost) => {
                            debug!("lease lost to another worker; this attempt's result will be dropped");
                            told_to_stop = Some(StopReason::LeaseLost);
                            let _ = stop.send(told_to_stop);
                        }
                        Ok(LeaseCheck::Cancelled) => {
                            told_to_stop = Some(StopReason::Cancelled);
                            let _ = stop.send(told_to_stop);
                        }
                        Err(err) if unrenewed + 1 < UNRENEWED_BEATS => {
                            unrenewed += 1;
                            warn!(error = %err, "heartbeat failed; will retry");
                        }
                        Err(err) => {
                            // The lease has run out or is about to: another worker may take
                            // the step. Stop it and free this worker's place rather than run
                            // on unfenced (its result would be dropped anyway).
                            warn!(error = %err, "the lease could not be renewed; giving this attempt up");
                            told_to_stop = Some(StopReason::LeaseLost);
                            let _ = stop.send(told_to_stop);
                        }
                    }
                }
                () = &mut shutdown_deadline => {
                    let _ = stop.send(Some(StopReason::ShuttingDown));
                    return Some(StepResult::Released);
                }
            }
        };
        Some(self.result_of(claimed, &*workflow, outcome))
    }

    /// The record of a step's outcome, applying the kind's retry policy.
    fn result_of(
        &self,
        claimed: &ClaimedStep,
        workflow: &dyn super::Workflow,
        outcome: StepOutcome,
    ) -> StepResult {
        match outcome {
            StepOutcome::Done(output) => StepResult::Succeeded {
                output,
                append: Vec::new(),
            },
            StepOutcome::DoneThen { output, next } => StepResult::Succeeded {
                output,
                append: next
                    .iter()
                    .map(|stage| stage.iter().map(StepSpec::to_new_step).collect())
                    .collect(),
            },
            StepOutcome::RetryLater { reason, after } => {
                let failures = u32::try_from(claimed.step.retries + 1).unwrap_or(u32::MAX);
                let policy = workflow.retry_policy(&claimed.step.kind);
                if policy.allows_another_attempt(failures) {
                    StepResult::Retry {
                        error: reason,
                        delay: after.unwrap_or_else(|| policy.backoff(failures)),
                    }
                } else {
                    StepResult::Failed {
                        error: format!("gave up after {failures} attempts: {reason}"),
                    }
                }
            }
            StepOutcome::WaitUntil(at) => StepResult::WaitUntil(at),
            StepOutcome::WaitForAck { prompt } => StepResult::WaitForAck { prompt },
            StepOutcome::Fail(error) => StepResult::Failed { error },
        }
    }

    /// Records a result, retrying through transient store errors; a lost lease drops it.
    async fn record(&self, claimed: &ClaimedStep, result: &StepResult) {
        for attempt in 1..=RECORD_ATTEMPTS {
            match self.store.finish_step(&claimed.lease, result).await {
                Ok(StepRecorded::Recorded) => return,
                Ok(StepRecorded::RunEnded) => {
                    match self.store.get_run(claimed.lease.run_id).await {
                        Ok(Some(run)) => metrics::job_ended(&run),
                        Ok(None) => {}
                        Err(err) => {
                            warn!(error = %err, "reading the ended job for its metrics failed")
                        }
                    }
                    return;
                }
                Ok(StepRecorded::Dropped) => {
                    debug!("the lease was lost or the run ended; result dropped");
                    return;
                }
                Err(err) if attempt < RECORD_ATTEMPTS => {
                    warn!(error = %err, "recording a step failed; retrying");
                    self.clock
                        .sleep(Duration::from_millis(100 * u64::from(attempt)))
                        .await;
                }
                Err(err) => {
                    warn!(error = %err, "recording a step failed; its lease will expire and it will run again");
                }
            }
        }
    }
}
