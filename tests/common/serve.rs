//! `wapdr serve` as its own process — the real binary — on a test app's database, for the crash
//! tests: started with the app's configuration and the engine on, SIGKILLed, started again.
//!
//! The test app itself usually runs with `[engine] enabled = false`: it only gives the test its
//! store and an HTTP endpoint that never dies, while the processes do every step of work.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader, Lines};
use tokio::process::{Child, Command};

use super::app::TestApp;

/// The lease a killed process's steps keep before another process takes them over (the least
/// `engine.lease_seconds` allows).
pub const LEASE_SECONDS: u64 = 3;

/// A configuration file for `wapdr serve` processes on a test app's database.
pub struct ServeConfig {
    file: PathBuf,
    _dir: TempDir,
}

impl ServeConfig {
    /// Writes `app`'s configuration to a file the processes read.
    pub fn of(app: &TestApp) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("wapdr.toml");
        std::fs::write(&file, app.config_toml()).expect("config written");
        Self { file, _dir: dir }
    }

    /// Starts a `wapdr serve` process named `name` and waits until it says it serves.
    pub async fn start(&self, name: &str) -> Served {
        let began = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wapdr"))
            .arg("serve")
            .arg("--config")
            .arg(&self.file)
            .env_remove("WAPDR_CONFIG")
            .env_remove("RUST_LOG")
            .env("WAPDR_LOG__FORMAT", "json")
            .env("WAPDR_ENGINE__ENABLED", "true")
            .env("WAPDR_ENGINE__LEASE_SECONDS", LEASE_SECONDS.to_string())
            .env(
                "WAPDR_ENGINE__RUNBOOKS_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("wapdr serve starts");
        let pid = child.id().expect("a pid");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let echo = std::env::var_os("CHAOS_LOG").is_some();
        let url = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("{name} never said it serves"))
                .expect("stdout")
                .unwrap_or_else(|| panic!("{name} exited before serving"));
            if echo {
                eprintln!("[{name}] {line}");
            }
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if event["fields"]["message"] == "wapdr is serving" {
                let admin = event["fields"]["admin"].as_str().expect("the admin URL");
                break admin.trim_end_matches("/admin").to_owned();
            }
        };
        // The pipes are drained for the process's life, so a chatty log never blocks it.
        drain(lines, format!("{name} out"), echo);
        drain(
            BufReader::new(child.stderr.take().expect("stderr")).lines(),
            format!("{name} err"),
            echo,
        );
        Served {
            child,
            pid,
            url,
            name: name.to_owned(),
            started_in: began.elapsed(),
        }
    }
}

/// Reads a process's output to its end, echoing it under `CHAOS_LOG`.
fn drain<R>(mut lines: Lines<BufReader<R>>, label: String, echo: bool)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if echo {
                eprintln!("[{label}] {line}");
            }
        }
    });
}

/// A running `wapdr serve` process.
pub struct Served {
    child: Child,
    /// Its process id (part of its engine instance name, `wapdr-{pid}-...`).
    pub pid: u32,
    /// Its base URL.
    pub url: String,
    /// The name the test gave it.
    pub name: String,
    /// How long it took from spawning to serving.
    pub started_in: Duration,
}

impl Served {
    /// SIGKILLs the process and reaps it: requests and steps are cut off mid-call, its leases
    /// are left to run out.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reaped");
    }

    /// Whether the engine instance `owner` (a lease owner) is this process.
    pub fn owns(&self, owner: &str) -> bool {
        owner.starts_with(&format!("wapdr-{}-", self.pid))
    }
}
