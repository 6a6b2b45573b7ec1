//! The job commands: `wapdr jobs` (a list with filters), `wapdr job JOB` (its steps with states
//! and times; `--watch` follows it to its end), `wapdr report JOB` (a failover's report summed
//! up; `--html FILE` saves its page), `wapdr ack JOB STEP` (lets a manual step go on) and
//! `wapdr cancel JOB`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};

use super::client::encode;
use super::connection::{ConnectionArgs, connect};
use super::exit_for;
use super::job_view::{Job, kind_word, seconds, short_time};
use super::progress::{Display, watch};
use super::table::Table;

/// `wapdr jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only jobs in this state: Pending, Running, Waiting, Succeeded, Failed or Cancelled.
    #[arg(long)]
    pub state: Option<String>,
    /// Only jobs of this workflow (failover, site_failover, enable_dr, ...).
    #[arg(long)]
    pub workflow: Option<String>,
    /// Only jobs of this subscription.
    #[arg(long)]
    pub subscription: Option<String>,
    /// Only the jobs this job started (a site operation's subscriptions).
    #[arg(long, value_name = "JOB")]
    pub parent: Option<String>,
    /// How many, newest first (1..1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Print the admin API's JSON.
    #[arg(long)]
    pub json: bool,
    /// Which wapdr, and the admin credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `wapdr job`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job's id.
    pub job: String,
    /// Follow the job until it ends (exit code 1 when it fails).
    #[arg(long)]
    pub watch: bool,
    /// Print the admin API's JSON.
    #[arg(long)]
    pub json: bool,
    /// Which wapdr, and the admin credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `wapdr report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The failover job's id.
    pub job: String,
    /// Also save the report's self-contained HTML page (with its timeline) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the report's JSON.
    #[arg(long)]
    pub json: bool,
    /// Which wapdr, and the admin credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `wapdr ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// The job's id.
    pub job: String,
    /// The number of the step waiting (as `wapdr job` shows it).
    pub step: i64,
    /// What was done, kept in the job and its report.
    #[arg(long)]
    pub comment: Option<String>,
    /// Print the job's JSON afterwards.
    #[arg(long)]
    pub json: bool,
    /// Which wapdr, and the admin credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `wapdr cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The job's id.
    pub job: String,
    /// Print the job's JSON afterwards.
    #[arg(long)]
    pub json: bool,
    /// Which wapdr, and the admin credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `wapdr jobs`.
pub async fn jobs(args: JobsArgs) -> anyhow::Result<ExitCode> {
    let client = connect(&args.connection).await?;
    let mut query = vec![format!("limit={}", args.limit)];
    for (name, value) in [
        ("state", &args.state),
        ("workflow", &args.workflow),
        ("subscription", &args.subscription),
        ("parent", &args.parent),
    ] {
        if let Some(value) = value {
            query.push(format!("{name}={}", encode(value)));
        }
    }
    let list = client.get(&format!("/jobs?{}", query.join("&"))).await?;
    if args.json {
        println!("{list}");
        return Ok(ExitCode::SUCCESS);
    }
    let jobs: Vec<Job> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(Job::from_json)
        .collect();
    if jobs.is_empty() {
        println!("no jobs match");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", job_table(&jobs).render(0));
    Ok(ExitCode::SUCCESS)
}

/// Jobs as a table: id, workflow (with a failover's kind), state, subscription, who, when, how long.
pub fn job_table(jobs: &[Job]) -> Table {
    let mut table = Table::new(&[
        "JOB",
        "WORKFLOW",
        "STATE",
        "SUBSCRIPTION",
        "STARTED BY",
        "CREATED",
        "TOOK",
    ]);
    for job in jobs {
        let workflow = match job.params["kind"].as_str() {
            Some(kind) if job.workflow.contains("failover") => format!("{} ({kind})", job.workflow),
            _ => job.workflow.clone(),
        };
        table.row(vec![
            job.id.clone(),
            workflow,
            job.state.clone(),
            job.subscription_id.clone().unwrap_or_default(),
            job.started_by.clone(),
            short_time(&job.created_at),
            job.duration_ms
                .map(|ms| seconds(ms as f64 / 1000.0))
                .unwrap_or_default(),
        ]);
    }
    table
}

/// `wapdr job`.
pub async fn job(args: JobArgs) -> anyhow::Result<ExitCode> {
    let client = connect(&args.connection).await?;
    let path = format!("/jobs/{}", encode(&args.job));
    if args.watch {
        let watched = watch(&client, &args.job, Display::choose(args.json)).await?;
        let answer = client.get(&path).await?;
        print_job(&answer, args.json);
        return Ok(exit_for(&watched.job));
    }
    print_job(&client.get(&path).await?, args.json);
    Ok(ExitCode::SUCCESS)
}

fn print_job(answer: &Value, json: bool) {
    if json {
        println!("{answer}");
        return;
    }
    let job = Job::from_json(answer);
    println!(
        "job {} ({}{}): {}",
        job.id,
        job.workflow,
        job.params["kind"]
            .as_str()
            .map(|k| format!(" {k}"))
            .unwrap_or_default(),
        job.state
    );
    if let Some(subscription) = &job.subscription_id {
        println!("  subscription {subscription}");
    }
    println!(
        "  started by {} at {}{}",
        job.started_by,
        short_time(&job.created_at),
        job.reason
            .as_ref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    if let Some(ms) = job.duration_ms {
        println!("  took {}", seconds(ms as f64 / 1000.0));
    }
    if let Some(error) = &job.error {
        println!("  error: {error}");
    }
    let mut table = Table::new(&["STEP", "STAGE", "NAME", "STATE", "STARTED", "TOOK", "NOTE"]);
    for step in &job.steps {
        let note = if step.waits_for_ack() {
            format!(
                "waits for `wapdr ack {} {}`: {}",
                job.id,
                step.id,
                step.ack_prompt.as_deref().unwrap_or_default()
            )
        } else if step.failed() {
            step.failure()
        } else if let Some(by) = &step.acknowledged_by {
            format!("acknowledged by {by}")
        } else {
            String::new()
        };
        table.row(vec![
            step.id.to_string(),
            step.stage.to_string(),
            step.name.clone(),
            step.state.clone(),
            step.started_at
                .as_deref()
                .map(short_time)
                .unwrap_or_default(),
            step.duration_ms
                .map(|ms| seconds(ms as f64 / 1000.0))
                .unwrap_or_default(),
            note,
        ]);
    }
    if !table.is_empty() {
        print!("{}", table.render(2));
    }
}

/// `wapdr report`.
pub async fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let client = connect(&args.connection).await?;
    let job = encode(&args.job);
    let report = client.get(&format!("/reports/{job}")).await?;
    if let Some(file) = &args.html {
        let page = client.get_text(&format!("/reports/{job}/html")).await?;
        std::fs::write(file, page)
            .with_context(|| format!("saving the report's page to {}", file.display()))?;
    }
    if args.json {
        println!("{report}");
    } else {
        print!("{}", report_text(&report));
        if let Some(file) = &args.html {
            println!("saved the report's page to {}", file.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A report summed up: what ran, how it ended, its recovery time, and each group's actions and
/// VMs.
fn report_text(report: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let opt_seconds = |v: &Value| v.as_f64().map_or_else(|| "—".to_owned(), seconds);
    let timing = &report["Timing"];
    let mut out = format!(
        "{} of subscription {}{}: {}\n",
        kind_word(report["Kind"].as_str().unwrap_or_default()),
        text(&report["SubscriptionId"]),
        report["Plan"]["name"]
            .as_str()
            .map(|p| format!(" by plan '{p}'"))
            .unwrap_or_default(),
        text(&report["State"])
    );
    out.push_str(&format!(
        "  started by {} ({}) at {}{}\n",
        text(&report["StartedBy"]),
        text(&report["Trigger"]),
        short_time(&text(&report["CreatedAt"])),
        report["Reason"]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
    if let Some(error) = report["Error"].as_str() {
        out.push_str(&format!("  error: {error}\n"));
    }
    out.push_str(&format!(
        "  RTO {} ({} without manual steps and scripts; manual waits {}, scripts {}, delays {})\n",
        opt_seconds(&timing["RtoSeconds"]),
        opt_seconds(&timing["RtoExcludingManualAndScriptsSeconds"]),
        opt_seconds(&timing["ManualWaitSeconds"]),
        opt_seconds(&timing["ScriptSeconds"]),
        opt_seconds(&timing["DelaySeconds"]),
    ));
    let counts = &report["VmCounts"];
    out.push_str(&format!(
        "  VMs: {} succeeded, {} failed, {} running, {} not started, of {}\n",
        counts["Succeeded"],
        counts["Failed"],
        counts["Running"],
        counts["NotStarted"],
        counts["Total"]
    ));
    if let Some(phase) = report["Phase"].as_str() {
        out.push_str(&format!("  phase after: {phase}\n"));
    }
    for group in report["Groups"].as_array().into_iter().flatten() {
        let name = text(&group["Name"]);
        out.push_str(&format!("  group {name}\n"));
        let delay = &group["Delay"];
        if delay.is_object() {
            out.push_str(&format!(
                "    wait {} s: {}\n",
                delay["Seconds"],
                text(&delay["Result"])
            ));
        }
        for action in group["Actions"].as_array().into_iter().flatten() {
            let by = action["AcknowledgedBy"]
                .as_str()
                .map(|b| format!(", acknowledged by {b}"))
                .unwrap_or_default();
            let action_name = text(&action["Name"]);
            out.push_str(&format!(
                "    {}: {} in {}{by}\n",
                action_name
                    .strip_prefix(&format!("{name}: "))
                    .unwrap_or(&action_name),
                text(&action["Result"]),
                opt_seconds(&action["Seconds"])
            ));
        }
        for vm in group["Vms"].as_array().into_iter().flatten() {
            let error = vm["Error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "    {} {}: {} in {}{error}\n",
                text(&vm["Operation"]),
                text(&vm["Name"]),
                text(&vm["Result"]),
                opt_seconds(&vm["Seconds"])
            ));
        }
    }
    out
}

/// `wapdr ack`.
pub async fn ack(args: AckArgs) -> anyhow::Result<ExitCode> {
    let client = connect(&args.connection).await?;
    let body = json!({ "by": client.principal(), "comment": args.comment });
    let answer = client
        .post(
            &format!(
                "/jobs/{}/steps/{}/acknowledge",
                encode(&args.job),
                args.step
            ),
            &body,
        )
        .await?;
    if args.json {
        println!("{answer}");
    } else {
        let job = Job::from_json(&answer);
        let name = job
            .steps
            .iter()
            .find(|s| s.id == args.step)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        println!(
            "acknowledged step {} '{name}' of job {} as {}; the job goes on ({})",
            args.step,
            job.id,
            client.principal(),
            job.state
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `wapdr cancel`.
pub async fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let client = connect(&args.connection).await?;
    let answer = client
        .post(
            &format!("/jobs/{}/cancel", encode(&args.job)),
            &json!({ "by": client.principal() }),
        )
        .await?;
    if args.json {
        println!("{answer}");
    } else {
        let job = Job::from_json(&answer);
        println!(
            "cancelled job {} ({}); running steps stop at their next heartbeat",
            job.id, job.workflow
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_summed_up_with_its_rto_and_each_vm() {
        let text = report_text(&json!({
            "Kind": "test", "SubscriptionId": "s1", "Plan": { "name": "Databases first" },
            "State": "Succeeded", "StartedBy": "ops", "Trigger": "api",
            "CreatedAt": "2024-05-01T10:00:00.5Z", "Reason": "quarterly drill",
            "Timing": { "RtoSeconds": 12.34, "RtoExcludingManualAndScriptsSeconds": 10.0,
                        "ManualWaitSeconds": 2.5, "ScriptSeconds": 0.0, "DelaySeconds": 1.0 },
            "VmCounts": { "Total": 1, "Succeeded": 1, "Failed": 0, "Running": 0, "NotStarted": 0 },
            "Groups": [{ "Name": "Databases",
                         "Delay": { "Seconds": 1, "Result": "Succeeded" },
                         "Actions": [{ "Name": "Databases: before #1 manual step",
                                       "When": "Before", "Kind": "Manual", "Result": "Succeeded",
                                       "Seconds": 2.5, "AcknowledgedBy": "ops" }],
                         "Vms": [{ "Name": "db-1", "Operation": "testFailover",
                                   "Result": "Succeeded", "Seconds": 9.5 }] }]
        }));
        assert!(
            text.starts_with("drill of subscription s1 by plan 'Databases first': Succeeded\n"),
            "{text}"
        );
        assert!(
            text.contains("RTO 12.3 s (10.0 s without manual steps and scripts"),
            "{text}"
        );
        assert!(
            text.contains("before #1 manual step: Succeeded in 2.5 s, acknowledged by ops"),
            "{text}"
        );
        assert!(
            text.contains("testFailover db-1: Succeeded in 9.5 s"),
            "{text}"
        );
    }
}
