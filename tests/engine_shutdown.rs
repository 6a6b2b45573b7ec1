//! A graceful stop of the engine (what `wapdr serve` does on SIGTERM or ctrl-c), on SQLite and
//! PostgreSQL: it claims nothing more, a step that finishes within the grace records its result,
//! and a step that does not is given back at once — another instance takes it over without
//! waiting for its lease to run out.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;
use wapdr::engine::{
    Engine, EngineSettings, Registry, StartRequest, StepContext, StepOutcome, StepSpec, Workflow,
    start_run,
};
use wapdr::store::{RunState, SharedStore};

use common::app::Backend;
use common::engine::{RunningEngine, TestStore, wait_until_final};

on_both_backends!(
    a_stopping_engine_claims_nothing_more_finishes_quick_steps_and_gives_back_the_rest,
);

/// A workflow of one stage: each step's kind says what it does (`quick`: 200 ms; `stuck`: runs
/// until it is dropped, on its first attempt only).
#[derive(Clone, Default)]
struct Stoppable {
    began: Arc<AtomicUsize>,
}

#[async_trait]
impl Workflow for Stoppable {
    fn name(&self) -> &'static str {
        "stoppable"
    }

    fn validate(&self, _params: &Value) -> Result<(), String> {
        Ok(())
    }

    fn first_stages(&self, params: &Value) -> Vec<Vec<StepSpec>> {
        vec![
            params["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|kind| {
                    let kind = kind.as_str().unwrap_or_default();
                    StepSpec::new(kind, kind)
                })
                .collect(),
        ]
    }

    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        self.began.fetch_add(1, Ordering::SeqCst);
        match step.kind.as_str() {
            "stuck" if ctx.attempt == 1 => {
                std::future::pending::<()>().await;
                StepOutcome::Done(json!("never"))
            }
            "quick" => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                StepOutcome::Done(json!("finished within the grace"))
            }
            _ => StepOutcome::Done(json!("taken over")),
        }
    }
}

async fn start(store: &SharedStore, workflow: &Stoppable, steps: Value) -> Uuid {
    let registry = Registry::new().with(workflow.clone());
    start_run(
        store,
        &registry,
        StartRequest {
            workflow: "stoppable".into(),
            params: json!({ "steps": steps }),
            trigger: "test".into(),
            started_by: "tester".into(),
            reason: None,
            dedupe_key: None,
        },
    )
    .await
    .expect("starts")
    .id
}

async fn a_stopping_engine_claims_nothing_more_finishes_quick_steps_and_gives_back_the_rest(
    backend: Backend,
) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Stoppable::default();
    let id = start(&db.store, &workflow, json!(["quick", "stuck"])).await;
    // A long lease: a step not given back would wait 30 s for another instance.
    let settings = EngineSettings {
        concurrency: 4,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        shutdown_grace: Duration::from_millis(800),
    };
    let engine = Engine::new(
        db.store.clone(),
        Arc::new(Registry::new().with(workflow.clone())),
        "stopping",
    )
    .with_settings(settings);
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(engine.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while workflow.began.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the steps never began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let stopping = Instant::now();
    stop.send(true).expect("the engine listens");
    // Work that arrives while the engine stops (it waits out the grace for the stuck step) is
    // left for another instance.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = start(&db.store, &workflow, json!(["quick"])).await;
    task.await.expect("the engine stops");
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "stopping took the grace, not a lease: {took:?}"
    );

    let steps = db.store.run_steps(id).await.unwrap();
    let quick = steps.iter().find(|s| s.name == "quick").unwrap();
    assert_eq!(quick.state, RunState::Succeeded, "{quick:?}");
    assert_eq!(
        quick.output,
        Some(json!("finished within the grace")),
        "{quick:?}"
    );
    let stuck = steps.iter().find(|s| s.name == "stuck").unwrap();
    assert_eq!(stuck.state, RunState::Pending, "given back: {stuck:?}");
    assert_eq!(stuck.lease_owner, None, "{stuck:?}");
    let late_steps = db.store.run_steps(late).await.unwrap();
    assert_eq!(
        (late_steps[0].state, late_steps[0].attempt),
        (RunState::Pending, 0),
        "nothing claimed after the stop: {late_steps:?}"
    );

    // Another instance takes the step over at once, not when a 30 s lease would have run out.
    let successor = Instant::now();
    let next = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "next");
    let run = wait_until_final(&db.store, id).await;
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    assert!(
        successor.elapsed() < Duration::from_secs(10),
        "taken over at once: {:?}",
        successor.elapsed()
    );
    let stuck = db
        .store
        .run_steps(id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == "stuck")
        .unwrap();
    assert_eq!(stuck.output, Some(json!("taken over")));
    assert_eq!(stuck.attempt, 2);
    assert_eq!(
        wait_until_final(&db.store, late).await.state,
        RunState::Succeeded
    );
    next.stop().await;
    db.finish().await;
}
