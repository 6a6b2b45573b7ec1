//! The lab's knobs: latency and latency spikes, error rate, operation durations, concurrency, clock acceleration and
//! the random seed. Read from the lab config file and changed at run time through the control API.
//!
//! Knobs shape how the fabric behaves, never what it is: changing one must not alter the world.

use serde::{Deserialize, Serialize};

/// The tunable behaviour of the lab, all at once (the body of `GET/PUT {control}/lab/knobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Real milliseconds added to every request to a fabric service.
    pub latency_ms: u64,
    /// Fraction (0..1) of fabric requests held `latency_spike_ms` longer (a congested link, a
    /// paused server), on top of `latency_ms`.
    pub latency_spike_rate: f64,
    /// Real milliseconds a latency spike adds.
    pub latency_spike_ms: u64,
    /// Lab seconds one ASR item operation (failover, commit, reprotect...) takes once started.
    pub operation_seconds: f64,
    /// Lab seconds between `POST VirtualMachines` and the VM running.
    pub vm_create_seconds: f64,
    /// Initial replication speed: a VM's `TotalSize` bytes take `TotalSize / this` lab seconds.
    pub initial_replication_bytes_per_second: f64,
    /// Fraction (0..1) of fabric requests refused before any effect, as `error_status`.
    pub error_rate: f64,
    /// The status injected errors carry: 503 (with `Retry-After: 0`) or 429.
    pub error_status: u16,
    /// How many ASR item operations may run at once across the vault; the rest wait `NotStarted`.
    pub concurrency: usize,
    /// Lab seconds per real second.
    pub acceleration: f64,
    /// Seed of the lab's random number generator (ids, injected errors, seeded worlds).
    pub seed: u64,
    /// Items per page of ASR's long lists (protected and protectable items); the rest follow
    /// through `nextLink`.
    pub arm_page_size: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            latency_ms: 0,
            latency_spike_rate: 0.0,
            latency_spike_ms: 0,
            operation_seconds: 60.0,
            vm_create_seconds: 120.0,
            initial_replication_bytes_per_second: 100.0 * 1024.0 * 1024.0,
            error_rate: 0.0,
            error_status: 503,
            concurrency: 4,
            acceleration: 60.0,
            seed: 42,
            arm_page_size: 500,
        }
    }
}

impl Knobs {
    /// Refuses values that would make the lab meaningless (negative durations, rates out of range).
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "error_rate must be within 0..1, not {}",
                self.error_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.latency_spike_rate) {
            return Err(format!(
                "latency_spike_rate must be within 0..1, not {}",
                self.latency_spike_rate
            ));
        }
        if self.error_status != 503 && self.error_status != 429 {
            return Err(format!(
                "error_status must be 503 or 429, not {}",
                self.error_status
            ));
        }
        if !(self.acceleration > 0.0 && self.acceleration.is_finite()) {
            return Err("acceleration must be a positive number".into());
        }
        if self.operation_seconds < 0.0 || self.vm_create_seconds < 0.0 {
            return Err("durations must not be negative".into());
        }
        if self.initial_replication_bytes_per_second <= 0.0 {
            return Err("initial_replication_bytes_per_second must be positive".into());
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if self.arm_page_size == 0 {
            return Err("arm_page_size must be at least 1".into());
        }
        Ok(())
    }
}
