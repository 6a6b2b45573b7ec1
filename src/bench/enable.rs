//! Benchmark 5, enablement, and the idle half of benchmark 4, memory: every subscription of the
//! large world (10,000 subscriptions, 100,000 VMs) told to wapdr through the notification
//! endpoint, as WAP does when tenants take the DR add-on, and the time until all are
//! Provisioned (every VM's protection requested and seen); then, idle, the process's resident
//! memory with every VM tracked, against what it was before the first notification.

use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::json;

use super::BenchArgs;
use super::failover::resident_kib;
use super::report::{Figure, Report};
use super::world::{Backend, BenchWorld, Sizes, lab_config};

/// Notifications in flight at once (WAP's service management API sends them in parallel).
const IN_FLIGHT: usize = 16;

/// How long wapdr may idle before the idle memory is read.
const SETTLE: Duration = Duration::from_secs(5);

fn sizes(args: &BenchArgs) -> Sizes {
    if args.quick {
        Sizes {
            subscriptions: 20,
            vms: 200,
        }
    } else {
        Sizes {
            subscriptions: args.scaled(10_000),
            vms: args.scaled(10_000) * 10,
        }
    }
}

/// Runs the enablement benchmark on each backend asked for.
pub async fn run(args: &BenchArgs, report: &mut Report) -> anyhow::Result<()> {
    let command = args.command("enable");
    for backend in args.backends() {
        enable_everything(args, &command, &backend, report, false).await?;
    }
    Ok(())
}

/// The memory benchmark's idle figure: the enablement run on one backend, read for memory.
pub async fn idle_memory(
    args: &BenchArgs,
    backend: &Backend,
    report: &mut Report,
) -> anyhow::Result<()> {
    enable_everything(args, &args.command("memory"), backend, report, true).await
}

async fn enable_everything(
    args: &BenchArgs,
    command: &str,
    backend: &Backend,
    report: &mut Report,
    memory_only: bool,
) -> anyhow::Result<()> {
    let Sizes { subscriptions, vms } = sizes(args);
    let lab = lab_config(
        subscriptions,
        vms,
        json!({ "acceleration": 600.0, "concurrency": 64 }),
    )?;
    let world = BenchWorld::start(backend, lab, "concurrency = 64").await?;
    let name = world.backend;
    let tenants = world.tenants().await?;
    ensure!(
        tenants.len() == subscriptions,
        "the lab has {} tenants",
        tenants.len()
    );
    tokio::time::sleep(SETTLE).await;
    let before = resident_kib()?;

    let started = Instant::now();
    world.notify_all(&tenants, IN_FLIGHT).await?;
    let accepted = started.elapsed().as_secs_f64();
    world
        .until_provisioned(subscriptions, Duration::from_secs(4 * 3600), args.json)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    if !memory_only {
        report.add(
            command,
            Figure::new(
                "enable",
                format!("{name} {subscriptions} subscriptions ({vms} VMs) notified until all Provisioned"),
                seconds,
                "s",
            )
            .against("time to send every notification", accepted),
        );
        report.add(
            command,
            Figure::new(
                "enable",
                format!("{name} VMs protected per second"),
                vms as f64 / seconds,
                "VM/s",
            ),
        );
    }
    tokio::time::sleep(SETTLE).await;
    let idle = resident_kib()?;
    report.add(
        command,
        Figure::new(
            "memory",
            format!("{name} resident memory idle with {vms} VMs tracked (lab included)"),
            idle as f64 / 1024.0,
            "MiB",
        )
        .against(
            "resident before any subscription (lab world loaded)",
            before as f64 / 1024.0,
        ),
    );
    world.stop().await
}
