//! The bodies of the API as the OpenAPI description names them: schema-only types, never built.
//!
//! The wire is written by the contract codec (`ToWire`/`FromWire`), not by serde, so these types
//! describe what that codec sends (its member names, JSON enums as integers, nulls for absent
//! values) rather than deriving it from the Rust structs. The WAP contract bodies (notification,
//! usage, `Error`) are described member by member; the provider's own admin and tenant bodies are
//! described as objects whose members the endpoint's summary and the README give.
//! A test replays every documented operation against a running wapdr, and schemathesis checks
//! the answers against these schemas.

#![allow(dead_code)] // schema-only types: described, never constructed

use utoipa::openapi::schema::{
    AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// A WAP `Error` (`ResourceProviderError`): every 4xx and 5xx answer carries one.
#[derive(ToSchema)]
#[schema(as = Error, rename_all = "PascalCase")]
pub struct WapErrorBody {
    /// A short machine-readable code (`BadRequest`, `NotFound`, ...).
    code: String,
    /// The message shown to the admin or tenant.
    message: String,
    /// A finer-grained code.
    extended_code: Option<String>,
    /// The message with placeholders for `Parameters`.
    message_template: Option<String>,
    /// The values of the template's placeholders.
    parameters: Option<Vec<String>>,
    /// Errors that caused this one.
    #[schema(no_recursion)]
    inner_errors: Option<Vec<WapErrorBody>>,
}

/// A subscription as WAP and the RP exchange it (`ResourceProviderSubscription`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct Subscription {
    /// The WAP subscription id (a GUID).
    #[schema(format = Uuid)]
    subscription_id: String,
    /// The friendly name.
    subscription_name: Option<String>,
    /// `SubscriptionState`: 0 Active, 1 Suspended, 2 DeletePending (requests may also name it).
    #[schema(minimum = 0, maximum = 2)]
    state: Option<i64>,
    /// `SubscriptionLifecycleState`: 0 Provisioned, 1 Provisioning, 2 Updating, 3 Deleting,
    /// 4 Deleted, 5 OutOfSync.
    #[schema(minimum = 0, maximum = 5)]
    lifecycle_state: Option<i64>,
    /// Why the last operation failed.
    last_error_message: Option<String>,
    /// The effective quota for this RP.
    quota_settings: Option<Vec<QuotaSetting>>,
    /// The account admin.
    admin_id: Option<String>,
    /// The co-administrators.
    co_admin_ids: Option<Vec<String>>,
}

/// One quota setting of the DR service (`ServiceQuotaSetting`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct QuotaSetting {
    /// The setting (`DrEnabled`, `SelfService`, `MaxProtectedVms`, ...).
    key: String,
    /// Its value, as text.
    value: String,
}

/// A plan's or add-on's quota changed for a batch of subscriptions (`QuotaUpdateBatch`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct QuotaUpdateBatch {
    /// The plan's quota.
    base_quota: Option<Vec<QuotaSetting>>,
    /// The quotas of the subscriptions' add-ons.
    add_on_quotas: Option<Vec<Vec<QuotaSetting>>>,
    /// The subscriptions to update (GUIDs).
    subscription_ids_to_update: Vec<String>,
}

/// What became of a quota batch (`QuotaUpdateResultBatch`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct QuotaUpdateResultBatch {
    /// The subscriptions updated.
    updated_subscription_ids: Vec<String>,
    /// The subscriptions that could not be updated.
    failed_subscription_ids: Vec<String>,
    /// Why, when some failed.
    error: Option<WapErrorBody>,
}

/// The answer to `PUT /quota`: the outcome, or with `validateOnly=true` the batch echoed back
/// (as Microsoft's sample RP answers a valid batch).
pub struct QuotaAnswer;

impl utoipa::PartialSchema for QuotaAnswer {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name("QuotaUpdateResultBatch"))
            .item(Ref::from_schema_name("QuotaUpdateBatch"))
            .description(Some(
                "The outcome, or with validateOnly=true the valid batch echoed back.",
            ))
            .into()
    }
}

impl ToSchema for QuotaAnswer {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            ("QuotaUpdateResultBatch", QuotaUpdateResultBatch::schema()),
            ("QuotaUpdateBatch", QuotaUpdateBatch::schema()),
        ] {
            schemas.push((name.to_owned(), schema));
        }
        QuotaUpdateResultBatch::schemas(schemas);
        QuotaUpdateBatch::schemas(schemas);
    }
}

/// What a subscription uses of its DR quota (`ServiceUsageSummary`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct ServiceUsageSummary {
    /// The RP's name.
    service_name: String,
    /// The RP's display name.
    service_display_name: String,
    /// Whether the usage could be read.
    retrieved_successfully: bool,
    /// Why not.
    error_message: Option<String>,
    /// One entry per metered quantity.
    usages: Vec<Usage>,
}

/// One metered quantity against its limit (`Usage`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct Usage {
    /// What is counted.
    display_name: String,
    /// How much is used.
    current_value: i64,
    /// The quota's limit.
    limit: i64,
    /// The unit.
    unit_display_name: String,
    /// The group.
    group_id: Option<String>,
    /// The group's display name.
    group_display_name: Option<String>,
}

/// A metering record for WAP's usage collector (`UsageRecord`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct UsageRecord {
    /// The end of the metered interval.
    end_time: time::OffsetDateTime,
    /// The record's id; pass the last one seen as `lastID`.
    event_id: i64,
    /// The record's id in wapdr.
    external_record_id: String,
    /// Free-form properties.
    properties: std::collections::BTreeMap<String, String>,
    /// The RP's name.
    provider_name: String,
    /// What was metered.
    resource_id: String,
    /// The metered quantities.
    resources: std::collections::BTreeMap<String, String>,
    /// The service type.
    service_type: String,
    /// The start of the metered interval.
    start_time: time::OffsetDateTime,
    /// The subscription (a GUID).
    subscription_id: String,
}

/// A stamp named in a DR status.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct StampRef {
    /// The stamp's id.
    #[schema(format = Uuid)]
    id: String,
    /// Its name (null when the stamp is no longer stored).
    name: Option<String>,
}

/// A subscription's DR status, as its tenant and the provider see it.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct DrStatus {
    /// The subscription.
    #[schema(format = Uuid)]
    subscription_id: String,
    /// Whether DR is on (the quota's DrEnabled and a DR record not disabled).
    enabled: bool,
    /// The DR phase (`Enabling`, `Protected`, `FailedOver`, ...); null before DR was ever enabled.
    phase: Option<String>,
    /// Why the phase is what it is, when there is something to say.
    message: Option<String>,
    /// The stamp the VMs are protected from.
    primary_stamp: Option<StampRef>,
    /// The stamp they fail over to.
    recovery_stamp: Option<StampRef>,
    /// The stamp they run on now.
    active_stamp: Option<StampRef>,
    /// The tenant portal of the active stamp.
    portal_url: Option<String>,
    /// The cloud pair.
    cloud_pair_id: Option<String>,
    /// The mirror subscription on the recovery stamp (`Suspended`, `Active`, ...).
    mirror: Option<String>,
    /// VM records by protection state (every state named, 0 when none).
    vm_counts: std::collections::BTreeMap<String, i64>,
    /// The worst replication health of the Protected VMs.
    worst_health: Option<String>,
    /// The largest RPO of the Protected VMs, in seconds.
    rpo_seconds: Option<i64>,
    /// The quota's SelfService (`None`, `Drill`, `Full`).
    self_service: Option<String>,
    /// The quota's MaxProtectedVms.
    max_protected_vms: Option<i64>,
    /// The failover state: the operation under way or last done, what may be done next.
    #[schema(value_type = Option<Object>)]
    failover: Option<()>,
    /// When the DR record last changed.
    updated_at: Option<time::OffsetDateTime>,
}

/// One VM's protection record.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct DrVm {
    /// The VM (its SPF id).
    #[schema(format = Uuid)]
    id: String,
    /// Its name.
    name: String,
    /// Its protection state (`Protected`, `Enabling`, `Excluded`, `Failed`, ...).
    state: String,
    /// Who excluded it (`Tenant`, `Provider`, `Tag`), if excluded.
    exclusion: Option<String>,
    /// Why it is in its state.
    reason: Option<String>,
    /// Replication health (`Normal`, `Warning`, `Critical`).
    health: Option<String>,
    /// What the replication engine said about it.
    health_detail: Option<String>,
    /// Seconds since the last replication, for a Protected VM.
    rpo_seconds: Option<i64>,
    /// The last replication.
    last_replicated: Option<time::OffsetDateTime>,
    /// The last recovery point.
    last_recovery_point: Option<time::OffsetDateTime>,
    /// Initial replication progress, 0 to 100.
    initial_replication_percent: Option<i64>,
    /// The replica on the recovery stamp.
    replica_vm_id: Option<String>,
    /// When it became protected.
    protected_at: Option<time::OffsetDateTime>,
    /// The stamp it runs on.
    #[schema(format = Uuid)]
    stamp_id: String,
    /// Its cloud pair.
    #[schema(format = Uuid)]
    cloud_pair_id: String,
}

/// A VM after an exclusion change: its record's members and `JobId`, the reconciliation job
/// started for it (null when it already was so).
pub struct ProtectionChange;

impl PartialSchema for ProtectionChange {
    fn schema() -> RefOr<Schema> {
        let job = ObjectBuilder::new().property(
            "JobId",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some(
                    "The job reconciling the VM; null when it already was so.",
                )),
        );
        AllOfBuilder::new()
            .item(Ref::from_schema_name("DrVm"))
            .item(job)
            .description(Some(
                "A VM after an exclusion change, with the job started for it.",
            ))
            .into()
    }
}

impl ToSchema for ProtectionChange {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("DrVm".to_owned(), DrVm::schema()));
    }
}

/// Exclude a VM from DR (`true`) or include it again (`false`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct ProtectionInput {
    /// Whether the VM is to be left out of DR.
    excluded: bool,
}

/// A failover operation to start (names are also accepted in PascalCase).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct FailoverRequest {
    /// `TestFailover` (a drill), `CleanupTestFailover`, `PlannedFailover`, `UnplannedFailover`,
    /// `Commit`, `Rollback`, `Reprotect` or `Failback`.
    kind: String,
    /// Unplanned failover only: `Latest`, `LatestProcessed` or a recovery point's time.
    recovery_point: Option<String>,
    /// Unplanned failover only: the admin confirms the source stamp is down.
    source_down: Option<bool>,
    /// Why, for the job's audit.
    reason: Option<String>,
    /// Planned or unplanned failover only: what happens if nobody commits in time.
    commit_policy: Option<CommitPolicyInput>,
    /// Test failover only: clean the drill up after this many minutes.
    cleanup_after_minutes: Option<i64>,
}

/// What happens to an uncommitted failover.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CommitPolicyInput {
    /// `Commit`, `Rollback` or `Nothing`.
    on_expiry: String,
    /// After how many minutes.
    after_minutes: Option<i64>,
}

/// A started operation.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct FailoverStarted {
    /// The subscription.
    #[schema(format = Uuid)]
    subscription_id: String,
    /// The operation.
    kind: String,
    /// The recovery plan ordering it, if any.
    recovery_plan_id: Option<String>,
    /// The job doing it.
    #[schema(format = Uuid)]
    job_id: String,
}

/// A job: a workflow run.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct Job {
    /// The job's id.
    #[schema(format = Uuid)]
    id: String,
    /// Its workflow kind (`enable_dr`, `failover`, ...).
    workflow: String,
    /// `Pending`, `Running`, `Waiting`, `Succeeded`, `Failed` or `Cancelled`.
    state: String,
    /// What started it (`api`, `notification`, `schedule`, ...).
    trigger: String,
    /// Who started it.
    started_by: String,
    /// Why.
    reason: Option<String>,
    /// The subscription it is about.
    subscription_id: Option<String>,
    /// The job that started it.
    parent_job_id: Option<String>,
    /// Why it failed.
    error: Option<String>,
    /// Its parameters, as JSON text.
    parameters: String,
    /// The stage it is at.
    current_stage: i64,
    /// When it was created.
    created_at: time::OffsetDateTime,
    /// When it started.
    started_at: Option<time::OffsetDateTime>,
    /// When it ended.
    finished_at: Option<time::OffsetDateTime>,
    /// How long it took, in milliseconds.
    duration_ms: Option<i64>,
    /// Its steps (one job's detail only).
    steps: Option<Vec<Step>>,
}

/// A step of a job.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct Step {
    /// Its number in the job.
    id: i64,
    /// Its stage.
    stage: i64,
    /// Its name.
    name: String,
    /// What it does.
    kind: String,
    /// `Pending`, `Running`, `Waiting`, `Succeeded`, `Failed` or `Cancelled`.
    state: String,
    /// Attempts made.
    attempts: i64,
    /// Retries after transient failures.
    retries: i64,
    /// Whether it may run more than once.
    at_least_once: bool,
    /// What it waits for (`until`, `ack`).
    waiting_for: Option<String>,
    /// The prompt of a manual step.
    ack_prompt: Option<String>,
    /// Who acknowledged it.
    acknowledged_by: Option<String>,
    /// Their comment.
    ack_comment: Option<String>,
    /// When.
    acknowledged_at: Option<time::OffsetDateTime>,
    /// The instance running it.
    lease_owner: Option<String>,
    /// Until when.
    lease_expires_at: Option<time::OffsetDateTime>,
    /// Not before this time.
    not_before: Option<time::OffsetDateTime>,
    /// Its last error.
    error: Option<String>,
    /// Its input, as JSON text.
    input: String,
    /// Its output, as JSON text.
    output: Option<String>,
    /// When it started.
    started_at: Option<time::OffsetDateTime>,
    /// When it ended.
    finished_at: Option<time::OffsetDateTime>,
    /// How long it took, in milliseconds.
    duration_ms: Option<i64>,
}

/// A recovery plan: the order a failover brings a subscription's VMs up in.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct RecoveryPlan {
    /// The plan's id.
    #[schema(format = Uuid)]
    id: String,
    /// The subscription.
    #[schema(format = Uuid)]
    subscription_id: String,
    /// Its name, unique in the subscription.
    name: String,
    /// What it is for.
    description: Option<String>,
    /// Whether it is the default plan wapdr keeps in sync with the protected VMs.
    is_default: bool,
    /// The groups, brought up one after the other.
    groups: Vec<RecoveryPlanGroup>,
    /// The version to name in a replacement (optimistic concurrency).
    version: i64,
    /// When it last changed.
    updated_at: Option<time::OffsetDateTime>,
}

/// A recovery plan as written (created or replaced).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct RecoveryPlanInput {
    /// Its name, unique in the subscription.
    name: String,
    /// What it is for.
    description: Option<String>,
    /// The groups, brought up one after the other.
    groups: Option<Vec<RecoveryPlanGroup>>,
    /// A replacement: the version it replaces (409 when stale).
    version: Option<i64>,
}

/// A group of VMs failed over together.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct RecoveryPlanGroup {
    /// Its name.
    name: String,
    /// Seconds to wait after the previous group.
    #[schema(minimum = 0)]
    delay_seconds: Option<i64>,
    /// Its VMs (GUIDs).
    vms: Option<Vec<String>>,
    /// Actions before its VMs start.
    pre_actions: Option<Vec<RecoveryPlanAction>>,
    /// Actions after.
    post_actions: Option<Vec<RecoveryPlanAction>>,
}

/// A step of a recovery plan group: a script (webhook), a runbook or a manual step.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct RecoveryPlanAction {
    /// `Script`, `Runbook` or `Manual`.
    kind: String,
    /// Script: the URL called.
    url: Option<String>,
    /// Script: how long to wait.
    #[schema(minimum = 0)]
    timeout_seconds: Option<i64>,
    /// Script: the statuses that mean success.
    success_status_codes: Option<Vec<i64>>,
    /// Script: text the answer must contain.
    success_body_contains: Option<String>,
    /// Runbook: its name.
    runbook: Option<String>,
    /// Manual: what the operator is asked to do.
    prompt: Option<String>,
}

/// A stamp: a WAP/SPF site wapdr protects from or to (its secrets never shown).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct Stamp {
    /// wapdr's id of the stamp.
    #[schema(format = Uuid)]
    id: String,
    /// Its name.
    name: String,
    /// Its SPF (Service Provider Foundation) URL.
    spf_url: String,
    /// The SPF user.
    spf_username: String,
    /// Whether an SPF password is stored.
    has_spf_password: bool,
    /// The VMM stamp id SPF reports, once verified.
    spf_stamp_id: Option<String>,
    /// Its WAP admin API URL.
    wap_admin_url: String,
    /// Whether a WAP admin token is stored.
    has_wap_admin_token: bool,
    /// Its tenant portal URL.
    tenant_portal_url: String,
    /// Whether wapdr fails over from it on its own when it is down.
    auto_failover: bool,
}

/// A stamp as written: a create needs every member but `AutoFailover`; an update changes those
/// given.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct StampInput {
    /// Its name.
    name: Option<String>,
    /// Its SPF URL.
    spf_url: Option<String>,
    /// The SPF user.
    spf_username: Option<String>,
    /// The SPF password.
    spf_password: Option<String>,
    /// Its WAP admin API URL.
    wap_admin_url: Option<String>,
    /// A WAP admin API token.
    wap_admin_token: Option<String>,
    /// Its tenant portal URL.
    tenant_portal_url: Option<String>,
    /// Whether wapdr fails over from it on its own when it is down.
    auto_failover: Option<bool>,
}

/// A replication policy.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct ReplicationPolicy {
    /// Its name.
    name: String,
    /// How often changes are copied, in seconds.
    copy_frequency_seconds: i64,
    /// How many recovery points are kept.
    recovery_points: i64,
    /// How often an app-consistent snapshot is taken, in hours.
    app_consistent_frequency_hours: i64,
    /// How initial replication happens (`OverNetwork`, ...).
    initial_replication: String,
    /// Whether replication traffic is compressed.
    compression: bool,
}

/// A replication policy as written: a create needs `Name`; an update changes those given.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct ReplicationPolicyInput {
    /// Its name.
    name: Option<String>,
    /// How often changes are copied, in seconds.
    copy_frequency_seconds: Option<i64>,
    /// How many recovery points are kept.
    recovery_points: Option<i64>,
    /// How often an app-consistent snapshot is taken, in hours.
    app_consistent_frequency_hours: Option<i64>,
    /// How initial replication happens.
    initial_replication: Option<String>,
    /// Whether replication traffic is compressed.
    compression: Option<bool>,
}

/// A cloud pair: a primary stamp's plan and cloud replicated to a recovery stamp's.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct CloudPair {
    /// The pair's id.
    #[schema(format = Uuid)]
    id: String,
    /// Where VMs are protected from.
    primary: CloudPairSide,
    /// Where they fail over to.
    recovery: CloudPairSide,
    /// The replication policy's name.
    policy: String,
    /// `Pending`, `Paired` or `Failed`.
    state: String,
    /// Why pairing failed.
    error: Option<String>,
    /// The recovery stamp's network test failovers attach to.
    test_network_id: Option<String>,
}

/// One side of a cloud pair.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct CloudPairSide {
    /// The stamp.
    #[schema(format = Uuid)]
    stamp_id: String,
    /// Its name (null when no longer stored).
    stamp_name: Option<String>,
    /// The WAP plan.
    plan_id: String,
    /// The plan's name.
    plan_name: String,
    /// The VMM cloud.
    #[schema(format = Uuid)]
    cloud_id: String,
}

/// A cloud pair to create.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct CloudPairInput {
    /// Where VMs are protected from.
    primary: CloudPairSideInput,
    /// Where they fail over to.
    recovery: CloudPairSideInput,
    /// The replication policy's name.
    policy: String,
}

/// One side of a cloud pair to create.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct CloudPairSideInput {
    /// The stamp: its id or its name.
    stamp_id: String,
    /// The WAP plan.
    plan_id: String,
    /// The VMM cloud (a GUID).
    cloud_id: String,
}

/// Who acknowledges a manual step, and why (both optional; nothing else is accepted).
#[derive(ToSchema)]
pub struct Acknowledgement {
    /// Who.
    by: Option<String>,
    /// Why.
    comment: Option<String>,
}

/// Who cancels a job (optional; nothing else is accepted).
#[derive(ToSchema)]
pub struct Cancellation {
    /// Who.
    by: Option<String>,
}

/// A runbook: a workflow the provider runs on a schedule, on events or by hand.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct Runbook {
    /// Its name.
    name: String,
    /// What it does.
    description: String,
    /// The workflow it starts.
    workflow: String,
    /// Whether it runs.
    enabled: bool,
    /// Its cron schedule.
    schedule: Option<String>,
    /// The VM events that start it.
    events: Vec<String>,
    /// The workflow's parameters, as JSON text.
    parameters: String,
    /// Whether this build can run it.
    available: bool,
    /// Why not.
    unavailable_reason: Option<String>,
    /// When its schedule last fired.
    last_tick: Option<time::OffsetDateTime>,
    /// When it fires next.
    next_tick: Option<time::OffsetDateTime>,
    /// The token its webhook wants (one runbook's detail only).
    webhook_token: Option<String>,
}

/// A runbook's settings to change (either may be left out; nothing else is accepted).
#[derive(ToSchema)]
pub struct RunbookSettings {
    /// Whether it runs.
    enabled: Option<bool>,
    /// Its cron schedule; null for none.
    schedule: Option<String>,
}

/// A runbook to start now (nothing else is accepted).
#[derive(ToSchema)]
pub struct RunbookStart {
    /// Parameters for its workflow, over the runbook's own.
    #[schema(value_type = Option<Object>)]
    parameters: Option<()>,
}

/// A cloud pair's network mappings and its test-failover network.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct NetworkMappings {
    /// The pair.
    #[schema(format = Uuid)]
    cloud_pair_id: String,
    /// The recovery stamp's network test failovers attach to.
    test_network_id: Option<String>,
    /// Which recovery network each primary network maps to.
    mappings: Vec<NetworkMapping>,
}

/// The network mappings to hold (replacing the pair's).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct NetworkMappingsInput {
    /// Which recovery network each primary network maps to (a primary network at most once).
    mappings: Option<Vec<NetworkMapping>>,
}

/// A primary VM network and the recovery network its VMs fail over to.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct NetworkMapping {
    /// A VM network of the primary stamp (a GUID).
    primary_network_id: String,
    /// A VM network of the recovery stamp (a GUID).
    recovery_network_id: String,
}

/// The network test failovers of a pair attach to.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct TestNetworkInput {
    /// A VM network of the recovery stamp (a GUID); null or absent clears it.
    network_id: Option<String>,
}

/// A subscription's failover settings.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct FailoverSettings {
    /// Its place in a site failover (lower first).
    priority: i64,
    /// What happens to a failover nobody commits.
    commit_policy: CommitPolicy,
    /// Minutes after which a drill is cleaned up; null for never.
    drill_cleanup_after_minutes: Option<i64>,
}

/// What happens to an uncommitted failover, as the settings hold it.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct CommitPolicy {
    /// `Commit`, `Rollback` or `Nothing`.
    on_expiry: String,
    /// After how many minutes (null with `Nothing`).
    after_minutes: Option<i64>,
}

/// Failover settings to change (members left out keep their value; camelCase names are also
/// accepted).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct FailoverSettingsInput {
    /// Its place in a site failover.
    priority: Option<i64>,
    /// What happens to a failover nobody commits.
    commit_policy: Option<CommitPolicyInput>,
    /// Minutes after which a drill is cleaned up; null for never.
    drill_cleanup_after_minutes: Option<i64>,
}

/// A site failover started: the parent job of every subscription's failover.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct SiteFailover {
    /// The stamp failed over from.
    #[schema(format = Uuid)]
    stamp_id: String,
    /// The operation.
    kind: String,
    /// The parent job.
    #[schema(format = Uuid)]
    job_id: String,
}

/// A VM event from a stamp (SPF or VMM names are also accepted: `ID`, `VirtualMachineId`,
/// `EventType`, `Action`).
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct VmEvent {
    /// `created`, `deleted` or `changed`.
    event: Option<String>,
    /// The VM (a GUID).
    vm_id: Option<String>,
    /// The stamp: wapdr's id or the VMM stamp id SPF reports.
    stamp_id: Option<String>,
}

/// What wapdr did with a VM event.
#[derive(ToSchema)]
#[schema(rename_all = "PascalCase")]
pub struct VmEventAnswer {
    /// The event.
    event: String,
    /// The VM.
    #[schema(format = Uuid)]
    vm_id: String,
    /// The subscription the VM belongs to, when known.
    subscription_id: Option<String>,
    /// `Reconcile` or `None`.
    action: String,
    /// The VM's reconciliation job, if one started.
    job_id: Option<String>,
    /// What happened.
    message: String,
}

/// Declares provider bodies described as objects (members in the endpoint's summary and README).
macro_rules! provider_bodies {
    ($($(#[doc = $doc:literal])* $name:ident;)*) => {
        $(
            $(#[doc = $doc])*
            #[derive(ToSchema)]
            pub struct $name {}
        )*
    };
}

provider_bodies! {
    /// A failover operation request: `Operation` (`PlannedFailover`, `UnplannedFailover`,
    /// A failover report: what each VM and group did, the RTO and RPO achieved.
    Report;
    /// `{"Reports": [...]}`: failover report summaries, newest first.
    ReportList;
    /// A stamp's health: heartbeat, reachability of its SPF, WAP and replication engine.
    StampHealth;
    /// A stamp's verification: what answered and what did not.
    StampVerification;
    /// A cloud of a stamp's VMM.
    Cloud;
    /// A WAP plan of a stamp.
    Plan;
    /// A VM network of a stamp.
    VmNetwork;
}
