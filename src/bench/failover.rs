//! Benchmark 3, failover, and the failover half of benchmark 4, memory: a planned site failover
//! of 10,000 VMs in 1,000 subscriptions with the lab's per-operation latency `L` and
//! concurrency `C`, its wall time against the lower bound the fabric allows (one operation per
//! VM, every subscription in one tier: ⌈n/C⌉·L), and first, for comparison, a subscription's
//! 100-VM recovery plan (ASR's largest) against ⌈100/C⌉·L. The lab's peak of outstanding
//! operations is read against `C`, and wapdr's and the lab's resident memory at the failover's peak
//! against what it was before.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::store::RunState;

use super::BenchArgs;
use super::report::{Figure, Report};
use super::world::{BenchWorld, Sizes, lab_config};

/// The failover goal: the wall time within this share above the bound.
const BOUND_GOAL: f64 = 1.05;

/// The sizes and fabric of a failover run.
struct Shape {
    sizes: Sizes,
    /// VMs of the recovery plan benchmark (the extra subscription's).
    plan_vms: usize,
    concurrency: usize,
    /// Lab seconds per ASR operation.
    operation_seconds: f64,
    acceleration: f64,
}

impl Shape {
    fn new(args: &BenchArgs) -> Self {
        if args.quick {
            Shape {
                sizes: Sizes {
                    subscriptions: 10,
                    vms: 100,
                },
                plan_vms: 20,
                concurrency: 10,
                operation_seconds: 60.0,
                acceleration: 600.0,
            }
        } else {
            Shape {
                sizes: Sizes {
                    subscriptions: args.scaled(1_000),
                    vms: args.scaled(1_000) * 10,
                },
                plan_vms: 100,
                concurrency: 100,
                operation_seconds: 120.0,
                acceleration: 60.0,
            }
        }
    }

    /// `L`, one operation's real duration.
    fn latency(&self) -> f64 {
        self.operation_seconds / self.acceleration
    }

    /// ⌈n/C⌉·L for one group of `n` VMs.
    fn bound(&self, n: usize) -> f64 {
        n.div_ceil(self.concurrency) as f64 * self.latency()
    }
}

/// Runs the failover benchmark on each backend asked for.
pub async fn run(args: &BenchArgs, report: &mut Report) -> anyhow::Result<()> {
    let command = args.command("failover");
    for backend in args.backends() {
        fail_over_a_site(args, &command, &backend, report).await?;
    }
    Ok(())
}

/// Builds the world, enables every subscription, fails the plan, then the site, over.
pub(super) async fn fail_over_a_site(
    args: &BenchArgs,
    command: &str,
    backend: &super::world::Backend,
    report: &mut Report,
) -> anyhow::Result<()> {
    let shape = Shape::new(args);
    let Sizes { subscriptions, vms } = shape.sizes;
    // One more subscription than the site's, whose VMs are the recovery plan's.
    let lab = lab_config(
        subscriptions + 1,
        vms + vms / subscriptions,
        json!({
            "concurrency": shape.concurrency,
            "operation_seconds": shape.operation_seconds,
            "acceleration": shape.acceleration,
        }),
    )?;
    let engine = format!("concurrency = {}", shape.concurrency + 32);
    let world = BenchWorld::start(backend, lab, &engine).await?;
    let name = world.backend;
    let tenants = world.tenants().await?;
    ensure!(
        tenants.len() == subscriptions + 1,
        "the lab has {} tenants",
        tenants.len()
    );
    let plan_tenant = tenants[subscriptions].clone();
    let more = shape.plan_vms.saturating_sub(vms / subscriptions);
    if more > 0 {
        world.add_vms(&plan_tenant, more, "plan").await?;
    }
    let enabling = Instant::now();
    world.notify_all(&tenants, 16).await?;
    world
        .until_provisioned(tenants.len(), Duration::from_secs(3600), args.json)
        .await?;
    report.note(format!(
        "failover ({name}): {} subscriptions with {} VMs enabled and protected in {:.0}s before the failovers",
        tenants.len(),
        vms + shape.plan_vms,
        enabling.elapsed().as_secs_f64()
    ));

    // The 100-VM recovery plan: one subscription's default plan, one group.
    reset_peak(&world).await?;
    let admin = world.admin()?;
    let started = admin
        .call(
            reqwest::Method::POST,
            &format!("/subscriptions/{}/failover", plan_tenant.subscription_id),
            Some(json!({ "kind": "planned" })),
        )
        .await?;
    let seconds = job_seconds(&world, &started).await?;
    let bound = shape.bound(shape.plan_vms);
    report.add(
        command,
        Figure::new(
            "failover",
            format!(
                "{name} {}-VM recovery plan wall time (C={}, L={}s)",
                shape.plan_vms,
                shape.concurrency,
                shape.latency()
            ),
            seconds,
            "s",
        )
        .against("lower bound ⌈n/C⌉·L", bound)
        .goal(
            format!("≤ {BOUND_GOAL}× bound"),
            seconds <= bound * BOUND_GOAL,
        ),
    );

    // The site: every subscription still active on A, all in one tier.
    reset_peak(&world).await?;
    let (wapdr, lab) = world.processes()?;
    let before = (wapdr.resident_mib()?, lab.resident_mib()?);
    wapdr.reset_peak();
    lab.reset_peak();
    let started = admin
        .call(
            reqwest::Method::POST,
            &format!("/stamps/{}/failover", world.stamp_ids[0]),
            Some(json!({ "kind": "planned", "reason": "wapdr bench" })),
        )
        .await?;
    let seconds = job_seconds(&world, &started).await?;
    let peak_memory = (wapdr.peak_resident_mib()?, lab.peak_resident_mib()?);
    let bound = shape.bound(vms);
    report.add(
        command,
        Figure::new(
            "failover",
            format!(
                "{name} site failover of {vms} VMs in {subscriptions} subscriptions wall time (C={}, L={}s)",
                shape.concurrency,
                shape.latency()
            ),
            seconds,
            "s",
        )
        .against("lower bound Σ⌈n/C⌉·L", bound)
        .goal(format!("≤ {BOUND_GOAL}× bound"), seconds <= bound * BOUND_GOAL),
    );
    let operations: Value = world
        .client
        .get(format!("{}/lab/operations", world.lab.control()))
        .send()
        .await?
        .json()
        .await?;
    let peak = operations["asr_operations"]["peak_outstanding"]
        .as_f64()
        .context("the lab's peak of outstanding operations")?;
    report.add(
        command,
        Figure::new(
            "failover",
            format!("{name} site failover peak ASR operations outstanding"),
            peak,
            "ops",
        )
        .against("fabric concurrency C", shape.concurrency as f64)
        .goal("never above C", peak <= shape.concurrency as f64),
    );
    for (who, peak, before) in [
        ("wapdr", peak_memory.0, before.0),
        ("lab (its own process)", peak_memory.1, before.1),
    ] {
        report.add(
            command,
            Figure::new(
                "memory",
                format!("{name} {who} resident memory at the site failover's peak"),
                peak,
                "MiB",
            )
            .against("resident before the failover", before),
        );
    }
    world.stop().await
}

/// Resets the lab's peak of outstanding ASR operations.
async fn reset_peak(world: &BenchWorld) -> anyhow::Result<()> {
    world
        .client
        .delete(format!("{}/lab/operations", world.lab.control()))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// Waits for the job an admin call started to succeed; its wall time from creation to end.
pub(super) async fn job_seconds(world: &BenchWorld, started: &Value) -> anyhow::Result<f64> {
    // Operations answer `JobId`; a started runbook answers the job itself (`Id`).
    let id = started["JobId"]
        .as_str()
        .or(started["Id"].as_str())
        .and_then(|id| Uuid::parse_str(id).ok())
        .with_context(|| format!("a JobId in {started}"))?;
    loop {
        let run = world.running.store.get_run(id).await?.context("the job")?;
        if run.state.is_final() {
            if run.state != RunState::Succeeded {
                bail!("job {id} ended {:?}: {:?}", run.state, run.error);
            }
            let finished = run.finished_at.context("a finished job's end")?;
            return Ok((finished - run.created_at).as_seconds_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
