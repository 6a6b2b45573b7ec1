//! Engine test support: a fresh store per backend, engines with short leases, a clock a test can
//! freeze (a worker that stops heartbeating), and waiting for a run to reach a state.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;
use wapdr::clock::{Clock, SharedClock};
use wapdr::engine::{Engine, EngineSettings, Registry};
use wapdr::store::{self, RunRecord, RunState, SharedStore};

/// A store on a fresh database, and its URL.
pub struct TestStore {
    /// The store.
    pub store: SharedStore,
    /// The database URL (for more instances or raw SQL).
    pub url: String,
    db: Option<super::TestDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    /// A fresh SQLite file or PostgreSQL database; `None` when PostgreSQL is not configured.
    pub async fn fresh(backend: super::app::Backend) -> Option<Self> {
        let (url, db, dir) = match backend {
            super::app::Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                (super::sqlite_url(dir.path()), None, Some(dir))
            }
            super::app::Backend::Postgres => {
                let db = super::fresh_postgres_database().await?;
                (db.url.clone(), Some(db), None)
            }
        };
        let store = store::open(&url, 8).await.expect("open the store");
        Some(Self {
            store,
            url,
            db,
            _dir: dir,
        })
    }

    /// Drops the PostgreSQL database (call at the end).
    pub async fn finish(self) {
        drop(self.store);
        if let Some(db) = self.db {
            db.drop_database().await;
        }
    }

    /// Runs raw SQL on the test database (to simulate what no API does, like a lease running out).
    pub async fn execute(&self, sql: &str) {
        super::execute_sql(&self.url, sql).await;
    }
}

/// Settings that make tests quick: short leases, fast polls.
pub fn quick_settings() -> EngineSettings {
    EngineSettings {
        concurrency: 4,
        lease: Duration::from_secs(2),
        poll_interval: Duration::from_millis(20),
        shutdown_grace: Duration::from_millis(500),
    }
}

/// An engine running in the background until [`RunningEngine::stop`].
pub struct RunningEngine {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningEngine {
    /// Starts an engine named `instance` on `store`.
    pub fn start(store: &SharedStore, registry: Registry, instance: &str) -> Self {
        Self::start_with(
            Engine::new(store.clone(), Arc::new(registry), instance)
                .with_settings(quick_settings()),
        )
    }

    /// Starts a configured engine.
    pub fn start_with(engine: Engine) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(engine.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Self { stop, task }
    }

    /// Stops the engine gracefully and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("engine task");
    }
}

/// Polls until the run satisfies `done`, panicking with the last state after `timeout`.
pub async fn wait_for_run(
    store: &SharedStore,
    id: Uuid,
    timeout: Duration,
    done: impl Fn(&RunRecord) -> bool,
) -> RunRecord {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let run = store
            .get_run(id)
            .await
            .expect("get run")
            .expect("run exists");
        if done(&run) {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {id} did not get there in {timeout:?}: {run:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until the run has ended.
pub async fn wait_until_final(store: &SharedStore, id: Uuid) -> RunRecord {
    wait_for_run(store, id, Duration::from_secs(20), |r| r.state.is_final()).await
}

/// Whether a state is one of those named.
pub fn is(state: RunState, states: &[RunState]) -> bool {
    states.contains(&state)
}

/// A clock whose sleeps do not end while it is frozen: the worker using it stops (heartbeats
/// included), as a hung process would.
#[derive(Clone)]
pub struct FreezableClock {
    frozen: Arc<watch::Sender<bool>>,
}

impl FreezableClock {
    /// A running clock.
    pub fn new() -> Self {
        Self {
            frozen: Arc::new(watch::channel(false).0),
        }
    }

    /// Freezes or thaws it.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }

    /// As a shared clock.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

#[async_trait]
impl Clock for FreezableClock {
    fn now(&self) -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
        let mut frozen = self.frozen.subscribe();
        let _ = frozen.wait_for(|f| !*f).await;
    }
}

/// Runs each named `async fn(Backend)` as one multi-threaded test per backend.
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::app::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::app::Backend::Postgres).await
                }
            )*
        }
    };
}
