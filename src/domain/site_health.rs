//! Site health: wapdr's verdict on whether a stamp is up, from heartbeat probes of the services it
//! depends on (its SPF, its WAP admin API, and the replication engine the stamps share), and the
//! rule that turns a probe and the verdict before it into the verdict now.
//!
//! No I/O: the `site_heartbeat` workflow probes and alerts, the store keeps the current verdict
//! and its history, and automatic site failover (for stamps whose provider opted in) reads the
//! verdict. The rule must never call a stamp Down for a failure of the replication engine alone:
//! the engine is shared, so its outage says nothing about one site.

use time::OffsetDateTime;
use uuid::Uuid;

/// wapdr's verdict on a stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteVerdict {
    /// Every service answers.
    Up,
    /// Some service fails, or the stamp's own services stopped answering only recently.
    Degraded,
    /// The stamp's own services (SPF and WAP admin API) have been unreachable for the
    /// configured number of consecutive probes.
    Down,
}

impl SiteVerdict {
    /// Every verdict, in order of severity.
    pub const ALL: [Self; 3] = [Self::Up, Self::Degraded, Self::Down];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "Up",
            Self::Degraded => "Degraded",
            Self::Down => "Down",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// A service a heartbeat probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SiteService {
    /// The stamp's SPF VMM OData service.
    Spf,
    /// The stamp's WAP admin API.
    WapAdmin,
    /// The replication engine (shared between stamps).
    Replication,
}

impl SiteService {
    /// The name reports and alerts use (as stamp verification names the services).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spf => "SPF",
            Self::WapAdmin => "WAP admin API",
            Self::Replication => "Replication engine",
        }
    }
}

/// What probing one service found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProbe {
    /// Whether the service answered as DR needs it (reachable, credentials accepted, and for the
    /// replication engine, it knows the stamp's site).
    pub ok: bool,
    /// Whether the service was reached: false only when no connection could be made, it broke or
    /// it did not answer in time (a fault in wapdr's own settings is no sign the site is gone).
    pub reachable: bool,
    /// Whether the service accepted wapdr's credentials (`None` when that could not be told).
    pub credentials_accepted: Option<bool>,
    /// How long the probe took, in milliseconds.
    pub latency_ms: u64,
    /// What was found, or what is wrong.
    pub message: String,
}

impl ServiceProbe {
    /// A probe of a service that answered as needed.
    pub fn answered(latency_ms: u64, message: impl Into<String>) -> Self {
        Self {
            ok: true,
            reachable: true,
            credentials_accepted: Some(true),
            latency_ms,
            message: message.into(),
        }
    }

    /// A probe of a service no connection reached, or that did not answer in time.
    pub fn unreachable(latency_ms: u64, message: impl Into<String>) -> Self {
        Self {
            ok: false,
            reachable: false,
            credentials_accepted: None,
            latency_ms,
            message: message.into(),
        }
    }
}

/// One heartbeat of a stamp: the probe of each service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteProbe {
    /// The stamp's SPF.
    pub spf: ServiceProbe,
    /// The stamp's WAP admin API.
    pub wap_admin: ServiceProbe,
    /// The replication engine, asked about the stamp's site.
    pub replication: ServiceProbe,
}

impl SiteProbe {
    /// Each service with its probe, in report order.
    pub fn services(&self) -> [(SiteService, &ServiceProbe); 3] {
        [
            (SiteService::Spf, &self.spf),
            (SiteService::WapAdmin, &self.wap_admin),
            (SiteService::Replication, &self.replication),
        ]
    }

    /// Whether neither of the stamp's own services (SPF, WAP admin API) could be reached: the one
    /// observation that counts toward Down.
    pub fn stamp_unreachable(&self) -> bool {
        !self.spf.reachable && !self.wap_admin.reachable
    }

    /// Whether every service answered as needed.
    pub fn all_ok(&self) -> bool {
        self.services().iter().all(|(_, p)| p.ok)
    }
}

/// A stamp's current health, as the last probe left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteHealth {
    /// The stamp.
    pub stamp_id: Uuid,
    /// The verdict now.
    pub verdict: SiteVerdict,
    /// The verdict before this one began (`None`: this is the stamp's first).
    pub previous_verdict: Option<SiteVerdict>,
    /// When this verdict began (the probe that first gave it).
    pub since: OffsetDateTime,
    /// Consecutive probes, up to the last, in which SPF and the WAP admin API were both unreachable.
    pub consecutive_misses: u32,
    /// When the last probe was taken.
    pub last_probe_at: OffsetDateTime,
    /// What the last probe found.
    pub last_probe: SiteProbe,
    /// Why the verdict is what it is, from the last probe.
    pub reason: String,
    /// Whether the change to this verdict still has to reach the alert webhook.
    pub alert_pending: bool,
    /// The optimistic-concurrency version (0 for a stamp never recorded).
    pub version: i64,
}

/// One probe as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteProbeRecord {
    /// The stamp.
    pub stamp_id: Uuid,
    /// When the probe was taken.
    pub probed_at: OffsetDateTime,
    /// The verdict it led to.
    pub verdict: SiteVerdict,
    /// The consecutive misses it counted.
    pub consecutive_misses: u32,
    /// What it found.
    pub probe: SiteProbe,
}

impl SiteProbeRecord {
    /// The history record of the probe that produced `health`.
    pub fn of(health: &SiteHealth) -> Self {
        Self {
            stamp_id: health.stamp_id,
            probed_at: health.last_probe_at,
            verdict: health.verdict,
            consecutive_misses: health.consecutive_misses,
            probe: health.last_probe.clone(),
        }
    }
}

/// What one probe made of a stamp's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The health to record (its version is the one it was judged against).
    pub health: SiteHealth,
    /// Whether the verdict changed with this probe (a stamp never probed counts as Up before).
    pub changed: bool,
}

/// The health of `stamp_id` after `probe`, taken `at`, given the health `before` it (`None` for a
/// stamp never probed, which counts as Up so that a healthy new stamp raises no alert).
///
/// Up when every service answers; Down once SPF and the WAP admin API have both been unreachable
/// for `missed_before_alert` consecutive probes (at least 1); Degraded otherwise. A failing
/// replication engine alone never makes a stamp Down, and neither do rejected credentials
/// (something answered).
pub fn judge(
    stamp_id: Uuid,
    before: Option<&SiteHealth>,
    probe: SiteProbe,
    at: OffsetDateTime,
    missed_before_alert: u32,
) -> Judgement {
    let threshold = missed_before_alert.max(1);
    let consecutive_misses = if probe.stamp_unreachable() {
        before.map_or(0, |b| b.consecutive_misses).saturating_add(1)
    } else {
        0
    };
    let verdict = if consecutive_misses >= threshold {
        SiteVerdict::Down
    } else if probe.all_ok() {
        SiteVerdict::Up
    } else {
        SiteVerdict::Degraded
    };
    let reason = reason(verdict, &probe, consecutive_misses, threshold);
    let presumed = before.map_or(SiteVerdict::Up, |b| b.verdict);
    let changed = verdict != presumed;
    let health = match before {
        Some(b) if !changed => SiteHealth {
            consecutive_misses,
            last_probe_at: at,
            last_probe: probe,
            reason,
            ..b.clone()
        },
        _ => SiteHealth {
            stamp_id,
            verdict,
            previous_verdict: before.map(|b| b.verdict),
            since: at,
            consecutive_misses,
            last_probe_at: at,
            last_probe: probe,
            reason,
            alert_pending: changed,
            version: before.map_or(0, |b| b.version),
        },
    };
    Judgement { health, changed }
}

/// Why a probe led to `verdict`, naming the failing services and what they said.
fn reason(verdict: SiteVerdict, probe: &SiteProbe, misses: u32, threshold: u32) -> String {
    let failing: Vec<String> = probe
        .services()
        .iter()
        .filter(|(_, p)| !p.ok)
        .map(|(service, p)| format!("{}: {}", service.as_str(), p.message))
        .collect();
    let detail = failing.join("; ");
    match verdict {
        SiteVerdict::Up => "SPF, the WAP admin API and the replication engine answer.".to_owned(),
        SiteVerdict::Down => format!(
            "SPF and the WAP admin API have been unreachable for {misses} consecutive probes. {detail}"
        ),
        SiteVerdict::Degraded if misses > 0 => format!(
            "SPF and the WAP admin API are unreachable ({misses} of {threshold} consecutive probes \
             before the stamp counts as Down). {detail}"
        ),
        SiteVerdict::Degraded => format!("Not every service answers. {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn ok() -> ServiceProbe {
        ServiceProbe::answered(12, "fine")
    }

    fn refused() -> ServiceProbe {
        ServiceProbe::unreachable(3, "connection refused")
    }

    fn rejected() -> ServiceProbe {
        ServiceProbe {
            ok: false,
            reachable: true,
            credentials_accepted: Some(false),
            latency_ms: 5,
            message: "401".into(),
        }
    }

    fn probe(spf: ServiceProbe, wap: ServiceProbe, engine: ServiceProbe) -> SiteProbe {
        SiteProbe {
            spf,
            wap_admin: wap,
            replication: engine,
        }
    }

    /// Applies `probes` one a minute from a stamp never probed; every judgement in order.
    fn run(probes: Vec<SiteProbe>, threshold: u32) -> Vec<Judgement> {
        let stamp = Uuid::new_v4();
        let start = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut current: Option<SiteHealth> = None;
        let mut out = Vec::new();
        for (i, p) in probes.into_iter().enumerate() {
            let at = start + Duration::minutes(i as i64);
            let judged = judge(stamp, current.as_ref(), p, at, threshold);
            let mut stored = judged.health.clone();
            stored.version += 1;
            current = Some(stored);
            out.push(judged);
        }
        out
    }

    fn verdicts(judged: &[Judgement]) -> Vec<SiteVerdict> {
        judged.iter().map(|j| j.health.verdict).collect()
    }

    #[test]
    fn a_stamp_whose_services_all_answer_is_up_and_its_first_up_is_no_change() {
        let judged = run(vec![probe(ok(), ok(), ok()); 2], 3);
        assert_eq!(verdicts(&judged), [SiteVerdict::Up, SiteVerdict::Up]);
        assert!(judged.iter().all(|j| !j.changed && !j.health.alert_pending));
        assert_eq!(judged[1].health.previous_verdict, None);
        assert_eq!(judged[1].health.consecutive_misses, 0);
    }

    #[test]
    fn a_stamp_cut_off_is_degraded_until_the_threshold_then_down() {
        let judged = run(
            vec![
                probe(ok(), ok(), ok()),
                probe(refused(), refused(), ok()),
                probe(refused(), refused(), ok()),
                probe(refused(), refused(), ok()),
                probe(refused(), refused(), ok()),
            ],
            3,
        );
        use SiteVerdict::*;
        assert_eq!(verdicts(&judged), [Up, Degraded, Degraded, Down, Down]);
        let changed: Vec<bool> = judged.iter().map(|j| j.changed).collect();
        assert_eq!(changed, [false, true, false, true, false]);
        let misses: Vec<u32> = judged.iter().map(|j| j.health.consecutive_misses).collect();
        assert_eq!(misses, [0, 1, 2, 3, 4]);
        assert_eq!(judged[3].health.previous_verdict, Some(Degraded));
        assert!(judged[3].health.reason.contains("3 consecutive probes"));
        assert!(judged[1].health.reason.contains("1 of 3"));
        // `since` is when the verdict began, and stays while it does.
        assert_eq!(judged[2].health.since, judged[1].health.since);
        assert_eq!(judged[4].health.since, judged[3].health.since);
        assert!(judged[3].health.since > judged[2].health.since);
    }

    #[test]
    fn the_replication_engine_failing_alone_never_makes_a_stamp_down() {
        let judged = run(vec![probe(ok(), ok(), refused()); 5], 2);
        assert!(
            judged
                .iter()
                .all(|j| j.health.verdict == SiteVerdict::Degraded)
        );
        assert!(judged.iter().all(|j| j.health.consecutive_misses == 0));
        assert!(judged[0].changed && !judged[1].changed);
        assert!(judged[0].health.reason.contains("Replication engine"));
    }

    #[test]
    fn one_own_service_answering_or_rejected_credentials_resets_the_count() {
        let judged = run(
            vec![
                probe(refused(), refused(), ok()),
                probe(refused(), ok(), ok()),
                probe(refused(), refused(), ok()),
                probe(rejected(), rejected(), ok()),
                probe(refused(), refused(), ok()),
            ],
            2,
        );
        assert_eq!(verdicts(&judged), [SiteVerdict::Degraded; 5]);
        let misses: Vec<u32> = judged.iter().map(|j| j.health.consecutive_misses).collect();
        assert_eq!(misses, [1, 0, 1, 0, 1]);
    }

    #[test]
    fn a_stamp_back_after_down_is_up_with_one_change() {
        let judged = run(
            vec![
                probe(refused(), refused(), ok()),
                probe(ok(), ok(), ok()),
                probe(ok(), ok(), ok()),
            ],
            1,
        );
        use SiteVerdict::*;
        assert_eq!(verdicts(&judged), [Down, Up, Up]);
        assert!(
            judged[0].changed,
            "a first probe that is not Up is a change"
        );
        assert!(judged[1].changed && !judged[2].changed);
        assert_eq!(judged[1].health.previous_verdict, Some(Down));
        assert_eq!(judged[1].health.consecutive_misses, 0);
    }

    #[test]
    fn a_pending_alert_is_kept_until_delivered_and_a_new_change_raises_its_own() {
        let stamp = Uuid::new_v4();
        let at = time::macros::datetime!(2026-01-01 00:00 UTC);
        let first = judge(stamp, None, probe(ok(), refused(), ok()), at, 3).health;
        assert!(first.alert_pending);
        let stayed = judge(stamp, Some(&first), probe(ok(), refused(), ok()), at, 3).health;
        assert!(stayed.alert_pending, "not delivered yet: still owed");
        let delivered = SiteHealth {
            alert_pending: false,
            ..stayed
        };
        let again = judge(stamp, Some(&delivered), probe(ok(), refused(), ok()), at, 3).health;
        assert!(!again.alert_pending);
        let healed = judge(stamp, Some(&again), probe(ok(), ok(), ok()), at, 3).health;
        assert!(healed.alert_pending);
        assert_eq!(
            healed.version, again.version,
            "judged against the stored version"
        );
    }

    #[test]
    fn verdict_names_read_back_ignoring_case() {
        for verdict in SiteVerdict::ALL {
            assert_eq!(SiteVerdict::from_name(verdict.as_str()), Some(verdict));
        }
        assert_eq!(SiteVerdict::from_name(" down "), Some(SiteVerdict::Down));
        assert_eq!(SiteVerdict::from_name("Unknown"), None);
    }
}
