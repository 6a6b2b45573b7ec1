//! What the durable engine persists: workflow runs, their steps with leases, and runbook state.
//!
//! The types here are plain records; the engine (`crate::engine`) decides what they mean. Every
//! time compared for a lease, a due step or a schedule tick is the database's clock, so instances
//! whose clocks disagree still agree on who holds what. Every write a worker makes about a step it
//! claimed is fenced by [`Lease`] (owner and attempt): a worker that lost its lease cannot
//! overwrite the newer attempt's work.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;

/// Where a run or a step is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Created; nothing claimed yet.
    Pending,
    /// At least one step has been claimed.
    Running,
    /// Held by a step waiting for a manual acknowledgement.
    Waiting,
    /// Every step succeeded.
    Succeeded,
    /// A step failed permanently.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

/// Where one step is in its life (same names as [`RunState`]).
pub type StepState = RunState;

impl RunState {
    /// Every state, in order.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Running,
        Self::Waiting,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Waiting => "Waiting",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }

    /// The state a name denotes, without regard to case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether nothing more will happen (Succeeded, Failed, Cancelled).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// A run to create, with its first stages.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run's id (a UUIDv7, so ids sort by creation).
    pub id: Uuid,
    /// The workflow's registered name.
    pub workflow: String,
    /// How urgently its steps are claimed (the workflow's).
    pub priority: RunPriority,
    /// The parameters, as validated by the workflow.
    pub params: Value,
    /// What started it: `api`, `webhook`, `schedule`, `event`, ...
    pub trigger: String,
    /// Who started it (an admin user, a runbook, an instance).
    pub started_by: String,
    /// Why, in the starter's words.
    pub reason: Option<String>,
    /// The subscription it concerns, for filtering.
    pub subscription_id: Option<String>,
    /// A key naming the logical job: a second run with the same key is never created.
    pub dedupe_key: Option<String>,
    /// The run whose step started this one, if any.
    pub parent_id: Option<Uuid>,
    /// The stages known at the start, in order; each holds steps that may run in parallel.
    pub stages: Vec<Vec<NewStep>>,
}

/// How urgently a run's steps are claimed when more are ready than workers are free: a higher
/// priority first, then the oldest run first. Set by the workflow, stored with the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum RunPriority {
    /// Work in bulk that may wait: onboarding, per-VM reconciliation, teardown.
    Bulk,
    /// Housekeeping runbooks and anything not said otherwise.
    #[default]
    Normal,
    /// Recovery: failovers and what they schedule; never waits behind bulk work.
    Recovery,
    /// Watching the sites: the heartbeat whose verdict fences a stamp and triggers failover.
    Watch,
}

impl RunPriority {
    /// The stored value.
    pub fn as_i16(self) -> i16 {
        match self {
            Self::Bulk => -1,
            Self::Normal => 0,
            Self::Recovery => 1,
            Self::Watch => 2,
        }
    }
}

/// A step to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStep {
    /// The step's name, unique enough for an operator to recognise it.
    pub name: String,
    /// The step's kind, which chooses its retry policy.
    pub kind: String,
    /// The step's input.
    pub input: Value,
    /// Whether the step may take effect more than once (it must then be idempotent).
    pub at_least_once: bool,
    /// The shared resource the step uses, if its use is limited.
    pub slot: Option<Slot>,
}

/// A shared resource steps take a place in (the replication engine, say) and how many places it
/// has: a step of the slot that has not begun is claimed only while fewer than `limit` steps of
/// the slot have begun and not finished, across every run and instance. A step keeps its place
/// through retries and waits until it finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The resource's name (`replication-engine`).
    pub key: String,
    /// How many steps of the slot may be under way at once (at least 1).
    pub limit: u32,
}

/// The outcome of creating a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedRun {
    /// The run: the new one, or the one that already had the dedupe key.
    pub id: Uuid,
    /// False when a run with the same dedupe key existed and nothing was created.
    pub created: bool,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run's id.
    pub id: Uuid,
    /// The workflow's name.
    pub workflow: String,
    /// The parameters.
    pub params: Value,
    /// Where the run is.
    pub state: RunState,
    /// What started it.
    pub trigger: String,
    /// Who started it.
    pub started_by: String,
    /// Why.
    pub reason: Option<String>,
    /// The subscription it concerns.
    pub subscription_id: Option<String>,
    /// Why it failed or who cancelled it.
    pub error: Option<String>,
    /// The logical job's key, when it has one.
    pub dedupe_key: Option<String>,
    /// The run whose step started this one, if any.
    pub parent_id: Option<Uuid>,
    /// The stage whose steps may run now.
    pub current_stage: i64,
    /// When it was created (database clock).
    pub created_at: OffsetDateTime,
    /// When its first step was claimed.
    pub started_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    pub finished_at: Option<OffsetDateTime>,
}

/// A step as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// The run it belongs to.
    pub run_id: Uuid,
    /// Its id within the run (1, 2, ... in creation order).
    pub id: i64,
    /// Its stage (1, 2, ...).
    pub stage: i64,
    /// Its position within the stage.
    pub seq: i64,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its input.
    pub input: Value,
    /// Its output, once it succeeded.
    pub output: Option<Value>,
    /// Whether it may take effect more than once.
    pub at_least_once: bool,
    /// The slot it takes a place in, if any.
    pub slot: Option<String>,
    /// Where it is.
    pub state: StepState,
    /// How many times it was claimed; fences every write about it.
    pub attempt: i64,
    /// How many transient failures it had.
    pub retries: i64,
    /// The worker holding its lease.
    pub lease_owner: Option<String>,
    /// When that lease runs out (database clock).
    pub lease_expires_at: Option<OffsetDateTime>,
    /// It is not claimed before this time (a retry's backoff, a wait).
    pub not_before: Option<OffsetDateTime>,
    /// What it waits for while Waiting.
    pub wait: Option<WaitKind>,
    /// The last error.
    pub error: Option<String>,
    /// What an operator is asked to acknowledge.
    pub ack_prompt: Option<String>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// Their comment.
    pub ack_comment: Option<String>,
    /// When.
    pub acknowledged_at: Option<OffsetDateTime>,
    /// When it was first claimed.
    pub started_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    pub finished_at: Option<OffsetDateTime>,
}

/// What a waiting step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitKind {
    /// A time (`not_before`); it completes when claimed after it.
    Until,
    /// A manual acknowledgement.
    Ack,
}

impl WaitKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Until => "until",
            Self::Ack => "ack",
        }
    }
}

/// A worker's hold on a step: every write about the step names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run.
    pub run_id: Uuid,
    /// The step.
    pub step_id: i64,
    /// The worker (instance) holding it.
    pub owner: String,
    /// The attempt it was claimed for.
    pub attempt: i64,
}

/// A step a worker claimed, with what it needs to run it.
#[derive(Debug, Clone)]
pub struct ClaimedStep {
    /// The step as claimed (state Running, attempt incremented).
    pub step: StepRecord,
    /// The run's workflow.
    pub workflow: String,
    /// The run's parameters.
    pub params: Value,
    /// The lease to name in every write.
    pub lease: Lease,
    /// Whether the step was running under another attempt's lease that had expired (an
    /// instance died or stalled mid-step and this claim took the step over).
    pub taken_over: bool,
}

/// What a worker records when it lets go of a step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    /// Done; `append` stages run right after this step's stage, before stages planned earlier.
    Succeeded {
        /// The step's output.
        output: Value,
        /// Stages discovered at run time.
        append: Vec<Vec<NewStep>>,
    },
    /// A transient failure: claimable again after `delay`.
    Retry {
        /// What went wrong.
        error: String,
        /// The backoff.
        delay: Duration,
    },
    /// Waits until a database time, then completes.
    WaitUntil(OffsetDateTime),
    /// Waits for a manual acknowledgement.
    WaitForAck {
        /// What the operator is asked.
        prompt: String,
    },
    /// A permanent failure: the run fails with this error.
    Failed {
        /// Why.
        error: String,
    },
    /// Given back unfinished (graceful shutdown): claimable again at once.
    Released,
}

/// What a heartbeat learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseCheck {
    /// The lease is held and extended.
    Held,
    /// Another attempt owns the step now: drop the result.
    Lost,
    /// The run was cancelled: stop.
    Cancelled,
}

/// What recording a step's result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepRecorded {
    /// Nothing: the lease was lost or the run had ended.
    Dropped,
    /// Recorded; the run goes on.
    Recorded,
    /// Recorded, and the run ended with it (succeeded or failed).
    RunEnded,
}

/// What acknowledging a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The step succeeded and the run moves on (`run_ended`: it was the run's last step).
    Acknowledged {
        /// Whether the run ended with this step.
        run_ended: bool,
    },
    /// The step is not waiting for an acknowledgement; it is in this state.
    NotWaiting(StepState),
    /// No such run or step.
    NotFound,
}

/// What cancelling a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The run and its unfinished steps are cancelled.
    Cancelled,
    /// The run had already ended in this state.
    AlreadyFinal(RunState),
    /// No such run.
    NotFound,
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only in this state.
    pub state: Option<RunState>,
    /// Only of this workflow.
    pub workflow: Option<String>,
    /// Only about this subscription.
    pub subscription_id: Option<String>,
    /// Only runs started by this run's steps.
    pub parent_id: Option<Uuid>,
    /// Keyset paging: only runs older than this one.
    pub after: Option<Uuid>,
    /// At most this many (default 100, capped at 1000).
    pub limit: Option<u32>,
}

/// A runbook's stored state: the operator's overrides of its file, its token and its last tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookState {
    /// The runbook's name.
    pub name: String,
    /// Enabled or disabled by an operator; `None` keeps the file's default.
    pub enabled_override: Option<bool>,
    /// Schedule set by an operator; `None` keeps the file's, `Some(None)` means no schedule.
    pub schedule_override: Option<Option<String>>,
    /// The secret a webhook call must present.
    pub webhook_token: String,
    /// The latest schedule tick handled (initially when the runbook was first loaded).
    pub last_tick: Option<OffsetDateTime>,
}

/// The engine's persistence; every method is one transaction.
#[async_trait]
pub trait EngineStore: Send + Sync {
    /// The database clock.
    async fn database_now(&self) -> Result<OffsetDateTime, StoreError>;

    /// Creates a run and its stages, unless a run with the same dedupe key exists.
    async fn create_run(&self, run: &NewRun) -> Result<CreatedRun, StoreError>;

    /// Claims up to `max` claimable steps for `owner` for `lease`: pending steps of the current
    /// stage of live runs that are due, steps whose lease expired, waits whose time has come —
    /// only of runs of `workflows` (the ones the claiming instance can execute, so that during a
    /// rolling upgrade an older instance leaves a newer workflow's steps to the newer instances).
    async fn claim_steps(
        &self,
        owner: &str,
        lease: Duration,
        max: u32,
        workflows: &[&str],
    ) -> Result<Vec<ClaimedStep>, StoreError>;

    /// Extends a lease by `lease` from now, if it is still held.
    async fn heartbeat(&self, lease: &Lease, extend: Duration) -> Result<LeaseCheck, StoreError>;

    /// Records what became of a claimed step and moves the run on; `Dropped` (and no change)
    /// when the lease was lost or the run has ended.
    async fn finish_step(
        &self,
        lease: &Lease,
        result: &StepResult,
    ) -> Result<StepRecorded, StoreError>;

    /// Completes a step waiting for a manual acknowledgement, recording who and why.
    async fn acknowledge_step(
        &self,
        run_id: Uuid,
        step_id: i64,
        by: &str,
        comment: Option<&str>,
    ) -> Result<AckOutcome, StoreError>;

    /// Cancels a run that has not ended, with its unfinished steps.
    async fn cancel_run(&self, run_id: Uuid, by: &str) -> Result<CancelOutcome, StoreError>;

    /// One run.
    async fn get_run(&self, run_id: Uuid) -> Result<Option<RunRecord>, StoreError>;

    /// The steps of a run, by stage and position.
    async fn run_steps(&self, run_id: Uuid) -> Result<Vec<StepRecord>, StoreError>;

    /// Runs, newest first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;

    /// How many runs `parent`'s steps started are in each state (states with none left out).
    async fn child_run_states(&self, parent: Uuid) -> Result<Vec<(RunState, i64)>, StoreError>;

    /// The runbook's state, created with `webhook_token` and a last tick of now if it is new.
    async fn ensure_runbook(
        &self,
        name: &str,
        webhook_token: &str,
    ) -> Result<RunbookState, StoreError>;

    /// Every runbook's state, by name.
    async fn list_runbooks(&self) -> Result<Vec<RunbookState>, StoreError>;

    /// Sets what is `Some`; `None` if the runbook is unknown.
    async fn set_runbook_overrides(
        &self,
        name: &str,
        enabled: Option<bool>,
        schedule: Option<Option<&str>>,
    ) -> Result<Option<RunbookState>, StoreError>;

    /// Claims a schedule tick (compare-and-set on the runbook's last tick) and creates its run, if
    /// any, in the same transaction. `None` when another instance had already handled this tick or
    /// a later one; `Some(None)` when the tick was claimed with no run (a disabled runbook).
    async fn start_scheduled_run(
        &self,
        runbook: &str,
        tick: OffsetDateTime,
        run: Option<&NewRun>,
    ) -> Result<Option<Option<CreatedRun>>, StoreError>;
}
