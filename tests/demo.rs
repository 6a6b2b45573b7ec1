//! The README's first command: `wapdr demo` plays its scenario against the lab and exits 0.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_scenario_succeeds_and_ends_with_a_json_summary() {
    let output = Command::new(env!("CARGO_BIN_EXE_wapdr"))
        .args(["demo", "--json"])
        .env_remove("WAPDR_CONFIG")
        .output()
        .expect("wapdr runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the last line is the JSON summary ({e}):\n{stdout}"));
    assert_eq!(summary["ok"], true);
    let steps: Vec<&str> = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    for step in ["register", "discover", "asr", "subscribe", "tenant"] {
        assert!(
            steps.contains(&step),
            "the scenario ran '{step}': {steps:?}"
        );
    }
}
