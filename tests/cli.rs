//! The command line as a user runs it: `wapdr demo` (the README's first command) plays its
//! scenario and exits 0; `wapdr register` prints and posts the registration; `config example`
//! and `config reference`; `wapdr serve` stops cleanly on SIGTERM, its JSON logs saying so.

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
    for step in [
        "register",
        "discover",
        "asr",
        "stamps",
        "pair",
        "subscribe",
        "tenant",
        "protect",
        "mirror",
        "new-vm",
        "drill",
        "failover",
        "reprotect",
        "failback",
    ] {
        assert!(
            steps.contains(&step),
            "the scenario ran '{step}': {steps:?}"
        );
    }
    // Every VM of the tenant ended protected (or reported), and the new VM was timed.
    let vms = summary["vms"].as_u64().expect("vms");
    assert!(vms > 0, "{summary}");
    assert_eq!(summary["protected"].as_u64(), Some(vms), "{summary}");
    for figure in [
        "secondsToProtectAll",
        "newVmSecondsToProtectionRequested",
        "newVmSecondsToProtected",
    ] {
        assert!(
            summary[figure].as_f64().is_some_and(|s| s > 0.0),
            "{figure}: {summary}"
        );
    }
    // The drill ran by the demo's recovery plan and left its report as a self-contained page.
    let drill = summary["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "drill")
        .expect("the drill step");
    let page = std::fs::read_to_string(drill["data"]["reportHtml"].as_str().expect("a report"))
        .expect("the saved report");
    assert!(
        page.starts_with("<!DOCTYPE html>") && page.contains("Databases first"),
        "the drill report names its plan"
    );
    // Each failover operation reported its recovery time.
    for operation in ["test", "planned", "failback"] {
        assert!(
            summary["rtoSeconds"][operation]
                .as_f64()
                .is_some_and(|s| s > 0.0),
            "RTO of {operation}: {summary}"
        );
    }
}

mod common;

use common::lab::small_lab;

/// Runs the binary with a fresh SQLite store and the given arguments.
fn wapdr(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wapdr"))
        .args(args)
        .env_remove("WAPDR_CONFIG")
        .env(
            "WAPDR_DATABASE__URL",
            format!("sqlite://{}", dir.join("wapdr.db").display()),
        )
        .env("WAPDR_PUBLIC_URL", "https://wapdr.contoso.local:8642")
        .env("WAPDR_ENDPOINTS__NOTIFICATION__PASSWORD", "notify-secret")
        .output()
        .expect("wapdr runs")
}

// Multi-threaded: the lab serves from this runtime while the test waits on the wapdr process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_posts_the_registration_to_a_wap_admin_api() {
    let lab = small_lab().await;
    let dir = tempfile::tempdir().unwrap();
    let stamp = &lab.stamps()[0];

    let printed = wapdr(dir.path(), &["register"]);
    assert!(printed.status.success());
    let body: Value = serde_json::from_slice(&printed.stdout).expect("the registration as JSON");
    assert_eq!(body["Name"], "disasterrecovery");
    assert_eq!(
        body["NotificationEndpoint"]["ForwardingAddress"],
        "https://wapdr.contoso.local:8642/notification"
    );
    assert_eq!(
        body["NotificationEndpoint"]["AuthenticationPassword"],
        "notify-secret"
    );
    assert_eq!(
        body["TenantEndpoint"]["TargetUriTemplate"],
        "subscriptions/{subid}/{*path}"
    );
    let xml = wapdr(dir.path(), &["register", "--xml"]);
    assert!(
        String::from_utf8_lossy(&xml.stdout)
            .contains("<ResourceProvider xmlns=\"http://schemas.microsoft.com/windowsazure\"")
    );

    let refused = wapdr(
        dir.path(),
        &[
            "register",
            "--admin-api",
            &stamp.wap_admin,
            "--token",
            "wrong",
        ],
    );
    assert!(
        !refused.status.success(),
        "a wrong token must fail the command"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let posted = wapdr(
        dir.path(),
        &[
            "register",
            "--admin-api",
            &stamp.wap_admin,
            "--token",
            &stamp.wap_admin_token,
        ],
    );
    assert!(
        posted.status.success(),
        "{}",
        String::from_utf8_lossy(&posted.stderr)
    );
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/resourceproviders", stamp.wap_admin))
        .bearer_auth(&stamp.wap_admin_token)
        .header("x-ms-principal-id", "admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .or(listed.as_array())
        .unwrap()
        .iter()
        .filter_map(|rp| rp["Name"].as_str())
        .collect();
    assert!(
        names.contains(&"disasterrecovery"),
        "WAP now lists the RP: {listed}"
    );

    let again = wapdr(
        dir.path(),
        &[
            "register",
            "--admin-api",
            &stamp.wap_admin,
            "--token",
            &stamp.wap_admin_token,
        ],
    );
    assert!(
        !again.status.success(),
        "a second registration is refused by WAP"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already has a resource provider"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    lab.shutdown().await;
}

#[test]
fn config_example_documents_every_key_and_parses() {
    let dir = tempfile::tempdir().unwrap();
    let output = wapdr(dir.path(), &["config", "example"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for key in [
        "listen",
        "[database]",
        "[endpoints.notification]",
        "[limits]",
        "[log]",
        "[rp]",
        "[engine]",
    ] {
        assert!(text.contains(key), "the example documents {key}");
    }
    wapdr::config::Config::from_toml(&text).expect("the printed example is a valid configuration");
}

#[test]
fn config_reference_prints_docs_configuration_md() {
    let dir = tempfile::tempdir().unwrap();
    let output = wapdr(dir.path(), &["config", "reference"]);
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed = include_str!("../docs/configuration.md");
    assert!(
        printed == committed,
        "docs/configuration.md is out of date: run `cargo run -- config reference > docs/configuration.md`"
    );
    assert!(printed.contains("| `engine.shutdown_grace_seconds` | integer | `10` | `WAPDR_ENGINE__SHUTDOWN_GRACE_SECONDS` |"));
}

/// `wapdr serve` as a service manager stops it: SIGTERM, then it must exit 0 within the engine's
/// grace, every log line a JSON object (`[log] format = "json"`) and the last ones saying it
/// shut down and stopped.
#[cfg(unix)]
#[test]
fn serve_stops_on_sigterm_within_its_grace_and_logs_its_shutdown() {
    sigterm_once_logged("wapdr is serving");
}

/// A SIGTERM that comes while `wapdr serve` is still starting (its listener bound, the endpoints
/// not yet announced) is not lost to the default action: wapdr finishes starting, then stops
/// as gracefully as ever.
#[cfg(unix)]
#[test]
fn serve_stops_gracefully_on_a_sigterm_that_comes_while_it_starts() {
    sigterm_once_logged("wapdr listening");
}

/// Starts `wapdr serve`, sends SIGTERM once it logged a line starting with `message`, and checks
/// it stopped gracefully.
#[cfg(unix)]
fn sigterm_once_logged(message: &str) {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wapdr"))
        .arg("serve")
        .env_remove("WAPDR_CONFIG")
        .env_remove("RUST_LOG")
        .env("WAPDR_LISTEN", "127.0.0.1:0")
        .env(
            "WAPDR_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("wapdr.db").display()),
        )
        .env("WAPDR_LOG__FORMAT", "json")
        .env("WAPDR_ENGINE__SHUTDOWN_GRACE_SECONDS", "2")
        .env(
            "WAPDR_ENGINE__RUNBOOKS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wapdr serve starts");
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    let mut log = Vec::new();
    let started = Instant::now();
    while !log.iter().any(|l: &String| l.contains(message)) {
        let line = received
            .recv_timeout(Duration::from_secs(30).saturating_sub(started.elapsed()))
            .unwrap_or_else(|_| panic!("wapdr serve never logged {message:?}: {log:?}"));
        log.push(line);
    }

    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = exited_within(&mut child, signalled, || {
        format!("wapdr serve did not stop within 10 s of SIGTERM: {log:?}")
    });
    log.extend(received.iter());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "exit {status}: {stderr}\n{log:?}");
    let events: Vec<Value> = log
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"))
        })
        .collect();
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["fields"]["message"].as_str().unwrap_or_default())
        .collect();
    let position = |text: &str| messages.iter().position(|m| m.starts_with(text));
    let serving = position("wapdr is serving").expect("the endpoints logged");
    let shutting = position("shutting down").unwrap_or_else(|| panic!("{messages:?}"));
    let stopped = position("stopped").unwrap_or_else(|| panic!("{messages:?}"));
    assert!(serving < shutting && shutting < stopped, "{messages:?}");
    assert_eq!(
        events[shutting]["fields"]["grace_seconds"], 2,
        "{:?}",
        events[shutting]
    );
}

/// `wapdr lab --until-stdin-closes`, as the benchmark harness starts it: it describes itself in
/// one JSON line (every URL and credential a client needs), serves, and stops on its own once the
/// process that started it closes its input, so a killed harness leaves no lab behind.
#[tokio::test]
async fn a_lab_started_with_a_lifeline_describes_itself_and_stops_when_its_input_closes() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut child = Command::new(env!("CARGO_BIN_EXE_wapdr"))
        .args(["lab", "--until-stdin-closes"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wapdr lab starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let access: wapdr::lab::LabAccess = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the first line describes the lab ({e}): {line}"));
    assert_eq!(access.stamps.len(), 2, "{line}");
    let described: wapdr::lab::LabAccess = reqwest::get(format!("{}/lab/describe", access.control))
        .await
        .expect("the control API answers")
        .json()
        .await
        .expect("it describes the lab the same way");
    assert_eq!(described.asr.arm, access.asr.arm);
    // Still serving while its input is open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(child.try_wait().unwrap().is_none(), "the lab stopped early");

    drop(child.stdin.take());
    let closed = Instant::now();
    let status = exited_within(&mut child, closed, || {
        "the lab did not stop within 10 s of its input closing".to_owned()
    });
    assert!(status.success(), "{status}");
}

/// wapdr runs with glibc's malloc tuned (it starts itself again with `GLIBC_TUNABLES`, keeping
/// its process id), and an operator's own `GLIBC_TUNABLES` is left as it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn wapdr_runs_with_its_malloc_settings_unless_the_operator_set_their_own() {
    use std::io::BufRead as _;
    use std::process::Stdio;

    let tunables_of = |operator: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wapdr"));
        command
            .args(["lab", "--until-stdin-closes"])
            .env_remove("RUST_LOG")
            .env_remove("GLIBC_TUNABLES")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(value) = operator {
            command.env("GLIBC_TUNABLES", value);
        }
        let mut child = command.spawn().expect("wapdr lab starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with('{'), "the lab serves: {line}");
        // The process that answers is the one started: same id.
        let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
        drop(child.stdin.take());
        let status = exited_within(&mut child, std::time::Instant::now(), || {
            "the lab did not stop".to_owned()
        });
        assert!(status.success(), "{status}");
        environ
            .split(|b| *b == 0)
            .map(|entry| String::from_utf8_lossy(entry).into_owned())
            .find_map(|entry| entry.strip_prefix("GLIBC_TUNABLES=").map(str::to_owned))
    };

    let own = tunables_of(None).expect("wapdr set GLIBC_TUNABLES");
    // glibc ends each value it reads with a NUL in place, so the process's own copy may show
    // only the first setting.
    assert!(own.starts_with("glibc.malloc.arena_max=2"), "{own}");
    assert_eq!(
        tunables_of(Some("glibc.malloc.arena_max=4")).as_deref(),
        Some("glibc.malloc.arena_max=4"),
        "the operator's setting wins"
    );
}

/// Waits for `child` to exit within 10 s of `since`; kills it and panics with `failure()` if it
/// does not.
fn exited_within(
    child: &mut std::process::Child,
    since: std::time::Instant,
    failure: impl FnOnce() -> String,
) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if since.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{}", failure());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
