//! Crash safety of the real wapdr, end to end: `wapdr serve` processes (the shipped binary) on one
//! store, the lab as fabric, enablement and failovers driven over HTTP.
//!
//! - On SQLite and PostgreSQL, wapdr is SIGKILLed at seeded random moments while WAP notifies it
//!   of new DR subscriptions (WAP re-sending what got no answer), while their DR is enabled, while a whole site fails over, and while the subscriptions commit and reprotect —
//!   and started again each time. At the end every VM runs on exactly one stamp with one
//!   replica, every subscription is active on one stamp, no job is left unfinished, and WAP's
//!   usage collector, which read `GET /usage?lastID=` all along, got every record (EventIds
//!   contiguous, none twice).
//! - wapdr killed between recording a notification and starting its job: WAP's re-send starts
//!   the job, once.
//! - Three instances on one PostgreSQL: the one running a site failover's VM step is killed and
//!   the others take it over and finish.
//!
//! The kill moments come from a seeded RNG; the seed is printed, `CHAOS_SEED=n` replays it and
//! `CHAOS_LOG=1` shows the processes' logs. See RELIABILITY.md ("Crashes").

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use uuid::Uuid;
use wapdr::domain::VmProtectionState;
use wapdr::lab::LabHandle;
use wapdr::store::{RunFilter, RunState, StepRecord};

use common::app::{Backend, TestApp, USAGE, json_of};
use common::dr::{
    DrWorld, Tenant, add_network, add_vms, admin, gold_world_on, new_tenant, notification_body,
    notify_create, records, settled_lifecycle,
};
use common::failover::{
    database_now, dr, failover, failover_view, finished, job_id, protected_tenant, runs_of,
    vm_copies, wap_state,
};
use common::lab::{set_knobs, small_lab};
use common::serve::{ServeConfig, Served};
use common::setup::asr_section;
use wapdr::fabric::wap_admin::AdminSubscriptionState;

on_both_backends!(
    sigkilled_wapdr_finishes_enablement_and_failovers_with_nothing_lost_or_doubled,
    a_notification_whose_job_a_crash_never_started_is_carried_out_when_wap_resends_it,
    a_quota_change_whose_job_a_crash_never_started_is_carried_out_when_wap_resends_it,
);

/// Tenants, and VMs each, of the crash test.
const TENANTS: usize = 4;
const VMS_EACH: usize = 4;

/// Kills per phase (at most: a phase whose work ends sooner stops being killed).
const KILLS_PER_PHASE: u32 = 10;

/// The longest a phase may take once its kills are over.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

/// The seed of this run's kill moments: `CHAOS_SEED`, or a new one.
fn chaos_seed() -> u64 {
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("chaos seed: {seed} (replay with CHAOS_SEED={seed})");
    seed
}

/// Slows `world`'s lab so that kills land mid-work: ASR operations take a second each, four at
/// once, and a VM's initial replication half a second.
async fn slow_down(world: &DrWorld) {
    set_knobs(
        &world.lab,
        json!({
            "operation_seconds": 600.0,
            "concurrency": 4,
            "initial_replication_bytes_per_second": 1024.0 * 1024.0 * 1024.0 / 300.0,
        }),
    )
    .await;
}

/// A test app that only serves (its engine off) on a fresh store with the lab's vault configured:
/// the `wapdr serve` processes started on its configuration do the work.
async fn serving_app(backend: Backend, lab: &LabHandle) -> Option<TestApp> {
    TestApp::start_with_engine(
        backend,
        wapdr::app::workflows(),
        &asr_section(lab),
        "enabled = false",
    )
    .await
}

/// One `wapdr serve` process, SIGKILLed at random and started again.
struct Chaos {
    config: ServeConfig,
    live: Option<Served>,
    rng: fastrand::Rng,
    /// Kills so far.
    kills: u32,
    /// Spawn-to-serving time of each restart.
    restarts: Vec<Duration>,
}

impl Chaos {
    /// Starts the first process on `app`'s store and points `app`'s requests at it.
    async fn start(app: &mut TestApp, seed: u64) -> Self {
        let config = ServeConfig::of(app);
        let live = config.start("wapdr-0").await;
        app.url = live.url.clone();
        Self {
            config,
            live: Some(live),
            rng: fastrand::Rng::with_seed(seed),
            kills: 0,
            restarts: Vec::new(),
        }
    }

    /// SIGKILLs the process and starts a new one, which `app`'s requests go to from now on.
    async fn kill_and_restart(&mut self, app: &mut TestApp) {
        if let Some(victim) = self.live.take() {
            victim.kill().await;
        }
        self.kills += 1;
        let next = self.config.start(&format!("wapdr-{}", self.kills)).await;
        self.restarts.push(next.started_in);
        app.url = next.url.clone();
        self.live = Some(next);
    }

    /// Kills wapdr at up to [`KILLS_PER_PHASE`] random moments while `done` says the phase's
    /// work is unfinished, then lets the last process finish it. Returns the kills and how long
    /// the phase took.
    async fn phase(
        &mut self,
        name: &str,
        app: &mut TestApp,
        done: impl AsyncFn(&TestApp) -> bool,
    ) -> (u32, Duration) {
        let began = Instant::now();
        let mut kills = 0;
        while kills < KILLS_PER_PHASE {
            let wait = Duration::from_millis(self.rng.u64(100..1000));
            tokio::time::sleep(wait).await;
            if done(app).await {
                break;
            }
            self.kill_and_restart(app).await;
            kills += 1;
        }
        let finished_by = Instant::now() + PHASE_LIMIT;
        while !done(app).await {
            assert!(
                Instant::now() < finished_by,
                "{name}: unfinished {PHASE_LIMIT:?} after its {kills} kills"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let took = began.elapsed();
        println!("{name}: {kills} kills, done in {took:?}");
        (kills, took)
    }
}

/// Whether every job in `jobs` has ended.
async fn ended(app: &TestApp, jobs: &[Uuid]) -> bool {
    for job in jobs {
        let run = app
            .store()
            .get_run(*job)
            .await
            .expect("store")
            .expect("job");
        if !run.state.is_final() {
            return false;
        }
    }
    true
}

/// Asserts that every job in `jobs` succeeded.
async fn assert_succeeded(app: &TestApp, jobs: &[Uuid]) {
    for job in jobs {
        let run = app
            .store()
            .get_run(*job)
            .await
            .expect("store")
            .expect("job");
        assert_eq!(
            run.state,
            RunState::Succeeded,
            "{} {job}: {:?}",
            run.workflow,
            run.error
        );
    }
}

/// Starts the usage-meter runbook back-filling the hour that began `hours_ago` hours before this
/// one (by the database clock); returns its job and the period's start.
async fn backfill(app: &TestApp, hours_ago: i64) -> (Uuid, String) {
    let now = database_now(app).await;
    let hour = now
        .replace_time(time::Time::from_hms(now.hour(), 0, 0).expect("an hour"))
        .to_offset(time::UtcOffset::UTC)
        - time::Duration::hours(hours_ago);
    let period = hour.format(&Rfc3339).expect("RFC 3339");
    let (status, job) = admin(
        app,
        Method::POST,
        "/runbooks/usage-meter/start",
        Some(json!({ "parameters": { "periodStart": period } })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = Uuid::parse_str(job["Id"].as_str().expect("Id")).expect("GUID");
    (id, period)
}

/// `GET /usage?lastID=` on `base` with the usage endpoint's credentials: every record after
/// `last_id`, page by page.
async fn usage_after(client: &reqwest::Client, base: &str, last_id: i64) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut last = last_id;
    loop {
        let page: Vec<Value> = client
            .get(format!("{base}/usage?lastID={last}&batchSize=50"))
            .basic_auth(USAGE.0, Some(USAGE.1))
            .send()
            .await
            .expect("the usage endpoint")
            .json()
            .await
            .expect("usage JSON");
        let Some(tail) = page.last() else {
            return out;
        };
        last = tail["EventId"].as_i64().expect("EventId");
        out.extend(page);
    }
}

/// WAP's usage collector: reads `GET /usage?lastID=` from `base` every 100 ms, acknowledging what
/// it got, until told to stop (then reads once more); everything it received.
fn usage_collector(
    base: String,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<Value>> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut got: Vec<Value> = Vec::new();
        loop {
            let stopping = *stop.borrow_and_update();
            let last = got
                .last()
                .map_or(0, |r| r["EventId"].as_i64().expect("EventId"));
            got.extend(usage_after(&client, &base, last).await);
            if stopping {
                return got;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), stop.changed()).await;
        }
    })
}

/// Creates `TENANTS` tenants with `VMS_EACH` running VMs and a network each on stamp A.
async fn tenants_on_a(world: &DrWorld) -> Vec<(Tenant, Vec<Uuid>)> {
    let mut out = Vec::new();
    for i in 0..TENANTS {
        let tenant = new_tenant(&world.lab, &format!("chaos{i}@x.lab"), "a-gold").await;
        let net = add_network(&world.lab, &tenant, &format!("chaos{i}-net")).await;
        let vms = add_vms(
            &world.lab,
            &tenant,
            "Gold",
            &format!("chaos{i}"),
            VMS_EACH,
            &[net],
        )
        .await;
        out.push((tenant, vms));
    }
    out
}

/// Whether every tenant's DR is enabled: its enable job ended and every VM is protected.
async fn all_enabled(app: &TestApp, tenants: &[(Tenant, Vec<Uuid>)]) -> bool {
    for (tenant, vms) in tenants {
        let jobs: Vec<Uuid> = runs_of(app, tenant, "enable_dr")
            .await
            .iter()
            .map(|r| r.id)
            .collect();
        let protected = records(app, tenant)
            .await
            .iter()
            .filter(|r| r.state == VmProtectionState::Protected && r.replica_owned)
            .count();
        if jobs.is_empty() || !ended(app, &jobs).await || protected < vms.len() {
            return false;
        }
    }
    true
}

/// Starts `kind` on every tenant; the jobs.
async fn on_every_tenant(app: &TestApp, tenants: &[(Tenant, Vec<Uuid>)], kind: &str) -> Vec<Uuid> {
    let mut jobs = Vec::new();
    for (tenant, _) in tenants {
        let (status, started) = failover(app, tenant, json!({ "kind": kind })).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{kind}: {started}");
        jobs.push(job_id(&started));
    }
    jobs
}

/// Waits until no job in the store is Pending, Running or Waiting (30 s at most, so that a
/// scheduled runbook that just started can end); panics naming the ones left.
async fn assert_no_job_left_unfinished(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut unfinished = Vec::new();
        for state in [RunState::Pending, RunState::Running, RunState::Waiting] {
            let filter = RunFilter {
                state: Some(state),
                ..RunFilter::default()
            };
            unfinished.extend(app.store().list_runs(&filter).await.expect("store"));
        }
        if unfinished.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "jobs stuck: {:?}",
            unfinished
                .iter()
                .map(|r| (&r.workflow, r.state, r.id))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sigkilled_wapdr_finishes_enablement_and_failovers_with_nothing_lost_or_doubled(
    backend: Backend,
) {
    let seed = chaos_seed();
    let began = Instant::now();
    let lab = small_lab().await;
    let Some(mut app) = serving_app(backend, &lab).await else {
        return;
    };
    let (stop_collecting, stop) = watch::channel(false);
    let collector = usage_collector(app.url.clone(), stop);
    let mut chaos = Chaos::start(&mut app, seed).await;
    let mut world = gold_world_on(app, lab).await;
    slow_down(&world).await;
    let tenants = tenants_on_a(&world).await;
    let mut figures = Vec::new();
    let mut metered = Vec::new();

    // Enablement: WAP tells wapdr each tenant took the DR add-on, and wapdr is killed a few
    // milliseconds into each notification; WAP sends again what it got no answer to.
    let mut cut_off = 0;
    for (tenant, _) in &tenants {
        let body = notification_body(tenant, &[("DrEnabled", "true")]);
        let sent = tokio::spawn(
            world
                .app
                .notification(Method::POST, "/subscriptions")
                .json(&body)
                .send(),
        );
        tokio::time::sleep(Duration::from_millis(chaos.rng.u64(0..20))).await;
        chaos.kill_and_restart(&mut world.app).await;
        let answered = sent
            .await
            .expect("the request task")
            .is_ok_and(|r| r.status() == StatusCode::ACCEPTED);
        if !answered {
            cut_off += 1;
            let (status, answer) = notify_create(&world.app, &body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        }
    }
    println!("notifications: {TENANTS} kills, {cut_off} of them before the answer");
    figures.push((TENANTS as u32, Duration::ZERO));
    let meters = vec![backfill(&world.app, 1).await.0];
    figures.push(
        chaos
            .phase("enablement", &mut world.app, async |app| {
                all_enabled(app, &tenants).await && ended(app, &meters).await
            })
            .await,
    );
    assert_succeeded(&world.app, &meters).await;
    for (tenant, _) in &tenants {
        let lifecycle = settled_lifecycle(&world.app, tenant).await;
        assert_eq!(lifecycle["LifecycleState"], 0, "Provisioned: {lifecycle}");
        let enabled: Vec<Uuid> = runs_of(&world.app, tenant, "enable_dr")
            .await
            .iter()
            .map(|r| r.id)
            .collect();
        assert_succeeded(&world.app, &enabled).await;
    }

    // A planned failover of the whole of stamp A, then commit and reprotect per subscription,
    // each while usage is back-filled.
    let (status, started) = admin(
        &world.app,
        Method::POST,
        &format!("/stamps/{}/failover", world.a),
        Some(json!({ "kind": "planned", "reason": "chaos" })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let site_job = job_id(&started);
    let mut jobs = vec![site_job];
    for (hours_ago, kind) in [(2, "site failover"), (3, "commit"), (4, "reprotect")] {
        if kind != "site failover" {
            jobs = on_every_tenant(&world.app, &tenants, kind).await;
        }
        let (meter, period) = backfill(&world.app, hours_ago).await;
        metered.push(period);
        jobs.push(meter);
        figures.push(
            chaos
                .phase(kind, &mut world.app, async |app| ended(app, &jobs).await)
                .await,
        );
        assert_succeeded(&world.app, &jobs).await;
    }
    let site_children = world
        .app
        .store()
        .list_runs(&RunFilter {
            parent_id: Some(site_job),
            ..RunFilter::default()
        })
        .await
        .expect("store");
    assert_eq!(site_children.len(), TENANTS, "one job per subscription");
    // The site job's record names each subscription's job; none says it was skipped.
    let starts: Vec<Value> = world
        .app
        .store()
        .run_steps(site_job)
        .await
        .expect("steps")
        .into_iter()
        .filter(|s| s.kind == "start")
        .map(|s| s.output.unwrap_or_default())
        .collect();
    assert!(
        starts.len() == TENANTS
            && starts
                .iter()
                .all(|o| o["jobId"].is_string() && o["skipped"].is_null()),
        "{starts:#?} (seed {seed})"
    );
    assert_succeeded(
        &world.app,
        &site_children.iter().map(|r| r.id).collect::<Vec<_>>(),
    )
    .await;

    // Nothing stuck, every subscription and VM on B and only there, once.
    assert_no_job_left_unfinished(&world.app).await;
    let b = Uuid::parse_str(&world.b).expect("B");
    for (tenant, vms) in &tenants {
        assert_eq!(dr(&world.app, tenant).await.active_stamp_id, Some(b));
        assert_eq!(
            failover_view(&world.app, tenant).await["Phase"],
            "Replicating"
        );
        assert_eq!(
            wap_state(&world.lab, 1, tenant).await,
            AdminSubscriptionState::Active
        );
        assert_eq!(
            wap_state(&world.lab, 0, tenant).await,
            AdminSubscriptionState::Suspended
        );
        let kept = records(&world.app, tenant).await;
        assert_eq!(kept.len(), vms.len(), "one record per VM: {kept:?}");
        for vm in vms {
            let copies = vm_copies(&world.lab, *vm).await;
            assert!(
                copies.replicas == 1 && copies.on_b && !copies.on_a,
                "VM {vm} runs on B only, with one replica: {copies:?} (seed {seed})"
            );
        }
    }

    // The collector got every record, in EventId order with none missing and none twice.
    stop_collecting.send(true).expect("collector");
    let collected = collector.await.expect("collector");
    let all = usage_after(&reqwest::Client::new(), &world.app.url, 0).await;
    let ids: Vec<i64> = all.iter().map(|r| r["EventId"].as_i64().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as i64).collect::<Vec<_>>(),
        "EventIds are contiguous from 1"
    );
    assert_eq!(
        collected, all,
        "the collector reading all along lost nothing"
    );
    let external: BTreeSet<&str> = all
        .iter()
        .map(|r| r["ExternalRecordId"].as_str().expect("ExternalRecordId"))
        .collect();
    assert_eq!(external.len(), all.len(), "no period metered twice");
    for period in &metered {
        for (tenant, _) in &tenants {
            let record = format!("wapdr:{}:{period}", tenant.id);
            assert!(
                external.iter().any(|e| e.eq_ignore_ascii_case(&record)),
                "{record} metered: {external:?}"
            );
        }
    }

    let kills: u32 = figures.iter().map(|(k, _)| k).sum();
    let restarts = &chaos.restarts;
    let mean_restart = restarts.iter().sum::<Duration>() / restarts.len().max(1) as u32;
    println!(
        "{backend:?}: {kills} kills (seed {seed}), {} usage records, restart to serving {mean_restart:?} \
         on average, {:?} in all",
        all.len(),
        began.elapsed()
    );
    assert!(
        kills >= 2 * KILLS_PER_PHASE,
        "the kills landed on unfinished work: {figures:?}"
    );
}

/// Three `wapdr serve` processes on one PostgreSQL run a site failover; the one running a VM's
/// step is killed and the other two take the step over and finish the job (SQLite serves one
/// instance, so this runs on PostgreSQL only).
#[tokio::test]
async fn three_instances_on_postgresql_finish_a_site_failover_when_one_is_killed() {
    let lab = small_lab().await;
    // Ten lab minutes per operation (a second here), two at a time: the kill lands midway.
    set_knobs(
        &lab,
        json!({ "operation_seconds": 600.0, "concurrency": 2 }),
    )
    .await;
    let Some(mut app) = serving_app(Backend::Postgres, &lab).await else {
        return;
    };
    let config = ServeConfig::of(&app);
    let mut instances = Vec::new();
    for i in 0..3 {
        instances.push(config.start(&format!("wapdr-{i}")).await);
    }
    app.url = instances[0].url.clone();
    let mut world = gold_world_on(app, lab).await;
    let mut tenants = Vec::new();
    for i in 0..2 {
        tenants.push(protected_tenant(&world, &format!("trio{i}@x.lab"), 3, &[]).await);
    }
    let (status, started) = admin(
        &world.app,
        Method::POST,
        &format!("/stamps/{}/failover", world.a),
        Some(json!({ "kind": "planned" })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let site = job_id(&started);

    // The instance holding a VM step's lease mid-failover is the one killed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (step, owner) = loop {
        let held = site_steps(&world.app, site)
            .await
            .into_iter()
            .find(|s| s.kind == "vm" && s.state == RunState::Running && s.lease_owner.is_some());
        if let Some(step) = held {
            let owner = step.lease_owner.clone().expect("owner");
            break (step, owner);
        }
        assert!(Instant::now() < deadline, "no VM step ever ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let victim = instances
        .iter()
        .position(|i| i.owns(&owner))
        .unwrap_or_else(|| panic!("{owner} is none of the instances"));
    let killed = instances.remove(victim);
    println!(
        "killing {} (pid {}), which runs {}",
        killed.name, killed.pid, step.name
    );
    let killed_at = Instant::now();
    killed.kill().await;
    world.app.url = instances[0].url.clone();
    // What the killed instance held when it died (the step seen above, unless it ended in the
    // moment before the kill, and any other it had claimed).
    let orphans: Vec<StepRecord> = site_steps(&world.app, site)
        .await
        .into_iter()
        .filter(|s| s.state == RunState::Running && s.lease_owner.as_deref() == Some(&owner))
        .collect();
    println!("it held {} step(s) when killed", orphans.len());

    let run = finished(&world.app, site).await;
    println!(
        "the site failover ended {:?} after the kill",
        killed_at.elapsed()
    );
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    let after = site_steps(&world.app, site).await;
    for orphan in &orphans {
        let taken_over = after
            .iter()
            .find(|s| s.run_id == orphan.run_id && s.id == orphan.id)
            .expect("the step");
        assert!(
            taken_over.state == RunState::Succeeded
                && taken_over.attempt > orphan.attempt
                && taken_over.lease_owner.as_deref() != Some(owner.as_str()),
            "another instance finished the killed one's step: {taken_over:?}"
        );
    }
    let b = Uuid::parse_str(&world.b).expect("B");
    for (tenant, vms) in &tenants {
        assert_eq!(dr(&world.app, tenant).await.active_stamp_id, Some(b));
        for vm in vms {
            let copies = vm_copies(&world.lab, *vm).await;
            assert!(
                copies.replicas == 1 && copies.on_b && !copies.on_a,
                "VM {vm} runs on B only, with one replica: {copies:?}"
            );
        }
    }
    assert_no_job_left_unfinished(&world.app).await;
}

/// wapdr killed after recording a new DR subscription and before starting its enable job (the
/// state such a crash leaves: the subscription `Provisioning`, no job), so WAP got no answer and
/// re-sends the notification: the re-send starts the job, which protects every VM, and a second
/// re-send while it runs starts nothing more.
async fn a_notification_whose_job_a_crash_never_started_is_carried_out_when_wap_resends_it(
    backend: Backend,
) {
    let lab = small_lab().await;
    let Some(mut app) = serving_app(backend, &lab).await else {
        return;
    };
    let engine_off = app.url.clone();
    let mut chaos = Chaos::start(&mut app, 0).await;
    let mut world = gold_world_on(app, lab).await;
    let tenant = new_tenant(&world.lab, "resent@x.lab", "a-gold").await;
    let vms = add_vms(&world.lab, &tenant, "Gold", "resent", 2, &[]).await;
    let body = notification_body(&tenant, &[("DrEnabled", "true")]);

    // The crash window: no engine runs, the notification is recorded, its job is gone.
    if let Some(live) = chaos.live.take() {
        live.kill().await;
    }
    world.app.url = engine_off;
    let (status, answer) = notify_create(&world.app, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    lose_the_enable_jobs(&world.app, &tenant).await;

    chaos.kill_and_restart(&mut world.app).await;
    for _ in 0..2 {
        let (status, answer) = notify_create(&world.app, &body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    assert_enabled_by_one_job(&world.app, &tenant, vms.len()).await;
}

/// Deletes the tenant's enable_dr jobs: the state a crash between recording a change and
/// starting its job leaves.
async fn lose_the_enable_jobs(app: &TestApp, tenant: &Tenant) {
    app.execute(
        "DELETE FROM workflow_steps WHERE run_id IN \
         (SELECT id FROM workflow_runs WHERE workflow = 'enable_dr'); \
         DELETE FROM workflow_runs WHERE workflow = 'enable_dr';",
    )
    .await;
    assert!(runs_of(app, tenant, "enable_dr").await.is_empty());
}

/// The tenant ends Provisioned by exactly one enable job, which Succeeded, with each of its
/// `vms` VMs protected and its replica owned.
async fn assert_enabled_by_one_job(app: &TestApp, tenant: &Tenant, vms: usize) {
    let lifecycle = settled_lifecycle(app, tenant).await;
    assert_eq!(lifecycle["LifecycleState"], 0, "Provisioned: {lifecycle}");
    let jobs = runs_of(app, tenant, "enable_dr").await;
    assert_eq!(jobs.len(), 1, "one enable job: {jobs:?}");
    let job = finished(app, jobs[0].id).await;
    assert_eq!(job.state, RunState::Succeeded, "{:?}", job.error);
    let protected = records(app, tenant).await;
    assert!(
        protected.len() == vms
            && protected
                .iter()
                .all(|r| r.state == VmProtectionState::Protected && r.replica_owned),
        "{protected:?}"
    );
}

/// `PUT /notification/quota` with `quota` for `tenant`; returns the status and body.
async fn put_quota(app: &TestApp, tenant: &Tenant, quota: &[(&str, &str)]) -> (StatusCode, Value) {
    let settings: Vec<_> = quota
        .iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    let response = app
        .notification(Method::PUT, "/quota")
        .json(&json!({
            "BaseQuota": settings,
            "AddOnQuotas": [],
            "SubscriptionIdsToUpdate": [tenant.id.to_string()],
        }))
        .send()
        .await
        .expect("quota");
    let status = response.status();
    (status, json_of(response).await)
}

async fn a_quota_change_whose_job_a_crash_never_started_is_carried_out_when_wap_resends_it(
    backend: Backend,
) {
    let lab = small_lab().await;
    let Some(mut app) = serving_app(backend, &lab).await else {
        return;
    };
    let engine_off = app.url.clone();
    let mut chaos = Chaos::start(&mut app, 0).await;
    let mut world = gold_world_on(app, lab).await;
    let tenant = new_tenant(&world.lab, "requota@x.lab", "a-gold").await;
    let vms = add_vms(&world.lab, &tenant, "Gold", "requota", 2, &[]).await;
    // The plan starts without DR; the provider adds it to the plan later.
    let body = notification_body(&tenant, &[("DrEnabled", "false")]);
    let (status, answer) = notify_create(&world.app, &body).await;
    assert!(status.is_success(), "{answer}");
    assert_eq!(
        settled_lifecycle(&world.app, &tenant).await["LifecycleState"],
        0
    );

    // The crash window: no engine runs, the quota change is recorded, its job is gone.
    if let Some(live) = chaos.live.take() {
        live.kill().await;
    }
    world.app.url = engine_off;
    let (status, answer) = put_quota(&world.app, &tenant, &[("DrEnabled", "true")]).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    lose_the_enable_jobs(&world.app, &tenant).await;

    // WAP got no answer and sends the batch again (twice: a retry of a live request starts
    // nothing more).
    chaos.kill_and_restart(&mut world.app).await;
    for _ in 0..2 {
        let (status, answer) = put_quota(&world.app, &tenant, &[("DrEnabled", "true")]).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer["UpdatedSubscriptionIds"],
            json!([tenant.id.to_string()])
        );
    }
    assert_enabled_by_one_job(&world.app, &tenant, vms.len()).await;
}

/// The steps of a site job and of every job it started.
async fn site_steps(app: &TestApp, site: Uuid) -> Vec<StepRecord> {
    let mut steps = app.store().run_steps(site).await.expect("steps");
    let children = app
        .store()
        .list_runs(&RunFilter {
            parent_id: Some(site),
            ..RunFilter::default()
        })
        .await
        .expect("store");
    for child in children {
        steps.extend(app.store().run_steps(child.id).await.expect("steps"));
    }
    steps
}
