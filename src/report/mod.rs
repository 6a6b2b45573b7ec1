//! Failover and drill reports: what a failover job did, group by group and VM by VM, with its
//! timeline and measured recovery time, built from the job's own records (its run and steps,
//! which wapdr keeps), so a report exists for every operation — succeeded, failed or still
//! running — and always agrees with the job.
//!
//! - [`recovery_timing`]: the recovery time (RTO) of a job, with manual waits, scripts and
//!   delays reported apart (ASR's SLA counts RTO without manual actions and customer scripts);
//! - [`failover_report`]: the report as JSON (the admin and tenant APIs serve it);
//! - [`html`]: the same report as one self-contained HTML page with a timeline.
//!
//! No I/O: callers read the records and hand them in.

pub mod html;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::store::{RunRecord, StepRecord, StepState};

/// The VM operations that bring VMs up on the other side: the recovery time runs until the last
/// of them is done.
const STARTING_OPERATIONS: [&str; 4] = [
    "testFailover",
    "plannedFailover",
    "unplannedFailover",
    "cancelFailover",
];

/// A job's recovery time and what went into it, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RecoveryTiming {
    /// From the job's creation to the last VM running on the target (`None` when the job
    /// starts no VM, or none yet).
    pub rto_seconds: Option<f64>,
    /// The same without manual waits and scripts (as ASR's SLA counts RTO).
    pub rto_excluding_manual_and_scripts_seconds: Option<f64>,
    /// Time spent waiting for operators' acknowledgements before the last VM ran.
    pub manual_seconds: f64,
    /// Time spent in scripts and runbooks before the last VM ran.
    pub script_seconds: f64,
    /// Time spent in the plan's delays between groups before the last VM ran.
    pub delay_seconds: f64,
}

/// How long a step took, in seconds (0 while it has not finished).
fn seconds_of(step: &StepRecord) -> f64 {
    match (step.started_at, step.finished_at) {
        (Some(start), Some(end)) => (end - start).as_seconds_f64().max(0.0),
        _ => 0.0,
    }
}

/// The action kind of an `action` step (`Script`, `Runbook`, `Manual`).
fn action_kind(step: &StepRecord) -> &str {
    step.input["action"]["kind"].as_str().unwrap_or_default()
}

/// Whether a VM step's operation succeeded (not recorded as failed).
fn vm_ok(step: &StepRecord) -> bool {
    step.state == StepState::Succeeded && step.output.as_ref().is_none_or(|o| o["failed"] != true)
}

/// The recovery time of a failover job from its run and steps.
pub fn recovery_timing(run: &RunRecord, steps: &[StepRecord]) -> RecoveryTiming {
    let last_running = steps
        .iter()
        .filter(|s| s.kind == "vm" && vm_ok(s))
        .filter(|s| STARTING_OPERATIONS.contains(&s.input["op"].as_str().unwrap_or_default()))
        .filter_map(|s| s.finished_at)
        .max();
    let Some(last_running) = last_running else {
        return RecoveryTiming::default();
    };
    let before = |s: &&StepRecord| s.finished_at.is_some_and(|f| f <= last_running);
    let sum = |pick: &dyn Fn(&StepRecord) -> bool| -> f64 {
        steps
            .iter()
            .filter(before)
            .filter(|s| pick(s))
            .map(seconds_of)
            // A fold from +0.0: an empty float sum is -0.0.
            .fold(0.0, |total, s| total + s)
    };
    let manual = sum(&|s| s.kind == "action" && action_kind(s) == "Manual");
    let scripts = sum(&|s| s.kind == "action" && matches!(action_kind(s), "Script" | "Runbook"));
    let delays = sum(&|s| s.kind == "delay");
    let rto = (last_running - run.created_at).as_seconds_f64().max(0.0);
    RecoveryTiming {
        rto_seconds: Some(rto),
        rto_excluding_manual_and_scripts_seconds: Some((rto - manual - scripts).max(0.0)),
        manual_seconds: manual,
        script_seconds: scripts,
        delay_seconds: delays,
    }
}

fn rfc3339(time: Option<OffsetDateTime>) -> Value {
    time.map_or(Value::Null, |t| Value::String(crate::clock::rfc3339(t)))
}

/// How a step ended, in a report's words.
fn result_of(step: &StepRecord) -> &'static str {
    match step.state {
        StepState::Succeeded if step.output.as_ref().is_some_and(|o| o["failed"] == true) => {
            "Failed"
        }
        StepState::Succeeded => "Succeeded",
        StepState::Failed => "Failed",
        StepState::Cancelled => "Cancelled",
        StepState::Waiting => "Waiting",
        StepState::Running => "Running",
        StepState::Pending if step.attempt > 0 => "Running",
        StepState::Pending => "NotStarted",
    }
}

/// One step's common report fields.
fn span(step: &StepRecord) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    out.insert("StartedAt".into(), rfc3339(step.started_at));
    out.insert("FinishedAt".into(), rfc3339(step.finished_at));
    out.insert("Seconds".into(), json!(seconds_of(step)));
    out.insert("Result".into(), json!(result_of(step)));
    let error = step
        .output
        .as_ref()
        .and_then(|o| o["error"].as_str().map(str::to_owned))
        .or_else(|| {
            step.error
                .clone()
                .filter(|_| step.state == StepState::Failed)
        });
    out.insert("Error".into(), error.map_or(Value::Null, Value::String));
    out
}

/// The report of a `failover` job, as JSON: who ran what and why, the plan's groups in order
/// with their delays, actions (manual steps with who acknowledged them) and VMs (with the
/// engine's tasks), the VMs skipped, and the recovery timing.
pub fn failover_report(run: &RunRecord, steps: &[StepRecord]) -> Value {
    let prepared = steps
        .iter()
        .find(|s| s.kind == "prepare")
        .and_then(|s| s.output.clone())
        .unwrap_or(Value::Null);
    let finish = steps
        .iter()
        .find(|s| s.kind == "finish")
        .and_then(|s| s.output.clone())
        .unwrap_or(Value::Null);
    // Groups in the order prepare recorded them, then any a step names that prepare did not.
    let mut order: Vec<String> = prepared["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str().map(str::to_owned))
        .collect();
    let mut groups: BTreeMap<String, Value> = BTreeMap::new();
    for name in &order {
        groups.insert(
            name.clone(),
            json!({ "Name": name, "Delay": null, "Actions": [], "Vms": [] }),
        );
    }
    for step in steps {
        let group = match step.kind.as_str() {
            "vm" | "delay" => step.input["group"].as_str(),
            "action" => step.input["context"]["Group"].as_str(),
            _ => None,
        };
        let Some(group) = group.map(str::to_owned) else {
            continue;
        };
        if !groups.contains_key(&group) {
            order.push(group.clone());
            groups.insert(
                group.clone(),
                json!({ "Name": group, "Delay": null, "Actions": [], "Vms": [] }),
            );
        }
        let entry = groups.get_mut(&group).expect("inserted above");
        let mut item = span(step);
        match step.kind.as_str() {
            "delay" => {
                item.insert("Seconds".into(), step.input["seconds"].clone());
                item.insert("WaitedSeconds".into(), json!(seconds_of(step)));
                entry["Delay"] = Value::Object(item);
            }
            "action" => {
                item.insert("Name".into(), json!(step.name));
                item.insert("Kind".into(), json!(action_kind(step)));
                item.insert("When".into(), step.input["context"]["When"].clone());
                item.insert("Prompt".into(), step.input["action"]["prompt"].clone());
                item.insert("AcknowledgedBy".into(), json!(step.acknowledged_by));
                item.insert("Comment".into(), json!(step.ack_comment));
                item.insert(
                    "Detail".into(),
                    step.output.as_ref().map_or(Value::Null, |o| {
                        o.get("status").cloned().unwrap_or(Value::Null)
                    }),
                );
                push(&mut entry["Actions"], Value::Object(item));
            }
            _ => {
                item.insert("VmId".into(), step.input["vmId"].clone());
                item.insert("Name".into(), step.input["name"].clone());
                item.insert("Operation".into(), step.input["op"].clone());
                item.insert(
                    "Tasks".into(),
                    step.output
                        .as_ref()
                        .map_or(json!([]), |o| o.get("tasks").cloned().unwrap_or(json!([]))),
                );
                push(&mut entry["Vms"], Value::Object(item));
            }
        }
    }
    let timing = recovery_timing(run, steps);
    let count = |result: &str| {
        steps
            .iter()
            .filter(|s| s.kind == "vm" && result_of(s) == result)
            .count()
    };
    json!({
        "JobId": run.id.to_string(),
        "Kind": run.params["kind"],
        "SubscriptionId": run.subscription_id,
        "SiteJobId": run.params["siteJobId"],
        "Plan": prepared["plan"],
        "State": run.state.as_str(),
        "Error": run.error,
        "StartedBy": run.started_by,
        "Trigger": run.trigger,
        "Reason": run.reason,
        "CreatedAt": rfc3339(Some(run.created_at)),
        "StartedAt": rfc3339(run.started_at),
        "FinishedAt": rfc3339(run.finished_at),
        "SourceStampId": prepared["sourceStampId"],
        "TargetStampId": prepared["targetStampId"],
        "Direction": prepared["direction"],
        "Phase": finish["phase"],
        "Deadline": finish["deadline"],
        "VmCounts": {
            "Total": steps.iter().filter(|s| s.kind == "vm").count(),
            "Succeeded": count("Succeeded"),
            "Failed": count("Failed"),
            "Running": count("Running") + count("Waiting"),
            "NotStarted": count("NotStarted"),
        },
        "Timing": {
            "RtoSeconds": timing.rto_seconds,
            "RtoExcludingManualAndScriptsSeconds": timing.rto_excluding_manual_and_scripts_seconds,
            "ManualWaitSeconds": timing.manual_seconds,
            "ScriptSeconds": timing.script_seconds,
            "DelaySeconds": timing.delay_seconds,
        },
        "Groups": order.iter().filter_map(|g| groups.remove(g)).collect::<Vec<_>>(),
        "Skipped": prepared["skipped"],
    })
}

fn push(list: &mut Value, item: Value) {
    if let Value::Array(items) = list {
        items.push(item);
    }
}
