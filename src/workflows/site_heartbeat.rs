//! `site_heartbeat`: probes every registered stamp (its SPF, its WAP admin API, and the
//! replication engine about its site), records each stamp's verdict and probe history, and posts
//! one alert when a stamp's verdict changes, never again while it stays.
//!
//! One step lists the stamps and fans out one step per stamp, so stamps are probed in parallel
//! and one slow stamp delays no other. Probes are tried once with short timeouts
//! ([`StampClients::probes`]): a heartbeat must answer within seconds, and a retry would only
//! hide the outage it looks for. A probe is recorded by compare-and-set against the health it was
//! judged on; when another heartbeat recorded first, it is judged again on top of that one, so no
//! probe is lost and only one heartbeat records (and alerts) a given change. A step re-run after
//! a crash takes a new probe, which counts like any other.
//!
//! The alert of a change is posted by the heartbeat that recorded it, right after recording; the
//! change stays marked as owed until the post succeeds. One the webhook did not take is sent
//! again, with the same `AlertId`, by the first heartbeat at least [`OWED_AFTER`] after the change:
//! by then the heartbeat that recorded it has given up, so two heartbeats never post a fresh one.
//! [`heartbeat_stamp`] is the per-stamp logic and its [`StampHeartbeat`] the step's output.
//!
//! A stamp the provider opted in to automatic failover (`AutoFailover`) that is judged Down gets
//! an unplanned site failover, started once per outage (the verdict is its fencing); the step
//! output's `autoFailover` then names the site job instead of `true`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{FailoverKind, RecoveryPointChoice, SiteHealth, SiteVerdict, Stamp, judge};
use crate::engine::{StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::SiteAlert;
use crate::store::{RunPriority, SharedStore, StoreError};

use super::StampClients;
use super::Stop;
use super::runbook_support::{outcome, u64_param};
use super::site_failover::{SiteStartError, start_site_operation};
use super::site_probe::probe_stamp;

/// The workflow's registered name.
pub const SITE_HEARTBEAT: &str = "site_heartbeat";

/// Consecutive probes with SPF and the WAP admin API unreachable before a stamp is Down, when
/// the runbook names none.
const DEFAULT_MISSED_BEFORE_ALERT: u64 = 3;

/// The most `missed_before_alert` may be: a day of probes a minute apart.
const MAX_MISSED_BEFORE_ALERT: u64 = 24 * 60;

/// How long after a change a heartbeat that did not record it sends its alert, if still owed:
/// longer than the recording heartbeat's post with all its retries can take.
pub const OWED_AFTER: Duration = Duration::from_secs(5 * 60);

/// How often a probe is judged again on a health another heartbeat recorded meanwhile.
const RECORD_ATTEMPTS: usize = 5;

/// The heartbeat runbook's workflow; parameters `{"missed_before_alert": 3}`.
pub struct SiteHeartbeat {
    clients: Arc<StampClients>,
}

impl SiteHeartbeat {
    /// The workflow, probing through `clients.probes()` and alerting through `clients`.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self { clients }
    }
}

/// The `missed_before_alert` parameter, checked.
fn missed_before_alert(params: &Value) -> Result<u32, String> {
    let missed = u64_param(params, "missed_before_alert", DEFAULT_MISSED_BEFORE_ALERT)?;
    if missed == 0 || missed > MAX_MISSED_BEFORE_ALERT {
        return Err(format!(
            "missed_before_alert must be between 1 and {MAX_MISSED_BEFORE_ALERT}"
        ));
    }
    u32::try_from(missed).map_err(|_| "missed_before_alert is too large".to_owned())
}

#[async_trait]
impl Workflow for SiteHeartbeat {
    fn name(&self) -> &'static str {
        SITE_HEARTBEAT
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Watch
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        missed_before_alert(params).map(drop)
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![StepSpec::new("list stamps", "list").at_least_once()]]
    }

    fn subscription_of(&self, _params: &Value) -> Option<String> {
        None
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let result = match step.kind.as_str() {
            "list" => list(ctx).await,
            "probe_stamp" => self.probe(ctx, step).await.map(StepOutcome::Done),
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        };
        outcome(result)
    }
}

/// Lists the stamps and fans out one probe step each.
async fn list(ctx: &StepContext) -> Result<StepOutcome, Stop> {
    let steps: Vec<StepSpec> = ctx
        .store
        .list_stamps()
        .await?
        .into_iter()
        .map(|stamp| {
            StepSpec::new(format!("heartbeat of stamp {}", stamp.name), "probe_stamp")
                .with_input(json!({ "stampId": stamp.id.to_string() }))
                .at_least_once()
        })
        .collect();
    let output = json!({ "stamps": steps.len() });
    Ok(if steps.is_empty() {
        StepOutcome::Done(output)
    } else {
        StepOutcome::DoneThen {
            output,
            next: vec![steps],
        }
    })
}

impl SiteHeartbeat {
    async fn probe(&self, ctx: &StepContext, step: &StepSpec) -> Result<Value, Stop> {
        let missed = missed_before_alert(&ctx.params).map_err(Stop::Final)?;
        let stamp_id = step
            .input
            .get("stampId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| Stop::Final("the step names no stamp".into()))?;
        let Some(beat) = heartbeat_stamp(&self.clients, &ctx.store, stamp_id, missed).await? else {
            return Ok(
                json!({ "stampId": stamp_id.to_string(), "skipped": "the stamp was deleted" }),
            );
        };
        let mut output = beat.to_json();
        if beat.verdict == SiteVerdict::Down && beat.auto_failover {
            output["autoFailover"] = auto_failover(ctx, &beat).await?;
        }
        Ok(output)
    }
}

/// Starts the automatic unplanned failover of a stamp the provider opted in and the heartbeat
/// judged Down (its verdict is the fencing): once per outage, however many heartbeats see it
/// Down and whichever of them crashes — each asks again with the same outage key, which creates
/// the site job only the first time. Returns what the step output shows.
async fn auto_failover(ctx: &StepContext, beat: &StampHeartbeat) -> Result<Value, Stop> {
    let Some(health) = ctx.store.get_site_health(beat.stamp_id).await? else {
        return Ok(Value::Bool(true));
    };
    let since = crate::clock::rfc3339(health.since);
    let started = start_site_operation(
        &ctx.store,
        &ctx.registry,
        beat.stamp_id,
        FailoverKind::UnplannedFailover {
            point: RecoveryPointChoice::Latest,
        },
        false,
        Some(format!(
            "automatic failover: the site heartbeat judged stamp '{}' Down since {since} ({})",
            beat.name, health.reason
        )),
        "wapdr (site-heartbeat)",
        "heartbeat",
        Some(format!("auto-site-failover:{}:{since}", beat.stamp_id)),
    )
    .await;
    Ok(match started {
        Ok(job) => json!({ "siteJobId": job.to_string() }),
        Err(SiteStartError::Store(err)) => return Err(err.into()),
        // Another site operation of the stamp is under way (an operator's): it is not doubled.
        Err(other) => json!({ "notStarted": other.to_string() }),
    })
}

/// What one heartbeat made of a stamp: the step's output, and what automatic site failover
/// reads (`changed` and `verdict == Down` on a stamp with `auto_failover`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampHeartbeat {
    /// The stamp.
    pub stamp_id: Uuid,
    /// Its name.
    pub name: String,
    /// The verdict after this probe.
    pub verdict: SiteVerdict,
    /// The verdict before this probe (`None`: the stamp was never probed).
    pub previous_verdict: Option<SiteVerdict>,
    /// Whether this probe changed the verdict (a stamp never probed counts as Up before).
    pub changed: bool,
    /// Consecutive probes, this one included, with SPF and the WAP admin API unreachable.
    pub consecutive_misses: u32,
    /// Whether the provider opted the stamp in to automatic site failover.
    pub auto_failover: bool,
}

impl StampHeartbeat {
    /// The step output: `{"stampId", "name", "verdict", "previousVerdict", "changed",
    /// "consecutiveMisses", "autoFailover"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "stampId": self.stamp_id.to_string(),
            "name": self.name,
            "verdict": self.verdict.as_str(),
            "previousVerdict": self.previous_verdict.map(SiteVerdict::as_str),
            "changed": self.changed,
            "consecutiveMisses": self.consecutive_misses,
            "autoFailover": self.auto_failover,
        })
    }
}

/// One heartbeat of stamp `stamp_id`: probes it through `clients.probes()`, judges the probe with
/// `missed_before_alert`, records it, and posts the alert of a change through `clients`.
/// `None` when the stamp no longer exists. Fails only when the store does.
#[instrument(skip_all, fields(%stamp_id), err)]
pub async fn heartbeat_stamp(
    clients: &StampClients,
    store: &SharedStore,
    stamp_id: Uuid,
    missed_before_alert: u32,
) -> Result<Option<StampHeartbeat>, Stop> {
    let Some(stamp) = store.get_stamp(stamp_id).await? else {
        return Ok(None);
    };
    let found = probe_stamp(&clients.probes(), &stamp).await;
    if let (None, Some(id)) = (stamp.spf_stamp_id, found.spf_stamp_id) {
        // Recorded as verify would, so failover can find the stamp's site without its SPF.
        store.set_spf_stamp_id(stamp.id, id).await?;
    }
    let at = whole_millis(store.database_now().await?);
    let mut before = store.get_site_health(stamp.id).await?;
    for _ in 0..RECORD_ATTEMPTS {
        let judged = judge(
            stamp.id,
            before.as_ref(),
            found.probe.clone(),
            at,
            missed_before_alert,
        );
        let stored = match store.record_site_probe(&judged.health).await {
            Ok(stored) => stored,
            Err(StoreError::Conflict) => {
                // Another heartbeat recorded meanwhile (or the stamp went): judge on top of it.
                if store.get_stamp(stamp.id).await?.is_none() {
                    return Ok(None);
                }
                before = store.get_site_health(stamp.id).await?;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let owed_long_enough = stored.since + OWED_AFTER <= at;
        if stored.alert_pending && (judged.changed || owed_long_enough) {
            deliver(clients, store, &stamp, &stored).await?;
        }
        if judged.changed {
            tracing::info!(
                stamp = %stamp.name,
                verdict = stored.verdict.as_str(),
                previous = before.as_ref().map(|b| b.verdict.as_str()),
                "site verdict changed"
            );
        }
        return Ok(Some(StampHeartbeat {
            stamp_id: stamp.id,
            name: stamp.name.clone(),
            verdict: stored.verdict,
            previous_verdict: before.as_ref().map(|b| b.verdict),
            changed: judged.changed,
            consecutive_misses: stored.consecutive_misses,
            auto_failover: stamp.auto_failover,
        }));
    }
    Err(Stop::Transient(format!(
        "stamp '{}': other heartbeats kept recording first; trying again",
        stamp.name
    )))
}

/// `at` without its sub-millisecond part, as the store keeps times it compares.
fn whole_millis(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_millisecond(at.millisecond()).unwrap_or(at)
}

/// The alert of `health`'s verdict change; its id is the same on every re-send (one change of a
/// stamp has one `since`).
pub fn site_alert(stamp: &Stamp, health: &SiteHealth) -> SiteAlert {
    SiteAlert {
        alert_id: format!(
            "site-health:{}:{}:{}",
            stamp.id,
            health.verdict.as_str(),
            (health.since.unix_timestamp_nanos() / 1_000_000)
        ),
        kind: "SiteHealth".into(),
        stamp_id: stamp.id.to_string(),
        stamp_name: stamp.name.clone(),
        verdict: health.verdict.as_str().into(),
        previous_verdict: health.previous_verdict.map(|v| v.as_str().to_owned()),
        auto_failover: stamp.auto_failover,
        reason: health.reason.clone(),
        detected_at: health.since,
    }
}

/// Posts the alert `health` owes and marks it delivered; a post that fails leaves it owed (a
/// later heartbeat sends it again) and is only logged, so a webhook outage never fails the
/// heartbeat. Without a webhook the alert is logged and counts as delivered.
async fn deliver(
    clients: &StampClients,
    store: &SharedStore,
    stamp: &Stamp,
    health: &SiteHealth,
) -> Result<(), Stop> {
    let alert = site_alert(stamp, health);
    match clients.alerts() {
        None => tracing::warn!(
            stamp = %alert.stamp_name, verdict = %alert.verdict, reason = %alert.reason,
            "site health alert (no [alerts] webhook_url configured)"
        ),
        Some(client) => {
            let sent = match client {
                Ok(client) => client.send(&alert).await,
                Err(err) => Err(err),
            };
            if let Err(err) = sent {
                tracing::warn!(
                    alert_id = %alert.alert_id, error = %err,
                    "site health alert not delivered; a later heartbeat sends it again"
                );
                return Ok(());
            }
        }
    }
    store
        .clear_site_alert(stamp.id, health.verdict, health.since)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ServiceProbe, SiteProbe};
    use secrecy::SecretString;

    #[test]
    fn missed_before_alert_defaults_to_three_and_must_be_positive() {
        assert_eq!(missed_before_alert(&json!({})), Ok(3));
        assert_eq!(
            missed_before_alert(&json!({"missed_before_alert": 5})),
            Ok(5)
        );
        assert_eq!(
            missed_before_alert(&json!({"missed_before_alert": "2"})),
            Ok(2)
        );
        assert!(missed_before_alert(&json!({"missed_before_alert": 0})).is_err());
        assert!(missed_before_alert(&json!({"missed_before_alert": -1})).is_err());
        assert!(missed_before_alert(&json!({"missed_before_alert": 100_000})).is_err());
    }

    #[test]
    fn the_step_output_has_the_shape_site_failover_reads() {
        let beat = StampHeartbeat {
            stamp_id: Uuid::nil(),
            name: "A".into(),
            verdict: SiteVerdict::Down,
            previous_verdict: Some(SiteVerdict::Degraded),
            changed: true,
            consecutive_misses: 3,
            auto_failover: true,
        };
        assert_eq!(
            beat.to_json(),
            json!({
                "stampId": Uuid::nil().to_string(), "name": "A", "verdict": "Down",
                "previousVerdict": "Degraded", "changed": true, "consecutiveMisses": 3,
                "autoFailover": true,
            })
        );
    }

    #[test]
    fn an_alert_keeps_its_id_for_one_change_and_gets_a_new_one_for_the_next() {
        let stamp = Stamp {
            id: Uuid::new_v4(),
            name: "A".into(),
            spf_url: "https://spf".into(),
            spf_username: "u".into(),
            spf_password: SecretString::from("p"),
            spf_stamp_id: None,
            wap_admin_url: "https://wap".into(),
            wap_admin_token: SecretString::from("t"),
            tenant_portal_url: "https://portal".into(),
            auto_failover: true,
        };
        let probe = SiteProbe {
            spf: ServiceProbe::unreachable(1, "refused"),
            wap_admin: ServiceProbe::unreachable(1, "refused"),
            replication: ServiceProbe::answered(1, "ok"),
        };
        let at = time::macros::datetime!(2026-01-01 00:00:00.125 UTC);
        let degraded = judge(stamp.id, None, probe.clone(), at, 2).health;
        let still = judge(
            stamp.id,
            Some(&degraded),
            probe.clone(),
            at + time::Duration::minutes(1),
            3,
        )
        .health;
        let first = site_alert(&stamp, &degraded);
        let resent = site_alert(&stamp, &still);
        assert_eq!(
            (&first.alert_id, first.detected_at),
            (&resent.alert_id, resent.detected_at),
            "a re-send is the same alert"
        );
        assert_eq!(first.kind, "SiteHealth");
        assert_eq!(first.verdict, "Degraded");
        assert_eq!(first.previous_verdict, None);
        assert!(first.auto_failover);
        let down = judge(
            stamp.id,
            Some(&still),
            probe,
            at + time::Duration::minutes(2),
            2,
        )
        .health;
        let next = site_alert(&stamp, &down);
        assert_ne!(next.alert_id, first.alert_id);
        assert_eq!(next.previous_verdict.as_deref(), Some("Degraded"));
        let body = serde_json::to_value(&next).unwrap();
        for member in [
            "AlertId",
            "Kind",
            "StampId",
            "StampName",
            "Verdict",
            "PreviousVerdict",
            "Reason",
            "DetectedAt",
        ] {
            assert!(body.get(member).is_some(), "{member} in {body}");
        }
    }
}
