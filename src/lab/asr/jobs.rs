//! ASR jobs: every long-running operation is a job with ordered tasks. Item operations wait
//! `NotStarted` for one of `concurrency` slots, run `operation_seconds` of lab time, then apply
//! their effect on the world (VMs started/stopped/created, states changed) at their end time.
//! [`settle`] replays that up to lab-now whenever the world is read, so nothing ticks.
//!
//! Effects are applied exactly once, at the job's end; a job refused at submission has no effect.

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Item, Location, ProtectionState};
use crate::lab::clock::after;
use crate::lab::knobs::Knobs;
use crate::lab::world::{Power, Vm, World};

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

type Task = (&'static str, &'static str, &'static str);

fn describe(op: &Op) -> (&'static str, &'static str, Vec<Task>) {
    match op {
        Op::Enable => (
            "EnableDr",
            "Enable protection",
            vec![
                (
                    "EnableProtectionPrerequisitesCheck",
                    "EnableProtectionPrerequisitesCheck",
                    "Prerequisites check",
                ),
                (
                    "CreateProtectionTargetTask",
                    "CreateProtectionTarget",
                    "Identify the replication target",
                ),
                (
                    "EnableReplicationTask",
                    "EnableReplication",
                    "Enable replication",
                ),
                (
                    "StartInitialReplicationTask",
                    "StartInitialReplication",
                    "Start the initial replication",
                ),
                (
                    "FinalizeProtectionTask",
                    "FinalizeProtection",
                    "Finalize protection on the virtual machine",
                ),
            ],
        ),
        Op::PlannedFailover => (
            "PlannedFailover",
            "Planned failover",
            vec![
                (
                    "PlannedFailoverPreflightChecksTask",
                    "VmPfoPrerequisitesCheck",
                    "Prerequisites check for planned failover",
                ),
                (
                    "ShutdownVmOnPrimary",
                    "VmShutdownVmOnPrimary",
                    "Shut down the virtual machine",
                ),
                (
                    "PrepareForFailoverTask",
                    "VmPrepareForFailover",
                    "Prepare for planned failover",
                ),
                ("FailoverTask", "VmFailover", "Start failover"),
                (
                    "StartVmOnSecondary",
                    "VmFoStartVmOnSecondary",
                    "Start the replica virtual machine",
                ),
            ],
        ),
        Op::UnplannedFailover { .. } => (
            "UnplannedFailover",
            "Unplanned failover",
            vec![
                (
                    "UnplannedFailoverPreflightChecksTask",
                    "VmUfoPrerequisitesCheck",
                    "Prerequisites check for failover",
                ),
                (
                    "ShutdownVmOnPrimary",
                    "VmShutdownVmOnPrimary",
                    "Shut down the virtual machine (if the source is reachable)",
                ),
                ("FailoverTask", "VmFailover", "Start failover"),
                (
                    "StartVmOnSecondary",
                    "VmFoStartVmOnSecondary",
                    "Start the replica virtual machine",
                ),
            ],
        ),
        Op::TestFailover { .. } => (
            "TestFailover",
            "Test failover",
            vec![
                (
                    "TestFailoverPrerequisitesCheck",
                    "VmTfoPrerequisitesCheck",
                    "Prerequisites check for test failover",
                ),
                (
                    "TestFailoverNetworkTask",
                    "VmTfoNetworkCreation",
                    "Prepare the test network",
                ),
                (
                    "TestFailoverInitiateTask",
                    "VmTfoInitiateFailover",
                    "Create the test virtual machine",
                ),
                (
                    "TestFailoverAttachNetworkTask",
                    "VmTfoAttachNetwork",
                    "Attach the test network",
                ),
                (
                    "TestFailoverBootTask",
                    "VmTfoBootTestVm",
                    "Start the test virtual machine",
                ),
            ],
        ),
        Op::TestFailoverCleanup => (
            "TestFailoverCleanup",
            "Cleanup test failover",
            vec![
                (
                    "TestFailoverDeleteVmTask",
                    "VmTfoDeleteTestVm",
                    "Delete the test virtual machine",
                ),
                (
                    "TestFailoverFinalizeTask",
                    "VmTfoFinalizeStatus",
                    "Finalize the test failover",
                ),
            ],
        ),
        Op::Commit => (
            "CommitFailover",
            "Commit",
            vec![(
                "CommitFailoverTask",
                "VmCommitFailover",
                "Commit the failover",
            )],
        ),
        Op::Reprotect => (
            "ReverseReplication",
            "Reverse replicate",
            vec![
                (
                    "ReverseReplicationPrerequisitesCheck",
                    "VmRrPrerequisitesCheck",
                    "Prerequisites check",
                ),
                (
                    "ReverseReplicationTask",
                    "VmReverseReplication",
                    "Start reverse replication",
                ),
            ],
        ),
        Op::ChangePit { .. } => (
            "ChangePit",
            "Change recovery point",
            vec![(
                "ApplyRecoveryPointTask",
                "VmApplyRecoveryPoint",
                "Apply the recovery point",
            )],
        ),
        Op::Disable => (
            "DisableDr",
            "Disable protection",
            vec![(
                "DisableProtectionTask",
                "VmDisableProtection",
                "Disable protection on the virtual machine",
            )],
        ),
        Op::Plan | Op::Configuration => (
            "RecoveryPlanOperation",
            "Recovery plan operation",
            Vec::new(),
        ),
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
            .jobs
            .values()
            .filter(|j| running_in_slot(j))
            .count();
        if running < knobs.concurrency.max(1) {
            let next = world
                .vault
                .jobs
                .values()
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
            .jobs
            .values()
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
        .jobs
        .values()
        .filter(|j| j.state == JobState::InProgress && j.tail_end.is_some_and(|t| t <= now))
        .map(|j| (j.id, j.tail_end.expect("tail")))
        .collect();
    for (id, at) in tails {
        finish_initial_replication(world, id, at);
    }
    let plans: Vec<Uuid> = world
        .vault
        .jobs
        .values()
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
            fail(
                world,
                id,
                at,
                "SourceSiteUnreachable",
                format!(
                    "The VMM server '{name}' (stamp {}) is not reachable, and '{}' needs it. Retry once it is back, or use an unplanned failover with sourceSiteOperations NotRequired.",
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

fn create_replica(world: &mut World, item: &Item, at: OffsetDateTime) {
    let Some(primary) = world.stamps[item.primary.stamp]
        .vms
        .get(&item.primary.vm)
        .cloned()
    else {
        return;
    };
    let networks = map_networks(
        world,
        item.primary.stamp,
        item.recovery.stamp,
        &primary.vm_network_ids,
    );
    world.stamps[item.recovery.stamp].vms.insert(
        item.recovery.vm,
        Vm {
            id: item.recovery.vm,
            name: primary.name.clone(),
            vm_id: primary.vm_id,
            cloud_id: Some(item.recovery.cloud),
            owner: None,
            power: Power::Stopped,
            creating_until: None,
            cpu_count: primary.cpu_count,
            memory_mb: primary.memory_mb,
            total_size: primary.total_size,
            tag: primary.tag.clone(),
            description: primary.description.clone(),
            is_recovery_vm: true,
            vm_network_ids: networks,
            added: at,
            modified: at,
        },
    );
}

/// The VM networks on `to` that network mappings pair with `networks` on `from`.
pub fn map_networks(world: &World, from: usize, to: usize, networks: &[Uuid]) -> Vec<Uuid> {
    networks
        .iter()
        .filter_map(|n| {
            world.vault.network_mappings.iter().find_map(|m| {
                if m.primary == (from, *n) && m.recovery.0 == to {
                    Some(m.recovery.1)
                } else if m.recovery == (from, *n) && m.primary.0 == to {
                    Some(m.primary.1)
                } else {
                    None
                }
            })
        })
        .collect()
}

fn set_power(world: &mut World, stamp: usize, vm: Uuid, power: Power, at: OffsetDateTime) {
    if let Some(vm) = world.stamps[stamp].vms.get_mut(&vm) {
        vm.power = power;
        vm.modified = at;
    }
}

fn finish_slot(world: &mut World, id: Uuid, at: OffsetDateTime, knobs: &Knobs) {
    let (op, item_name) = {
        let job = &world.vault.jobs[&id];
        (job.op.clone(), job.item)
    };
    let Some(mut item) = item_name.and_then(|i| world.vault.items.get(&i).cloned()) else {
        let job = world.vault.jobs.get_mut(&id).expect("job");
        job.state = JobState::Succeeded;
        job.ended_at = Some(at);
        return;
    };
    let mut done = true;
    match op {
        Op::Enable => {
            let size = world.stamps[item.primary.stamp]
                .vms
                .get(&item.primary.vm)
                .map_or(0, |v| v.total_size);
            let seconds = size as f64 / knobs.initial_replication_bytes_per_second;
            let end = after(at, seconds);
            item.initial_replication = Some((at, end));
            world.vault.jobs.get_mut(&id).expect("job").tail_end = Some(end);
            done = false;
        }
        Op::PlannedFailover => {
            let (source, target) = (item.active_side(), item.passive_side());
            set_power(world, source.stamp, source.vm, Power::Stopped, at);
            item.final_point = Some(at);
            item.stopped_at = Some(at);
            start_target(world, &item, target, at);
            item.active = flip(item.active);
            item.state = ProtectionState::PlannedFailedOver;
            item.last_failover = Some(at);
        }
        Op::UnplannedFailover { source_required } => {
            let (source, target) = (item.active_side(), item.passive_side());
            let source_up = world.stamps[source.stamp].down_since.is_none();
            if source_required && source_up {
                set_power(world, source.stamp, source.vm, Power::Stopped, at);
                item.final_point = Some(at);
            }
            item.stopped_at = Some(at);
            start_target(world, &item, target, at);
            item.active = flip(item.active);
            item.state = ProtectionState::UnplannedFailedOver;
            item.last_failover = Some(at);
        }
        Op::TestFailover { network } => {
            let target = item.passive_side();
            let test_id = world.new_id();
            let replica = world.stamps[target.stamp].vms.get(&target.vm).cloned();
            if let Some(replica) = replica {
                world.stamps[target.stamp].vms.insert(
                    test_id,
                    Vm {
                        id: test_id,
                        name: format!("{}-test", replica.name),
                        cloud_id: None,
                        owner: None,
                        power: Power::Running,
                        creating_until: None,
                        is_recovery_vm: true,
                        vm_network_ids: network.into_iter().collect(),
                        added: at,
                        modified: at,
                        ..replica
                    },
                );
                item.test_vm = Some((target.stamp, test_id));
            }
            item.last_test_failover = Some(at);
        }
        Op::TestFailoverCleanup => {
            if let Some((stamp, vm)) = item.test_vm.take() {
                world.stamps[stamp].vms.remove(&vm);
            }
        }
        Op::Commit => {
            item.state = ProtectionState::Committed;
            item.archived.clear();
        }
        Op::Reprotect => {
            // The running side becomes the source; the other side is the replica again.
            let passive = item.passive_side();
            set_power(world, passive.stamp, passive.vm, Power::Stopped, at);
            item.state = ProtectionState::Protected;
            item.anchor = at;
            item.stopped_at = None;
            item.final_point = None;
            item.applied_point = None;
            item.archived.clear();
        }
        Op::ChangePit { point } => item.applied_point = Some(point),
        Op::Disable => {
            if let Some((stamp, vm)) = item.test_vm.take() {
                world.stamps[stamp].vms.remove(&vm);
            }
            if matches!(
                item.state,
                ProtectionState::Enabling | ProtectionState::Protected
            ) && item.active == Location::Primary
            {
                world.stamps[item.recovery.stamp]
                    .vms
                    .remove(&item.recovery.vm);
            }
            world.vault.items.remove(&item.name);
            let job = world.vault.jobs.get_mut(&id).expect("job");
            job.state = JobState::Succeeded;
            job.ended_at = Some(at);
            return;
        }
        Op::Plan | Op::Configuration => {}
    }
    if item.busy == Some(id) {
        item.busy = None;
    }
    world.vault.items.insert(item.name, item);
    if done {
        let job = world.vault.jobs.get_mut(&id).expect("job");
        job.state = JobState::Succeeded;
        job.ended_at = Some(at);
    }
}

fn flip(location: Location) -> Location {
    match location {
        Location::Primary => Location::Recovery,
        Location::Recovery => Location::Primary,
    }
}

fn start_target(world: &mut World, item: &Item, target: super::model::Side, at: OffsetDateTime) {
    let source = item.active_side();
    let networks = world.stamps[source.stamp]
        .vms
        .get(&source.vm)
        .map(|v| v.vm_network_ids.clone())
        .unwrap_or_default();
    let mapped = map_networks(world, source.stamp, target.stamp, &networks);
    if let Some(vm) = world.stamps[target.stamp].vms.get_mut(&target.vm) {
        vm.power = Power::Running;
        vm.modified = at;
        if !mapped.is_empty() {
            vm.vm_network_ids = mapped;
        }
    }
}

fn finish_initial_replication(world: &mut World, id: Uuid, at: OffsetDateTime) {
    let item = world.vault.jobs[&id].item;
    if let Some(item) = item.and_then(|i| world.vault.items.get_mut(&i))
        && item.state == ProtectionState::Enabling
    {
        item.state = ProtectionState::Protected;
        item.anchor = at;
    }
    let job = world.vault.jobs.get_mut(&id).expect("job");
    job.state = JobState::Succeeded;
    job.ended_at = Some(at);
}

/// The job's task list with states derived from progress at `now`.
pub fn tasks_json(
    job: &Job,
    now: OffsetDateTime,
    format: &dyn Fn(OffsetDateTime) -> String,
) -> Vec<Value> {
    let n = job.tasks.len().max(1) as f64;
    let progress = match (job.state, job.started_at, job.slot_end) {
        (JobState::Succeeded, ..) => 1.0,
        (JobState::InProgress, Some(start), Some(end)) if job.tail_end.is_none() && end > start => {
            ((now - start) / (end - start)).clamp(0.0, 1.0)
        }
        // Enable: the slot phase is done, the last task (finalize) waits for initial replication.
        (JobState::InProgress, _, _) if job.tail_end.is_some() => (n - 1.0) / n,
        _ => 0.0,
    };
    job.tasks
        .iter()
        .enumerate()
        .map(|(i, (task_id, name, friendly))| {
            let (lo, hi) = (i as f64 / n, (i + 1) as f64 / n);
            let state = if job.state == JobState::Failed {
                if i == 0 { "Failed" } else { "Skipped" }
            } else if progress >= hi {
                "Succeeded"
            } else if progress >= lo && job.state == JobState::InProgress {
                "InProgress"
            } else {
                "NotStarted"
            };
            let start = job.started_at.filter(|_| state != "NotStarted" && state != "Skipped");
            let errors: Vec<Value> = if job.state == JobState::Failed && i == 0 {
                job.errors.iter().map(|(c, m)| json!({"serviceErrorDetails": {"code": c, "message": m}})).collect()
            } else {
                Vec::new()
            };
            json!({
                "taskId": task_id, "name": name, "friendlyName": friendly, "state": state,
                "stateDescription": state, "taskType": "TaskDetails", "allowedActions": [],
                "startTime": start.map_or("0001-01-01T00:00:00".to_owned(), format),
                "endTime": if state == "Succeeded" || state == "Failed" { job.ended_at.or(job.slot_end).map_or("0001-01-01T00:00:00".to_owned(), format) } else { "0001-01-01T00:00:00".to_owned() },
                "errors": errors,
            })
        })
        .collect()
}
