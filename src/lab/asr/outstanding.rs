//! How many ASR item operations are outstanding (submitted and not ended: waiting for a slot or
//! running) and the most there were at once since the control API last reset the count, so tests
//! can prove a client never has more than so many in flight. Item operations are enable
//! protection, test failover and its cleanup, planned and unplanned failover, change recovery
//! point, commit, cancel failover, reprotect and disable protection; configuration jobs and the
//! parent jobs of recovery-plan operations are not.
//!
//! The peak is exact in lab time, not sampled: the outstanding count only rises when a job is
//! submitted, and a handler submits only after [`super::jobs::settle`] has ended every job whose
//! end lies at or before that lab instant. So the count just after each submission is the count
//! at that instant, and the highest of those (or the count at the reset) is the peak. Between
//! submissions the count can only fall.

use time::OffsetDateTime;
use uuid::Uuid;

use super::jobs::{Job, Op};
use crate::lab::world::World;

/// The vault's gauge of outstanding item operations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutstandingGauge {
    /// The most item operations outstanding at once since `since`.
    pub peak: usize,
    /// The lab time of the last reset (`None`: since the lab started).
    pub since: Option<OffsetDateTime>,
}

impl Op {
    /// Whether the job acts on one protected item (not a configuration change or a plan's parent).
    pub fn is_item_operation(&self) -> bool {
        !matches!(self, Op::Plan | Op::Configuration)
    }
}

/// Item operations submitted and not ended, as of the lab time the world was last settled to.
pub fn outstanding(world: &World) -> usize {
    world
        .vault
        .live_jobs()
        .filter(|j| j.op.is_item_operation() && !j.state.is_terminal())
        .count()
}

/// Records a newly submitted item operation's job, raising the peak if it is a new high.
///
/// Callers hold a world settled to the submission's lab time (see the module documentation).
pub(super) fn submit(world: &mut World, id: Uuid, job: Job) {
    debug_assert!(
        job.op.is_item_operation(),
        "only item operations are counted"
    );
    world.vault.insert_job(id, job);
    let now = outstanding(world);
    let gauge = &mut world.vault.outstanding;
    gauge.peak = gauge.peak.max(now);
}

/// Starts a new measurement at `now`: the peak restarts from what is outstanding at this moment.
pub fn reset(world: &mut World, now: OffsetDateTime) -> OutstandingGauge {
    let current = outstanding(world);
    world.vault.outstanding = OutstandingGauge {
        peak: current,
        since: Some(now),
    };
    world.vault.outstanding
}
