//! A test-only engine process for the crash and scale-out tests (`tests/engine_chaos.rs`).
//!
//! `engine-chaos-worker work URL INSTANCE` runs an engine until it is killed;
//! `engine-chaos-worker drain URL INSTANCE` runs one until no run is left unfinished, then exits.
//! It must never be shipped or started outside the tests.

mod workflow;

use std::sync::Arc;
use std::time::Duration;

use wapdr::engine::{Engine, EngineSettings, Registry};
use workflow::{Chaos, Effects, Single};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, url, instance] = &args[..] else {
        eprintln!("usage: engine-chaos-worker work|drain URL INSTANCE");
        std::process::exit(2);
    };
    let store = wapdr::store::open(url, 8).await.expect("open the store");
    let effects = Effects::connect(url).await;
    let chaos = |work_ms| Chaos {
        effects: effects.clone(),
        instance: instance.clone(),
        work: Duration::from_millis(work_ms),
    };
    let registry = Registry::new().with(chaos(150)).with(Single(chaos(0)));
    let settings = EngineSettings {
        concurrency: 8,
        lease: Duration::from_millis(1200),
        poll_interval: Duration::from_millis(20),
        shutdown_grace: Duration::from_millis(500),
    };
    let engine = Engine::new(store, Arc::new(registry), instance.as_str()).with_settings(settings);
    match mode.as_str() {
        "work" => engine.run(std::future::pending()).await,
        "drain" => {
            let unfinished = effects.clone();
            engine
                .run(async move {
                    loop {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let left = unfinished
                            .count(
                                "SELECT COUNT(*) FROM workflow_runs \
                                 WHERE state NOT IN ('Succeeded', 'Failed', 'Cancelled')",
                                &[],
                            )
                            .await;
                        if left == 0 {
                            return;
                        }
                    }
                })
                .await;
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
