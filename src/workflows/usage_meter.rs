//! `usage_meter`: bills the DR add-on through WAP's usage pipeline. Each run meters one period —
//! the last complete one when the run was started (by the database clock), or an earlier one a
//! provider names with `periodStart` to back-fill a period missed while wapdr was down — and
//! appends one usage record per DR subscription that is Enabled: its protected-VM, drill and
//! failed-over VM hours, sampled now (see [`crate::domain::usage`]).
//!
//! The first step fixes the period, so every later step of the run meters the same one however
//! late it runs; then one step per page of subscriptions samples them and appends their records,
//! each page appending the next, so a crash re-runs one page at most and no step ever holds every
//! subscription. A record's external id names its subscription and period and the store appends
//! it once, so a re-run, two instances or a webhook start beside the schedule never bill a period
//! twice. Metering only reads protection's records and never waits on them: it cannot hold up
//! protection.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::domain::{
    DrPhase, DrSubscription, DrUsageSample, FailoverPhase, MeteringPeriod, SubscriptionId,
    VmProtectionState,
};
use crate::engine::{StepContext, StepOutcome, StepSpec, Workflow};
use crate::store::{DrFilter, StateCounts, StepState};

use super::Stop;
use super::runbook_support::{outcome, u64_param};

/// The workflow's registered name.
pub const USAGE_METER: &str = "usage_meter";

/// The period when the runbook names none, in minutes.
const DEFAULT_PERIOD_MINUTES: u64 = 60;

/// DR subscriptions per step.
const PAGE: u32 = 200;

/// How far back a period may be back-filled. Meters are sampled when the period is metered, so
/// the further back, the less the sample says about the period; a month covers a billing cycle.
const MAX_BACKFILL: time::Duration = time::Duration::days(31);

/// The parameters a run takes.
const PARAMETERS: [&str; 2] = ["period_minutes", "periodStart"];

/// The metering runbook's workflow; parameters `{"period_minutes": 60, "periodStart": RFC 3339}`
/// (`periodStart` optional: an earlier period to back-fill).
pub struct UsageMeter {
    provider_name: String,
}

impl UsageMeter {
    /// The workflow, writing `provider_name` (the RP's registered name) into every record.
    pub fn new(provider_name: impl Into<String>) -> Self {
        Self {
            provider_name: provider_name.into(),
        }
    }
}

/// A run's parameters, checked.
struct MeterParams {
    minutes: u32,
    period: Option<MeteringPeriod>,
}

fn meter_params(params: &Value) -> Result<MeterParams, String> {
    match params {
        Value::Null => {}
        Value::Object(map) => {
            // A misspelt periodStart would silently meter the wrong period: refuse it.
            if let Some(unknown) = map.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
                return Err(format!(
                    "unknown parameter '{unknown}': usage_meter takes period_minutes and periodStart"
                ));
            }
        }
        _ => return Err("parameters must be a JSON object".into()),
    }
    let minutes = MeteringPeriod::check_minutes(u64_param(
        params,
        "period_minutes",
        DEFAULT_PERIOD_MINUTES,
    )?)?;
    let period = match params.get("periodStart") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            let start = OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
                format!("periodStart must be an RFC 3339 time such as 2024-05-01T10:00:00Z, not '{text}'")
            })?;
            Some(MeteringPeriod::starting_at(start, minutes)?)
        }
        Some(other) => {
            return Err(format!(
                "periodStart must be an RFC 3339 time such as 2024-05-01T10:00:00Z, not {other}"
            ));
        }
    };
    Ok(MeterParams { minutes, period })
}

#[async_trait]
impl Workflow for UsageMeter {
    fn name(&self) -> &'static str {
        USAGE_METER
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        meter_params(params).map(drop)
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            vec![StepSpec::new("choose the period", "choose_period").at_least_once()],
            vec![StepSpec::new("total", "total").at_least_once()],
        ]
    }

    fn subscription_of(&self, _params: &Value) -> Option<String> {
        None
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        outcome(match step.kind.as_str() {
            "choose_period" => choose_period(ctx).await,
            "meter_page" => self.meter_page(ctx, step).await,
            "total" => total(ctx).await,
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        })
    }
}

/// Fixes the run's period: the one named, once it has ended and is not too old, or the last
/// complete one when the run was created; then plans the first page.
async fn choose_period(ctx: &StepContext) -> Result<StepOutcome, Stop> {
    let params = meter_params(&ctx.params).map_err(Stop::Final)?;
    let now = ctx.store.database_now().await?;
    let period = match params.period {
        Some(period) => {
            if !period.is_complete_at(now) {
                return Err(Stop::Final(format!(
                    "The period from {} to {} has not ended yet (database clock {}): only a complete period can be metered.",
                    text(period.start()),
                    text(period.end()),
                    text(now)
                )));
            }
            if now - period.start() > MAX_BACKFILL {
                return Err(Stop::Final(format!(
                    "The period from {} is more than {} days old: meters are sampled when they are metered, so only periods of the last {} days can be back-filled.",
                    text(period.start()),
                    MAX_BACKFILL.whole_days(),
                    MAX_BACKFILL.whole_days()
                )));
            }
            period
        }
        None => {
            // The run's creation, not this attempt, so a retried or delayed step meters the
            // period the schedule (or the operator) meant.
            let created = ctx.store.get_run(ctx.run_id).await?.map(|r| r.created_at);
            MeteringPeriod::last_complete(created.unwrap_or(now), params.minutes)
        }
    };
    Ok(StepOutcome::DoneThen {
        output: json!({
            "periodStart": text(period.start()),
            "periodEnd": text(period.end()),
            "periodMinutes": period.minutes(),
            "backfill": params.period.is_some(),
        }),
        next: vec![vec![page_step(&period, None)]],
    })
}

fn page_step(period: &MeteringPeriod, after: Option<SubscriptionId>) -> StepSpec {
    let start = text(period.start());
    let mut input = json!({ "periodStart": start, "periodMinutes": period.minutes() });
    let name = match after {
        None => format!("meter {start}: first page"),
        Some(after) => {
            input["after"] = json!(after.to_string());
            format!("meter {start}: after {after}")
        }
    };
    StepSpec::new(name, "meter_page")
        .with_input(input)
        .at_least_once()
}

fn page_input(input: &Value) -> Result<(MeteringPeriod, Option<SubscriptionId>), Stop> {
    let bad = || Stop::Final(format!("bad page input {input}"));
    let start = input
        .get("periodStart")
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .ok_or_else(bad)?;
    let minutes = input
        .get("periodMinutes")
        .and_then(Value::as_u64)
        .ok_or_else(bad)
        .and_then(|m| MeteringPeriod::check_minutes(m).map_err(Stop::Final))?;
    let period = MeteringPeriod::starting_at(start, minutes).map_err(Stop::Final)?;
    let after = match input.get("after") {
        None => None,
        Some(after) => Some(
            after
                .as_str()
                .and_then(|s| SubscriptionId::parse(s).ok())
                .ok_or_else(bad)?,
        ),
    };
    Ok((period, after))
}

impl UsageMeter {
    /// Samples one page of Enabled DR subscriptions, appends their records (those not there
    /// already) and plans the next page.
    async fn meter_page(&self, ctx: &StepContext, step: &StepSpec) -> Result<StepOutcome, Stop> {
        let (period, after) = page_input(&step.input)?;
        let page = ctx
            .store
            .list_dr_subscriptions(&DrFilter {
                phase: Some(DrPhase::Enabled),
                after,
                limit: Some(PAGE),
                ..DrFilter::default()
            })
            .await?;
        let next = (page.len() == PAGE as usize)
            .then(|| page.last().map(|dr| dr.subscription_id))
            .flatten();
        let sampled_at = ctx.store.database_now().await?;
        let stamps: HashMap<Uuid, String> = ctx
            .store
            .list_stamps()
            .await?
            .into_iter()
            .map(|s| (s.id, s.name))
            .collect();
        let mut records = Vec::with_capacity(page.len());
        for dr in &page {
            let sample = sample(ctx, dr, &stamps, sampled_at).await?;
            records.push(sample.record(&period, &self.provider_name));
        }
        let appended = ctx.store.append_usage_once(&records).await?;
        let event_ids: Vec<i64> = appended.iter().flatten().copied().collect();
        let output = json!({
            "metered": page.len(),
            "appended": event_ids.len(),
            "alreadyThere": appended.len() - event_ids.len(),
            "eventIds": event_ids,
        });
        tracing::info!(
            period_start = %text(period.start()),
            metered = page.len(),
            appended = event_ids.len(),
            "usage metered"
        );
        Ok(match next {
            Some(after) => StepOutcome::DoneThen {
                output,
                next: vec![vec![page_step(&period, Some(after))]],
            },
            None => StepOutcome::Done(output),
        })
    }
}

/// What one DR subscription has now: its VMs by state, its failover phase, where it runs and
/// its replication frequency.
async fn sample(
    ctx: &StepContext,
    dr: &DrSubscription,
    stamps: &HashMap<Uuid, String>,
    sampled_at: OffsetDateTime,
) -> Result<DrUsageSample, Stop> {
    let id = dr.subscription_id;
    let counts = ctx.store.count_protected_vms(id).await?;
    let failover_phase = ctx
        .store
        .get_failover(id)
        .await?
        .map_or(FailoverPhase::Replicating, |f| f.phase);
    let replication_frequency_seconds = ctx
        .store
        .get_subscription(id)
        .await?
        .and_then(|sub| sub.effective_quota().ok())
        .map(|quota| quota.replication_frequency_seconds);
    Ok(DrUsageSample {
        subscription_id: id,
        active_stamp_id: dr.active_stamp_id,
        active_stamp_name: dr.active_stamp_id.and_then(|s| stamps.get(&s).cloned()),
        on_recovery: dr.active_stamp_id.is_some() && dr.active_stamp_id == dr.recovery_stamp_id,
        failover_phase,
        replication_frequency_seconds,
        protected_vms: count(&counts, VmProtectionState::counts_against_quota),
        replicating_vms: count(&counts, |s| s == VmProtectionState::Protected),
        sampled_at,
    })
}

fn count(counts: &StateCounts, wanted: impl Fn(VmProtectionState) -> bool) -> u64 {
    VmProtectionState::ALL
        .into_iter()
        .filter(|s| wanted(*s))
        .filter_map(|s| counts.get(s.as_str()))
        .sum()
}

/// Adds up the pages: subscriptions metered, records appended, records already there.
async fn total(ctx: &StepContext) -> Result<StepOutcome, Stop> {
    let steps = ctx.store.run_steps(ctx.run_id).await?;
    let done = |kind: &'static str| {
        steps
            .iter()
            .filter(move |s| s.kind == kind && s.state == StepState::Succeeded)
            .filter_map(|s| s.output.as_ref())
    };
    let sum = |key: &str| -> u64 { done("meter_page").filter_map(|o| o[key].as_u64()).sum() };
    let period = done("choose_period").next().cloned().unwrap_or(Value::Null);
    Ok(StepOutcome::Done(json!({
        "periodStart": period["periodStart"],
        "periodEnd": period["periodEnd"],
        "backfill": period["backfill"],
        "metered": sum("metered"),
        "appended": sum("appended"),
        "alreadyThere": sum("alreadyThere"),
    })))
}

/// A time as RFC 3339 text, for outputs and messages.
fn text(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_default_to_hourly_and_refuse_what_would_meter_the_wrong_period() {
        let defaults = meter_params(&json!({})).unwrap();
        assert_eq!((defaults.minutes, defaults.period), (60, None));
        let backfill =
            meter_params(&json!({"period_minutes": "30", "periodStart": "2024-05-01T10:30:00Z"}))
                .unwrap();
        assert_eq!(backfill.minutes, 30);
        assert!(backfill.period.is_some());
        for (params, says) in [
            (json!({"period_minutes": 7}), "divide a day"),
            (json!({"period_minutes": -60}), "non-negative whole number"),
            (json!({"periodStart": "yesterday"}), "RFC 3339"),
            (json!({"periodStart": 1714557600}), "RFC 3339"),
            (
                json!({"periodStart": "2024-05-01T10:30:00Z"}),
                "not the start of a 60-minute period",
            ),
            (
                json!({"period_start": "2024-05-01T10:00:00Z"}),
                "unknown parameter 'period_start'",
            ),
            (json!([1]), "JSON object"),
        ] {
            let err = meter_params(&params).err().unwrap_or_default();
            assert!(err.contains(says), "{params}: {err}");
        }
    }

    #[test]
    fn a_page_step_carries_its_period_and_key() {
        let period = MeteringPeriod::last_complete(OffsetDateTime::UNIX_EPOCH, 60);
        let after = SubscriptionId::new_random();
        let step = page_step(&period, Some(after));
        assert_eq!(page_input(&step.input).unwrap(), (period, Some(after)));
        assert_eq!(page_input(&page_step(&period, None).input).unwrap().1, None);
    }
}
