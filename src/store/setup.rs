//! What provider setup persists: stamps (with their credentials), replication policies, cloud
//! pairs and their network mappings. [`SetupStore`] is implemented once for both backends by
//! `impl_setup_store!` (`setup_impl`), with SQL written in PostgreSQL's dialect.
//!
//! The tables' constraints back the domain's rules (unique names, a primary plan in one pair,
//! a pair across two stamps), so two instances racing cannot break them: a violation comes back
//! as [`StoreError::Conflict`]. Secrets are stored as given (no encryption key management is in
//! scope) and leave the store only inside [`Stamp`]'s `SecretString`s.

use async_trait::async_trait;
use secrecy::SecretString;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{
    CloudPair, InitialReplicationMethod, NetworkMapping, PairSide, PairState, ReplicationPolicy,
    Stamp,
};

/// What became of a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// It was there and is gone.
    Deleted,
    /// There was nothing by that key.
    NotFound,
    /// Cloud pairs still use it (their ids); nothing was deleted.
    InUse(Vec<Uuid>),
}

/// The provider-setup operations; every method is one transaction.
#[async_trait]
pub trait SetupStore: Send + Sync {
    /// Stores a new stamp; a stamp with the same name (ignoring case) or id is a `Conflict`.
    async fn insert_stamp(&self, stamp: &Stamp) -> Result<(), StoreError>;

    /// Replaces a stamp's fields; `false` when there is no such stamp. A name another stamp has
    /// is a `Conflict`.
    async fn update_stamp(&self, stamp: &Stamp) -> Result<bool, StoreError>;

    /// Records the VMM stamp id SPF names for a stamp, touching nothing else (so a verify that
    /// read the stamp before a concurrent PUT cannot undo the PUT); `false` when there is none.
    async fn set_spf_stamp_id(&self, id: Uuid, spf_stamp_id: Uuid) -> Result<bool, StoreError>;

    /// One stamp.
    async fn get_stamp(&self, id: Uuid) -> Result<Option<Stamp>, StoreError>;

    /// Every stamp, by name.
    async fn list_stamps(&self) -> Result<Vec<Stamp>, StoreError>;

    /// Deletes a stamp no cloud pair uses.
    async fn delete_stamp(&self, id: Uuid) -> Result<Deletion, StoreError>;

    /// Stores a new policy; one with the same name (ignoring case) is a `Conflict`.
    async fn insert_policy(&self, policy: &ReplicationPolicy) -> Result<(), StoreError>;

    /// Replaces the settings of the policy of that name; `false` when there is none.
    async fn update_policy(&self, policy: &ReplicationPolicy) -> Result<bool, StoreError>;

    /// One policy, by name ignoring case.
    async fn get_policy(&self, name: &str) -> Result<Option<ReplicationPolicy>, StoreError>;

    /// Every policy, by name.
    async fn list_policies(&self) -> Result<Vec<ReplicationPolicy>, StoreError>;

    /// Deletes a policy no cloud pair uses.
    async fn delete_policy(&self, name: &str) -> Result<Deletion, StoreError>;

    /// Stores a new pair (its policy must exist). A pair whose primary plan is in another pair is
    /// a `Conflict`: a subscription's plan must resolve to exactly one pair.
    async fn insert_cloud_pair(&self, pair: &CloudPair) -> Result<(), StoreError>;

    /// One pair.
    async fn get_cloud_pair(&self, id: Uuid) -> Result<Option<CloudPair>, StoreError>;

    /// Every pair, by id.
    async fn list_cloud_pairs(&self) -> Result<Vec<CloudPair>, StoreError>;

    /// Deletes a pair and its network mappings; `false` when there was none.
    async fn delete_cloud_pair(&self, id: Uuid) -> Result<bool, StoreError>;

    /// Records where the pairing stands; `false` when there is no such pair.
    async fn set_pair_state(
        &self,
        id: Uuid,
        state: PairState,
        error: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Sets (or clears) the pair's test-failover network; `false` when there is no such pair.
    async fn set_test_network(
        &self,
        id: Uuid,
        network_id: Option<Uuid>,
    ) -> Result<bool, StoreError>;

    /// Replaces the pair's network mappings; `false` when there is no such pair.
    async fn replace_network_mappings(
        &self,
        id: Uuid,
        mappings: &[NetworkMapping],
    ) -> Result<bool, StoreError>;

    /// The pair's network mappings by primary network; `None` when there is no such pair.
    async fn network_mappings(&self, id: Uuid) -> Result<Option<Vec<NetworkMapping>>, StoreError>;
}

/// The `stamps` columns, in the order [`StampRow`] reads them.
pub(super) const STAMP_COLUMNS: &str = "id, name, spf_url, spf_username, spf_password, \
     spf_stamp_id, wap_admin_url, wap_admin_token, tenant_portal_url, auto_failover";

/// The `replication_policies` columns, in the order [`PolicyRow`] reads them.
pub(super) const POLICY_COLUMNS: &str = "name, copy_frequency_seconds, recovery_points, \
     app_consistent_hours, initial_replication, compression";

/// The `cloud_pairs` columns, in the order [`PairRow`] reads them.
pub(super) const PAIR_COLUMNS: &str = "id, primary_stamp_id, primary_plan_id, primary_plan_name, \
     primary_cloud_id, recovery_stamp_id, recovery_plan_id, recovery_plan_name, recovery_cloud_id, \
     policy_name, state, error, test_network_id";

/// One `stamps` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct StampRow {
    id: String,
    name: String,
    spf_url: String,
    spf_username: String,
    spf_password: String,
    spf_stamp_id: Option<String>,
    wap_admin_url: String,
    wap_admin_token: String,
    tenant_portal_url: String,
    auto_failover: bool,
}

impl StampRow {
    /// The stamp this row holds.
    pub(super) fn into_stamp(self) -> Result<Stamp, StoreError> {
        Ok(Stamp {
            id: uuid("stamps.id", &self.id)?,
            spf_stamp_id: self
                .spf_stamp_id
                .as_deref()
                .map(|s| uuid("stamps.spf_stamp_id", s))
                .transpose()?,
            name: self.name,
            spf_url: self.spf_url,
            spf_username: self.spf_username,
            spf_password: SecretString::from(self.spf_password),
            wap_admin_url: self.wap_admin_url,
            wap_admin_token: SecretString::from(self.wap_admin_token),
            tenant_portal_url: self.tenant_portal_url,
            auto_failover: self.auto_failover,
        })
    }
}

/// One `replication_policies` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PolicyRow {
    name: String,
    copy_frequency_seconds: i64,
    recovery_points: i64,
    app_consistent_hours: i64,
    initial_replication: String,
    compression: bool,
}

impl PolicyRow {
    /// The policy this row holds.
    pub(super) fn into_policy(self) -> Result<ReplicationPolicy, StoreError> {
        let number = |column: &str, value: i64| {
            u32::try_from(value).map_err(|_| corrupt(column, &self.name, &value.to_string()))
        };
        Ok(ReplicationPolicy {
            copy_frequency_seconds: number("copy_frequency_seconds", self.copy_frequency_seconds)?,
            recovery_points: number("recovery_points", self.recovery_points)?,
            app_consistent_frequency_hours: number(
                "app_consistent_hours",
                self.app_consistent_hours,
            )?,
            initial_replication: InitialReplicationMethod::from_name(&self.initial_replication)
                .ok_or_else(|| {
                    corrupt("initial_replication", &self.name, &self.initial_replication)
                })?,
            compression: self.compression,
            name: self.name,
        })
    }
}

/// One `cloud_pairs` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct PairRow {
    id: String,
    primary_stamp_id: String,
    primary_plan_id: String,
    primary_plan_name: String,
    primary_cloud_id: String,
    recovery_stamp_id: String,
    recovery_plan_id: String,
    recovery_plan_name: String,
    recovery_cloud_id: String,
    policy_name: String,
    state: String,
    error: Option<String>,
    test_network_id: Option<String>,
}

impl PairRow {
    /// The pair this row holds.
    pub(super) fn into_pair(self) -> Result<CloudPair, StoreError> {
        Ok(CloudPair {
            id: uuid("cloud_pairs.id", &self.id)?,
            primary: PairSide {
                stamp_id: uuid("cloud_pairs.primary_stamp_id", &self.primary_stamp_id)?,
                plan_id: self.primary_plan_id,
                plan_name: self.primary_plan_name,
                cloud_id: uuid("cloud_pairs.primary_cloud_id", &self.primary_cloud_id)?,
            },
            recovery: PairSide {
                stamp_id: uuid("cloud_pairs.recovery_stamp_id", &self.recovery_stamp_id)?,
                plan_id: self.recovery_plan_id,
                plan_name: self.recovery_plan_name,
                cloud_id: uuid("cloud_pairs.recovery_cloud_id", &self.recovery_cloud_id)?,
            },
            policy: self.policy_name,
            state: PairState::from_name(&self.state)
                .ok_or_else(|| corrupt("cloud_pairs.state", &self.id, &self.state))?,
            error: self.error,
            test_network_id: self
                .test_network_id
                .as_deref()
                .map(|s| uuid("cloud_pairs.test_network_id", s))
                .transpose()?,
        })
    }
}

/// A `network_mappings` row's two network ids.
pub(super) fn mapping_from(
    (primary, recovery): (String, String),
) -> Result<NetworkMapping, StoreError> {
    Ok(NetworkMapping {
        primary_network_id: uuid("network_mappings.primary_network_id", &primary)?,
        recovery_network_id: uuid("network_mappings.recovery_network_id", &recovery)?,
    })
}

/// The key a name is unique by.
pub(super) fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A unique or check violation as [`StoreError::Conflict`]; anything else as it is.
pub(super) fn conflict_on_violation(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db)
            if db.is_unique_violation()
                || db.is_check_violation()
                || db.is_foreign_key_violation() =>
        {
            StoreError::Conflict
        }
        _ => StoreError::Database(err),
    }
}

fn uuid(column: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| corrupt(column, text, text))
}

fn corrupt(column: &str, row: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} of {row} holds '{value}'"))
}
