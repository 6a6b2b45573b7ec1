//! The replication engine as wapdr sees it: sites (VMM servers), containers (clouds), policies,
//! pairings, protected VMs and the failover family of operations, in wapdr's words.
//!
//! [`ReplicationEngine`] is what the DR workflows drive; Azure Site Recovery ([`super::asr`]) is
//! one implementation and a direct Hyper-V Replica engine can be another. Nothing in this file may
//! name a particular engine's resource ids, API versions or provider types.

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::FabricError;

/// A site: one VMM server (one stamp) known to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The engine's id of the site.
    pub id: String,
    /// Its name (the VMM server name).
    pub name: String,
    /// The SPF stamp id it corresponds to.
    pub stamp_id: String,
}

/// A container: one VMM cloud on a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The engine's id of the container (the cloud id).
    pub id: String,
    /// Its name.
    pub name: String,
    /// The site's id.
    pub site: String,
    /// Whether it is paired with a recovery container.
    pub paired: bool,
}

/// How a pairing replicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialReplication {
    /// Copy the disks over the network.
    OverNetwork,
    /// Seed from media shipped to the recovery site.
    Offline,
}

/// Replication settings, applied to a container pairing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySpec {
    /// Seconds between delta copies: 30, 300 or 900.
    pub copy_frequency_seconds: u32,
    /// Additional recovery points kept.
    pub recovery_points: u32,
    /// Hours between application-consistent snapshots (0 = none).
    pub app_consistent_frequency_hours: u32,
    /// Whether replication traffic is compressed.
    pub compression: bool,
    /// How the first copy is made.
    pub initial_replication: InitialReplication,
}

/// A policy the engine holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    /// The engine's id of the policy.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// Which protected VM: a VM (SPF VM id) in a container on a site.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemRef {
    /// The site's id.
    pub site: String,
    /// The container's id.
    pub container: String,
    /// The VM's id (the SPF `ID` of the primary VM).
    pub vm_id: String,
}

/// A VM of a container that protection could be enabled for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectableVm {
    /// The VM's id.
    pub vm_id: String,
    /// Its name.
    pub name: String,
    /// Whether it is protected already.
    pub protected: bool,
    /// Why it cannot be protected (empty when it can).
    pub readiness_errors: Vec<String>,
}

/// Where a protected VM is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Protection enabled, initial replication running.
    Enabling,
    /// Replicating.
    Protected,
    /// A test failover is up and waits for cleanup.
    TestFailoverRunning,
    /// Failed over, commit pending.
    FailedOver {
        /// Planned (zero loss) rather than unplanned.
        planned: bool,
    },
    /// Failover committed; not replicating until reprotected.
    Committed,
}

/// Which side runs the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The original primary site.
    Primary,
    /// The recovery site.
    Recovery,
}

/// Replication health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Replicating as expected.
    Normal,
    /// Lagging or paused.
    Warning,
    /// Failing.
    Critical,
}

/// What can be done to a protected VM.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Start a test failover.
    TestFailover,
    /// Clean a test failover up.
    TestFailoverCleanup,
    /// Fail over with the primary shut down first.
    PlannedFailover,
    /// Fail over without the primary.
    UnplannedFailover,
    /// Commit a failover.
    Commit,
    /// Switch a failed-over VM to another recovery point.
    ChangeRecoveryPoint,
    /// Reverse replication.
    Reprotect,
    /// Stop protecting.
    DisableProtection,
    /// Finish a migration (engine-specific meaning).
    CompleteMigration,
    /// Roll a failover back before commit.
    CancelFailover,
    /// An operation wapdr has no name for.
    Other(String),
}

/// The replication state of one protected VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectionStatus {
    /// Where it is in its lifecycle.
    pub phase: Phase,
    /// Which side runs it.
    pub active_location: Location,
    /// What the engine allows next.
    pub allowed: Vec<Operation>,
    /// Replication health.
    pub health: Health,
    /// Why health is not normal.
    pub health_errors: Vec<String>,
    /// When the last delta arrived.
    pub last_replicated: Option<OffsetDateTime>,
    /// Progress of the initial copy while enabling.
    pub initial_replication_percent: Option<u8>,
    /// The SPF id of the replica VM on the recovery stamp, when known.
    pub replica_vm_id: Option<String>,
    /// The operation currently running on it, if any.
    pub operation_in_progress: Option<String>,
}

impl ProtectionStatus {
    /// Whether the engine allows `operation` now.
    pub fn allows(&self, operation: &Operation) -> bool {
        self.allowed.contains(operation)
    }
}

/// A protected VM of a container and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedItem {
    /// Which item.
    pub item: ItemRef,
    /// Its name.
    pub name: String,
    /// Its state.
    pub status: ProtectionStatus,
}

/// A point a failed-over VM can be moved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPoint {
    /// The engine's id of the point.
    pub id: String,
    /// When it was taken.
    pub time: OffsetDateTime,
    /// Application-consistent (VSS) rather than crash-consistent.
    pub app_consistent: bool,
}

/// Which way a failover or reprotect goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the original primary to the recovery site.
    PrimaryToRecovery,
    /// Back from the recovery site (failback).
    RecoveryToPrimary,
}

/// A handle on a running engine operation; opaque, but safe to store and poll later.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperationId(pub String);

impl OperationId {
    /// The handle's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The result of an `ensure_*` call: nothing to do, or an operation to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// It was already so.
    AlreadyDone,
    /// The engine started making it so.
    Started(OperationId),
}

/// Where an operation is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationState {
    /// Still running (or not started yet).
    InProgress,
    /// Done.
    Succeeded,
    /// Ended in failure.
    Failed {
        /// Why, as the engine says.
        message: String,
    },
    /// Cancelled.
    Cancelled,
}

impl OperationState {
    /// Whether the operation has ended.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Self::InProgress)
    }
}

/// One step of an operation (`ShutdownVmOnPrimary`, `StartVmOnSecondary`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationTask {
    /// The step's name.
    pub name: String,
    /// Where it is.
    pub state: OperationState,
    /// When it started.
    pub started: Option<OffsetDateTime>,
    /// When it ended.
    pub ended: Option<OffsetDateTime>,
}

/// What an engine says about an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationStatus {
    /// Where it is.
    pub state: OperationState,
    /// Percent done, when the engine says.
    pub progress: Option<u8>,
    /// How long the engine asks pollers to wait before asking again.
    pub retry_after: Option<Duration>,
    /// Its steps, when the engine reports them.
    pub tasks: Vec<OperationTask>,
}

/// The item operations wapdr runs at once in an engine that does not say (ASR publishes no
/// limit; `[asr] max_parallel_operations` sets it).
pub const DEFAULT_PARALLEL_OPERATIONS: u32 = 20;

/// How [`ReplicationEngine::wait`] paces its polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLimits {
    /// Never poll more often than this, whatever the engine asks.
    pub min_interval: Duration,
    /// Never wait longer than this between polls.
    pub max_interval: Duration,
}

impl Default for PollLimits {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(30),
        }
    }
}

/// A replication engine: what the DR workflows need from ASR or any other orchestrator.
/// Methods named `ensure_*` may be called again safely: they look before they act.
#[async_trait]
pub trait ReplicationEngine: Send + Sync {
    /// The sites (VMM servers) the engine knows.
    async fn sites(&self) -> Result<Vec<Site>, FabricError>;

    /// The containers (clouds) of a site.
    async fn containers(&self, site: &str) -> Result<Vec<Container>, FabricError>;

    /// Makes sure a policy named `name` exists with `spec`, creating or updating it.
    async fn ensure_policy(&self, name: &str, spec: &PolicySpec) -> Result<PolicyRef, FabricError>;

    /// Makes sure `primary` replicates to `recovery` under `policy`.
    async fn ensure_container_pairing(
        &self,
        primary: &Container,
        recovery: &Container,
        policy: &PolicyRef,
    ) -> Result<Ensured, FabricError>;

    /// Makes sure replicas of VMs on `primary_network_id` connect to `recovery_network_id`.
    async fn ensure_network_mapping(
        &self,
        primary_site: &str,
        primary_network_id: &str,
        recovery_site: &str,
        recovery_network_id: &str,
    ) -> Result<Ensured, FabricError>;

    /// The VMs of a container and whether each can be protected.
    async fn protectable_vms(
        &self,
        container: &Container,
    ) -> Result<Vec<ProtectableVm>, FabricError>;

    /// One VM of a container and whether it can be protected; `None` when the vault does not
    /// list it (yet). One read, whatever the container's size.
    async fn protectable_vm(
        &self,
        container: &Container,
        vm_id: &str,
    ) -> Result<Option<ProtectableVm>, FabricError>;

    /// Starts protecting a VM under `policy`.
    async fn enable_protection(
        &self,
        item: &ItemRef,
        policy: &PolicyRef,
    ) -> Result<OperationId, FabricError>;

    /// The state of a protected VM; `None` when it is not protected.
    async fn protection_status(
        &self,
        item: &ItemRef,
    ) -> Result<Option<ProtectionStatus>, FabricError>;

    /// Every protected VM of a container.
    async fn protected_items(
        &self,
        container: &Container,
    ) -> Result<Vec<ProtectedItem>, FabricError>;

    /// The recovery points of a protected VM.
    async fn recovery_points(&self, item: &ItemRef) -> Result<Vec<RecoveryPoint>, FabricError>;

    /// Starts a test failover, into `test_network_id` or with no network.
    async fn test_failover(
        &self,
        item: &ItemRef,
        direction: Direction,
        test_network_id: Option<&str>,
    ) -> Result<OperationId, FabricError>;

    /// Removes a test failover's VM and networks.
    async fn test_failover_cleanup(
        &self,
        item: &ItemRef,
        comment: &str,
    ) -> Result<OperationId, FabricError>;

    /// Fails over with the source shut down and synchronised first (no data loss).
    async fn planned_failover(
        &self,
        item: &ItemRef,
        direction: Direction,
    ) -> Result<OperationId, FabricError>;

    /// Fails over from the latest point; tries the source only if `source_site_available`.
    async fn unplanned_failover(
        &self,
        item: &ItemRef,
        direction: Direction,
        source_site_available: bool,
    ) -> Result<OperationId, FabricError>;

    /// Moves a failed-over VM to another recovery point (before commit).
    async fn apply_recovery_point(
        &self,
        item: &ItemRef,
        point_id: &str,
    ) -> Result<OperationId, FabricError>;

    /// Commits a failover.
    async fn commit(&self, item: &ItemRef) -> Result<OperationId, FabricError>;

    /// Rolls a failover back before commit: the replica is shut down and the VM runs again on
    /// the side it failed over from, replicating as before.
    async fn cancel_failover(&self, item: &ItemRef) -> Result<OperationId, FabricError>;

    /// Reverses replication after a failover.
    async fn reprotect(
        &self,
        item: &ItemRef,
        direction: Direction,
    ) -> Result<OperationId, FabricError>;

    /// Stops protecting a VM.
    async fn disable_protection(&self, item: &ItemRef) -> Result<OperationId, FabricError>;

    /// Where an operation is now.
    async fn operation(&self, id: &OperationId) -> Result<OperationStatus, FabricError>;

    /// How [`wait`](Self::wait) paces its polling.
    fn poll_limits(&self) -> PollLimits {
        PollLimits::default()
    }

    /// How many item operations (failovers, commits, …) wapdr keeps running at once in this
    /// engine: its concurrency, which every failover's VM steps share.
    fn max_parallel_operations(&self) -> u32 {
        DEFAULT_PARALLEL_OPERATIONS
    }

    /// Polls an operation until it ends or `timeout` passes (then returns its last status),
    /// waiting between polls as long as the engine asks, within [`poll_limits`](Self::poll_limits).
    async fn wait(
        &self,
        id: &OperationId,
        timeout: Duration,
    ) -> Result<OperationStatus, FabricError> {
        let limits = self.poll_limits();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = self.operation(id).await?;
            let now = tokio::time::Instant::now();
            if status.state.is_terminal() || now >= deadline {
                return Ok(status);
            }
            let pause = status
                .retry_after
                .unwrap_or(limits.min_interval)
                .max(limits.min_interval)
                .min(limits.max_interval)
                .min(deadline - now);
            tokio::time::sleep(pause).await;
        }
    }
}
