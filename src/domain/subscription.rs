//! The subscription as wapdr keeps it, and its lifecycle rules.

use time::OffsetDateTime;

use super::SubscriptionId;
use super::quota::{DrQuota, QuotaError, QuotaSources};

/// The subscription state WAP gives an RP (`ResourceProviderSubscriptionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionState {
    /// Usable by the tenant.
    Active,
    /// The tenant has lost access; resources (and replication) are kept.
    Suspended,
    /// Being deleted; only delete operations are allowed.
    DeletePending,
}

/// Where the RP stands with the last operation WAP asked of it (`SubscriptionLifecycleState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    /// Done.
    Provisioned,
    /// Create in progress.
    Provisioning,
    /// Update in progress.
    Updating,
    /// Delete in progress.
    Deleting,
    /// Deleted; the record is kept as a tombstone so deletes stay idempotent.
    Deleted,
    /// The previous operation failed; `last_error` says why.
    OutOfSync,
}

impl SubscriptionState {
    /// Every state, in wire order.
    pub const ALL: [Self; 3] = [Self::Active, Self::Suspended, Self::DeletePending];

    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Suspended => "Suspended",
            Self::DeletePending => "DeletePending",
        }
    }

    /// Parses a stored or wire name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl LifecycleState {
    /// Every state, in wire order.
    pub const ALL: [Self; 6] = [
        Self::Provisioned,
        Self::Provisioning,
        Self::Updating,
        Self::Deleting,
        Self::Deleted,
        Self::OutOfSync,
    ];

    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "Provisioned",
            Self::Provisioning => "Provisioning",
            Self::Updating => "Updating",
            Self::Deleting => "Deleting",
            Self::Deleted => "Deleted",
            Self::OutOfSync => "OutOfSync",
        }
    }

    /// Parses a stored or wire name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// A WAP subscription that includes the DR service, as wapdr records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The WAP subscription id (the same on every stamp).
    pub id: SubscriptionId,
    /// The friendly name.
    pub name: String,
    /// The state WAP set.
    pub state: SubscriptionState,
    /// Where wapdr stands with the last operation.
    pub lifecycle: LifecycleState,
    /// Why the last operation failed, for the provider to act on.
    pub last_error: Option<String>,
    /// The account admin (user name or e-mail), who owns the subscription.
    pub admin_id: String,
    /// The co-administrators.
    pub co_admins: Vec<String>,
    /// The quota as WAP sent it (plan base and add-ons); see [`QuotaSources::effective`].
    pub quota: QuotaSources,
    /// When wapdr first recorded it.
    pub created_at: OffsetDateTime,
    /// When wapdr last changed it.
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version: 0 for a subscription not stored yet.
    pub version: i64,
}

/// What WAP asked to change; `None` leaves a member as it is (WAP may send a partial object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionChanges {
    /// A new friendly name.
    pub name: Option<String>,
    /// A new state (suspend, reactivate, delete pending).
    pub state: Option<SubscriptionState>,
    /// A new account admin.
    pub admin_id: Option<String>,
    /// The full new list of co-admins.
    pub co_admins: Option<Vec<String>>,
    /// The full new quota.
    pub quota: Option<QuotaSources>,
}

impl Subscription {
    /// A subscription WAP has just created (or re-created after a delete), ready to be stored.
    ///
    /// The timestamps are placeholders: the store stamps them with the database clock.
    pub fn created(id: SubscriptionId, changes: SubscriptionChanges) -> Self {
        let mut sub = Self {
            id,
            name: String::new(),
            state: SubscriptionState::Active,
            lifecycle: LifecycleState::Provisioned,
            last_error: None,
            admin_id: String::new(),
            co_admins: Vec::new(),
            quota: QuotaSources::default(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 0,
        };
        sub.apply(changes);
        sub
    }

    /// Applies WAP's changes. The caller validated the quota.
    pub fn apply(&mut self, changes: SubscriptionChanges) {
        let SubscriptionChanges {
            name,
            state,
            admin_id,
            co_admins,
            quota,
        } = changes;
        if let Some(name) = name {
            self.name = name;
        }
        if let Some(state) = state {
            self.state = state;
        }
        if let Some(admin_id) = admin_id {
            self.admin_id = admin_id;
        }
        if let Some(co_admins) = co_admins {
            self.co_admins = co_admins;
        }
        if let Some(quota) = quota {
            self.quota = quota;
        }
        self.lifecycle = LifecycleState::Provisioned;
        self.last_error = None;
    }

    /// Re-creates a deleted subscription in place, keeping its version for the store's check.
    pub fn recreate(&mut self, changes: SubscriptionChanges) {
        let version = self.version;
        *self = Self::created(self.id, changes);
        self.version = version;
    }

    /// Marks the subscription deleted. It stays as a tombstone so a repeated delete, or WAP polling
    /// the subscription, still gets an answer.
    pub fn mark_deleted(&mut self) {
        self.lifecycle = LifecycleState::Deleted;
        self.last_error = None;
    }

    /// The DR entitlements in force.
    pub fn effective_quota(&self) -> Result<DrQuota, QuotaError> {
        self.quota.effective()
    }

    /// Whether a principal (from `x-ms-principal-id`) is the admin or a co-admin.
    ///
    /// User names are e-mail addresses in WAP, compared without regard to case.
    pub fn is_administered_by(&self, principal: &str) -> bool {
        let principal = principal.trim();
        !principal.is_empty()
            && std::iter::once(&self.admin_id)
                .chain(self.co_admins.iter())
                .any(|admin| admin.trim().eq_ignore_ascii_case(principal))
    }

    /// Whether the subscription is a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.lifecycle == LifecycleState::Deleted
    }

    /// Whether the tenant may act on it (suspended and deleting subscriptions are read-only).
    pub fn tenant_may_act(&self) -> bool {
        self.state == SubscriptionState::Active && !self.is_deleted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Subscription {
        Subscription {
            id: SubscriptionId::new_random(),
            name: "Gold DR".into(),
            state: SubscriptionState::Active,
            lifecycle: LifecycleState::Provisioned,
            last_error: None,
            admin_id: "tenant@fabrikam.com".into(),
            co_admins: vec!["CoAdmin@Fabrikam.com".into()],
            quota: QuotaSources::default(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    #[test]
    fn admin_and_co_admins_administer_whatever_the_case() {
        let sub = sample();
        assert!(sub.is_administered_by("tenant@fabrikam.com"));
        assert!(sub.is_administered_by("TENANT@fabrikam.com"));
        assert!(sub.is_administered_by("coadmin@fabrikam.com"));
        assert!(!sub.is_administered_by("mallory@contoso.com"));
        assert!(!sub.is_administered_by(""));
    }

    #[test]
    fn suspended_subscriptions_are_read_only_for_tenants() {
        let mut sub = sample();
        assert!(sub.tenant_may_act());
        sub.state = SubscriptionState::Suspended;
        assert!(!sub.tenant_may_act());
    }

    #[test]
    fn a_partial_update_keeps_what_it_does_not_name() {
        let mut sub = sample();
        sub.apply(SubscriptionChanges {
            state: Some(SubscriptionState::Suspended),
            ..SubscriptionChanges::default()
        });
        assert_eq!(sub.state, SubscriptionState::Suspended);
        assert_eq!(sub.admin_id, "tenant@fabrikam.com");
        assert_eq!(sub.co_admins, vec!["CoAdmin@Fabrikam.com".to_owned()]);
    }

    #[test]
    fn recreating_a_deleted_subscription_starts_afresh_but_keeps_the_version() {
        let mut sub = sample();
        sub.version = 7;
        sub.mark_deleted();
        assert!(sub.is_deleted());
        sub.recreate(SubscriptionChanges {
            admin_id: Some("new@fabrikam.com".into()),
            ..SubscriptionChanges::default()
        });
        assert!(!sub.is_deleted());
        assert_eq!(sub.version, 7);
        assert!(sub.co_admins.is_empty());
        assert!(sub.is_administered_by("new@fabrikam.com"));
    }

    #[test]
    fn state_names_parse_back_ignoring_case() {
        for state in SubscriptionState::ALL {
            assert_eq!(
                SubscriptionState::from_name(&state.as_str().to_lowercase()),
                Some(state)
            );
        }
        for state in LifecycleState::ALL {
            assert_eq!(
                LifecycleState::from_name(&state.as_str().to_uppercase()),
                Some(state)
            );
        }
        assert_eq!(LifecycleState::from_name("Gone"), None);
    }
}
