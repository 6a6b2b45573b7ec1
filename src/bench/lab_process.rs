//! The lab fabric in a process of its own (`wapdr lab`, started by the benchmark): what the
//! benchmark reads of its own process, resident memory and CPU time, is then wapdr's, and the
//! lab's world (at 100,000 VMs the larger of the two) is read apart. wapdr reaches the lab over
//! HTTP either way.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use wapdr::lab::{LabAccess, LabConfig, StampAccess};

use super::process::Proc;

/// How long the lab may take to seed its world and describe itself.
const STARTUP: Duration = Duration::from_secs(600);

/// A running `wapdr lab` child process.
pub struct LabProcess {
    child: Child,
    /// The lab's input, held open: the lab stops when it closes, so it ends with this process
    /// even when this one is killed.
    _lifeline: ChildStdin,
    pid: u32,
    access: LabAccess,
    dir: PathBuf,
}

impl LabProcess {
    /// Writes `config` to a scratch TOML file and runs `wapdr lab --config` on it (this very
    /// binary), until it prints its one JSON line of URLs and credentials.
    pub async fn start(config: &LabConfig) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("wapdr-bench-lab-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("lab.toml");
        let toml = toml::to_string(config).context("the lab's configuration as TOML")?;
        std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))?;
        let mut child = Command::new(std::env::current_exe().context("this binary's path")?)
            .arg("lab")
            .arg("--config")
            .arg(&path)
            .arg("--until-stdin-closes")
            // The lab's warnings (injected faults, say) are not the benchmark's output.
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting `wapdr lab`")?;
        let pid = child.id().context("the lab's pid")?;
        let lifeline = child.stdin.take().context("the lab's input")?;
        let stdout = child.stdout.take().context("the lab's output")?;
        let line = tokio::time::timeout(STARTUP, BufReader::new(stdout).lines().next_line())
            .await
            .context("the lab did not describe itself in time")?
            .context("reading the lab's output")?
            .context("the lab exited before describing itself")?;
        let access = serde_json::from_str(&line)
            .with_context(|| format!("the lab's description: {line}"))?;
        Ok(Self {
            child,
            _lifeline: lifeline,
            pid,
            access,
            dir,
        })
    }

    /// Every service's URL and credentials.
    pub fn access(&self) -> &LabAccess {
        &self.access
    }

    /// The control API's base URL.
    pub fn control(&self) -> &str {
        &self.access.control
    }

    /// Per stamp access.
    pub fn stamps(&self) -> &[StampAccess] {
        &self.access.stamps
    }

    /// The lab's process, to read its memory and CPU.
    pub fn process(&self) -> anyhow::Result<Proc> {
        Proc::of(self.pid)
    }

    /// Stops the lab (it keeps nothing) and removes its scratch folder.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
