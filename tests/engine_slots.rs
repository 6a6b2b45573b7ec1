//! Engine slots, on SQLite and PostgreSQL: steps that use a shared resource (the replication
//! engine) take one of its places from their first claim until they finish, so however many runs
//! and instances there are, no more than the slot's limit are ever under way at once — a step
//! waiting between retries keeps its place — while steps outside the slot are never held up.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::engine::{
    Registry, StartRequest, StepContext, StepOutcome, StepSpec, Workflow, start_run,
};
use wapdr::store::{RunState, SharedStore};

use common::app::Backend;
use common::engine::{RunningEngine, TestStore, wait_until_final};

on_both_backends!(
    a_slot_never_has_more_steps_under_way_than_its_limit_across_runs_and_instances,
    steps_outside_a_full_slot_are_not_held_up,
);

/// A step's name, what it did (`began`, `ended`) and when.
type Event = (String, &'static str, Instant);

/// When each step began its first attempt and ended its last, by step name.
#[derive(Clone, Default)]
struct Timeline {
    spans: Arc<Mutex<Vec<Event>>>,
}

impl Timeline {
    fn note(&self, step: &str, event: &'static str) {
        self.spans
            .lock()
            .unwrap()
            .push((step.to_owned(), event, Instant::now()));
    }

    /// The most steps that were between their first `began` and their `ended` at one time.
    fn peak_under_way(&self) -> usize {
        let spans = self.spans.lock().unwrap().clone();
        let mut points: Vec<(Instant, i32)> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (step, event, at) in &spans {
            match *event {
                "began" if seen.insert(step.clone()) => points.push((*at, 1)),
                "ended" => points.push((*at, -1)),
                _ => {}
            }
        }
        // Ends before begins at the same instant: a place freed is a place taken next.
        points.sort_by_key(|(at, delta)| (*at, *delta));
        let (mut now, mut peak) = (0_i32, 0_i32);
        for (_, delta) in points {
            now += delta;
            peak = peak.max(now);
        }
        usize::try_from(peak).unwrap_or(0)
    }
}

/// A workflow of one stage of `count` steps: `slotted` ones in slot "fabric" of `limit` places
/// that take `millis` and, when `retry_first`, ask to be retried once first; plain ones are quick.
#[derive(Clone, Default)]
struct UsesFabric {
    timeline: Timeline,
}

#[async_trait]
impl Workflow for UsesFabric {
    fn name(&self) -> &'static str {
        "uses_fabric"
    }

    fn first_stages(&self, params: &Value) -> Vec<Vec<StepSpec>> {
        let count = params["count"].as_u64().unwrap_or(0);
        let prefix = params["prefix"].as_str().unwrap_or("s");
        let limit = params["limit"].as_u64().and_then(|l| u32::try_from(l).ok());
        vec![
            (0..count)
                .map(|i| {
                    let step = StepSpec::new(format!("{prefix}-{i}"), "work")
                        .with_input(params.clone())
                        .at_least_once();
                    match limit {
                        Some(limit) => step.in_slot("fabric", limit),
                        None => step,
                    }
                })
                .collect(),
        ]
    }

    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        self.timeline.note(&step.name, "began");
        let millis = step.input["millis"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(millis)).await;
        if step.input["retry_first"] == true && ctx.attempt == 1 {
            return StepOutcome::RetryLater {
                reason: "the fabric is busy".into(),
                after: Some(Duration::from_millis(100)),
            };
        }
        self.timeline.note(&step.name, "ended");
        StepOutcome::Done(json!(step.name))
    }
}

async fn start(store: &SharedStore, workflow: &UsesFabric, params: Value) -> Uuid {
    let request = StartRequest {
        workflow: "uses_fabric".into(),
        params,
        trigger: "test".into(),
        started_by: "tester".into(),
        reason: None,
        dedupe_key: None,
    };
    start_run(store, &Registry::new().with(workflow.clone()), request)
        .await
        .expect("starts")
        .id
}

async fn a_slot_never_has_more_steps_under_way_than_its_limit_across_runs_and_instances(
    backend: Backend,
) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = UsesFabric::default();
    let mut runs = Vec::new();
    for (prefix, retry_first) in [("a", false), ("b", true)] {
        let params = json!({
            "count": 6, "prefix": prefix, "limit": 3, "millis": 80, "retry_first": retry_first,
        });
        runs.push(start(&db.store, &workflow, params).await);
    }
    // Two instances with eight places each: only the slot can hold them to three.
    let engines = [
        RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1"),
        RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w2"),
    ];
    for run in &runs {
        let run = wait_until_final(&db.store, *run).await;
        assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    }
    for engine in engines {
        engine.stop().await;
    }
    assert_eq!(
        workflow.timeline.peak_under_way(),
        3,
        "twelve steps of a three-place slot ran three at a time, never more"
    );
    let steps = db.store.run_steps(runs[1]).await.expect("steps");
    assert!(
        steps
            .iter()
            .all(|s| s.slot.as_deref() == Some("fabric") && s.attempt == 2),
        "every step of the second run kept its place through a retry: {steps:?}"
    );
    db.finish().await;
}

async fn steps_outside_a_full_slot_are_not_held_up(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = UsesFabric::default();
    let busy = start(
        &db.store,
        &workflow,
        json!({ "count": 4, "prefix": "slow", "limit": 1, "millis": 400 }),
    )
    .await;
    let quick = start(
        &db.store,
        &workflow,
        json!({ "count": 3, "prefix": "quick", "millis": 0 }),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    let quick = wait_until_final(&db.store, quick).await;
    let busy_now = db.store.get_run(busy).await.expect("store").expect("run");
    assert_eq!(quick.state, RunState::Succeeded);
    assert!(
        !busy_now.state.is_final(),
        "the quick run finished while the one-place slot was still working through its queue"
    );
    let busy = wait_until_final(&db.store, busy).await;
    engine.stop().await;
    assert_eq!(busy.state, RunState::Succeeded);
    db.finish().await;
}
