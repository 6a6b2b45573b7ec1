//! Benchmark 2, new-VM protection in the large world: VMs created over time in DR subscriptions,
//! the latency from each VM's creation to wapdr requesting its protection (the record's
//! `protection_requested_at`), first with a VM-created event per VM (`POST /admin/events/vms`,
//! as an SPF/SMA event runbook sends it), then with events off and only the protect-new-vms
//! runbook on a short schedule; and the CPU time of one protect-new-vms cycle (a fixed number
//! of changed VMs) as the stamp grows from 10,000 to 50,000 to 100,000 VMs. Goals: p99 under
//! 5 s with events, under one runbook interval without; the cycle grows with changes, not VMs.

use std::time::{Duration, Instant};

use anyhow::ensure;
use hdrhistogram::Histogram;
use serde_json::json;
use time::OffsetDateTime;
use wapdr::fabric::wap_admin::AdminSubscription;

use super::BenchArgs;
use super::failover::job_seconds;
use super::process::Proc;
use super::report::{Figure, Report};
use super::world::{BenchWorld, bar, lab_config};

/// The p99 goal with events, in seconds.
const EVENT_GOAL_SECONDS: f64 = 5.0;

/// The sizes of a protect run.
struct Shape {
    /// The stamp's VMs at each CPU-time step (the first also the world's start).
    steps: [usize; 3],
    /// Subscriptions of the starting world.
    subscriptions: usize,
    /// Of those, the DR subscriptions (enabled first; new VMs land in them).
    enabled: usize,
    /// New VMs created in each latency run.
    new_vms: usize,
    /// New VMs created per second.
    rate: f64,
    /// The runbook's interval when events are off, in seconds.
    interval: u64,
    /// Changed VMs in each measured cycle.
    changes: usize,
}

impl Shape {
    fn new(args: &BenchArgs) -> Self {
        if args.quick {
            Shape {
                steps: [200, 1_000, 2_000],
                subscriptions: 20,
                enabled: 4,
                new_vms: 20,
                rate: 40.0,
                interval: 5,
                changes: 10,
            }
        } else {
            Shape {
                steps: [
                    args.scaled(1_000) * 10,
                    args.scaled(5_000) * 10,
                    args.scaled(10_000) * 10,
                ],
                subscriptions: args.scaled(10_000),
                enabled: 100,
                new_vms: 1_000,
                rate: 20.0,
                interval: 30,
                changes: 100,
            }
        }
    }
}

/// Runs the protect benchmark on each backend asked for.
pub async fn run(args: &BenchArgs, report: &mut Report) -> anyhow::Result<()> {
    let command = args.command("protect");
    let shape = Shape::new(args);
    for backend in args.backends() {
        let lab = lab_config(
            shape.subscriptions,
            shape.steps[0],
            json!({ "acceleration": 600.0 }),
        )?;
        let world = BenchWorld::start(&backend, lab, "concurrency = 64").await?;
        let name = world.backend;
        let tenants = world.tenants().await?;
        let dr = &tenants[..shape.enabled];
        world.notify_all(dr, 16).await?;
        world
            .until_provisioned(dr.len(), Duration::from_secs(3600), args.json)
            .await?;
        let runbook = |schedule: String| json!({ "enabled": true, "schedule": schedule });
        let admin = world.admin()?;
        let path = "/runbooks/protect-new-vms";
        // The schedule off: the measured cycles are the only ones.
        admin
            .call(
                reqwest::Method::PUT,
                path,
                Some(json!({ "enabled": false })),
            )
            .await?;

        let mut first = None;
        let mut stamp_vms = shape.steps[0];
        for step in shape.steps {
            // Grow the stamp with VMs outside DR, and let one cycle read them past the cursor.
            if step > stamp_vms {
                let idle = &tenants[tenants.len() - 1];
                world.add_vms(idle, step - stamp_vms, "grow").await?;
                stamp_vms = step;
                cycle(&world).await?;
            }
            for i in 0..shape.changes {
                world.add_vms(&dr[i % dr.len()], 1, "change").await?;
            }
            // The engine's idle work (workers polling, scheduled runbooks) goes on all along:
            // its rate, read just before, is taken off so the figure is the cycle's own.
            // The lab's CPU is its own process's, told apart.
            let (wapdr, lab) = world.processes()?;
            let idle = idle_cpu_per_second(&wapdr).await?;
            let before = (wapdr.cpu_seconds()?, lab.cpu_seconds()?);
            let wall = cycle(&world).await?;
            let cpu = (wapdr.cpu_seconds()? - before.0 - idle * wall).max(0.0);
            let lab_cpu = lab.cpu_seconds()? - before.1;
            let figure = Figure::new(
                "protect",
                format!(
                    "{name} one protect-new-vms cycle, {} changed VMs, {stamp_vms} VMs on the stamp: wapdr's CPU above idle (wall {wall:.2}s, idle {idle:.3} CPU-s/s; the lab's process {lab_cpu:.2} CPU-s)",
                    shape.changes
                ),
                cpu,
                "s",
            );
            let figure = match first {
                None => {
                    first = Some((cpu, stamp_vms));
                    figure
                }
                Some((base, base_vms)) => figure
                    .against(format!("cycle at {base_vms} VMs"), base)
                    .goal("< 2× while VMs grow 5–10×", cpu < 2.0 * base),
            };
            report.add(&command, figure);
        }

        // Events on: the runbook back on its bundled five-minute schedule as the safety net.
        admin
            .call(
                reqwest::Method::PUT,
                path,
                Some(runbook("0 */5 * * * *".to_owned())),
            )
            .await?;
        let latencies = new_vms(&world, dr, &shape, true, args.json).await?;
        let p99 = latencies.value_at_quantile(0.99) as f64 / 1000.0;
        latency_figures(report, &command, name, "with events", &latencies);
        report.add(
            &command,
            Figure::new(
                "protect",
                format!("{name} with events, creation → protection requested p99"),
                p99,
                "s",
            )
            .against("goal", EVENT_GOAL_SECONDS)
            .goal(
                format!("< {EVENT_GOAL_SECONDS} s"),
                p99 < EVENT_GOAL_SECONDS,
            ),
        );

        // Events off: only the runbook, every `interval` seconds.
        admin
            .call(
                reqwest::Method::PUT,
                path,
                Some(runbook(format!("*/{} * * * * *", shape.interval))),
            )
            .await?;
        let latencies = new_vms(&world, dr, &shape, false, args.json).await?;
        let p99 = latencies.value_at_quantile(0.99) as f64 / 1000.0;
        latency_figures(report, &command, name, "runbook only", &latencies);
        report.add(
            &command,
            Figure::new(
                "protect",
                format!(
                    "{name} runbook only (every {}s), creation → protection requested p99",
                    shape.interval
                ),
                p99,
                "s",
            )
            .against("one runbook interval", shape.interval as f64)
            .goal("< one interval", p99 < shape.interval as f64),
        );
        world.stop().await?;
    }
    Ok(())
}

fn latency_figures(
    report: &mut Report,
    command: &str,
    name: &str,
    mode: &str,
    latencies: &Histogram<u64>,
) {
    report.add(
        command,
        Figure::new(
            "protect",
            format!(
                "{name} {mode}, creation → protection requested p50 ({} VMs)",
                latencies.len()
            ),
            latencies.value_at_quantile(0.5) as f64 / 1000.0,
            "s",
        ),
    );
}

/// Creates `shape.new_vms` VMs at `shape.rate` per second in the DR subscriptions, with an event
/// each when `events`; waits until wapdr requested every one's protection; the latencies in
/// milliseconds.
async fn new_vms(
    world: &BenchWorld,
    dr: &[AdminSubscription],
    shape: &Shape,
    events: bool,
    quiet: bool,
) -> anyhow::Result<Histogram<u64>> {
    let stamp_id = world.lab.stamps()[0].stamp_id;
    let mut created = Vec::with_capacity(shape.new_vms);
    let pace = Duration::from_secs_f64(1.0 / shape.rate);
    let bar = bar(shape.new_vms as u64, "VMs created", quiet);
    // One admin client for every event: its connections are reused, as an event runbook's are.
    let admin = world.admin()?;
    let started = Instant::now();
    for n in 0..shape.new_vms {
        tokio::time::sleep_until((started + pace * n as u32).into()).await;
        let tenant = &dr[n % dr.len()];
        let at = OffsetDateTime::now_utc();
        let id = world.add_vms(tenant, 1, "new").await?[0];
        if events {
            admin
                .call(
                    reqwest::Method::POST,
                    "/events/vms",
                    Some(json!({ "event": "created", "stampId": stamp_id, "vmId": id })),
                )
                .await?;
        }
        created.push((tenant.subscription_id, id, at));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let waiting = super::world::bar(created.len() as u64, "protection requested", quiet);
    for (subscription, vm, at) in created {
        let requested = loop {
            let record = world
                .running
                .store
                .get_protected_vm(subscription, vm)
                .await?;
            if let Some(requested) = record.and_then(|r| r.protection_requested_at) {
                break requested;
            }
            ensure!(
                Instant::now() < deadline,
                "VM {vm}'s protection was never requested"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let millis = (requested - at).whole_milliseconds().max(1);
        latencies.saturating_record(u64::try_from(millis).unwrap_or(1));
        waiting.inc(1);
    }
    waiting.finish_and_clear();
    Ok(latencies)
}

/// wapdr's CPU seconds per second while nothing but the engine's idle work runs.
async fn idle_cpu_per_second(wapdr: &Proc) -> anyhow::Result<f64> {
    let window = Duration::from_secs(3);
    let before = wapdr.cpu_seconds()?;
    tokio::time::sleep(window).await;
    Ok((wapdr.cpu_seconds()? - before) / window.as_secs_f64())
}

/// Starts one protect-new-vms run and waits for it to succeed; its wall time.
async fn cycle(world: &BenchWorld) -> anyhow::Result<f64> {
    let started = world
        .admin()?
        .call(
            reqwest::Method::POST,
            "/runbooks/protect-new-vms/start",
            Some(json!({})),
        )
        .await?;
    job_seconds(world, &started).await
}
