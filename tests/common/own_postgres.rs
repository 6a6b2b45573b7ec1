//! A PostgreSQL server of the test's own — `initdb` and `pg_ctl` in a temp dir, on a free port —
//! for tests that restart the database under wapdr. The shared server of
//! `WAPDR_TEST_POSTGRES_URL` is never stopped; this one runs only where that one is configured
//! (the same skip rule), from the same installation's binaries.

#![allow(dead_code)]

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

/// A throwaway PostgreSQL server, stopped when dropped.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
}

impl OwnPostgres {
    /// Creates and starts a server; `None` (after the skip message) when PostgreSQL tests are
    /// not configured here.
    pub fn start() -> Option<Self> {
        super::postgres_server_url()?;
        let bin = binaries();
        let dir = tempfile::tempdir().expect("tempdir");
        if running_as_root() {
            // PostgreSQL refuses to run as root: its files belong to the postgres account.
            run(Command::new("chown").arg("postgres:").arg(dir.path()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = Self { bin, dir, port };
        run(server.command("initdb").arg("-D").arg(server.data()).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ]));
        server.pg_ctl(&["start"]);
        Some(server)
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: every connection is cut, none is accepted).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// Starts the stopped server again, waiting until it accepts connections.
    pub fn start_again(&self) {
        self.pg_ctl(&["start"]);
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-o", &options])
            .args(action));
    }

    /// `program` of the installation, as the postgres account when the tests run as root.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate"])
            .output();
    }
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian keeps them off the PATH).
fn binaries() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("PostgreSQL's initdb and pg_ctl (pg_config --bindir or /usr/lib/postgresql/*/bin)")
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn run(command: &mut Command) {
    let out = command.output().expect("runs");
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
