//! What the runbook workflows (`protect_new_vms`, `replication_health`, `reconcile_mirrors`)
//! share: how a step's failure becomes an engine outcome, and finding a stamp's site in the
//! replication engine once per step rather than once per VM.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::domain::Stamp;
use crate::engine::StepOutcome;
use crate::fabric::replication::{Container, ItemRef, Site};
use crate::fabric::{FabricError, ReplicationEngine};
use crate::store::{SharedStore, StoreError};

use super::StampClients;
use super::stamp_verify::{discover_spf_stamp, site_for};

/// Why a step cannot go on: worth another try later, or final.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Try again later (an outage, throttling, the store).
    Transient(String),
    /// Nothing will change by trying again: the run fails with this message.
    Final(String),
}

impl From<FabricError> for Stop {
    fn from(err: FabricError) -> Self {
        if err.is_transient() {
            Self::Transient(err.to_string())
        } else {
            Self::Final(err.to_string())
        }
    }
}

impl From<StoreError> for Stop {
    fn from(err: StoreError) -> Self {
        Self::Transient(format!("the store failed: {err}"))
    }
}

/// The engine outcome of a step's result: done, retried later, or failed.
pub(crate) fn outcome(result: Result<StepOutcome, Stop>) -> StepOutcome {
    match result {
        Ok(outcome) => outcome,
        Err(Stop::Transient(reason)) => StepOutcome::RetryLater {
            reason,
            after: None,
        },
        Err(Stop::Final(reason)) => StepOutcome::Fail(reason),
    }
}

/// A stored stamp, or a final error naming it.
pub(crate) async fn stamp(store: &SharedStore, id: Uuid) -> Result<Stamp, Stop> {
    store
        .get_stamp(id)
        .await?
        .ok_or_else(|| Stop::Final(format!("Stamp {id} no longer exists.")))
}

/// The replication engine, or a final error saying how to configure one.
pub(crate) fn engine(clients: &StampClients) -> Result<Arc<dyn ReplicationEngine>, Stop> {
    clients.replication().ok_or_else(|| {
        Stop::Final(
            "No replication engine configured: add an [asr] section to wapdr's configuration."
                .into(),
        )
    })
}

/// The VMM stamp id of a stored stamp, discovered from its SPF (and recorded) when setup has
/// not recorded it yet.
pub(crate) async fn spf_stamp_id(
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

/// The engine's sites, read once, and each stamp's site as found.
pub(crate) struct Sites {
    engine: Arc<dyn ReplicationEngine>,
    sites: Option<Vec<Site>>,
    by_stamp: HashMap<Uuid, String>,
}

impl Sites {
    /// An empty cache over `engine`.
    pub(crate) fn new(engine: Arc<dyn ReplicationEngine>) -> Self {
        Self {
            engine,
            sites: None,
            by_stamp: HashMap::new(),
        }
    }

    /// The engine's site id of a stored stamp (through its VMM stamp id).
    pub(crate) async fn site_of(
        &mut self,
        clients: &StampClients,
        store: &SharedStore,
        stamp_id: Uuid,
    ) -> Result<String, Stop> {
        if let Some(site) = self.by_stamp.get(&stamp_id) {
            return Ok(site.clone());
        }
        let stamp = stamp(store, stamp_id).await?;
        let spf_stamp_id = spf_stamp_id(clients, store, &stamp).await?;
        if self.sites.is_none() {
            self.sites = Some(self.engine.sites().await?);
        }
        let sites = self.sites.as_deref().unwrap_or_default();
        let site = site_for(sites, spf_stamp_id).ok_or_else(|| {
            Stop::Final(format!(
                "The vault has no site for stamp '{}' (VMM stamp {spf_stamp_id}): register its VMM server in the vault.",
                stamp.name
            ))
        })?;
        self.by_stamp.insert(stamp_id, site.id.clone());
        Ok(site.id.clone())
    }

    /// The engine's container of a cloud on a stored stamp.
    pub(crate) async fn container(
        &mut self,
        clients: &StampClients,
        store: &SharedStore,
        stamp_id: Uuid,
        cloud_id: Uuid,
    ) -> Result<Container, Stop> {
        let site = self.site_of(clients, store, stamp_id).await?;
        Ok(Container {
            id: cloud_id.to_string(),
            name: cloud_id.to_string(),
            site,
            paired: true,
        })
    }
}

/// The engine's reference to a VM protected from `container`.
pub(crate) fn item_ref(container: &Container, vm_id: Uuid) -> ItemRef {
    ItemRef {
        site: container.site.clone(),
        container: container.id.clone(),
        vm_id: vm_id.to_string(),
    }
}

/// An optional non-negative integer parameter, with its default.
pub(crate) fn u64_param(params: &Value, name: &str, default: u64) -> Result<u64, String> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| format!("{name} must be a non-negative whole number")),
    }
}

/// An optional boolean parameter, with its default.
pub(crate) fn bool_param(params: &Value, name: &str, default: bool) -> Result<bool, String> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(format!("{name} must be true or false")),
    }
}
