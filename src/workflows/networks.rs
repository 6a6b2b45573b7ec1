//! The tenant's VM networks across a cloud pair: the fabric does not replicate tenant (NVGRE)
//! networks, so each network the subscription's user role owns on the primary stamp is recreated
//! on the recovery stamp (same name, same owner, same subnets) and mapped in the replication
//! engine, unless the provider mapped it already on the pair.
//!
//! Looks before acting: a network of that name and owner on the recovery stamp is reused, so a
//! repeat after a crash creates nothing twice.

use std::time::Duration;

use uuid::Uuid;

use crate::domain::{CloudPair, DrSubscription};
use crate::fabric::replication::{Ensured, OperationState};
use crate::fabric::spf::{NetworkQuery, NewVmNetwork, NewVmSubnet};
use crate::store::SharedStore;

use super::{StampClients, Stop, fabric_refs};

/// How long one attempt waits for the engine to map a network.
const MAPPING_WAIT: Duration = Duration::from_secs(10);

/// Recreates and maps the subscription's networks; returns (primary id, recovery id) pairs.
pub(super) async fn ensure_networks(
    clients: &StampClients,
    store: &SharedStore,
    dr: &DrSubscription,
    pair: &CloudPair,
) -> Result<Vec<(Uuid, Uuid)>, Stop> {
    let primary = fabric_refs::stamp(store, pair.primary.stamp_id).await?;
    let recovery = fabric_refs::stamp(store, pair.recovery.stamp_id).await?;
    let primary_vmm = fabric_refs::spf_stamp_id(clients, store, &primary).await?;
    let recovery_vmm = fabric_refs::spf_stamp_id(clients, store, &recovery).await?;
    let role = dr.subscription_id.as_uuid();
    let spf_a = clients.spf(&primary)?;
    let spf_b = clients.spf(&recovery)?;
    let theirs = spf_a
        .list_vm_networks(&NetworkQuery {
            stamp_id: Some(primary_vmm),
            owner_role_id: Some(role),
        })
        .await?;
    if theirs.is_empty() {
        return Ok(Vec::new());
    }
    let provider_mapped = store.network_mappings(pair.id).await?.unwrap_or_default();
    let on_recovery = spf_b
        .list_vm_networks(&NetworkQuery {
            stamp_id: Some(recovery_vmm),
            owner_role_id: None,
        })
        .await?;
    let primary_site = fabric_refs::site(clients, store, &primary).await?;
    let recovery_site = fabric_refs::site(clients, store, &recovery).await?;
    let engine = fabric_refs::engine(clients)?;
    let mut mapped = Vec::new();
    for network in theirs {
        let recovery_id = if let Some(m) = provider_mapped
            .iter()
            .find(|m| m.primary_network_id == network.id)
        {
            m.recovery_network_id
        } else if let Some(existing) = on_recovery.iter().find(|n| {
            n.name == network.name && n.owner.as_ref().and_then(|o| o.role_id) == Some(role)
        }) {
            existing.id
        } else {
            // Build it on the recovery stamp's logical network of the same isolation kind.
            let logical = on_recovery
                .iter()
                .find(|n| n.isolation_type == network.isolation_type)
                .and_then(|n| n.logical_network_id);
            let created = spf_b
                .create_vm_network(&NewVmNetwork {
                    id: None,
                    stamp_id: recovery_vmm,
                    name: network.name.clone(),
                    description: network.description.clone(),
                    logical_network_id: logical,
                    isolation_type: network.isolation_type.clone(),
                    owner: network.owner.clone(),
                })
                .await?;
            created.id
        };
        copy_subnets(
            clients,
            &primary,
            &recovery,
            primary_vmm,
            recovery_vmm,
            network.id,
            recovery_id,
        )
        .await?;
        let ensured = engine
            .ensure_network_mapping(
                &primary_site.id,
                &network.id.to_string(),
                &recovery_site.id,
                &recovery_id.to_string(),
            )
            .await?;
        if let Ensured::Started(operation) = ensured {
            match engine.wait(&operation, MAPPING_WAIT).await?.state {
                OperationState::Succeeded => {}
                OperationState::InProgress => {
                    return Err(Stop::Transient(format!(
                        "the replication engine is still mapping network '{}'",
                        network.name
                    )));
                }
                OperationState::Failed { message } => {
                    return Err(Stop::Final(format!(
                        "The replication engine could not map network '{}': {message}",
                        network.name
                    )));
                }
                OperationState::Cancelled => {
                    return Err(Stop::Transient(format!(
                        "mapping network '{}' was cancelled",
                        network.name
                    )));
                }
            }
        }
        mapped.push((network.id, recovery_id));
    }
    Ok(mapped)
}

/// Creates on the recovery network the subnets of the primary one it lacks (by name).
async fn copy_subnets(
    clients: &StampClients,
    primary: &crate::domain::Stamp,
    recovery: &crate::domain::Stamp,
    primary_vmm: Uuid,
    recovery_vmm: Uuid,
    primary_network: Uuid,
    recovery_network: Uuid,
) -> Result<(), Stop> {
    let wanted = clients
        .spf(primary)?
        .list_vm_subnets(primary_vmm, primary_network)
        .await?;
    if wanted.is_empty() {
        return Ok(());
    }
    let spf_b = clients.spf(recovery)?;
    let present = spf_b
        .list_vm_subnets(recovery_vmm, recovery_network)
        .await?;
    for subnet in wanted {
        if present.iter().any(|s| s.name == subnet.name) {
            continue;
        }
        let Some(range) = subnet.subnet.clone() else {
            continue;
        };
        spf_b
            .create_vm_subnet(&NewVmSubnet {
                id: None,
                stamp_id: recovery_vmm,
                name: subnet.name.clone(),
                subnet: range,
                vm_network_id: recovery_network,
            })
            .await?;
    }
    Ok(())
}
