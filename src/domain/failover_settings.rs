//! What a provider sets per DR subscription for its failovers, and the deadlines they open: the
//! priority tier a site failover takes it in, the commit window after a failover (commit or
//! roll back by itself when it expires, as Zerto's commit policy does, or wait for an operator),
//! and how long a drill may stay up before it is cleaned up by itself. No I/O: the failover
//! workflows open and act on deadlines, the API validates settings with these rules.

use time::OffsetDateTime;
use uuid::Uuid;

use super::FailoverKind;

/// The first priority tier of a site failover.
pub const FIRST_PRIORITY: u8 = 1;
/// The last priority tier.
pub const LAST_PRIORITY: u8 = 9;
/// The tier of a subscription nobody placed.
pub const DEFAULT_PRIORITY: u8 = 5;
/// The longest commit window, in minutes (a week).
pub const MAX_COMMIT_WINDOW_MINUTES: u32 = 10_080;
/// The longest a drill may stay up before its automatic cleanup, in minutes (two weeks: the
/// longest ASR lets a test failover run).
pub const MAX_DRILL_MINUTES: u32 = 20_160;

/// What happens when a commit window expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAction {
    /// The failover is committed.
    Commit,
    /// The failover is rolled back: the VMs run again where they came from.
    Rollback,
}

impl WindowAction {
    /// The API name (`commit`, `rollback`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Rollback => "rollback",
        }
    }

    /// The operation it starts.
    pub fn kind(self) -> FailoverKind {
        match self {
            Self::Commit => FailoverKind::Commit,
            Self::Rollback => FailoverKind::Rollback,
        }
    }
}

/// The commit window opened by a planned or unplanned failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    /// What happens when it expires; `None` waits for an operator however long it takes.
    pub on_expiry: Option<WindowAction>,
    /// How long it stays open, in minutes (1..=10080; ignored without `on_expiry`).
    pub after_minutes: u32,
}

impl CommitPolicy {
    /// No automatic action: an operator commits or rolls back.
    pub const MANUAL: Self = Self {
        on_expiry: None,
        after_minutes: 0,
    };

    /// Parses the API's `{"onExpiry": "commit"|"rollback"|"none", "afterMinutes": n}`.
    pub fn parse(on_expiry: &str, after_minutes: Option<u32>) -> Result<Self, String> {
        let on_expiry = match on_expiry.trim().to_ascii_lowercase().as_str() {
            "commit" => Some(WindowAction::Commit),
            "rollback" => Some(WindowAction::Rollback),
            "none" | "" => None,
            other => {
                return Err(format!(
                    "onExpiry '{other}' is not one of commit, rollback, none."
                ));
            }
        };
        let Some(action) = on_expiry else {
            return Ok(Self::MANUAL);
        };
        let minutes = after_minutes.ok_or_else(|| {
            format!(
                "afterMinutes is required when onExpiry is '{}'.",
                action.as_str()
            )
        })?;
        if !(1..=MAX_COMMIT_WINDOW_MINUTES).contains(&minutes) {
            return Err(format!(
                "afterMinutes {minutes} is out of range: 1 to {MAX_COMMIT_WINDOW_MINUTES} (a week)."
            ));
        }
        Ok(Self {
            on_expiry,
            after_minutes: minutes,
        })
    }

    /// The API name of what happens on expiry (`none` when an operator decides).
    pub fn on_expiry_name(self) -> &'static str {
        self.on_expiry.map_or("none", WindowAction::as_str)
    }
}

/// A provider's failover settings of one DR subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverSettings {
    /// The tier a site failover takes it in: 1 first, 9 last.
    pub priority: u8,
    /// The window a planned or unplanned failover opens.
    pub commit_policy: CommitPolicy,
    /// Minutes after which a drill is cleaned up by itself; `None`: by hand.
    pub drill_cleanup_after_minutes: Option<u32>,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self {
            priority: DEFAULT_PRIORITY,
            commit_policy: CommitPolicy::MANUAL,
            drill_cleanup_after_minutes: None,
        }
    }
}

/// Checks a priority tier.
pub fn check_priority(priority: i64) -> Result<u8, String> {
    u8::try_from(priority)
        .ok()
        .filter(|p| (FIRST_PRIORITY..=LAST_PRIORITY).contains(p))
        .ok_or_else(|| {
            format!(
                "Priority {priority} is out of range: {FIRST_PRIORITY} (first) to {LAST_PRIORITY} (last)."
            )
        })
}

/// Checks a drill's automatic cleanup time.
pub fn check_drill_minutes(minutes: i64) -> Result<u32, String> {
    u32::try_from(minutes)
        .ok()
        .filter(|m| (1..=MAX_DRILL_MINUTES).contains(m))
        .ok_or_else(|| {
            format!(
                "The drill cleanup time {minutes} is out of range: 1 to {MAX_DRILL_MINUTES} minutes (two weeks)."
            )
        })
}

/// What a deadline does when it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineAction {
    /// Commits the failover.
    Commit,
    /// Rolls the failover back.
    Rollback,
    /// Cleans the drill up.
    TestCleanup,
}

impl DeadlineAction {
    /// The operation it starts.
    pub fn kind(self) -> FailoverKind {
        match self {
            Self::Commit => FailoverKind::Commit,
            Self::Rollback => FailoverKind::Rollback,
            Self::TestCleanup => FailoverKind::TestFailoverCleanup,
        }
    }

    /// Its operation's API name.
    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }

    /// Reads an operation's API name back.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Commit, Self::Rollback, Self::TestCleanup]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// An open deadline: after `at`, `action` starts by itself unless another operation began on the
/// subscription since the job that opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// What happens.
    pub action: DeadlineAction,
    /// When (the database clock).
    pub at: OffsetDateTime,
    /// The failover or drill job that opened it.
    pub opened_by: Uuid,
}

/// The deadline a finished operation of `kind` opens at database time `now`, given the settings
/// (or the request's own commit policy and drill time, which win).
pub fn deadline_after(
    kind: FailoverKind,
    now: OffsetDateTime,
    job_id: Uuid,
    commit_policy: CommitPolicy,
    drill_minutes: Option<u32>,
) -> Option<Deadline> {
    let (action, minutes) = match kind {
        FailoverKind::TestFailover => (DeadlineAction::TestCleanup, drill_minutes?),
        FailoverKind::PlannedFailover | FailoverKind::UnplannedFailover { .. } => {
            let action = match commit_policy.on_expiry? {
                WindowAction::Commit => DeadlineAction::Commit,
                WindowAction::Rollback => DeadlineAction::Rollback,
            };
            (action, commit_policy.after_minutes)
        }
        _ => return None,
    };
    Some(Deadline {
        action,
        at: now + time::Duration::minutes(i64::from(minutes)),
        opened_by: job_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RecoveryPointChoice;
    use time::macros::datetime;

    #[test]
    fn a_commit_policy_needs_a_window_in_range_unless_an_operator_decides() {
        assert_eq!(CommitPolicy::parse("none", None), Ok(CommitPolicy::MANUAL));
        assert_eq!(
            CommitPolicy::parse("Rollback", Some(30)),
            Ok(CommitPolicy {
                on_expiry: Some(WindowAction::Rollback),
                after_minutes: 30
            })
        );
        assert!(
            CommitPolicy::parse("commit", None)
                .unwrap_err()
                .contains("afterMinutes")
        );
        assert!(CommitPolicy::parse("commit", Some(0)).is_err());
        assert!(CommitPolicy::parse("commit", Some(MAX_COMMIT_WINDOW_MINUTES + 1)).is_err());
        assert!(CommitPolicy::parse("later", Some(5)).is_err());
    }

    #[test]
    fn priorities_and_drill_times_are_checked() {
        assert_eq!(check_priority(1), Ok(1));
        assert!(check_priority(0).is_err() && check_priority(10).is_err());
        assert!(check_priority(-3).is_err());
        assert_eq!(check_drill_minutes(60), Ok(60));
        assert!(check_drill_minutes(0).is_err());
        assert!(check_drill_minutes(i64::from(MAX_DRILL_MINUTES) + 1).is_err());
    }

    #[test]
    fn failovers_open_commit_windows_and_drills_cleanup_deadlines() {
        let now = datetime!(2026-12-01 10:00 UTC);
        let job = Uuid::new_v4();
        let window = CommitPolicy {
            on_expiry: Some(WindowAction::Commit),
            after_minutes: 90,
        };
        let opened = deadline_after(FailoverKind::PlannedFailover, now, job, window, None)
            .expect("a window");
        assert_eq!(opened.action, DeadlineAction::Commit);
        assert_eq!(opened.at, datetime!(2026-12-01 11:30 UTC));
        assert_eq!(opened.opened_by, job);
        let unplanned = FailoverKind::UnplannedFailover {
            point: RecoveryPointChoice::Latest,
        };
        assert_eq!(
            deadline_after(unplanned, now, job, CommitPolicy::MANUAL, Some(5)),
            None,
            "no window when an operator decides"
        );
        let drill = deadline_after(FailoverKind::TestFailover, now, job, window, Some(15))
            .expect("a drill deadline");
        assert_eq!(drill.action, DeadlineAction::TestCleanup);
        assert_eq!(drill.at, datetime!(2026-12-01 10:15 UTC));
        assert_eq!(
            deadline_after(FailoverKind::TestFailover, now, job, window, None),
            None
        );
        assert_eq!(
            deadline_after(FailoverKind::Commit, now, job, window, Some(5)),
            None
        );
        assert_eq!(
            DeadlineAction::from_name("testcleanup"),
            Some(DeadlineAction::TestCleanup)
        );
    }
}
