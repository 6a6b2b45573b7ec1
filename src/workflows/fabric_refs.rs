//! The replication engine's view of wapdr's stamps and pairs, shared by every workflow: the
//! engine itself, a stamp's VMM stamp id and site, a cloud's container, and a pair's derived
//! policy and container pairing (see [`engine_policy_name`]).
//!
//! Each function looks before it acts, so callers may repeat them after a crash; none decides
//! what a failure means for a run (that is the caller's [`Stop`] handling).

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

/// The engine's container of a cloud of a stored stamp.
pub async fn container(
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
    Ok(engine(clients)?.ensure_policy(&name, &spec).await?)
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
