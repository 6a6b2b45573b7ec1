//! Benchmark 5, enablement, and the idle half of benchmark 4, memory: every subscription of the
//! large world (10,000 subscriptions, 100,000 VMs) told to wapdr through the notification
//! endpoint, as WAP does when tenants take the DR add-on, and the time until all are
//! Provisioned (every VM's protection requested and seen); then, idle, wapdr's resident memory
//! with every VM tracked, against what it was before the first notification, and the lab's
//! apart; and the CPU time each of the two spent on the way.

use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::json;

use super::BenchArgs;
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
    let (wapdr, lab) = world.processes()?;
    let before = (wapdr.resident_mib()?, lab.resident_mib()?);
    let cpu_before = (wapdr.cpu_seconds()?, lab.cpu_seconds()?);

    let started = Instant::now();
    world.notify_all(&tenants, IN_FLIGHT).await?;
    let accepted = started.elapsed().as_secs_f64();
    world
        .until_provisioned(subscriptions, Duration::from_secs(4 * 3600), args.json)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = (
        wapdr.cpu_seconds()? - cpu_before.0,
        lab.cpu_seconds()? - cpu_before.1,
    );
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
        for (who, seconds_of_cpu) in [("wapdr", cpu.0), ("lab", cpu.1)] {
            report.add(
                command,
                Figure::new(
                    "enable",
                    format!("{name} {who} CPU time until all Provisioned"),
                    seconds_of_cpu,
                    "CPU-s",
                )
                // The ratio is the cores it kept busy on average.
                .against("wall time (ratio: cores busy)", seconds),
            );
        }
    }
    tokio::time::sleep(SETTLE).await;
    report.add(
        command,
        Figure::new(
            "memory",
            format!("{name} wapdr resident memory idle with {vms} VMs tracked"),
            wapdr.resident_mib()?,
            "MiB",
        )
        .against("wapdr resident before any subscription", before.0),
    );
    report.add(
        command,
        Figure::new(
            "memory",
            format!("{name} lab resident memory (its own process) with {vms} VMs protected"),
            lab.resident_mib()?,
            "MiB",
        )
        .against("lab resident with its world seeded", before.1),
    );
    world.stop().await
}
