//! ASR jobs: every long-running operation is a job with ordered tasks. Item operations wait
//! `NotStarted` for one of `concurrency` slots, run `operation_seconds` of lab time, then apply
//! their effect on the world (VMs started/stopped/created, states changed) at their end time.
//! [`settle`] replays that up to lab-now whenever the world is read, so nothing ticks.
//!
//! This file is the job model and its scheduling (slots, start checks, failures, plan jobs); what
//! each operation does to the world is in `job_effects`, its task sequence in `job_tasks`.
//!
//! Effects are applied exactly once, at the job's end; a job refused at submission has no effect.

use time::OffsetDateTime;
use uuid::Uuid;

use super::job_effects::{create_replica, finish_initial_replication, finish_slot};
use super::job_tasks::describe;
use super::model::Item;
use crate::lab::clock::after;
use crate::lab::knobs::Knobs;
use crate::lab::world::World;

pub use super::job_effects::map_networks;
pub use super::job_tasks::tasks_json;

/// What a job does.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Enable protection (then initial replication).
    Enable,
    /// Planned failover.
    PlannedFailover,
    /// Unplanned failover; `source_required` = `sourceSiteOperations: Required`.
    UnplannedFailover {
        /// Try to shut the source down first.
        source_required: bool,
    },
    /// Test failover into a network (or none).
    TestFailover {
        /// The VM network on the target stamp.
        network: Option<Uuid>,
    },
    /// Remove the test VM.
    TestFailoverCleanup,
    /// Commit the failover.
    Commit,
    /// Roll a failover back before commit.
    CancelFailover,
    /// Reverse replication.
    Reprotect,
    /// Apply another recovery point.
    ChangePit {
        /// The point's time.
        point: OffsetDateTime,
    },
    /// Disable protection.
    Disable,
    /// A recovery-plan operation: finishes when its child item jobs do.
    Plan,
    /// A configuration change (policy, mapping...): done at once.
    Configuration,
}

/// Job state as ASR names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a slot.
    NotStarted,
    /// Running.
    InProgress,
    /// Done.
    Succeeded,
    /// Failed (see errors).
    Failed,
}

impl JobState {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            JobState::NotStarted => "NotStarted",
            JobState::InProgress => "InProgress",
            JobState::Succeeded => "Succeeded",
            JobState::Failed => "Failed",
        }
    }

    /// Whether the job is over.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed)
    }
}

/// An ASR job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Id (= the LRO operation id).
    pub id: Uuid,
    /// What it does.
    pub op: Op,
    /// The item it acts on.
    pub item: Option<Uuid>,
    /// Child jobs (recovery-plan operations).
    pub children: Vec<Uuid>,
    /// `scenarioName`.
    pub scenario: &'static str,
    /// `friendlyName`.
    pub friendly: &'static str,
    /// `targetObjectId` / `targetObjectName` / `targetInstanceType`.
    pub target: (String, String, &'static str),
    /// ARM path of the resource the LRO's final GET returns (empty: none).
    pub resource_path: String,
    /// Submitted.
    pub queued_at: OffsetDateTime,
    /// Started.
    pub started_at: Option<OffsetDateTime>,
    /// The slot phase ends here.
    pub slot_end: Option<OffsetDateTime>,
    /// Initial replication ends here (enable only; no slot held).
    pub tail_end: Option<OffsetDateTime>,
    /// Ended.
    pub ended_at: Option<OffsetDateTime>,
    /// State.
    pub state: JobState,
    /// (code, message) errors.
    pub errors: Vec<(String, String)>,
    /// (taskId, name, friendlyName).
    pub tasks: Vec<(&'static str, &'static str, &'static str)>,
}

impl Job {
    /// A job that is done the moment it is submitted (configuration changes).
    pub fn immediate(
        id: Uuid,
        scenario: &'static str,
        friendly: &'static str,
        target: (String, String, &'static str),
        resource_path: String,
        now: OffsetDateTime,
    ) -> Job {
        Job {
            id,
            op: Op::Configuration,
            item: None,
            children: Vec::new(),
            scenario,
            friendly,
            target,
            resource_path,
            queued_at: now,
            started_at: Some(now),
            slot_end: None,
            tail_end: None,
            ended_at: Some(now),
            state: JobState::Succeeded,
            errors: Vec::new(),
            tasks: vec![("ConfigurationTask", "ConfigurationTask", "Apply the change")],
        }
    }

    /// An item operation waiting for a slot.
    pub fn for_item(
        id: Uuid,
        op: Op,
        item: &Item,
        resource_path: String,
        now: OffsetDateTime,
    ) -> Job {
        let (scenario, friendly, tasks) = describe(&op);
        Job {
            id,
            op,
            item: Some(item.name),
            children: Vec::new(),
            scenario,
            friendly,
            target: (
                item.name.to_string(),
                item.friendly_name.clone(),
                "ProtectionEntity",
            ),
            resource_path,
            queued_at: now,
            started_at: None,
            slot_end: None,
            tail_end: None,
            ended_at: None,
            state: JobState::NotStarted,
            errors: Vec::new(),
            tasks,
        }
    }

    /// When the job is expected to end (for `Retry-After`).
    pub fn expected_end(&self, operation_seconds: f64) -> OffsetDateTime {
        self.tail_end
            .or(self.slot_end)
            .or(self.ended_at)
            .unwrap_or_else(|| after(self.queued_at, operation_seconds))
    }
}

fn running_in_slot(job: &Job) -> bool {
    job.state == JobState::InProgress && job.slot_end.is_some() && job.tail_end.is_none()
}

/// Replays job progress up to `now`: finishes slot phases that ended, starts waiting jobs as
/// slots free (in submission order), completes initial replications and recovery-plan jobs.
pub fn settle(world: &mut World, now: OffsetDateTime, knobs: &Knobs) {
    let mut last_free: Option<OffsetDateTime> = None;
    loop {
        let running = world
            .vault
            .live_jobs()
            .filter(|j| running_in_slot(j))
            .count();
        if running < knobs.concurrency.max(1) {
            let next = world
                .vault
                .live_jobs()
                .filter(|j| j.state == JobState::NotStarted)
                .min_by_key(|j| (j.queued_at, j.id))
                .map(|j| (j.id, j.queued_at));
            if let Some((id, queued)) = next {
                let at = last_free.map_or(queued, |f| f.max(queued));
                if at <= now {
                    start(world, id, at, knobs);
                    continue;
                }
            }
        }
        let due = world
            .vault
            .live_jobs()
            .filter(|j| running_in_slot(j) && j.slot_end.is_some_and(|e| e <= now))
            .min_by_key(|j| (j.slot_end, j.id))
            .map(|j| (j.id, j.slot_end.expect("slot")));
        match due {
            Some((id, at)) => {
                finish_slot(world, id, at, knobs);
                last_free = Some(at);
            }
            None => break,
        }
    }
    let tails: Vec<(Uuid, OffsetDateTime)> = world
        .vault
        .live_jobs()
        .filter(|j| j.state == JobState::InProgress && j.tail_end.is_some_and(|t| t <= now))
        .map(|j| (j.id, j.tail_end.expect("tail")))
        .collect();
    for (id, at) in tails {
        finish_initial_replication(world, id, at);
    }
    let plans: Vec<Uuid> = world
        .vault
        .live_jobs()
        .filter(|j| j.op == Op::Plan && !j.state.is_terminal())
        .map(|j| j.id)
        .collect();
    for id in plans {
        let children: Vec<(JobState, Option<OffsetDateTime>)> = world.vault.jobs[&id]
            .children
            .iter()
            .filter_map(|c| world.vault.jobs.get(c).map(|j| (j.state, j.ended_at)))
            .collect();
        let job = world.vault.jobs.get_mut(&id).expect("plan job");
        if children.iter().any(|(s, _)| *s != JobState::NotStarted) {
            job.state = JobState::InProgress;
        }
        if children.iter().all(|(s, _)| s.is_terminal()) {
            job.ended_at = children.iter().filter_map(|(_, e)| *e).max().or(Some(now));
            job.state = if children.iter().all(|(s, _)| *s == JobState::Succeeded) {
                JobState::Succeeded
            } else {
                job.errors.push((
                    "RecoveryPlanItemFailed".into(),
                    "One or more protected items failed; see their jobs.".into(),
                ));
                JobState::Failed
            };
        }
    }
    world.vault.prune_live();
}

fn fail(world: &mut World, id: Uuid, at: OffsetDateTime, code: &str, message: String) {
    let job = world.vault.jobs.get_mut(&id).expect("job");
    job.state = JobState::Failed;
    job.ended_at = Some(at);
    job.slot_end = None;
    job.errors.push((code.to_owned(), message));
    if let Some(item) = job.item
        && let Some(item) = world.vault.items.get_mut(&item)
        && item.busy == Some(id)
    {
        item.busy = None;
    }
}

/// The stamps an operation needs reachable when it starts.
fn needed_stamps(op: &Op, item: &Item) -> Vec<usize> {
    match op {
        Op::Enable | Op::PlannedFailover | Op::Reprotect => {
            vec![item.active_side().stamp, item.passive_side().stamp]
        }
        Op::TestFailover { .. } | Op::TestFailoverCleanup | Op::UnplannedFailover { .. } => {
            vec![item.passive_side().stamp]
        }
        Op::Commit | Op::ChangePit { .. } => vec![item.active_side().stamp],
        // The side it goes back to first: an outage there is the one worth naming.
        Op::CancelFailover => vec![item.passive_side().stamp, item.active_side().stamp],
        Op::Disable | Op::Plan | Op::Configuration => Vec::new(),
    }
}

fn start(world: &mut World, id: Uuid, at: OffsetDateTime, knobs: &Knobs) {
    let (op, item) = {
        let job = &world.vault.jobs[&id];
        (job.op.clone(), job.item)
    };
    {
        let job = world.vault.jobs.get_mut(&id).expect("job");
        job.started_at = Some(at);
        job.state = JobState::InProgress;
        job.slot_end = Some(after(at, knobs.operation_seconds));
    }
    let Some(item) = item.and_then(|i| world.vault.items.get(&i).cloned()) else {
        return;
    };
    for stamp in needed_stamps(&op, &item) {
        if world.stamps[stamp].down_since.is_some() {
            let name = world.stamps[stamp].vmm_server.clone();
            // Only a failover can do without its source; advising one for a cancel would mislead.
            let advice = if op == Op::CancelFailover {
                "Retry once it is back; the failover stays as it is until then."
            } else {
                "Retry once it is back, or use an unplanned failover with sourceSiteOperations NotRequired."
            };
            fail(
                world,
                id,
                at,
                "SourceSiteUnreachable",
                format!(
                    "The VMM server '{name}' (stamp {}) is not reachable, and '{}' needs it. {advice}",
                    world.stamps[stamp].name, world.vault.jobs[&id].friendly
                ),
            );
            return;
        }
    }
    if op == Op::Enable {
        create_replica(world, &item, at);
    }
}
