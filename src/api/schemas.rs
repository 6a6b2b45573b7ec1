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

use utoipa::openapi::schema::{OneOfBuilder, Schema};
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
    /// A subscription's DR status: phase, pair, stamps, VM counts, worst health and RPO, failover.
    DrStatus;
    /// A VM's protection record: state, health, RPO, replica, exclusion.
    DrVm;
    /// A protection change: the VM and the `JobId` of its reconciliation.
    ProtectionChange;
    /// `{"Excluded": true|false}`: exclude a VM from DR or include it again.
    ProtectionInput;
    /// A job (workflow run): state, trigger, parameters, timings and, in detail, its steps.
    Job;
    /// `{"by": "...", "comment": "..."}`, both optional.
    Acknowledgement;
    /// A failover operation request: `Operation` (`PlannedFailover`, `UnplannedFailover`,
    /// `TestFailover`, `CleanupTest`, `Commit`, `Rollback`, `Reprotect`, `Failback`), `Reason`, ...
    FailoverRequest;
    /// A started operation: its `JobId` and what it covers.
    FailoverStarted;
    /// A subscription's failover settings (commit policy, ...).
    FailoverSettings;
    /// A recovery plan: name, description and ordered groups of VMs with their actions.
    RecoveryPlan;
    /// A recovery plan as written: `Name`, `Description`, `Groups`.
    RecoveryPlanInput;
    /// A failover report: what each VM and group did, the RTO and RPO achieved.
    Report;
    /// `{"Reports": [...]}`: failover report summaries, newest first.
    ReportList;
    /// A runbook: its name, schedule, workflow and state.
    Runbook;
    /// A runbook's settings.
    RunbookInput;
    /// A site failover started: the parent job and the subscriptions it covers.
    SiteFailover;
    /// A stamp's health: heartbeat, reachability of its SPF, WAP and replication engine.
    StampHealth;
    /// A stamp: a WAP/SPF site wapdr protects from or to.
    Stamp;
    /// A stamp as written: name, SPF and WAP endpoints and credentials.
    StampInput;
    /// A stamp's verification: what answered and what did not.
    StampVerification;
    /// A cloud of a stamp's VMM.
    Cloud;
    /// A WAP plan of a stamp.
    Plan;
    /// A VM network of a stamp.
    VmNetwork;
    /// A replication policy: frequency, recovery points, ...
    ReplicationPolicy;
    /// A cloud pair: primary and recovery cloud and plan, policy, state.
    CloudPair;
    /// A cloud pair as written: `Primary`, `Recovery` and `Policy`.
    CloudPairInput;
    /// A cloud pair's network mappings and its test-failover network.
    NetworkMappings;
    /// `{"Mappings": [{"PrimaryNetworkId", "RecoveryNetworkId"}]}`.
    NetworkMappingsInput;
    /// `{"NetworkId": "..."}` (or null to clear).
    TestNetworkInput;
    /// A VM event from SPF/VMM (created, deleted, moved...).
    VmEvent;
    /// What wapdr did with a VM event.
    VmEventAnswer;
}
