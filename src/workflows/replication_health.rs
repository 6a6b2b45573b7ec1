//! `replication_health`: reads the replication engine's view of every Protected or Enabling VM
//! and records it (health, what the engine says about it, last replicated time, newest recovery
//! point, Enabling → Protected), and raises an alert when a VM's health turns Warning or Critical
//! or its RPO passes the runbook's `rpo_alert_minutes`.
//!
//! The records are read a page at a time; each page is one step that reads recovery points only
//! for VMs that replicated something new. A run asks the engine for each cloud's items
//! (`protected_items`) once and reads its pages against that one listing (one snapshot of the
//! engine per run): listing the cloud again for each page of 200 made a run over 100,000 VMs
//! list 50,000 items 500 times. The next page is a step appended by this one, so a crash re-runs one
//! page at most. Alerts go out only on change (compared with the record as last stored), and are
//! posted before the record is saved, so a failed post is retried with the same `AlertId` rather
//! than forgotten.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{ProtectedVm, SubscriptionId, VmHealth, VmProtectionState};
use crate::engine::{StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::replication::{Health, Phase, ProtectionStatus};
use crate::fabric::{Alert, ReplicationEngine};
use crate::store::{StoreError, VmFilter};

use super::StampClients;
use super::Stop;
use super::fabric_refs::engine;
use super::runbook_support::{Sites, item_ref, outcome, u64_param};

/// The workflow's registered name.
pub const REPLICATION_HEALTH: &str = "replication_health";

/// VM records per step.
const PAGE: u32 = 200;

/// The RPO threshold when the runbook names none, in minutes.
const DEFAULT_RPO_ALERT_MINUTES: u64 = 30;

/// How long a run keeps a cloud's listing for its later pages (a run that outlives it lists
/// the cloud again); its last page drops them.
const LISTING_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// The health runbook's workflow; parameters `{"rpo_alert_minutes": 30}`.
pub struct ReplicationHealth {
    clients: Arc<StampClients>,
    /// Each run's listing of each cloud's items: by (run id, stamp id, cloud id).
    listings: moka::future::Cache<(Uuid, Uuid, Uuid), Arc<HashMap<Uuid, ProtectionStatus>>>,
}

impl ReplicationHealth {
    /// The workflow, reaching the engine and the alert webhook through `clients`.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self {
            clients,
            listings: moka::future::Cache::builder()
                .time_to_live(LISTING_TTL)
                .max_capacity(16)
                .support_invalidation_closures()
                .build(),
        }
    }
}

fn rpo_alert_minutes(params: &Value) -> Result<u64, String> {
    let minutes = u64_param(params, "rpo_alert_minutes", DEFAULT_RPO_ALERT_MINUTES)?;
    if minutes == 0 || minutes > 7 * 24 * 60 {
        return Err("rpo_alert_minutes must be between 1 and 10080 (a week)".into());
    }
    Ok(minutes)
}

fn page_step(after: Option<(SubscriptionId, Uuid)>) -> StepSpec {
    let (name, input) = match after {
        None => ("check health: first page".to_owned(), json!({})),
        Some((subscription, vm)) => (
            format!("check health: after {subscription}/{vm}"),
            json!({ "after": [subscription.to_string(), vm.to_string()] }),
        ),
    };
    StepSpec::new(name, "check_page")
        .with_input(input)
        .at_least_once()
}

fn page_after(input: &Value) -> Result<Option<(SubscriptionId, Uuid)>, Stop> {
    let Some(after) = input.get("after") else {
        return Ok(None);
    };
    let bad = || Stop::Final(format!("bad page key {after}"));
    let subscription = after
        .get(0)
        .and_then(Value::as_str)
        .and_then(|s| SubscriptionId::parse(s).ok())
        .ok_or_else(bad)?;
    let vm = after
        .get(1)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(bad)?;
    Ok(Some((subscription, vm)))
}

#[async_trait]
impl Workflow for ReplicationHealth {
    fn name(&self) -> &'static str {
        REPLICATION_HEALTH
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        rpo_alert_minutes(params).map(drop)
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![page_step(None)]]
    }

    fn subscription_of(&self, _params: &Value) -> Option<String> {
        None
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        outcome(self.check_page(ctx, step).await)
    }
}

/// What one VM's check found.
struct Observed {
    before: ProtectedVm,
    after: ProtectedVm,
    alert: Option<String>,
}

impl ReplicationHealth {
    async fn check_page(&self, ctx: &StepContext, step: &StepSpec) -> Result<StepOutcome, Stop> {
        let threshold = rpo_alert_minutes(&ctx.params).map_err(Stop::Final)?;
        let records = ctx
            .store
            .query_protected_vms(&VmFilter {
                states: vec![VmProtectionState::Protected, VmProtectionState::Enabling],
                after: page_after(&step.input)?,
                limit: Some(PAGE),
                ..VmFilter::default()
            })
            .await?;
        let next = (records.len() == PAGE as usize)
            .then(|| records.last().map(|r| (r.subscription_id, r.vm_id)))
            .flatten();
        let now = ctx.store.database_now().await?;
        let engine = engine(&self.clients)?;
        let statuses = self.statuses(ctx, &engine, &records).await?;

        let mut observed = Vec::new();
        let mut unreadable = Vec::new();
        for record in records {
            let key = (record.stamp_id, record.cloud_id);
            let status = match statuses.get(&key) {
                Some(Ok(items)) => items.get(&record.vm_id),
                Some(Err(message)) => {
                    unreadable.push(json!({"vmId": record.vm_id, "reason": message}));
                    continue;
                }
                None => None,
            };
            let mut after = observe(&record, status, now);
            if after.last_replicated.is_some()
                && (after.last_replicated != record.last_replicated
                    || record.last_recovery_point.is_none())
            {
                after.last_recovery_point = self
                    .newest_point(ctx, &engine, &record)
                    .await?
                    .or(record.last_recovery_point);
            }
            let alert = alert_reason(&record, &after, now, threshold);
            observed.push(Observed {
                before: record,
                after,
                alert,
            });
        }

        let alerts = self.clients.alerts().transpose()?;
        let mut updated = 0;
        let mut skipped = Vec::new();
        let mut raised = Vec::new();
        let mut vms = Vec::new();
        // Records without an alert first: a failed alert post then retries only what it must.
        observed.sort_by_key(|o| o.alert.is_some());
        for o in observed {
            let rpo = o.after.rpo_seconds(now);
            vms.push(json!({
                "vmId": o.after.vm_id,
                "name": o.after.name,
                "state": o.after.state.as_str(),
                "health": o.after.health.map(VmHealth::as_str),
                "rpoSeconds": rpo,
            }));
            if let Some(reason) = &o.alert {
                let alert = health_alert(&o.before, &o.after, rpo, reason, now);
                match &alerts {
                    Some(client) => client.send(&alert).await?,
                    None => tracing::warn!(
                        subscription = %alert.subscription_id, vm = %alert.vm_id,
                        health = %alert.health, %reason,
                        "replication alert (no [alerts] webhook_url configured)"
                    ),
                }
                raised.push(serde_json::to_value(&alert).unwrap_or(Value::Null));
            }
            if o.after == o.before {
                continue;
            }
            match ctx.store.save_protected_vm(&o.after).await {
                Ok(_) => updated += 1,
                // Another workflow changed the record meanwhile; the next run looks again.
                Err(StoreError::Conflict) => skipped.push(o.after.vm_id),
                Err(err) => return Err(err.into()),
            }
        }
        let output = json!({
            "checked": vms.len() + unreadable.len(),
            "updated": updated,
            "alerts": raised,
            "vms": vms,
            "unreadable": unreadable,
            "changedMeanwhile": skipped,
        });
        Ok(match next {
            Some(after) => StepOutcome::DoneThen {
                output,
                next: vec![vec![page_step(Some(after))]],
            },
            None => {
                // The run's last page: its listings (a cloud of 50,000 items is tens of MB) go
                // now rather than when they expire.
                let run = ctx.run_id;
                if let Err(err) = self
                    .listings
                    .invalidate_entries_if(move |key, _| key.0 == run)
                {
                    tracing::warn!(%err, "replication health kept a finished run's listings");
                }
                StepOutcome::Done(output)
            }
        })
    }

    /// The engine's status of the page's VMs, from one `protected_items` call per (stamp, cloud)
    /// and run; a cloud the engine cannot resolve is reported, not fatal for the others.
    async fn statuses(
        &self,
        ctx: &StepContext,
        engine: &Arc<dyn ReplicationEngine>,
        records: &[ProtectedVm],
    ) -> Result<StatusMap, Stop> {
        let mut sites = Sites::new(engine.clone());
        let mut out: StatusMap = HashMap::new();
        for record in records {
            let key = (record.stamp_id, record.cloud_id);
            if out.contains_key(&key) {
                continue;
            }
            let listing = self
                .listings
                .try_get_with((ctx.run_id, key.0, key.1), async {
                    let container = sites
                        .container(&self.clients, &ctx.store, key.0, key.1)
                        .await?;
                    let items = engine.protected_items(&container).await?;
                    Ok::<_, Stop>(Arc::new(
                        items
                            .into_iter()
                            .filter_map(|i| {
                                Uuid::parse_str(i.item.vm_id.trim())
                                    .ok()
                                    .map(|id| (id, i.status))
                            })
                            .collect(),
                    ))
                })
                .await;
            match listing {
                Ok(by_vm) => {
                    out.insert(key, Ok(by_vm));
                }
                Err(stop) => match &*stop {
                    Stop::Final(message) => {
                        out.insert(key, Err(message.clone()));
                    }
                    transient => return Err(transient.clone()),
                },
            }
        }
        Ok(out)
    }

    /// The newest recovery point of a VM, if the engine has any.
    async fn newest_point(
        &self,
        ctx: &StepContext,
        engine: &Arc<dyn ReplicationEngine>,
        record: &ProtectedVm,
    ) -> Result<Option<OffsetDateTime>, Stop> {
        let mut sites = Sites::new(engine.clone());
        let container = sites
            .container(&self.clients, &ctx.store, record.stamp_id, record.cloud_id)
            .await?;
        let points = engine
            .recovery_points(&item_ref(&container, record.vm_id))
            .await?;
        Ok(points.into_iter().map(|p| p.time).max())
    }
}

/// Each (stamp, cloud)'s protected items by VM id, or why they could not be read.
type StatusMap = HashMap<(Uuid, Uuid), Result<Arc<HashMap<Uuid, ProtectionStatus>>, String>>;

/// The record as the engine's status says it is now (`None`: the engine does not protect it).
fn observe(
    record: &ProtectedVm,
    status: Option<&ProtectionStatus>,
    now: OffsetDateTime,
) -> ProtectedVm {
    let mut next = record.clone();
    let Some(status) = status else {
        if record.state == VmProtectionState::Protected {
            next.health = Some(VmHealth::Critical);
            next.health_detail =
                Some("The replication engine no longer protects this VM.".to_owned());
        }
        return next;
    };
    next.health = Some(match status.health {
        Health::Normal => VmHealth::Normal,
        Health::Warning => VmHealth::Warning,
        Health::Critical => VmHealth::Critical,
    });
    next.health_detail =
        (!status.health_errors.is_empty()).then(|| status.health_errors.join("; "));
    if status.last_replicated.is_some() {
        next.last_replicated = status.last_replicated;
    }
    if let Some(replica) = status
        .replica_vm_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id.trim()).ok())
    {
        next.replica_vm_id = Some(replica);
    }
    match status.phase {
        Phase::Enabling => {
            next.initial_replication_percent = status.initial_replication_percent;
        }
        Phase::Protected if record.state == VmProtectionState::Enabling => {
            next.state = VmProtectionState::Protected;
            next.initial_replication_percent = Some(100);
            next.protected_at = record.protected_at.or(Some(now));
        }
        _ => {}
    }
    next
}

/// Why to alert about a VM now, if its health turned Warning or Critical since the record was
/// last stored, or its RPO passed `threshold_minutes` since then; nothing when it stays so.
fn alert_reason(
    before: &ProtectedVm,
    after: &ProtectedVm,
    now: OffsetDateTime,
    threshold_minutes: u64,
) -> Option<String> {
    let limit = i64::try_from(threshold_minutes.saturating_mul(60)).unwrap_or(i64::MAX);
    let bad = |h: Option<VmHealth>| h.filter(|h| *h != VmHealth::Normal);
    let mut reasons = Vec::new();
    if let Some(health) = bad(after.health) {
        if bad(before.health) != Some(health) {
            let detail = after
                .health_detail
                .as_deref()
                .unwrap_or("the replication engine gives no detail");
            reasons.push(format!(
                "Replication health is {}: {detail}",
                health.as_str()
            ));
        }
    }
    let over = |vm: &ProtectedVm, at: OffsetDateTime| vm.rpo_seconds(at).is_some_and(|s| s > limit);
    // The RPO the record showed when it was last stored, against the threshold then.
    let was_over = before.version > 0 && before.health.is_some() && over(before, before.updated_at);
    if over(after, now) && !was_over {
        let minutes = after.rpo_seconds(now).unwrap_or_default() / 60;
        reasons.push(format!(
            "RPO is {minutes} minutes, beyond the {threshold_minutes}-minute threshold"
        ));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The alert for a VM; its id is the same on every attempt at this check (the record's version
/// changes only once the check is saved).
fn health_alert(
    before: &ProtectedVm,
    after: &ProtectedVm,
    rpo_seconds: Option<i64>,
    reason: &str,
    now: OffsetDateTime,
) -> Alert {
    let health = after.health.unwrap_or(VmHealth::Normal);
    Alert {
        alert_id: format!(
            "replication-health:{}:{}:v{}:{}",
            after.subscription_id,
            after.vm_id,
            before.version,
            health.as_str()
        ),
        kind: "ReplicationHealth".into(),
        subscription_id: after.subscription_id.to_string(),
        vm_id: after.vm_id.to_string(),
        vm_name: after.name.clone(),
        health: health.as_str().into(),
        previous_health: before.health.map(|h| h.as_str().to_owned()),
        rpo_seconds,
        reason: reason.to_owned(),
        detected_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        health: Option<VmHealth>,
        replicated_minutes_ago: Option<i64>,
        now: OffsetDateTime,
    ) -> ProtectedVm {
        let mut vm = ProtectedVm::pending(
            SubscriptionId::new_random(),
            Uuid::new_v4(),
            "web".into(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        vm.state = VmProtectionState::Protected;
        vm.health = health;
        vm.last_replicated = replicated_minutes_ago.map(|m| now - time::Duration::minutes(m));
        vm.updated_at = now;
        vm.version = 3;
        vm
    }

    #[test]
    fn health_turning_bad_alerts_once_and_staying_bad_does_not() {
        let now = OffsetDateTime::now_utc();
        let before = record(Some(VmHealth::Normal), Some(1), now);
        let mut after = before.clone();
        after.health = Some(VmHealth::Warning);
        after.health_detail = Some("cycles missed".into());
        let reason = alert_reason(&before, &after, now, 30).expect("an alert");
        assert!(
            reason.contains("Warning") && reason.contains("cycles missed"),
            "{reason}"
        );
        assert_eq!(alert_reason(&after, &after, now, 30), None);
        let mut worse = after.clone();
        worse.health = Some(VmHealth::Critical);
        assert!(alert_reason(&after, &worse, now, 30).is_some());
        let mut healed = after.clone();
        healed.health = Some(VmHealth::Normal);
        assert_eq!(alert_reason(&after, &healed, now, 30), None);
    }

    #[test]
    fn an_rpo_past_the_threshold_alerts_when_it_crosses_it() {
        let now = OffsetDateTime::now_utc();
        // Stored 15 minutes ago with an RPO of 20 minutes; nothing replicated since: 35 now.
        let mut before = record(Some(VmHealth::Normal), Some(35), now);
        before.updated_at = now - time::Duration::minutes(15);
        let after = before.clone();
        let reason = alert_reason(&before, &after, now, 30).expect("an alert");
        assert!(reason.contains("RPO is 35 minutes"), "{reason}");
        // Stored already over the threshold: no second alert.
        let stored = ProtectedVm {
            updated_at: now,
            ..after.clone()
        };
        assert_eq!(alert_reason(&stored, &after, now, 30), None);
    }

    #[test]
    fn enabling_becomes_protected_when_the_engine_says_so() {
        let now = OffsetDateTime::now_utc();
        let mut vm = record(None, None, now);
        vm.state = VmProtectionState::Enabling;
        let status = ProtectionStatus {
            phase: Phase::Protected,
            active_location: crate::fabric::replication::Location::Primary,
            allowed: Vec::new(),
            health: Health::Normal,
            health_errors: Vec::new(),
            last_replicated: Some(now),
            initial_replication_percent: None,
            replica_vm_id: Some(Uuid::nil().to_string()),
            operation_in_progress: None,
        };
        let next = observe(&vm, Some(&status), now);
        assert_eq!(next.state, VmProtectionState::Protected);
        assert_eq!(next.protected_at, Some(now));
        assert_eq!(next.health, Some(VmHealth::Normal));
        assert_eq!(next.replica_vm_id, Some(Uuid::nil()));
    }
}
