//! The vault's model: replication policies, container mappings, replication protected items with
//! the state → allowed-operations table of asr-model §2.2, recovery points and replication health
//! computed from timestamps, recovery plans and network mappings.
//!
//! This module holds rules and state only; it never answers HTTP and never sleeps.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::jobs::Job;
use super::outstanding::OutstandingGauge;
use crate::lab::world::World;

/// The one vault.
#[derive(Debug, Default)]
pub struct Vault {
    /// Policies by lower-cased name.
    pub policies: BTreeMap<String, Policy>,
    /// Container mappings (cloud pairings).
    pub mappings: Vec<ContainerMapping>,
    /// Protected items by name (the primary VM's SPF id).
    pub items: BTreeMap<Uuid, Item>,
    /// Jobs by id. Add them with [`Vault::insert_job`], which keeps `live` up to date.
    pub jobs: BTreeMap<Uuid, Job>,
    /// The jobs that had not ended when last looked at: what `jobs::settle` and the outstanding
    /// count read, so a vault holding tens of thousands of ended jobs does not walk them on every
    /// request. A superset: ended jobs leave it when `settle` next prunes it.
    pub live: BTreeSet<Uuid>,
    /// Recovery plans by lower-cased name.
    pub plans: BTreeMap<String, RecoveryPlan>,
    /// Network mappings.
    pub network_mappings: Vec<NetworkMapping>,
    /// Item operations outstanding: the peak since the last reset.
    pub outstanding: OutstandingGauge,
}

/// A Hyper-V Replica policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// Copy frequency in seconds (30/300/900).
    pub frequency: i64,
    /// Additional (hourly) recovery points kept.
    pub recovery_points: i64,
    /// Application-consistent snapshot frequency in hours (0 = none).
    pub app_consistent_hours: i64,
    /// The `providerSpecificInput` as posted (idempotent re-submission compares it).
    pub input: Value,
}

/// A container mapping: primary cloud → recovery cloud with a policy.
#[derive(Debug, Clone)]
pub struct ContainerMapping {
    /// Name.
    pub name: String,
    /// Primary stamp and cloud.
    pub primary: (usize, Uuid),
    /// Recovery stamp and cloud.
    pub recovery: (usize, Uuid),
    /// Policy name.
    pub policy: String,
    /// The body's properties as posted.
    pub input: Value,
}

/// A network mapping: a VM network on one stamp → one on another.
#[derive(Debug, Clone)]
pub struct NetworkMapping {
    /// Name.
    pub name: String,
    /// Primary stamp and VM network.
    pub primary: (usize, Uuid),
    /// Recovery stamp and VM network.
    pub recovery: (usize, Uuid),
    /// The body's properties as posted.
    pub input: Value,
}

/// A recovery plan.
#[derive(Debug, Clone)]
pub struct RecoveryPlan {
    /// Name.
    pub name: String,
    /// The body's properties as posted.
    pub input: Value,
    /// Groups as stored (Shutdown and Failover added ahead of the posted Boot groups).
    pub groups: Vec<Value>,
    /// Items in the plan (names).
    pub items: Vec<Uuid>,
    /// Last planned failover.
    pub last_planned_failover: Option<OffsetDateTime>,
    /// Last test failover.
    pub last_test_failover: Option<OffsetDateTime>,
}

/// Where a protected item runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// On the original primary.
    Primary,
    /// On the original recovery side.
    Recovery,
}

/// The protection state of an item (asr-model §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionState {
    /// Enabling: initial replication under way.
    Enabling,
    /// Replicating.
    Protected,
    /// Planned failover done, commit pending.
    PlannedFailedOver,
    /// Unplanned failover done, commit pending.
    UnplannedFailedOver,
    /// Failover committed, not replicating.
    Committed,
}

/// One side of a replication relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// Stamp index.
    pub stamp: usize,
    /// Cloud id.
    pub cloud: Uuid,
    /// SPF id of the VM on that side.
    pub vm: Uuid,
}

/// A replication protected item.
#[derive(Debug, Clone)]
pub struct Item {
    /// Name (the primary VM's SPF id).
    pub name: Uuid,
    /// VM name.
    pub friendly_name: String,
    /// Hyper-V VM id.
    pub vm_id: Uuid,
    /// The original primary.
    pub primary: Side,
    /// The original recovery side (its VM is the replica).
    pub recovery: Side,
    /// The policy (lower-cased name).
    pub policy: String,
    /// Protection state.
    pub state: ProtectionState,
    /// Where it runs.
    pub active: Location,
    /// The test-failover VM (stamp, SPF id) while a test failover is open.
    pub test_vm: Option<(usize, Uuid)>,
    /// The job running an operation on it; another operation is refused with 532 meanwhile.
    pub busy: Option<Uuid>,
    /// Last scenario: (name, job, start).
    pub scenario: Option<(String, Uuid, OffsetDateTime)>,
    /// When initial replication started and when it ends.
    pub initial_replication: Option<(OffsetDateTime, OffsetDateTime)>,
    /// Replication cycles count from here (reset when replication resumes or reverses).
    pub anchor: OffsetDateTime,
    /// Replication stopped here (failover); cycles after it do not exist.
    pub stopped_at: Option<OffsetDateTime>,
    /// Replication stalled here (control API `POST /lab/vms/{id}/replication`): no cycles after
    /// it until resumed, so health degrades as the lag grows, as a broken Hyper-V Replica would.
    pub stalled_since: Option<OffsetDateTime>,
    /// A final synchronisation point (planned failover: the primary's shutdown).
    pub final_point: Option<OffsetDateTime>,
    /// Points of earlier replication segments (before an outage), still retained.
    pub archived: Vec<OffsetDateTime>,
    /// The recovery point applied by `applyRecoveryPoint`.
    pub applied_point: Option<OffsetDateTime>,
    /// Last successful failover.
    pub last_failover: Option<OffsetDateTime>,
    /// Last successful test failover.
    pub last_test_failover: Option<OffsetDateTime>,
}

/// The operation names of `allowedOperations`.
pub mod op {
    /// `PlannedFailover`.
    pub const PLANNED: &str = "PlannedFailover";
    /// `UnplannedFailover`.
    pub const UNPLANNED: &str = "UnplannedFailover";
    /// `TestFailover`.
    pub const TEST: &str = "TestFailover";
    /// `TestFailoverCleanup`.
    pub const TEST_CLEANUP: &str = "TestFailoverCleanup";
    /// `DisableProtection`.
    pub const DISABLE: &str = "DisableProtection";
    /// `Commit`.
    pub const COMMIT: &str = "Commit";
    /// `ChangePit`.
    pub const CHANGE_PIT: &str = "ChangePit";
    /// `CompleteMigration`.
    pub const COMPLETE_MIGRATION: &str = "CompleteMigration";
    /// `ReverseReplicate`.
    pub const REVERSE: &str = "ReverseReplicate";
    /// `CancelFailover`.
    pub const CANCEL_FAILOVER: &str = "CancelFailover";
}

impl Item {
    /// `allowedOperations` now (asr-model §2.2 / fabric-http §3).
    pub fn allowed_operations(&self) -> Vec<&'static str> {
        match self.state {
            ProtectionState::Enabling => vec![op::DISABLE],
            ProtectionState::Protected if self.test_vm.is_some() => vec![op::TEST_CLEANUP],
            ProtectionState::Protected => vec![op::PLANNED, op::UNPLANNED, op::TEST, op::DISABLE],
            ProtectionState::PlannedFailedOver | ProtectionState::UnplannedFailedOver => vec![
                op::COMMIT,
                op::CHANGE_PIT,
                op::DISABLE,
                op::COMPLETE_MIGRATION,
                op::REVERSE,
                op::CANCEL_FAILOVER,
            ],
            ProtectionState::Committed => vec![op::REVERSE, op::DISABLE],
        }
    }

    /// `protectionState` and its description.
    pub fn protection_state(&self) -> (&'static str, &'static str) {
        match self.state {
            ProtectionState::Enabling => ("UnprotectedStatesBegin", "Enabling protection"),
            ProtectionState::Protected if self.test_vm.is_some() => {
                ("Protected", "Cleanup test failover pending")
            }
            ProtectionState::Protected => ("Protected", "Protected"),
            ProtectionState::PlannedFailedOver => {
                ("PlannedFailoverCommitRequired", "Planned failover finished")
            }
            ProtectionState::UnplannedFailedOver => (
                "UnplannedFailoverCommitPendingStatesBegin",
                "Failover completed",
            ),
            ProtectionState::Committed => ("FailoverCommitted", "Failover committed"),
        }
    }

    /// The side the VM runs on now (the replication source while protected).
    pub fn active_side(&self) -> Side {
        match self.active {
            Location::Primary => self.primary,
            Location::Recovery => self.recovery,
        }
    }

    /// The other side (the replication target while protected).
    pub fn passive_side(&self) -> Side {
        match self.active {
            Location::Primary => self.recovery,
            Location::Recovery => self.primary,
        }
    }

    /// Whether replication cycles run (initial replication counts as not yet).
    pub fn replicating(&self) -> bool {
        self.state == ProtectionState::Protected
    }
}

/// Replication-relevant facts about an item at a moment, from the world.
pub struct Replication {
    /// Time of the latest replicated cycle (or final sync), if any.
    pub last_replicated: Option<OffsetDateTime>,
    /// `Normal`, `Warning` or `Critical`.
    pub health: &'static str,
    /// (code, message) health errors.
    pub errors: Vec<(&'static str, String)>,
    /// Retained recovery points (time, type), oldest first.
    pub points: Vec<(OffsetDateTime, &'static str)>,
}

fn last_cycle(
    anchor: OffsetDateTime,
    end: OffsetDateTime,
    frequency: i64,
) -> Option<OffsetDateTime> {
    if end < anchor || frequency <= 0 {
        return None;
    }
    let cycles = ((end - anchor).whole_seconds()) / frequency;
    Some(anchor + time::Duration::seconds(cycles * frequency))
}

/// Computes replication state lazily: cycles run every copy frequency from the anchor until
/// replication stops (failover) or either stamp is cut off.
pub fn replication(world: &World, item: &Item, now: OffsetDateTime) -> Replication {
    let policy = world.vault.policies.get(&item.policy);
    let frequency = policy.map_or(300, |p| p.frequency);
    let retention_hours = policy.map_or(0, |p| p.recovery_points);
    let app_hours = policy.map_or(0, |p| p.app_consistent_hours);
    let source = item.active_side().stamp;
    let target = item.passive_side().stamp;
    let cut_off = [source, target]
        .iter()
        .filter_map(|s| world.stamps[*s].down_since)
        .min();
    let mut end = now;
    for limit in [item.stopped_at, item.stalled_since, cut_off]
        .into_iter()
        .flatten()
    {
        end = end.min(limit);
    }
    let in_cycles = matches!(
        item.state,
        ProtectionState::Protected
            | ProtectionState::PlannedFailedOver
            | ProtectionState::UnplannedFailedOver
    );
    let latest = if in_cycles {
        last_cycle(item.anchor, end, frequency)
    } else {
        None
    };
    let last_replicated = item
        .final_point
        .or(latest)
        .or(item.archived.last().copied());

    let mut points: Vec<(OffsetDateTime, &'static str)> = item
        .archived
        .iter()
        .map(|t| (*t, "CrashConsistent"))
        .collect();
    if let Some(latest) = latest {
        // Hourly additional points within the retention window, then the latest cycle.
        let mut hour = 1;
        while retention_hours > 0 && item.anchor + time::Duration::hours(hour) <= latest {
            let at = item.anchor + time::Duration::hours(hour);
            if latest - at <= time::Duration::hours(retention_hours) {
                let kind = if app_hours > 0 && hour % app_hours == 0 {
                    "ApplicationConsistent"
                } else {
                    "CrashConsistent"
                };
                points.push((at, kind));
            }
            hour += 1;
        }
        points.push((latest, "CrashConsistent"));
    }
    if let Some(final_point) = item.final_point {
        points.push((final_point, "ApplicationConsistent"));
    }
    points.sort_by_key(|(t, _)| *t);
    points.dedup_by_key(|(t, _)| *t);
    if item.state == ProtectionState::Committed {
        // Commit discards the remaining points.
        points.clear();
    }

    let mut health = "Normal";
    let mut errors = Vec::new();
    if item.replicating() {
        let lag = last_replicated.map_or(time::Duration::ZERO, |t| now - t);
        if lag > time::Duration::hours(1) {
            health = "Critical";
            errors.push((
                "67501",
                format!(
                    "Replication is not working as expected: nothing replicated for {} minutes.",
                    lag.whole_minutes()
                ),
            ));
        } else if lag > time::Duration::seconds(2 * frequency) {
            health = "Warning";
            errors.push((
                "67518",
                "More than 20% of replication cycles have been missed.".to_owned(),
            ));
        }
    }
    Replication {
        last_replicated,
        health,
        errors,
        points,
    }
}

/// Stalls an item's replication as if its last cycle ran `ago` before `now` (`None` resumes it
/// from `now`, keeping the stalled segment's points, as after an outage).
pub fn set_stalled(
    world: &mut World,
    name: Uuid,
    ago: Option<time::Duration>,
    now: OffsetDateTime,
) -> bool {
    let Some(item) = world.vault.items.get(&name).cloned() else {
        return false;
    };
    let rep = replication(world, &item, now);
    let item = world.vault.items.get_mut(&name).expect("item");
    match ago {
        Some(ago) => {
            let since = now - ago;
            // The last cycle lands exactly at `since`, even when replication began after it.
            if item.anchor > since {
                item.anchor = since;
            }
            item.stalled_since = Some(since);
        }
        None => {
            if item.stalled_since.take().is_some() {
                item.archived = rep.points.iter().map(|(t, _)| *t).collect();
                item.anchor = now;
            }
        }
    }
    true
}

/// A stamp went down or came back: when it comes back, replication of the items that touch it
/// resumes from now, and the points of the interrupted segment stay retained.
pub fn stamp_outage_changed(world: &mut World, stamp: usize, down: bool, now: OffsetDateTime) {
    if down {
        if world.stamps[stamp].down_since.is_none() {
            world.stamps[stamp].down_since = Some(now);
        }
        return;
    }
    let names: Vec<Uuid> = world
        .vault
        .items
        .values()
        .filter(|i| i.replicating() && (i.primary.stamp == stamp || i.recovery.stamp == stamp))
        .map(|i| i.name)
        .collect();
    for name in names {
        let item = world.vault.items[&name].clone();
        let rep = replication(world, &item, now);
        let item = world.vault.items.get_mut(&name).expect("item");
        item.archived = rep.points.iter().map(|(t, _)| *t).collect();
        item.anchor = now;
    }
    world.stamps[stamp].down_since = None;
}

impl Vault {
    /// Records a job (and, if it has not ended, among the live ones).
    pub fn insert_job(&mut self, id: Uuid, job: Job) {
        if !job.state.is_terminal() {
            self.live.insert(id);
        }
        self.jobs.insert(id, job);
    }

    /// The jobs that have not ended (and any that ended since `live` was last pruned).
    pub fn live_jobs(&self) -> impl Iterator<Item = &Job> {
        self.live.iter().filter_map(|id| self.jobs.get(id))
    }

    /// Drops the ended jobs from `live`.
    pub fn prune_live(&mut self) {
        let jobs = &self.jobs;
        self.live
            .retain(|id| jobs.get(id).is_some_and(|job| !job.state.is_terminal()));
    }

    /// Counts for the control API's summary.
    pub fn summary(&self) -> Value {
        let states: BTreeMap<String, usize> =
            self.items.values().fold(BTreeMap::new(), |mut m, i| {
                *m.entry(i.protection_state().0.to_owned()).or_default() += 1;
                m
            });
        serde_json::json!({
            "policies": self.policies.len(),
            "container_mappings": self.mappings.len(),
            "protected_items": self.items.len(),
            "protection_states": states,
            "jobs": self.jobs.len(),
            "recovery_plans": self.plans.len(),
            "network_mappings": self.network_mappings.len(),
        })
    }
}
