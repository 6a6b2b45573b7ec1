//! The benchmark harness runs from one command and prints every figure with its bound or
//! baseline: `wapdr bench ... --quick --json` at tiny sizes. Only that it runs and what it
//! prints is checked, never how fast anything was: performance is BENCHMARKS.md's business.

mod common;

use std::process::Command;

use serde_json::Value;

/// Runs `wapdr bench <args> --quick --json` and returns its figures (panics, with the output,
/// unless it exits 0 and ends with the JSON document).
fn bench(args: &[&str]) -> Vec<Value> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wapdr"));
    command.arg("bench").args(args).args(["--quick", "--json"]);
    if let Ok(url) = std::env::var(common::POSTGRES_URL_VAR) {
        command.env("WAPDR_BENCH_POSTGRES_URL", url);
    }
    let output = command.output().expect("wapdr runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the last line is the JSON report ({e}):\n{stdout}"));
    assert!(report["machine"]["cores"].as_u64().is_some_and(|c| c >= 1));
    assert!(report["machine"]["cpu"].as_str().is_some());
    assert_eq!(report["quick"], true);
    let figures = report["figures"].as_array().expect("figures").clone();
    for figure in &figures {
        assert!(
            figure["value"]
                .as_f64()
                .is_some_and(|v| v.is_finite() && v >= 0.0),
            "{figure}"
        );
        assert!(
            figure["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("wapdr bench ")),
            "{figure}"
        );
        // A figure compared with something shows the ratio; a goal says met or not.
        if !figure["reference"].is_null() {
            assert!(figure["ratio"].as_f64().is_some(), "{figure}");
        }
        if !figure["goal"].is_null() {
            assert!(figure["goal"]["met"].is_boolean(), "{figure}");
        }
    }
    figures
}

/// The figures whose name contains every one of `words`.
fn named<'a>(figures: &'a [Value], words: &[&str]) -> Vec<&'a Value> {
    figures
        .iter()
        .filter(|f| {
            let name = f["name"].as_str().unwrap_or_default();
            words.iter().all(|w| name.contains(w))
        })
        .collect()
}

#[test]
fn the_api_benchmark_measures_each_endpoint_at_each_concurrency_against_the_ceiling() {
    let postgres = std::env::var(common::POSTGRES_URL_VAR).is_ok();
    let backend = if postgres { "both" } else { "sqlite" };
    let figures = bench(&["api", "--backend", backend]);
    let mut backends = vec!["sqlite"];
    if postgres {
        backends.push("postgres");
    }
    for backend in backends {
        for endpoint in [
            "GET tenant vms",
            "POST notification subscriptions (DR off)",
            "POST notification subscriptions (DR on)",
        ] {
            for concurrency in ["c=1 ", "c=16 ", "c=64 "] {
                let at = [backend, endpoint, concurrency];
                let throughput = named(&figures, &[&at[..], &["throughput"]].concat());
                assert_eq!(throughput.len(), 1, "{at:?}: {figures:?}");
                assert_eq!(
                    throughput[0]["reference"]["label"], "bare axum ceiling",
                    "{at:?}"
                );
                assert!(throughput[0]["value"].as_f64().unwrap() > 0.0, "{at:?}");
                assert_eq!(named(&figures, &[&at[..], &["p50"]].concat()).len(), 1);
                let p99 = named(&figures, &[&at[..], &["p99"]].concat());
                assert_eq!(p99.len(), 1, "{at:?}");
                // The p99 goal is held at 16 in flight.
                assert_eq!(!p99[0]["goal"].is_null(), concurrency == "c=16 ", "{at:?}");
            }
        }
    }
}

#[test]
fn protect_failover_and_enable_print_every_figure_with_its_bound_or_baseline() {
    let figures = bench(&["all", "--backend", "sqlite"]);
    for words in [
        &["with events", "p50"][..],
        &["with events", "p99"],
        &["runbook only", "p50"],
        &["runbook only", "p99"],
        &["recovery plan wall time"],
        &["site failover", "wall time"],
        &["peak ASR operations"],
        &["wapdr resident memory at the site failover's peak"],
        &["lab (its own process) resident memory at the site failover's peak"],
        &["wapdr resident memory idle"],
        &["lab resident memory (its own process)"],
        &["notified until all Provisioned"],
        &["wapdr CPU time until all Provisioned"],
        &["lab CPU time until all Provisioned"],
    ] {
        let found = named(&figures, words);
        assert_eq!(found.len(), 1, "{words:?}: {figures:?}");
        let goal_or_reference = !found[0]["reference"].is_null() || !found[0]["goal"].is_null();
        assert!(
            goal_or_reference || words.contains(&"p50"),
            "{words:?} has a bound or baseline"
        );
    }
    let cycles = named(&figures, &["protect-new-vms cycle"]);
    assert_eq!(cycles.len(), 3, "one cycle per stamp size: {cycles:?}");
    assert!(
        cycles[1..].iter().all(|c| !c["reference"].is_null()),
        "the larger stamps' cycles are compared with the first: {cycles:?}"
    );
    assert_eq!(
        figures.iter().filter(|f| f["benchmark"] == "api").count(),
        27,
        "api ran once, on SQLite: three endpoints, three figures at each of three concurrencies"
    );
}
