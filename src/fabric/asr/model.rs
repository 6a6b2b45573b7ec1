//! The ARM/ASR resources wapdr reads, tolerant on reading: every response body of the recorded
//! examples (`../shared/fixtures/asr/`) reads into these types. Nothing here does I/O.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::fabric::tolerant::{opt_i64, opt_text, opt_time, text_list};

/// The ARM envelope of every resource.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Resource<P> {
    /// The ARM id (`/Subscriptions/…`; compare without regard to case).
    #[serde(default)]
    pub id: String,
    /// The resource name (a GUID for items and jobs).
    #[serde(default)]
    pub name: String,
    /// The resource type.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The resource's own properties.
    pub properties: P,
}

/// An ARM list page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(bound(deserialize = "P: serde::de::DeserializeOwned"))]
pub struct List<P> {
    /// The resources of this page.
    #[serde(default)]
    pub value: Vec<Resource<P>>,
    /// The next page, when more remain.
    #[serde(default, deserialize_with = "opt_text")]
    pub next_link: Option<String>,
}

/// A fabric: one registered VMM server.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FabricProperties {
    /// The VMM server name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// The SPF stamp id of the VMM server.
    #[serde(deserialize_with = "opt_text")]
    pub internal_identifier: Option<String>,
}

/// A protection container: one VMM cloud.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContainerProperties {
    /// The cloud name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// `Paired` / `NotPaired`.
    #[serde(deserialize_with = "opt_text")]
    pub pairing_status: Option<String>,
}

/// A replication policy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PolicyProperties {
    /// The policy name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// The Hyper-V Replica settings as stored.
    pub provider_specific_details: Option<PolicyDetails>,
}

/// The Hyper-V Replica settings of a policy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PolicyDetails {
    /// The provider type.
    #[serde(deserialize_with = "opt_text")]
    pub instance_type: Option<String>,
    /// Seconds between copies.
    #[serde(deserialize_with = "opt_i64")]
    pub replication_frequency_in_seconds: Option<i64>,
    /// Recovery points kept.
    #[serde(deserialize_with = "opt_i64")]
    pub recovery_points: Option<i64>,
    /// Hours between app-consistent snapshots.
    #[serde(deserialize_with = "opt_i64")]
    pub application_consistent_snapshot_frequency_in_hours: Option<i64>,
    /// `Enable` / `Disable`.
    #[serde(deserialize_with = "opt_text")]
    pub compression: Option<String>,
    /// `OverNetwork` / `Offline`.
    #[serde(deserialize_with = "opt_text")]
    pub initial_replication_method: Option<String>,
}

/// A container mapping (cloud pairing).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MappingProperties {
    /// `Paired`, ….
    #[serde(deserialize_with = "opt_text")]
    pub state: Option<String>,
    /// The recovery container's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub target_protection_container_id: Option<String>,
    /// The policy's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub policy_id: Option<String>,
}

/// A network mapping.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NetworkMappingProperties {
    /// `Paired`, ….
    #[serde(deserialize_with = "opt_text")]
    pub state: Option<String>,
    /// The recovery network (ARM id or VM network id).
    #[serde(deserialize_with = "opt_text")]
    pub recovery_network_id: Option<String>,
    /// The recovery fabric's name.
    #[serde(deserialize_with = "opt_text")]
    pub recovery_fabric_name: Option<String>,
}

/// A protectable item: a VM of a cloud.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProtectableItemProperties {
    /// The VM name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// `Unprotected` / `Protected`.
    #[serde(deserialize_with = "opt_text")]
    pub protection_status: Option<String>,
    /// The RPI's ARM id once protected.
    #[serde(deserialize_with = "opt_text")]
    pub replication_protected_item_id: Option<String>,
    /// Why it cannot be protected.
    #[serde(deserialize_with = "text_list")]
    pub protection_readiness_errors: Vec<String>,
}

/// A replication protected item (RPI).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProtectedItemProperties {
    /// The VM name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// `Protected`, `PlannedFailoverCommitRequired`, ….
    #[serde(deserialize_with = "opt_text")]
    pub protection_state: Option<String>,
    /// Its human description.
    #[serde(deserialize_with = "opt_text")]
    pub protection_state_description: Option<String>,
    /// `Primary` / `Recovery`.
    #[serde(deserialize_with = "opt_text")]
    pub active_location: Option<String>,
    /// `None`, `WaitingForCompletion`, `MarkedForDeletion`.
    #[serde(deserialize_with = "opt_text")]
    pub test_failover_state: Option<String>,
    /// What the service allows next.
    #[serde(deserialize_with = "text_list")]
    pub allowed_operations: Vec<String>,
    /// `Normal`, `Warning`, `Critical`.
    #[serde(deserialize_with = "opt_text")]
    pub replication_health: Option<String>,
    /// Why health is not normal.
    pub replication_health_errors: Option<Vec<HealthError>>,
    /// The operation running on the item.
    pub current_scenario: Option<CurrentScenario>,
    /// The policy's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub policy_id: Option<String>,
    /// The recovery container's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub recovery_container_id: Option<String>,
    /// The last successful failover.
    #[serde(deserialize_with = "opt_time")]
    pub last_successful_failover_time: Option<OffsetDateTime>,
    /// The last successful test failover.
    #[serde(deserialize_with = "opt_time")]
    pub last_successful_test_failover_time: Option<OffsetDateTime>,
    /// The replication provider's details.
    pub provider_specific_details: Option<ItemDetails>,
}

/// One health error of an item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HealthError {
    /// The error code (`67518`).
    #[serde(deserialize_with = "opt_text")]
    pub error_code: Option<String>,
    /// The message.
    #[serde(deserialize_with = "opt_text")]
    pub error_message: Option<String>,
}

/// The operation running on an item (`None` when idle).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CurrentScenario {
    /// `TestFailover`, `PlannedFailover`, `None`.
    #[serde(deserialize_with = "opt_text")]
    pub scenario_name: Option<String>,
    /// The job's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub job_id: Option<String>,
}

/// The Hyper-V Replica details of an item.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ItemDetails {
    /// The provider type.
    #[serde(deserialize_with = "opt_text")]
    pub instance_type: Option<String>,
    /// The Hyper-V VM id.
    #[serde(deserialize_with = "opt_text")]
    pub vm_id: Option<String>,
    /// When the last delta arrived.
    #[serde(deserialize_with = "opt_time")]
    pub last_replicated_time: Option<OffsetDateTime>,
    /// Initial replication progress.
    pub initial_replication_details: Option<InitialReplicationDetails>,
    /// The SPF id of the replica VM (lab extension).
    #[serde(deserialize_with = "opt_text")]
    pub recovery_vm_id: Option<String>,
}

/// Initial replication progress.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct InitialReplicationDetails {
    /// `OverNetwork` / `Offline`.
    #[serde(deserialize_with = "opt_text")]
    pub initial_replication_type: Option<String>,
    /// Percent copied.
    #[serde(deserialize_with = "opt_i64")]
    pub initial_replication_progress_percentage: Option<i64>,
}

/// A recovery point.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecoveryPointProperties {
    /// When it was taken.
    #[serde(deserialize_with = "opt_time")]
    pub recovery_point_time: Option<OffsetDateTime>,
    /// `CrashConsistent` / `ApplicationConsistent`.
    #[serde(deserialize_with = "opt_text")]
    pub recovery_point_type: Option<String>,
}

/// An ASR job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct JobProperties {
    /// `PlannedFailover`, `TestFailover`, ….
    #[serde(deserialize_with = "opt_text")]
    pub scenario_name: Option<String>,
    /// Its human name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// `NotStarted`, `InProgress`, `Succeeded`, `Failed`, `Cancelled`, `Suspended`.
    #[serde(deserialize_with = "opt_text")]
    pub state: Option<String>,
    /// `Completed`, `WaitingForStopTestFailover`, ….
    #[serde(deserialize_with = "opt_text")]
    pub state_description: Option<String>,
    /// When it started.
    #[serde(deserialize_with = "opt_time")]
    pub start_time: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(deserialize_with = "opt_time")]
    pub end_time: Option<OffsetDateTime>,
    /// The object it works on.
    #[serde(deserialize_with = "opt_text")]
    pub target_object_id: Option<String>,
    /// Its steps.
    pub tasks: Vec<JobTask>,
    /// Why it failed.
    pub errors: Vec<JobError>,
    /// Provider details (`affectedObjectDetails`).
    pub custom_details: Option<Value>,
}

/// One step of a job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct JobTask {
    /// The step's id.
    #[serde(deserialize_with = "opt_text")]
    pub task_id: Option<String>,
    /// The step's name.
    #[serde(deserialize_with = "opt_text")]
    pub name: Option<String>,
    /// Its human name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// Its state.
    #[serde(deserialize_with = "opt_text")]
    pub state: Option<String>,
    /// When it started.
    #[serde(deserialize_with = "opt_time")]
    pub start_time: Option<OffsetDateTime>,
    /// When it ended.
    #[serde(deserialize_with = "opt_time")]
    pub end_time: Option<OffsetDateTime>,
    /// Why it failed.
    pub errors: Vec<JobError>,
}

/// An error of a job or task.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct JobError {
    /// The service's error.
    pub service_error_details: Option<ServiceError>,
}

/// The service's error inside a job.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServiceError {
    /// The code (`532`).
    #[serde(deserialize_with = "opt_text")]
    pub code: Option<String>,
    /// The message.
    #[serde(deserialize_with = "opt_text")]
    pub message: Option<String>,
}

/// The answer of an `Azure-AsyncOperation` status URL.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AsyncOperation {
    /// The operation (job) name.
    #[serde(deserialize_with = "opt_text")]
    pub name: Option<String>,
    /// `InProgress`, `Succeeded`, `Failed`, `Canceled`.
    #[serde(deserialize_with = "opt_text")]
    pub status: Option<String>,
    /// Why it failed.
    pub error: Option<ServiceError>,
}

/// A recovery plan.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecoveryPlanProperties {
    /// The plan's name.
    #[serde(deserialize_with = "opt_text")]
    pub friendly_name: Option<String>,
    /// The primary fabric's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub primary_fabric_id: Option<String>,
    /// The recovery fabric's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub recovery_fabric_id: Option<String>,
    /// What the service allows next.
    #[serde(deserialize_with = "text_list")]
    pub allowed_operations: Vec<String>,
    /// The groups, the service's `Shutdown` and `Failover` groups first.
    pub groups: Vec<RecoveryPlanGroup>,
}

/// A group of a recovery plan.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecoveryPlanGroup {
    /// `Shutdown`, `Failover`, `Boot`.
    #[serde(deserialize_with = "opt_text")]
    pub group_type: Option<String>,
    /// Its items.
    pub replication_protected_items: Vec<RecoveryPlanItem>,
    /// Actions before the group starts.
    pub start_group_actions: Vec<Value>,
    /// Actions after it.
    pub end_group_actions: Vec<Value>,
}

/// An item of a recovery plan group.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RecoveryPlanItem {
    /// The RPI's ARM id.
    #[serde(deserialize_with = "opt_text")]
    pub id: Option<String>,
    /// The VM id.
    #[serde(deserialize_with = "opt_text")]
    pub virtual_machine_id: Option<String>,
}
