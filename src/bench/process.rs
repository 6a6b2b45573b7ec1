//! What a benchmark reads of a process from `/proc`: resident memory now and at its peak, and CPU
//! time. wapdr runs in the benchmark's own process and the lab in a child of it
//! ([`super::lab_process`]), so each figure is one of the two, never both.

use anyhow::Context as _;
use procfs::process::Process;

/// A process to read.
pub struct Proc(Process);

impl Proc {
    /// This process: wapdr (and the harness's client, which holds little).
    pub fn myself() -> anyhow::Result<Self> {
        Ok(Self(Process::myself().context("reading /proc/self")?))
    }

    /// Another process of this user's, by pid.
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let pid = i32::try_from(pid).context("a pid")?;
        Ok(Self(
            Process::new(pid).with_context(|| format!("reading /proc/{pid}"))?,
        ))
    }

    /// Resident memory now (`VmRSS`), in MiB.
    pub fn resident_mib(&self) -> anyhow::Result<f64> {
        let status = self.0.status().context("reading the process's status")?;
        Ok(kib_as_mib(status.vmrss.context("no VmRSS")?))
    }

    /// Peak resident memory since the last [`Self::reset_peak`] (`VmHWM`), in MiB.
    pub fn peak_resident_mib(&self) -> anyhow::Result<f64> {
        let status = self.0.status().context("reading the process's status")?;
        Ok(kib_as_mib(status.vmhwm.context("no VmHWM")?))
    }

    /// Resets the peak resident memory to the current one (`5` to `clear_refs`); if the kernel
    /// refuses, the peak is the process's lifetime peak, which only overstates it.
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.0.pid), "5");
    }

    /// CPU time (user and system, every thread) since the process started, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = self.0.stat().context("reading the process's stat")?;
        Ok((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
    }
}

fn kib_as_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
