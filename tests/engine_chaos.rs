//! Crash safety and scale-out, with real processes (`engine-chaos-worker`) on SQLite and
//! PostgreSQL: a run whose worker is SIGKILLed at random points at least 20 times completes with
//! every effect applied once (idempotently for at-least-once steps), and three instances on one
//! PostgreSQL drain 1,000 jobs running each exactly once (one instance on SQLite).
//!
//! The kill points come from a seeded RNG; the seed is printed, and `CHAOS_SEED=n` replays it.

mod common;
#[path = "chaos/workflow.rs"]
mod workflow;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};
use wapdr::engine::{Registry, StartRequest, start_run};
use wapdr::store::{RunFilter, RunState, SharedStore};

use common::app::Backend;
use common::engine::{TestStore, wait_for_run};
use workflow::{Chaos, Effects, Single};

const WORKER: &str = env!("CARGO_BIN_EXE_engine-chaos-worker");

fn worker(mode: &str, url: &str, instance: &str) -> Child {
    Command::new(WORKER)
        .args([mode, url, instance])
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("CHAOS_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .expect("start the chaos worker")
}

fn registry(effects: &Effects) -> Registry {
    let chaos = || Chaos {
        effects: effects.clone(),
        instance: "test".into(),
        work: Duration::ZERO,
    };
    Registry::new().with(chaos()).with(Single(chaos()))
}

async fn start(store: &SharedStore, registry: &Registry, workflow: &str) -> uuid::Uuid {
    let request = StartRequest {
        workflow: workflow.into(),
        params: json!({}),
        trigger: "test".into(),
        started_by: "tester".into(),
        reason: None,
        dedupe_key: None,
    };
    start_run(store, registry, request)
        .await
        .expect("starts")
        .id
}

async fn a_run_survives_twenty_sigkills_with_every_effect_applied_once(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let effects = Effects::connect(&db.url).await;
    let id = start(&db.store, &registry(&effects), "chaos").await;
    let seed = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("chaos seed: {seed} (replay with CHAOS_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let began = Instant::now();
    let mut kills = 0;
    while kills < 20 {
        let mut child = worker("work", &db.url, &format!("victim-{kills}"));
        tokio::time::sleep(Duration::from_millis(rng.u64(50..700))).await;
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("reaped");
        kills += 1;
    }
    let mut survivor = worker("work", &db.url, "survivor");
    let run = wait_for_run(&db.store, id, Duration::from_secs(60), |r| {
        r.state.is_final()
    })
    .await;
    survivor.start_kill().ok();
    survivor.wait().await.ok();
    println!(
        "{kills} kills, run ended {:?} after {:?}",
        run.state,
        began.elapsed()
    );
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");

    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!(steps.len(), 11, "4 planned stages and a fan-out of 3");
    let applied: BTreeMap<String, (String, i64)> = effects
        .all()
        .await
        .into_iter()
        .map(|(step, key, times)| (key, (step, times)))
        .collect();
    assert_eq!(
        applied.len(),
        steps.len(),
        "one effect per step: {applied:?}"
    );
    for step in &steps {
        let key = wapdr::engine::idempotency_key(id, step.id);
        let (name, times) = applied
            .get(&key)
            .unwrap_or_else(|| panic!("{} has no effect", step.name));
        assert_eq!(name, &step.name);
        if !step.at_least_once {
            assert_eq!(*times, 1, "{} took effect {times} times", step.name);
        }
    }
    let executions = effects
        .count("SELECT COUNT(*) FROM chaos_attempts", &[])
        .await;
    println!("{executions} step executions for {} steps", steps.len());
    db.finish().await;
}

async fn instances_drain_a_thousand_jobs_running_each_exactly_once(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let effects = Effects::connect(&db.url).await;
    let registry = registry(&effects);
    for _ in 0..1000 {
        start(&db.store, &registry, "single").await;
    }
    // Several instances share PostgreSQL; SQLite serves one.
    let instances = match backend {
        Backend::Postgres => 3,
        Backend::Sqlite => 1,
    };
    let began = Instant::now();
    let mut workers: Vec<Child> = (0..instances)
        .map(|i| worker("drain", &db.url, &format!("instance-{i}")))
        .collect();
    for child in &mut workers {
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
            .await
            .expect("the instances drain the queue within two minutes")
            .expect("reaped");
        assert!(status.success(), "{status}");
    }
    println!(
        "{instances} instance(s) drained 1000 jobs in {:?}",
        began.elapsed()
    );
    let succeeded = RunFilter {
        state: Some(RunState::Succeeded),
        limit: Some(1000),
        ..Default::default()
    };
    assert_eq!(db.store.list_runs(&succeeded).await.unwrap().len(), 1000);
    assert_eq!(
        effects
            .count("SELECT COUNT(*) FROM chaos_effects", &[])
            .await,
        1000
    );
    // Each claim ran once: as many executions as claims, and no claim executed twice.
    let claims = effects
        .count(
            "SELECT CAST(SUM(attempt) AS BIGINT) FROM workflow_steps",
            &[],
        )
        .await;
    let executions = effects
        .count("SELECT COUNT(*) FROM chaos_attempts", &[])
        .await;
    let duplicated = effects
        .count(
            "SELECT COUNT(*) FROM (SELECT key, attempt FROM chaos_attempts \
             GROUP BY key, attempt HAVING COUNT(*) > 1) AS twice",
            &[],
        )
        .await;
    // More claims than jobs happen when a step is retried or its lease lapses under load (a
    // heartbeat queued behind SQLite's single writer): the takeover is the engine working, and
    // its cost is load-dependent, so it is reported, not asserted. What must hold is above
    // (every effect once) and here: every claim executed at most once.
    println!(
        "{executions} executions for {claims} claims of 1000 jobs ({} re-claimed)",
        claims - 1000
    );
    assert_eq!((executions, duplicated), (claims, 0), "no claim ran twice");
    let per_instance = effects
        .count("SELECT COUNT(DISTINCT instance) FROM chaos_attempts", &[])
        .await;
    println!("{per_instance} instance(s) ran jobs");
    db.finish().await;
}

engine_tests!(
    a_run_survives_twenty_sigkills_with_every_effect_applied_once,
    instances_drain_a_thousand_jobs_running_each_exactly_once,
);
