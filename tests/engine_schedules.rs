//! Runbook schedules across instances, on SQLite and PostgreSQL: three instances evaluating the
//! same tick create exactly one job; after downtime only the latest missed tick runs; a disabled
//! runbook or one whose workflow is missing lets its tick pass without a job.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use wapdr::engine::runbooks::tick_key;
use wapdr::engine::{
    Registry, RunbookDefinition, Runbooks, StepContext, StepOutcome, StepSpec, Workflow,
};
use wapdr::store::{self, RunFilter};

use common::app::Backend;
use common::engine::TestStore;

struct Tick;

#[async_trait]
impl Workflow for Tick {
    fn name(&self) -> &'static str {
        "tick"
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![StepSpec::new("tick", "tick")]]
    }

    async fn run_step(&self, _ctx: &StepContext, _step: &StepSpec) -> StepOutcome {
        StepOutcome::Done(Value::Null)
    }
}

fn runbook(name: &str, workflow: &str, enabled: bool) -> RunbookDefinition {
    RunbookDefinition {
        name: name.into(),
        description: "test".into(),
        workflow: workflow.into(),
        enabled,
        schedule: Some("* * * * *".into()),
        events: vec![],
        parameters: json!({ "from": "file" }),
    }
}

/// Three instances, each with its own pool on the same database.
async fn three_instances(db: &TestStore) -> Vec<Runbooks> {
    let mut instances = Vec::new();
    for _ in 0..3 {
        let store = store::open(&db.url, 4).await.expect("open");
        let definitions = vec![
            runbook("every-minute", "tick", true),
            runbook("switched-off", "tick", false),
            runbook("from-the-future", "not_built_yet", true),
        ];
        let registry = Arc::new(Registry::new().with(Tick));
        instances.push(
            Runbooks::install(store, registry, definitions)
                .await
                .expect("install"),
        );
    }
    instances
}

async fn three_instances_make_exactly_one_job_per_tick(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let instances = three_instances(&db).await;
    let now = db.store.database_now().await.unwrap() + Duration::from_secs(150);
    let (a, b, c) = tokio::join!(
        instances[0].run_due_schedules(now),
        instances[1].run_due_schedules(now),
        instances[2].run_due_schedules(now),
    );
    let created: Vec<_> = [a.unwrap(), b.unwrap(), c.unwrap()].concat();
    assert_eq!(created.len(), 1, "one job for the tick: {created:?}");
    let runs = db.store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    let tick = wapdr::engine::Schedule::parse("* * * * *")
        .unwrap()
        .latest_tick(now)
        .unwrap();
    assert_eq!(
        runs[0].dedupe_key.as_deref(),
        Some(tick_key("every-minute", tick).as_str())
    );
    assert_eq!(
        (runs[0].trigger.as_str(), &runs[0].params),
        ("schedule", &json!({ "from": "file" }))
    );
    for instance in &instances {
        assert!(
            instance.run_due_schedules(now).await.unwrap().is_empty(),
            "the tick is spent"
        );
    }
    let views = instances[0].list().await.unwrap();
    assert!(
        views.iter().all(|v| v.last_tick == Some(tick)),
        "every tick passed: {views:?}"
    );
    db.finish().await;
}

async fn after_downtime_only_the_latest_missed_tick_runs(backend: Backend) {
    let Some(db) = TestStore::fresh(backend).await else {
        return;
    };
    let instances = three_instances(&db).await;
    let a_day_later = db.store.database_now().await.unwrap() + Duration::from_secs(86_400);
    let created = instances[1].run_due_schedules(a_day_later).await.unwrap();
    assert_eq!(created.len(), 1, "not 1,440 jobs");
    let next_minute = a_day_later + Duration::from_secs(60);
    assert_eq!(
        instances[2]
            .run_due_schedules(next_minute)
            .await
            .unwrap()
            .len(),
        1
    );
    db.finish().await;
}

engine_tests!(
    three_instances_make_exactly_one_job_per_tick,
    after_downtime_only_the_latest_missed_tick_runs,
);
