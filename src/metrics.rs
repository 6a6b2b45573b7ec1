//! The process's metrics, served at `/metrics` in Prometheus text format.
//!
//! Two kinds: what only this process sees is counted as it happens in process-wide instruments
//! (fabric calls, recorded by the one outbound path, `RetryPolicy::send`; jobs ending, as the
//! store reports the transition; leases taken over, as the store's claim reports them); what the store knows
//! (VM records by state and health, their RPO) is read from it at each scrape, so every instance
//! sharing a database reports the same, current values and nothing drifts after a restart.
//! It must never hold a credential or a URL's query in a label.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::domain::VmProtectionState;
use crate::store::{RunRecord, SharedStore, StoreError, VmFilter};

/// RPO buckets in seconds: from a few replication cycles (30 s) to a day behind.
const RPO_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];

/// Fabric call buckets in seconds: a local lab call to a minute's timeout.
const CALL_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Job duration buckets in seconds: a quick reconciliation to a long site failover.
const JOB_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0,
];

/// What this process counts as it happens.
struct Instruments {
    registry: Registry,
    fabric_calls: HistogramVec,
    fabric_errors: IntCounterVec,
    jobs: HistogramVec,
    lease_takeovers: IntCounter,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| {
    let registry = Registry::new();
    let fabric_calls = HistogramVec::new(
        HistogramOpts::new(
            "wapdr_fabric_call_duration_seconds",
            "Fabric HTTP calls (each attempt) by service and outcome (ok, http_4xx, http_5xx, transport).",
        )
        .buckets(CALL_BUCKETS.to_vec()),
        &["service", "outcome"],
    )
    .expect("valid metric");
    let fabric_errors = IntCounterVec::new(
        Opts::new(
            "wapdr_fabric_call_errors_total",
            "Fabric HTTP calls (each attempt) that failed, by service and kind (http_4xx, http_5xx, transport).",
        ),
        &["service", "kind"],
    )
    .expect("valid metric");
    let jobs = HistogramVec::new(
        HistogramOpts::new(
            "wapdr_job_duration_seconds",
            "Jobs (workflow runs) this instance saw end, from start to end, by workflow kind and \
             result (Succeeded, Failed, Cancelled); its _count is the jobs' count.",
        )
        .buckets(JOB_BUCKETS.to_vec()),
        &["workflow", "result"],
    )
    .expect("valid metric");
    let lease_takeovers = IntCounter::new(
        "wapdr_lease_takeovers_total",
        "Steps this instance claimed from an attempt whose lease had expired (its instance died or stalled).",
    )
    .expect("valid metric");
    for collector in [
        Box::new(fabric_calls.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(fabric_errors.clone()),
        Box::new(jobs.clone()),
        Box::new(lease_takeovers.clone()),
    ] {
        registry.register(collector).expect("registered once");
    }
    Instruments {
        registry,
        fabric_calls,
        fabric_errors,
        jobs,
        lease_takeovers,
    }
});

/// How a fabric call attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// A success or redirect status.
    Ok,
    /// A 4xx answer.
    Http4xx,
    /// A 5xx answer.
    Http5xx,
    /// No answer: refused, reset, timed out, TLS.
    Transport,
}

impl CallOutcome {
    /// The outcome of an answer with this status.
    pub fn of_status(status: u16) -> Self {
        match status {
            400..=499 => Self::Http4xx,
            500..=599 => Self::Http5xx,
            _ => Self::Ok,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Http4xx => "http_4xx",
            Self::Http5xx => "http_5xx",
            Self::Transport => "transport",
        }
    }
}

/// Records one fabric call attempt to `service` that took `elapsed`.
pub fn fabric_call(service: &str, outcome: CallOutcome, elapsed: Duration) {
    let instruments = &*INSTRUMENTS;
    instruments
        .fabric_calls
        .with_label_values(&[service, outcome.label()])
        .observe(elapsed.as_secs_f64());
    if outcome != CallOutcome::Ok {
        instruments
            .fabric_errors
            .with_label_values(&[service, outcome.label()])
            .inc();
    }
}

/// Records a job that ended (its record as stored once final).
pub fn job_ended(run: &RunRecord) {
    let start = run.started_at.unwrap_or(run.created_at);
    let seconds = run
        .finished_at
        .map_or(0.0, |end| (end - start).as_seconds_f64().max(0.0));
    INSTRUMENTS
        .jobs
        .with_label_values(&[run.workflow.as_str(), run.state.as_str()])
        .observe(seconds);
}

/// Records a step claimed from an expired lease.
pub fn lease_taken_over() {
    INSTRUMENTS.lease_takeovers.inc();
}

/// The Prometheus text of every metric: the process's instruments and the store's current VMs.
pub async fn render(store: &SharedStore) -> Result<String, StoreError> {
    let snapshot = store_metrics(store).await?;
    let mut families = INSTRUMENTS.registry.gather();
    families.extend(snapshot.gather());
    let mut text = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut text)
        .expect("the text encoder writes to memory");
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The VM records' metrics as the store has them now, in a registry of their own.
async fn store_metrics(store: &SharedStore) -> Result<Registry, StoreError> {
    let by_state = IntGaugeVec::new(
        Opts::new(
            "wapdr_protected_vms",
            "VM records by protection state (Protected, Enabling, Failed, Excluded, ...).",
        ),
        &["state"],
    )
    .expect("valid metric");
    let by_health = IntGaugeVec::new(
        Opts::new(
            "wapdr_replication_health_vms",
            "Protected VMs by replication health (Normal, Warning, Critical; Unknown before the first report).",
        ),
        &["health"],
    )
    .expect("valid metric");
    let rpo = Histogram::with_opts(
        HistogramOpts::new(
            "wapdr_rpo_seconds",
            "The current RPO (time since the last replication) of every Protected VM that has replicated.",
        )
        .buckets(RPO_BUCKETS.to_vec()),
    )
    .expect("valid metric");
    let now = store.database_now().await?;
    let mut filter = VmFilter::default();
    loop {
        let page = store.query_protected_vms(&filter).await?;
        for vm in &page {
            by_state.with_label_values(&[vm.state.as_str()]).inc();
            if vm.state == VmProtectionState::Protected {
                let health = vm.health.map_or("Unknown", |h| h.as_str());
                by_health.with_label_values(&[health]).inc();
                if let Some(seconds) = vm.rpo_seconds(now) {
                    rpo.observe(seconds as f64);
                }
            }
        }
        match page.last() {
            Some(last) if page.len() >= 1000 => {
                filter.after = Some((last.subscription_id, last.vm_id));
            }
            _ => break,
        }
    }
    let registry = Registry::new();
    registry
        .register(Box::new(by_state))
        .expect("registered once");
    registry
        .register(Box::new(by_health))
        .expect("registered once");
    registry.register(Box::new(rpo)).expect("registered once");
    Ok(registry)
}
