//! What the tenant and admin DR APIs share: the DR status of a subscription and the view of its
//! VMs as they go on the wire, and the exclusion change both ends make (record it, then start the
//! VM's reconciliation).
//!
//! Views are built from the store alone — never from the fabric — so a stamp that is down never
//! stops a tenant or a provider from seeing where their DR stands. "Now" for RPOs is the database
//! clock, the one clock every instance agrees on.

use std::collections::BTreeMap;
use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::contract::{ContractError, FromWire, Node, Out, ToWire};
use crate::domain::{
    DrPhase, DrSubscription, ExclusionActor, ExclusionError, ProtectedVm, SubscriptionId, VmHealth,
    VmProtectionState, set_exclusion,
};
use crate::domain::{DrQuota, FailoverPhase, FailoverState, Stamp, Subscription};
use crate::engine::{StartRequest, start_run};
use crate::store::{StoreError, SubscriptionSnapshot};
use crate::workflows::{RECONCILE_VM, last_job_running, reconcile_vm_params};

use super::AppState;
use super::error::ApiError;
use super::jobs::opt_time;
use super::notification::parse_id;

/// How often an exclusion change is retried when another writer changed the VM record first.
const SAVE_ATTEMPTS: usize = 5;

/// A stamp as the DR views name it: its id and (while it is registered) its name.
fn stamp_ref(id: Option<Uuid>, stamps: &BTreeMap<Uuid, Stamp>) -> Out {
    id.map_or(Out::Null, |id| {
        Out::Obj(vec![
            ("Id", Out::Str(id.to_string())),
            (
                "Name",
                Out::opt_str(&stamps.get(&id).map(|s| s.name.clone())),
            ),
        ])
    })
}

/// One subscription's DR status.
pub struct DrStatusView {
    subscription_id: SubscriptionId,
    quota: Option<DrQuota>,
    dr: Option<DrSubscription>,
    stamps: BTreeMap<Uuid, Stamp>,
    counts: BTreeMap<&'static str, u64>,
    worst_health: Option<VmHealth>,
    rpo_seconds: Option<i64>,
    failover: Option<FailoverState>,
}

impl DrStatusView {
    /// Whether DR is on: the quota grants it and the record is not switched off.
    fn enabled(&self) -> bool {
        self.quota.is_some_and(|q| q.dr_enabled)
            && self
                .dr
                .as_ref()
                .is_some_and(|dr| dr.phase != DrPhase::Disabled)
    }

    fn members(&self) -> Vec<(&'static str, Out)> {
        let dr = self.dr.as_ref();
        let active = dr.and_then(|d| d.active_stamp_id);
        let portal = active
            .and_then(|id| self.stamps.get(&id))
            .map(|s| s.tenant_portal_url.clone());
        let counts = VmProtectionState::ALL
            .iter()
            .map(|s| {
                let n = self.counts.get(s.as_str()).copied().unwrap_or(0);
                (s.as_str(), Out::Int(i64::try_from(n).unwrap_or(i64::MAX)))
            })
            .collect();
        vec![
            ("SubscriptionId", Out::Str(self.subscription_id.to_string())),
            ("Enabled", Out::Bool(self.enabled())),
            (
                "Phase",
                dr.map_or(Out::Null, |d| Out::Str(d.phase.as_str().into())),
            ),
            (
                "Message",
                dr.map_or(Out::Null, |d| Out::opt_str(&d.message)),
            ),
            (
                "PrimaryStamp",
                stamp_ref(dr.and_then(|d| d.primary_stamp_id), &self.stamps),
            ),
            (
                "RecoveryStamp",
                stamp_ref(dr.and_then(|d| d.recovery_stamp_id), &self.stamps),
            ),
            ("ActiveStamp", stamp_ref(active, &self.stamps)),
            ("PortalUrl", Out::opt_str(&portal)),
            (
                "CloudPairId",
                dr.and_then(|d| d.pair_id)
                    .map_or(Out::Null, |id| Out::Str(id.to_string())),
            ),
            (
                "Mirror",
                dr.map_or(Out::Null, |d| Out::Str(d.mirror.as_str().into())),
            ),
            ("VmCounts", Out::Obj(counts)),
            (
                "WorstHealth",
                self.worst_health
                    .map_or(Out::Null, |h| Out::Str(h.as_str().into())),
            ),
            ("RpoSeconds", self.rpo_seconds.map_or(Out::Null, Out::Int)),
            (
                "SelfService",
                self.quota
                    .map_or(Out::Null, |q| Out::Str(q.self_service.as_str().into())),
            ),
            (
                "MaxProtectedVms",
                self.quota
                    .and_then(|q| q.max_protected_vms)
                    .map_or(Out::Null, |n| Out::Int(n.into())),
            ),
            (
                "Failover",
                super::failover::failover_view(
                    self.dr.as_ref().filter(|_| self.enabled()),
                    self.failover.as_ref(),
                ),
            ),
            ("UpdatedAt", opt_time(dr.map(|d| d.updated_at))),
        ]
    }
}

impl ToWire for DrStatusView {
    const XML_ROOT: &'static str = "DrStatus";

    fn to_wire(&self) -> Out {
        Out::Obj(self.members())
    }
}

/// A page of DR statuses, ordered by subscription id.
pub struct DrStatusList(pub Vec<DrStatusView>);

impl ToWire for DrStatusList {
    const XML_ROOT: &'static str = "DrStatuses";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "DrStatus",
            items: self.0.iter().map(ToWire::to_wire).collect(),
        }
    }
}

/// Every stored stamp by id (the views name stamps and give the active one's portal).
pub async fn stamps_by_id(state: &AppState) -> Result<BTreeMap<Uuid, Stamp>, ApiError> {
    Ok(state
        .store
        .list_stamps()
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect())
}

/// The DR status of a subscription (`sub` is `None` when only the DR record is left).
///
/// Counts are over every VM record; worst health and RPO over the `Protected` VMs only, since
/// the others are not replicating and have no RPO to speak of.
pub async fn dr_status(
    state: &AppState,
    id: SubscriptionId,
    sub: Option<&Subscription>,
    dr: Option<DrSubscription>,
    stamps: BTreeMap<Uuid, Stamp>,
) -> Result<DrStatusView, ApiError> {
    // A stored quota wapdr can no longer read shows as unknown rather than hiding the status (or,
    // in the provider's list, every other subscription's).
    let quota = sub.and_then(|s| s.effective_quota().ok());
    let vms = if dr.is_some() {
        state.store.list_protected_vms(id).await?
    } else {
        Vec::new()
    };
    let failover = if dr.is_some() {
        state.store.get_failover(id).await?
    } else {
        None
    };
    let now = state.store.database_now().await?;
    let mut counts = BTreeMap::new();
    for vm in &vms {
        *counts.entry(vm.state.as_str()).or_insert(0) += 1;
    }
    let protected = || {
        vms.iter()
            .filter(|vm| vm.state == VmProtectionState::Protected)
    };
    Ok(DrStatusView {
        subscription_id: id,
        quota,
        dr,
        stamps,
        counts,
        worst_health: protected().filter_map(|vm| vm.health).max(),
        rpo_seconds: protected().filter_map(|vm| vm.rpo_seconds(now)).max(),
        failover,
    })
}

/// One VM of a DR subscription as the APIs show it.
pub struct VmView {
    vm: ProtectedVm,
    now: OffsetDateTime,
}

/// A VM record's members as the APIs show them, its RPO as of `now`.
fn vm_members(vm: &ProtectedVm, now: OffsetDateTime) -> Vec<(&'static str, Out)> {
    let id = |id: Option<Uuid>| id.map_or(Out::Null, Out::Guid);
    // Only a replicating VM has an RPO; a VM whose protection was removed would otherwise
    // show one that grows forever.
    let rpo = (vm.state == VmProtectionState::Protected)
        .then(|| vm.rpo_seconds(now))
        .flatten();
    vec![
        ("Id", Out::Guid(vm.vm_id)),
        ("Name", Out::Str(vm.name.clone())),
        ("State", Out::Name(vm.state.as_str())),
        (
            "Exclusion",
            vm.exclusion.map_or(Out::Null, |e| Out::Name(e.as_str())),
        ),
        ("Reason", Out::opt_str(&vm.reason)),
        (
            "Health",
            vm.health.map_or(Out::Null, |h| Out::Name(h.as_str())),
        ),
        ("HealthDetail", Out::opt_str(&vm.health_detail)),
        ("RpoSeconds", rpo.map_or(Out::Null, Out::Int)),
        ("LastReplicated", opt_time(vm.last_replicated)),
        ("LastRecoveryPoint", opt_time(vm.last_recovery_point)),
        (
            "InitialReplicationPercent",
            vm.initial_replication_percent
                .map_or(Out::Null, |p| Out::Int(p.into())),
        ),
        ("ReplicaVmId", id(vm.replica_vm_id)),
        ("ProtectedAt", opt_time(vm.protected_at)),
        ("StampId", Out::Guid(vm.stamp_id)),
        ("CloudPairId", Out::Guid(vm.pair_id)),
    ]
}

impl ToWire for VmView {
    const XML_ROOT: &'static str = "DrVm";

    fn to_wire(&self) -> Out {
        Out::Obj(vm_members(&self.vm, self.now))
    }
}

/// A subscription's VMs in the asked states (all when none), ordered by name.
pub struct VmList {
    vms: Arc<[ProtectedVm]>,
    states: Vec<VmProtectionState>,
    now: OffsetDateTime,
}

impl ToWire for VmList {
    const XML_ROOT: &'static str = "DrVms";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "DrVm",
            items: self
                .vms
                .iter()
                .filter(|vm| self.states.is_empty() || self.states.contains(&vm.state))
                .map(|vm| Out::Obj(vm_members(vm, self.now)))
                .collect(),
        }
    }
}

/// The answer to an exclusion change: the VM and the reconciliation job started for it (none
/// when the record already said so).
pub struct ProtectionChanged {
    vm: VmView,
    job_id: Option<Uuid>,
}

impl ProtectionChanged {
    /// Whether a job was started (202) or nothing needed doing (200).
    pub fn started(&self) -> bool {
        self.job_id.is_some()
    }
}

impl ToWire for ProtectionChanged {
    const XML_ROOT: &'static str = "DrVm";

    fn to_wire(&self) -> Out {
        let mut members = vm_members(&self.vm.vm, self.vm.now);
        members.push((
            "JobId",
            self.job_id.map_or(Out::Null, |id| Out::Str(id.to_string())),
        ));
        Out::Obj(members)
    }
}

/// The `state` filter of a VM list: one or more state names, comma-separated (400 otherwise).
pub fn parse_states(text: Option<String>) -> Result<Vec<VmProtectionState>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|name| {
            VmProtectionState::from_name(name).ok_or_else(|| {
                let allowed: Vec<&str> =
                    VmProtectionState::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!(
                    "state '{}' is not one of {}.",
                    name.trim(),
                    allowed.join(", ")
                ))
            })
        })
        .collect()
}

/// A subscription's VM records, in the given states (all when empty), ordered by name, as of the
/// snapshot (held in memory while unchanged, see [`VmLists`](super::VmLists)).
pub async fn vm_list(
    state: &AppState,
    snapshot: &SubscriptionSnapshot,
    states: &[VmProtectionState],
) -> Result<VmList, ApiError> {
    Ok(VmList {
        vms: state.vm_lists.get(&state.store, snapshot).await?,
        states: states.to_vec(),
        now: snapshot.read_at,
    })
}

/// A VM id from the path (400 when it is not a GUID).
pub fn parse_vm_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text.trim())
        .map_err(|_| ApiError::BadRequest(format!("VM id '{text}' is not a valid GUID.")))
}

/// The body of `PUT .../vms/{vmId}/protection`: `Excluded`, true or false.
pub struct ProtectionInput {
    /// Whether the VM is to be left out of DR.
    pub excluded: bool,
}

impl FromWire for ProtectionInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let excluded = node
            .optional_bool(&["Excluded"])?
            .ok_or_else(|| ContractError::member("Excluded", "is required (true or false)"))?;
        Ok(Self { excluded })
    }
}

impl From<ExclusionError> for ApiError {
    fn from(err: ExclusionError) -> Self {
        match err {
            ExclusionError::ExcludedByProvider(_) => Self::Forbidden(err.to_string()),
        }
    }
}

/// Who changes an exclusion, for the rules and for the job's audit.
pub struct Changer {
    /// Tenant or provider.
    pub actor: ExclusionActor,
    /// Who, as the job records it (`started_by`).
    pub principal: String,
}

/// Records an exclusion change on a VM (retrying when another writer got there first) and starts
/// the VM's reconciliation; 404 for a VM the subscription does not have, 503 when this build has
/// no reconciliation to start (checked first, so nothing is recorded then).
pub async fn change_protection(
    state: &AppState,
    id: SubscriptionId,
    vm_id: Uuid,
    excluded: bool,
    by: Changer,
) -> Result<ProtectionChanged, ApiError> {
    let dr = state.store.get_dr_subscription(id).await?;
    if let Some(phase) = dr
        .map(|d| d.phase)
        .filter(|p| matches!(p, DrPhase::Disabling | DrPhase::Disabled))
    {
        return Err(ApiError::Conflict(format!(
            "Disaster recovery is {} for this subscription; VMs cannot be excluded or included.",
            match phase {
                DrPhase::Disabling => "being turned off",
                _ => "off",
            }
        )));
    }
    // A VM whose subscription is mid-failover is not touched: its protection is the failover's.
    if let Some(record) = state.store.get_failover(id).await? {
        if let Some(running) = &record.running {
            if last_job_running(&state.store, &record).await? {
                return Err(ApiError::Conflict(format!(
                    "A '{}' operation is running on this subscription (job {}); change exclusions when it has ended.",
                    running.kind, running.job_id
                )));
            }
        }
        if record.phase != FailoverPhase::Replicating {
            return Err(ApiError::Conflict(format!(
                "The subscription is {} after a failover or drill; exclusions can change once it replicates again.",
                record.phase.as_str()
            )));
        }
    }
    let not_found = || ApiError::NotFound(format!("VM {vm_id} is not a VM of this subscription."));
    let mut saved = None;
    for _ in 0..SAVE_ATTEMPTS {
        let mut vm = state
            .store
            .get_protected_vm(id, vm_id)
            .await?
            .ok_or_else(not_found)?;
        if !set_exclusion(&mut vm, by.actor, excluded)? {
            let now = state.store.database_now().await?;
            return Ok(ProtectionChanged {
                vm: VmView { vm, now },
                job_id: None,
            });
        }
        match state.store.save_protected_vm(&vm).await {
            Ok(stored) => {
                saved = Some(stored);
                break;
            }
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    let vm = saved.ok_or_else(|| ApiError::from(StoreError::Conflict))?;
    tracing::info!(subscription_id = %id, vm_id = %vm_id, excluded, by = %by.principal, "VM exclusion changed");
    let request = StartRequest {
        workflow: RECONCILE_VM.into(),
        params: reconcile_vm_params(id, vm_id),
        trigger: "api".into(),
        started_by: by.principal.clone(),
        reason: Some(format!(
            "{} VM '{}' {} disaster recovery",
            match by.actor {
                ExclusionActor::Tenant => "tenant",
                ExclusionActor::Admin => "provider",
            },
            vm.name,
            if excluded {
                "excluded from"
            } else {
                "included in"
            }
        )),
        // One job per recorded change: a retried request that finds the change made starts none.
        dedupe_key: Some(format!("{RECONCILE_VM}:{vm_id}:v{}", vm.version)),
    };
    let created = start_run(&state.store, &state.registry, request)
        .await
        .map_err(ApiError::from)?;
    let now = state.store.database_now().await?;
    Ok(ProtectionChanged {
        vm: VmView { vm, now },
        job_id: Some(created.id),
    })
}

/// The subscription named in an admin path: 400 for a malformed id, 404 when wapdr has never heard of
/// it or it is deleted.
pub(super) async fn known_subscription(
    state: &AppState,
    id: &str,
) -> Result<Subscription, ApiError> {
    Ok(known_snapshot(state, id).await?.subscription)
}

/// [`known_subscription`] with its VM change counter and the database clock.
pub(super) async fn known_snapshot(
    state: &AppState,
    id: &str,
) -> Result<SubscriptionSnapshot, ApiError> {
    let id: SubscriptionId = parse_id(id)?;
    state
        .store
        .get_subscription_snapshot(id)
        .await?
        .filter(|s| !s.subscription.is_deleted())
        .ok_or_else(|| ApiError::NotFound(format!("Subscription {id} is not known.")))
}
