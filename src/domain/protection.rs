//! Protection: what wapdr records about a DR subscription (its pair, its stamps, its mirror) and
//! about each of its VMs (replica, state, health, why it is not protected), and the rules that
//! decide a VM's fate before the fabric is asked anything. No I/O.

use time::OffsetDateTime;
use uuid::Uuid;

use super::SubscriptionId;

/// Where enabling or disabling DR stands for a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrPhase {
    /// Enable DR is running (mirror, networks, protection of the VMs).
    Enabling,
    /// Every VM that can be protected is protected or being protected; new VMs are picked up.
    Enabled,
    /// Enablement stopped on an error the provider must act on (`message` says what).
    Failed,
    /// Protection is being removed (subscription deleted, or DR turned off in the quota).
    Disabling,
    /// Protection is off and the mirror removed; the record stays for audit and re-enable.
    Disabled,
}

impl DrPhase {
    /// Every phase.
    pub const ALL: [Self; 5] = [
        Self::Enabling,
        Self::Enabled,
        Self::Failed,
        Self::Disabling,
        Self::Disabled,
    ];

    /// The name used in the store and the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabling => "Enabling",
            Self::Enabled => "Enabled",
            Self::Failed => "Failed",
            Self::Disabling => "Disabling",
            Self::Disabled => "Disabled",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// Where the mirror subscription (same id, recovery stamp's WAP) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MirrorState {
    /// Not created (yet, or any more).
    Absent,
    /// Exists and is suspended: the tenant cannot use it until a failover activates it.
    Suspended,
    /// Exists and is active (the subscription runs on the recovery stamp after a failover).
    Active,
}

impl MirrorState {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Absent, Self::Suspended, Self::Active];

    /// The name used in the store and the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Absent => "Absent",
            Self::Suspended => "Suspended",
            Self::Active => "Active",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// wapdr's DR record of one subscription, beside WAP's [`Subscription`](super::Subscription).
///
/// The stamps and the pair are found once by enable DR and then kept, so a resumed run, a
/// failover or a runbook never has to guess again which stamp is primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrSubscription {
    /// The subscription (the same id on both stamps).
    pub subscription_id: SubscriptionId,
    /// Where enablement stands.
    pub phase: DrPhase,
    /// The cloud pair the subscription's plan resolves to, once found.
    pub pair_id: Option<Uuid>,
    /// The stamp the subscription was created on (its plan is the pair's primary plan).
    pub primary_stamp_id: Option<Uuid>,
    /// The stamp it fails over to.
    pub recovery_stamp_id: Option<Uuid>,
    /// Where its VMs run now: exactly one stamp at any time.
    pub active_stamp_id: Option<Uuid>,
    /// The subscription's plan id on the primary stamp's WAP.
    pub primary_plan_id: Option<String>,
    /// The subscription's account admin (WAP user name), as WAP-A holds it.
    pub owner: Option<String>,
    /// The mirror subscription on the recovery stamp.
    pub mirror: MirrorState,
    /// The tenant's VM networks on the primary stamp mapped to those recreated on the recovery
    /// stamp (primary id, recovery id).
    pub networks: Vec<(Uuid, Uuid)>,
    /// What the provider should know (the error that stopped enablement, or the last note).
    pub message: Option<String>,
    /// When wapdr last changed the record (the database clock).
    pub updated_at: OffsetDateTime,
}

impl DrSubscription {
    /// A new record for a subscription whose enablement starts now.
    pub fn enabling(subscription_id: SubscriptionId) -> Self {
        Self {
            subscription_id,
            phase: DrPhase::Enabling,
            pair_id: None,
            primary_stamp_id: None,
            recovery_stamp_id: None,
            active_stamp_id: None,
            primary_plan_id: None,
            owner: None,
            mirror: MirrorState::Absent,
            networks: Vec::new(),
            message: None,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

/// Where one VM's protection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VmProtectionState {
    /// Seen; protection not requested yet.
    Pending,
    /// Protection requested; initial replication running.
    Enabling,
    /// Replicating.
    Protected,
    /// Excluded by the tenant, the provider or a tag on the VM (see [`Exclusion`]).
    Excluded,
    /// The fabric cannot protect it; `reason` says why.
    Unprotectable,
    /// Beyond the subscription's `MaxProtectedVms`.
    OverQuota,
    /// Protection is being removed.
    Disabling,
    /// Protection removed (the VM was deleted, excluded after protection, or DR turned off).
    Disabled,
    /// Requesting protection failed; `reason` says why; the next pass tries again.
    Failed,
}

impl VmProtectionState {
    /// Every state.
    pub const ALL: [Self; 9] = [
        Self::Pending,
        Self::Enabling,
        Self::Protected,
        Self::Excluded,
        Self::Unprotectable,
        Self::OverQuota,
        Self::Disabling,
        Self::Disabled,
        Self::Failed,
    ];

    /// The name used in the store and the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Enabling => "Enabling",
            Self::Protected => "Protected",
            Self::Excluded => "Excluded",
            Self::Unprotectable => "Unprotectable",
            Self::OverQuota => "OverQuota",
            Self::Disabling => "Disabling",
            Self::Disabled => "Disabled",
            Self::Failed => "Failed",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether the VM counts against `MaxProtectedVms` (protection requested or in place).
    pub fn counts_against_quota(self) -> bool {
        matches!(self, Self::Enabling | Self::Protected)
    }
}

/// Who excluded a VM from protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exclusion {
    /// The tenant (allowed when the subscription's SelfService is not `None`).
    Tenant,
    /// The provider.
    Admin,
    /// A tag on the VM ([`EXCLUDE_TAG`]).
    Tag,
}

impl Exclusion {
    /// Every kind.
    pub const ALL: [Self; 3] = [Self::Tenant, Self::Admin, Self::Tag];

    /// The name used in the store and the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "Tenant",
            Self::Admin => "Admin",
            Self::Tag => "Tag",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// The VM tag that keeps a VM out of DR (matched ignoring case, as one of the tag's
/// comma- or semicolon-separated words).
pub const EXCLUDE_TAG: &str = "wapdr:exclude";

/// Whether a VM's tag asks for it to be left out of DR.
pub fn tag_excludes(tag: Option<&str>) -> bool {
    tag.is_some_and(|tag| {
        tag.split([',', ';'])
            .any(|word| word.trim().eq_ignore_ascii_case(EXCLUDE_TAG))
    })
}

/// Replication health, as wapdr reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VmHealth {
    /// Replicating as expected.
    Normal,
    /// Lagging or paused.
    Warning,
    /// Failing.
    Critical,
}

impl VmHealth {
    /// Every level, best first.
    pub const ALL: [Self; 3] = [Self::Normal, Self::Warning, Self::Critical];

    /// The name used in the store and the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
            Self::Critical => "Critical",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// wapdr's record of one VM of a DR subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedVm {
    /// The subscription that owns the VM.
    pub subscription_id: SubscriptionId,
    /// The SPF id of the VM on the primary stamp (unique across stamps).
    pub vm_id: Uuid,
    /// Its name.
    pub name: String,
    /// The primary stamp (wapdr's stamp id).
    pub stamp_id: Uuid,
    /// The VMM cloud it lives in on the primary stamp.
    pub cloud_id: Uuid,
    /// The cloud pair protecting it.
    pub pair_id: Uuid,
    /// The SPF id of its replica on the recovery stamp, once the engine created it.
    pub replica_vm_id: Option<Uuid>,
    /// Whether the replica has been given to the subscription's user role on the recovery stamp.
    pub replica_owned: bool,
    /// Where protection stands.
    pub state: VmProtectionState,
    /// Who excluded it, when excluded (kept while excluded; cleared on include).
    pub exclusion: Option<Exclusion>,
    /// Why it is not protected, or what went wrong last, in words a provider can act on.
    pub reason: Option<String>,
    /// Replication health, once replicating.
    pub health: Option<VmHealth>,
    /// What the engine says about non-normal health.
    pub health_detail: Option<String>,
    /// When the last delta arrived (the RPO is now minus this).
    pub last_replicated: Option<OffsetDateTime>,
    /// The newest recovery point.
    pub last_recovery_point: Option<OffsetDateTime>,
    /// Initial replication progress while enabling.
    pub initial_replication_percent: Option<u8>,
    /// When the VM was created on the fabric (SPF's CreationTime/AddedTime), for latency.
    pub vm_created_at: Option<OffsetDateTime>,
    /// When protection was requested from the engine.
    pub protection_requested_at: Option<OffsetDateTime>,
    /// When the VM was first seen protected.
    pub protected_at: Option<OffsetDateTime>,
    /// When wapdr last changed the record (the database clock).
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version: 0 for a record not stored yet.
    pub version: i64,
}

impl ProtectedVm {
    /// A record for a VM just seen, not yet protected.
    pub fn pending(
        subscription_id: SubscriptionId,
        vm_id: Uuid,
        name: String,
        stamp_id: Uuid,
        cloud_id: Uuid,
        pair_id: Uuid,
    ) -> Self {
        Self {
            subscription_id,
            vm_id,
            name,
            stamp_id,
            cloud_id,
            pair_id,
            replica_vm_id: None,
            replica_owned: false,
            state: VmProtectionState::Pending,
            exclusion: None,
            reason: None,
            health: None,
            health_detail: None,
            last_replicated: None,
            last_recovery_point: None,
            initial_replication_percent: None,
            vm_created_at: None,
            protection_requested_at: None,
            protected_at: None,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 0,
        }
    }

    /// The recovery point objective now: how old the newest replicated data is.
    pub fn rpo_seconds(&self, now: OffsetDateTime) -> Option<i64> {
        self.last_replicated
            .map(|at| (now - at).whole_seconds().max(0))
    }
}

/// What to do with a VM that is not protected yet, before the fabric is asked: the rules of
/// exclusion and quota, in order (an exclusion wins over the quota, so an excluded VM never
/// takes a quota slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Request protection.
    Protect,
    /// Leave it out: excluded.
    Exclude(Exclusion),
    /// Leave it out: the quota is used up.
    OverQuota {
        /// The subscription's `MaxProtectedVms`.
        limit: u32,
    },
}

/// Decides a VM's admission: an exclusion recorded on it (tenant or admin), then its tag, then
/// the quota (`protected` VMs already count against `max`; `None` is unlimited).
pub fn admit(
    recorded: Option<Exclusion>,
    tag: Option<&str>,
    protected: u32,
    max: Option<u32>,
) -> Admission {
    if let Some(exclusion) = recorded.filter(|e| *e != Exclusion::Tag) {
        return Admission::Exclude(exclusion);
    }
    if tag_excludes(tag) {
        return Admission::Exclude(Exclusion::Tag);
    }
    match max {
        Some(limit) if protected >= limit => Admission::OverQuota { limit },
        _ => Admission::Protect,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_excludes_only_as_a_whole_word() {
        assert!(tag_excludes(Some("wapdr:exclude")));
        assert!(tag_excludes(Some("web; WAPDR:Exclude ,db")));
        assert!(!tag_excludes(Some("wapdr:excluded")));
        assert!(!tag_excludes(None));
    }

    #[test]
    fn exclusion_wins_over_quota_and_quota_counts_protected_vms() {
        assert_eq!(
            admit(Some(Exclusion::Tenant), None, 0, Some(0)),
            Admission::Exclude(Exclusion::Tenant)
        );
        assert_eq!(
            admit(None, Some("wapdr:exclude"), 5, Some(1)),
            Admission::Exclude(Exclusion::Tag)
        );
        assert_eq!(
            admit(None, None, 2, Some(2)),
            Admission::OverQuota { limit: 2 }
        );
        assert_eq!(admit(None, None, 1, Some(2)), Admission::Protect);
        assert_eq!(admit(None, None, 1_000_000, None), Admission::Protect);
    }

    #[test]
    fn a_tag_exclusion_lapses_when_the_tag_is_removed() {
        assert_eq!(
            admit(Some(Exclusion::Tag), None, 0, None),
            Admission::Protect
        );
    }

    #[test]
    fn names_round_trip() {
        for s in VmProtectionState::ALL {
            assert_eq!(VmProtectionState::from_name(s.as_str()), Some(s));
        }
        for p in DrPhase::ALL {
            assert_eq!(DrPhase::from_name(&p.as_str().to_lowercase()), Some(p));
        }
        for m in MirrorState::ALL {
            assert_eq!(MirrorState::from_name(m.as_str()), Some(m));
        }
        for h in VmHealth::ALL {
            assert_eq!(VmHealth::from_name(h.as_str()), Some(h));
        }
    }
}
