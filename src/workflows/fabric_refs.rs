//! The replication engine's view of wapdr's stamps and pairs, shared by every workflow: the
//! engine itself, a stamp's VMM stamp id and site, a cloud's container, and a pair's derived
//! policy and container pairing (see [`engine_policy_name`]).
//!
//! Each function looks before it acts, so callers may repeat them after a crash; none decides
//! what a failure means for a run (that is the caller's [`Stop`] handling).
//!
//! A cloud's container, and a pair's policy and pairing once ensured, are remembered for
//! [`REFS_TTL`] ([`RefCache`]): protecting a VM asked the vault for them each time (in the lab,
//! about 10 vault calls per VM then, 7.5 now), where Azure throttles a subscription's reads and
//! the answers change only when a provider reconfigures the vault.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::domain::{
    CloudPair, InitialReplicationMethod, ReplicationPolicy, Stamp, engine_policy_name,
};
use crate::fabric::ReplicationEngine;
use crate::fabric::replication::{
    Container, Ensured, InitialReplication, OperationState, PolicyRef, PolicySpec, Site,
};
use crate::store::SharedStore;

use super::stamp_verify::{discover_spf_stamp, site_for};
use super::{StampClients, Stop};

/// How long a looked-up container or an ensured policy and pairing is taken as known.
pub const REFS_TTL: Duration = Duration::from_secs(60);

/// The vault's references that every VM's protection needs and that rarely change, one set per
/// process (shared by the clones of [`StampClients`]). A miss is looked up once for every caller
/// waiting on it. A stale pairing shows as a failed protection, which forgets the pair
/// ([`RefCache::forget_pair`]) so the next attempt ensures it again.
pub struct RefCache {
    /// A cloud's container, by (stamp id, cloud id).
    containers: moka::future::Cache<(Uuid, Uuid), Container>,
    /// A pair's policy, ensured together with its pairing, by pair id and the policy's settings.
    ensured: moka::future::Cache<(Uuid, String), PolicyRef>,
}

impl Default for RefCache {
    fn default() -> Self {
        Self {
            containers: moka::future::Cache::builder()
                .time_to_live(REFS_TTL)
                .max_capacity(10_000)
                .build(),
            ensured: moka::future::Cache::builder()
                .time_to_live(REFS_TTL)
                .max_capacity(10_000)
                .build(),
        }
    }
}

impl RefCache {
    /// Forgets what was ensured for `pair`, so the next protection ensures it again.
    pub async fn forget_pair(&self, pair: Uuid) {
        // Entries are few: a pair's frequencies.
        let keys: Vec<_> = self
            .ensured
            .iter()
            .filter(|(key, _)| key.0 == pair)
            .map(|(key, _)| key)
            .collect();
        for key in keys {
            self.ensured.invalidate(key.as_ref()).await;
        }
    }
}

/// The configured replication engine, or a final error saying how to configure one.
pub fn engine(clients: &StampClients) -> Result<Arc<dyn ReplicationEngine>, Stop> {
    clients.replication().ok_or_else(|| {
        Stop::Final(
            "No replication engine configured: add an [asr] section to wapdr's configuration."
                .into(),
        )
    })
}

/// A stored stamp, or a final error when it was removed.
pub async fn stamp(store: &SharedStore, id: Uuid) -> Result<Stamp, Stop> {
    store
        .get_stamp(id)
        .await?
        .ok_or_else(|| Stop::Final(format!("Stamp {id} no longer exists in wapdr.")))
}

/// A stored cloud pair, or a final error when it was removed.
pub async fn pair(store: &SharedStore, id: Uuid) -> Result<CloudPair, Stop> {
    store
        .get_cloud_pair(id)
        .await?
        .ok_or_else(|| Stop::Final(format!("Cloud pair {id} no longer exists.")))
}

/// The VMM stamp id of a stamp in its SPF, discovered (and recorded) the first time.
pub async fn spf_stamp_id(
    clients: &StampClients,
    store: &SharedStore,
    stamp: &Stamp,
) -> Result<Uuid, Stop> {
    if let Some(id) = stamp.spf_stamp_id {
        return Ok(id);
    }
    let spf = clients.spf(stamp)?;
    let id = discover_spf_stamp(&spf, stamp)
        .await?
        .map_err(Stop::Final)?;
    store.set_spf_stamp_id(stamp.id, id).await?;
    Ok(id)
}

/// The engine's site of a stamp.
pub async fn site(
    clients: &StampClients,
    store: &SharedStore,
    stamp: &Stamp,
) -> Result<Site, Stop> {
    let spf_stamp_id = spf_stamp_id(clients, store, stamp).await?;
    let sites = engine(clients)?.sites().await?;
    site_for(&sites, spf_stamp_id).cloned().ok_or_else(|| {
        Stop::Final(format!(
            "The vault has no site for stamp '{}' (VMM stamp {spf_stamp_id}): register its VMM server in the vault.",
            stamp.name
        ))
    })
}

/// The engine's container of a cloud of a stored stamp, as looked up within [`REFS_TTL`] (its
/// `paired` flag may be that old: read the vault for it).
pub async fn container(
    clients: &StampClients,
    store: &SharedStore,
    stamp_id: Uuid,
    cloud_id: Uuid,
) -> Result<Container, Stop> {
    clients
        .refs()
        .containers
        .try_get_with(
            (stamp_id, cloud_id),
            look_up_container(clients, store, stamp_id, cloud_id),
        )
        .await
        .map_err(|stop| (*stop).clone())
}

/// The engine's container of a cloud of a stored stamp, read from the vault.
async fn look_up_container(
    clients: &StampClients,
    store: &SharedStore,
    stamp_id: Uuid,
    cloud_id: Uuid,
) -> Result<Container, Stop> {
    let stamp = stamp(store, stamp_id).await?;
    let site = site(clients, store, &stamp).await?;
    let wanted = cloud_id.to_string();
    engine(clients)?
        .containers(&site.id)
        .await?
        .into_iter()
        .find(|c| c.id.eq_ignore_ascii_case(&wanted))
        .ok_or_else(|| {
            Stop::Final(format!(
                "The vault has no cloud {cloud_id} on site '{}' of stamp '{}'.",
                site.name, stamp.name
            ))
        })
}

/// A stored policy's settings as the engine takes them.
pub fn policy_spec(policy: &ReplicationPolicy) -> PolicySpec {
    PolicySpec {
        copy_frequency_seconds: policy.copy_frequency_seconds,
        recovery_points: policy.recovery_points,
        app_consistent_frequency_hours: policy.app_consistent_frequency_hours,
        compression: policy.compression,
        initial_replication: match policy.initial_replication {
            InitialReplicationMethod::OverNetwork => InitialReplication::OverNetwork,
            InitialReplicationMethod::Offline => InitialReplication::Offline,
        },
    }
}

/// Ensures the pair's derived engine policy for `frequency_seconds` (the policy's own frequency
/// when `None`): the provider's settings with that copy frequency, under [`engine_policy_name`].
pub async fn ensure_pair_policy(
    clients: &StampClients,
    store: &SharedStore,
    pair: &CloudPair,
    frequency_seconds: Option<u32>,
) -> Result<PolicyRef, Stop> {
    let (name, spec) = pair_policy(store, pair, frequency_seconds).await?;
    Ok(engine(clients)?.ensure_policy(&name, &spec).await?)
}

/// The pair's derived engine policy for `frequency_seconds`: its name and settings.
async fn pair_policy(
    store: &SharedStore,
    pair: &CloudPair,
    frequency_seconds: Option<u32>,
) -> Result<(String, PolicySpec), Stop> {
    let policy = store.get_policy(&pair.policy).await?.ok_or_else(|| {
        Stop::Final(format!(
            "Replication policy '{}' no longer exists.",
            pair.policy
        ))
    })?;
    let mut spec = policy_spec(&policy);
    if let Some(frequency) = frequency_seconds {
        spec.copy_frequency_seconds = frequency;
    }
    let name = engine_policy_name(&policy.name, pair.id, spec.copy_frequency_seconds);
    Ok((name, spec))
}

/// [`ensure_pair_policy`] then [`ensure_pair_pairing`], as done within [`REFS_TTL`] for these
/// settings: what each VM's protection needs before the engine may protect it. The policy's
/// settings are read from the store each time, so a provider's change is ensured at once.
pub async fn ensure_pair_ready(
    clients: &StampClients,
    store: &SharedStore,
    pair: &CloudPair,
    frequency_seconds: Option<u32>,
    wait: Duration,
) -> Result<PolicyRef, Stop> {
    let (name, spec) = pair_policy(store, pair, frequency_seconds).await?;
    let key = (pair.id, format!("{name} {spec:?}"));
    clients
        .refs()
        .ensured
        .try_get_with(key, async {
            let policy = engine(clients)?.ensure_policy(&name, &spec).await?;
            ensure_pair_pairing(clients, store, pair, &policy, wait).await?;
            Ok::<_, Stop>(policy)
        })
        .await
        .map_err(|stop| (*stop).clone())
}

/// Ensures the pair's primary container replicates to its recovery container under `policy`,
/// waiting up to `wait` for the engine; still running after that is transient.
pub async fn ensure_pair_pairing(
    clients: &StampClients,
    store: &SharedStore,
    pair: &CloudPair,
    policy: &PolicyRef,
    wait: Duration,
) -> Result<Ensured, Stop> {
    let primary = container(clients, store, pair.primary.stamp_id, pair.primary.cloud_id).await?;
    let recovery = container(
        clients,
        store,
        pair.recovery.stamp_id,
        pair.recovery.cloud_id,
    )
    .await?;
    let engine = engine(clients)?;
    let ensured = engine
        .ensure_container_pairing(&primary, &recovery, policy)
        .await?;
    if let Ensured::Started(operation) = &ensured {
        let status = engine.wait(operation, wait).await?;
        match status.state {
            OperationState::Succeeded => {}
            OperationState::Failed { message } => {
                return Err(Stop::Final(format!(
                    "The replication engine could not pair the clouds: {message}"
                )));
            }
            OperationState::Cancelled => {
                return Err(Stop::Final(
                    "The replication engine's pairing operation was cancelled.".into(),
                ));
            }
            OperationState::InProgress => {
                return Err(Stop::Transient(
                    "the replication engine is still pairing the clouds".into(),
                ));
            }
        }
    }
    Ok(ensured)
}
