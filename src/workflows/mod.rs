//! The DR workflows, written as steps on the engine, and what they share: the fabric clients of a
//! stored stamp ([`StampClients`]), stamp verification, the engine's view of a stamp's clouds
//! ([`fabric_refs`]), and the one way a step says why it cannot go on ([`Stop`]).
//!
//! - `pair_clouds`: makes a cloud pair real in the replication engine;
//! - [`protect`]: the per-VM core ([`reconcile_vm`]) and the `reconcile_vm` workflow;
//! - `failover`: drill, cleanup, planned/unplanned failover, commit, rollback, reprotect and
//!   failback of one subscription, ordered by a recovery plan (groups, delays, script, runbook
//!   and manual actions), with the active-stamp switch; `failover_deadline`, the commit window
//!   and drill cleanup timer; [`start_operation`], the one way every starter begins one;
//! - `enable_dr` / `disable_dr`: a subscription's DR switched on (mirror, networks, every VM) and off;
//! - the runbooks' `protect_new_vms` (VMs changed since a cursor), `replication_health` (health, RPO, alerts) and `reconcile_mirrors` (mirror
//!   subscriptions and replica ownership kept in line);
//! - `usage_meter`: one usage record per DR subscription and period, for WAP's usage collector;
//! - the runbook `site_heartbeat`: each stamp probed ([`site_probe`]), its verdict and history
//!   recorded, an alert on every change ([`heartbeat_stamp`]).
//!
//! Workflows reach the fabric only through `crate::fabric` and persist only through the store;
//! every step looks before it acts, so it is safe to run again after a crash.

mod default_plan;
mod disable_dr;
mod enable_dr;
pub mod fabric_refs;
mod failover;
mod failover_action;
mod failover_deadline;
mod failover_plan;
mod failover_start;
mod failover_switch;
mod failover_vm;
mod mirror;
mod networks;
mod pair_clouds;
pub mod protect;
mod protect_new_vms;
mod reconcile_mirrors;
mod reconcile_vm;
mod replication_health;
mod runbook_support;
mod site_failover;
mod site_heartbeat;
pub mod site_probe;
mod stamp_clients;
pub mod stamp_verify;
mod usage_meter;

use std::time::Duration;

pub use default_plan::sync_default_plan;
pub use disable_dr::{DISABLE_DR, DisableDr, disable_dr_params};
pub use enable_dr::{ENABLE_DR, EnableDr, enable_dr_params};
pub use failover::{FAILOVER, Failover, FailoverParams, REPLICATION_ENGINE_SLOT};
pub use failover_deadline::{FAILOVER_DEADLINE, FailoverDeadline};
pub use failover_start::{OperationRequest, StartError, last_job_running, start_operation};
pub use pair_clouds::{PAIR_CLOUDS, PairClouds, pair_clouds_params};
pub use protect::{disable_vm, needs_another_look, reconcile_vm};
pub use protect_new_vms::{PROTECT_NEW_VMS, ProtectNewVms, cursor_name};
pub use reconcile_mirrors::{RECONCILE_MIRRORS, ReconcileMirrors};
pub use reconcile_vm::{RECONCILE_VM, ReconcileVm, reconcile_vm_params};
pub use replication_health::{REPLICATION_HEALTH, ReplicationHealth};
pub use site_failover::{
    SITE_FAILOVER, SiteFailover, SiteParams, SiteStartError, start_site_operation,
};
pub use site_heartbeat::{
    OWED_AFTER, SITE_HEARTBEAT, SiteHeartbeat, StampHeartbeat, heartbeat_stamp, site_alert,
};
pub use stamp_clients::{PROBE_CONNECT_TIMEOUT, PROBE_TIMEOUT, StampClients, probe_http};
pub use usage_meter::{USAGE_METER, UsageMeter};

use crate::engine::{StepContext, StepOutcome};

/// The most per-VM steps in one stage of a workflow's fan-out (the engine runs a stage's steps in
/// parallel; enable DR and disable DR split a subscription's VMs into such stages; a failover
/// keeps each plan group whole and lets the replication engine's slot pace it).
pub(crate) const VMS_PER_STAGE: usize = 200;
use crate::fabric::FabricError;
use crate::store::StoreError;

/// Why a step (or the per-VM core) cannot go on: worth another try later, or final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// A stamp, the vault or the store is unreachable, busy or raced: try again later.
    Transient(String),
    /// Nothing will change by trying again; the message says what the provider must do.
    Final(String),
}

impl Stop {
    /// The message, whichever kind.
    pub fn message(&self) -> &str {
        match self {
            Self::Transient(m) | Self::Final(m) => m,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<FabricError> for Stop {
    fn from(err: FabricError) -> Self {
        if err.is_transient() {
            Self::Transient(err.to_string())
        } else {
            Self::Final(err.to_string())
        }
    }
}

impl From<StoreError> for Stop {
    fn from(err: StoreError) -> Self {
        // A conflict is another writer winning a race: reading again resolves it.
        Self::Transient(format!("the store failed: {err}"))
    }
}

/// A transient failure: the engine tries again after the kind's backoff.
pub(crate) fn retry(reason: String) -> StepOutcome {
    StepOutcome::RetryLater {
        reason,
        after: None,
    }
}

/// A step that is waiting for the fabric (not failing): look again after `after`.
pub(crate) fn check_again(reason: String, after: Duration) -> StepOutcome {
    StepOutcome::RetryLater {
        reason,
        after: Some(after),
    }
}

/// The transient failures this step has had before this attempt (the engine's count).
pub(crate) async fn failures_so_far(ctx: &StepContext) -> u32 {
    match ctx.store.run_steps(ctx.run_id).await {
        Ok(steps) => steps
            .iter()
            .find(|s| s.id == ctx.step_id)
            .map_or(0, |s| u32::try_from(s.retries).unwrap_or(u32::MAX)),
        // Unknown: assume none, so a store hiccup never gives up early.
        Err(_) => 0,
    }
}
