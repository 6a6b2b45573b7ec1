//! The rules of the product: identifiers, the subscription lifecycle, the DR quota schema and
//! provider setup (stamps, policies, cloud pairs and their resolution), and protection (DR
//! subscriptions, protected VMs, exclusion and quota admission), recovery plans, failover
//! (phases, settings, commit windows), site health (the heartbeat's verdict on each stamp), and
//! usage metering (periods, meters, the record of a subscription's period).
//!
//! This module does no I/O: no HTTP, no SQL, no clock reads. The edges (api, store) parse into these
//! types once and then pass them around.

pub mod exclusion;
pub mod failover;
pub mod failover_settings;
pub mod ids;
pub mod pairing;
pub mod protection;
pub mod quota;
pub mod recovery_plan;
pub mod setup;
pub mod site_health;
pub mod subscription;
pub mod usage;

pub use exclusion::{ExclusionActor, ExclusionError, set_exclusion};
pub use failover::{
    FailoverKind, FailoverPhase, FailoverRefusal, FailoverState, RecoveryPointChoice,
    RunningFailover, switch_target,
};
pub use failover_settings::{
    CommitPolicy, Deadline, DeadlineAction, FailoverSettings, WindowAction, deadline_after,
};
pub use ids::{InvalidId, SubscriptionId};
pub use pairing::{
    PairingError, PlanBinding, RequestedSide, StampPlans, check_new_pair, engine_policy_name,
    resolve_pair,
};
pub use protection::{
    Admission, DrPhase, DrSubscription, EXCLUDE_TAG, Exclusion, MirrorState, ProtectedVm, VmHealth,
    VmProtectionState, admit, tag_excludes,
};
pub use quota::{DrQuota, QuotaError, QuotaSetting, QuotaSources, SelfService};
pub use recovery_plan::{
    Action, Group, PlanDraft, PlanError, RecoveryPlan, SuccessRule, Webhook, default_plan,
    validate_plan,
};
pub use setup::{
    CloudPair, InitialReplicationMethod, NetworkMapping, PairSide, PairState, ReplicationPolicy,
    SetupError, Stamp,
};
pub use site_health::{
    Judgement, ServiceProbe, SiteHealth, SiteProbe, SiteProbeRecord, SiteService, SiteVerdict,
    judge,
};
pub use subscription::{LifecycleState, Subscription, SubscriptionChanges, SubscriptionState};
pub use usage::{
    DR_SERVICE_TYPE, DRILL_VM_HOURS, DrUsageSample, FAILED_OVER_VM_HOURS, MeteringPeriod,
    NewUsageRecord, PROTECTED_VM_HOURS, UsageRecord, dr_resource_id, usage_record_id, vm_hours,
};
