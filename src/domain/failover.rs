//! Failover of one DR subscription: the operations (drill, cleanup, planned and unplanned
//! failover, commit, reprotect, failback), the subscription-level phase they move between, which
//! operation each phase allows, and the guard that keeps a subscription active on exactly one
//! stamp. No I/O: the `failover` workflow and the failover API apply these rules.

use time::OffsetDateTime;
use uuid::Uuid;

use super::SubscriptionId;
use super::failover_settings::{Deadline, FailoverSettings};

/// Which recovery point an unplanned failover lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryPointChoice {
    /// The newest point (the engine's default: least data loss).
    Latest,
    /// The newest application-consistent point.
    LatestAppConsistent,
    /// The newest point taken at or before this time.
    At(OffsetDateTime),
}

impl RecoveryPointChoice {
    /// Parses the API's text: `latest`, `latestAppConsistent` or an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("latest") {
            return Ok(Self::Latest);
        }
        if text.eq_ignore_ascii_case("latestAppConsistent") {
            return Ok(Self::LatestAppConsistent);
        }
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(Self::At)
            .map_err(|_| {
                format!(
                    "recoveryPoint '{text}' is not 'latest', 'latestAppConsistent' or an RFC 3339 time."
                )
            })
    }

    /// The text [`parse`](Self::parse) reads back.
    pub fn to_text(self) -> String {
        match self {
            Self::Latest => "latest".into(),
            Self::LatestAppConsistent => "latestAppConsistent".into(),
            Self::At(at) => at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }

    /// Of `points` (time, app-consistent), the index of the one to apply; `None` when the engine's
    /// own latest is wanted (nothing to apply) or when no point fits (see [`Self::fits_none`]).
    pub fn pick(self, points: &[(OffsetDateTime, bool)]) -> Option<usize> {
        let newest = |fits: &dyn Fn(&(OffsetDateTime, bool)) -> bool| {
            points
                .iter()
                .enumerate()
                .filter(|(_, p)| fits(p))
                .max_by_key(|(_, p)| p.0)
                .map(|(i, _)| i)
        };
        match self {
            Self::Latest => None,
            Self::LatestAppConsistent => newest(&|p| p.1),
            Self::At(at) => newest(&|p| p.0 <= at),
        }
    }
}

/// An operation on a whole DR subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverKind {
    /// A drill: replicas started in the pair's test network; production untouched.
    TestFailover,
    /// Removes a drill's test VMs.
    TestFailoverCleanup,
    /// Fails over with the source shut down and synchronised first (no data loss).
    PlannedFailover,
    /// Fails over without the source (a disaster), from a recovery point.
    UnplannedFailover {
        /// Which point to land on.
        point: RecoveryPointChoice,
    },
    /// Commits a failover (its recovery points are discarded).
    Commit,
    /// Reverses replication after a committed failover.
    Reprotect,
    /// Back to the primary: planned failover, commit and reprotect in one operation.
    Failback,
    /// Undoes a failover before commit: the VMs run again where they came from.
    Rollback,
}

impl FailoverKind {
    /// Every kind's API name, in the order the API lists them.
    pub const NAMES: [&'static str; 8] = [
        "test",
        "testCleanup",
        "planned",
        "unplanned",
        "commit",
        "rollback",
        "reprotect",
        "failback",
    ];

    /// The API name (`test`, `testCleanup`, `planned`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TestFailover => "test",
            Self::TestFailoverCleanup => "testCleanup",
            Self::PlannedFailover => "planned",
            Self::UnplannedFailover { .. } => "unplanned",
            Self::Commit => "commit",
            Self::Reprotect => "reprotect",
            Self::Failback => "failback",
            Self::Rollback => "rollback",
        }
    }

    /// Parses an API name (ignoring case); an unplanned failover takes `point`.
    pub fn from_name(name: &str, point: RecoveryPointChoice) -> Option<Self> {
        let name = name.trim();
        [
            Self::TestFailover,
            Self::TestFailoverCleanup,
            Self::PlannedFailover,
            Self::UnplannedFailover { point },
            Self::Commit,
            Self::Rollback,
            Self::Reprotect,
            Self::Failback,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether it switches the stamp the subscription is active on.
    pub fn switches_stamp(self) -> bool {
        matches!(
            self,
            Self::PlannedFailover
                | Self::UnplannedFailover { .. }
                | Self::Failback
                | Self::Rollback
        )
    }

    /// Whether it starts VMs on the other side, so a recovery plan orders it group by group
    /// with the groups' delays and actions (the other kinds run every VM at once).
    pub fn follows_plan(self) -> bool {
        matches!(
            self,
            Self::TestFailover
                | Self::PlannedFailover
                | Self::UnplannedFailover { .. }
                | Self::Failback
        )
    }

    /// Whether a VM or action that fails lets the rest go on: a disaster recovery keeps going
    /// (as VMware Cloud DR and ASR's unplanned failover do); a drill or a planned failover
    /// stops, and the same request later finishes what is left.
    pub fn keeps_going_past_failures(self) -> bool {
        matches!(self, Self::UnplannedFailover { .. })
    }

    /// What a tenant whose plan allows self-service `drill_only` (Drill) or everything (Full) may
    /// start: a drill and its cleanup always; every other kind but unplanned with Full.
    pub fn tenant_may_start(self, drill_only: bool) -> bool {
        match self {
            Self::TestFailover | Self::TestFailoverCleanup => true,
            Self::UnplannedFailover { .. } => false,
            _ => !drill_only,
        }
    }
}

/// Where a DR subscription stands between failover operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailoverPhase {
    /// Replicating from the active stamp to the other one.
    Replicating,
    /// A drill's test VMs are up; only their cleanup is allowed.
    TestRunning,
    /// Failed over to the other stamp; the failover awaits its commit.
    FailedOver,
    /// The failover is committed; replication awaits reprotect.
    Committed,
}

impl FailoverPhase {
    /// Every phase.
    pub const ALL: [Self; 4] = [
        Self::Replicating,
        Self::TestRunning,
        Self::FailedOver,
        Self::Committed,
    ];

    /// The name used in the store and the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replicating => "Replicating",
            Self::TestRunning => "TestRunning",
            Self::FailedOver => "FailedOver",
            Self::Committed => "Committed",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// The API names of the operations allowed in this phase (`on_recovery`: the subscription
    /// is active on its recovery stamp, so failback is possible).
    pub fn allowed(self, on_recovery: bool) -> Vec<&'static str> {
        match self {
            Self::Replicating if on_recovery => vec!["test", "planned", "unplanned", "failback"],
            Self::Replicating => vec!["test", "planned", "unplanned"],
            Self::TestRunning => vec!["testCleanup"],
            Self::FailedOver => vec!["commit", "rollback"],
            Self::Committed => vec!["reprotect"],
        }
    }

    /// Whether `kind` may start in this phase.
    pub fn allows(self, kind: FailoverKind, on_recovery: bool) -> bool {
        self.allowed(on_recovery).contains(&kind.as_str())
    }

    /// The phase `kind` leaves the subscription in when it succeeds.
    pub fn after(kind: FailoverKind) -> Self {
        match kind {
            FailoverKind::TestFailover => Self::TestRunning,
            FailoverKind::PlannedFailover | FailoverKind::UnplannedFailover { .. } => {
                Self::FailedOver
            }
            FailoverKind::Commit => Self::Committed,
            FailoverKind::TestFailoverCleanup
            | FailoverKind::Reprotect
            | FailoverKind::Failback
            | FailoverKind::Rollback => Self::Replicating,
        }
    }
}

/// Why an operation may not start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverRefusal {
    /// Another operation's job is still running.
    Running {
        /// The running operation's API name.
        kind: String,
        /// Its job.
        job_id: Uuid,
    },
    /// Not allowed in the current phase.
    NotAllowed {
        /// The current phase.
        phase: FailoverPhase,
        /// What is allowed in it.
        allowed: Vec<&'static str>,
    },
    /// An unplanned failover without the admin's confirmation that the source is fenced.
    SourceNotFenced,
}

impl std::fmt::Display for FailoverRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Running { kind, job_id } => write!(
                f,
                "A '{kind}' operation is already running on this subscription (job {job_id}); wait for it to end."
            ),
            Self::NotAllowed { phase, allowed } => write!(
                f,
                "The subscription is {}; allowed now: {}.",
                phase.as_str(),
                allowed.join(", ")
            ),
            Self::SourceNotFenced => f.write_str(
                "An unplanned failover needs the source stamp fenced: confirm with \"sourceDown\": true that the stamp the subscription is active on is down and will not run its VMs, or wait for the site heartbeat to judge it Down.",
            ),
        }
    }
}

/// The operation running on a subscription, as recorded when its job started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningFailover {
    /// Its API name.
    pub kind: String,
    /// Its job.
    pub job_id: Uuid,
    /// Who started it.
    pub requested_by: String,
    /// Why.
    pub reason: Option<String>,
    /// When (the database clock).
    pub started_at: OffsetDateTime,
}

/// wapdr's failover record of one DR subscription, beside its [`DrSubscription`](super::DrSubscription)
/// (whose `active_stamp_id` says where it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverState {
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// Where it stands.
    pub phase: FailoverPhase,
    /// The operation whose job was started last (it may have ended: ask the job).
    pub running: Option<RunningFailover>,
    /// Work left for later (the old stamp's subscription to suspend once it is reachable).
    pub pending: Vec<String>,
    /// The provider's settings (priority tier, commit window, drill cleanup).
    pub settings: FailoverSettings,
    /// The open commit window or drill deadline, if any.
    pub deadline: Option<Deadline>,
    /// Optimistic-concurrency version: 0 for a record not stored yet.
    pub version: i64,
}

impl FailoverState {
    /// The record of a subscription that never failed over.
    pub fn new(subscription_id: SubscriptionId) -> Self {
        Self {
            subscription_id,
            phase: FailoverPhase::Replicating,
            running: None,
            pending: Vec::new(),
            settings: FailoverSettings::default(),
            deadline: None,
            version: 0,
        }
    }

    /// Whether `kind` may start, given whether the last started job still runs and whether the
    /// subscription is active on its recovery stamp; `source_down` is the admin's confirmation
    /// that the source stamp is fenced (unplanned failover only).
    pub fn check(
        &self,
        kind: FailoverKind,
        last_job_running: bool,
        on_recovery: bool,
        source_down: bool,
    ) -> Result<(), FailoverRefusal> {
        if let Some(running) = self.running.as_ref().filter(|_| last_job_running) {
            return Err(FailoverRefusal::Running {
                kind: running.kind.clone(),
                job_id: running.job_id,
            });
        }
        if !self.phase.allows(kind, on_recovery) {
            return Err(FailoverRefusal::NotAllowed {
                phase: self.phase,
                allowed: self.phase.allowed(on_recovery),
            });
        }
        if matches!(kind, FailoverKind::UnplannedFailover { .. }) && !source_down {
            return Err(FailoverRefusal::SourceNotFenced);
        }
        Ok(())
    }
}

/// The split-brain guard: the stamp a subscription switches to is the one of its two stamps it
/// is not active on now; anything else (no stamps recorded, active on neither) is refused.
pub fn switch_target(
    primary: Option<Uuid>,
    recovery: Option<Uuid>,
    active: Option<Uuid>,
) -> Result<(Uuid, Uuid), String> {
    match (primary, recovery, active) {
        (Some(p), Some(r), Some(a)) if p != r && a == p => Ok((p, r)),
        (Some(p), Some(r), Some(a)) if p != r && a == r => Ok((r, p)),
        _ => Err(
            "The subscription's DR record does not name it active on exactly one of its two stamps; enable DR again before failing over."
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn each_phase_allows_only_the_next_step_of_the_cycle() {
        let mut state = FailoverState::new(SubscriptionId::new_random());
        assert!(
            state
                .check(FailoverKind::TestFailover, false, false, false)
                .is_ok()
        );
        assert!(matches!(
            state.check(FailoverKind::Commit, false, false, false),
            Err(FailoverRefusal::NotAllowed {
                phase: FailoverPhase::Replicating,
                ..
            })
        ));
        assert!(matches!(
            state.check(FailoverKind::Failback, false, false, false),
            Err(FailoverRefusal::NotAllowed { .. })
        ));
        assert!(
            state
                .check(FailoverKind::Failback, false, true, false)
                .is_ok()
        );
        state.phase = FailoverPhase::after(FailoverKind::PlannedFailover);
        assert_eq!(state.phase.allowed(true), vec!["commit", "rollback"]);
        assert_eq!(
            FailoverPhase::after(FailoverKind::Rollback),
            FailoverPhase::Replicating
        );
        state.phase = FailoverPhase::after(FailoverKind::Commit);
        assert!(
            state
                .check(FailoverKind::Reprotect, false, true, false)
                .is_ok()
        );
    }

    #[test]
    fn a_running_job_and_an_unfenced_source_are_refused() {
        let mut state = FailoverState::new(SubscriptionId::new_random());
        let job_id = Uuid::new_v4();
        state.running = Some(RunningFailover {
            kind: "test".into(),
            job_id,
            requested_by: "admin".into(),
            reason: None,
            started_at: OffsetDateTime::UNIX_EPOCH,
        });
        let refusal = state
            .check(FailoverKind::PlannedFailover, true, false, false)
            .unwrap_err();
        assert!(refusal.to_string().contains(&job_id.to_string()));
        assert!(
            state
                .check(FailoverKind::PlannedFailover, false, false, false)
                .is_ok()
        );
        let unplanned = FailoverKind::UnplannedFailover {
            point: RecoveryPointChoice::Latest,
        };
        assert_eq!(
            state.check(unplanned, false, false, false),
            Err(FailoverRefusal::SourceNotFenced)
        );
        assert!(state.check(unplanned, false, false, true).is_ok());
    }

    #[test]
    fn the_switch_goes_to_the_stamp_not_active_now_and_nowhere_else() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(switch_target(Some(a), Some(b), Some(a)), Ok((a, b)));
        assert_eq!(switch_target(Some(a), Some(b), Some(b)), Ok((b, a)));
        assert!(switch_target(Some(a), Some(b), Some(Uuid::new_v4())).is_err());
        assert!(switch_target(Some(a), Some(a), Some(a)).is_err());
        assert!(switch_target(Some(a), None, Some(a)).is_err());
    }

    #[test]
    fn recovery_points_are_picked_by_kind_and_time() {
        let points = [
            (datetime!(2026-01-01 10:00 UTC), true),
            (datetime!(2026-01-01 11:00 UTC), false),
            (datetime!(2026-01-01 12:00 UTC), false),
        ];
        assert_eq!(RecoveryPointChoice::Latest.pick(&points), None);
        assert_eq!(
            RecoveryPointChoice::LatestAppConsistent.pick(&points),
            Some(0)
        );
        let at = RecoveryPointChoice::parse("2026-01-01T11:30:00Z").expect("time");
        assert_eq!(at.pick(&points), Some(1));
        assert_eq!(
            RecoveryPointChoice::At(datetime!(2025-01-01 0:00 UTC)).pick(&points),
            None
        );
        assert!(RecoveryPointChoice::parse("yesterday").is_err());
        assert_eq!(
            RecoveryPointChoice::parse(&at.to_text()),
            Ok(at),
            "the text round-trips"
        );
    }

    #[test]
    fn tenants_may_drill_and_with_full_self_service_all_but_unplanned() {
        assert!(FailoverKind::TestFailover.tenant_may_start(true));
        assert!(!FailoverKind::PlannedFailover.tenant_may_start(true));
        assert!(FailoverKind::Failback.tenant_may_start(false));
        let unplanned = FailoverKind::UnplannedFailover {
            point: RecoveryPointChoice::Latest,
        };
        assert!(!unplanned.tenant_may_start(false));
        for name in FailoverKind::NAMES {
            let kind = FailoverKind::from_name(name, RecoveryPointChoice::Latest).expect(name);
            assert_eq!(kind.as_str(), name);
        }
    }
}
