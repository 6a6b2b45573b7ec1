//! The admin command line: commands that talk to a running wapdr over its admin API (HTTP, with
//! the admin endpoint's Basic credentials) — `status`, the failover operations with live
//! progress, and the job commands. Part of the binary; it never opens the store for anything but
//! the generated admin password ([`connection`]), so it works from any machine that reaches the
//! admin endpoint.
//!
//! - [`connection`]: which wapdr and which credentials (flags, environment, configuration);
//! - [`client`]: the HTTP client of the admin API and its errors;
//! - [`job_view`]: a job and its steps as the API shows them;
//! - [`progress`]: following a job with indicatif bars (or lines, or nothing under `--json`);
//! - [`operations`], [`jobs`], [`status`]: the commands; [`table`]: their plain-text tables.
//!
//! Exit codes: 0 done (and the job succeeded), 1 the job ended Failed or Cancelled, 2 a bad
//! command line, 3 the command could not do its work (wapdr unreachable, credentials refused, a
//! request refused), 130 the watch was interrupted (the job goes on).

mod client;
mod connection;
mod job_view;
mod jobs;
mod operations;
mod progress;
mod status;
mod table;

use std::process::ExitCode;

use clap::Subcommand;

use job_view::Job;
use operations::{FailoverArgs, Operation, OperationArgs};

/// The exit code of a job that ended Failed or Cancelled.
const JOB_FAILED: u8 = 1;

/// The exit code of a command that could not do its work.
const NOT_DONE: u8 = 3;

/// The exit code of a watch the operator interrupted.
const INTERRUPTED: u8 = 130;

/// The commands that drive a running wapdr through its admin API.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Every stamp's site health, the DR subscriptions by phase and active stamp, the jobs running.
    Status(status::StatusArgs),
    /// Fail a subscription over to its other stamp (planned unless --unplanned), or every DR
    /// subscription of a stamp with --site; shows the job's progress and ends with its RTO.
    Failover(FailoverArgs),
    /// Drill: a test failover into the isolated test network; production and replication go on.
    Drill(OperationArgs),
    /// Clean a drill up: its test VMs are removed.
    DrillCleanup(OperationArgs),
    /// Commit a failover: the VMs stay where they failed over to.
    Commit(OperationArgs),
    /// Roll a failover back before its commit: the VMs run again where they came from.
    Rollback(OperationArgs),
    /// Reprotect a committed failover: replication runs the other way.
    Reprotect(OperationArgs),
    /// Fail back home: planned failover back, commit and reprotect in one job.
    Failback(OperationArgs),
    /// List jobs, newest first.
    Jobs(jobs::JobsArgs),
    /// Show one job with its steps, states and times (--watch follows it to its end).
    Job(jobs::JobArgs),
    /// Sum a failover job's report up (RTO, groups, actions, VMs); --html saves its page.
    Report(jobs::ReportArgs),
    /// Acknowledge a manual step that waits, so its job goes on.
    Ack(jobs::AckArgs),
    /// Cancel a job; its running steps stop at their next heartbeat.
    Cancel(jobs::CancelArgs),
}

/// Runs an admin command; prints what went wrong (and what to do) on stderr.
pub async fn run(command: AdminCommand) -> ExitCode {
    let none = serde_json::Map::new;
    let result = match command {
        AdminCommand::Status(args) => status::status(args).await,
        AdminCommand::Failover(args) => operations::failover(args).await,
        AdminCommand::Drill(args) => operations::operate(Operation::Drill, args, none()).await,
        AdminCommand::DrillCleanup(args) => {
            operations::operate(Operation::DrillCleanup, args, none()).await
        }
        AdminCommand::Commit(args) => operations::operate(Operation::Commit, args, none()).await,
        AdminCommand::Rollback(args) => {
            operations::operate(Operation::Rollback, args, none()).await
        }
        AdminCommand::Reprotect(args) => {
            operations::operate(Operation::Reprotect, args, none()).await
        }
        AdminCommand::Failback(args) => {
            operations::operate(Operation::Failback, args, none()).await
        }
        AdminCommand::Jobs(args) => jobs::jobs(args).await,
        AdminCommand::Job(args) => jobs::job(args).await,
        AdminCommand::Report(args) => jobs::report(args).await,
        AdminCommand::Ack(args) => jobs::ack(args).await,
        AdminCommand::Cancel(args) => jobs::cancel(args).await,
    };
    match result {
        Ok(code) => code,
        Err(err) if err.is::<progress::Interrupted>() => {
            eprintln!("{err}");
            ExitCode::from(INTERRUPTED)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(NOT_DONE)
        }
    }
}

/// The exit code of a command that followed `job` to its end: 0 only when it succeeded.
fn exit_for(job: &Job) -> ExitCode {
    if job.state == "Succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(JOB_FAILED)
    }
}
