//! `wapdr bench`: the benchmark harness. Each benchmark starts the lab fabric in a child process
//! and a real wapdr (on SQLite or PostgreSQL) in this one, drives wapdr over HTTP with its real clients, as
//! the tests and the demo do, and prints every figure next to its bound or its baseline measured
//! in the same run, with the ratio, then the rows for `BENCHMARKS.md`. Part of the binary, not
//! the library: only the binary's commands may use the lab. Performance is measured here, never
//! by timed assertions in tests.
//!
//! - [`api`]: tenant and notification requests/s and latency against a bare axum ceiling;
//! - [`protect`]: new-VM protection latency with and without events, and the CPU time of one
//!   protect-new-vms cycle as the world grows;
//! - [`failover`]: a site failover's wall time against the fabric's lower bound, a 100-VM plan,
//!   and the resident memory idle and at the failover's peak;
//! - [`enable`]: subscriptions created through the notification endpoint until all are
//!   Provisioned;
//! - [`world`]: the lab and wapdr a benchmark runs on; [`lab_process`]: the lab's process;
//!   [`process`]: memory and CPU read from `/proc`; [`load`]: the load generator and the
//!   ceiling server; [`report`]: figures, machine facts and the Markdown rows.

mod api;
mod enable;
mod failover;
mod lab_process;
mod load;
mod process;
mod protect;
mod report;
mod world;

use clap::{Args, ValueEnum};

pub use report::Report;
use world::Backend;

/// `wapdr bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark (`all` runs each in turn).
    #[arg(value_enum)]
    pub which: Which,
    /// Tiny sizes and short runs: checks that the harness works, the figures mean little.
    #[arg(long)]
    pub quick: bool,
    /// Scales the full-size worlds (subscriptions and VMs; not the fabric's C and L) for a
    /// partial run on a small machine; BENCHMARKS.md says when a figure was measured scaled.
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,
    /// The store(s) to run on.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    /// A PostgreSQL server wapdr may create a database on (dropped at the end).
    #[arg(
        long,
        env = "WAPDR_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub postgres_url: String,
    /// Print the figures as one JSON document instead of lines and Markdown rows.
    #[arg(long)]
    pub json: bool,
}

/// The benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    /// Tenant and notification API throughput and latency against a bare axum ceiling.
    Api,
    /// New-VM protection latency (events on and off) and protect-new-vms CPU time per cycle.
    Protect,
    /// Site failover wall time against the fabric's lower bound, and a 100-VM recovery plan.
    Failover,
    /// Resident memory idle with the large world's VMs tracked and at a site failover's peak.
    Memory,
    /// Subscriptions created through the notification endpoint until all are Provisioned.
    Enable,
    /// Every benchmark in turn.
    All,
}

/// Which stores a benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// SQLite only.
    Sqlite,
    /// PostgreSQL only.
    Postgres,
    /// SQLite, then PostgreSQL.
    Both,
}

impl BenchArgs {
    fn backends(&self) -> Vec<Backend> {
        let sqlite = Backend::Sqlite;
        let postgres = || Backend::Postgres(self.postgres_url.clone());
        match self.backend {
            BackendChoice::Sqlite => vec![sqlite],
            BackendChoice::Postgres => vec![postgres()],
            BackendChoice::Both => vec![sqlite, postgres()],
        }
    }

    /// The command line that reproduces one benchmark of this run.
    fn command(&self, which: &str) -> String {
        let mut line = format!("wapdr bench {which}");
        if self.quick {
            line.push_str(" --quick");
        }
        if self.scale != 1.0 {
            line.push_str(&format!(" --scale {}", self.scale));
        }
        if let Some(backend) = self.backend.to_possible_value() {
            line.push_str(&format!(" --backend {}", backend.get_name()));
        }
        line
    }

    /// A full-size count at this run's scale (never below 1).
    fn scaled(&self, full: usize) -> usize {
        ((full as f64 * self.scale).round() as usize).max(1)
    }
}

fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(scale) if scale > 0.0 && scale <= 1.0 => Ok(scale),
        _ => Err(format!("the scale must be a number in (0, 1], not {text}")),
    }
}

/// Runs the benchmarks asked for; prints the figures (lines and Markdown rows, or JSON).
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    // wapdr's own errors (a 500's cause) on stderr; RUST_LOG says more.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let mut report = Report::new(args.quick);
    let all = args.which == Which::All;
    if all || args.which == Which::Api {
        api::run(&args, &mut report).await?;
    }
    if all || args.which == Which::Protect {
        protect::run(&args, &mut report).await?;
    }
    if all || args.which == Which::Failover {
        failover::run(&args, &mut report).await?;
    }
    // `all` reads memory in the enable and failover runs instead of running them twice.
    if args.which == Which::Memory {
        memory(&args, &mut report).await?;
    }
    if all || args.which == Which::Enable {
        enable::run(&args, &mut report).await?;
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.markdown());
    }
    Ok(())
}

/// Benchmark 4, memory: resident memory idle with the large world's VMs tracked (after its
/// enablement) and at the peak of a site failover, on the first backend asked for.
async fn memory(args: &BenchArgs, report: &mut Report) -> anyhow::Result<()> {
    let backend = args.backends().remove(0);
    enable::idle_memory(args, &backend, report).await?;
    failover::fail_over_a_site(args, &args.command("memory"), &backend, report).await
}
