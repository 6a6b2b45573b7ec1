//! The failover operations from the command line: `wapdr failover|drill|drill-cleanup|commit|
//! rollback|reprotect|failback SUBSCRIPTION` (or `--site STAMP` for every DR subscription of a
//! stamp). Each starts its job through the admin API (README, Failover), follows it with
//! [`watch`] and ends with the outcome and the recovery time its report measured; the exit code
//! says whether the job succeeded.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

use super::client::{AdminClient, encode};
use super::connection::{ConnectionArgs, connect};
use super::exit_for;
use super::job_view::{Job, kind_word, seconds};
use super::progress::{Display, Watched, watch};

/// What every operation command takes.
#[derive(Debug, Args)]
pub struct OperationArgs {
    /// The DR subscription (its id); leave it out with --site.
    #[arg(required_unless_present = "site")]
    pub subscription: Option<String>,
    /// The whole site instead: every DR subscription the operation concerns on this stamp (its
    /// wapdr id or name), tier by tier.
    #[arg(long, value_name = "STAMP", conflicts_with_all = ["subscription", "plan"])]
    pub site: Option<String>,
    /// Order the VMs by this recovery plan instead of the subscription's default plan.
    #[arg(long, value_name = "PLAN_ID")]
    pub plan: Option<String>,
    /// Why (kept in the job and its report).
    #[arg(long)]
    pub reason: Option<String>,
    /// Return as soon as the job is started, printing its id.
    #[arg(long)]
    pub no_wait: bool,
    /// Print one JSON object (the outcome, or the job started with --no-wait) instead of bars.
    #[arg(long)]
    pub json: bool,
    /// Which wapdr, and the admin credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `wapdr failover`: planned unless `--unplanned`.
#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// What every operation takes.
    #[command(flatten)]
    pub operation: OperationArgs,
    /// A planned failover: shut the VMs down, sync the last changes, no data lost (the default).
    #[arg(long, conflicts_with = "unplanned")]
    pub planned: bool,
    /// An unplanned failover: the source stamp is lost; its VMs start from a recovery point.
    #[arg(long)]
    pub unplanned: bool,
    /// Confirm that the source stamp is down (fenced); not needed when the site heartbeat judges
    /// it Down.
    #[arg(long, requires = "unplanned")]
    pub source_down: bool,
    /// The recovery point: `latest` (default), `latestAppConsistent` or an RFC 3339 time.
    #[arg(long, requires = "unplanned", value_name = "POINT")]
    pub recovery_point: Option<String>,
}

/// The operations, as the commands name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `failover`.
    Failover {
        /// `--unplanned`.
        unplanned: bool,
    },
    /// `drill`.
    Drill,
    /// `drill-cleanup`.
    DrillCleanup,
    /// `commit`.
    Commit,
    /// `rollback`.
    Rollback,
    /// `reprotect`.
    Reprotect,
    /// `failback`.
    Failback,
}

impl Operation {
    /// The `kind` the admin API takes.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Failover { unplanned: false } => "planned",
            Self::Failover { unplanned: true } => "unplanned",
            Self::Drill => "test",
            Self::DrillCleanup => "testCleanup",
            Self::Commit => "commit",
            Self::Rollback => "rollback",
            Self::Reprotect => "reprotect",
            Self::Failback => "failback",
        }
    }

    /// How people call it.
    fn word(self) -> &'static str {
        match self {
            Self::Failover { unplanned: false } => "planned failover",
            Self::Failover { unplanned: true } => "unplanned failover",
            Self::Drill => "drill",
            Self::DrillCleanup => "drill cleanup",
            Self::Commit => "commit",
            Self::Rollback => "rollback",
            Self::Reprotect => "reprotect",
            Self::Failback => "failback",
        }
    }
}

/// `wapdr failover`.
pub async fn failover(args: FailoverArgs) -> anyhow::Result<ExitCode> {
    let unplanned = args.unplanned && !args.planned;
    let mut extra = serde_json::Map::new();
    if args.source_down {
        extra.insert("sourceDown".into(), json!(true));
    }
    if let Some(point) = &args.recovery_point {
        extra.insert("recoveryPoint".into(), json!(point));
    }
    operate(Operation::Failover { unplanned }, args.operation, extra).await
}

/// Starts `operation` as `args` say, with `extra` members in the request, and follows its job.
pub async fn operate(
    operation: Operation,
    args: OperationArgs,
    extra: serde_json::Map<String, Value>,
) -> anyhow::Result<ExitCode> {
    let client = connect(&args.connection).await?;
    let mut body = json!({ "kind": operation.kind() });
    if let Some(reason) = &args.reason {
        body["reason"] = json!(reason);
    }
    if let Some(members) = body.as_object_mut() {
        members.extend(extra);
    }
    let (path, subject) = match (&args.site, &args.subscription) {
        (Some(site), _) => {
            let (id, name) = stamp(&client, site).await?;
            (
                format!("/stamps/{}/failover", encode(&id)),
                format!("stamp {name}"),
            )
        }
        (None, Some(subscription)) => {
            let base = format!("/subscriptions/{}", encode(subscription));
            let path = match &args.plan {
                Some(plan) => format!("{base}/recovery-plans/{}/failover", encode(plan)),
                None => format!("{base}/failover"),
            };
            (path, format!("subscription {subscription}"))
        }
        (None, None) => bail!("name a subscription, or a stamp with --site"),
    };
    let started = client.post(&path, &body).await?;
    let job_id = started["JobId"]
        .as_str()
        .context("the admin API answered no JobId")?
        .to_owned();
    let site = args.site.is_some();
    let word = if site {
        format!("site {}", operation.word())
    } else {
        operation.word().to_owned()
    };
    if args.no_wait {
        if args.json {
            println!("{started}");
        } else {
            println!("started the {word} of {subject}: job {job_id}");
            println!("follow it with `wapdr job {job_id} --watch`");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        println!("{word} of {subject}: job {job_id}");
    }
    let watched = watch(&client, &job_id, Display::choose(args.json)).await?;
    let outcome = if site {
        site_outcome(&client, &watched).await
    } else {
        subscription_outcome(&client, &watched, args.subscription.as_deref()).await
    };
    if args.json {
        println!("{}", outcome.json);
    } else {
        println!("{}", outcome.text.trim_end());
    }
    Ok(exit_for(&watched.job))
}

/// How an operation ended, for people and for machines.
struct Outcome {
    text: String,
    json: Value,
}

/// A stamp's id and name from its id or name.
async fn stamp(client: &AdminClient, wanted: &str) -> anyhow::Result<(String, String)> {
    let stamps = client.get("/stamps").await?;
    let found = stamps.as_array().into_iter().flatten().find(|s| {
        s["Id"]
            .as_str()
            .is_some_and(|id| id.eq_ignore_ascii_case(wanted))
            || s["Name"]
                .as_str()
                .is_some_and(|name| name.eq_ignore_ascii_case(wanted))
    });
    match found {
        Some(s) => Ok((
            s["Id"].as_str().unwrap_or_default().to_owned(),
            s["Name"].as_str().unwrap_or_default().to_owned(),
        )),
        None => {
            let known: Vec<String> = stamps
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    format!(
                        "{} ({})",
                        s["Name"].as_str().unwrap_or_default(),
                        s["Id"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            bail!(
                "no stamp '{wanted}' is registered with wapdr; known: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        }
    }
}

/// Stamp names by id, for the outcome (empty when they cannot be read).
async fn stamp_names(client: &AdminClient) -> std::collections::HashMap<String, String> {
    client
        .get("/stamps")
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|s| {
            (
                s["Id"].as_str().unwrap_or_default().to_ascii_lowercase(),
                s["Name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn opt_seconds(value: &Value) -> String {
    value.as_f64().map_or_else(|| "—".to_owned(), seconds)
}

/// The outcome of one subscription's job, from its report (RTO, VMs) and its `finish` step.
async fn subscription_outcome(
    client: &AdminClient,
    watched: &Watched,
    subscription: Option<&str>,
) -> Outcome {
    let job = &watched.job;
    let report = client
        .get(&format!("/reports/{}", encode(&job.id)))
        .await
        .unwrap_or(Value::Null);
    let finish = job.finish_output();
    let timing = &report["Timing"];
    let names = stamp_names(client).await;
    let active_id = finish["activeStampId"]
        .as_str()
        .map(str::to_ascii_lowercase);
    let active = active_id
        .as_ref()
        .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()));
    let failed_vms: Vec<Value> = report["Groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["Vms"].as_array().cloned().unwrap_or_default())
        .filter(|vm| vm["Result"] == "Failed")
        .map(|vm| json!({ "name": vm["Name"], "operation": vm["Operation"], "error": vm["Error"] }))
        .collect();
    let subscription = subscription
        .map(str::to_owned)
        .or_else(|| job.subscription_id.clone())
        .unwrap_or_default();
    let allowed: Vec<String> = client
        .get(&format!("/subscriptions/{}/dr", encode(&subscription)))
        .await
        .ok()
        .and_then(|dr| dr["Failover"]["Allowed"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let kind = job.params["kind"].as_str().unwrap_or_default();
    let plan = report["Plan"]["name"].as_str();
    let duration = job.duration_ms.map(|ms| ms as f64 / 1000.0);

    let mut text = format!(
        "{} of subscription {subscription}{}: {}{}\n",
        kind_word(kind),
        plan.map(|p| format!(" by plan '{p}'")).unwrap_or_default(),
        job.state,
        duration
            .map(|d| format!(" in {}", seconds(d)))
            .unwrap_or_default()
    );
    if !timing["RtoSeconds"].is_null() {
        text.push_str(&format!(
            "  RTO {} ({} without manual steps and scripts; manual waits {}, scripts {}, delays {})\n",
            opt_seconds(&timing["RtoSeconds"]),
            opt_seconds(&timing["RtoExcludingManualAndScriptsSeconds"]),
            opt_seconds(&timing["ManualWaitSeconds"]),
            opt_seconds(&timing["ScriptSeconds"]),
            opt_seconds(&timing["DelaySeconds"]),
        ));
    }
    let counts = &report["VmCounts"];
    if counts.is_object() {
        text.push_str(&format!(
            "  VMs: {} succeeded, {} failed, of {}\n",
            counts["Succeeded"], counts["Failed"], counts["Total"]
        ));
    }
    for vm in &failed_vms {
        text.push_str(&format!(
            "  ✗ {} ({}): {}\n",
            vm["name"].as_str().unwrap_or_default(),
            vm["operation"].as_str().unwrap_or_default(),
            vm["error"].as_str().unwrap_or_default()
        ));
    }
    if let Some(error) = &job.error {
        text.push_str(&format!("  error: {error}\n"));
    }
    if let (Some(phase), Some(active)) = (finish["phase"].as_str(), &active) {
        text.push_str(&format!("  now {phase}, active on stamp {active}\n"));
    }
    if !allowed.is_empty() {
        text.push_str(&format!("  allowed next: {}\n", allowed.join(", ")));
    }
    text.push_str(&format!(
        "  report: wapdr report {} [--html report.html]\n",
        job.id
    ));
    let json = json!({
        "ok": job.state == "Succeeded",
        "jobId": job.id,
        "operation": kind,
        "subscriptionId": subscription,
        "recoveryPlan": report["Plan"],
        "state": job.state,
        "error": job.error,
        "durationSeconds": duration,
        "rtoSeconds": timing["RtoSeconds"],
        "rtoExcludingManualAndScriptsSeconds": timing["RtoExcludingManualAndScriptsSeconds"],
        "manualWaitSeconds": timing["ManualWaitSeconds"],
        "scriptSeconds": timing["ScriptSeconds"],
        "delaySeconds": timing["DelaySeconds"],
        "vmCounts": report["VmCounts"],
        "failedVms": failed_vms,
        "phase": finish["phase"],
        "activeStampId": active_id,
        "activeStamp": active,
        "allowedNext": allowed,
    });
    Outcome { text, json }
}

/// The outcome of a site operation: its summary and each subscription's job with its RTO.
async fn site_outcome(client: &AdminClient, watched: &Watched) -> Outcome {
    let site = &watched.job;
    let finish = site.finish_output();
    let select = site
        .steps
        .iter()
        .find(|s| s.kind == "select")
        .map_or(&Value::Null, |s| &s.output);
    let names = stamp_names(client).await;
    let stamp_id = site.params["stampId"].as_str().unwrap_or_default();
    let stamp = names
        .get(&stamp_id.to_ascii_lowercase())
        .cloned()
        .unwrap_or_else(|| stamp_id.to_owned());
    let kind = site.params["kind"].as_str().unwrap_or_default();
    let children: Vec<Value> = watched.children.iter().map(child_json).collect();
    let succeeded = watched
        .children
        .iter()
        .filter(|c| c.state == "Succeeded")
        .count();
    let duration = site.duration_ms.map(|ms| ms as f64 / 1000.0);
    let mut text = format!(
        "site {} of stamp {stamp}: {}{}; {succeeded} of {} subscriptions succeeded\n",
        kind_word(kind),
        site.state,
        duration
            .map(|d| format!(" in {}", seconds(d)))
            .unwrap_or_default(),
        watched.children.len()
    );
    if !finish["rtoSeconds"].is_null() {
        text.push_str(&format!(
            "  RTO {} (from the site job's start to the last VM running in any subscription)\n",
            opt_seconds(&finish["rtoSeconds"])
        ));
    }
    if let Some(error) = &site.error {
        text.push_str(&format!("  error: {error}\n"));
    }
    text.push_str(&format!(
        "  the subscriptions' jobs: wapdr jobs --parent {}\n",
        site.id
    ));
    let json = json!({
        "ok": site.state == "Succeeded",
        "jobId": site.id,
        "operation": kind,
        "stampId": stamp_id,
        "stamp": stamp,
        "state": site.state,
        "error": site.error,
        "durationSeconds": duration,
        "rtoSeconds": finish["rtoSeconds"],
        "subscriptions": children,
        "skipped": select["skipped"],
    });
    Outcome { text, json }
}

/// One subscription's job of a site operation, for the JSON outcome.
fn child_json(child: &Job) -> Value {
    let finish = child.finish_output();
    json!({
        "subscriptionId": child.subscription_id,
        "jobId": child.id,
        "state": child.state,
        "error": child.error,
        "rtoSeconds": finish["rtoSeconds"],
        "rtoExcludingManualAndScriptsSeconds": finish["rtoExcludingManualAndScriptsSeconds"],
    })
}
