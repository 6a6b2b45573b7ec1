//! The engine's behaviour, on SQLite and PostgreSQL: stages and parallel steps, appended stages,
//! retries, permanent failure, cancel, waits for an operator or a time, stable idempotency keys,
//! and lease takeover from a worker that stopped heartbeating.
//!
//! The workflow under test is scripted by its parameters; each step records what it did.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::engine::{
    Engine, EngineError, EngineSettings, Registry, RetryPolicy, StartRequest, StepContext,
    StepOutcome, StepSpec, StopReason, Workflow, start_run,
};
use wapdr::store::{
    AckOutcome, CancelOutcome, Lease, RunPriority, RunState, SharedStore, StepRecorded, StepResult,
};

use common::app::Backend;
use common::engine::{
    FreezableClock, RunningEngine, TestStore, quick_settings, wait_for_run, wait_until_final,
};

/// What one attempt at a step did.
#[derive(Debug, Clone)]
struct Effect {
    step: String,
    attempt: i64,
    key: String,
    event: &'static str,
    at: Instant,
}

/// A workflow whose stages come from `params.stages` (`[[{"name", "kind", "input"}]]`).
#[derive(Clone, Default)]
struct Scripted {
    effects: Arc<Mutex<Vec<Effect>>>,
}

impl Scripted {
    fn note(&self, ctx: &StepContext, step: &StepSpec, event: &'static str) {
        self.effects.lock().unwrap().push(Effect {
            step: step.name.clone(),
            attempt: ctx.attempt,
            key: ctx.idempotency_key(),
            event,
            at: Instant::now(),
        });
    }

    fn effects(&self) -> Vec<Effect> {
        self.effects.lock().unwrap().clone()
    }

    /// Waits until `step` noted `event`.
    async fn until_noted(&self, step: &str, event: &str) {
        while self.of(step, event).is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn of(&self, step: &str, event: &str) -> Vec<Effect> {
        self.effects()
            .into_iter()
            .filter(|e| e.step == step && e.event == event)
            .collect()
    }
}

fn specs(stages: &Value) -> Vec<Vec<StepSpec>> {
    stages
        .as_array()
        .into_iter()
        .flatten()
        .map(|stage| {
            stage
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    StepSpec::new(s["name"].as_str().unwrap(), s["kind"].as_str().unwrap())
                        .with_input(s.get("input").cloned().unwrap_or(Value::Null))
                })
                .collect()
        })
        .collect()
}

#[async_trait]
impl Workflow for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        params
            .get("stages")
            .and_then(Value::as_array)
            .map(|_| ())
            .ok_or_else(|| "stages must be a list of stages".into())
    }

    fn first_stages(&self, params: &Value) -> Vec<Vec<StepSpec>> {
        specs(&params["stages"])
    }

    fn retry_policy(&self, _kind: &str) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            jitter: 0.1,
        }
    }

    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        self.note(ctx, step, "began");
        let outcome = match step.kind.as_str() {
            "slow" => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                StepOutcome::Done(json!({ "step": step.name }))
            }
            "fanout" => StepOutcome::DoneThen {
                output: json!("fanned out"),
                next: specs(&step.input),
            },
            "flaky" => {
                let failures = step.input["failures"].as_i64().unwrap();
                if ctx.attempt <= failures {
                    StepOutcome::RetryLater {
                        reason: format!("flaked on attempt {}", ctx.attempt),
                        after: None,
                    }
                } else {
                    StepOutcome::Done(json!(ctx.attempt))
                }
            }
            "fail" => StepOutcome::Fail("the fabric refused: no such cloud".into()),
            "ack" => StepOutcome::WaitForAck {
                prompt: "Confirm the primary site is shut down".into(),
            },
            "wait" => {
                let now = ctx.store.database_now().await.unwrap();
                StepOutcome::WaitUntil(now + Duration::from_millis(400))
            }
            "block" => {
                if ctx.attempt > step.input["block_attempts"].as_i64().unwrap_or(i64::MAX) {
                    StepOutcome::Done(json!("took over"))
                } else {
                    let reason = ctx.stopped().await;
                    self.note(
                        ctx,
                        step,
                        if reason == StopReason::Cancelled {
                            "saw cancel"
                        } else {
                            "stopped"
                        },
                    );
                    StepOutcome::Done(json!("should be dropped"))
                }
            }
            _ => StepOutcome::Done(json!({ "step": step.name })),
        };
        self.note(ctx, step, "ended");
        outcome
    }
}

/// Starts a run of one step, `long`, that blocks until told to stop on its first attempt and
/// ends with "took over" on the next.
async fn start_long_step(store: &SharedStore, workflow: &Scripted) -> Uuid {
    start(
        store,
        workflow,
        json!([[{ "name": "long", "kind": "block", "input": { "block_attempts": 1 } }]]),
    )
    .await
}

fn step(name: &str, kind: &str) -> Value {
    json!({ "name": name, "kind": kind })
}

async fn start(store: &SharedStore, workflow: &Scripted, stages: Value) -> Uuid {
    let registry = Registry::new().with(workflow.clone());
    let request = StartRequest {
        workflow: "scripted".into(),
        params: json!({ "stages": stages }),
        trigger: "test".into(),
        started_by: "tester".into(),
        reason: None,
        dedupe_key: None,
    };
    start_run(store, &registry, request)
        .await
        .expect("starts")
        .id
}

async fn stages_run_in_order_and_steps_of_a_stage_in_parallel(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start(
        &db.store,
        &workflow,
        json!([
            [step("a", "slow"), step("b", "slow")],
            [step("c", "record")]
        ]),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    let run = wait_until_final(&db.store, id).await;
    engine.stop().await;
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    let (a, b) = (&workflow.of("a", "began")[0], &workflow.of("b", "began")[0]);
    let (a_end, b_end) = (&workflow.of("a", "ended")[0], &workflow.of("b", "ended")[0]);
    assert!(a.at < b_end.at && b.at < a_end.at, "a and b overlapped");
    let c = &workflow.of("c", "began")[0];
    assert!(
        c.at >= a_end.at && c.at >= b_end.at,
        "c waited for its stage"
    );
    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.stage).collect::<Vec<_>>(), [1, 1, 2]);
    assert!(
        steps
            .iter()
            .all(|s| s.started_at.is_some() && s.finished_at.is_some())
    );
    db.finish().await;
}

async fn a_step_can_append_stages_that_run_before_later_planned_ones(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let discovered = json!([
        [step("vm-1", "record"), step("vm-2", "record")],
        [step("check", "record")]
    ]);
    let id = start(
        &db.store,
        &workflow,
        json!([[{ "name": "discover", "kind": "fanout", "input": discovered }], [step("report", "record")]]),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    let run = wait_until_final(&db.store, id).await;
    engine.stop().await;
    assert_eq!(run.state, RunState::Succeeded);
    let order: Vec<(String, i64)> = db
        .store
        .run_steps(id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.stage))
        .collect();
    let expected = [
        ("discover", 1),
        ("vm-1", 2),
        ("vm-2", 2),
        ("check", 3),
        ("report", 4),
    ];
    assert_eq!(order, expected.map(|(n, s)| (n.to_owned(), s)));
    let report = &workflow.of("report", "began")[0];
    assert!(workflow.of("check", "ended")[0].at <= report.at);
    db.finish().await;
}

async fn transient_failures_retry_with_backoff_under_one_idempotency_key(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start(
        &db.store,
        &workflow,
        json!([[{ "name": "flaky", "kind": "flaky", "input": { "failures": 2 } }]]),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    let run = wait_until_final(&db.store, id).await;
    engine.stop().await;
    assert_eq!(run.state, RunState::Succeeded);
    let began = workflow.of("flaky", "began");
    assert_eq!(
        began.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        began.iter().all(|e| e.key == began[0].key),
        "one key: {began:?}"
    );
    assert_eq!(began[0].key, format!("{id}:1"));
    assert!(
        began[1].at - began[0].at >= Duration::from_millis(40),
        "backed off"
    );
    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!((steps[0].attempt, steps[0].retries), (3, 2));
    db.finish().await;
}

async fn a_permanent_failure_or_spent_retries_end_the_run_with_the_error(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let failing = start(
        &db.store,
        &workflow,
        json!([[step("fail", "fail")], [step("never", "record")]]),
    )
    .await;
    let hopeless = start(
        &db.store,
        &workflow,
        json!([[{ "name": "hopeless", "kind": "flaky", "input": { "failures": 99 } }]]),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    let failed = wait_until_final(&db.store, failing).await;
    let spent = wait_until_final(&db.store, hopeless).await;
    engine.stop().await;
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("step 'fail' failed: the fabric refused: no such cloud")
    );
    assert!(workflow.of("never", "began").is_empty());
    let steps = db.store.run_steps(failing).await.unwrap();
    assert_eq!(steps[1].state, RunState::Cancelled);
    assert_eq!(spent.state, RunState::Failed);
    assert!(
        spent
            .error
            .as_deref()
            .unwrap()
            .contains("gave up after 3 attempts: flaked on attempt 3"),
        "{spent:?}"
    );
    db.finish().await;
}

async fn cancelling_a_run_signals_its_running_step_and_runs_nothing_more(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start(
        &db.store,
        &workflow,
        json!([[step("block", "block")], [step("after", "record")]]),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    wait_for_run(&db.store, id, Duration::from_secs(5), |r| {
        r.state == RunState::Running
    })
    .await;
    workflow.until_noted("block", "began").await;
    assert_eq!(
        db.store.cancel_run(id, "operator").await.unwrap(),
        CancelOutcome::Cancelled
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while workflow.of("block", "saw cancel").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the step never saw the cancellation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    engine.stop().await;
    let run = db.store.get_run(id).await.unwrap().unwrap();
    assert_eq!(run.state, RunState::Cancelled);
    assert_eq!(run.error.as_deref(), Some("cancelled by operator"));
    let steps = db.store.run_steps(id).await.unwrap();
    assert!(
        steps.iter().all(|s| s.state == RunState::Cancelled),
        "{steps:?}"
    );
    assert!(workflow.of("after", "began").is_empty());
    assert_eq!(
        db.store.cancel_run(id, "operator").await.unwrap(),
        CancelOutcome::AlreadyFinal(RunState::Cancelled)
    );
    db.finish().await;
}

async fn a_step_waiting_for_an_operator_completes_when_acknowledged(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start(
        &db.store,
        &workflow,
        json!([[step("confirm", "ack")], [step("after", "record")]]),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    wait_for_run(&db.store, id, Duration::from_secs(5), |r| {
        r.state == RunState::Waiting
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        workflow.of("after", "began").is_empty(),
        "nothing runs while waiting"
    );
    assert_eq!(
        db.store
            .acknowledge_step(id, 2, "alice", None)
            .await
            .unwrap(),
        AckOutcome::NotWaiting(RunState::Pending)
    );
    assert_eq!(
        db.store
            .acknowledge_step(id, 1, "alice", Some("site A is off"))
            .await
            .unwrap(),
        AckOutcome::Acknowledged { run_ended: false }
    );
    let run = wait_until_final(&db.store, id).await;
    engine.stop().await;
    assert_eq!(run.state, RunState::Succeeded);
    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!(steps[0].acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(steps[0].ack_comment.as_deref(), Some("site A is off"));
    assert_eq!(
        steps[0].ack_prompt.as_deref(),
        Some("Confirm the primary site is shut down")
    );
    assert!(steps[0].acknowledged_at.is_some());
    assert_eq!(
        workflow.of("confirm", "began").len(),
        1,
        "acknowledged, not re-run"
    );
    db.finish().await;
}

async fn a_step_waiting_for_a_time_completes_at_that_database_time(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start(
        &db.store,
        &workflow,
        json!([[step("pause", "wait")], [step("after", "record")]]),
    )
    .await;
    let engine = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "w1");
    let run = wait_until_final(&db.store, id).await;
    engine.stop().await;
    assert_eq!(run.state, RunState::Succeeded);
    let steps = db.store.run_steps(id).await.unwrap();
    let waited = steps[0].finished_at.unwrap() - steps[0].started_at.unwrap();
    assert!(waited >= Duration::from_millis(400), "waited {waited}");
    assert_eq!(
        workflow.of("pause", "began").len(),
        1,
        "the wait completes without re-running"
    );
    db.finish().await;
}

/// `wapdr_lease_takeovers_total` as `/metrics` reports it.
async fn lease_takeovers(store: &SharedStore) -> f64 {
    let text = wapdr::metrics::render(store).await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("wapdr_lease_takeovers_total "))
        .map_or(0.0, |value| value.parse().unwrap())
}

async fn a_worker_that_stops_heartbeating_loses_its_step_and_its_late_result(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start_long_step(&db.store, &workflow).await;
    let hung_clock = FreezableClock::new();
    let hung = RunningEngine::start_with(
        Engine::new(
            db.store.clone(),
            Arc::new(Registry::new().with(workflow.clone())),
            "hung",
        )
        .with_settings(quick_settings())
        .with_clock(hung_clock.shared()),
    );
    workflow.until_noted("long", "began").await;
    hung_clock.set_frozen(true);
    let takeovers_before = lease_takeovers(&db.store).await;
    let rescuer =
        RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "rescuer");
    let run = wait_until_final(&db.store, id).await;
    assert_eq!(run.state, RunState::Succeeded);
    assert!(
        lease_takeovers(&db.store).await > takeovers_before,
        "the takeover shows in /metrics"
    );
    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!(steps[0].attempt, 2);
    assert_eq!(steps[0].output, Some(json!("took over")));
    let stale = Lease {
        run_id: id,
        step_id: 1,
        owner: "hung".into(),
        attempt: 1,
    };
    let late = StepResult::Succeeded {
        output: json!("late"),
        append: vec![],
    };
    assert_eq!(
        db.store.finish_step(&stale, &late).await.unwrap(),
        StepRecorded::Dropped,
        "stale write refused"
    );
    hung_clock.set_frozen(false);
    let deadline = Instant::now() + Duration::from_secs(5);
    while workflow.of("long", "stopped").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the hung worker never learned it lost the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hung.stop().await;
    rescuer.stop().await;
    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!(
        steps[0].output,
        Some(json!("took over")),
        "the late result was dropped"
    );
    db.finish().await;
}

async fn an_unknown_workflow_or_bad_parameters_are_refused_and_a_dedupe_key_creates_one_run(
    backend: Backend,
) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let registry = Registry::new().with(Scripted::default());
    let request = |workflow: &str, params: Value, key: Option<&str>| StartRequest {
        workflow: workflow.into(),
        params,
        trigger: "test".into(),
        started_by: "tester".into(),
        reason: None,
        dedupe_key: key.map(str::to_owned),
    };
    let err = start_run(
        &db.store,
        &registry,
        request("protect_new_vms", json!({}), None),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, EngineError::UnknownWorkflow(_)));
    assert_eq!(
        err.to_string(),
        "workflow 'protect_new_vms' is not available in this version"
    );
    let err = start_run(&db.store, &registry, request("scripted", json!({}), None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stages must be a list"), "{err}");
    let stages = json!({ "stages": [[step("a", "record")]] });
    let first = start_run(
        &db.store,
        &registry,
        request("scripted", stages.clone(), Some("k")),
    )
    .await
    .unwrap();
    let second = start_run(&db.store, &registry, request("scripted", stages, Some("k")))
        .await
        .unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
    assert_eq!(
        db.store.list_runs(&Default::default()).await.unwrap().len(),
        1
    );
    db.finish().await;
}

/// A workflow of another version of wapdr: the "older" instance knows only this one.
struct OlderVersionsOnly;

#[async_trait]
impl Workflow for OlderVersionsOnly {
    fn name(&self) -> &'static str {
        "older_workflow"
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![StepSpec::new("only", "record")]]
    }

    async fn run_step(&self, _ctx: &StepContext, _step: &StepSpec) -> StepOutcome {
        StepOutcome::Done(Value::Null)
    }
}

async fn an_instance_leaves_runs_of_workflows_it_does_not_know_to_instances_that_do(
    backend: Backend,
) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start(&db.store, &workflow, json!([[step("a", "record")]])).await;

    // During a rolling upgrade, an older instance must neither run nor fail the newer run.
    let older = RunningEngine::start(&db.store, Registry::new().with(OlderVersionsOnly), "old");
    tokio::time::sleep(Duration::from_millis(600)).await;
    older.stop().await;
    let untouched = db.store.get_run(id).await.unwrap().unwrap();
    assert_eq!(untouched.state, RunState::Pending, "{untouched:?}");
    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!(steps[0].attempt, 0, "never claimed by the older instance");

    let newer = RunningEngine::start(&db.store, Registry::new().with(workflow.clone()), "new");
    let run = wait_until_final(&db.store, id).await;
    newer.stop().await;
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(workflow.of("a", "began").len(), 1);
    db.finish().await;
}

/// Holds the store's write access away from the engine while alive: on SQLite the database's
/// write lock, on PostgreSQL the row locks of `run_id`'s steps (that run's heartbeats block).
enum WriteBlocker {
    Sqlite(#[allow(dead_code)] sqlx::SqliteConnection),
    Postgres(#[allow(dead_code)] sqlx::PgConnection),
}

async fn block_writes(db: &TestStore, backend: Backend, run_id: Uuid) -> WriteBlocker {
    use sqlx::Connection as _;
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            WriteBlocker::Sqlite(conn)
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(&format!(
                "BEGIN; SELECT 1 FROM workflow_steps WHERE run_id = '{run_id}' FOR UPDATE"
            ))
            .execute(&mut conn)
            .await
            .unwrap();
            WriteBlocker::Postgres(conn)
        }
    }
}

async fn a_worker_that_cannot_renew_its_lease_gives_the_step_up(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let id = start_long_step(&db.store, &workflow).await;
    let settings = quick_settings();
    let engine = RunningEngine::start_with(
        Engine::new(
            db.store.clone(),
            Arc::new(Registry::new().with(workflow.clone())),
            "w1",
        )
        .with_settings(settings),
    );
    workflow.until_noted("long", "began").await;
    // Heartbeats now fail (SQLite: busy) or hang (PostgreSQL: the row is locked).
    let blocker = block_writes(&db, backend, id).await;
    let deadline = Instant::now() + settings.lease * 4;
    while workflow.of("long", "stopped").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the step ran on, unfenced, while its lease could not be renewed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(blocker);
    // Given up, the step runs again once its lease has run out, and the run ends.
    let run = wait_until_final(&db.store, id).await;
    engine.stop().await;
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    let steps = db.store.run_steps(id).await.unwrap();
    assert_eq!(steps[0].attempt, 2);
    assert_eq!(steps[0].output, Some(json!("took over")));
    db.finish().await;
}

/// The same steps as [`Scripted`], as a recovery workflow (a failover's priority).
#[derive(Clone)]
struct Urgent(Scripted);

#[async_trait]
impl Workflow for Urgent {
    fn name(&self) -> &'static str {
        "urgent"
    }

    fn priority(&self) -> RunPriority {
        RunPriority::Recovery
    }

    fn first_stages(&self, params: &Value) -> Vec<Vec<StepSpec>> {
        self.0.first_stages(params)
    }

    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        self.0.run_step(ctx, step).await
    }
}

async fn an_urgent_run_is_served_before_older_bulk_work(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let workflow = Scripted::default();
    let urgent = Urgent(workflow.clone());
    // An onboarding's backlog, then a failover started after it.
    let backlog = start(
        &db.store,
        &workflow,
        json!([(1..=6)
            .map(|i| step(&format!("bulk {i}"), "record"))
            .collect::<Vec<_>>()]),
    )
    .await;
    let registry = Registry::new().with(workflow.clone()).with(urgent.clone());
    let failover = start_run(
        &db.store,
        &registry,
        StartRequest {
            workflow: "urgent".into(),
            params: json!({ "stages": [[step("fail over", "record")]] }),
            trigger: "test".into(),
            started_by: "tester".into(),
            reason: None,
            dedupe_key: None,
        },
    )
    .await
    .unwrap()
    .id;
    // One worker place: whatever it takes first waits for nothing else.
    let engine = RunningEngine::start_with(
        Engine::new(db.store.clone(), Arc::new(registry), "w1").with_settings(EngineSettings {
            concurrency: 1,
            ..quick_settings()
        }),
    );
    wait_until_final(&db.store, failover).await;
    wait_until_final(&db.store, backlog).await;
    engine.stop().await;
    let order: Vec<String> = workflow
        .effects()
        .into_iter()
        .filter(|e| e.event == "began")
        .map(|e| e.step)
        .collect();
    assert_eq!(order.len(), 7, "{order:?}");
    assert_eq!(
        order[0], "fail over",
        "the failover waited behind the backlog: {order:?}"
    );
    db.finish().await;
}

engine_tests!(
    an_instance_leaves_runs_of_workflows_it_does_not_know_to_instances_that_do,
    stages_run_in_order_and_steps_of_a_stage_in_parallel,
    a_step_can_append_stages_that_run_before_later_planned_ones,
    transient_failures_retry_with_backoff_under_one_idempotency_key,
    a_permanent_failure_or_spent_retries_end_the_run_with_the_error,
    cancelling_a_run_signals_its_running_step_and_runs_nothing_more,
    a_step_waiting_for_an_operator_completes_when_acknowledged,
    a_step_waiting_for_a_time_completes_at_that_database_time,
    a_worker_that_stops_heartbeating_loses_its_step_and_its_late_result,
    a_worker_that_cannot_renew_its_lease_gives_the_step_up,
    an_urgent_run_is_served_before_older_bulk_work,
    an_unknown_workflow_or_bad_parameters_are_refused_and_a_dedupe_key_creates_one_run,
);
